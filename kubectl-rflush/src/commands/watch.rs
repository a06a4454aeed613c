//! `kubectl rflush stats --watch`: a snapshot of `INFO` (and keys per cache type) every
//! interval, shown as what changed over that interval: hit rate, ops/s, memory, keys,
//! evictions, expirations. On a terminal the view is redrawn in place; otherwise one plain
//! line per interval, or one JSON object per line with `-o json`. Ctrl-C ends it (exit 0).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;
use shared::color::{Stream, Tone, paint};
use shared::config::CacheType;
use shared::output::{OutputFormat, Table, to_yaml, write_str};
use tokio::time::Instant;

use crate::commands::thousands;
use crate::connect::{Redis, explain};
use crate::info::human_bytes;
use crate::sample::{self, Figure, Scale, Stratum, Tally};
use crate::scan;

/// Up to this many keys (all nodes) the keys per cache type are counted exactly by SCAN
/// every interval; above it they are estimated from [`DRAWS`] random keys.
pub const EXACT_LIMIT: u64 = 50_000;

/// `RANDOMKEY` draws per interval (over all nodes) for the estimate above [`EXACT_LIMIT`].
pub const DRAWS: u64 = 2_000;

/// SCAN COUNT for the exact count.
const SCAN_COUNT: usize = 1000;

/// How the keys per cache type were obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeysMethod {
    /// Counted by SCAN.
    Exact,
    /// Estimated from RANDOMKEY draws, with a 95% bound.
    Sampled,
}

/// What one moment looked like, summed over nodes.
#[derive(Debug, Clone)]
struct Snapshot {
    at: Instant,
    hits: u64,
    misses: u64,
    commands: u64,
    evicted: u64,
    expired: u64,
    used_memory: u64,
    keys: u64,
    /// Commands this watch sends per node between this snapshot's INFO and the next's.
    own_commands: u64,
    per_type: Vec<Figure>,
    method: KeysMethod,
    draws: u64,
}

/// Keys of one cache type at the end of an interval.
#[derive(Debug, Clone, Serialize)]
pub struct TypeKeys {
    /// Cache type.
    pub name: String,
    /// Its pattern.
    pub pattern: String,
    /// Keys (estimated when `keys_method` is `sampled`).
    pub keys: u64,
    /// ± bound (95%) of a sampled estimate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound: Option<u64>,
}

impl TypeKeys {
    /// The cache type's name, or the pattern for a `-p` row (named `-`).
    pub fn label(&self) -> &str {
        if self.name == "-" {
            &self.pattern
        } else {
            &self.name
        }
    }
}

/// One interval: what changed between two snapshots (also the JSON line).
#[derive(Debug, Clone, Serialize)]
pub struct Interval {
    /// End of the interval, UTC.
    pub time: String,
    /// Its length.
    pub seconds: f64,
    /// Keyspace hits in the interval.
    pub hits: u64,
    /// Keyspace misses in the interval.
    pub misses: u64,
    /// hits / (hits + misses) over the interval; null when there were no lookups.
    pub hit_rate: Option<f64>,
    /// Commands per second over the interval, this watch's own commands not counted.
    pub ops_per_sec: f64,
    /// used_memory at the end, bytes.
    pub used_memory: u64,
    /// Its change over the interval.
    pub used_memory_change: i64,
    /// Keys (DBSIZE) at the end.
    pub keys: u64,
    /// Their change over the interval.
    pub keys_change: i64,
    /// Keys evicted in the interval.
    pub evicted: u64,
    /// Per second.
    pub evicted_per_sec: f64,
    /// Keys expired in the interval.
    pub expired: u64,
    /// Per second.
    pub expired_per_sec: f64,
    /// `exact` (SCAN) or `sampled` (RANDOMKEY draws).
    pub keys_method: KeysMethod,
    /// Draws behind a sampled estimate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampled_keys: Option<u64>,
    /// Keys per cache type.
    pub cache_types: Vec<TypeKeys>,
}

