//! `kubectl rflush analyze [TYPE | -p PATTERN] [--sample N | --full]`: what is in this
//! Redis, and what of it no cache type covers. Keys are drawn with `RANDOMKEY` (or all of
//! them SCANned with `--full`), then `TYPE`, `MEMORY USAGE` and `PTTL` are pipelined for
//! each, paced against the same latency budget as `flush`.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use futures::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{RedisResult, Value};
use serde::Serialize;
use shared::cli::GlobalArgs;
use shared::output::{Table, print_structured, write_str};

use crate::analysis::{Analyzer, Figures, Findings, KeyFacts, suggestion_yaml};
use crate::cli::{AnalyzeArgs, DEFAULT_BATCH};
use crate::commands::{secs, select, select_pattern, thousands};
use crate::connect::{Node, RedisArgs, connect, explain};
use crate::info::human_bytes;
use crate::pacing::{PaceConfig, Pacer, Probe};
use crate::progress::{Progress, cursor_fraction};
use crate::sample::{self, Figure, Scale, Stratum};
use crate::scan::{self, Key};

/// Keys drawn when neither `--sample` nor `--full` is given.
pub const DEFAULT_SAMPLE: u64 = 10_000;

/// RANDOMKEYs per pipelined batch by default: a RANDOMKEY costs Redis a few µs, so 100 keep a
/// batch (and the two in flight) near a millisecond; 500 gave a 5 ms p99 to other clients
/// (BENCHMARKS.md).
pub const SAMPLE_BATCH: usize = 100;

/// Batches whose replies may be in flight at once per node.
const DEPTH: usize = 2;

/// Prefix rows shown in the table per level-1 group / per parent (JSON lists all).
const TOP_LEVEL_ROWS: usize = 20;
const CHILD_ROWS: usize = 10;

/// The `analyze` report (also the `-o json|yaml` output).
#[derive(Debug, Serialize)]
pub struct AnalyzeReport {
    /// Where.
    pub address: String,
    /// Nodes analysed (cluster primaries).
    pub nodes: usize,
    /// The keys looked at: `*`, a cache type's pattern, or `--pattern`.
    pub pattern: String,
    /// `sample` (RANDOMKEY draws) or `full` (every key, SCAN).
    pub method: &'static str,
    /// Keys in the database(s) when the analysis started (DBSIZE summed).
    pub dbsize: u64,
    /// Keys drawn (sample) or scanned (full).
    pub inspected: u64,
    /// Of those, keys matching the pattern.
    pub matched: u64,
    /// Confidence level of the bounds (sample only).
    pub confidence: Option<f64>,
    /// Prefixes holding a smaller share of keys may be absent from the sample (at the
    /// stated confidence).
    pub smallest_visible_share: Option<f64>,
    /// Prefix levels.
    pub depth: usize,
    /// Seconds taken.
    pub seconds: f64,
    /// Seconds paused to keep other clients' latency in budget (summed over nodes).
    pub paused_seconds: f64,
    /// What was found.
    #[serde(flatten)]
    pub findings: Findings,
    /// The `cache_types:` block for the override file: the configured types plus the
    /// suggested ones.
    pub suggested_config: String,
}

