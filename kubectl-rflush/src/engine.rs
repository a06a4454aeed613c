//! The SCAN loop shared by `count`, `backup` and `flush`: one cursor per node (each cluster
//! primary), the next SCAN overlapped with the current batch's work, keys backed up and
//! fsynced before they are unlinked (or, for a spread flush, given their random expiry),
//! cursors saved for resuming, pacing after every batch.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};

use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};

use crate::backup_format::{BackupWriter, Record};
use crate::connect::{Redis, explain};
use crate::dup_window::{DupWindow, RECENT_KEYS};
use crate::pacing::{PaceConfig, Pacer, Probe};
use crate::progress::{Progress, cursor_fraction};
use crate::scan::{self, Key};
use crate::spread::{NodeSpread, Outcome, Spread};

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
    /// The smallest SCAN COUNT sent (the pacer shrinks it to keep latency in budget); 0
    /// before the first SCAN.
    smallest_batch: AtomicUsize,
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

    /// The smallest SCAN COUNT (and so the smallest delete batch) any node used, or None
    /// before the first SCAN.
    pub fn smallest_batch(&self) -> Option<usize> {
        match self.smallest_batch.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n),
        }
    }

    /// Notes a SCAN COUNT sent.
    fn batch_used(&self, count: usize) {
        let _ = self
            .smallest_batch
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |seen| {
                (seen == 0 || count < seen).then_some(count)
            });
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
        // A flush follows the pacer's batch size; the others scan at `--batch-size`.
        let adapt = (plan.action == Action::Flush).then_some(plan.batch);
        let pacer = Pacer::new(plan.pace, probe, adapt);
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
    /// Its position in this run's scan of the node (0 = first).
    index: u64,
    next: u64,
    keys: Vec<Key>,
    records: Option<Vec<Option<Record>>>,
    /// How many pages had all their deletes acknowledged when this page's SCAN was sent.
    acked_at_scan: u64,
}

