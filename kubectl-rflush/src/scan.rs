//! The Redis commands of the SCAN loop, binary-safe: keys are `Vec<u8>` from SCAN to
//! UNLINK/DUMP and never pass through text.

use std::collections::BTreeMap;

use redis::aio::MultiplexedConnection;
use redis::{RedisResult, Value};

use crate::backup_format::Record;
use crate::cluster;

/// A key as bytes.
pub type Key = Vec<u8>;

/// One `SCAN cursor MATCH pattern COUNT count` call: the next cursor and the keys.
pub async fn scan_page(
    conn: &mut MultiplexedConnection,
    cursor: u64,
    pattern: &str,
    count: usize,
) -> RedisResult<(u64, Vec<Key>)> {
    let mut cmd = redis::cmd("SCAN");
    cmd.arg(cursor);
    if pattern != "*" {
        cmd.arg("MATCH").arg(pattern);
    }
    cmd.arg("COUNT").arg(count);
    let (next, keys): (String, Vec<Key>) = cmd.query_async(conn).await?;
    let next = next.parse().map_err(|_| {
        redis::RedisError::from((redis::ErrorKind::Parse, "SCAN cursor is not a number"))
    })?;
    Ok((next, keys))
}

/// Deletes keys with UNLINK and returns how many existed. On a cluster node the keys are
/// grouped by hash slot (one UNLINK per slot, pipelined), so no command spans slots.
pub async fn unlink(
    conn: &mut MultiplexedConnection,
    keys: &[Key],
    cluster_mode: bool,
) -> RedisResult<u64> {
    if keys.is_empty() {
        return Ok(0);
    }
    if !cluster_mode {
        return redis::cmd("UNLINK").arg(keys).query_async(conn).await;
    }
    let mut by_slot: BTreeMap<u16, Vec<&Key>> = BTreeMap::new();
    for k in keys {
        by_slot.entry(cluster::slot(k)).or_default().push(k);
    }
    let mut pipe = redis::pipe();
    for group in by_slot.values() {
        pipe.cmd("UNLINK").arg(group.as_slice());
    }
    let counts: Vec<u64> = pipe.query_async(conn).await?;
    Ok(counts.iter().sum())
}

/// DUMPs keys with their type and absolute expiry (server clock), pipelined. Keys that
/// vanished meanwhile are left out.
pub async fn dump(conn: &mut MultiplexedConnection, keys: &[Key]) -> RedisResult<Vec<Record>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    pipe.cmd("TIME");
    for k in keys {
        pipe.cmd("TYPE")
            .arg(k)
            .cmd("PTTL")
            .arg(k)
            .cmd("DUMP")
            .arg(k);
    }
    let values: Vec<Value> = pipe.query_async(conn).await?;
    let (secs, micros): (String, String) = redis::from_redis_value(values[0].clone())?;
    let now_ms =
        secs.parse::<i64>().unwrap_or(0) * 1000 + micros.parse::<i64>().unwrap_or(0) / 1000;
    let mut out = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        let base = 1 + i * 3;
        let kind: String = redis::from_redis_value(values[base].clone())?;
        let pttl: i64 = redis::from_redis_value(values[base + 1].clone())?;
        let payload: Option<Vec<u8>> = redis::from_redis_value(values[base + 2].clone())?;
        let Some(payload) = payload else { continue };
        if kind == "none" || pttl == -2 {
            continue;
        }
        out.push(Record {
            key: key.clone(),
            kind,
            expire_at_ms: (pttl >= 0).then(|| now_ms + pttl),
            payload,
        });
    }
    Ok(out)
}

/// `DBSIZE`.
pub async fn dbsize(conn: &mut MultiplexedConnection) -> RedisResult<u64> {
    redis::cmd("DBSIZE").query_async(conn).await
}

/// `MEMORY USAGE key SAMPLES 0` for each key (None when gone), pipelined.
pub async fn memory_usage(
    conn: &mut MultiplexedConnection,
    keys: &[Key],
) -> RedisResult<Vec<Option<u64>>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for k in keys {
        pipe.cmd("MEMORY").arg("USAGE").arg(k).arg("SAMPLES").arg(0);
    }
    pipe.query_async(conn).await
}
