//! SCAN repeats keys while the table shrinks under it; against a real `redis-server`, with
//! the table grown and shrunk over and over under one scan (another client adds and deletes
//! many other keys while the scanning process is stopped between two SCANs), a spread flush
//! gives each key one expiry and counts it once, and `backup` writes each key once.

use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use kubectl_ops_tests::plugin;

use crate::rflush::{RedisServer, count, json, populate, rflush, scan_calls, text};

/// Keys the commands act on (`cache::N`).
const CACHE: u64 = 2_000;
/// Keys added and deleted per round (`other::N`): the table grows to 32,768 buckets and
/// shrinks back to 2,048 (the cache keys alone fill under 10 % of the large table).
const OTHERS: u64 = 20_000;
/// SCAN COUNT: 400 pages for the cache keys, so many shrinks land mid-scan.
const BATCH: &str = "5";

/// Buckets of the keyspace's main table (`DEBUG HTSTATS`).
fn table_size(c: &mut redis::Connection) -> u64 {
    let stats: String = redis::cmd("DEBUG").arg("HTSTATS").arg(0).query(c).unwrap();
    stats
        .lines()
        .find_map(|l| l.trim().strip_prefix("table size: "))
        .map_or(0, |n| n.parse().unwrap())
}

fn signal(child: &Child, sig: &str) {
    // The child may have just exited; then there is nothing to stop or continue.
    let _ = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status();
}

/// Shrinks done under one scan: about one in three repeats a cache key (see
/// [`shrink_under_scan`]), so a run without de-duplication repeats some for certain.
const SHRINKS: u64 = 60;

/// Deletes the [`OTHERS`] keys in one command.
fn delete_others(c: &mut redis::Connection) {
    let _: () = redis::cmd("EVAL")
        .arg("for i = 0, ARGV[1] - 1 do redis.call('DEL', 'other::' .. i) end")
        .arg(0)
        .arg(OTHERS)
        .query(c)
        .unwrap();
}

/// Shrinks the table [`SHRINKS`] times under the scan of `child`, then lets it finish. Each
/// round grows the table with [`OTHERS`] keys (the server's cron finishes the rehash), waits
/// for the child's next SCAN (its cursor is now on the large table), stops the child
/// (SIGSTOP), deletes those keys and waits for the table to shrink, and lets the child go on:
/// its next SCAN reads a bucket of the small table that gathers large-table buckets it
/// already read, so it returns some cache keys again. Returns the shrinks done.
fn shrink_under_scan(c: &mut redis::Connection, child: &mut Child) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(120);
    let running = |child: &mut Child| child.try_wait().unwrap().is_none();
    let mut shrinks = 0;
    while shrinks < SHRINKS && running(child) {
        populate(c, OTHERS, "other:");
        while table_size(c) <= 2 * CACHE {
            assert!(Instant::now() < deadline, "the table never grew");
        }
        let seen = scan_calls(c);
        while scan_calls(c) == seen && running(child) {
            assert!(Instant::now() < deadline, "the scan stalled");
        }
        signal(child, "-STOP");
        delete_others(c);
        while table_size(c) > 2 * CACHE {
            assert!(Instant::now() < deadline, "the table never shrank");
        }
        signal(child, "-CONT");
        shrinks += 1;
    }
    delete_others(c);
    shrinks
}

/// Runs `kubectl-rflush ARGS` against `redis` in `dir` while [`shrink_under_scan`] shrinks
/// the table [`SHRINKS`] times under its scan; checks it succeeded after the last shrink.
fn run_while_shrinking(
    redis: &RedisServer,
    c: &mut redis::Connection,
    dir: &std::path::Path,
    args: &[&str],
) -> Output {
    let mut child = plugin("kubectl-rflush")
        .env("REDIS_URL", redis.url())
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let shrinks = shrink_under_scan(c, &mut child);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(shrinks, SHRINKS, "the scan ended before the last shrink");
    out
}

#[test]
fn a_spread_flush_while_the_table_shrinks_gives_each_key_one_expiry() {
    // A fast cron: the table shrinks within milliseconds of the deletes.
    let redis = RedisServer::start(&["--hz", "100"]);
    let mut c = redis.conn();
    populate(&mut c, CACHE, "cache:");
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "flush",
        "-p",
        "cache:*",
        "--spread",
        "10m",
        "--no-backup",
        "--no-pacing",
        "--batch-size",
        BATCH,
        "--yes",
        "-o",
        "json",
    ];
    let out = run_while_shrinking(&redis, &mut c, dir.path(), &args);
    let v = json(&out);
    // Each key was sent one PEXPIREAT ... LT: a repeat would be counted again (as expiring
    // when its second random expiry is sooner, as kept otherwise).
    assert_eq!(v["spread"]["expiring"], CACHE, "{SHRINKS} shrinks: {v}");
    assert_eq!(v["spread"]["kept"], 0, "{SHRINKS} shrinks: {v}");
    let persistent: u64 = redis::cmd("EVAL")
        .arg(
            "local n = 0 for _, k in ipairs(redis.call('KEYS', 'cache:*')) do \
             if redis.call('PTTL', k) < 0 then n = n + 1 end end return n",
        )
        .arg(0)
        .query(&mut c)
        .unwrap();
    assert_eq!(persistent, 0, "every key has its expiry");
}

#[test]
fn a_backup_while_the_table_shrinks_writes_each_key_once() {
    let redis = RedisServer::start(&["--hz", "100"]);
    let mut c = redis.conn();
    populate(&mut c, CACHE, "cache:");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shrink.rfb");
    let args = [
        "backup",
        "-p",
        "cache:*",
        "-f",
        file.to_str().unwrap(),
        "--batch-size",
        BATCH,
        "-o",
        "json",
    ];
    let out = run_while_shrinking(&redis, &mut c, dir.path(), &args);
    assert_eq!(
        json(&out)["keys"],
        CACHE,
        "{SHRINKS} shrinks: {}",
        text(&out)
    );
    // The file holds each key once: every record restores onto an empty server.
    let fresh = RedisServer::start(&[]);
    let out = rflush(
        &fresh.url(),
        &["restore", file.to_str().unwrap(), "-o", "json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let v = json(&out);
    assert_eq!(v["records"], CACHE, "{v}");
    assert_eq!(v["restored"], CACHE, "{v}");
    assert_eq!(v["existing"], 0, "{v}");
    assert_eq!(count(&mut fresh.conn(), "cache:*") as u64, CACHE);
}
