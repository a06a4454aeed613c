//! `kubectl rflush flush --spread WINDOW` against real `redis-server`s (standalone and a local
//! 3-primary Cluster): keys get random expiries instead of being deleted, spread evenly over
//! the window, never lengthened; they disappear gradually and all by the window's end; the
//! backup taken first restores the original TTLs; an interrupted run resumes with the same
//! window end; the Redis 6 script path (forced) behaves the same; bad input is refused.

use std::collections::HashMap;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use kubectl_ops_tests::plugin;

use crate::rflush::{
    LocalCluster, RedisServer, count, dbsize, json, populate, rflush, seed_cluster, set_many, text,
};

const SPREAD_METHOD_ENV: &str = "KUBECTL_RFLUSH_SPREAD_METHOD";

/// `kubectl-rflush ARGS` against `url`, with the expiry method forced (`lt` / `script`).
fn rflush_with(url: &str, method: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    plugin("kubectl-rflush")
        .env("REDIS_URL", url)
        .env(SPREAD_METHOD_ENV, method)
        .current_dir(dir.path())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kubectl-rflush")
}

fn server_ms(c: &mut redis::Connection) -> i64 {
    let (s, us): (i64, i64) = redis::cmd("TIME").query(c).unwrap();
    s * 1000 + us / 1000
}

fn keys(c: &mut redis::Connection, pattern: &str) -> Vec<String> {
    redis::cmd("KEYS").arg(pattern).query(c).unwrap()
}

/// PEXPIRETIME of each key (-1 none, -2 gone), pipelined.
fn expire_times(c: &mut redis::Connection, keys: &[String]) -> HashMap<String, i64> {
    let mut pipe = redis::pipe();
    for k in keys {
        pipe.cmd("PEXPIRETIME").arg(k);
    }
    let at: Vec<i64> = pipe.query(c).unwrap();
    keys.iter().cloned().zip(at).collect()
}

/// PEXPIRETIME of every key matching `pattern`.
fn expiries_of(c: &mut redis::Connection, pattern: &str) -> HashMap<String, i64> {
    let ks = keys(c, pattern);
    expire_times(c, &ks)
}

/// Sets `n` keys `PREFIXi` expiring in `ttl_ms`.
fn set_with_ttl(c: &mut redis::Connection, prefix: &str, n: u64, ttl_ms: u64) {
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.cmd("SET")
            .arg(format!("{prefix}{i}"))
            .arg("v")
            .arg("PX")
            .arg(ttl_ms)
            .ignore();
    }
    let _: () = pipe.query(c).unwrap();
}

/// Asserts that expiries lie in (start, end] and are spread evenly: no tenth of the window
/// holds more than 20 % of them.
fn assert_spread_evenly(at: &[i64], start: i64, end: i64) {
    assert!(!at.is_empty());
    let width = (end - start) as f64;
    let mut buckets = [0usize; 10];
    for &t in at {
        assert!(t > start && t <= end, "{t} not in ({start}, {end}]");
        buckets[(((t - start) as f64 / width * 10.0) as usize).min(9)] += 1;
    }
    let most = *buckets.iter().max().unwrap();
    assert!(
        most * 5 <= at.len(),
        "a tenth of the window holds {most} of {} expiries: {buckets:?}",
        at.len()
    );
}