/// The node's pages in cursor order. SCANs run one after another (each needs the previous
/// cursor, and nothing else: not the deletes) while up to [`DUMP_DEPTH`] pages' DUMPs are in
/// flight, so Redis always has the next request queued while this side writes the previous
/// page to disk. Each SCAN asks for `count` keys as it is when the SCAN is sent (the pacer
/// moves it).
fn pages<'a>(
    conn: &'a MultiplexedConnection,
    plan: &'a Plan,
    start: u64,
    acked: &'a AtomicU64,
    count: &'a AtomicUsize,
    state: &'a State,
) -> impl futures::Stream<Item = redis::RedisResult<Page>> + 'a {
    let scans = futures::stream::unfold(Some((start, 0u64)), move |at| async move {
        let (cursor, index) = at?;
        let mut c = conn.clone();
        let batch = count.load(Ordering::Relaxed);
        state.batch_used(batch);
        let acked_at_scan = acked.load(Ordering::SeqCst);
        Some(
            match scan::scan_page(&mut c, cursor, &plan.pattern, batch).await {
                Ok((next, keys)) => (
                    Ok((index, next, keys, acked_at_scan)),
                    (next != 0).then_some((next, index + 1)),
                ),
                Err(e) => (Err(e), None),
            },
        )
    });
    let dumping = plan.backup.is_some() && plan.action != Action::Count;
    scans
        .map(move |page| async move {
            let (index, next, keys, acked_at_scan) = page?;
            let records = if dumping && !keys.is_empty() {
                Some(scan::dump(&mut conn.clone(), &keys).await?)
            } else {
                None
            };
            Ok(Page {
                index,
                next,
                keys,
                records,
                acked_at_scan,
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
    let spread = match &plan.spread {
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
    let mut node = NodeScan {
        index,
        conn: &conn,
        cluster_mode,
        plan,
        state: &state,
        spread,
        dbsizes,
        progress,
        unsynced: Vec::new(),
        dups: DupWindow::default(),
        in_flight: FuturesOrdered::new(),
        delete_failed: false,
        chunk: plan.batch,
    };
    let result = node
        .run(start.cursor, &mut pacer)
        .await
        .map_err(|e| NodeFailure {
            node: label.clone(),
            error: e,
        });
    state
        .paused_micros
        .fetch_add(pacer.paused.as_micros() as u64, Ordering::Relaxed);
    result
}

/// Pages before which the checkpoint's cursor may move once the batch is acknowledged.
#[derive(Debug, Clone, Copy)]
struct Commit {
    /// The last page the batch completes.
    page: u64,
    /// That page's next cursor.
    next: u64,
}

/// What a batch in flight did.
#[derive(Debug, Default)]
struct Done {
    deleted: u64,
    spread: Outcome,
}

type Batch = BoxFuture<'static, (Option<Commit>, redis::RedisResult<Done>)>;

/// Pages SCAN may run ahead of the page being handed to UNLINK.
const SCAN_AHEAD: usize = 2;

/// One node's loop: pages in cursor order, their deletes pipelined (up to the pacer's depth
/// in flight), the cursor saved only up to the last page whose deletes, and those of every
/// page before it, were acknowledged.
struct NodeScan<'a> {
    index: usize,
    conn: &'a MultiplexedConnection,
    cluster_mode: bool,
    plan: &'a Plan,
    state: &'a State,
    spread: Option<NodeSpread>,
    dbsizes: &'a [u64],
    progress: &'a Progress,
    /// Keys backed up but not yet fsynced (and so not yet unlinked).
    unsynced: Vec<Key>,
    dups: DupWindow,
    in_flight: FuturesOrdered<Batch>,
    /// A delete failed: the cursor stays before it, later batches only count.
    delete_failed: bool,
    /// Keys per UNLINK/PEXPIREAT batch now (the pacer's batch size).
    chunk: usize,
}

impl NodeScan<'_> {
    async fn run(&mut self, start_cursor: u64, pacer: &mut Pacer) -> Result<()> {
        let acked = AtomicU64::new(0);
        // Only a flush is paced; count and backup scan at `--batch-size` throughout.
        self.chunk = if self.plan.action == Action::Flush {
            pacer.count()
        } else {
            self.plan.batch
        };
        let count = AtomicUsize::new(self.chunk);
        let mut pages = std::pin::pin!(pages(
            self.conn,
            self.plan,
            start_cursor,
            &acked,
            &count,
            self.state
        ));
        let mut ahead: VecDeque<Page> = VecDeque::new();
        let mut scanning = true;
        let mut scan_ended = false;
        let mut failure: Option<anyhow::Error> = None;
        let label = self.state.cursors()[self.index].node.clone();
        loop {
            // Hand pages on while the pacer allows more batches in flight.
            while scanning
                && failure.is_none()
                && self.in_flight.len() < pacer.depth()
                && let Some(page) = ahead.pop_front()
            {
                let n = page.keys.len() as u64;
                match self.handle(page).await {
                    Ok(true) => scanning = false,
                    Ok(false) if self.plan.action == Action::Flush => {
                        let sleep = pacer.next_sleep(n);
                        self.chunk = pacer.count();
                        count.store(self.chunk, Ordering::Relaxed);
                        if !sleep.is_zero() {
                            // Nothing of this flush at the server while it pauses.
                            while let Some(done) = self.in_flight.next().await {
                                self.finish(done, &acked, &mut failure, &label);
                            }
                            pacer.pause_for(sleep).await;
                        }
                    }
                    Ok(false) => {}
                    Err(e) => failure = Some(e),
                }
            }
            let taking = scanning && failure.is_none();
            // The stream ends after the last page, which may still wait in `ahead`.
            if (!taking || (scan_ended && ahead.is_empty())) && self.in_flight.is_empty() {
                break;
            }
            tokio::select! {
                biased;
                page = pages.next(), if taking && !scan_ended && ahead.len() < SCAN_AHEAD => match page {
                    Some(Ok(page)) => ahead.push_back(page),
                    Some(Err(e)) => failure = Some(explain(e, &label)),
                    None => scan_ended = true,
                },
                Some(done) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    self.finish(done, &acked, &mut failure, &label);
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        if self.plan.action == Action::Backup
            && let Some(backup) = &self.plan.backup
        {
            let backup = backup.clone();
            tokio::task::block_in_place(|| backup.lock().expect("backup writer").sync())?;
        }
        Ok(())
    }

    /// Counts an acknowledged batch and moves the cursor past the pages it completes.
    fn finish(
        &mut self,
        (commit, result): (Option<Commit>, redis::RedisResult<Done>),
        acked: &AtomicU64,
        failure: &mut Option<anyhow::Error>,
        label: &str,
    ) {
        let state = self.state;
        match result {
            Ok(done) => {
                // Deleted keys are gone, so a resumed run cannot count them again; keys
                // given an expiry after a failed batch are given one again on resume and
                // counted then.
                state.deleted.fetch_add(done.deleted, Ordering::Relaxed);
                if !self.delete_failed {
                    state.expiring.fetch_add(done.spread.set, Ordering::Relaxed);
                    state.kept.fetch_add(done.spread.kept, Ordering::Relaxed);
                    if let Some(c) = commit {
                        let mut cursors = state.cursors.lock().expect("cursors");
                        cursors[self.index].cursor = c.next;
                        cursors[self.index].done = c.next == 0;
                        acked.store(c.page + 1, Ordering::SeqCst);
                    }
                }
            }
            Err(e) => {
                self.delete_failed = true;
                if failure.is_none() {
                    *failure = Some(explain(e, label));
                }
            }
        }
        update_progress(state, self.dbsizes, self.progress, self.plan);
    }

    /// Takes one page: counts and samples it, writes its records, and sends its deletes (or
    /// those of the backup group it completes). Returns true when it is the last page.
    async fn handle(&mut self, page: Page) -> Result<bool> {
        let (plan, state) = (self.plan, self.state);
        let Page {
            index: page_index,
            next,
            mut keys,
            mut records,
            acked_at_scan,
        } = page;
        let stop_now = state.stop.load(Ordering::Relaxed);
        state
            .matched
            .fetch_add(keys.len() as u64, Ordering::Relaxed);
        if plan.action != Action::Count && !keys.is_empty() {
            self.drop_repeats(page_index, acked_at_scan, &mut keys, &mut records);
        }
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
                if plan.action == Action::Flush {
                    self.unsynced.extend(records.iter().map(|r| r.key.clone()));
                }
                state
                    .backed_up
                    .fetch_add(records.len() as u64, Ordering::Relaxed);
                let backup = backup.clone();
                tokio::task::block_in_place(|| -> Result<()> {
                    let mut w = backup.lock().expect("backup writer");
                    for r in &records {
                        w.write(r)?;
                    }
                    Ok(())
                })?;
            } else {
                self.unsynced.extend(keys.iter().cloned());
            }
        }
        if plan.action != Action::Flush {
            let mut cursors = state.cursors.lock().expect("cursors");
            cursors[self.index].cursor = next;
            cursors[self.index].done = next == 0;
            drop(cursors);
            update_progress(state, self.dbsizes, self.progress, plan);
            return Ok(last);
        }
        // Delete in groups: one fsync covers several pages, and every key is on disk
        // before its UNLINK is sent. UNLINKs stay at most one page each.
        let commit = Commit {
            page: page_index,
            next,
        };
        let group_full = plan.backup.is_none() || self.unsynced.len() >= SYNC_GROUP;
        if (group_full || last) && !self.unsynced.is_empty() {
            if let Some(backup) = &plan.backup {
                let backup = backup.clone();
                tokio::task::block_in_place(|| backup.lock().expect("backup writer").sync())?;
            }
            let unsynced = std::mem::take(&mut self.unsynced);
            let chunks: Vec<&[Key]> = unsynced.chunks(self.chunk.max(1)).collect();
            let count = chunks.len();
            for (i, chunk) in chunks.into_iter().enumerate() {
                let commit = (i + 1 == count).then_some(commit);
                let batch = self.batch(chunk, commit);
                self.in_flight.push_back(batch);
            }
        } else if self.unsynced.is_empty() {
            // Nothing to delete on this page: its cursor is saved in turn.
            self.in_flight
                .push_back(futures::future::ready((Some(commit), Ok(Done::default()))).boxed());
        }
        update_progress(state, self.dbsizes, self.progress, plan);
        Ok(last)
    }

    /// Drops the keys of a page that SCAN already returned (a resize repeats some, see
    /// [`crate::dup_window`]), and their records, so each key is backed up, unlinked or given
    /// an expiry once. An unlinking flush remembers the pages whose deletes were not
    /// acknowledged when this page's SCAN was sent (exact); a spread flush and `backup`, whose
    /// keys stay in the table, remember the last [`RECENT_KEYS`] keys or more.
    fn drop_repeats(
        &mut self,
        page: u64,
        acked_at_scan: u64,
        keys: &mut Vec<Key>,
        records: &mut Option<Vec<Option<Record>>>,
    ) {
        if self.plan.action == Action::Flush && self.spread.is_none() {
            self.dups.forget_before(acked_at_scan);
        } else {
            self.dups.keep_recent(RECENT_KEYS);
        }
        let fresh = self.dups.admit(page, keys);
        if fresh.iter().all(|f| *f) {
            return;
        }
        let mut flags = fresh.iter();
        keys.retain(|_| flags.next().copied().unwrap_or(true));
        if let Some(records) = records {
            let mut flags = fresh.iter();
            records.retain(|_| flags.next().copied().unwrap_or(true));
        }
    }

    /// The UNLINK (or, spreading, the PEXPIREATs) of one chunk, ready to be sent.
    fn batch(&mut self, keys: &[Key], commit: Option<Commit>) -> Batch {
        let mut conn = self.conn.clone();
        let cluster_mode = self.cluster_mode;
        match self.spread.as_mut() {
            Some(spread) => {
                let expiries = spread.prepare(keys, cluster_mode);
                async move {
                    let result = expiries.send(&mut conn).await.map(|spread| Done {
                        spread,
                        ..Done::default()
                    });
                    (commit, result)
                }
                .boxed()
            }
            None => {
                let keys = keys.to_vec();
                async move {
                    let result =
                        scan::unlink(&mut conn, &keys, cluster_mode)
                            .await
                            .map(|deleted| Done {
                                deleted,
                                ..Done::default()
                            });
                    (commit, result)
                }
                .boxed()
            }
        }
    }
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
