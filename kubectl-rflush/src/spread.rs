//! Spread flush (`flush --spread 10m`): instead of deleting the matching keys, give each a
//! random expiry uniformly in (now, window end], so the cache misses arrive gradually and the
//! backend refills the cache at a bounded rate (none sooner than 1 % of the window, at most 1 s,
//! so that no key is deleted at once). An expiry is only ever shortened: a key that
//! already expires sooner keeps its TTL.
//!
//! How a node shortens an expiry depends on the server:
//! - Redis >= 7 and every Valkey: `PEXPIREAT key at LT`, pipelined per key (a key without a TTL
//!   counts as infinite for `LT`, so it gets the expiry; a key expiring sooner is left alone).
//! - Redis 3.2 to 6.x (no `LT`): one Lua script per batch reads each key's `PTTL` against the
//!   server's `TIME` and sets `PEXPIREAT` only when that shortens it, atomically (a
//!   read-then-write pipeline could lengthen a TTL the application shortened in between).
//!
//! The window end is fixed for the whole run (and kept by `--resume`); each node picks its
//! expiries with its own clock (the server's `TIME` at the start plus elapsed time) and a
//! per-run seeded RNG.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{RedisResult, Value};
use serde::{Deserialize, Serialize};

use crate::cluster;
use crate::scan::Key;

/// The longest `--spread`.
pub const MAX_SPREAD: Duration = Duration::from_secs(30 * 24 * 3600);

/// Environment variable forcing the expiry method (`lt` or `script`). For tests: it lets the
/// Redis 6 script run against a Redis 7 server.
pub const METHOD_ENV: &str = "KUBECTL_RFLUSH_SPREAD_METHOD";

/// Parses `--spread`: a duration above zero and at most 30 days.
pub fn parse_spread(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 10m, 1h, 90s)"))?;
    if d.is_zero() {
        return Err(
            "a spread of 0 would expire every key at once; use `flush` without --spread for that, or give a window such as 10m".into(),
        );
    }
    if d > MAX_SPREAD {
        return Err(format!("{s} is longer than the 30-day maximum"));
    }
    Ok(d)
}

/// How a node shortens expiries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// `PEXPIREAT key at LT`, pipelined (Redis >= 7, Valkey).
    Lt,
    /// A Lua script comparing `PTTL` with the new expiry (Redis 3.2 to 6.x).
    Script,
}

/// What `INFO server` says about the server's make and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `valkey` or `redis`.
    pub name: String,
    /// The version of that server (`valkey_version` for Valkey, else `redis_version`).
    pub version: String,
}

impl Server {
    /// Reads the server's make and version from `INFO server` text.
    pub fn parse(info: &str) -> Server {
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
                .map(str::to_string)
        };
        match field("valkey_version") {
            Some(v) => Server {
                name: "valkey".into(),
                version: v,
            },
            None => Server {
                name: field("server_name").unwrap_or_else(|| "redis".into()),
                version: field("redis_version").unwrap_or_default(),
            },
        }
    }

    fn major_minor(&self) -> (u32, u32) {
        let mut parts = self
            .version
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    }

    /// The method this server supports, or why it supports none.
    pub fn method(&self) -> Result<Method, String> {
        let (major, minor) = self.major_minor();
        if self.name == "valkey" || major >= 7 {
            return Ok(Method::Lt);
        }
        if (major, minor) < (2, 6) {
            return Err(format!(
                "{} {} has no PEXPIREAT (added in Redis 2.6), which --spread needs",
                self.name, self.version
            ));
        }
        if (major, minor) < (3, 2) {
            return Err(format!(
                "{} {} cannot replicate a script's effects (Redis 3.2), which --spread needs before Redis 7",
                self.name, self.version
            ));
        }
        Ok(Method::Script)
    }
}

/// The shortening script for servers without `PEXPIREAT ... LT`. KEYS are the keys, ARGV the
/// absolute expiries in ms; returns {expiries set, keys kept because they expire sooner}.
/// `redis.replicate_commands()` makes Redis 3.2-4.x replicate effects (TIME before a write);
/// later versions do that anyway.
const SHORTEN_SCRIPT: &str = r"
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local set, kept = 0, 0
for i, key in ipairs(KEYS) do
  local at = tonumber(ARGV[i])
  local pttl = redis.call('PTTL', key)
  if pttl == -1 or (pttl >= 0 and now + pttl > at) then
    redis.call('PEXPIREAT', key, ARGV[i])
    set = set + 1
  elseif pttl >= 0 then
    kept = kept + 1
  end
end
return {set, kept}
";

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Keys that got the new (shorter) expiry.
    pub set: u64,
    /// Keys left alone because they already expire sooner (for `LT`: or were gone already).
    pub kept: u64,
}

