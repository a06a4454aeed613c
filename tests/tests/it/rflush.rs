//! `kubectl rflush` against a real `redis-server` each test starts on a free loopback port
//! (Debian's `redis-server` package): flush by type, odd keys, every data type and TTL
//! through backup/restore, dry run, confirmations, ACL limits, a Redis killed mid-flush and
//! resumed, a master behind a Sentinel (and a replica that is never written), and a local
//! 3-primary Redis Cluster.

use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kubectl_ops_tests::plugin;

/// A `redis-server` child process on a free port, killed on drop.
pub struct RedisServer {
    /// Its port.
    pub port: u16,
    /// Its working directory (AOF, logs).
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    extra: Vec<String>,
}

impl RedisServer {
    /// Starts a server (persistence off unless `extra` turns it on).
    pub fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut s = RedisServer {
            port,
            dir,
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let child = redis_server_command(self.dir.path(), &["--port", &self.port.to_string()])
            .args(&self.extra)
            .spawn()
            .expect("start redis-server (apt-get install -y redis-server)");
        self.child = Some(child);
        wait_for_ping(self.port);
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A sync connection.
    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// SIGKILLs the server (no shutdown, no save).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

/// `redis-server LISTEN...` on 127.0.0.1 with persistence off, DEBUG allowed, working directory
/// and `redis.log` in `dir`, its own output discarded; the caller adds the rest and spawns it.
pub(crate) fn redis_server_command(dir: &std::path::Path, listen: &[&str]) -> Command {
    let mut command = Command::new("redis-server");
    command
        .args(listen)
        .args([
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--enable-debug-command",
            "yes",
        ])
        .arg("--dir")
        .arg(dir)
        .args(["--logfile", "redis.log"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until the server on `port` answers PING (PONG, or NOAUTH when it has a password).
fn wait_for_ping(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ok = redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .and_then(|c| c.get_connection())
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
        // A server with a password answers, too: NOAUTH.
        let ok = match ok {
            Ok(pong) => pong == "PONG",
            Err(e) => e.code() == Some("NOAUTH"),
        };
        if ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "redis-server on port {port} did not answer PING"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `kubectl-rflush ARGS` against `url` with stdin closed (not a terminal), in a fresh
/// temporary directory (removed afterwards), so a default `./backups` or checkpoint never
/// lands in the checkout.
pub fn rflush(url: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    plugin("kubectl-rflush")
        .env("REDIS_URL", url)
        .current_dir(dir.path())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kubectl-rflush")
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// SCAN calls the server has served since it started or since the last `CONFIG RESETSTAT`.
pub(crate) fn scan_calls(c: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_scan:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

/// The number of keys (`DBSIZE`).
pub(crate) fn dbsize(c: &mut redis::Connection) -> u64 {
    redis::cmd("DBSIZE").query(c).unwrap()
}

pub(crate) fn count(conn: &mut redis::Connection, pattern: &str) -> usize {
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg(pattern).query(conn).unwrap();
    keys.len()
}

pub(crate) fn populate(conn: &mut redis::Connection, n: u64, prefix: &str) {
    let _: () = redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg(n)
        .arg(prefix)
        .arg(16)
        .query(conn)
        .unwrap();
}

pub(crate) fn set_many(conn: &mut redis::Connection, prefix: &str, n: u64) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.cmd("SET")
                .arg(format!("{prefix}{i}"))
                .arg("value-0123456789")
                .ignore();
        }
        let _: () = pipe.query(conn).unwrap();
    }
}

pub(crate) fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

#[test]
fn flush_by_type_leaves_other_types_intact() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    populate(&mut c, 5000, "market:data:");
    populate(&mut c, 3000, "news:data:");
    populate(&mut c, 2000, "session:");
    populate(&mut c, 1000, "market:datax");
    let out = rflush(
        &redis.url(),
        &[
            "flush",
            "market-data",
            "--yes",
            "--no-backup",
            "-o",
            "json",
            "--batch-size",
            "100",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["deleted"], 5000);
    assert_eq!(count(&mut c, "market:data:*"), 0);
    assert_eq!(count(&mut c, "news:data:*"), 3000);
    assert_eq!(count(&mut c, "session:*"), 2000);
    assert_eq!(count(&mut c, "market:datax*"), 1000);
}

#[test]
fn odd_keys_are_flushed_and_restored_byte_for_byte() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    let odd: Vec<Vec<u8>> = vec![
        b"odd:with space".to_vec(),
        b"odd:\"double\" 'single'".to_vec(),
        b"odd:new\nline".to_vec(),
        b"odd:\x00nul\xff\xfe binary".to_vec(),
        b"odd:glob*?[x]\\".to_vec(),
        b"odd:".to_vec(),
        "odd:ünïcødé 🔑".as_bytes().to_vec(),
    ];
    for (i, k) in odd.iter().enumerate() {
        let _: () = redis::cmd("SET")
            .arg(k)
            .arg(format!("v{i}\x00\n"))
            .query(&mut c)
            .unwrap();
    }
    let _: () = redis::cmd("SET")
        .arg("keep:\"odd\"")
        .arg("x")
        .query(&mut c)
        .unwrap();
    let backup = redis.dir.path().join("odd.rfb");
    let out = rflush(
        &redis.url(),
        &[
            "flush",
            "--pattern",
            "odd:*",
            "--yes",
            "-f",
            backup.to_str().unwrap(),
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["deleted"], odd.len());
    assert_eq!(count(&mut c, "odd:*"), 0);
    assert_eq!(count(&mut c, "keep:*"), 1);
    let out = rflush(
        &redis.url(),
        &["restore", backup.to_str().unwrap(), "-o", "json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["restored"], odd.len());
    for (i, k) in odd.iter().enumerate() {
        let v: Vec<u8> = redis::cmd("GET").arg(k).query(&mut c).unwrap();
        assert_eq!(v, format!("v{i}\x00\n").into_bytes(), "key {k:?}");
    }
}

fn seed_all_types(c: &mut redis::Connection) -> Vec<&'static str> {
    let cmds: Vec<Vec<&str>> = vec![
        vec!["SET", "rt:string", "hello\x00world"],
        vec!["HSET", "rt:hash", "a", "1", "b", "2"],
        vec!["RPUSH", "rt:list", "x", "y", "z"],
        vec!["SADD", "rt:set", "m1", "m2"],
        vec!["ZADD", "rt:zset", "1.5", "a", "2", "b"],
        vec!["XADD", "rt:stream", "1-1", "f", "v"],
        vec!["SET", "rt:ttl:string", "soon"],
        vec!["PEXPIRE", "rt:ttl:string", "3600000"],
        vec!["HSET", "rt:ttl:hash", "f", "v"],
        vec!["PEXPIRE", "rt:ttl:hash", "7200000"],
        vec!["PFADD", "rt:hll", "a", "b", "c"],
    ];
    for cmd in cmds {
        let mut r = redis::cmd(cmd[0]);
        for a in &cmd[1..] {
            r.arg(*a);
        }
        let _: redis::Value = r.query(c).unwrap();
    }
    let big = "v".repeat(100_000);
    let _: () = redis::cmd("SET").arg("rt:big").arg(&big).query(c).unwrap();
    vec![
        "rt:string",
        "rt:hash",
        "rt:list",
        "rt:set",
        "rt:zset",
        "rt:stream",
        "rt:ttl:string",
        "rt:ttl:hash",
        "rt:hll",
        "rt:big",
    ]
}

fn digest_and_ttl(c: &mut redis::Connection, key: &str) -> (String, i64) {
    let digest: Vec<String> = redis::cmd("DEBUG")
        .arg("DIGEST-VALUE")
        .arg(key)
        .query(c)
        .unwrap();
    let pttl: i64 = redis::cmd("PTTL").arg(key).query(c).unwrap();
    (digest.concat(), pttl)
}

#[test]
fn every_data_type_and_ttl_round_trips_through_backup_and_restore() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    let keys = seed_all_types(&mut c);
    let before: Vec<(String, i64)> = keys.iter().map(|k| digest_and_ttl(&mut c, k)).collect();
    let file = redis.dir.path().join("rt.rfb");
    let out = rflush(
        &redis.url(),
        &["backup", "rt:*", "-f", file.to_str().unwrap(), "-o", "json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["keys"], keys.len());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let _: () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
    // Restore into a different server: absolute expiry must survive the move.
    let other = RedisServer::start(&[]);
    let mut c2 = other.conn();
    let out = rflush(
        &other.url(),
        &["restore", file.to_str().unwrap(), "-o", "json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["restored"], keys.len());
    // The type of each record is read from its DUMP payload, as TYPE would name it.
    assert_eq!(
        json(&out)["types"],
        serde_json::json!({"hash": 2, "list": 1, "set": 1, "stream": 1, "string": 4, "zset": 1})
    );
    for (k, (digest, pttl)) in keys.iter().zip(before) {
        let (d2, t2) = digest_and_ttl(&mut c2, k);
        assert_eq!(d2, digest, "{k}: value differs after restore");
        if pttl < 0 {
            assert_eq!(t2, pttl, "{k}: TTL appeared");
        } else {
            assert!((pttl - t2).abs() <= 1000, "{k}: TTL {pttl} became {t2}");
        }
    }
    // A second restore without --replace skips existing keys; with --replace (and --yes) overwrites.
    let out = rflush(
        &other.url(),
        &["restore", file.to_str().unwrap(), "-o", "json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["existing"], keys.len());
    let out = rflush(
        &other.url(),
        &["restore", file.to_str().unwrap(), "--replace"],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "--replace needs confirmation: {}",
        text(&out)
    );
    let out = rflush(
        &other.url(),
        &[
            "restore",
            file.to_str().unwrap(),
            "--replace",
            "--yes",
            "-o",
            "json",
        ],
    );
    assert_eq!(json(&out)["restored"], keys.len());
}

#[test]
fn restore_refuses_a_dump_from_a_newer_rdb_version() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    let _: () = redis::cmd("SET").arg("v:1").arg("x").query(&mut c).unwrap();
    let file = redis.dir.path().join("v.rfb");
    assert!(
        rflush(
            &redis.url(),
            &["backup", "v:*", "-f", file.to_str().unwrap()]
        )
        .status
        .success()
    );
    // Rewrite the header as if written by a newer Redis (same length, fixed checksum).
    let mut bytes = std::fs::read(&file).unwrap();
    let len = u32::from_le_bytes(bytes[9..13].try_into().unwrap()) as usize;
    let json = String::from_utf8(bytes[13..13 + len].to_vec()).unwrap();
    let at = json.find("\"rdb_version\":").unwrap() + "\"rdb_version\":".len();
    let patched = format!("{}99{}", &json[..at], &json[at + 2..]);
    assert_eq!(patched.len(), json.len());
    bytes[13..13 + len].copy_from_slice(patched.as_bytes());
    bytes[13 + len..17 + len].copy_from_slice(&crc32fast::hash(patched.as_bytes()).to_le_bytes());
    std::fs::write(&file, &bytes).unwrap();
    let out = rflush(&redis.url(), &["restore", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("RDB version 99") && err.contains("newer than the target"),
        "{err}"
    );
}

#[test]
fn dry_run_deletes_nothing_and_reports_count_sample_and_memory() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    populate(&mut c, 4000, "session:");
    populate(&mut c, 100, "other:");
    let out = rflush(
        &redis.url(),
        &["flush", "user-sessions", "--dry-run", "-o", "json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let v = json(&out);
    assert_eq!(v["keys"], 4000);
    assert!(v["estimated_bytes"].as_u64().unwrap() > 4000 * 16, "{v}");
    assert!(
        v["sample"][0].as_str().unwrap().starts_with("session:"),
        "{v}"
    );
    assert_eq!(count(&mut c, "session:*"), 4000);
    let dbsize: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(dbsize, 4100);
}

#[test]
fn refusals_are_one_line_errors_with_hints() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    populate(&mut c, 100, "session:");
    // Not a terminal and no --yes.
    let out = rflush(&redis.url(), &["flush", "user-sessions", "--no-backup"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("without confirmation"),
        "{}",
        text(&out)
    );
    assert_eq!(count(&mut c, "session:*"), 100);
    // Match-everything needs the explicit flag on top of --yes.
    let out = rflush(
        &redis.url(),
        &["flush", "--pattern", "*", "--yes", "--no-backup"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--flush-everything"),
        "{}",
        text(&out)
    );
    assert_eq!(count(&mut c, "session:*"), 100);
    // Unknown type lists the known ones.
    let out = rflush(&redis.url(), &["flush", "user-sesions", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("did you mean \"user-sessions\"")
            && err.contains("known cache types: market-data"),
        "{err}"
    );
    // Invalid URL.
    let out = rflush("http://127.0.0.1:1", &["count", "x:*"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid Redis URL"),
        "{}",
        text(&out)
    );
    // Unreachable.
    let out = rflush(
        &format!("redis://127.0.0.1:{}", free_port()),
        &["count", "x:*"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach Redis"),
        "{}",
        text(&out)
    );
    // Every error is one `error:` line plus one `hint:` line.
    let lines: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("error: ") && lines[1].starts_with("hint: "),
        "{lines:?}"
    );
    // With --flush-everything it does flush everything.
    let out = rflush(
        &redis.url(),
        &[
            "flush",
            "--pattern",
            "*",
            "--yes",
            "--flush-everything",
            "--no-backup",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let dbsize: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(dbsize, 0);
}

#[test]
fn acl_user_limited_to_one_prefix_gets_noperm_and_wrong_password_is_explained() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    populate(&mut c, 50, "tenant:a:");
    populate(&mut c, 50, "tenant:b:");
    let _: () = redis::cmd("ACL")
        .arg(
            &[
                "SETUSER",
                "tenant-a",
                "on",
                ">secret-a",
                "~tenant:a:*",
                "+@all",
                "-@dangerous",
                "+info",
                "+memory",
            ][..],
        )
        .query(&mut c)
        .unwrap();
    let url = format!("redis://tenant-a:secret-a@127.0.0.1:{}", redis.port);
    let out = rflush(
        &url,
        &["flush", "--pattern", "tenant:b:*", "--yes", "--no-backup"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NOPERM") && err.contains("hint: the ACL user"),
        "{err}"
    );
    assert!(!err.contains("secret-a"), "password leaked: {err}");
    assert_eq!(count(&mut c, "tenant:b:*"), 50);
    let out = rflush(
        &url,
        &[
            "flush",
            "--pattern",
            "tenant:a:*",
            "--yes",
            "--no-backup",
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["deleted"], 50);
    let bad = format!("redis://tenant-a:wrong@127.0.0.1:{}", redis.port);
    let out = rflush(&bad, &["count", "tenant:a:*"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rejected the credentials") && !err.contains("wrong@"),
        "{err}"
    );
}

/// Waits until `check` holds, or panics with `what` after 30 s (a condition, not a sleep).
pub(crate) fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `redis-server --sentinel` on a free port monitoring `master` at `127.0.0.1:master_port`,
/// killed on drop.
struct Sentinel {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Sentinel {
    fn start(master: &str, master_port: u16) -> Self {
        Self::start_with(master, master_port, "")
    }

    /// With more lines for its config file (`sentinel auth-pass ...`, `requirepass ...`).
    fn start_with(master: &str, master_port: u16, more_config: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        // Sentinel rewrites its config file, so it must be a writable file of its own.
        let conf = dir.path().join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor {master} 127.0.0.1 {master_port} 1\n{more_config}\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server --sentinel");
        wait_for_ping(port);
        Sentinel {
            port,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sentinel_leads_to_the_master_and_a_replica_is_never_written() {
    let primary = RedisServer::start(&[]);
    let replica = RedisServer::start(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
    let mut p = primary.conn();
    let mut r = replica.conn();
    set_many(&mut p, "s:", 300);
    set_many(&mut p, "keep:", 40);
    wait_until("the replica to hold every key", || {
        redis::cmd("DBSIZE").query::<u64>(&mut r).unwrap() == 340
    });

    // Pointed at the replica, a flush refuses before touching anything and says what to do.
    let out = rflush(
        &replica.url(),
        &["flush", "--pattern", "s:*", "--yes", "--no-backup"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is a replica") && err.contains("hint: ") && err.contains("--sentinel-master"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    assert_eq!(count(&mut p, "s:*"), 300);
    // Reading from a replica is fine.
    let out = rflush(&replica.url(), &["count", "s:*", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["keys"], 300, "{}", text(&out));

    let sentinel = Sentinel::start("cache", primary.port);
    let sentinel_url = format!("redis://127.0.0.1:{}", sentinel.port);
    // A master name the Sentinel does not know: one line, and where to look.
    let out = rflush(
        &sentinel_url,
        &["count", "s:*", "--sentinel-master", "nope"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("knows no master named \"nope\"") && err.contains("SENTINEL MASTERS"),
        "{err}"
    );
    // Through the Sentinel, the flush lands on the master (and so reaches the replica).
    let out = rflush(
        &sentinel_url,
        &[
            "flush",
            "--pattern",
            "s:*",
            "--sentinel-master",
            "cache",
            "--yes",
            "--no-backup",
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["deleted"], 300, "{}", text(&out));
    assert_eq!(count(&mut p, "s:*"), 0);
    assert_eq!(count(&mut p, "keep:*"), 40);
    wait_until("the replica to follow the master", || {
        redis::cmd("DBSIZE").query::<u64>(&mut r).unwrap() == 40
    });
}

#[test]
fn sentinel_credentials_the_urls_are_the_masters_and_the_sentinel_may_have_its_own() {
    let primary = RedisServer::start(&["--requirepass", "master-pw"]);
    let mut p = redis::Client::open(format!("redis://:master-pw@127.0.0.1:{}", primary.port))
        .unwrap()
        .get_connection()
        .unwrap();
    set_many(&mut p, "s:", 25);
    let count_via = |sentinel: &Sentinel, extra: &[&str]| {
        let url = format!("redis://:master-pw@127.0.0.1:{}", sentinel.port);
        let mut args = vec!["count", "s:*", "--sentinel-master", "cache", "-o", "json"];
        args.extend(extra);
        rflush(&url, &args)
    };
    // The common setup: a Sentinel without a password of its own. The URL's password is the
    // master's; the Sentinel refuses it, and is asked again without.
    let open = Sentinel::start_with("cache", primary.port, "sentinel auth-pass cache master-pw");
    let out = count_via(&open, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["keys"], 25, "{}", text(&out));
    // A Sentinel with a password of its own: without it, one line that names the flag; with it
    // (the flag, or REDIS_SENTINEL_PASSWORD), the master is reached with the URL's password.
    let guarded = Sentinel::start_with(
        "cache",
        primary.port,
        "sentinel auth-pass cache master-pw\nrequirepass sentinel-pw",
    );
    let out = count_via(&guarded, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("wants a password of its own")
            && err.contains("hint: give the Sentinel's password with --sentinel-password"),
        "{err}"
    );
    assert!(
        !err.contains("master-pw") && !err.contains("sentinel-pw"),
        "{err}"
    );
    let out = count_via(&guarded, &["--sentinel-password", "sentinel-pw"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["keys"], 25, "{}", text(&out));
    let out = plugin("kubectl-rflush")
        .env(
            "REDIS_URL",
            format!("redis://:master-pw@127.0.0.1:{}", guarded.port),
        )
        .env("REDIS_SENTINEL_PASSWORD", "sentinel-pw")
        .args(["count", "s:*", "--sentinel-master", "cache", "-o", "json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["keys"], 25, "{}", text(&out));
}

#[test]
fn max_keys_caps_the_flush_and_keys_that_expire_meanwhile_count_toward_it() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    // Several SCAN pages of 1000 (8192 buckets): the first page never ends the scan.
    set_many(&mut c, "cap:", 5000);
    set_many(&mut c, "other:", 10);
    let flush = |max: &str, batch: &str| {
        rflush(
            &redis.url(),
            &[
                "flush",
                "--pattern",
                "cap:*",
                "--max-keys",
                max,
                "--batch-size",
                batch,
                "--yes",
                "--no-backup",
                "-o",
                "json",
            ],
        )
    };
    let out = flush("300", "1000");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["deleted"], 300, "{}", text(&out));
    assert_eq!(json(&out)["completed"], false, "{}", text(&out));
    assert_eq!(count(&mut c, "cap:*"), 4700);

    // Keys that expire between SCAN and UNLINK: writes are paused (reads go on), so the flush
    // scans the keys while they live and its UNLINK runs after they expired. The cap is still
    // reached, and that is a normal end, not an interruption.
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("cap:*").query(&mut c).unwrap();
    let mut pipe = redis::pipe();
    for k in &keys {
        pipe.cmd("PEXPIRE").arg(k).arg(3_000).ignore();
    }
    let _: () = pipe.query(&mut c).unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg(&["PAUSE", "6000", "WRITE"][..])
        .query(&mut c)
        .unwrap();
    let out = flush("200", "1000");
    assert!(out.status.success(), "{}", text(&out));
    let summary = json(&out);
    assert_eq!(
        summary["deleted"], 0,
        "they expired on their own: {summary}"
    );
    assert_eq!(summary["completed"], false, "{summary}");
    assert_eq!(count(&mut c, "cap:*"), 0);
    assert_eq!(count(&mut c, "other:*"), 10);
}

/// Runs a flush of `lag:*` while another client makes Redis itself slow (`DEBUG SLEEP` of
/// 10 ms, over and over, started once the flush is deleting: the probe's idle baseline is taken
/// before). Returns the flush's JSON summary.
fn flush_while_redis_lags(extra: &[&str]) -> serde_json::Value {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    const KEYS: u64 = 60_000;
    populate(&mut c, KEYS, "lag");
    let mut args = vec![
        "flush",
        "--pattern",
        "lag:*",
        "--yes",
        "--no-backup",
        "-o",
        "json",
    ];
    args.extend(extra);
    let dir = tempfile::tempdir().expect("temp dir");
    let child = plugin("kubectl-rflush")
        .env("REDIS_URL", redis.url())
        .current_dir(dir.path())
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl-rflush");
    // Polled without a pause (DBSIZE is O(1)): the lag must start while most keys remain.
    let deadline = Instant::now() + Duration::from_secs(30);
    while redis::cmd("DBSIZE").query::<u64>(&mut c).unwrap() == KEYS {
        assert!(
            Instant::now() < deadline,
            "the flush never started deleting"
        );
    }
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let lagger = {
        let (done, mut conn) = (done.clone(), redis.conn());
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let _: () = redis::cmd("DEBUG")
                    .arg("SLEEP")
                    .arg("0.01")
                    .query(&mut conn)
                    .unwrap();
            }
        })
    };
    let out = child.wait_with_output().expect("wait for kubectl-rflush");
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    lagger.join().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(redis::cmd("DBSIZE").query::<u64>(&mut c).unwrap(), 0);
    json(&out)
}

#[test]
fn adaptive_pacing_backs_off_when_redis_itself_slows_down() {
    let paced = flush_while_redis_lags(&[]);
    assert_eq!(paced["deleted"], 60_000, "{paced}");
    let paused = paced["paused_seconds"].as_f64().unwrap();
    assert!(
        paused > 0.0,
        "Redis answered in 10 ms instead of < 2 ms, and the flush never paused: {paced}"
    );
    // The same load with pacing off: the flush never pauses.
    let unpaced = flush_while_redis_lags(&["--no-pacing"]);
    assert_eq!(unpaced["paused_seconds"].as_f64(), Some(0.0), "{unpaced}");
}

#[test]
fn redis_killed_mid_flush_then_resume_completes_and_loses_nothing() {
    let mut redis = RedisServer::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = redis.conn();
    const N: u64 = 200_000;
    // Real writes (DEBUG POPULATE is not written to the AOF, so it would not survive the kill).
    set_many(&mut c, "cache:", N);
    set_many(&mut c, "keep:", 1000);
    let backup = redis.dir.path().join("kill.rfb");
    let checkpoint = backup.with_extension("resume.json");
    let child = plugin("kubectl-rflush")
        .env("REDIS_URL", redis.url())
        .args([
            "flush",
            "--pattern",
            "cache:*",
            "--yes",
            "--rate",
            "40000",
            "--batch-size",
            "200",
            "-f",
        ])
        .arg(&backup)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until a real part of the keys is gone, then kill Redis under the flush.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let dbsize: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        if dbsize < N + 1000 - 20_000 {
            break;
        }
        assert!(Instant::now() < deadline, "flush made no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    redis.kill();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("resume with: kubectl rflush flush --pattern 'cache:*'")
            && err.contains("--resume"),
        "{err}"
    );
    assert!(checkpoint.exists(), "{err}");

    redis.restart();
    let mut c = redis.conn();
    let left_after_restart = count(&mut c, "cache:*");
    assert!(
        left_after_restart > 0 && (left_after_restart as u64) < N,
        "{left_after_restart}"
    );
    let out = rflush(
        &redis.url(),
        &[
            "flush",
            "--resume",
            checkpoint.to_str().unwrap(),
            "--yes",
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(count(&mut c, "cache:*"), 0);
    assert_eq!(count(&mut c, "keep:*"), 1000);
    assert!(!checkpoint.exists(), "checkpoint removed after completion");

    // Nothing lost: the (appended) backup holds every key that was deleted, in both runs.
    let fresh = RedisServer::start(&[]);
    let out = rflush(
        &fresh.url(),
        &["restore", backup.to_str().unwrap(), "-o", "json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let v = json(&out);
    assert_eq!(v["complete"], true, "{v}");
    let mut c3 = fresh.conn();
    let restored: u64 = redis::cmd("DBSIZE").query(&mut c3).unwrap();
    assert_eq!(restored, N, "{v}");
}

#[test]
fn count_stats_list_and_rbac() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    populate(&mut c, 3000, "api:cache:");
    populate(&mut c, 700, "rate:limit:");
    let out = rflush(&redis.url(), &["count", "api-cache", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["keys"], 3000);
    let out = rflush(&redis.url(), &["count", "rate:limit:*"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("700 keys match \"rate:limit:*\""),
        "{}",
        text(&out)
    );
    let out = rflush(&redis.url(), &["stats", "-o", "json", "--samples", "50"]);
    assert!(out.status.success(), "{}", text(&out));
    let v = json(&out);
    assert_eq!(v["keys"], 3700);
    assert!(v["version"].as_str().unwrap().starts_with('7'), "{v}");
    let api = v["cache_types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "api-cache")
        .unwrap()
        .clone();
    assert_eq!(api["keys"], 3000);
    assert_eq!(api["sampled"], 50);
    assert!(api["estimated_bytes"].as_u64().unwrap() > 3000 * 16);
    let out = rflush(&redis.url(), &["list"]);
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        list.starts_with("NAME") && list.contains("market-data") && list.contains("market:data:*"),
        "{list}"
    );
    let out = rflush(&redis.url(), &["rbac"]);
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(
        yaml.contains("pods/portforward")
            && yaml.contains("statefulsets")
            && yaml.contains("secrets"),
        "{yaml}"
    );
}

/// A local Redis Cluster of three primaries (no replicas).
pub(crate) struct LocalCluster {
    pub(crate) nodes: Vec<RedisServer>,
}

impl LocalCluster {
    pub(crate) fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "5000",
                ])
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let status = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .expect("redis-cli --cluster create");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        for n in &nodes {
            loop {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut n.conn())
                    .unwrap();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(Instant::now() < deadline, "cluster did not become ok");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        LocalCluster { nodes }
    }

    pub(crate) fn total(&self, pattern: &str) -> usize {
        self.nodes
            .iter()
            .map(|n| count(&mut n.conn(), pattern))
            .sum()
    }
}

#[test]
fn cluster_flush_scans_every_primary_and_deletes_without_crossslot() {
    let cluster = LocalCluster::start();
    let url = cluster.nodes[0].url();
    // Seed each key on the node owning its slot (DEBUG POPULATE ignores slots).
    let mut script = String::new();
    for i in 0..3000 {
        script.push_str(&format!("SET market:data:{i} v\nSET news:data:{i} v\n"));
    }
    for i in 0..50 {
        script.push_str(&format!("SET {{tag}}:market:data:{i} v\n"));
    }
    seed_cluster(&cluster, &script);
    assert_eq!(cluster.total("market:data:*"), 3000);
    assert_eq!(cluster.total("news:data:*"), 3000);
    let backup = cluster.nodes[0].dir.path().join("c.rfb");
    let out = rflush(
        &url,
        &[
            "flush",
            "market-data",
            "--yes",
            "-f",
            backup.to_str().unwrap(),
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["deleted"], 3000);
    assert_eq!(cluster.total("market:data:*"), 0);
    assert_eq!(cluster.total("news:data:*"), 3000);
    let out = rflush(&url, &["restore", backup.to_str().unwrap(), "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["restored"], 3000);
    assert_eq!(cluster.total("market:data:*"), 3000);
}

pub(crate) fn seed_cluster(cluster: &LocalCluster, script: &str) {
    use std::io::Write;
    // Route each SET to the node owning its slot with CLUSTER KEYSLOT + the slot map.
    let mut c0 = cluster.nodes[0].conn();
    let slots: Vec<(i64, i64, Vec<redis::Value>)> = {
        let v: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER").arg("SLOTS").query(&mut c0).unwrap();
        v.into_iter()
            .map(|r| {
                let a: i64 = redis::from_redis_value(r[0].clone()).unwrap();
                let b: i64 = redis::from_redis_value(r[1].clone()).unwrap();
                let node: Vec<redis::Value> = redis::from_redis_value(r[2].clone()).unwrap();
                (a, b, node)
            })
            .collect()
    };
    let mut per_port: std::collections::BTreeMap<i64, String> = Default::default();
    for line in script.lines() {
        let key = line.split(' ').nth(1).unwrap();
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut c0)
            .unwrap();
        let (_, _, node) = slots
            .iter()
            .find(|(a, b, _)| *a <= slot && slot <= *b)
            .unwrap();
        let port: i64 = redis::from_redis_value(node[1].clone()).unwrap();
        per_port
            .entry(port)
            .or_default()
            .push_str(&format!("{line}\n"));
    }
    for (port, cmds) in per_port {
        let mut child = Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(cmds.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    }
}
