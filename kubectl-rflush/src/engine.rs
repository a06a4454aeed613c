//! The SCAN loop shared by `count`, `backup` and `flush`: one cursor per node (each cluster
//! primary), the next SCAN overlapped with the current batch's work, keys backed up and
//! fsynced before they are unlinked (or, for a spread flush, given their random expiry),
//! cursors saved for resuming, pacing after every batch.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};

use futures::StreamExt;

use crate::backup_format::{BackupWriter, Record};
use crate::connect::{Redis, explain};
use crate::pacing::{PaceConfig, Pacer, Probe};
use crate::progress::{Progress, cursor_fraction};
use crate::scan::{self, Key};
use crate::spread::{NodeSpread, Spread};

/// Keys backed up between two fsyncs (each fsync is followed by the UNLINKs it covers).
const SYNC_GROUP: usize = 5000;

/// Pages whose DUMPs may be in flight at once while backing up.
const DUMP_DEPTH: usize = 2;

/// What to do with the keys found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Count them (and keep a sample).
    Count,
    /// Write them to the backup file.
    Backup,
    /// Back up (when a backup file is given) and delete, or with [`Plan::spread`] give each
    /// key a random expiry in the spread window instead.
    Flush,
}

/// One run of the loop.
pub struct Plan {
    /// SCAN MATCH pattern.
    pub pattern: String,
    /// SCAN COUNT.
    pub batch: usize,
    /// What to do.
    pub action: Action,
    /// Backup file, for Backup and (optionally) Flush.
    pub backup: Option<Arc<Mutex<BackupWriter>>>,
    /// Stop after deleting this many keys.
    pub max_keys: Option<u64>,
    /// Pacing (Flush only).
    pub pace: PaceConfig,
    /// How many matching keys to keep as a sample.
    pub sample: usize,
    /// Flush only: expire the keys at random within this window instead of unlinking them.
    pub spread: Option<Spread>,
}

/// Where one node's scan is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCursor {
    /// The node's label.
    pub node: String,
    /// The cursor of the first page not fully processed.
    pub cursor: u64,
    /// Whether the node's scan finished.
    pub done: bool,
    /// The server's run_id (a restarted server invalidates the cursor).
    pub run_id: String,
}

/// Counters and cursors, shared with the progress display and the checkpoint writer.
#[derive(Default)]
pub struct State {
    /// Keys SCAN returned (duplicates possible).
    pub matched: AtomicU64,
    /// Keys UNLINK reported deleted.
    pub deleted: AtomicU64,
    /// Keys written to the backup.
    pub backed_up: AtomicU64,
    /// Spread flush: keys given a random expiry in the window.
    pub expiring: AtomicU64,
    /// Spread flush: keys left alone because they already expire sooner (or were gone).
    pub kept: AtomicU64,
    /// Per node cursors.
    pub cursors: Mutex<Vec<NodeCursor>>,
    /// Sampled keys.
    pub sample: Mutex<Vec<Key>>,
    /// Set by Ctrl-C: finish the batch in hand and stop.
    pub stop: AtomicBool,
    /// Microseconds the pacers paused, summed over nodes.
    paused_micros: AtomicU64,
    /// Keys handed to UNLINK so far, counted against `--max-keys`.
    reserved: AtomicU64,
    /// Set when `--max-keys` keys were handed to UNLINK and the scan stopped there.
    max_reached: AtomicBool,
}

impl State {
    /// A state starting at the given cursors.
    pub fn new(cursors: Vec<NodeCursor>) -> Arc<Self> {
        Arc::new(State {
            cursors: Mutex::new(cursors),
            ..Default::default()
        })
    }

    /// A copy of the cursors.
    pub fn cursors(&self) -> Vec<NodeCursor> {
        self.cursors.lock().expect("cursors").clone()
    }

    /// Time the pacers spent pausing between batches, summed over nodes.
    pub fn paused(&self) -> Duration {
        Duration::from_micros(self.paused_micros.load(Ordering::Relaxed))
    }

    /// True when the flush stopped because `--max-keys` keys were handed to UNLINK (keys
    /// that expired or were deleted by others in between count toward the cap).
    pub fn max_reached(&self) -> bool {
        self.max_reached.load(Ordering::SeqCst)
    }

    /// True when every node finished its scan.
    pub fn complete(&self) -> bool {
        self.cursors().iter().all(|c| c.done)
    }
}

/// Why a node's loop ended early.
#[derive(Debug)]
pub struct NodeFailure {
    /// The node.
    pub node: String,
    /// The error.
    pub error: anyhow::Error,
}

