//! `kubectl rflush count PATTERN|TYPE`: an exact count by SCAN, with progress.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;
use shared::cli::GlobalArgs;

use crate::cli::CountArgs;
use crate::commands::{print_summary, secs, select_keys, thousands};
use crate::connect::{RedisArgs, connect};
use crate::engine::{self, Action, Plan, State};
use crate::pacing::PaceConfig;
use crate::progress::Progress;

/// The result of `count`.
#[derive(Debug, Serialize)]
pub struct CountResult {
    /// The pattern.
    pub pattern: String,
    /// Keys matching (SCAN may repeat a key while the table resizes).
    pub keys: u64,
    /// Keys in the database(s) (DBSIZE summed over nodes).
    pub dbsize: u64,
    /// Where.
    pub address: String,
    /// Seconds taken.
    pub seconds: f64,
}

/// Runs `count`.
pub async fn run(
    global: &GlobalArgs,
    redis_args: &RedisArgs,
    args: &CountArgs,
    out: &mut dyn Write,
) -> Result<ExitCode> {
    let loaded = global.load_config()?;
    let selection = select_keys(
        &loaded.config,
        args.what.as_deref(),
        args.pattern.as_deref(),
    )?;
    let redis = connect(global, redis_args, &loaded, false).await?;
    let sizes = engine::dbsizes(&redis).await?;
    let state = State::new(engine::fresh_cursors(&redis).await?);
    let plan = Plan {
        pattern: selection.pattern.clone(),
        batch: args.batch_size.max(1),
        action: Action::Count,
        backup: None,
        max_keys: None,
        pace: PaceConfig {
            rate: None,
            max_latency: None,
        },
        sample: 0,
        spread: None,
    };
    let progress = Progress::new(sizes.iter().sum(), "found");
    let start = Instant::now();
    let result = engine::run(&redis, &plan, &state, &sizes, &progress).await;
    progress.finish();
    result.map_err(|f| f.error.context(format!("count on {}", f.node)))?;
    let keys = state.matched.load(std::sync::atomic::Ordering::Relaxed);
    let elapsed = start.elapsed();
    let res = CountResult {
        pattern: selection.pattern.clone(),
        keys,
        dbsize: sizes.iter().sum(),
        address: redis.address.clone(),
        seconds: elapsed.as_secs_f64(),
    };
    let line = format!(
        "{} keys match {:?} (of {} on {}, counted in {})",
        thousands(keys),
        selection.pattern,
        thousands(res.dbsize),
        redis.address,
        secs(elapsed)
    );
    print_summary(out, args.output.output, &line, &res)?;
    Ok(ExitCode::SUCCESS)
}
