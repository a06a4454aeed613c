//! `kubectl rflush restore FILE`: RESTORE ... ABSTTL every key of a backup, pipelined;
//! refuses a dump from a newer RDB version than the target's.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use redis::aio::MultiplexedConnection;
use serde::Serialize;
use shared::Error;
use shared::cli::GlobalArgs;
use shared::prompt::{Answer, confirm};

use crate::backup_format::{BackupReader, Completeness, Record, rdb_version_for};
use crate::cli::RestoreArgs;
use crate::commands::{print_summary, secs, thousands};
use crate::connect::{Redis, RedisArgs, connect, explain};

/// The summary of a restore.
#[derive(Debug, Default, Serialize)]
pub struct RestoreResult {
    /// The file.
    pub file: PathBuf,
    /// Keys in the file.
    pub records: u64,
    /// Keys restored (or, with --dry-run, that would be).
    pub restored: u64,
    /// Keys skipped because they exist (without --replace).
    pub existing: u64,
    /// Keys skipped because their expiry has passed.
    pub expired: u64,
    /// Whether the file was complete (it may be the backup of an interrupted flush).
    pub complete: bool,
    /// Keys per type.
    pub types: BTreeMap<String, u64>,
    /// Seconds taken.
    pub seconds: f64,
    /// True for --dry-run.
    pub dry_run: bool,
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn node_for<'a>(redis: &'a Redis, key: &[u8]) -> &'a crate::connect::Node {
    if !redis.cluster {
        return &redis.nodes[0];
    }
    let slot = crate::cluster::slot(key);
    redis
        .nodes
        .iter()
        .find(|n| n.primary.as_ref().is_some_and(|p| p.owns(slot)))
        .unwrap_or(&redis.nodes[0])
}

async fn restore_batch(
    conn: &mut MultiplexedConnection,
    label: &str,
    batch: &[Record],
    replace: bool,
    dry_run: bool,
    res: &mut RestoreResult,
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    for r in batch {
        if dry_run {
            pipe.cmd("EXISTS").arg(&r.key);
        } else {
            let cmd = pipe
                .cmd("RESTORE")
                .arg(&r.key)
                .arg(r.expire_at_ms.unwrap_or(0))
                .arg(&r.payload);
            if r.expire_at_ms.is_some() {
                cmd.arg("ABSTTL");
            }
            if replace {
                cmd.arg("REPLACE");
            }
        }
    }
    if dry_run {
        let exists: Vec<u64> = pipe
            .query_async(conn)
            .await
            .map_err(|e| explain(e, label))?;
        for e in exists {
            if e > 0 && !replace {
                res.existing += 1;
            } else {
                res.restored += 1;
            }
        }
        return Ok(());
    }
    let results: Vec<redis::RedisResult<redis::Value>> = pipe
        .ignore_errors()
        .query_async(conn)
        .await
        .map_err(|e| explain(e, label))?;
    for (r, rec) in results.into_iter().zip(batch) {
        match r {
            Ok(_) => res.restored += 1,
            Err(e) if e.to_string().contains("BUSYKEY") => res.existing += 1,
            Err(e) if e.to_string().contains("payload version") => {
                return Err(Error::invalid(
                    format!("{label} refused the DUMP payload of {} ({e})", crate::commands::show_key(&rec.key)),
                    "the backup comes from a newer Redis (RDB version) than the target; restore into a Redis at least as new",
                )
                .into());
            }
            Err(e) => {
                return Err(explain(e, label)
                    .context(format!("RESTORE {}", crate::commands::show_key(&rec.key))));
            }
        }
    }
    Ok(())
}