/// Runs the plan on every node concurrently. Returns the first failure, if any, after every
/// node stopped (the state then holds resumable cursors).
pub async fn run(
    redis: &Redis,
    plan: &Plan,
    state: &Arc<State>,
    dbsizes: &[u64],
    progress: &Progress,
) -> Result<(), NodeFailure> {
    let mut tasks = Vec::new();
    for (i, node) in redis.nodes.iter().enumerate() {
        let probe = if plan.action == Action::Flush && plan.pace.max_latency.is_some() {
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
        let pacer = Pacer::new(plan.pace, probe);
        tasks.push(run_node(
            i,
            node.conn.clone(),
            node.label.clone(),
            redis.cluster,
            plan,
            state.clone(),
            pacer,
            dbsizes,
            progress,
        ));
    }
    let results = futures::future::join_all(tasks).await;
    results
        .into_iter()
        .find_map(Result::err)
        .map_or(Ok(()), Err)
}

fn update_progress(state: &State, dbsizes: &[u64], progress: &Progress, plan: &Plan) {
    let cursors = state.cursors();
    let scanned: f64 = cursors
        .iter()
        .zip(dbsizes)
        .map(|(c, size)| {
            if c.done {
                *size as f64
            } else {
                cursor_fraction(c.cursor) * *size as f64
            }
        })
        .sum();
    let msg = match plan.action {
        Action::Count => format!("{} matching", state.matched.load(Ordering::Relaxed)),
        Action::Backup => format!("{} backed up", state.backed_up.load(Ordering::Relaxed)),
        Action::Flush if plan.spread.is_some() => {
            format!("{} expiring", state.expiring.load(Ordering::Relaxed))
        }
        Action::Flush => format!("{} deleted", state.deleted.load(Ordering::Relaxed)),
    };
    progress.update(scanned as u64, msg);
}

/// One SCAN page with, when backing up, its keys' DUMPs (aligned with the keys).
struct Page {
    next: u64,
    keys: Vec<Key>,
    records: Option<Vec<Option<Record>>>,
}

/// The node's pages in cursor order. SCANs run one after another (each needs the previous
/// cursor) while up to [`DUMP_DEPTH`] pages' DUMPs are in flight, so Redis always has the
/// next request queued while this side writes the previous page to disk.
fn pages<'a>(
    conn: &'a MultiplexedConnection,
    plan: &'a Plan,
    start: u64,
) -> impl futures::Stream<Item = redis::RedisResult<Page>> + 'a {
    let scans = futures::stream::unfold(Some(start), move |cursor| async move {
        let cursor = cursor?;
        let mut c = conn.clone();
        Some(
            match scan::scan_page(&mut c, cursor, &plan.pattern, plan.batch).await {
                Ok((next, keys)) => (Ok((next, keys)), (next != 0).then_some(next)),
                Err(e) => (Err(e), None),
            },
        )
    });
    let dumping = plan.backup.is_some() && plan.action != Action::Count;
    scans
        .map(move |page| async move {
            let (next, keys) = page?;
            let records = if dumping && !keys.is_empty() {
                Some(scan::dump(&mut conn.clone(), &keys).await?)
            } else {
                None
            };
            Ok(Page {
                next,
                keys,
                records,
            })
        })
        .buffered(DUMP_DEPTH)
}

#[allow(clippy::too_many_arguments)]
async fn run_node(
    index: usize,
    conn: MultiplexedConnection,
    label: String,
    cluster_mode: bool,
    plan: &Plan,
    state: Arc<State>,
    mut pacer: Pacer,
    dbsizes: &[u64],
    progress: &Progress,
) -> Result<(), NodeFailure> {
    let start = state.cursors.lock().expect("cursors")[index].clone();
    if start.done {
        return Ok(());
    }
    let mut spread = match &plan.spread {
        Some(s) if plan.action == Action::Flush => {
            let mut c = conn.clone();
            Some(
                s.for_node(&mut c, index)
                    .await
                    .map_err(|error| NodeFailure {
                        node: label.clone(),
                        error,
                    })?,
            )
        }
        _ => None,
    };
    let result = scan_node(
        index,
        start.cursor,
        &conn,
        &label,
        cluster_mode,
        plan,
        &state,
        &mut pacer,
        spread.as_mut(),
        dbsizes,
        progress,
    )
    .await;
    state
        .paused_micros
        .fetch_add(pacer.paused.as_micros() as u64, Ordering::Relaxed);
    result
}