/// Runs `analyze`.
pub async fn run(
    global: &GlobalArgs,
    redis_args: &RedisArgs,
    args: &AnalyzeArgs,
    out: &mut dyn Write,
) -> Result<ExitCode> {
    let loaded = global.load_config()?;
    let pattern = match (&args.cache_type, &args.pattern) {
        (Some(t), _) => select(&loaded.config, t)?.pattern,
        (None, Some(p)) => select_pattern(p)?.pattern,
        (None, None) => "*".to_string(),
    };
    let redis = connect(global, redis_args, &loaded, false).await?;
    let sizes = crate::engine::dbsizes(&redis).await?;
    let dbsize: u64 = sizes.iter().sum();
    let requested = args.sample.unwrap_or(DEFAULT_SAMPLE);
    // Drawing more keys than there are is slower than reading them all, and less exact.
    let small = !args.full && dbsize <= requested;
    let full = args.full || small;
    let pace = PaceConfig {
        rate: None,
        max_latency: (!args.no_pacing).then_some(args.max_latency),
    };
    let analyzer = Mutex::new(Analyzer::new(
        args.depth,
        loaded.config.cache_types.clone(),
        args.top,
    ));
    let draws = sample::allocate(requested, &sizes);
    let progress = Progress::new(if full { dbsize } else { requested }, "inspected");
    let start = Instant::now();
    let shared = Shared {
        analyzer: &analyzer,
        pattern: &pattern,
        batch: args
            .batch_size
            .map_or(if full { DEFAULT_BATCH } else { SAMPLE_BATCH }, |n| {
                n as usize
            }),
        progress: &progress,
        done: AtomicU64::new(0),
        fractions: Mutex::new(vec![0.0; redis.nodes.len()]),
        sizes: &sizes,
        matched: AtomicU64::new(0),
        paused_micros: AtomicU64::new(0),
    };
    let mut tasks = Vec::new();
    for (i, node) in redis.nodes.iter().enumerate() {
        let pacer = pacer_for(node, pace).await;
        let shared = &shared;
        let (n, population) = (draws[i], sizes[i]);
        tasks.push(async move {
            let result = if full {
                scan_node(i, node, pacer, shared).await
            } else {
                sample_node(i, node, n, population, pacer, shared).await
            };
            result.map_err(|e| e.context(format!("analyze on {}", node.label)))
        });
    }
    let strata = futures::future::join_all(tasks).await;
    progress.finish();
    let strata: Vec<Stratum> = strata.into_iter().collect::<Result<_>>()?;
    let elapsed = start.elapsed();
    let matched = shared.matched.load(Ordering::Relaxed);
    let paused = Duration::from_micros(shared.paused_micros.load(Ordering::Relaxed));
    drop(shared);
    let scale = Scale {
        exact: full,
        z: args.confidence.z(),
        strata,
    };
    let analyzer = analyzer.into_inner().expect("analyzer lock");
    let mut findings = analyzer.report(&scale);
    if !full && pattern == "*" {
        // Every draw matches `*`: the key count is DBSIZE itself.
        findings.total.keys = Figure {
            value: dbsize,
            bound: None,
        };
    }
    let inspected: u64 = scale.strata.iter().map(|s| s.sampled).sum();
    let report = AnalyzeReport {
        address: redis.address.clone(),
        nodes: redis.nodes.len(),
        pattern,
        method: if full { "full" } else { "sample" },
        dbsize,
        inspected,
        matched,
        confidence: (!full).then(|| args.confidence.level()),
        smallest_visible_share: (!full)
            .then(|| sample::smallest_visible_share(inspected, args.confidence)),
        depth: args.depth,
        seconds: elapsed.as_secs_f64(),
        paused_seconds: paused.as_secs_f64(),
        suggested_config: suggestion_yaml(&loaded.config.cache_types, &findings.suggestions),
        findings,
    };
    if args.output.output.is_structured() {
        print_structured(out, args.output.output, &report)?;
    } else {
        let note = small.then_some(requested);
        write_str(out, &render(&report, args.confidence.label(), note))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What the node tasks share.
struct Shared<'a> {
    analyzer: &'a Mutex<Analyzer>,
    pattern: &'a str,
    batch: usize,
    progress: &'a Progress,
    /// Draws done (sample).
    done: AtomicU64,
    /// Share of each node's key space scanned (full).
    fractions: Mutex<Vec<f64>>,
    sizes: &'a [u64],
    matched: AtomicU64,
    paused_micros: AtomicU64,
}

impl Shared<'_> {
    fn record(&self, node: usize, facts: &[KeyFacts]) {
        let mut a = self.analyzer.lock().expect("analyzer lock");
        for f in facts {
            a.add(node, f);
        }
        self.matched
            .fetch_add(facts.len() as u64, Ordering::Relaxed);
        let seen = a.seen();
        drop(a);
        let position = {
            let fractions = self.fractions.lock().expect("fractions");
            let scanned: f64 = fractions
                .iter()
                .zip(self.sizes)
                .map(|(f, s)| f * *s as f64)
                .sum();
            scanned as u64 + self.done.load(Ordering::Relaxed)
        };
        self.progress
            .update(position, format!("{} keys", thousands(seen)));
    }
}