/// Runs `restore`.
pub async fn run(
    global: &GlobalArgs,
    redis_args: &RedisArgs,
    args: &RestoreArgs,
    out: &mut dyn Write,
) -> Result<ExitCode> {
    let loaded = global.load_config()?;
    let mut reader = BackupReader::open(&args.file)?;
    let header = reader.header.clone();
    let redis = connect(global, redis_args, &loaded, !args.dry_run).await?;
    let target_rdb = rdb_version_for(&redis.info.version);
    if header.rdb_version > target_rdb {
        return Err(Error::invalid(
            format!(
                "{} was dumped from Redis {} (RDB version {}), newer than the target's Redis {} (RDB version {target_rdb}); Redis cannot load newer DUMP payloads",
                args.file.display(),
                header.redis_version,
                header.rdb_version,
                redis.info.version
            ),
            "restore into a Redis at least as new as the source",
        )
        .into());
    }
    if !args.dry_run && args.replace {
        confirm(
            Answer::from_flag(args.yes),
            &format!(
                "restore {} with --replace on {}",
                args.file.display(),
                redis.address
            ),
            &format!(
                "Restore {} keys from {} on {}, overwriting existing keys?",
                header_count_text(&reader),
                args.file.display(),
                redis.address
            ),
        )?;
    }
    let start = Instant::now();
    let mut res = RestoreResult {
        file: args.file.clone(),
        dry_run: args.dry_run,
        ..Default::default()
    };
    let batch_size = args.batch_size.max(1);
    let mut batches: Vec<Vec<Record>> = (0..redis.nodes.len()).map(|_| Vec::new()).collect();
    let now = now_ms();
    loop {
        let record = reader
            .next_record()
            .with_context(|| format!("read {}", args.file.display()))?;
        let Some(record) = record else { break };
        res.records += 1;
        if record.rdb_version().is_some_and(|v| v > target_rdb) {
            return Err(Error::invalid(
                format!(
                    "a DUMP payload in {} has RDB version {}, newer than the target's {target_rdb}",
                    args.file.display(),
                    record.rdb_version().unwrap_or(0)
                ),
                "restore into a Redis at least as new as the source",
            )
            .into());
        }
        *res.types.entry(record.kind.clone()).or_default() += 1;
        if record.expire_at_ms.is_some_and(|t| t <= now) {
            res.expired += 1;
            continue;
        }
        let node = node_for(&redis, &record.key);
        let idx = redis
            .nodes
            .iter()
            .position(|n| std::ptr::eq(n, node))
            .unwrap_or(0);
        batches[idx].push(record);
        if batches[idx].len() >= batch_size {
            let batch = std::mem::take(&mut batches[idx]);
            let mut c = node.conn.clone();
            restore_batch(
                &mut c,
                &node.label,
                &batch,
                args.replace,
                args.dry_run,
                &mut res,
            )
            .await?;
        }
    }
    for (idx, batch) in batches.into_iter().enumerate() {
        let node = &redis.nodes[idx];
        let mut c = node.conn.clone();
        restore_batch(
            &mut c,
            &node.label,
            &batch,
            args.replace,
            args.dry_run,
            &mut res,
        )
        .await?;
    }
    res.complete = reader.completeness == Some(Completeness::Complete);
    if !res.complete {
        shared::exit::warn(format!(
            "{} has no end marker: it is the backup of an interrupted run; all {} complete keys in it were read",
            args.file.display(),
            res.records
        ));
    }
    res.seconds = start.elapsed().as_secs_f64();
    let line = format!(
        "{}{} of {} keys from {} to {} in {}{}{}",
        if args.dry_run {
            "dry run: would restore "
        } else {
            "restored "
        },
        thousands(res.restored),
        thousands(res.records),
        args.file.display(),
        redis.address,
        secs(start.elapsed()),
        if res.existing > 0 {
            format!(
                "; {} skipped, they exist (use --replace)",
                thousands(res.existing)
            )
        } else {
            String::new()
        },
        if res.expired > 0 {
            format!("; {} skipped, expired", thousands(res.expired))
        } else {
            String::new()
        },
    );
    print_summary(out, args.output.output, &line, &res)?;
    Ok(ExitCode::SUCCESS)
}

fn header_count_text(reader: &BackupReader) -> String {
    reader
        .header_count
        .map_or_else(|| "the".to_string(), thousands)
}