/// The difference `cur - prev` of a counter, or `cur` when the server restarted (counters
/// went back to 0).
fn delta(prev: u64, cur: u64) -> u64 {
    if cur >= prev { cur - prev } else { cur }
}

fn utc_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

impl Interval {
    fn between(prev: &Snapshot, cur: &Snapshot, types: &[CacheType]) -> Interval {
        let seconds = (cur.at - prev.at).as_secs_f64().max(1e-6);
        let hits = delta(prev.hits, cur.hits);
        let misses = delta(prev.misses, cur.misses);
        let commands = delta(prev.commands, cur.commands).saturating_sub(prev.own_commands);
        let evicted = delta(prev.evicted, cur.evicted);
        let expired = delta(prev.expired, cur.expired);
        Interval {
            time: utc_now(),
            seconds,
            hits,
            misses,
            hit_rate: (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64),
            ops_per_sec: commands as f64 / seconds,
            used_memory: cur.used_memory,
            used_memory_change: cur.used_memory as i64 - prev.used_memory as i64,
            keys: cur.keys,
            keys_change: cur.keys as i64 - prev.keys as i64,
            evicted,
            evicted_per_sec: evicted as f64 / seconds,
            expired,
            expired_per_sec: expired as f64 / seconds,
            keys_method: cur.method,
            sampled_keys: (cur.method == KeysMethod::Sampled).then_some(cur.draws),
            cache_types: types
                .iter()
                .zip(&cur.per_type)
                .map(|(t, f)| TypeKeys {
                    name: t.name.clone(),
                    pattern: t.pattern.clone(),
                    keys: f.value,
                    bound: f.bound,
                })
                .collect(),
        }
    }
}

