//! `kubectl rflush flush TYPE | --pattern P`: batched SCAN + UNLINK, backed up first,
//! paced, resumable. With `--spread WINDOW` the same loop gives each key a random expiry
//! within the window instead of unlinking it (see [`crate::spread`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use shared::Error;
use shared::cli::GlobalArgs;
use shared::prompt::{Answer, confirm, confirm_typed};

use crate::backup_format::BackupWriter;
use crate::checkpoint::{self, Checkpoint};
use crate::cli::FlushArgs;
use crate::commands::{
    Selection, backup::create_writer, default_backup_path, print_summary, secs, select_flush_type,
    select_pattern, select_type, shell_quote, show_key, thousands,
};
use crate::connect::{Redis, RedisArgs, connect, explain, redact};
use crate::engine::{self, Action, NodeCursor, Plan, State};
use crate::pacing::PaceConfig;
use crate::progress::Progress;
use crate::scan;
use crate::spread::{self, Spread};

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
    /// The smallest batch (SCAN COUNT and keys per delete) the pacer went down to, to keep
    /// latency in budget; `--batch-size` when it never had to shrink.
    pub smallest_batch: usize,
    /// False when stopped by --max-keys.
    pub completed: bool,
    /// For a spread flush: what was given an expiry, and the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread: Option<SpreadSummary>,
}

/// The spread part of a flush summary.
#[derive(Debug, Serialize)]
pub struct SpreadSummary {
    /// Keys given a random expiry in the window, this run.
    pub expiring: u64,
    /// The same including earlier runs of a resumed flush.
    pub expiring_total: u64,
    /// Keys left alone this run: they already expire sooner (or were gone already).
    pub kept: u64,
    /// The window's length, seconds.
    pub window_seconds: f64,
    /// When the window ends (the server's clock): every key is gone by then.
    pub expires_by: String,
    /// Keys expiring per second on average over the window (all runs).
    pub misses_per_second: f64,
}

/// The spread part of a dry run.
#[derive(Debug, Serialize)]
pub struct DrySpread {
    /// The window's length, seconds.
    pub window_seconds: f64,
    /// Matching keys per second of the window: the miss rate the backend would see at most
    /// (keys that already expire sooner keep their TTL).
    pub expected_misses_per_second: f64,
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
    /// With --spread: the window and the miss rate it means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread: Option<DrySpread>,
}

