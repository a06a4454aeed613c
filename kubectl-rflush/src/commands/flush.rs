//! `kubectl rflush flush TYPE | --pattern P`: batched SCAN + UNLINK, backed up first,
//! paced, resumable.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use shared::Error;
use shared::cli::GlobalArgs;
use shared::prompt::{Answer, confirm, confirm_typed};

use crate::backup_format::BackupWriter;
use crate::checkpoint::{self, Checkpoint};
use crate::cli::FlushArgs;
use crate::commands::{
    Selection, backup::create_writer, default_backup_path, print_summary, secs, select_pattern,
    select_type, shell_quote, show_key, thousands,
};
use crate::connect::{Redis, RedisArgs, connect, redact};
use crate::engine::{self, Action, NodeCursor, Plan, State};
use crate::pacing::PaceConfig;
use crate::progress::Progress;
use crate::scan;

/// The summary of a flush (also the `-o json` output).
#[derive(Debug, Serialize)]
pub struct FlushResult {
    /// The pattern.
    pub pattern: String,
    /// Where.
    pub address: String,
    /// Keys deleted (UNLINK's replies), this run.
    pub deleted: u64,
    /// Keys deleted including earlier runs of a resumed flush.
    pub deleted_total: u64,
    /// Keys backed up this run.
    pub backed_up: u64,
    /// The backup file.
    pub backup_file: Option<PathBuf>,
    /// Seconds taken.
    pub seconds: f64,
    /// Keys per second.
    pub keys_per_second: f64,
    /// Seconds spent pausing between batches to keep other clients' latency in budget
    /// (summed over nodes).
    pub paused_seconds: f64,
    /// False when stopped by --max-keys.
    pub completed: bool,
}

/// The `--dry-run` report.
#[derive(Debug, Serialize)]
pub struct DryRun {
    /// The pattern.
    pub pattern: String,
    /// Where.
    pub address: String,
    /// Keys that would be deleted.
    pub keys: u64,
    /// Sample keys (escaped).
    pub sample: Vec<String>,
    /// Estimated memory freed, bytes.
    pub estimated_bytes: u64,
    /// How many keys the estimate sampled.
    pub sampled: usize,
    /// Whether a backup would be written first.
    pub backup: bool,
}

fn selection(
    args: &FlushArgs,
    config: &shared::config::Config,
    resume: Option<&Checkpoint>,
) -> Result<Selection> {
    if let Some(cp) = resume {
        return Ok(match &cp.cache_type {
            Some(t) => select_type(config, t).unwrap_or(Selection {
                pattern: cp.pattern.clone(),
                cache_type: None,
            }),
            None => Selection {
                pattern: cp.pattern.clone(),
                cache_type: None,
            },
        });
    }
    Ok(match (&args.cache_type, &args.pattern) {
        (Some(t), _) => select_type(config, t)?,
        (None, Some(p)) => select_pattern(p)?,
        (None, None) => {
            return Err(Error::Usage {
                message: "name a cache type or --pattern".into(),
                hint: Some("see `kubectl rflush list`".into()),
            }
            .into());
        }
    })
}

/// The command that continues this flush: the same arguments plus `--resume FILE`, with any
/// password in a URL redacted.
fn resume_command(checkpoint: &Path) -> String {
    let mut parts = vec!["kubectl".to_string(), "rflush".to_string()];
    let mut args = std::env::args().skip(1).peekable();
    while let Some(a) = args.next() {
        if a == "--resume" {
            args.next();
            continue;
        }
        if a.starts_with("--resume=") {
            continue;
        }
        if a == "--redis-url" {
            parts.push(a);
            if let Some(url) = args.next() {
                parts.push(shell_quote(&redact(&url)));
            }
            continue;
        }
        if let Some(url) = a.strip_prefix("--redis-url=") {
            parts.push(format!("--redis-url={}", shell_quote(&redact(url))));
            continue;
        }
        parts.push(shell_quote(&a));
    }
    parts.push("--resume".into());
    parts.push(shell_quote(&checkpoint.display().to_string()));
    parts.join(" ")
}