/// A pacer with its own latency probe, as `flush` uses.
async fn pacer_for(node: &Node, pace: PaceConfig) -> Pacer {
    let probe = if pace.max_latency.is_some() {
        match node.reconnect().await {
            Ok((conn, guard)) => {
                let probe = Probe::start(conn, guard);
                // A short idle baseline before the first batch.
                tokio::time::sleep(Duration::from_millis(60)).await;
                Some(probe)
            }
            Err(_) => None,
        }
    } else {
        None
    };
    Pacer::new(pace, probe, None)
}

/// `TYPE`, `MEMORY USAGE` and `PTTL` of each key, pipelined; keys gone meanwhile are left out.
pub async fn inspect(conn: &mut MultiplexedConnection, keys: &[Key]) -> RedisResult<Vec<KeyFacts>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for k in keys {
        pipe.cmd("TYPE")
            .arg(k)
            .cmd("MEMORY")
            .arg("USAGE")
            .arg(k)
            .cmd("PTTL")
            .arg(k);
    }
    let values: Vec<Value> = pipe.query_async(conn).await?;
    let mut values = values.into_iter();
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let kind: String = redis::from_redis_value(values.next().unwrap_or(Value::Nil))
            .unwrap_or_else(|_| "none".into());
        let bytes: Option<u64> = redis::from_redis_value(values.next().unwrap_or(Value::Nil))?;
        let pttl: i64 = redis::from_redis_value(values.next().unwrap_or(Value::Int(-2)))?;
        if let (Some(bytes), false, false) = (bytes, kind == "none", pttl == -2) {
            out.push(KeyFacts {
                key: key.clone(),
                kind,
                bytes,
                pttl,
            });
        }
    }
    Ok(out)
}

/// Draws `n` keys on one node in batches; returns the node's stratum.
async fn sample_node(
    index: usize,
    node: &Node,
    n: u64,
    population: u64,
    mut pacer: Pacer,
    shared: &Shared<'_>,
) -> Result<Stratum> {
    let batch = shared.batch as u64;
    let chunks: Vec<usize> = (0..n.div_ceil(batch))
        .map(|i| (n - i * batch).min(batch) as usize)
        .collect();
    let conn = &node.conn;
    let pattern = shared.pattern.as_bytes();
    let mut batches = std::pin::pin!(
        futures::stream::iter(chunks)
            .map(|size| async move {
                let mut c = conn.clone();
                let keys = sample::random_keys(&mut c, size).await?;
                let drawn = keys.len() as u64;
                let keys: Vec<Key> = keys
                    .into_iter()
                    .filter(|k| crate::glob::matches(pattern, k))
                    .collect();
                Ok::<_, redis::RedisError>((drawn, inspect(&mut c, &keys).await?))
            })
            .buffered(DEPTH)
    );
    let mut sampled = 0;
    while let Some(result) = batches.next().await {
        let (drawn, facts) = result.map_err(|e| explain(e, &node.label))?;
        sampled += drawn;
        shared.done.fetch_add(drawn, Ordering::Relaxed);
        shared.record(index, &facts);
        pacer.after_batch(drawn).await;
    }
    shared
        .paused_micros
        .fetch_add(pacer.paused.as_micros() as u64, Ordering::Relaxed);
    Ok(Stratum {
        population,
        sampled,
    })
}