fn selection(
    args: &FlushArgs,
    config: &shared::config::Config,
    resume: Option<&Checkpoint>,
) -> Result<Selection> {
    if let Some(cp) = resume {
        check_resume_args(args, cp)?;
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
        (Some(t), _) => select_flush_type(config, t)?,
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

/// `--resume` continues the flush its checkpoint describes, so the selection and backup flags
/// (which the printed resume command repeats) must agree with it rather than be ignored.
fn check_resume_args(args: &FlushArgs, cp: &Checkpoint) -> Result<(), Error> {
    let checkpoint = args
        .resume
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let differs = |flag: String, saved: String| Error::Usage {
        message: format!("{flag} differs from what checkpoint {checkpoint} continues ({saved})"),
        hint: Some(format!(
            "drop {flag}: `--resume {checkpoint}` continues that flush as it was started"
        )),
    };
    let saved_selection = match &cp.cache_type {
        Some(t) => format!("cache type {t}, pattern {:?}", cp.pattern),
        None => format!("pattern {:?}", cp.pattern),
    };
    if let Some(t) = &args.cache_type
        && cp.cache_type.as_deref() != Some(t.as_str())
    {
        return Err(differs(format!("TYPE {t}"), saved_selection));
    }
    if let Some(p) = &args.pattern
        && (cp.cache_type.is_some() || *p != cp.pattern)
    {
        return Err(differs(format!("-p {p:?}"), saved_selection));
    }
    let saved_backup = match &cp.backup_file {
        Some(f) => format!("backup {}", f.display()),
        None => "no backup".into(),
    };
    if let Some(f) = &args.backup_file
        && cp.backup_file.as_ref() != Some(f)
    {
        return Err(differs(
            format!("--backup-file {}", f.display()),
            saved_backup,
        ));
    }
    if args.no_backup && cp.backup_file.is_some() {
        return Err(differs("--no-backup".into(), saved_backup));
    }
    Ok(())
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

/// Unix ms as `2026-12-03T14:23:05Z`.
fn utc(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.replace_millisecond(0)
                .ok()?
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{ms} ms after 1970"))
}

/// The options this invocation gave that apply to every subcommand (how to reach Kubernetes
/// and Redis), in order, with any password in a URL redacted and password flags pointing at
/// their environment variables instead of repeating the secret.
fn connection_args() -> Vec<String> {
    let command = <crate::cli::Cli as clap::CommandFactory>::command();
    let global: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
        .collect();
    let takes_value = |a: &clap::Arg| a.get_action().takes_values();
    let mut out = Vec::new();
    let mut argv = std::env::args().skip(1);
    while let Some(token) = argv.next() {
        if token == "--" {
            break;
        }
        let (arg, inline) = if let Some(long) = token.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            (global.iter().find(|a| a.get_long() == Some(name)), value)
        } else if let Some(short) = token.strip_prefix('-').filter(|s| !s.is_empty()) {
            let mut chars = short.chars();
            let c = chars.next();
            let rest: String = chars.collect();
            (
                global.iter().find(|a| a.get_short() == c),
                (!rest.is_empty()).then_some(rest),
            )
        } else {
            (None, None)
        };
        let Some(arg) = arg else { continue };
        // As the user spelled it (`-n` stays `-n`).
        let flag = match token.split_once('=') {
            Some((flag, _)) => flag.to_string(),
            None if token.starts_with("--") => token.clone(),
            None => token.chars().take(2).collect(),
        };
        let long = arg.get_long().map(|l| format!("--{l}"));
        if !takes_value(arg) {
            out.push(flag);
            continue;
        }
        let Some(value) = inline.or_else(|| argv.next()) else {
            continue;
        };
        out.push(flag.clone());
        out.push(match long.as_deref().unwrap_or_default() {
            "--redis-url" => shell_quote(&redact(&value)),
            "--redis-password" => "\"$REDIS_PASSWORD\"".into(),
            "--sentinel-password" => "\"$REDIS_SENTINEL_PASSWORD\"".into(),
            _ => shell_quote(&value),
        });
    }
    out
}

/// Why a flush whose nodes all stopped without an error did not finish: Ctrl-C only when
/// Ctrl-C set the stop flag, otherwise the nodes whose scan is not done.
fn stop_reason(ctrl_c: bool, cursors: &[NodeCursor]) -> String {
    if ctrl_c {
        return "flush interrupted (Ctrl-C)".into();
    }
    let unfinished: Vec<&str> = cursors
        .iter()
        .filter(|c| !c.done)
        .map(|c| c.node.as_str())
        .collect();
    format!(
        "flush stopped before the scan of {} finished",
        unfinished.join(", ")
    )
}

/// The pacing part of the summary line: how far the pacer shrank the batches and how long it
/// paused, or nothing when it did neither.
fn pacing_note(paused: std::time::Duration, smallest_batch: usize, batch: usize) -> String {
    let mut parts = Vec::new();
    if smallest_batch < batch {
        parts.push(format!("batches down to {smallest_batch} keys"));
    }
    if paused.as_millis() >= 10 {
        parts.push(format!("paused {}", secs(paused)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(", paced to keep latency in budget: {}", parts.join(", "))
    }
}

/// `kubectl rflush [connection options] stats --watch TYPE|-p PATTERN`: follow the cache
/// refilling after a flush.
fn watch_command(sel: &Selection) -> String {
    let mut parts = vec!["kubectl".to_string(), "rflush".to_string()];
    parts.extend(connection_args());
    parts.push("stats".into());
    parts.push("--watch".into());
    match &sel.cache_type {
        Some(t) => parts.push(shell_quote(&t.name)),
        None => {
            parts.push("-p".into());
            parts.push(shell_quote(&sel.pattern));
        }
    }
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
        spread: None,
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
        spread: args.spread.map(|window| DrySpread {
            window_seconds: window.as_secs_f64(),
            expected_misses_per_second: keys as f64 / window.as_secs_f64(),
        }),
    };
    if args.output.output.is_structured() {
        shared::output::print_structured(out, args.output.output, &report)?;
    } else {
        let mut text = format!(
            "dry run: would {} {} keys matching {:?} on {} (about {} freed, estimated from {} sampled keys){}\n",
            if report.spread.is_some() {
                "expire"
            } else {
                "delete"
            },
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
        if let Some(s) = &report.spread {
            text.push_str(&format!(
                "spread: each key expires at a random time within {}: about {:.0} misses/s instead of {} at once (keys that already expire sooner keep their TTL)\n",
                humantime::format_duration(Duration::from_secs_f64(s.window_seconds)),
                s.expected_misses_per_second,
                thousands(keys)
            ));
        }
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
    if let (Some(cp), Some(path)) = (&resume, &args.resume)
        && cp.spread.is_none()
        && args.spread.is_some()
    {
        return Err(Error::Usage {
            message: format!(
                "{} is the checkpoint of a flush that deletes, not of a spread flush",
                path.display()
            ),
            hint: Some(
                "resume it without --spread, or start a new spread flush without --resume".into(),
            ),
        }
        .into());
    }
    let saved_spread = resume.as_ref().and_then(|c| c.spread.clone());
    let spreading = args.spread.is_some() || saved_spread.is_some();
    let backup_wanted = match &resume {
        Some(cp) => cp.backup_file.is_some(),
        None => {
            !args.no_backup
                && (args.backup_file.is_some() || sel.cache_type.as_ref().is_none_or(|t| t.backup))
        }
    };
    let redis = connect(global, redis_args, &loaded, !args.dry_run).await?;
    if spreading {
        for node in &redis.nodes {
            let mut c = node.conn.clone();
            spread::check_node(&mut c)
                .await
                .map_err(|e| e.context(format!("--spread on {}", node.label)))?;
        }
    }
    if let Some(saved) = &saved_spread {
        let mut c = redis.nodes[0].conn.clone();
        let now = spread::server_time_ms(&mut c)
            .await
            .map_err(|e| explain(e, &redis.nodes[0].label))?;
        if now >= saved.deadline_ms {
            return Err(Error::invalid(
                format!(
                    "the spread window of this checkpoint ended at {} ({} keys were given an expiry before the interruption)",
                    utc(saved.deadline_ms),
                    thousands(saved.expiring)
                ),
                "start a new spread flush without --resume (keys that already expire sooner keep their expiry)",
            )
            .into());
        }
    }
    if args.dry_run {
        return dry_run(&redis, &sel, args, backup_wanted, out).await;
    }

    // Confirmation.
    let sizes = engine::dbsizes(&redis).await?;
    let total: u64 = sizes.iter().sum();
    let window = args.spread.or(saved_spread
        .as_ref()
        .map(|s| Duration::from_millis(s.window_ms)));
    let action = format!(
        "{} keys matching {:?} on {}",
        if spreading { "spread-flush" } else { "flush" },
        sel.pattern,
        redis.address
    );
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
            &match window {
                Some(w) => format!(
                    "This expires EVERY key ({}) on {} within {}.",
                    thousands(total),
                    redis.address,
                    humantime::format_duration(w)
                ),
                None => format!(
                    "This deletes EVERY key ({}) on {}.",
                    thousands(total),
                    redis.address
                ),
            },
            &redis.address,
        )?;
    } else {
        confirm(
            Answer::from_flag(args.yes),
            &action,
            &format!(
                "{} keys matching {:?} on {} ({} keys in the database){}?",
                match window {
                    Some(w) => format!(
                        "Expire at random within {} the",
                        humantime::format_duration(w)
                    ),
                    None => "Flush".to_string(),
                },
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
    let (earlier_expiring, earlier_kept) = saved_spread
        .as_ref()
        .map_or((0, 0), |s| (s.expiring, s.kept));
    // The window starts now (after the confirmation); a resumed run keeps the saved end.
    let spread = match (&saved_spread, args.spread) {
        (Some(saved), _) => Some(Spread::resumed(saved)),
        (None, Some(window)) => {
            let mut c = redis.nodes[0].conn.clone();
            let now = spread::server_time_ms(&mut c)
                .await
                .map_err(|e| explain(e, &redis.nodes[0].label))?;
            Some(Spread::new(now, window))
        }
        (None, None) => None,
    };
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
        spread: spread.clone(),
    };
    let make_checkpoint = {
        let state = state.clone();
        let spread = spread.clone();
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
            spread: spread.as_ref().map(|s| {
                s.saved(
                    earlier_expiring + state.expiring.load(Ordering::Relaxed),
                    earlier_kept + state.kept.load(Ordering::Relaxed),
                )
            }),
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

    let progress = Progress::new(total, if spreading { "expiring" } else { "deleted" });
    let start = Instant::now();
    let result = engine::run(&redis, &plan, &state, &sizes, &progress).await;
    progress.finish();
    // Wait for the ticker to stop: a save it is in the middle of must not land after the
    // final checkpoint (or after the checkpoint of a completed flush was removed).
    ticker.abort();
    let _ = ticker.await;
    ctrl_c.abort();
    let batch_size = plan.batch;
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
        let expiring = state.expiring.load(Ordering::Relaxed);
        let kept = state.kept.load(Ordering::Relaxed);
        let handled = if spread.is_some() {
            expiring + kept
        } else {
            deleted
        };
        let rate = handled as f64 / elapsed.as_secs_f64().max(1e-9);
        let spread_summary = spread.as_ref().map(|s| SpreadSummary {
            expiring,
            expiring_total: earlier_expiring + expiring,
            kept,
            window_seconds: s.window.as_secs_f64(),
            expires_by: utc(s.deadline_ms),
            misses_per_second: (earlier_expiring + expiring) as f64 / s.window.as_secs_f64(),
        });
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
            smallest_batch: state.smallest_batch().unwrap_or(batch_size),
            completed: complete,
            spread: spread_summary,
        };
        let pacing_note = pacing_note(state.paused(), res.smallest_batch, batch_size);
        let line = if let Some(sp) = &res.spread {
            format!(
                "{} {} keys matching {:?} on {} an expiry in {} ({:.0} keys/s{pacing_note}): they expire at random by {}, about {:.0} misses/s{}{}{}",
                if complete {
                    "gave"
                } else {
                    "stopped at --max-keys after giving"
                },
                thousands(expiring),
                sel.pattern,
                redis.address,
                secs(elapsed),
                rate,
                sp.expires_by,
                sp.misses_per_second,
                if kept > 0 {
                    format!(
                        "; {} kept their own expiry (sooner, or already gone)",
                        thousands(kept)
                    )
                } else {
                    String::new()
                },
                if earlier_expiring > 0 {
                    format!("; {} in all runs", thousands(sp.expiring_total))
                } else {
                    String::new()
                },
                backup_note
            )
        } else {
            format!(
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
            )
        };
        print_summary(out, args.output.output, &line, &res)?;
        shared::exit::hint(format!(
            "watch the recovery (hit rate, misses, memory): {}",
            watch_command(&sel)
        ));
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
        Ok(()) => (
            anyhow::anyhow!(
                "{}",
                stop_reason(state.stop.load(Ordering::Relaxed), &state.cursors())
            ),
            true,
        ),
    };
    if spread.is_some() {
        let expiring = state.expiring.load(Ordering::Relaxed);
        eprintln!(
            "gave {} keys an expiry before stopping{}{}",
            thousands(expiring),
            if earlier_expiring > 0 {
                format!(" ({} in all runs)", thousands(earlier_expiring + expiring))
            } else {
                String::new()
            },
            backup_note
        );
    } else {
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
    }
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

#[cfg(test)]
mod tests {
    use super::{pacing_note, stop_reason};
    use crate::engine::NodeCursor;
    use std::time::Duration;

    #[test]
    fn the_stop_reason_says_ctrl_c_only_when_ctrl_c_stopped_the_flush() {
        let cursors =
            [("a:6379", true), ("b:6379", false), ("c:6379", false)].map(|(node, done)| {
                NodeCursor {
                    node: node.into(),
                    cursor: if done { 0 } else { 42 },
                    done,
                    run_id: "r".into(),
                }
            });
        assert_eq!(stop_reason(true, &cursors), "flush interrupted (Ctrl-C)");
        let other = stop_reason(false, &cursors);
        assert_eq!(
            other,
            "flush stopped before the scan of b:6379, c:6379 finished"
        );
    }

    #[test]
    fn the_pacing_note_says_what_the_pacer_did_and_nothing_when_it_did_nothing() {
        assert_eq!(pacing_note(Duration::ZERO, 500, 500), "");
        assert_eq!(pacing_note(Duration::from_millis(9), 500, 500), "");
        assert_eq!(
            pacing_note(Duration::ZERO, 120, 500),
            ", paced to keep latency in budget: batches down to 120 keys"
        );
        let both = pacing_note(Duration::from_millis(1500), 50, 500);
        assert!(
            both.starts_with(", paced to keep latency in budget: batches down to 50 keys, paused "),
            "{both}"
        );
    }
}
