//! End-to-end tests of `kubectl rflush` against the sandbox: the in-cluster `redis-0` reached by
//! the plugin's own port-forward through the real apiserver and kubelet, as the least-privilege
//! user `kubectl-ops-rflush` bound to exactly the Role that `kubectl rflush rbac` prints; and the
//! sandbox's 6-node Redis Cluster (3 primaries, 3 replicas) by direct URL.
//!
//! The seeded cache types are only counted, never flushed (other tests rely on them): every
//! write goes under a prefix unique to the test run (`e2e:<12 hex>`), removed at the end and,
//! should the test fail half-way, by a guard that runs the plugin as the admin on drop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, Portforwarder, PostParams};
use kubectl_ops_tests::fixtures::{
    TestNamespace, bind_role, printed_role, unique, wait_until_allowed,
};
use kubectl_ops_tests::plugin;
use kubectl_ops_tests::sandbox::{CONTEXT, Sandbox, User, eventually};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisConnectionInfo};
use serde_json::{Value, json};

pub(crate) fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The JSON on stdout of a successful run.
pub(crate) fn ok_json(o: &Output) -> Result<Value> {
    ensure!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout).with_context(|| text(o))
}

/// Runs `kubectl rflush ARGS` as `user` against namespace `ns` (port-forward mode: no
/// REDIS_URL), in `dir` (so `./backups` lands there), stdin closed.
pub(crate) fn rflush_as(
    sb: &Sandbox,
    user: User,
    ns: &str,
    dir: &Path,
    args: &[&str],
) -> Result<Output> {
    Ok(plugin("kubectl-rflush")
        .env_remove("KUBECONFIG")
        .env_remove("REDIS_URL")
        .env_remove("REDIS_PASSWORD")
        .env_remove("REDIS_USERNAME")
        .current_dir(dir)
        .arg("--kubeconfig")
        .arg(sb.kubeconfig(user)?)
        .args(["--context", CONTEXT, "-n", ns])
        .args(args)
        .stdin(Stdio::null())
        .output()?)
}

/// Runs `kubectl rflush --redis-url URL ARGS` (no Kubernetes involved).
pub(crate) fn rflush_url(url: &str, dir: &Path, args: &[&str]) -> Result<Output> {
    Ok(plugin("kubectl-rflush")
        .env_remove("KUBECONFIG")
        .env("REDIS_URL", url)
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()?)
}

/// Binds `kubectl-ops-rflush` to the Role `kubectl rflush rbac` prints for the seeded
/// namespace (idempotent: the tests of this file share it).
pub(crate) async fn bind_rflush_role(sb: &Sandbox, admin: &Client) -> Result<()> {
    let role = printed_role("kubectl-rflush", &sb.namespace)?;
    bind_role(sb, admin, &role, User::Rflush).await
}

/// The cache types of the default config (`list -o json`) with the count seeded for each.
pub(crate) fn seeded_types(sb: &Sandbox) -> Result<Vec<(String, String, u64)>> {
    let seed = sb.seed()?;
    let out = plugin("kubectl-rflush")
        .args(["list", "-o", "json"])
        .output()?;
    let list = ok_json(&out)?;
    let mut types = Vec::new();
    for item in list["items"].as_array().context("items")? {
        let (name, pattern) = (
            item["name"].as_str().context("name")?,
            item["pattern"].as_str().context("pattern")?,
        );
        let seeded = seed
            .patterns
            .get(pattern)
            .with_context(|| format!("{pattern} was not seeded"))?;
        types.push((name.to_owned(), pattern.to_owned(), seeded.keys));
    }
    ensure!(
        types.len() == seed.patterns.len() && types.len() == 8,
        "{types:?}"
    );
    Ok(types)
}

// ---------------------------------------------------------------------------------------------
// Our own view of Redis (the oracle): kube-rs port-forward + the redis crate, as the admin.

/// A connection to `redis-0:6379` through a port-forward the test opens itself.
pub(crate) struct PodRedis {
    pub(crate) conn: MultiplexedConnection,
    _forwarder: Portforwarder,
}

impl PodRedis {
    pub(crate) async fn open(admin: &Client, ns: &str) -> Result<Self> {
        let pods: Api<Pod> = Api::namespaced(admin.clone(), ns);
        let mut forwarder = pods.portforward("redis-0", &[6379]).await?;
        let stream = forwarder
            .take_stream(6379)
            .context("port-forward returned no stream")?;
        let (conn, driver) = MultiplexedConnection::new_with_config(
            &RedisConnectionInfo::default(),
            stream,
            AsyncConnectionConfig::new(),
        )
        .await?;
        tokio::spawn(driver);
        Ok(PodRedis {
            conn,
            _forwarder: forwarder,
        })
    }
}

