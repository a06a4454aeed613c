//! The Redis commands of the SCAN loop, binary-safe: keys are `Vec<u8>` from SCAN to
//! UNLINK/DUMP and never pass through text.

use std::collections::BTreeMap;

use redis::aio::MultiplexedConnection;
use redis::{RedisResult, Value};

use crate::backup_format::{Record, kind_of_payload};
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

/// DUMPs keys with their absolute expiry (server clock), pipelined; the type is read from
/// the payload. One entry per key, in order: None for a key that vanished meanwhile.
pub async fn dump(
    conn: &mut MultiplexedConnection,
    keys: &[Key],
) -> RedisResult<Vec<Option<Record>>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    pipe.cmd("TIME");
    for k in keys {
        pipe.cmd("PTTL").arg(k).cmd("DUMP").arg(k);
    }
    let values: Vec<Value> = pipe.query_async(conn).await?;
    let mut values = values.into_iter();
    let (secs, micros): (String, String) =
        redis::from_redis_value(values.next().unwrap_or(Value::Nil))?;
    let now_ms =
        secs.parse::<i64>().unwrap_or(0) * 1000 + micros.parse::<i64>().unwrap_or(0) / 1000;
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        // The pipeline returns exactly one reply per command; Nil stands in for a short one.
        let pttl: i64 = redis::from_redis_value(values.next().unwrap_or(Value::Int(-2)))?;
        let payload: Option<Vec<u8>> =
            redis::from_redis_value(values.next().unwrap_or(Value::Nil))?;
        out.push(payload.filter(|_| pttl != -2).map(|payload| Record {
            key: key.clone(),
            kind: kind_of_payload(&payload).to_string(),
            expire_at_ms: (pttl >= 0).then(|| now_ms + pttl),
            payload,
        }));
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