async fn dry_run(
    redis: &Redis,
    sel: &Selection,
    args: &FlushArgs,
    backup: bool,
    out: &mut dyn Write,
) -> Result<ExitCode> {
    let sizes = engine::dbsizes(redis).await?;
    let state = State::new(engine::fresh_cursors(redis).await?);
    let plan = Plan {
        pattern: sel.pattern.clone(),
        batch: args.batch_size.max(1),
        action: Action::Count,
        backup: None,
        max_keys: None,
        pace: PaceConfig {
            rate: None,
            max_latency: None,
        },
        sample: 500,
    };
    let progress = Progress::new(sizes.iter().sum(), "found");
    let result = engine::run(redis, &plan, &state, &sizes, &progress).await;
    progress.finish();
    result.map_err(|f| f.error.context(format!("dry run on {}", f.node)))?;
    let mut keys = state.matched.load(Ordering::Relaxed);
    if let Some(max) = args.max_keys {
        keys = keys.min(max);
    }
    let sample = state.sample.lock().expect("sample").clone();
    // Memory: MEMORY USAGE on the sample, on the node that returned it (cluster: by slot).
    let mut usage = Vec::new();
    for node in &redis.nodes {
        let mine: Vec<Vec<u8>> = sample
            .iter()
            .filter(|k| {
                node.primary
                    .as_ref()
                    .is_none_or(|p| p.owns(crate::cluster::slot(k)))
            })
            .cloned()
            .collect();
        let mut c = node.conn.clone();
        if let Ok(u) = scan::memory_usage(&mut c, &mine).await {
            usage.extend(u.into_iter().flatten());
        }
    }
    let avg = if usage.is_empty() {
        0.0
    } else {
        usage.iter().sum::<u64>() as f64 / usage.len() as f64
    };
    let report = DryRun {
        pattern: sel.pattern.clone(),
        address: redis.address.clone(),
        keys,
        sample: sample.iter().take(10).map(|k| show_key(k)).collect(),
        estimated_bytes: (avg * keys as f64) as u64,
        sampled: usage.len(),
        backup,
    };
    if args.output.output.is_structured() {
        shared::output::print_structured(out, args.output.output, &report)?;
    } else {
        let mut text = format!(
            "dry run: would delete {} keys matching {:?} on {} (about {} freed, estimated from {} sampled keys){}\n",
            thousands(keys),
            sel.pattern,
            redis.address,
            crate::info::human_bytes(report.estimated_bytes),
            report.sampled,
            if backup {
                "; a backup would be written first"
            } else {
                ""
            }
        );
        if !report.sample.is_empty() {
            text.push_str("sample keys:\n");
            for k in &report.sample {
                text.push_str(&format!("  {k}\n"));
            }
        }
        shared::output::write_str(out, &text)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `flush`.
pub async fn run(
    global: &GlobalArgs,
    redis_args: &RedisArgs,
    args: &FlushArgs,
    out: &mut dyn Write,
) -> Result<ExitCode> {
    let loaded = global.load_config()?;
    let resume = args.resume.as_deref().map(Checkpoint::load).transpose()?;
    let sel = selection(args, &loaded.config, resume.as_ref())?;
    let backup_wanted = match &resume {
        Some(cp) => cp.backup_file.is_some(),
        None => !args.no_backup && sel.cache_type.as_ref().is_none_or(|t| t.backup),
    };
    let redis = connect(global, redis_args, &loaded, !args.dry_run).await?;
    if args.dry_run {
        return dry_run(&redis, &sel, args, backup_wanted, out).await;
    }

    // Confirmation.
    let sizes = engine::dbsizes(&redis).await?;
    let total: u64 = sizes.iter().sum();
    let action = format!("flush keys matching {:?} on {}", sel.pattern, redis.address);
    if crate::glob::matches_everything(&sel.pattern) {
        if args.yes && !args.flush_everything {
            return Err(Error::Usage {
                message: format!("the pattern {:?} matches every key ({} on {})", sel.pattern, thousands(total), redis.address),
                hint: Some("add --flush-everything to --yes to confirm, or run interactively and type the address".into()),
            }
            .into());
        }
        confirm_typed(
            Answer::from_flag(args.yes && args.flush_everything),
            &action,
            &format!(
                "This deletes EVERY key ({}) on {}.",
                thousands(total),
                redis.address
            ),
            &redis.address,
        )?;
    } else {
        confirm(
            Answer::from_flag(args.yes),
            &action,
            &format!(
                "Flush keys matching {:?} on {} ({} keys in the database){}?",
                sel.pattern,
                redis.address,
                thousands(total),
                if backup_wanted {
                    ", backing them up first"
                } else {
                    " WITHOUT a backup"
                }
            ),
        )?;
    }

    // Backup file and checkpoint.
    let (writer, backup_path) = if !backup_wanted {
        (None, None)
    } else if let Some(path) = resume.as_ref().and_then(|c| c.backup_file.clone()) {
        let (w, _) = BackupWriter::append(&path)
            .with_context(|| format!("reopen backup {} to continue it", path.display()))?;
        (Some(w), Some(path))
    } else {
        let path = args
            .backup_file
            .clone()
            .unwrap_or_else(|| default_backup_path(&loaded.config.backup_dir, &sel.file_stem()));
        (
            Some(create_writer(&redis, &path, &sel.pattern)?),
            Some(path),
        )
    };
    let checkpoint_path = match (&args.resume, &backup_path) {
        (Some(p), _) => p.clone(),
        (None, Some(b)) => b.with_extension("resume.json"),
        (None, None) => default_backup_path(&loaded.config.backup_dir, &sel.file_stem())
            .with_extension("resume.json"),
    };
    let fresh = engine::fresh_cursors(&redis).await?;
    let cursors: Vec<NodeCursor> = match &resume {
        None => fresh,
        Some(cp) => fresh
            .into_iter()
            .map(|f| match cp.nodes.iter().find(|c| c.node == f.node) {
                Some(saved) if saved.run_id == f.run_id => saved.clone(),
                Some(_) => {
                    shared::exit::warn(format!("{} restarted since the checkpoint; its saved cursor is no longer valid, scanning it again from the start", f.node));
                    f
                }
                None => f,
            })
            .collect(),
    };
    let earlier = resume.as_ref().map_or(0, |c| c.deleted);
    let state = State::new(cursors);
    let writer = writer.map(|w| Arc::new(Mutex::new(w)));
    let plan = Plan {
        pattern: sel.pattern.clone(),
        batch: args.batch_size.max(1),
        action: Action::Flush,
        backup: writer.clone(),
        max_keys: args.max_keys,
        pace: PaceConfig {
            rate: args.rate,
            max_latency: (!args.no_pacing).then_some(args.max_latency),
        },
        sample: 0,
    };
    let make_checkpoint = {
        let state = state.clone();
        let (pattern, cache_type, backup_file, address) = (
            sel.pattern.clone(),
            sel.cache_type.as_ref().map(|t| t.name.clone()),
            backup_path.clone(),
            redis.address.clone(),
        );
        move || Checkpoint {
            kind: checkpoint::KIND.into(),
            pattern: pattern.clone(),
            cache_type: cache_type.clone(),
            backup_file: backup_file.clone(),
            address: address.clone(),
            deleted: earlier + state.deleted.load(Ordering::Relaxed),
            nodes: state.cursors(),
        }
    };
    // Keep the checkpoint fresh so even a killed process can be resumed.
    let ticker = {
        let make = make_checkpoint.clone();
        let path = checkpoint_path.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                let _ = make().save(&path);
            }
        })
    };
    let ctrl_c = {
        let state = state.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                state.stop.store(true, Ordering::Relaxed);
            }
        })
    };

    let progress = Progress::new(total, "deleted");
    let start = Instant::now();
    let result = engine::run(&redis, &plan, &state, &sizes, &progress).await;
    progress.finish();
    ticker.abort();
    ctrl_c.abort();
    drop(plan);
    let elapsed = start.elapsed();
    let deleted = state.deleted.load(Ordering::Relaxed);
    let backed_up = state.backed_up.load(Ordering::Relaxed);
    let complete = result.is_ok() && state.complete();
    let reached_max = state.max_reached();
    let writer = writer.map(|w| {
        Arc::try_unwrap(w)
            .ok()
            .expect("backup writer released")
            .into_inner()
            .expect("writer lock")
    });
    let backup_note = match (&backup_path, &writer) {
        (Some(p), Some(w)) => format!("; backup: {} ({} keys)", p.display(), thousands(w.count())),
        _ => "; no backup".into(),
    };

    if complete || reached_max {
        if let Some(w) = writer {
            w.finish()?;
        }
        let _ = std::fs::remove_file(&checkpoint_path);
        let rate = deleted as f64 / elapsed.as_secs_f64().max(1e-9);
        let res = FlushResult {
            pattern: sel.pattern.clone(),
            address: redis.address.clone(),
            deleted,
            deleted_total: earlier + deleted,
            backed_up,
            backup_file: backup_path.clone(),
            seconds: elapsed.as_secs_f64(),
            keys_per_second: rate,
            paused_seconds: state.paused().as_secs_f64(),
            completed: complete,
        };
        let paused = state.paused();
        let pacing_note = if paused.as_millis() >= 10 {
            format!(", paced {} to keep latency in budget", secs(paused))
        } else {
            String::new()
        };
        let line = format!(
            "{} {} keys matching {:?} on {} in {} ({:.0} keys/s{pacing_note}){}{}",
            if complete {
                "flushed"
            } else {
                "stopped at --max-keys after deleting"
            },
            thousands(deleted),
            sel.pattern,
            redis.address,
            secs(elapsed),
            rate,
            if earlier > 0 {
                format!(", {} in all runs", thousands(earlier + deleted))
            } else {
                String::new()
            },
            backup_note
        );
        print_summary(out, args.output.output, &line, &res)?;
        return Ok(ExitCode::SUCCESS);
    }

    // Interrupted: make everything durable, save where each node stopped, say how to go on.
    if let Some(mut w) = writer {
        w.sync()?;
    }
    let (why, resumable) = match result {
        Err(f) => {
            let text = format!("{:#}", f.error).to_ascii_lowercase();
            let resumable = [
                "cannot reach",
                "connection",
                "broken pipe",
                "reset by peer",
                "timed out",
                "port-forward",
                "eof",
            ]
            .iter()
            .any(|s| text.contains(s));
            (
                f.error.context(format!("flush interrupted on {}", f.node)),
                resumable,
            )
        }
        Ok(()) => (anyhow::anyhow!("flush interrupted (Ctrl-C)"), true),
    };
    eprintln!(
        "deleted {} keys before stopping{}{}",
        thousands(deleted),
        if earlier > 0 {
            format!(" ({} in all runs)", thousands(earlier + deleted))
        } else {
            String::new()
        },
        backup_note
    );
    if resumable {
        if let Err(e) = make_checkpoint().save(&checkpoint_path) {
            shared::exit::warn(format!("could not save the checkpoint: {e:#}"));
        }
        eprintln!("checkpoint: {}", checkpoint_path.display());
        eprintln!("resume with: {}", resume_command(&checkpoint_path));
    } else {
        let _ = std::fs::remove_file(&checkpoint_path);
    }
    Err(why)
}