/// Takes one snapshot: INFO and DBSIZE of every node, then the keys per cache type.
async fn snapshot(redis: &Redis, types: &[CacheType]) -> Result<Snapshot> {
    let mut s = Snapshot {
        at: Instant::now(),
        hits: 0,
        misses: 0,
        commands: 0,
        evicted: 0,
        expired: 0,
        used_memory: 0,
        keys: 0,
        own_commands: 0,
        per_type: Vec::new(),
        method: KeysMethod::Exact,
        draws: 0,
    };
    let mut sizes = Vec::new();
    for node in &redis.nodes {
        let mut c = node.conn.clone();
        let info = crate::info::fetch(&mut c)
            .await
            .map_err(|e| explain(e, &node.label))?;
        let size = scan::dbsize(&mut c)
            .await
            .map_err(|e| explain(e, &node.label))?;
        s.hits += info.keyspace_hits;
        s.misses += info.keyspace_misses;
        s.commands += info.total_commands;
        s.evicted += info.evicted_keys;
        s.expired += info.expired_keys;
        s.used_memory += info.used_memory;
        s.keys += size;
        s.own_commands += 2; // INFO, DBSIZE
        sizes.push(size);
    }
    s.at = Instant::now();
    if types.is_empty() {
        return Ok(s);
    }
    let mut tallies = vec![Tally::default(); types.len()];
    let classify = |tallies: &mut Vec<Tally>, node: usize, key: &[u8]| {
        for (t, tally) in types.iter().zip(tallies.iter_mut()) {
            if crate::glob::matches(t.pattern.as_bytes(), key) {
                tally.add(node, 0, false);
            }
        }
    };
    let scale = if s.keys <= EXACT_LIMIT {
        for (i, node) in redis.nodes.iter().enumerate() {
            let mut c = node.conn.clone();
            let mut cursor = 0;
            loop {
                let (next, keys) = scan::scan_page(&mut c, cursor, "*", SCAN_COUNT)
                    .await
                    .map_err(|e| explain(e, &node.label))?;
                s.own_commands += 1;
                for k in &keys {
                    classify(&mut tallies, i, k);
                }
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        Scale {
            strata: sizes
                .iter()
                .map(|&n| Stratum {
                    population: n,
                    sampled: n,
                })
                .collect(),
            exact: true,
            z: 0.0,
        }
    } else {
        let draws = sample::allocate(DRAWS, &sizes);
        let mut strata = Vec::new();
        for ((i, node), (&n, &size)) in redis.nodes.iter().enumerate().zip(draws.iter().zip(&sizes))
        {
            let mut c = node.conn.clone();
            // In batches, so Redis never spends more than about a millisecond on one.
            let mut keys = Vec::new();
            let mut left = n as usize;
            while left > 0 {
                let size = left.min(crate::commands::analyze::SAMPLE_BATCH);
                keys.extend(
                    sample::random_keys(&mut c, size)
                        .await
                        .map_err(|e| explain(e, &node.label))?,
                );
                left -= size;
            }
            s.own_commands += n;
            for k in &keys {
                classify(&mut tallies, i, k);
            }
            strata.push(Stratum {
                population: size,
                sampled: keys.len() as u64,
            });
        }
        s.method = KeysMethod::Sampled;
        s.draws = strata.iter().map(|st| st.sampled).sum();
        Scale {
            strata,
            exact: false,
            z: sample::Confidence::P95.z(),
        }
    };
    s.per_type = tallies.iter().map(|t| t.keys(&scale)).collect();
    Ok(s)
}

fn rate_text(r: Option<f64>) -> String {
    r.map_or_else(|| "n/a".to_string(), |r| format!("{:.1}%", r * 100.0))
}

fn signed_bytes(d: i64) -> String {
    let sign = if d < 0 { "-" } else { "+" };
    format!("{sign}{}", human_bytes(d.unsigned_abs()))
}

fn signed(d: i64) -> String {
    let sign = if d < 0 { "-" } else { "+" };
    format!("{sign}{}", thousands(d.unsigned_abs()))
}

fn type_keys_text(t: &TypeKeys) -> String {
    match t.bound {
        None => thousands(t.keys),
        Some(b) => format!("~{} ±{}", thousands(t.keys), thousands(b)),
    }
}

/// One plain line per interval (output that is not a terminal).
pub fn plain_line(i: &Interval) -> String {
    let mut line = format!(
        "{}  hit rate {} ({} hits, {} misses)  ops/s {:.0}  memory {} ({})  keys {} ({})  evicted/s {:.1}  expired/s {:.1}",
        i.time,
        rate_text(i.hit_rate),
        thousands(i.hits),
        thousands(i.misses),
        i.ops_per_sec,
        human_bytes(i.used_memory),
        signed_bytes(i.used_memory_change),
        thousands(i.keys),
        signed(i.keys_change),
        i.evicted_per_sec,
        i.expired_per_sec,
    );
    for t in &i.cache_types {
        line.push_str(&format!("  {} {}", t.label(), type_keys_text(t)));
    }
    line.push('\n');
    line
}

/// The view redrawn on a terminal.
pub fn frame(i: &Interval, address: &str, every: Duration, previous: Option<&Interval>) -> String {
    let mut t = format!(
        "{}  every {}  {}  (Ctrl-C to stop)\n\n",
        paint(Stream::Stdout, Tone::Accent, address),
        humantime::format_duration(every),
        i.time
    );
    let rate = rate_text(i.hit_rate);
    let tone = match i.hit_rate {
        Some(r) if r >= 0.9 => Tone::Good,
        Some(r) if r >= 0.5 => Tone::Warn,
        Some(_) => Tone::Bad,
        None => Tone::Dim,
    };
    t.push_str(&format!(
        "Hit rate   {}  ({} hits, {} misses in the last {:.1} s)\n",
        paint(Stream::Stdout, tone, rate),
        thousands(i.hits),
        thousands(i.misses),
        i.seconds
    ));
    t.push_str(&format!(
        "Ops/s      {:.0}  (this watch's own commands not counted)\n",
        i.ops_per_sec
    ));
    t.push_str(&format!(
        "Memory     {}  ({})\n",
        human_bytes(i.used_memory),
        signed_bytes(i.used_memory_change)
    ));
    t.push_str(&format!(
        "Keys       {}  ({})\n",
        thousands(i.keys),
        signed(i.keys_change)
    ));
    let evicted = format!("{:.1}/s", i.evicted_per_sec);
    t.push_str(&format!(
        "Evicted    {}  ({} in the interval)\n",
        if i.evicted > 0 {
            paint(Stream::Stdout, Tone::Warn, evicted)
        } else {
            evicted
        },
        thousands(i.evicted)
    ));
    t.push_str(&format!(
        "Expired    {:.1}/s  ({} in the interval)\n",
        i.expired_per_sec,
        thousands(i.expired)
    ));
    if !i.cache_types.is_empty() {
        t.push('\n');
        let mut table = Table::new(["cache type", "pattern", "keys", "change"]);
        for (n, ty) in i.cache_types.iter().enumerate() {
            let change = previous
                .and_then(|p| p.cache_types.get(n))
                .filter(|_| ty.bound.is_none())
                .map_or_else(String::new, |p| signed(ty.keys as i64 - p.keys as i64));
            table.push([
                ty.name.clone(),
                ty.pattern.clone(),
                type_keys_text(ty),
                change,
            ]);
        }
        t.push_str(&table.render());
        t.push_str(&match i.keys_method {
            KeysMethod::Exact => format!(
                "Keys per cache type: exact (SCAN every interval up to {} keys).\n",
                thousands(EXACT_LIMIT)
            ),
            KeysMethod::Sampled => format!(
                "Keys per cache type: estimated from {} random keys (RANDOMKEY) each interval, ± a 95% bound; exact above {} keys would cost a full SCAN per interval.\n",
                thousands(i.sampled_keys.unwrap_or(0)),
                thousands(EXACT_LIMIT)
            ),
        });
    }
    t
}

/// How the intervals are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// Redrawn in place.
    Terminal,
    /// One line each.
    Plain,
    /// One JSON object per line.
    JsonLines,
    /// One YAML document each.
    Yaml,
}

impl Display {
    /// The display for an output format and whether stdout is a terminal.
    pub fn choose(format: OutputFormat, terminal: bool) -> Display {
        match format {
            OutputFormat::Json => Display::JsonLines,
            OutputFormat::Yaml => Display::Yaml,
            _ if terminal => Display::Terminal,
            _ => Display::Plain,
        }
    }
}

/// Redraws `text` over the `lines` drawn last time.
fn redraw(out: &mut dyn Write, lines: usize, text: &str) -> Result<usize> {
    use crossterm::cursor::MoveToPreviousLine;
    use crossterm::queue;
    use crossterm::terminal::{Clear, ClearType};
    let mut buf: Vec<u8> = Vec::new();
    if lines > 0 {
        queue!(
            buf,
            MoveToPreviousLine(u16::try_from(lines).unwrap_or(u16::MAX)),
            Clear(ClearType::FromCursorDown)
        )?;
    }
    buf.extend_from_slice(text.as_bytes());
    out.write_all(&buf).map_err(shared::Error::Output)?;
    out.flush().map_err(shared::Error::Output)?;
    Ok(text.lines().count())
}

/// Runs the watch until Ctrl-C or `count` intervals.
pub async fn run(
    redis: &Redis,
    types: &[CacheType],
    every: Duration,
    count: Option<u64>,
    display: Display,
    out: &mut dyn Write,
) -> Result<ExitCode> {
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut prev = tokio::select! {
        s = snapshot(redis, types) => s?,
        _ = &mut ctrl_c => return Ok(ExitCode::SUCCESS),
    };
    let mut drawn = 0;
    if display == Display::Terminal {
        drawn = redraw(
            out,
            0,
            &format!(
                "{}: measuring the first {} interval... (Ctrl-C to stop)\n",
                redis.address,
                humantime::format_duration(every)
            ),
        )?;
    }
    let mut ticker = tokio::time::interval_at(prev.at + every, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<Interval> = None;
    let mut emitted = 0u64;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = &mut ctrl_c => break,
        }
        let cur = tokio::select! {
            s = snapshot(redis, types) => s?,
            _ = &mut ctrl_c => break,
        };
        let interval = Interval::between(&prev, &cur, types);
        match display {
            Display::JsonLines => {
                let mut line = serde_json::to_string(&interval)?;
                line.push('\n');
                write_str(out, &line)?;
            }
            Display::Yaml => write_str(out, &format!("---\n{}", to_yaml(&interval)?))?,
            Display::Plain => write_str(out, &plain_line(&interval))?,
            Display::Terminal => {
                let text = frame(&interval, &redis.address, every, last.as_ref());
                drawn = redraw(out, drawn, &text)?;
            }
        }
        emitted += 1;
        prev = cur;
        last = Some(interval);
        if count.is_some_and(|c| emitted >= c) {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(at: Instant, hits: u64, misses: u64, commands: u64, keys: u64) -> Snapshot {
        Snapshot {
            at,
            hits,
            misses,
            commands,
            evicted: 0,
            expired: 10,
            used_memory: 1000,
            keys,
            own_commands: 2,
            per_type: vec![Figure {
                value: keys,
                bound: None,
            }],
            method: KeysMethod::Exact,
            draws: 0,
        }
    }

    fn types() -> Vec<CacheType> {
        shared::config::Config::default().cache_types[..1].to_vec()
    }

    #[test]
    fn an_interval_is_the_difference_of_two_snapshots() {
        let t0 = Instant::now();
        let a = snap(t0, 1000, 1000, 500, 10);
        let b = Snapshot {
            expired: 30,
            used_memory: 900,
            ..snap(t0 + Duration::from_secs(2), 1030, 1010, 552, 7)
        };
        let i = Interval::between(&a, &b, &types());
        // Over the interval, not since start: 30 hits, 10 misses.
        assert_eq!((i.hits, i.misses), (30, 10));
        assert_eq!(i.hit_rate, Some(0.75));
        // 52 commands, 2 of them this watch's own: 50 in 2 s.
        assert_eq!(i.ops_per_sec, 25.0);
        assert_eq!(i.expired_per_sec, 10.0);
        assert_eq!((i.used_memory_change, i.keys_change), (-100, -3));
        assert_eq!(i.cache_types[0].keys, 7);
        let line = plain_line(&i);
        assert!(
            line.contains("hit rate 75.0% (30 hits, 10 misses)")
                && line.contains("keys 7 (-3)")
                && line.contains("market-data 7")
                && line.ends_with('\n')
                && line.lines().count() == 1,
            "{line}"
        );
        let idle = Interval::between(
            &b,
            &snap(t0 + Duration::from_secs(4), 1030, 1010, 554, 7),
            &types(),
        );
        assert_eq!(idle.hit_rate, None, "no lookups: n/a, not 0%");
        assert_eq!(idle.ops_per_sec, 0.0);
        assert!(plain_line(&idle).contains("hit rate n/a"));
    }

    #[test]
    fn a_restarted_server_counts_from_zero() {
        assert_eq!(delta(100, 130), 30);
        assert_eq!(delta(100, 7), 7);
    }

    #[test]
    fn json_lines_for_json_plain_lines_off_a_terminal() {
        assert_eq!(
            Display::choose(OutputFormat::Json, true),
            Display::JsonLines
        );
        assert_eq!(Display::choose(OutputFormat::Table, false), Display::Plain);
        assert_eq!(
            Display::choose(OutputFormat::Table, true),
            Display::Terminal
        );
    }

    #[test]
    fn redraw_moves_back_over_the_last_frame() {
        let mut out = Vec::new();
        let n = redraw(&mut out, 0, "a\nb\nc\n").unwrap();
        assert_eq!(n, 3);
        out.clear();
        redraw(&mut out, n, "d\n").unwrap();
        // CSI 3 F (previous line ×3), CSI J (clear to the end of the screen), then the text.
        assert_eq!(String::from_utf8(out).unwrap(), "\x1b[3F\x1b[Jd\n");
    }
}