/// SCANs every key of one node (MATCH the pattern), inspecting each page while the next
/// SCAN is in flight; returns the node's stratum (population = keys inspected).
async fn scan_node(
    index: usize,
    node: &Node,
    mut pacer: Pacer,
    shared: &Shared<'_>,
) -> Result<Stratum> {
    let conn = &node.conn;
    let (pattern, batch) = (shared.pattern, shared.batch);
    let scans = futures::stream::unfold(Some(0u64), move |cursor| async move {
        let cursor = cursor?;
        let mut c = conn.clone();
        Some(
            match scan::scan_page(&mut c, cursor, pattern, batch).await {
                Ok((next, keys)) => (Ok((next, keys)), (next != 0).then_some(next)),
                Err(e) => (Err(e), None),
            },
        )
    });
    let mut pages = std::pin::pin!(
        scans
            .map(|page| async move {
                let (next, keys) = page?;
                let facts = inspect(&mut conn.clone(), &keys).await?;
                Ok::<_, redis::RedisError>((next, keys.len(), facts))
            })
            .buffered(DEPTH)
    );
    let mut inspected = 0;
    while let Some(result) = pages.next().await {
        let (next, scanned, facts) = result.map_err(|e| explain(e, &node.label))?;
        inspected += facts.len() as u64;
        shared.fractions.lock().expect("fractions")[index] = if next == 0 {
            1.0
        } else {
            cursor_fraction(next)
        };
        shared.record(index, &facts);
        if next != 0 {
            pacer.after_batch(scanned as u64).await;
        }
    }
    shared
        .paused_micros
        .fetch_add(pacer.paused.as_micros() as u64, Ordering::Relaxed);
    Ok(Stratum {
        population: inspected,
        sampled: inspected,
    })
}

fn keys_text(f: Figure) -> String {
    match f.bound {
        None => thousands(f.value),
        Some(b) => format!("~{} ±{}", thousands(f.value), thousands(b)),
    }
}

fn bytes_text(f: Figure) -> String {
    match f.bound {
        None => human_bytes(f.value),
        Some(b) => format!("~{} ±{}", human_bytes(f.value), human_bytes(b)),
    }
}

fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.0}%", 100.0 * part as f64 / whole as f64)
    }
}

fn no_ttl_text(f: &Figures) -> String {
    share(f.no_ttl.value, f.keys.value)
}

fn coverage_text(row: &crate::analysis::PrefixRow) -> String {
    if let Some(t) = &row.cache_type {
        return t.clone();
    }
    if row.coverage.len() == 1 {
        return "- (none)".into();
    }
    let parts: Vec<String> = row
        .coverage
        .iter()
        .take(2)
        .map(|c| {
            format!(
                "{} {:.0}%",
                c.cache_type.as_deref().unwrap_or("none"),
                c.share * 100.0
            )
        })
        .collect();
    let more = if row.coverage.len() > 2 { ", ..." } else { "" };
    format!("{}{more}", parts.join(", "))
}

