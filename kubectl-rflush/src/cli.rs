//! The command line of `kubectl rflush`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use shared::cli::{ConfigCommand, GlobalArgs};
use shared::output::{OutputArgs, SummaryOutputArgs};

use crate::connect::RedisArgs;

/// SCAN COUNT default, chosen by measurement (BENCHMARKS.md): the best keys/s that keeps a
/// concurrent GET's p99 within 2 ms on loopback.
pub const DEFAULT_BATCH: usize = 500;

/// Inspect Redis and flush cache keys by type or pattern without blocking it: backed up first, resumable, reversible.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-rflush",
    bin_name = "kubectl rflush",
    version,
    about,
    propagate_version = true
)]
#[command(
    after_help = "Reaching Redis: --redis-url/REDIS_URL, or a port-forward through the Kubernetes API to --target (default statefulset/redis).\n\
Exit codes: 0 ok, 1 failure (including an interrupted flush, which prints a resume command), 2 usage error.\n\
Docs: https://github.com/kubectl-ops/kubectl-ops#kubectl-rflush"
)]
pub struct Cli {
    /// How to reach Redis (listed in `--help` before the kubectl flags).
    #[command(flatten)]
    pub redis: RedisArgs,
    /// Flags shared by every kubectl-ops plugin.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the cache types from the configuration (name, pattern, backup, description).
    List(ListArgs),
    /// Show server facts and, per cache type, key count and estimated memory; --watch keeps refreshing.
    Stats(StatsArgs),
    /// Count the keys of a cache type or pattern exactly, by SCAN.
    Count(CountArgs),
    /// What is in this Redis that no cache type covers: keys and memory per prefix, data type
    /// and TTL, the biggest keys, and cache_types entries for uncovered prefixes.
    Analyze(AnalyzeArgs),
    /// Delete the keys of a cache type or pattern: batched SCAN + UNLINK, backed up first
    /// (--spread: expire them at random within a window instead, so misses arrive gradually).
    Flush(FlushArgs),
    /// Write the keys of a cache type or pattern to a backup file (DUMP + absolute expiry).
    Backup(BackupArgs),
    /// Restore a backup file with RESTORE ... ABSTTL.
    Restore(RestoreArgs),
    /// Print the Kubernetes Role the in-cluster mode needs.
    Rbac(RbacArgs),
    /// Show the effective configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script for kubectl-PLUGIN (bash, zsh, fish, powershell).
    Completion(shared::completion::CompletionArgs),
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Cache types to report (default: all); a Redis glob here works too, like -p.
    #[arg(value_name = "TYPE", conflicts_with = "pattern")]
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(shared::completion::cache_type_candidates))]
    pub types: Vec<String>,
    /// Report the keys matching this Redis glob pattern instead of cache types (repeatable).
    #[arg(long, short = 'p', value_name = "PATTERN")]
    pub pattern: Vec<String>,
    /// Keys sampled per cache type for the memory estimate (MEMORY USAGE).
    #[arg(long, default_value_t = 200, conflicts_with = "watch")]
    pub samples: usize,
    /// Keep watching: every --interval, the hit rate, ops/s, memory, keys per cache type,
    /// evictions and expirations over that interval (Ctrl-C stops). Redrawn on a terminal,
    /// one line per interval otherwise, JSON Lines with -o json.
    #[arg(long, short = 'w')]
    pub watch: bool,
    /// Time between two refreshes of --watch.
    #[arg(long, default_value = "2s", value_parser = parse_interval, requires = "watch")]
    pub interval: std::time::Duration,
    /// Stop --watch after N intervals.
    #[arg(long, value_name = "N", value_parser = parse_at_least_one, requires = "watch")]
    pub count: Option<u64>,
    /// Output format.
    #[command(flatten)]
    pub output: SummaryOutputArgs,
}

