//! `kubectl rflush stats [TYPE...]`: server facts and, per cache type, key count and memory
//! estimated from sampled `MEMORY USAGE`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;
use shared::cli::GlobalArgs;
use shared::fleet::{self, FailedContext, FleetTargets, fan_out};
use shared::output::{Table, print_structured, write_str};

use crate::cli::StatsArgs;
use crate::commands::{Selection, select, select_pattern, thousands};
use crate::connect::{RedisArgs, connect, connect_with, explain};
use crate::info::{Info, human_bytes};
use crate::scan::{self, Key};

/// Per cache type.
#[derive(Debug, Clone, Serialize)]
pub struct TypeStats {
    /// Cache type.
    pub name: String,
    /// Pattern.
    pub pattern: String,
    /// Keys matching.
    pub keys: u64,
    /// Estimated bytes (average of the sample × keys).
    pub estimated_bytes: u64,
    /// Keys sampled for the estimate.
    pub sampled: usize,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Stats {
    /// Where.
    pub address: String,
    /// Redis version.
    pub version: String,
    /// standalone / cluster.
    pub mode: String,
    /// Nodes scanned (cluster primaries).
    pub nodes: usize,
    /// used_memory, summed over nodes.
    pub used_memory: u64,
    /// used_memory_peak, summed.
    pub used_memory_peak: u64,
    /// maxmemory of the first node (0 = none).
    pub maxmemory: u64,
    /// maxmemory_policy.
    pub eviction_policy: String,
    /// keyspace hits / (hits + misses).
    pub hit_rate: Option<f64>,
    /// keyspace_hits, summed.
    #[serde(skip)]
    pub keyspace_hits: u64,
    /// keyspace_misses, summed.
    #[serde(skip)]
    pub keyspace_misses: u64,
    /// instantaneous_ops_per_sec, summed.
    pub ops_per_sec: u64,
    /// connected_clients, summed.
    pub connected_clients: u64,
    /// DBSIZE summed.
    pub keys: u64,
    /// Per cache type.
    pub cache_types: Vec<TypeStats>,
}

/// A row of the report: the cache type, or for a pattern a row named `-`.
fn pattern_row(selection: Selection) -> shared::config::CacheType {
    selection
        .cache_type
        .unwrap_or_else(|| shared::config::CacheType {
            name: "-".into(),
            pattern: selection.pattern,
            backup: false,
            description: String::new(),
        })
}

/// Runs `stats`: on the Redis the flags name, or with several contexts (`--context a,b`,
/// `--all-contexts`) on the in-cluster Redis of each context, one port-forward per context.
pub async fn run(
    global: &GlobalArgs,
    redis_args: &RedisArgs,
    args: &StatsArgs,
    out: &mut dyn Write,
) -> Result<ExitCode> {
    let loaded = global.load_config()?;
    let types: Vec<_> = if args.types.is_empty() && args.pattern.is_empty() {
        loaded.config.cache_types.clone()
    } else {
        let selections = args
            .types
            .iter()
            .map(|t| select(&loaded.config, t))
            .chain(args.pattern.iter().map(|p| select_pattern(p)))
            .collect::<Result<Vec<_>, _>>()?;
        selections.into_iter().map(pattern_row).collect()
    };
    if global.cluster.is_fleet() {
        return run_fleet(global, redis_args, args, &loaded, &types, out).await;
    }
    let redis = connect(global, redis_args, &loaded, false).await?;
    if args.watch {
        let display = crate::commands::watch::Display::choose(
            args.output.output,
            std::io::stdout().is_terminal(),
        );
        return crate::commands::watch::run(
            &redis,
            &types,
            args.interval,
            args.count,
            display,
            out,
        )
        .await;
    }
    let stats = gather(&redis, &types, args.samples).await?;
    if args.output.output.is_structured() {
        print_structured(out, args.output.output, &stats)?;
        return Ok(ExitCode::SUCCESS);
    }
    write_str(out, &report_text(&stats))?;
    Ok(ExitCode::SUCCESS)
}

/// Reads the server facts and, in one SCAN pass per node, the keys and sampled memory of each
/// cache type.
async fn gather(
    redis: &crate::connect::Redis,
    types: &[shared::config::CacheType],
    samples_per_type: usize,
) -> Result<Stats> {
    let mut infos: Vec<Info> = Vec::new();
    let mut keys_total = 0;
    let mut counts = vec![0u64; types.len()];
    let mut bytes = vec![0f64; types.len()];
    let mut sampled = vec![0usize; types.len()];
    for node in &redis.nodes {
        let mut c = node.conn.clone();
        infos.push(
            crate::info::fetch(&mut c)
                .await
                .map_err(|e| explain(e, &node.label))?,
        );
        keys_total += scan::dbsize(&mut c)
            .await
            .map_err(|e| explain(e, &node.label))?;
        // One pass over the keyspace serves every type.
        let mut samples: Vec<Vec<Key>> = vec![Vec::new(); types.len()];
        let mut node_counts = vec![0u64; types.len()];
        let mut cursor = 0;
        loop {
            let (next, keys) = scan::scan_page(&mut c, cursor, "*", 1000)
                .await
                .map_err(|e| explain(e, &node.label))?;
            for k in keys {
                for (i, t) in types.iter().enumerate() {
                    if crate::glob::matches(t.pattern.as_bytes(), &k) {
                        node_counts[i] += 1;
                        if samples[i].len() < samples_per_type {
                            samples[i].push(k.clone());
                        }
                    }
                }
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..types.len() {
            let usage: Vec<u64> = scan::memory_usage(&mut c, &samples[i])
                .await
                .map_err(|e| explain(e, &node.label))?
                .into_iter()
                .flatten()
                .collect();
            if !usage.is_empty() {
                bytes[i] +=
                    usage.iter().sum::<u64>() as f64 / usage.len() as f64 * node_counts[i] as f64;
            }
            sampled[i] += usage.len();
            counts[i] += node_counts[i];
        }
    }
    let first = infos.first().cloned().unwrap_or_default();
    let (hits, misses) = infos.iter().fold((0, 0), |(h, m), i| {
        (h + i.keyspace_hits, m + i.keyspace_misses)
    });
    Ok(Stats {
        address: redis.address.clone(),
        version: first.version.clone(),
        mode: first.mode.clone(),
        nodes: redis.nodes.len(),
        used_memory: infos.iter().map(|i| i.used_memory).sum(),
        used_memory_peak: infos.iter().map(|i| i.used_memory_peak).sum(),
        maxmemory: first.maxmemory,
        eviction_policy: first.maxmemory_policy.clone(),
        hit_rate: (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64),
        keyspace_hits: hits,
        keyspace_misses: misses,
        ops_per_sec: infos.iter().map(|i| i.ops_per_sec).sum(),
        connected_clients: infos.iter().map(|i| i.connected_clients).sum(),
        keys: keys_total,
        cache_types: types
            .iter()
            .enumerate()
            .map(|(i, t)| TypeStats {
                name: t.name.clone(),
                pattern: t.pattern.clone(),
                keys: counts[i],
                estimated_bytes: bytes[i] as u64,
                sampled: sampled[i],
            })
            .collect(),
    })
}

/// The hit rate for people: `97.5% (39 hits, 1 miss)` or `n/a (no lookups yet)`.
fn hit_rate_text(stats: &Stats) -> String {
    stats.hit_rate.map_or_else(
        || "n/a (no lookups yet)".to_string(),
        |r| {
            format!(
                "{:.1}% ({} hits, {} misses)",
                r * 100.0,
                thousands(stats.keyspace_hits),
                thousands(stats.keyspace_misses)
            )
        },
    )
}

/// The report of one server for people.
fn report_text(stats: &Stats) -> String {
    let mut text = String::new();
    text.push_str(&format!(
        "Server:        {} (Redis {}, {}{})\n",
        stats.address,
        stats.version,
        stats.mode,
        if stats.nodes > 1 {
            format!(", {} primaries", stats.nodes)
        } else {
            String::new()
        }
    ));
    text.push_str(&format!(
        "Memory:        used {}, peak {}, max {}\n",
        human_bytes(stats.used_memory),
        human_bytes(stats.used_memory_peak),
        if stats.maxmemory == 0 {
            "unlimited".to_string()
        } else {
            human_bytes(stats.maxmemory)
        }
    ));
    text.push_str(&format!("Eviction:      {}\n", stats.eviction_policy));
    text.push_str(&format!("Hit rate:      {}\n", hit_rate_text(stats)));
    text.push_str(&format!(
        "Ops/s:         {}\nClients:       {}\nKeys:          {}\n\n",
        stats.ops_per_sec,
        stats.connected_clients,
        thousands(stats.keys)
    ));
    let mut table = Table::new(["cache type", "pattern", "keys", "est. memory", "sampled"]);
    for t in &stats.cache_types {
        table.push([
            t.name.clone(),
            t.pattern.clone(),
            thousands(t.keys),
            human_bytes(t.estimated_bytes),
            t.sampled.to_string(),
        ]);
    }
    text.push_str(&table.render());
    text
}

/// One context's report on a fleet: its stats, or why the context failed.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ContextStats {
    /// The context answered.
    Stats {
        /// The kubeconfig context.
        context: String,
        /// Its report.
        #[serde(flatten)]
        stats: Stats,
    },
    /// The context failed.
    Failed(FailedContext),
}

/// The JSON/YAML of a fleet: `{"apiVersion", "kind": "StatsList", "items": [...]}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatsList<'a> {
    api_version: &'static str,
    kind: &'static str,
    items: &'a [ContextStats],
}

/// `stats` on each context of a fleet: the in-cluster Redis of each through its own
/// port-forward; a server table and a cache-type table with a CONTEXT column (several
/// contexts), a failed context as an `ERROR` row, the summary line on stderr; exit 1 when a
/// context failed.
async fn run_fleet(
    global: &GlobalArgs,
    redis_args: &RedisArgs,
    args: &StatsArgs,
    loaded: &shared::config::LoadedConfig,
    types: &[shared::config::CacheType],
    out: &mut dyn Write,
) -> Result<ExitCode> {
    if args.watch {
        fleet::refuse_fleet(&global.cluster, "`rflush stats --watch`")?;
    }
    // With a URL the contexts would pick nothing: a usage error before anything connects.
    crate::connect::check_flags(global, redis_args, loaded)?;
    let targets = FleetTargets::resolve(&global.cluster)?;
    let outcomes = fan_out(&targets, |_context, conn| async move {
        let redis = connect_with(global, redis_args, loaded, false, Some(conn)).await?;
        gather(&redis, types, args.samples).await
    })
    .await?;
    let code = fleet::worst_exit(&outcomes, |_| 0, shared::exit::FAILURE);
    let summary = fleet::Summary::of(&outcomes);
    let items: Vec<ContextStats> = outcomes
        .into_iter()
        .map(|o| match o.result {
            Ok(stats) => ContextStats::Stats {
                context: o.context,
                stats,
            },
            Err(e) => ContextStats::Failed(FailedContext {
                context: o.context,
                error: shared::exit::render_chain(e.as_ref()),
            }),
        })
        .collect();
    if args.output.output.is_structured() {
        let list = StatsList {
            api_version: shared::output::LIST_API_VERSION,
            kind: "StatsList",
            items: &items,
        };
        print_structured(out, args.output.output, &list)?;
    } else {
        write_str(out, &fleet_text(&items, targets.shows_context()))?;
    }
    summary.print();
    Ok(ExitCode::from(code))
}

/// The fleet's tables for people: one row per server, then one row per context and cache type.
fn fleet_text(items: &[ContextStats], context_column: bool) -> String {
    let lead = |headers: &[&'static str]| -> Vec<&'static str> {
        context_column
            .then_some("context")
            .into_iter()
            .chain(headers.iter().copied())
            .collect()
    };
    let row = |context: &str, cells: Vec<String>| -> Vec<String> {
        context_column
            .then(|| context.to_string())
            .into_iter()
            .chain(cells)
            .collect()
    };
    let mut servers = Table::new(lead(&[
        "status", "server", "version", "mode", "memory", "hit rate", "ops/s", "keys",
    ]));
    let mut per_type = Table::new(lead(&[
        "cache type",
        "pattern",
        "keys",
        "est. memory",
        "sampled",
    ]));
    for item in items {
        match item {
            ContextStats::Stats { context, stats } => {
                servers.push(row(
                    context,
                    vec![
                        "ok".into(),
                        stats.address.clone(),
                        stats.version.clone(),
                        stats.mode.clone(),
                        human_bytes(stats.used_memory),
                        stats
                            .hit_rate
                            .map_or_else(|| "n/a".into(), |r| format!("{:.1}%", r * 100.0)),
                        stats.ops_per_sec.to_string(),
                        thousands(stats.keys),
                    ],
                ));
                for t in &stats.cache_types {
                    per_type.push(row(
                        context,
                        vec![
                            t.name.clone(),
                            t.pattern.clone(),
                            thousands(t.keys),
                            human_bytes(t.estimated_bytes),
                            t.sampled.to_string(),
                        ],
                    ));
                }
            }
            ContextStats::Failed(f) => {
                let mut cells = vec!["ERROR".to_string()];
                cells.extend(std::iter::repeat_n("-".to_string(), 7));
                servers.push(row(&f.context, cells));
            }
        }
    }
    let mut text = servers.render();
    if !per_type.is_empty() {
        text.push('\n');
        text.push_str(&per_type.render());
    }
    text
}
