//! The pacer's batch size, against a real `redis-server`: when one batch's deletes hold Redis
//! longer than the latency budget allows, a paced flush shrinks its SCAN COUNT and delete
//! batches (and says so); unpaced, it keeps `--batch-size`. Either way every key goes.

use crate::rflush::{RedisServer, count, json, rflush, scan_calls, text};

/// Hashes stored as real hash tables (not listpacks), each with `fields` fields: UNLINK frees
/// every field on the spot (a free effort under lazyfree's threshold of 64), so a batch of
/// 500 of them holds Redis for milliseconds on any machine.
fn heavy_hashes(conn: &mut redis::Connection, prefix: &str, n: usize, fields: usize) {
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "hash-max-ziplist-entries", "0"])
        .query(conn)
        .unwrap();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut pipe = redis::pipe();
        for i in chunk {
            let cmd = pipe.cmd("HSET").arg(format!("{prefix}{i}"));
            for f in 0..fields {
                cmd.arg(format!("f{f}")).arg("v");
            }
            cmd.ignore();
        }
        let _: () = pipe.query(conn).unwrap();
    }
}

/// Flushes 4,000 heavy hashes with `args` added; returns the JSON summary after checking
/// that every one of them is gone and the others stayed.
fn flush_heavy(args: &[&str]) -> serde_json::Value {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    heavy_hashes(&mut c, "cache:", 4000, 60);
    heavy_hashes(&mut c, "keep:", 100, 2);
    let mut all = vec![
        "flush",
        "-p",
        "cache:*",
        "--yes",
        "--no-backup",
        "-o",
        "json",
    ];
    all.extend_from_slice(args);
    let out = rflush(&redis.url(), &all);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(count(&mut c, "cache:*"), 0, "{}", text(&out));
    assert_eq!(count(&mut c, "keep:*"), 100);
    let summary = json(&out);
    assert_eq!(summary["deleted"], 4000, "{summary}");
    summary
}

#[test]
fn a_paced_flush_shrinks_batches_that_hold_redis_past_the_budget() {
    let summary = flush_heavy(&["--max-latency", "1ms"]);
    let smallest = summary["smallest_batch"].as_u64().unwrap();
    assert!(
        smallest < 500,
        "batches of 500 such hashes hold Redis for milliseconds, yet the smallest batch was {smallest}: {summary}"
    );
    assert!(smallest >= 1, "{summary}");
}

#[test]
fn an_unpaced_flush_keeps_the_batch_size() {
    let summary = flush_heavy(&["--no-pacing", "--batch-size", "400"]);
    assert_eq!(summary["smallest_batch"], 400, "{summary}");
    assert_eq!(summary["paused_seconds"], 0.0, "{summary}");
}

#[test]
fn count_and_backup_scan_at_the_batch_size_unpaced() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.conn();
    crate::rflush::populate(&mut c, 20_000, "cache:");
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("all.rfb");
    let backup = backup.to_str().unwrap();
    for args in [
        vec![
            "count",
            "-p",
            "cache:*",
            "--batch-size",
            "1000",
            "-o",
            "json",
        ],
        vec![
            "backup",
            "-p",
            "cache:*",
            "--batch-size",
            "1000",
            "-f",
            backup,
            "-o",
            "json",
        ],
    ] {
        let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut c).unwrap();
        let out = rflush(&redis.url(), &args);
        assert!(out.status.success(), "{}", text(&out));
        // 20,000 keys at COUNT 1000: about 20 SCANs (a few more as the table's buckets go).
        let calls = scan_calls(&mut c);
        assert!((15..=60).contains(&calls), "{args:?}: {calls} SCAN calls");
    }
}