/// Every key matching `pattern`, by SCAN (deduplicated).
async fn scan_async(conn: &mut MultiplexedConnection, pattern: &[u8]) -> Result<BTreeSet<Vec<u8>>> {
    let mut keys = BTreeSet::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

fn scan_sync(conn: &mut redis::Connection, pattern: &[u8]) -> Result<BTreeSet<Vec<u8>>> {
    let mut keys = BTreeSet::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query(conn)?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

/// The test's keys: odd bytes (space, newline, NUL, 0xff, glob characters, quotes, UTF-8, a
/// hash tag, the bare prefix) and every data type, some with a TTL.
fn own_keys(prefix: &str, plain: usize) -> Vec<Vec<u8>> {
    let p = prefix.as_bytes();
    let mut keys: Vec<Vec<u8>> = [
        &b"with space"[..],
        b"new\nline",
        b"\x00nul\xff\xfe binary",
        b"glob*?[x]\\",
        b"\"double\" 'single'",
        "ünïcødé 🔑".as_bytes(),
        b"",
        b"{tag}pinned",
        b"{tag}pinned-too",
    ]
    .iter()
    .map(|s| [p, s].concat())
    .collect();
    keys.extend((0..plain).map(|i| format!("{prefix}k{i}").into_bytes()));
    keys
}

/// The write commands for key number `i`: type by `i % 6`, a TTL on every fourth key.
fn write_cmds(i: usize, key: &[u8]) -> Vec<redis::Cmd> {
    let write = match i % 6 {
        0 => redis::cmd("SET")
            .arg(key)
            .arg(format!("v{i}\x00\n\u{fe}").as_bytes())
            .clone(),
        1 => redis::cmd("HSET")
            .arg(key)
            .arg("f")
            .arg(i)
            .arg("g")
            .arg("x y")
            .clone(),
        2 => redis::cmd("RPUSH")
            .arg(key)
            .arg("a")
            .arg(i)
            .arg("c")
            .clone(),
        3 => redis::cmd("SADD").arg(key).arg("m1").arg(i).clone(),
        4 => redis::cmd("ZADD")
            .arg(key)
            .arg(1.5)
            .arg("a")
            .arg(i)
            .arg("b")
            .clone(),
        _ => redis::cmd("XADD")
            .arg(key)
            .arg("1-1")
            .arg("f")
            .arg(i)
            .clone(),
    };
    let mut cmds = vec![write];
    if i.is_multiple_of(4) {
        cmds.push(
            redis::cmd("PEXPIRE")
                .arg(key)
                .arg(86_400_000 + i as u64)
                .clone(),
        );
    }
    cmds
}

/// Type + value (order-free where Redis has no order) and PTTL of each key, to compare a
/// restore with what was flushed. (Not DUMP: a hashtable-encoded set or hash may serialize in
/// another order after RESTORE.)
type Snapshot = BTreeMap<Vec<u8>, (String, i64)>;

fn read_value_cmd(kind: &str, key: &[u8]) -> redis::Cmd {
    match kind {
        "hash" => redis::cmd("HGETALL").arg(key).clone(),
        "list" => redis::cmd("LRANGE").arg(key).arg(0).arg(-1).clone(),
        "set" => redis::cmd("SMEMBERS").arg(key).clone(),
        "zset" => redis::cmd("ZRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .clone(),
        "stream" => redis::cmd("XRANGE").arg(key).arg("-").arg("+").clone(),
        _ => redis::cmd("GET").arg(key).clone(),
    }
}

fn canonical(kind: &str, v: &redis::Value) -> String {
    let mut parts: Vec<String> = match (v, kind) {
        (redis::Value::Array(items), "hash") => items.chunks(2).map(|c| format!("{c:?}")).collect(),
        (redis::Value::Array(items), "set") => items.iter().map(|i| format!("{i:?}")).collect(),
        _ => vec![format!("{v:?}")],
    };
    parts.sort();
    format!("{kind} {parts:?}")
}

async fn snapshot_async(conn: &mut MultiplexedConnection, keys: &[Vec<u8>]) -> Result<Snapshot> {
    let mut snap = Snapshot::new();
    for k in keys {
        let (kind, pttl): (String, i64) = redis::pipe()
            .cmd("TYPE")
            .arg(k)
            .cmd("PTTL")
            .arg(k)
            .query_async(conn)
            .await?;
        ensure!(kind != "none", "{k:?} missing");
        let v: redis::Value = read_value_cmd(&kind, k).query_async(conn).await?;
        snap.insert(k.clone(), (canonical(&kind, &v), pttl));
    }
    Ok(snap)
}

fn snapshot_sync(
    conn: &mut redis::Connection,
    keys: &[&Vec<u8>],
    snap: &mut Snapshot,
) -> Result<()> {
    for &k in keys {
        let (kind, pttl): (String, i64) = redis::pipe()
            .cmd("TYPE")
            .arg(k)
            .cmd("PTTL")
            .arg(k)
            .query(conn)?;
        ensure!(kind != "none", "{k:?} missing");
        let v: redis::Value = read_value_cmd(&kind, k).query(conn)?;
        snap.insert(k.clone(), (canonical(&kind, &v), pttl));
    }
    Ok(())
}

/// The restored keys equal the snapshot: same type and value, no TTL where
/// there was none, and a TTL not longer than before where there was one.
fn same_as_snapshot(before: &Snapshot, after: &Snapshot) -> Result<()> {
    ensure!(
        before.len() == after.len(),
        "{} keys before, {} after",
        before.len(),
        after.len()
    );
    for (k, (dump, pttl)) in before {
        let (dump2, pttl2) = after
            .get(k)
            .with_context(|| format!("{k:?} not restored"))?;
        ensure!(dump == dump2, "{k:?}: value differs after restore");
        if *pttl < 0 {
            ensure!(*pttl2 == -1, "{k:?}: had no TTL, now {pttl2}");
        } else {
            ensure!(
                *pttl2 > 0 && pttl2 <= pttl,
                "{k:?}: TTL {pttl} before, {pttl2} after"
            );
        }
    }
    Ok(())
}

/// Runs the plugin to delete everything under `pattern` when dropped (the test failed half-way),
/// as the admin through the port-forward, or by URL for the cluster.
pub(crate) struct Cleanup {
    pub(crate) sb: Sandbox,
    pub(crate) pattern: String,
    pub(crate) url: Option<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(dir) = tempfile::tempdir() else { return };
        let args = [
            "flush",
            "--pattern",
            &self.pattern,
            "--yes",
            "--no-backup",
            "--no-pacing",
        ];
        let _ = match &self.url {
            Some(url) => rflush_url(url, dir.path(), &args),
            None => rflush_as(&self.sb, User::Admin, &self.sb.namespace, dir.path(), &args),
        };
    }
}

// ---------------------------------------------------------------------------------------------
// 1. In-cluster, through the plugin's port-forward, as the least-privilege user.

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn in_cluster_count_flush_restore_as_least_privilege_user() -> Result<()> {
    let sb = Sandbox::load()?;
    let admin = sb.client().await?;
    let ns = sb.namespace.clone();
    let dir = tempfile::tempdir()?;
    bind_rflush_role(&sb, &admin).await?;

    // Every cache type counts as seeded, through the plugin's port-forward (default target
    // statefulset/redis), as kubectl-ops-rflush.
    let types = seeded_types(&sb)?;
    for (name, pattern, seeded) in &types {
        let out = rflush_as(
            &sb,
            User::Rflush,
            &ns,
            dir.path(),
            &["count", name, "-o", "json"],
        )?;
        let v = ok_json(&out)?;
        ensure!(v["pattern"] == pattern.as_str(), "{v}");
        ensure!(
            v["keys"] == *seeded,
            "count {name}: {} keys, seeded {seeded}",
            v["keys"]
        );
        ensure!(
            v["address"]
                .as_str()
                .is_some_and(|a| a.contains("pod/redis-0:6379")),
            "{v}"
        );
    }

    // Our keys, written through our own port-forward.
    let u = unique();
    let prefix = format!("e2e:{u}:");
    let _cleanup = Cleanup {
        sb: sb.clone(),
        pattern: format!("[eE]2[eE]:{u}*"),
        url: None,
    };
    let mut r = PodRedis::open(&admin, &ns).await?;
    let keys = own_keys(&prefix, 150);
    let mut pipe = redis::pipe();
    for (i, k) in keys.iter().enumerate() {
        for c in write_cmds(i, k) {
            pipe.add_command(c).ignore();
        }
    }
    // Neighbours the pattern must not touch.
    let neighbours: Vec<Vec<u8>> = [
        format!("e2e:{u}"),
        format!("e2e:{u}-keep:1"),
        format!("e2e:{u}x:1"),
        format!("E2E:{u}:1"),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect();
    for n in &neighbours {
        pipe.cmd("SET").arg(n).arg("keep").ignore();
    }
    let () = pipe.query_async(&mut r.conn).await?;
    let pattern = format!("e2e:{u}:*");
    let present = scan_async(&mut r.conn, pattern.as_bytes()).await?;
    ensure!(
        present.len() == keys.len(),
        "{} of {} keys written",
        present.len(),
        keys.len()
    );
    let before = snapshot_async(&mut r.conn, &keys).await?;
    let mut seeded_before = BTreeMap::new();
    for (_, p, seeded) in &types {
        let n = scan_async(&mut r.conn, p.as_bytes()).await?.len() as u64;
        ensure!(n == *seeded, "{p}: {n} keys in redis-0, seeded {seeded}");
        seeded_before.insert(p.clone(), n);
    }

    // The plugin counts them exactly...
    let v = ok_json(&rflush_as(
        &sb,
        User::Rflush,
        &ns,
        dir.path(),
        &["count", &pattern, "-o", "json"],
    )?)?;
    ensure!(v["keys"] == keys.len(), "count {pattern}: {v}");

    // ...flushes exactly them, backed up first...
    let backup = dir.path().join("e2e.rfb");
    let backup_s = backup.to_str().context("utf-8 path")?;
    let out = rflush_as(
        &sb,
        User::Rflush,
        &ns,
        dir.path(),
        &[
            "flush",
            "--pattern",
            &pattern,
            "--yes",
            "-f",
            backup_s,
            "--batch-size",
            "37",
            "-o",
            "json",
        ],
    )?;
    let v = ok_json(&out)?;
    ensure!(
        v["deleted"] == keys.len() && v["backed_up"] == keys.len() && v["completed"] == true,
        "{v}"
    );
    ensure!(backup.exists(), "no backup file at {}", backup.display());
    let left = scan_async(&mut r.conn, pattern.as_bytes()).await?;
    ensure!(
        left.is_empty(),
        "{} keys left after the flush: {left:?}",
        left.len()
    );
    for n in &neighbours {
        let e: u64 = redis::cmd("EXISTS").arg(n).query_async(&mut r.conn).await?;
        ensure!(
            e == 1,
            "neighbour {:?} was deleted",
            String::from_utf8_lossy(n)
        );
    }
    for (p, n) in &seeded_before {
        let now = scan_async(&mut r.conn, p.as_bytes()).await?.len() as u64;
        ensure!(now == *n, "{p}: {now} keys after the flush, {n} before");
    }

    // ...and restores them byte for byte, TTLs included.
    let out = rflush_as(
        &sb,
        User::Rflush,
        &ns,
        dir.path(),
        &["restore", backup_s, "-o", "json"],
    )?;
    let v = ok_json(&out)?;
    ensure!(
        v["records"] == keys.len()
            && v["restored"] == keys.len()
            && v["existing"] == 0
            && v["expired"] == 0
            && v["complete"] == true,
        "{v}"
    );
    let after = snapshot_async(&mut r.conn, &keys).await?;
    same_as_snapshot(&before, &after)?;
    // A second restore skips every key (they exist) and writes nothing.
    let v = ok_json(&rflush_as(
        &sb,
        User::Rflush,
        &ns,
        dir.path(),
        &["restore", backup_s, "-o", "json"],
    )?)?;
    ensure!(v["restored"] == 0 && v["existing"] == keys.len(), "{v}");

    // Clean up, and prove it.
    let mut pipe = redis::pipe();
    for k in keys.iter().chain(&neighbours) {
        pipe.cmd("UNLINK").arg(k).ignore();
    }
    let () = pipe.query_async(&mut r.conn).await?;
    ensure!(
        scan_async(&mut r.conn, format!("e2e:{u}*").as_bytes())
            .await?
            .is_empty()
    );
    Ok(())
}

/// Without a binding the same user gets one line naming the forbidden verb and resource, a hint,
/// exit 1 — for each kind of target. (A namespace of the test's own: the seeded one is bound by
/// the tests running beside this one.)
#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn in_cluster_without_binding_names_the_forbidden_permission() -> Result<()> {
    let sb = Sandbox::load()?;
    let admin = sb.client().await?;
    let namespace = TestNamespace::create(&sb, &admin, "rflush-e2e").await?;
    let ns = namespace.name().to_owned();
    let dir = tempfile::tempdir()?;
    let user = User::Rflush.name();
    for (target, verb, resource, group) in [
        (None, "get", "statefulsets", "apps"),
        (Some("svc/redis"), "get", "services", ""),
        (Some("pod/redis-0"), "get", "pods", ""),
    ] {
        let mut args = vec!["count", "market-data"];
        if let Some(t) = target {
            args.extend(["--target", t]);
        }
        let out = rflush_as(&sb, User::Rflush, &ns, dir.path(), &args)?;
        ensure!(out.status.code() == Some(1), "{target:?}: {}", text(&out));
        ensure!(out.stdout.is_empty(), "{target:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().collect();
        ensure!(
            lines.len() == 2,
            "{target:?}: want an error line and a hint line: {}",
            text(&out)
        );
        let want = format!(
            "User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" in the namespace \"{ns}\""
        );
        ensure!(
            lines[0].starts_with("error: ") && lines[0].contains(&want),
            "{target:?}: want {want:?}: {}",
            text(&out)
        );
        ensure!(
            lines[1].starts_with("hint: ") && lines[1].contains("rbac"),
            "{target:?}: {}",
            text(&out)
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2. The 6-node Redis Cluster, by direct URL.

/// One node of the cluster, as `CLUSTER NODES` describes it.
struct ClusterNode {
    addr: String,
    id: String,
    primary_of: Option<String>,
    slots: Vec<(u16, u16)>,
}

fn cluster_nodes(any: &str) -> Result<Vec<ClusterNode>> {
    let mut c = redis::Client::open(format!("redis://{any}"))?.get_connection()?;
    let textual: String = redis::cmd("CLUSTER").arg("NODES").query(&mut c)?;
    let mut nodes = Vec::new();
    for line in textual.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        ensure!(f.len() >= 8, "CLUSTER NODES line {line:?}");
        let addr = f[1].split('@').next().unwrap_or_default().to_owned();
        let slots = f[8..]
            .iter()
            .filter(|s| !s.starts_with('['))
            .map(|s| match s.split_once('-') {
                Some((a, b)) => Ok((a.parse()?, b.parse()?)),
                None => Ok((s.parse()?, s.parse()?)),
            })
            .collect::<Result<Vec<(u16, u16)>>>()?;
        let primary_of = f[2]
            .split(',')
            .any(|x| x == "slave")
            .then(|| f[3].to_owned());
        nodes.push(ClusterNode {
            addr,
            id: f[0].to_owned(),
            primary_of,
            slots,
        });
    }
    Ok(nodes)
}

fn conn(addr: &str) -> Result<redis::Connection> {
    Ok(redis::Client::open(format!("redis://{addr}"))?.get_connection()?)
}

/// `INFO commandstats` + `errorstats` of a node: `cmdstat_X` → calls, `errorstat_X` → count.
/// Read on a connection opened beforehand: opening one costs an `errorstat_ERR` on Redis 7.0
/// (the client's `CLIENT SETINFO` handshake, new in 7.2).
fn stats(c: &mut redis::Connection) -> Result<BTreeMap<String, u64>> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .arg("errorstats")
        .query(c)?;
    let mut out = BTreeMap::new();
    for line in info.lines() {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let field = if name.starts_with("cmdstat_") {
            "calls="
        } else {
            "count="
        };
        if let Some(n) = rest.split(',').find_map(|kv| kv.strip_prefix(field)) {
            out.insert(name.to_owned(), n.parse()?);
        }
    }
    Ok(out)
}

fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, name: &str) -> u64 {
    after
        .get(name)
        .copied()
        .unwrap_or(0)
        .saturating_sub(before.get(name).copied().unwrap_or(0))
}

/// Writes a key owned by each primary and `WAIT`s for its replica: every write the primary took
/// before (the plugin's included) has then reached the replica too.
fn sync_replicas(primaries: &[&ClusterNode], marker: &BTreeMap<String, Vec<u8>>) -> Result<()> {
    for p in primaries {
        let mut c = conn(&p.addr)?;
        let () = redis::cmd("SET")
            .arg(&marker[&p.addr])
            .arg("sync")
            .query(&mut c)?;
        let acked: u64 = redis::cmd("WAIT").arg(1).arg(10_000).query(&mut c)?;
        ensure!(acked == 1, "{}: WAIT got {acked} replica acks", p.addr);
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn cluster_flush_by_pattern_on_the_owning_primaries_only() -> Result<()> {
    let sb = Sandbox::load()?;
    let seed = sb.seed()?;
    ensure!(
        sb.redis_cluster_nodes.len() == 6,
        "{:?}",
        sb.redis_cluster_nodes
    );
    let nodes = cluster_nodes(&sb.redis_cluster_nodes[0])?;
    let primaries: Vec<&ClusterNode> = nodes
        .iter()
        .filter(|n| n.primary_of.is_none() && !n.slots.is_empty())
        .collect();
    let replicas: Vec<&ClusterNode> = nodes.iter().filter(|n| n.primary_of.is_some()).collect();
    ensure!(
        primaries.len() == 3 && replicas.len() == 3,
        "want 3 primaries and 3 replicas"
    );
    let owner = |slot: u16| -> Result<&ClusterNode> {
        primaries
            .iter()
            .copied()
            .find(|p| p.slots.iter().any(|&(a, b)| (a..=b).contains(&slot)))
            .with_context(|| format!("no primary serves slot {slot}"))
    };
    let mut any = conn(&primaries[0].addr)?;
    let slot_of = |c: &mut redis::Connection, k: &[u8]| -> Result<u16> {
        Ok(redis::cmd("CLUSTER").arg("KEYSLOT").arg(k).query(c)?)
    };

    let u = unique();
    let prefix = format!("e2e:{u}:");
    let pattern = format!("e2e:{u}:*");
    let first_url = format!("redis://{}", primaries[0].addr);
    let _cleanup = Cleanup {
        sb: sb.clone(),
        pattern: format!("e2e:{u}*"),
        url: Some(first_url.clone()),
    };
    // 300 plain keys spread over the slots, 20 pinned to 2 slots by hash tags, the odd ones.
    let mut keys = own_keys(&prefix, 300);
    keys.extend((0..20).map(|i| format!("{prefix}{{grp{}}}:{i}", i % 2).into_bytes()));
    let mut per_primary: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut slots = BTreeSet::new();
    for (i, k) in keys.iter().enumerate() {
        let slot = slot_of(&mut any, k)?;
        slots.insert(slot);
        per_primary
            .entry(owner(slot)?.addr.clone())
            .or_default()
            .push(i);
    }
    ensure!(
        per_primary.len() == 3,
        "the keys must land on every primary: {:?}",
        per_primary.keys()
    );
    ensure!(slots.len() > 250, "only {} slots", slots.len());
    // A neighbour per primary (not matched by the pattern), also the replication marker.
    let mut marker = BTreeMap::new();
    for i in 0.. {
        let k = format!("e2e:{u}-keep:{i}").into_bytes();
        let o = owner(slot_of(&mut any, &k)?)?;
        marker.entry(o.addr.clone()).or_insert(k);
        if marker.len() == 3 {
            break;
        }
    }
    let mut before = Snapshot::new();
    for (addr, idx) in &per_primary {
        let mut c = conn(addr)?;
        let mut pipe = redis::pipe();
        for &i in idx {
            for cmd in write_cmds(i, &keys[i]) {
                pipe.add_command(cmd).ignore();
            }
        }
        let () = pipe.query(&mut c)?;
        let mine: Vec<&Vec<u8>> = idx.iter().map(|&i| &keys[i]).collect();
        snapshot_sync(&mut c, &mine, &mut before)?;
    }
    sync_replicas(&primaries, &marker)?;
    let count_on_primaries = |pattern: &str| -> Result<u64> {
        let mut n = 0;
        for p in &primaries {
            n += scan_sync(&mut conn(&p.addr)?, pattern.as_bytes())?.len() as u64;
        }
        Ok(n)
    };
    ensure!(count_on_primaries(&pattern)? == keys.len() as u64);
    for (p, s) in seed.patterns.iter().chain(&seed.other) {
        let n = count_on_primaries(p)?;
        ensure!(
            n == s.keys,
            "{p}: {n} keys on the primaries, seeded {}",
            s.keys
        );
    }
    let mut stat_conns: BTreeMap<String, redis::Connection> = nodes
        .iter()
        .map(|n| Ok((n.addr.clone(), conn(&n.addr)?)))
        .collect::<Result<_>>()?;
    let stats_before: BTreeMap<String, BTreeMap<String, u64>> = stat_conns
        .iter_mut()
        .map(|(addr, c)| Ok((addr.clone(), stats(c)?)))
        .collect::<Result<_>>()?;

    // Flush by pattern, through one node's URL: every primary scanned, exact total.
    let dir = tempfile::tempdir()?;
    let backup = dir.path().join("cluster.rfb");
    let backup_s = backup.to_str().context("utf-8 path")?;
    let out = rflush_url(
        &first_url,
        dir.path(),
        &[
            "flush",
            "--pattern",
            &pattern,
            "--yes",
            "-f",
            backup_s,
            "--batch-size",
            "50",
            "-o",
            "json",
        ],
    )?;
    let v = ok_json(&out)?;
    ensure!(
        v["deleted"] == keys.len() && v["backed_up"] == keys.len() && v["completed"] == true,
        "{v}"
    );
    sync_replicas(&primaries, &marker)?;
    let stats_after: BTreeMap<String, BTreeMap<String, u64>> = stat_conns
        .iter_mut()
        .map(|(addr, c)| Ok((addr.clone(), stats(c)?)))
        .collect::<Result<_>>()?;
    for n in &nodes {
        let (b, a) = (&stats_before[&n.addr], &stats_after[&n.addr]);
        // No CROSSSLOT, MOVED, ASK, READONLY... anywhere. A plain ERR is the plugin's client
        // connecting (CLIENT SETINFO, unknown to Redis 7.0): expected on the primaries only,
        // so a replica must show no new error at all.
        let errors: Vec<String> = a
            .keys()
            .filter(|k| k.starts_with("errorstat_") && delta(b, a, k) > 0)
            .filter(|k| n.primary_of.is_some() || k.as_str() != "errorstat_ERR")
            .map(|k| format!("{k}+{}", delta(b, a, k)))
            .collect();
        ensure!(
            errors.is_empty(),
            "{}: new errors during the flush: {errors:?}",
            n.addr
        );
        match &n.primary_of {
            None if per_primary.contains_key(&n.addr) => {
                ensure!(
                    delta(b, a, "cmdstat_scan") > 0,
                    "primary {} was not scanned",
                    n.addr
                );
                ensure!(
                    delta(b, a, "cmdstat_unlink") > 0,
                    "primary {} got no UNLINK",
                    n.addr
                );
            }
            None => {}
            Some(primary_id) => {
                // The plugin never talked to a replica: no reads there, and its UNLINKs are
                // exactly the ones its primary replicated.
                for cmd in [
                    "cmdstat_scan",
                    "cmdstat_dump",
                    "cmdstat_pttl",
                    "cmdstat_dbsize",
                    "cmdstat_type",
                ] {
                    ensure!(
                        delta(b, a, cmd) == 0,
                        "replica {} ran {cmd} {} times",
                        n.addr,
                        delta(b, a, cmd)
                    );
                }
                let p = nodes
                    .iter()
                    .find(|p| &p.id == primary_id)
                    .context("replica's primary")?;
                let (pb, pa) = (&stats_before[&p.addr], &stats_after[&p.addr]);
                ensure!(
                    delta(b, a, "cmdstat_unlink") == delta(pb, pa, "cmdstat_unlink"),
                    "replica {} ran {} UNLINKs, its primary {} ran {}",
                    n.addr,
                    delta(b, a, "cmdstat_unlink"),
                    p.addr,
                    delta(pb, pa, "cmdstat_unlink")
                );
            }
        }
    }
    ensure!(
        count_on_primaries(&pattern)? == 0,
        "keys left on the primaries"
    );
    for r in &replicas {
        let left = scan_sync(&mut conn(&r.addr)?, pattern.as_bytes())?;
        ensure!(
            left.is_empty(),
            "replica {} still has {} keys",
            r.addr,
            left.len()
        );
    }
    for (addr, k) in &marker {
        let e: u64 = redis::cmd("EXISTS").arg(k).query(&mut conn(addr)?)?;
        ensure!(
            e == 1,
            "neighbour {} on {addr} was deleted",
            String::from_utf8_lossy(k)
        );
    }
    for (p, s) in seed.patterns.iter().chain(&seed.other) {
        let n = count_on_primaries(p)?;
        ensure!(
            n == s.keys,
            "{p}: {n} keys after the flush, seeded {}",
            s.keys
        );
    }

    // Entering through a replica's URL works too: restore goes to the owning primaries...
    let replica_url = format!("redis://{}", replicas[0].addr);
    let v = ok_json(&rflush_url(
        &replica_url,
        dir.path(),
        &["restore", backup_s, "-o", "json"],
    )?)?;
    ensure!(
        v["records"] == keys.len() && v["restored"] == keys.len() && v["existing"] == 0,
        "{v}"
    );
    let mut after = Snapshot::new();
    for (addr, idx) in &per_primary {
        let mut c = conn(addr)?;
        let mine: Vec<&Vec<u8>> = idx.iter().map(|&i| &keys[i]).collect();
        snapshot_sync(&mut c, &mine, &mut after).with_context(|| format!("on {addr}"))?;
    }
    same_as_snapshot(&before, &after)?;
    // ...and so does a flush, again exact.
    let v = ok_json(&rflush_url(
        &replica_url,
        dir.path(),
        &[
            "flush",
            "--pattern",
            &pattern,
            "--yes",
            "--no-backup",
            "-o",
            "json",
        ],
    )?)?;
    ensure!(v["deleted"] == keys.len(), "{v}");
    ensure!(count_on_primaries(&pattern)? == 0);

    for (addr, k) in &marker {
        let () = redis::cmd("UNLINK").arg(k).query(&mut conn(addr)?)?;
    }
    ensure!(count_on_primaries(&format!("e2e:{u}*"))? == 0);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3. Port-forward resolution through a Service and a pod.

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn targets_service_and_pod_resolve_to_redis_0() -> Result<()> {
    let sb = Sandbox::load()?;
    let admin = sb.client().await?;
    bind_rflush_role(&sb, &admin).await?;
    let ns = sb.namespace.clone();
    let dir = tempfile::tempdir()?;
    let types = seeded_types(&sb)?;
    for target in [
        "svc/redis",
        "service/redis-headless",
        "pod/redis-0",
        "redis-0",
        "statefulset/redis",
    ] {
        for (name, _, seeded) in types
            .iter()
            .filter(|(n, _, _)| n == "market-data" || n == "config-cache")
        {
            let out = rflush_as(
                &sb,
                User::Rflush,
                &ns,
                dir.path(),
                &["count", name, "--target", target, "-o", "json"],
            )?;
            let v = ok_json(&out).with_context(|| format!("--target {target}"))?;
            ensure!(
                v["keys"] == *seeded,
                "--target {target}: count {name} = {}, seeded {seeded}",
                v["keys"]
            );
            let address = v["address"].as_str().unwrap_or_default();
            ensure!(
                address.contains("pod/redis-0:6379") && address.contains(&ns),
                "--target {target}: address {address:?}"
            );
        }
    }
    // A target that does not exist: exit 1, one line naming it, a hint.
    let out = rflush_as(
        &sb,
        User::Rflush,
        &ns,
        dir.path(),
        &["count", "market-data", "--target", "svc/no-such-redis"],
    )?;
    ensure!(out.status.code() == Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        err.lines()
            .next()
            .is_some_and(|l| l.starts_with("error: ") && l.contains("no-such-redis")),
        "{}",
        text(&out)
    );
    if err.lines().count() > 3 {
        bail!("too long: {}", text(&out));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 4. A password from a Secret, and a port-forward that drops mid-flush.

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn in_cluster_password_from_a_secret_needs_get_secrets_and_nothing_more() -> Result<()> {
    let sb = Sandbox::load()?;
    let admin = sb.client().await?;
    let namespace = TestNamespace::create(&sb, &admin, "rflush-auth").await?;
    let ns = namespace.name().to_owned();
    // The seeded StatefulSet's image, so the test needs no image name of its own.
    let sts: Api<k8s_openapi::api::apps::v1::StatefulSet> =
        Api::namespaced(admin.clone(), &sb.namespace);
    let image = sts
        .get("redis")
        .await?
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers.first().and_then(|c| c.image.clone()))
        .context("the seeded redis image")?;
    let password = format!("pw-{}-with:odd@chars", unique());
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "redis-auth"},
        "stringData": {"password": password, "other": "not-it"},
    }))?;
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &secret)
        .await?;
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "redis-auth", "labels": {"app": "redis-auth"}},
        "spec": {"automountServiceAccountToken": false, "terminationGracePeriodSeconds": 1, "containers": [{
            "name": "redis", "image": image, "imagePullPolicy": "IfNotPresent",
            "command": ["redis-server", "--requirepass", "$(REDIS_PASSWORD)", "--save", "", "--appendonly", "no"],
            "env": [{"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "redis-auth", "key": "password"}}}],
            "ports": [{"containerPort": 6379}]}]}
    }))?;
    let pods: Api<Pod> = Api::namespaced(admin.clone(), &ns);
    pods.create(&PostParams::default(), &pod).await?;
    tokio::time::timeout(
        Duration::from_secs(120),
        kube::runtime::wait::await_condition(
            pods.clone(),
            "redis-auth",
            kube::runtime::wait::conditions::is_pod_running(),
        ),
    )
    .await
    .context("redis-auth not Running within 120s")??;

    // Seed through our own port-forward, authenticated.
    let mut forwarder = pods.portforward("redis-auth", &[6379]).await?;
    let stream = forwarder.take_stream(6379).context("no stream")?;
    let (mut conn, driver) = MultiplexedConnection::new_with_config(
        &RedisConnectionInfo::default().set_password(&password),
        stream,
        AsyncConnectionConfig::new(),
    )
    .await?;
    tokio::spawn(driver);
    let mut pipe = redis::pipe();
    for i in 0..120 {
        pipe.cmd("SET").arg(format!("auth:{i}")).arg(i).ignore();
    }
    pipe.query_async::<()>(&mut conn).await?;

    // The Role `kubectl rflush rbac` prints, bound as printed.
    let role = printed_role("kubectl-rflush", &ns)?;
    bind_role(&sb, &admin, &role, User::Rflush).await?;
    wait_until_allowed(&sb, User::Rflush, &ns, ("", "secrets", "get"), true).await?;
    let dir = tempfile::tempdir()?;
    let count = |extra: &[&str]| -> Result<Output> {
        let mut args = vec![
            "count",
            "auth:*",
            "--target",
            "pod/redis-auth",
            "-o",
            "json",
        ];
        args.extend(extra);
        rflush_as(&sb, User::Rflush, &ns, dir.path(), &args)
    };

    // NAME:KEY, and NAME alone (the `password` key is the default).
    for secret_arg in ["redis-auth:password", "redis-auth"] {
        let v = ok_json(&count(&["--password-secret", secret_arg])?)?;
        ensure!(v["keys"] == 120, "{secret_arg}: {v}");
    }
    // No password: Redis says NOAUTH, the plugin says where a password can come from.
    let out = count(&[])?;
    ensure!(out.status.code() == Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    ensure!(
        err.contains("requires a password")
            && err.contains("hint: ")
            && err.contains("--password-secret"),
        "{err}"
    );
    // A key the Secret does not have: the keys it does have are listed.
    let out = count(&["--password-secret", "redis-auth:pass"])?;
    ensure!(out.status.code() == Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    ensure!(
        err.contains("secret redis-auth has no key \"pass\"")
            && err.contains("keys: other, password"),
        "{err}"
    );

    // The same Role without its secrets rule: the error names the missing permission.
    let mut without = role.clone();
    without.rules = Some(
        role.rules
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| {
                !r.resources
                    .clone()
                    .unwrap_or_default()
                    .contains(&"secrets".to_string())
            })
            .collect(),
    );
    bind_role(&sb, &admin, &without, User::Rflush).await?;
    wait_until_allowed(&sb, User::Rflush, &ns, ("", "secrets", "get"), false).await?;
    let out = count(&["--password-secret", "redis-auth"])?;
    ensure!(out.status.code() == Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    ensure!(
        err.contains(&format!(
            "User \"{}\" cannot get resource \"secrets\"",
            User::Rflush.name()
        )) && err.contains("hint: "),
        "{err}"
    );
    Ok(())
}

/// The local ports of `pid`'s TCP connections to `port` (from `ss -tnp`).
fn local_ports_to(pid: u32, port: u16) -> Result<Vec<u16>> {
    let out = std::process::Command::new("ss")
        .args(["-tnpH", "state", "established"])
        .output()
        .context("ss (iproute2)")?;
    let needle = format!("pid={pid},");
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&needle))
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            // Recv-Q Send-Q Local Peer Process
            let (local, peer) = (cols.get(2)?, cols.get(3)?);
            peer.ends_with(&format!(":{port}"))
                .then(|| local.rsplit(':').next()?.parse().ok())
                .flatten()
        })
        .collect())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn in_cluster_port_forward_drop_mid_flush_resumes_and_loses_nothing() -> Result<()> {
    let sb = Sandbox::load()?;
    let admin = sb.client().await?;
    let ns = sb.namespace.clone();
    bind_rflush_role(&sb, &admin).await?;
    let u = unique();
    let prefix = format!("drop:{u}:");
    let _cleanup = Cleanup {
        sb: sb.clone(),
        pattern: format!("drop:{u}:*"),
        url: None,
    };
    const N: usize = 20_000;
    let mut r = PodRedis::open(&admin, &ns).await?;
    let mut pipe = redis::pipe();
    for i in 0..N {
        pipe.cmd("SET")
            .arg(format!("{prefix}{i}"))
            .arg(format!("value-{i}"))
            .ignore();
    }
    pipe.query_async::<()>(&mut r.conn).await?;
    let pattern = format!("{prefix}*");

    // A slow flush (--rate), with a backup, as the least-privilege user.
    let dir = tempfile::tempdir()?;
    let backup = dir.path().join("drop.rfb");
    let child = plugin("kubectl-rflush")
        .env_remove("KUBECONFIG")
        .env_remove("REDIS_URL")
        .current_dir(dir.path())
        .arg("--kubeconfig")
        .arg(sb.kubeconfig(User::Rflush)?)
        .args(["--context", CONTEXT, "-n", &ns])
        .args(["flush", "-p", &pattern, "--yes", "--rate", "2000", "-f"])
        .arg(&backup)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    // Once some keys are gone, cut every connection the plugin has to the API server (the
    // port-forward's WebSocket among them), the way a network blip or an API server restart would.
    let mut oracle = PodRedis::open(&admin, &ns).await?;
    eventually("the flush to be under way", Duration::from_secs(60), || {
        let mut c = oracle.conn.clone();
        let pattern = pattern.clone();
        async move {
            let left = scan_async(&mut c, pattern.as_bytes()).await?.len();
            Ok((left < N - 2000).then_some(()))
        }
    })
    .await?;
    let api_port: u16 = sb
        .vars
        .get("SANDBOX_API_SERVER")
        .and_then(|url| url.rsplit(':').next()?.trim_end_matches('/').parse().ok())
        .context("SANDBOX_API_SERVER in the sandbox env")?;
    let ports = local_ports_to(pid, api_port)?;
    ensure!(
        !ports.is_empty(),
        "no connections of pid {pid} to :{api_port}"
    );
    for p in &ports {
        let st = std::process::Command::new("ss")
            .args(["-K", "-tn", "sport", "=", &format!(":{p}")])
            .output()?;
        ensure!(st.status.success(), "ss -K: {:?}", st);
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    ensure!(
        out.status.code() == Some(1),
        "the cut flush fails: {}",
        text(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let checkpoint = err
        .lines()
        .find_map(|l| l.strip_prefix("checkpoint: "))
        .with_context(|| format!("no checkpoint line: {err}"))?
        .to_string();
    ensure!(err.contains("resume with: kubectl rflush"), "{err}");
    let left_after_cut = scan_async(&mut oracle.conn, pattern.as_bytes())
        .await?
        .len();
    ensure!(
        left_after_cut > 0 && left_after_cut < N,
        "{left_after_cut} left"
    );

    // Resume: finishes, appending to the same backup.
    let out = rflush_as(
        &sb,
        User::Rflush,
        &ns,
        dir.path(),
        &["flush", "--resume", &checkpoint, "--yes", "-o", "json"],
    )?;
    let v = ok_json(&out)?;
    ensure!(v["completed"] == true, "{v}");
    ensure!(v["deleted_total"].as_u64() == Some(N as u64), "{v}");
    ensure!(
        scan_async(&mut oracle.conn, pattern.as_bytes())
            .await?
            .is_empty(),
        "keys left after the resumed flush"
    );

    // Nothing lost: the one backup file restores every key with its value.
    let out = rflush_as(
        &sb,
        User::Rflush,
        &ns,
        dir.path(),
        &["restore", backup.to_str().context("path")?, "-o", "json"],
    )?;
    let v = ok_json(&out)?;
    ensure!(v["restored"].as_u64() == Some(N as u64), "{v}");
    let mut pipe = redis::pipe();
    for i in 0..N {
        pipe.cmd("GET").arg(format!("{prefix}{i}"));
    }
    let values: Vec<Option<String>> = pipe.query_async(&mut oracle.conn).await?;
    for (i, v) in values.iter().enumerate() {
        ensure!(
            v.as_deref() == Some(format!("value-{i}").as_str()),
            "{prefix}{i}: {v:?}"
        );
    }
    Ok(())
}