/// The spread of one run: when the window ends and how random expiries are drawn.
#[derive(Debug, Clone)]
pub struct Spread {
    /// Window end, Unix ms on the first node's clock: every key expires by then.
    pub deadline_ms: i64,
    /// The window's length as asked for.
    pub window: Duration,
    /// Seed of this run's RNG (each node draws from `seed + node index`).
    pub seed: u64,
    /// Forced method (tests), else per node from its version.
    forced: Option<Method>,
}

/// The spread part of a checkpoint: a resumed run keeps the window end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// Window end, Unix ms (server clock).
    pub deadline_ms: i64,
    /// The window's length in ms as asked for.
    pub window_ms: u64,
    /// Keys given an expiry before this checkpoint (all runs).
    pub expiring: u64,
    /// Keys that kept an earlier expiry before this checkpoint (all runs).
    pub kept: u64,
}

/// The server's clock, Unix ms (`TIME`).
pub async fn server_time_ms(conn: &mut MultiplexedConnection) -> RedisResult<i64> {
    let (secs, micros): (String, String) = redis::cmd("TIME").query_async(conn).await?;
    Ok(secs.parse::<i64>().unwrap_or(0) * 1000 + micros.parse::<i64>().unwrap_or(0) / 1000)
}

/// Checks that a node can do a spread flush: `INFO server` for the method, `COMMAND INFO
/// PEXPIREAT` for a command that was renamed away or disabled.
pub async fn check_node(conn: &mut MultiplexedConnection) -> anyhow::Result<Method> {
    let text: String = redis::cmd("INFO").arg("server").query_async(conn).await?;
    let server = Server::parse(&text);
    let method = server.method().map_err(|m| {
        shared::Error::invalid(
            m,
            "upgrade the server, or flush without --spread (UNLINK at once)",
        )
    })?;
    let info: Vec<Value> = redis::cmd("COMMAND")
        .arg("INFO")
        .arg("PEXPIREAT")
        .query_async(conn)
        .await?;
    if info.first().is_none_or(|v| matches!(v, Value::Nil)) {
        return Err(shared::Error::invalid(
            format!(
                "{} {} has no PEXPIREAT command (renamed or disabled with rename-command?), which --spread needs",
                server.name, server.version
            ),
            "flush without --spread (UNLINK at once), or run it where PEXPIREAT is available",
        )
        .into());
    }
    Ok(method)
}

impl Spread {
    /// A new window of `window` from the server's clock `now_ms`, with a fresh seed.
    pub fn new(now_ms: i64, window: Duration) -> Self {
        Spread {
            deadline_ms: now_ms + window.as_millis() as i64,
            window,
            seed: fastrand::u64(..),
            forced: forced_method(),
        }
    }

    /// The window of a checkpoint, with a fresh seed.
    pub fn resumed(saved: &Saved) -> Self {
        Spread {
            deadline_ms: saved.deadline_ms,
            window: Duration::from_millis(saved.window_ms),
            seed: fastrand::u64(..),
            forced: forced_method(),
        }
    }

    /// The checkpoint form, with the counts so far.
    pub fn saved(&self, expiring: u64, kept: u64) -> Saved {
        Saved {
            deadline_ms: self.deadline_ms,
            window_ms: self.window.as_millis() as u64,
            expiring,
            kept,
        }
    }

    /// Sets up one node: its method (checked), its clock, its RNG.
    pub async fn for_node(
        &self,
        conn: &mut MultiplexedConnection,
        index: usize,
    ) -> anyhow::Result<NodeSpread> {
        let method = check_node(conn).await?;
        let method = self.forced.unwrap_or(method);
        let now = server_time_ms(conn).await?;
        Ok(NodeSpread {
            method,
            deadline_ms: self.deadline_ms,
            lead_ms: (self.window.as_millis() as i64 / 100).clamp(1, 1000),
            clock_ms: now,
            clock_at: Instant::now(),
            rng: fastrand::Rng::with_seed(self.seed.wrapping_add(index as u64)),
        })
    }
}

fn forced_method() -> Option<Method> {
    match std::env::var(METHOD_ENV).ok()?.as_str() {
        "lt" => Some(Method::Lt),
        "script" => Some(Method::Script),
        _ => None,
    }
}

/// One node's share of a spread: its method, clock and RNG.
pub struct NodeSpread {
    method: Method,
    deadline_ms: i64,
    /// No pick is sooner than this after "now": 1 % of the window, at most 1 s. The batch
    /// reaches the server a little after its picks were drawn, and a `PEXPIREAT` in the past
    /// deletes the key at once, which a spread flush must never do.
    lead_ms: i64,
    clock_ms: i64,
    clock_at: Instant,
    rng: fastrand::Rng,
}

impl NodeSpread {
    /// The node's clock now, Unix ms.
    fn now_ms(&self) -> i64 {
        self.clock_ms + self.clock_at.elapsed().as_millis() as i64
    }

    /// A random expiry uniformly in [now + lead, deadline] (now + lead once the window is
    /// over).
    pub fn pick(&mut self, now_ms: i64) -> i64 {
        let earliest = now_ms + self.lead_ms;
        if earliest >= self.deadline_ms {
            return earliest;
        }
        self.rng.i64(earliest..=self.deadline_ms)
    }

