//! Server facts from `INFO`: version, mode, role, memory, hit rate, keyspace.

use std::collections::BTreeMap;

use redis::aio::MultiplexedConnection;
use serde::Serialize;

/// The parsed `INFO` sections the plugin uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Info {
    /// `redis_version`.
    pub version: String,
    /// `redis_mode`: standalone, cluster or sentinel.
    pub mode: String,
    /// `role`: master or slave.
    pub role: String,
    /// `run_id`: changes when the server restarts (a saved SCAN cursor is then invalid).
    pub run_id: String,
    /// `used_memory` bytes.
    pub used_memory: u64,
    /// `used_memory_peak` bytes.
    pub used_memory_peak: u64,
    /// `maxmemory` bytes (0 = no limit).
    pub maxmemory: u64,
    /// `maxmemory_policy`.
    pub maxmemory_policy: String,
    /// `keyspace_hits`.
    pub keyspace_hits: u64,
    /// `keyspace_misses`.
    pub keyspace_misses: u64,
    /// `instantaneous_ops_per_sec`.
    pub ops_per_sec: u64,
    /// `total_commands_processed`.
    pub total_commands: u64,
    /// `evicted_keys`.
    pub evicted_keys: u64,
    /// `expired_keys`.
    pub expired_keys: u64,
    /// `connected_clients`.
    pub connected_clients: u64,
    /// `db0` → `keys=..,expires=..,avg_ttl=..`.
    pub keyspace: BTreeMap<String, String>,
}

impl Info {
    /// hits / (hits + misses), None before any lookup.
    pub fn hit_rate(&self) -> Option<f64> {
        let total = self.keyspace_hits + self.keyspace_misses;
        (total > 0).then(|| self.keyspace_hits as f64 / total as f64)
    }

    /// Keys in db0 per `INFO keyspace`.
    pub fn db0_keys(&self) -> u64 {
        self.keyspace
            .get("db0")
            .and_then(|v| v.split(',').find_map(|kv| kv.strip_prefix("keys=")))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

/// Parses `INFO` text.
pub fn parse(text: &str) -> Info {
    let mut info = Info {
        mode: "standalone".into(),
        role: "master".into(),
        ..Default::default()
    };
    let mut in_keyspace = false;
    for line in text.lines().map(str::trim) {
        if let Some(section) = line.strip_prefix("# ") {
            in_keyspace = section.eq_ignore_ascii_case("keyspace");
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let n = || v.parse::<u64>().unwrap_or(0);
        match k {
            "redis_version" => info.version = v.to_string(),
            "redis_mode" => info.mode = v.to_string(),
            "role" => info.role = v.to_string(),
            "run_id" => info.run_id = v.to_string(),
            "used_memory" => info.used_memory = n(),
            "used_memory_peak" => info.used_memory_peak = n(),
            "maxmemory" => info.maxmemory = n(),
            "maxmemory_policy" => info.maxmemory_policy = v.to_string(),
            "keyspace_hits" => info.keyspace_hits = n(),
            "keyspace_misses" => info.keyspace_misses = n(),
            "instantaneous_ops_per_sec" => info.ops_per_sec = n(),
            "total_commands_processed" => info.total_commands = n(),
            "evicted_keys" => info.evicted_keys = n(),
            "expired_keys" => info.expired_keys = n(),
            "connected_clients" => info.connected_clients = n(),
            _ if in_keyspace && k.starts_with("db") => {
                info.keyspace.insert(k.to_string(), v.to_string());
            }
            _ => {}
        }
    }
    info
}

/// Runs `INFO` (all default sections) and parses it.
pub async fn fetch(conn: &mut MultiplexedConnection) -> redis::RedisResult<Info> {
    let text: String = redis::cmd("INFO").query_async(conn).await?;
    Ok(parse(&text))
}

/// Bytes as `1.5 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_sections_used() {
        let text = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nrun_id:abc\r\n# Clients\r\nconnected_clients:3\r\n\
                    # Memory\r\nused_memory:1048576\r\nused_memory_peak:2097152\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n\
                    # Stats\r\ninstantaneous_ops_per_sec:12\r\nkeyspace_hits:3\r\nkeyspace_misses:1\r\n\
                    total_commands_processed:99\r\nexpired_keys:7\r\nevicted_keys:5\r\n\
                    # Replication\r\nrole:master\r\n# Keyspace\r\ndb0:keys=42,expires=2,avg_ttl=100\r\n";
        let i = parse(text);
        assert_eq!(i.version, "7.0.15");
        assert_eq!(i.run_id, "abc");
        assert_eq!(i.connected_clients, 3);
        assert_eq!(i.used_memory_peak, 2097152);
        assert_eq!(i.hit_rate(), Some(0.75));
        assert_eq!(i.db0_keys(), 42);
        assert_eq!(
            (i.total_commands, i.expired_keys, i.evicted_keys),
            (99, 7, 5)
        );
        assert_eq!(human_bytes(1048576), "1.0 MiB");
        assert_eq!(human_bytes(12), "12 B");
    }
}