/// `analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Analyse only the keys of this cache type (default: every key); a Redis glob here works
    /// too, like -p.
    #[arg(value_name = "TYPE", conflicts_with = "pattern")]
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(shared::completion::cache_type_candidates))]
    pub cache_type: Option<String>,
    /// Analyse only the keys matching this Redis glob pattern (e.g. 'user:*').
    #[arg(long, short = 'p', value_name = "PATTERN")]
    pub pattern: Option<String>,
    /// Draw N random keys (RANDOMKEY): figures are estimates with a stated error bound
    /// [default: 10000].
    #[arg(long, value_name = "N", value_parser = parse_at_least_one, conflicts_with = "full")]
    pub sample: Option<u64>,
    /// Inspect every key (SCAN, paced like flush): exact figures.
    #[arg(long)]
    pub full: bool,
    /// Prefix levels to break the key space into (split on ':').
    #[arg(long, default_value_t = 2, value_parser = parse_depth)]
    pub depth: usize,
    /// How many of the biggest keys to list.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// Confidence level of the sampled estimates' bounds, in percent.
    #[arg(long, value_enum, default_value_t = crate::sample::Confidence::P95, conflicts_with = "full")]
    pub confidence: crate::sample::Confidence,
    /// Keys per pipelined batch: SCAN COUNT with --full [default: 500], RANDOMKEYs per batch
    /// when sampling [default: 100; each RANDOMKEY costs Redis a few µs, so a batch stays
    /// well under a millisecond].
    #[arg(long, value_name = "N", value_parser = parse_at_least_one)]
    pub batch_size: Option<u64>,
    /// Latency budget for other clients: slow down when a probe's round trip exceeds it.
    #[arg(long, default_value = "2ms", value_parser = parse_duration, conflicts_with = "no_pacing")]
    pub max_latency: std::time::Duration,
    /// Disable adaptive pacing.
    #[arg(long)]
    pub no_pacing: bool,
    /// Output format.
    #[command(flatten)]
    pub output: SummaryOutputArgs,
}

/// `count`.
#[derive(Debug, Args)]
#[command(group = keys_group(["what", "pattern"]))]
pub struct CountArgs {
    /// The cache type (see `kubectl rflush list`); a Redis glob here works too, like -p.
    #[arg(value_name = "TYPE", conflicts_with = "pattern")]
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(shared::completion::cache_type_candidates))]
    pub what: Option<String>,
    /// The keys matching this Redis glob pattern instead of a cache type (e.g. 'user:*').
    #[arg(long, short = 'p', value_name = "PATTERN")]
    pub pattern: Option<String>,
    /// SCAN COUNT per call.
    #[arg(long, default_value_t = DEFAULT_BATCH)]
    pub batch_size: usize,
    /// Output format (json/yaml for scripts).
    #[command(flatten)]
    pub output: SummaryOutputArgs,
}