/// The report as text.
fn render(r: &AnalyzeReport, confidence: &str, small_db: Option<u64>) -> String {
    let f = &r.findings;
    let mut t = String::new();
    let nodes = if r.nodes > 1 {
        format!(" ({} primaries)", r.nodes)
    } else {
        String::new()
    };
    let matching = if r.pattern == "*" {
        String::new()
    } else {
        format!(", {} matching {:?}", thousands(r.matched), r.pattern)
    };
    if r.method == "full" {
        t.push_str(&format!(
            "Analyzed {}{nodes}: every key (SCAN, {} inspected{matching}) in {}.\n",
            r.address,
            thousands(r.inspected),
            secs(Duration::from_secs_f64(r.seconds))
        ));
        if let Some(n) = small_db {
            t.push_str(&format!(
                "The database holds {} keys, no more than --sample {}: all were inspected, figures are exact.\n",
                thousands(r.dbsize),
                thousands(n)
            ));
        }
    } else {
        t.push_str(&format!(
            "Analyzed {}{nodes}: {} random keys (RANDOMKEY) of {}{matching} in {}.\n",
            r.address,
            thousands(r.inspected),
            thousands(r.dbsize),
            secs(Duration::from_secs_f64(r.seconds))
        ));
        let p = r.smallest_visible_share.unwrap_or(0.0);
        t.push_str(&format!(
            "~ marks estimates, ± their {confidence} confidence bound; a prefix with less than {:.2}% of keys (~{}) may be missing. --full inspects every key.\n",
            p * 100.0,
            thousands((p * r.dbsize as f64).ceil() as u64)
        ));
    }
    if r.paused_seconds >= 0.01 {
        t.push_str(&format!(
            "Paced {} in all to keep other clients' latency in budget (--max-latency, --no-pacing).\n",
            secs(Duration::from_secs_f64(r.paused_seconds))
        ));
    }
    t.push('\n');
    t.push_str(&format!(
        "Keys:        {}   memory {}   without TTL {}\n",
        keys_text(f.total.keys),
        bytes_text(f.total.memory),
        no_ttl_text(&f.total)
    ));
    t.push_str(&format!(
        "Uncovered:   {} keys ({}), {} ({}) belong to no cache type\n\n",
        keys_text(f.uncovered.keys),
        share(f.uncovered.keys.value, f.total.keys.value),
        bytes_text(f.uncovered.memory),
        share(f.uncovered.memory.value, f.total.memory.value),
    ));

    let mut table = Table::new(["prefix", "keys", "memory", "no ttl", "cache type"]);
    let mut count_at = vec![0usize; r.depth + 2];
    let mut hidden = 0;
    let mut skipping_below: Option<usize> = None;
    for row in &f.prefixes {
        if let Some(level) = skipping_below {
            if row.level > level {
                continue;
            }
            skipping_below = None;
        }
        for c in count_at.iter_mut().skip(row.level + 1) {
            *c = 0;
        }
        count_at[row.level] += 1;
        let limit = if row.level == 1 {
            TOP_LEVEL_ROWS
        } else {
            CHILD_ROWS
        };
        if count_at[row.level] > limit {
            hidden += 1;
            skipping_below = Some(row.level);
            continue;
        }
        table.push([
            format!("{}{}", "  ".repeat(row.level - 1), row.prefix),
            keys_text(row.figures.keys),
            bytes_text(row.figures.memory),
            no_ttl_text(&row.figures),
            coverage_text(row),
        ]);
    }
    t.push_str(&table.render());
    if hidden > 0 {
        t.push_str(&format!(
            "({hidden} smaller prefixes not shown; -o json lists every one)\n"
        ));
    }
    if !f.folded_levels.is_empty() {
        t.push_str(&format!(
            "(more than {} distinct prefixes at depth {:?}: later ones are folded into PARENT* (other); a lower --depth avoids that)\n",
            thousands(crate::analysis::MAX_PREFIXES_PER_LEVEL as u64),
            f.folded_levels
        ));
    }
    t.push('\n');

    let mut table = Table::new(["data type", "keys", "memory", "no ttl"]);
    for g in &f.data_types {
        table.push([
            g.name.clone(),
            keys_text(g.figures.keys),
            bytes_text(g.figures.memory),
            no_ttl_text(&g.figures),
        ]);
    }
    t.push_str(&table.render());
    t.push('\n');

    let mut table = Table::new(["ttl", "keys", "memory"]);
    for g in &f.ttl {
        table.push([
            g.name.clone(),
            keys_text(g.figures.keys),
            bytes_text(g.figures.memory),
        ]);
    }
    t.push_str(&table.render());
    t.push('\n');

    let mut table = Table::new(["cache type", "pattern", "keys", "memory", "no ttl"]);
    for c in &f.cache_types {
        table.push([
            c.name.clone(),
            c.pattern.clone(),
            keys_text(c.figures.keys),
            bytes_text(c.figures.memory),
            no_ttl_text(&c.figures),
        ]);
    }
    t.push_str(&table.render());
    t.push('\n');

    if !f.biggest.is_empty() {
        t.push_str(if r.method == "full" {
            "Biggest keys:\n"
        } else {
            "Biggest keys in the sample:\n"
        });
        let mut table = Table::new(["key", "type", "memory", "ttl", "cache type"]);
        for k in &f.biggest {
            table.push([
                k.key.clone(),
                k.kind.clone(),
                human_bytes(k.bytes),
                k.ttl_seconds.map_or_else(
                    || "none".to_string(),
                    |s| humantime::format_duration(Duration::from_secs(s as u64)).to_string(),
                ),
                k.cache_type.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
        t.push_str(&table.render());
        t.push('\n');
    }

    if f.suggestions.is_empty() {
        t.push_str("Every prefix found belongs to a cache type.\n");
    } else {
        t.push_str(&format!(
            "{} prefix(es) belong to no cache type. For the override file (`kubectl rflush config path`; its cache_types list replaces the configured one whole):\n\n",
            f.suggestions.len()
        ));
        t.push_str(&r.suggested_config);
    }
    t
}