#[allow(clippy::too_many_arguments)]
async fn scan_node(
    index: usize,
    start_cursor: u64,
    conn: &MultiplexedConnection,
    label: &str,
    cluster_mode: bool,
    plan: &Plan,
    state: &State,
    pacer: &mut Pacer,
    mut spread: Option<&mut NodeSpread>,
    dbsizes: &[u64],
    progress: &Progress,
) -> Result<(), NodeFailure> {
    let fail = |error: anyhow::Error| NodeFailure {
        node: label.to_string(),
        error,
    };
    let mut pages = std::pin::pin!(pages(conn, plan, start_cursor));
    let mut work = conn.clone();
    let mut unsynced: Vec<Key> = Vec::new();
    while let Some(page) = pages.next().await {
        let Page {
            next,
            mut keys,
            records,
        } = page.map_err(|e| fail(explain(e, label)))?;
        let stop_now = state.stop.load(Ordering::Relaxed);
        state
            .matched
            .fetch_add(keys.len() as u64, Ordering::Relaxed);
        if plan.sample > 0 && !keys.is_empty() {
            let mut s = state.sample.lock().expect("sample");
            let room = plan.sample.saturating_sub(s.len());
            s.extend(keys.iter().take(room).cloned());
        }
        let mut reached_max = false;
        if plan.action == Action::Flush
            && let Some(max) = plan.max_keys
        {
            let before = state
                .reserved
                .fetch_add(keys.len() as u64, Ordering::SeqCst);
            let allowed = max.saturating_sub(before).min(keys.len() as u64) as usize;
            if allowed < keys.len() || before + allowed as u64 >= max {
                keys.truncate(allowed);
                reached_max = true;
                state.max_reached.store(true, Ordering::SeqCst);
            }
        }
        let last = next == 0 || reached_max || stop_now;
        if plan.action != Action::Count && !keys.is_empty() {
            if let (Some(backup), Some(records)) = (&plan.backup, records) {
                let records: Vec<Record> = records.into_iter().take(keys.len()).flatten().collect();
                state
                    .backed_up
                    .fetch_add(records.len() as u64, Ordering::Relaxed);
                if plan.action == Action::Flush {
                    unsynced.extend(records.iter().map(|r| r.key.clone()));
                }
                let backup = backup.clone();
                tokio::task::block_in_place(|| -> Result<()> {
                    let mut w = backup.lock().expect("backup writer");
                    for r in &records {
                        w.write(r)?;
                    }
                    Ok(())
                })
                .map_err(&fail)?;
            } else {
                unsynced.extend(keys.iter().cloned());
            }
        }
        // Delete in groups: one fsync covers several pages, and every key is on disk
        // before its UNLINK is sent. UNLINKs stay at most one page each.
        let group_full = plan.backup.is_none() || unsynced.len() >= SYNC_GROUP;
        if plan.action == Action::Flush && (group_full || last) && !unsynced.is_empty() {
            if let Some(backup) = &plan.backup {
                let backup = backup.clone();
                tokio::task::block_in_place(|| backup.lock().expect("backup writer").sync())
                    .map_err(&fail)?;
            }
            for chunk in unsynced.chunks(plan.batch.max(1)) {
                if let Some(spread) = spread.as_deref_mut() {
                    let done = spread
                        .expire(&mut work, chunk, cluster_mode)
                        .await
                        .map_err(|e| fail(explain(e, label)))?;
                    state.expiring.fetch_add(done.set, Ordering::Relaxed);
                    state.kept.fetch_add(done.kept, Ordering::Relaxed);
                } else {
                    let n = scan::unlink(&mut work, chunk, cluster_mode)
                        .await
                        .map_err(|e| fail(explain(e, label)))?;
                    state.deleted.fetch_add(n, Ordering::Relaxed);
                }
            }
            unsynced.clear();
        }
        if plan.action != Action::Flush || unsynced.is_empty() {
            let mut cursors = state.cursors.lock().expect("cursors");
            cursors[index].cursor = next;
            cursors[index].done = next == 0;
        }
        update_progress(state, dbsizes, progress, plan);
        if last {
            break;
        }
        if plan.action == Action::Flush {
            pacer.after_batch(keys.len() as u64).await;
        }
    }
    if plan.action == Action::Backup
        && let Some(backup) = &plan.backup
    {
        let backup = backup.clone();
        tokio::task::block_in_place(|| backup.lock().expect("backup writer").sync())
            .map_err(&fail)?;
    }
    Ok(())
}

/// DBSIZE of every node.
pub async fn dbsizes(redis: &Redis) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for node in &redis.nodes {
        let mut c = node.conn.clone();
        out.push(
            scan::dbsize(&mut c)
                .await
                .map_err(|e| explain(e, &node.label))?,
        );
    }
    Ok(out)
}

/// Fresh cursors (0) for every node, stamped with each server's run_id.
pub async fn fresh_cursors(redis: &Redis) -> Result<Vec<NodeCursor>> {
    let mut out = Vec::new();
    for node in &redis.nodes {
        let mut c = node.conn.clone();
        let info = crate::info::fetch(&mut c)
            .await
            .map_err(|e| explain(e, &node.label))?;
        out.push(NodeCursor {
            node: node.label.clone(),
            cursor: 0,
            done: false,
            run_id: info.run_id,
        });
    }
    Ok(out)
}