/// `flush`.
#[derive(Debug, Args)]
#[command(group = keys_group(["cache_type", "pattern", "resume"]).multiple(true))]
pub struct FlushArgs {
    /// The cache type (see `kubectl rflush list`); a pattern needs -p here, so a typo cannot widen a flush.
    #[arg(value_name = "TYPE", conflicts_with = "pattern")]
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(shared::completion::cache_type_candidates))]
    pub cache_type: Option<String>,
    /// The keys matching this Redis glob pattern instead of a cache type (e.g. 'user:*').
    #[arg(long, short = 'p', value_name = "PATTERN")]
    pub pattern: Option<String>,
    /// Show what would be deleted (count, sample keys, estimated memory) and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Required with --yes when the pattern matches every key (`*`).
    #[arg(long, requires = "yes")]
    pub flush_everything: bool,
    /// Stop after this many matching keys were unlinked (a key that expired or was deleted by
    /// someone else in between counts toward the cap; the summary counts only real deletions).
    #[arg(long, value_name = "N")]
    pub max_keys: Option<u64>,
    /// SCAN COUNT per batch (keys examined per call; each UNLINK holds at most that many);
    /// the pacer goes below it, down to 50, while latency is over budget.
    #[arg(long, default_value_t = DEFAULT_BATCH)]
    pub batch_size: usize,
    /// Do not back the keys up first (even when the cache type says `backup: true`).
    #[arg(long)]
    pub no_backup: bool,
    /// Backup file [default: BACKUP_DIR/rflush-NAME-TIME.rfb]; also backs up a cache type
    /// that says `backup: false`.
    #[arg(
        long,
        short = 'f',
        visible_alias = "file",
        value_name = "FILE",
        conflicts_with = "no_backup"
    )]
    pub backup_file: Option<PathBuf>,
    /// Cap deletion speed, keys per second per node.
    #[arg(long, value_name = "KEYS_PER_SEC")]
    pub rate: Option<u64>,
    /// Latency budget for other clients: slow down when a probe's round trip exceeds it.
    #[arg(long, default_value = "2ms", value_parser = parse_duration, conflicts_with = "no_pacing")]
    pub max_latency: std::time::Duration,
    /// Disable adaptive pacing (only --rate, if given, applies).
    #[arg(long)]
    pub no_pacing: bool,
    /// Continue an interrupted flush from its checkpoint file.
    #[arg(long, value_name = "CHECKPOINT")]
    pub resume: Option<PathBuf>,
    /// Stampede-safe: instead of deleting, give every matching key a random expiry within this
    /// window (e.g. 10m; at most 30d), so misses arrive gradually. A key that already expires
    /// sooner keeps its TTL.
    #[arg(long, value_name = "DURATION", value_parser = crate::spread::parse_spread)]
    pub spread: Option<std::time::Duration>,
    /// Output format of the summary (json/yaml for scripts).
    #[command(flatten)]
    pub output: SummaryOutputArgs,
}

/// `backup`.
#[derive(Debug, Args)]
#[command(group = keys_group(["what", "pattern"]))]
pub struct BackupArgs {
    /// The cache type (see `kubectl rflush list`); a Redis glob here works too, like -p.
    #[arg(value_name = "TYPE", conflicts_with = "pattern")]
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(shared::completion::cache_type_candidates))]
    pub what: Option<String>,
    /// The keys matching this Redis glob pattern instead of a cache type (e.g. 'user:*').
    #[arg(long, short = 'p', value_name = "PATTERN")]
    pub pattern: Option<String>,
    /// Backup file [default: BACKUP_DIR/rflush-NAME-TIME.rfb].
    #[arg(long, short = 'f', visible_alias = "backup-file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// SCAN COUNT per call.
    #[arg(long, default_value_t = DEFAULT_BATCH)]
    pub batch_size: usize,
    /// Output format of the summary.
    #[command(flatten)]
    pub output: SummaryOutputArgs,
}

/// `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file.
    pub file: PathBuf,
    /// Overwrite keys that exist (otherwise they are skipped and counted).
    #[arg(long)]
    pub replace: bool,
    /// Verify the file and report what would be restored; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (needed for --replace).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Keys per pipelined RESTORE batch.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Output format of the summary.
    #[command(flatten)]
    pub output: SummaryOutputArgs,
}

/// `rbac`.
#[derive(Debug, Args)]
pub struct RbacArgs {
    /// Role name.
    #[arg(long, default_value = "kubectl-rflush")]
    pub name: String,
}

/// The one grammar of every command that selects keys: a cache `TYPE` or `-p PATTERN`, one of
/// them required (`flush` also takes `--resume CHECKPOINT` in their place).
fn keys_group<const N: usize>(args: [&'static str; N]) -> clap::ArgGroup {
    clap::ArgGroup::new("keys").args(args).required(true)
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 2ms, 500us, 1s)"))
}

fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 2s, 500ms)"))?;
    if d.is_zero() {
        return Err("the interval must be longer than 0 (use e.g. 2s, 500ms)".into());
    }
    Ok(d)
}

fn parse_depth(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=16).contains(&n) => Ok(n),
        _ => Err("must be a whole number from 1 to 16".into()),
    }
}

fn parse_at_least_one(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("must be a whole number of at least 1".into()),
    }
}