    /// Picks the random expiries of `keys` now (only ever shortening one) and builds the
    /// commands that set them, on a cluster node grouped by slot where a command takes several
    /// keys; sent later ([`Expiries::send`]), several batches may be in flight at once.
    pub fn prepare(&mut self, keys: &[Key], cluster_mode: bool) -> Expiries {
        if keys.is_empty() {
            return Expiries {
                method: self.method,
                keys: 0,
                pipe: None,
            };
        }
        let now = self.now_ms();
        let at: Vec<i64> = keys.iter().map(|_| self.pick(now)).collect();
        let mut pipe = redis::pipe();
        match self.method {
            Method::Lt => {
                for (k, at) in keys.iter().zip(&at) {
                    pipe.cmd("PEXPIREAT").arg(k).arg(*at).arg("LT");
                }
            }
            Method::Script => {
                let mut groups: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
                for (i, k) in keys.iter().enumerate() {
                    let slot = if cluster_mode { cluster::slot(k) } else { 0 };
                    groups.entry(slot).or_default().push(i);
                }
                // EVAL (not EVALSHA): the server caches the compiled script by its digest, and
                // a SCRIPT FLUSH or failover in between cannot make a batch fail with NOSCRIPT.
                for group in groups.values() {
                    let call = pipe.cmd("EVAL").arg(SHORTEN_SCRIPT).arg(group.len());
                    for &i in group {
                        call.arg(&keys[i]);
                    }
                    for &i in group {
                        call.arg(at[i]);
                    }
                }
            }
        }
        Expiries {
            method: self.method,
            keys: keys.len() as u64,
            pipe: Some(pipe),
        }
    }
}

/// One batch of expiries, picked and ready to send ([`NodeSpread::prepare`]).
pub struct Expiries {
    method: Method,
    keys: u64,
    pipe: Option<redis::Pipeline>,
}

impl Expiries {
    /// Sends the batch and counts what it did.
    pub async fn send(self, conn: &mut MultiplexedConnection) -> RedisResult<Outcome> {
        let Some(pipe) = self.pipe else {
            return Ok(Outcome::default());
        };
        match self.method {
            Method::Lt => {
                let replies: Vec<u8> = pipe.query_async(conn).await?;
                let set = replies.iter().filter(|r| **r == 1).count() as u64;
                Ok(Outcome {
                    set,
                    kept: self.keys - set,
                })
            }
            Method::Script => {
                let replies: Vec<(u64, u64)> = pipe.query_async(conn).await?;
                let mut out = Outcome::default();
                for (set, kept) in replies {
                    out.set += set;
                    out.kept += kept;
                }
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_must_be_above_zero_and_at_most_30_days() {
        assert_eq!(parse_spread("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_spread("30d").unwrap(), MAX_SPREAD);
        assert!(parse_spread("0s").unwrap_err().contains("at once"));
        assert!(parse_spread("31d").unwrap_err().contains("30-day"));
        assert!(parse_spread("soon").is_err());
    }

    #[test]
    fn method_follows_the_server() {
        let m = |text: &str| Server::parse(text).method();
        assert_eq!(m("# Server\r\nredis_version:7.0.15\r\n"), Ok(Method::Lt));
        assert_eq!(m("redis_version:6.2.14\r\n"), Ok(Method::Script));
        assert_eq!(m("redis_version:3.2.0\r\n"), Ok(Method::Script));
        // Valkey 8 reports a Redis-compatible redis_version too.
        let valkey = "redis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\n";
        assert_eq!(
            Server::parse(valkey),
            Server {
                name: "valkey".into(),
                version: "8.0.1".into()
            }
        );
        assert_eq!(m(valkey), Ok(Method::Lt));
        assert!(
            m("redis_version:2.4.18\r\n")
                .unwrap_err()
                .contains("no PEXPIREAT")
        );
        assert!(m("redis_version:2.8.24\r\n").unwrap_err().contains("3.2"));
    }

    #[test]
    fn picks_are_uniform_in_the_window_and_never_past_it() {
        let mut node = NodeSpread {
            method: Method::Lt,
            deadline_ms: 10_000,
            lead_ms: 100,
            clock_ms: 0,
            clock_at: Instant::now(),
            rng: fastrand::Rng::with_seed(7),
        };
        let mut buckets = [0u32; 10];
        for _ in 0..100_000 {
            let at = node.pick(-100);
            assert!((0..=10_000).contains(&at), "{at}");
            buckets[(at / 1000).min(9) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|b| (9_000..11_000).contains(b)),
            "{buckets:?}"
        );
        // Never sooner than the lead, even at the window's very end or past it.
        assert!((9_950..=10_000).contains(&node.pick(9_900)));
        assert_eq!(node.pick(9_950), 10_050);
        assert_eq!(node.pick(20_000), 20_100);
    }
}