/// The properties of a long-window spread on one server: nothing deleted, every key without
/// a TTL (or with a later one) gets an expiry spread evenly over the window, a key that
/// expires sooner keeps its expiry, and the backup restores the original TTLs.
fn long_window_properties(method: &str) {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    populate(&mut c, 20_000, "cache:"); // no TTL
    set_with_ttl(&mut c, "cache:soon:", 500, 3 * 24 * 3600 * 1000); // 3 days: a tenth of 30d
    set_with_ttl(&mut c, "cache:late:", 500, 90 * 24 * 3600 * 1000); // 90 days: always shortened
    populate(&mut c, 1000, "keep:");
    let before_soon = expiries_of(&mut c, "cache:soon:*");
    let before = dbsize(&mut c);
    let backup = redis.dir.path().join("spread.rfb");
    let start = server_ms(&mut c);
    let out = rflush_with(
        &redis.url(),
        method,
        &[
            "flush",
            "-p",
            "cache:*",
            "--spread",
            "30d",
            "--yes",
            "-f",
            backup.to_str().unwrap(),
            "-o",
            "json",
        ],
    );
    let end = server_ms(&mut c) + 30 * 24 * 3600 * 1000;
    assert!(out.status.success(), "{}", text(&out));
    // Nothing deleted at once. A key's pick can land in the first seconds of the 30 days
    // (the earliest is 1 s away): over the tens of seconds this test runs, each of 21,000 keys
    // has a chance of about 1 in 40,000 to 1 in 100,000 to be gone already, so a few may be.
    let gone = before - dbsize(&mut c);
    assert!(gone <= 3, "{gone} keys deleted at once: {}", text(&out));
    let v = json(&out);
    assert_eq!(v["deleted"], 0, "{v}");
    let s = &v["spread"];
    let expiring = s["expiring"].as_u64().unwrap();
    let kept = s["kept"].as_u64().unwrap();
    assert_eq!(expiring + kept, 21_000, "{v}");
    assert_eq!(s["window_seconds"], 30.0 * 24.0 * 3600.0, "{v}");
    assert!(
        (s["misses_per_second"].as_f64().unwrap() - expiring as f64 / (30.0 * 86400.0)).abs()
            < 1e-6,
        "{v}"
    );

    // Every key without a TTL or with a later one now expires within the window, evenly.
    let mut spread_keys = keys(&mut c, "cache:*");
    spread_keys.retain(|k| !k.starts_with("cache:soon:"));
    let at = expire_times(&mut c, &spread_keys);
    let at: Vec<i64> = at.into_values().collect();
    // (Less the few whose pick may have come already, see above.)
    assert!((20_497..=20_500).contains(&at.len()), "{}", at.len());
    assert_spread_evenly(&at, start, end);
    // Keys expiring sooner were never lengthened; most (a pick lands after 3 days with
    // probability 0.9) kept their expiry exactly.
    let after_soon = expiries_of(&mut c, "cache:soon:*");
    let mut unchanged = 0;
    for (k, was) in &before_soon {
        // (A shortened one may already be gone, see above.)
        let Some(&now) = after_soon.get(k) else {
            continue;
        };
        assert!(now > 0 && now <= *was, "{k}: {was} -> {now}");
        unchanged += usize::from(now == *was);
    }
    assert!(
        unchanged >= 400,
        "only {unchanged} of 500 kept their expiry"
    );
    assert_eq!(kept as usize, unchanged, "{v}");
    // Other keys untouched.
    assert!(expiries_of(&mut c, "keep:*").values().all(|&t| t == -1));

    // The backup (taken before the expiries changed) brings the original TTLs back.
    let out = rflush(
        &redis.url(),
        &[
            "restore",
            backup.to_str().unwrap(),
            "--replace",
            "--yes",
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["restored"], 21_000, "{}", text(&out));
    assert!(
        expiries_of(&mut c, "cache::*").values().all(|&t| t == -1),
        "keys without a TTL before have none again"
    );
    // (The backup's absolute expiry is TIME + PTTL read in one pipeline: a few ms early at
    // most, never late.)
    let restored_soon = expiries_of(&mut c, "cache:soon:*");
    for (k, was) in &before_soon {
        let now = restored_soon[k];
        assert!(now <= *was && now > was - 1000, "{k}: {was} -> {now}");
    }
}

#[test]
fn spread_sets_even_expiries_only_shortening_and_backup_restores_ttls() {
    long_window_properties("lt");
}

#[test]
fn spread_on_the_redis6_script_path_has_the_same_properties() {
    long_window_properties("script");
}

#[test]
fn spread_keys_disappear_gradually_and_all_by_the_window_end() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    const N: usize = 5000;
    populate(&mut c, N as u64, "cache:");
    populate(&mut c, 100, "keep:");
    let out = rflush(
        &redis.url(),
        &[
            "flush",
            "-p",
            "cache:*",
            "--spread",
            "4s",
            "--yes",
            "--no-backup",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    // The window started before the command returned. Poll the remaining keys (KEYS skips
    // logically expired keys) until its end plus one active-expire cycle (100 ms) and some
    // slack for a busy machine; record how they went.
    let deadline = Instant::now() + Duration::from_secs(4) + Duration::from_millis(1000);
    let mut seen = Vec::new();
    loop {
        let left = count(&mut c, "cache:*");
        seen.push(left);
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} keys still there after the window: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        seen[0] > N / 2,
        "most keys still there right after: {seen:?}"
    );
    let between = seen.iter().filter(|&&n| n > 0 && n < N).count();
    assert!(between >= 10, "no gradual decline: {seen:?}");
    let biggest_drop = seen.windows(2).map(|w| w[0] - w[1]).max().unwrap();
    assert!(
        biggest_drop < N / 3,
        "{biggest_drop} keys at once: {seen:?}"
    );
    assert_eq!(count(&mut c, "keep:*"), 100);
}

#[test]
fn interrupted_spread_resumes_with_the_same_window_end() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    const N: u64 = 30_000;
    set_many(&mut c, "cache:", N);
    let backup = redis.dir.path().join("r.rfb");
    let checkpoint = backup.with_extension("resume.json");
    let child = plugin("kubectl-rflush")
        .env("REDIS_URL", redis.url())
        .args([
            "flush",
            "-p",
            "cache:*",
            "--spread",
            "1h",
            "--yes",
            "--rate",
            "5000",
            "--batch-size",
            "100",
            "-f",
        ])
        .arg(&backup)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt (Ctrl-C) once a part of the keys got an expiry and a checkpoint exists.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info: String = redis::cmd("INFO").arg("keyspace").query(&mut c).unwrap();
        let expires: u64 = info
            .split("expires=")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if expires >= 5000 && checkpoint.exists() {
            break;
        }
        assert!(Instant::now() < deadline, "spread made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gave ") && err.contains("an expiry before stopping"),
        "{err}"
    );
    assert!(
        err.contains("--spread 1h") && err.contains("--resume"),
        "{err}"
    );
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
    let window_end = saved["spread"]["deadline_ms"].as_i64().unwrap();
    let without_expiry = expiries_of(&mut c, "cache:*")
        .values()
        .filter(|&&t| t == -1)
        .count();
    assert!(without_expiry > 0, "interrupted before the end");

    // Resume a little later: the window end stays the checkpoint's, not now + 1h.
    std::thread::sleep(Duration::from_millis(1500));
    let out = rflush(
        &redis.url(),
        &[
            "flush",
            "-p",
            "cache:*",
            "--spread",
            "1h",
            "--yes",
            "--resume",
            checkpoint.to_str().unwrap(),
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let v = json(&out);
    // (SCAN may return a key twice; a second pick only ever shortens.)
    assert!(v["spread"]["expiring_total"].as_u64().unwrap() >= N, "{v}");
    // Over a 1h window a few keys already expired (about 8 per second of the test).
    let at = expiries_of(&mut c, "cache:*");
    let stats: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
    let expired: u64 = stats
        .lines()
        .find_map(|l| l.strip_prefix("expired_keys:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    // (DBSIZE still counts keys past their expiry that KEYS already hides.)
    assert_eq!(dbsize(&mut c) + expired, N);
    assert!(at.len() as u64 > N - 1000, "{}", at.len());
    let past: Vec<(&String, &i64)> = at
        .iter()
        .filter(|&(_, &t)| t == -1 || t > window_end) // -2: expired since KEYS
        .collect();
    assert!(
        past.is_empty(),
        "{} expiries past the saved window end {window_end}: {:?}",
        past.len(),
        &past[..past.len().min(5)]
    );
    assert!(!checkpoint.exists());
    // The backup holds every key once per run that saw it, with no TTL (as before).
    let fresh = RedisServer::start(&[]);
    let out = rflush(
        &fresh.url(),
        &["restore", backup.to_str().unwrap(), "-o", "json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let mut f = fresh.conn();
    assert_eq!(dbsize(&mut f), N);
    assert!(expiries_of(&mut f, "cache:*").values().all(|&t| t == -1));

    // A checkpoint whose window is over is refused: expiring the rest at once would be the
    // stampede --spread exists to avoid.
    let mut over = saved.clone();
    over["spread"]["deadline_ms"] = serde_json::json!(server_ms(&mut c) - 1000);
    std::fs::write(&checkpoint, serde_json::to_vec(&over).unwrap()).unwrap();
    let out = rflush(
        &redis.url(),
        &["flush", "--resume", checkpoint.to_str().unwrap(), "--yes"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the spread window of this checkpoint ended")
            && err.contains("hint: start a new spread flush"),
        "{err}"
    );
}

#[test]
fn spread_on_a_cluster_reaches_every_primary_without_crossslot() {
    let cluster = LocalCluster::start();
    let url = cluster.nodes[0].url();
    let mut script = String::new();
    for i in 0..2000 {
        script.push_str(&format!("SET cache:{i} v\nSET keep:{i} v\n"));
    }
    for i in 0..50 {
        script.push_str(&format!("SET {{tag}}:cache:{i} v\n"));
    }
    seed_cluster(&cluster, &script);
    for method in ["lt", "script"] {
        // Each pass starts from keys without a TTL.
        for node in &cluster.nodes {
            let mut c = node.conn();
            for k in keys(&mut c, "*cache:*") {
                let _: i64 = redis::cmd("PERSIST").arg(&k).query(&mut c).unwrap();
            }
        }
        let start = server_ms(&mut cluster.nodes[0].conn());
        let out = rflush_with(
            &url,
            method,
            &[
                "flush",
                "-p",
                "*cache:*",
                "--spread",
                "30d",
                "--yes",
                "--no-backup",
                "-o",
                "json",
            ],
        );
        assert!(out.status.success(), "{method}: {}", text(&out));
        let v = json(&out);
        let end = server_ms(&mut cluster.nodes[0].conn()) + 30 * 24 * 3600 * 1000;
        let mut all = Vec::new();
        for node in &cluster.nodes {
            let mut c = node.conn();
            let ks = keys(&mut c, "*cache:*");
            assert!(!ks.is_empty(), "every primary holds some keys");
            all.extend(expire_times(&mut c, &ks).into_values());
            assert!(expiries_of(&mut c, "keep:*").values().all(|&t| t == -1));
        }
        assert_eq!(all.len(), 2050, "{method}: nothing deleted");
        assert_spread_evenly(&all, start, end);
        assert_eq!(v["spread"]["expiring"], 2050, "{method}: {v}");
        assert_eq!(v["spread"]["kept"], 0, "{method}: {v}");
    }
}

#[test]
fn spread_dry_run_shows_the_miss_rate_and_changes_nothing() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    populate(&mut c, 6000, "session:");
    let out = rflush(
        &redis.url(),
        &["flush", "user-sessions", "--spread", "10m", "--dry-run"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("would expire 6,000 keys")
            && stdout.contains("within 10m: about 10 misses/s instead of 6,000 at once"),
        "{stdout}"
    );
    let out = rflush(
        &redis.url(),
        &[
            "flush",
            "user-sessions",
            "--spread",
            "2m",
            "--dry-run",
            "-o",
            "json",
        ],
    );
    let v = json(&out);
    assert_eq!(v["spread"]["expected_misses_per_second"], 50.0, "{v}");
    assert_eq!(v["spread"]["window_seconds"], 120.0, "{v}");
    let info: String = redis::cmd("INFO").arg("keyspace").query(&mut c).unwrap();
    assert!(info.contains("keys=6000,expires=0"), "{info}");
}

#[test]
fn spread_bad_input_is_refused_and_changes_nothing() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    populate(&mut c, 100, "session:");
    let untouched = |c: &mut redis::Connection| {
        let info: String = redis::cmd("INFO").arg("keyspace").query(c).unwrap();
        assert!(info.contains("keys=100,expires=0"), "{info}");
    };
    for bad in ["0s", "31d", "soon"] {
        let out = rflush(
            &redis.url(),
            &["flush", "user-sessions", "--spread", bad, "--yes"],
        );
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: invalid value"), "{err}");
    }
    assert!(
        String::from_utf8_lossy(
            &rflush(&redis.url(), &["flush", "user-sessions", "--spread", "0s"]).stderr
        )
        .contains("would expire every key at once")
    );
    // A pattern matching every key needs the same explicit confirmation as flush.
    let out = rflush(
        &redis.url(),
        &[
            "flush",
            "-p",
            "*",
            "--spread",
            "10m",
            "--yes",
            "--no-backup",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--flush-everything"),
        "{}",
        text(&out)
    );
    // Not a terminal, no --yes: refused.
    let out = rflush(
        &redis.url(),
        &["flush", "user-sessions", "--spread", "10m", "--no-backup"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    untouched(&mut c);
    // Resuming the checkpoint of a deleting flush with --spread is a usage error.
    let cp = redis.dir.path().join("plain.resume.json");
    std::fs::write(
        &cp,
        serde_json::json!({
            "kind": "kubectl-rflush-checkpoint/v1", "pattern": "session:*", "cache_type": null,
            "backup_file": null, "address": redis.url(), "deleted": 0, "nodes": []
        })
        .to_string(),
    )
    .unwrap();
    let out = rflush(
        &redis.url(),
        &[
            "flush",
            "--resume",
            cp.to_str().unwrap(),
            "--spread",
            "10m",
            "--yes",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not of a spread flush"),
        "{}",
        text(&out)
    );
    untouched(&mut c);

    // A server without PEXPIREAT (renamed away) says so, before touching anything.
    let renamed = RedisServer::start(&["--rename-command", "PEXPIREAT", ""]);
    let mut r = renamed.conn();
    populate(&mut r, 100, "session:");
    let out = rflush(
        &renamed.url(),
        &["flush", "user-sessions", "--spread", "10m", "--yes"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let lines: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        lines.len() == 2 && lines[0].contains("has no PEXPIREAT") && lines[1].starts_with("hint: "),
        "{lines:?}"
    );
    untouched(&mut r);
}

#[test]
fn flush_and_spread_print_the_watch_command_with_the_same_connection_flags() {
    let redis = RedisServer::start(&["--requirepass", "s3cret"]);
    let url = format!("redis://:s3cret@127.0.0.1:{}", redis.port);
    let mut c = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    populate(&mut c, 100, "session:");
    // The connection flags may come before or after the subcommand; the password is not
    // repeated on the terminal.
    for (before, after) in [
        (&["--redis-url", url.as_str()][..], &["--spread", "1h"][..]),
        (&[][..], &["--redis-url", url.as_str()][..]),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = plugin("kubectl-rflush")
            .env_remove("REDIS_URL")
            .current_dir(dir.path())
            .args(before)
            .args(["flush", "user-sessions", "--yes", "--no-backup"])
            .args(after)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        let want = format!(
            "hint: watch the recovery (hit rate, misses, memory): kubectl rflush --redis-url redis://127.0.0.1:{} stats --watch user-sessions",
            redis.port
        );
        assert!(err.lines().any(|l| l == want), "{after:?}: {err}");
    }
}
