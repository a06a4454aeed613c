//! `kubectl rflush backup PATTERN|TYPE [-f FILE]`: DUMP + absolute expiry of every key to a
//! streamed, checksummed file (mode 0600).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use shared::cli::GlobalArgs;

use crate::backup_format::{BackupWriter, Header, rdb_version_for};
use crate::cli::BackupArgs;
use crate::commands::{default_backup_path, print_summary, secs, select_keys, thousands};
use crate::connect::{Redis, RedisArgs, connect};
use crate::engine::{self, Action, Plan, State};
use crate::pacing::PaceConfig;
use crate::progress::Progress;

/// The result of `backup`.
#[derive(Debug, Serialize)]
pub struct BackupResult {
    /// The pattern.
    pub pattern: String,
    /// Keys written.
    pub keys: u64,
    /// The file.
    pub file: PathBuf,
    /// File size in bytes.
    pub bytes: u64,
    /// Seconds taken.
    pub seconds: f64,
}

/// Creates a backup file for `pattern` on `redis`.
pub fn create_writer(redis: &Redis, path: &Path, pattern: &str) -> Result<BackupWriter> {
    let now = time::OffsetDateTime::now_utc();
    let header = Header {
        format: "kubectl-rflush-backup".into(),
        redis_version: redis.info.version.clone(),
        rdb_version: rdb_version_for(&redis.info.version),
        pattern: pattern.to_string(),
        source: redis.address.clone(),
        created_at: now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        created_at_ms: (now.unix_timestamp_nanos() / 1_000_000) as i64,
        tool: format!("kubectl-rflush {}", env!("CARGO_PKG_VERSION")),
    };
    BackupWriter::create(path, &header)
}

/// Runs `backup`.
pub async fn run(
    global: &GlobalArgs,
    redis_args: &RedisArgs,
    args: &BackupArgs,
    out: &mut dyn Write,
) -> Result<ExitCode> {
    let loaded = global.load_config()?;
    let selection = select_keys(
        &loaded.config,
        args.what.as_deref(),
        args.pattern.as_deref(),
    )?;
    let redis = connect(global, redis_args, &loaded, false).await?;
    let path = args
        .file
        .clone()
        .unwrap_or_else(|| default_backup_path(&loaded.config.backup_dir, &selection.file_stem()));
    let writer = Arc::new(Mutex::new(create_writer(
        &redis,
        &path,
        &selection.pattern,
    )?));
    let sizes = engine::dbsizes(&redis).await?;
    let state = State::new(engine::fresh_cursors(&redis).await?);
    let plan = Plan {
        pattern: selection.pattern.clone(),
        batch: args.batch_size.max(1),
        action: Action::Backup,
        backup: Some(writer.clone()),
        max_keys: None,
        pace: PaceConfig {
            rate: None,
            max_latency: None,
        },
        sample: 0,
        spread: None,
    };
    let progress = Progress::new(sizes.iter().sum(), "");
    let start = Instant::now();
    let result = engine::run(&redis, &plan, &state, &sizes, &progress).await;
    progress.finish();
    drop(plan);
    let writer = Arc::try_unwrap(writer)
        .ok()
        .context("backup writer still in use")?
        .into_inner()
        .expect("writer lock");
    if let Err(f) = result {
        let n = writer.count();
        drop(writer);
        return Err(f.error.context(format!(
            "backup on {} stopped after {n} keys; {} holds them",
            f.node,
            path.display()
        )));
    }
    let keys = writer.finish()?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let elapsed = start.elapsed();
    let res = BackupResult {
        pattern: selection.pattern.clone(),
        keys,
        file: path.clone(),
        bytes,
        seconds: elapsed.as_secs_f64(),
    };
    let line = format!(
        "backed up {} keys matching {:?} to {} ({}) in {}",
        thousands(keys),
        selection.pattern,
        path.display(),
        crate::info::human_bytes(bytes),
        secs(elapsed)
    );
    print_summary(out, args.output.output, &line, &res)?;
    Ok(ExitCode::SUCCESS)
}
