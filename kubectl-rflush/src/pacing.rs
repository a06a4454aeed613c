//! Pacing: deleting must not stall Redis for everybody else.
//!
//! A probe on its own connection PINGs the node every few milliseconds, so it queues behind
//! the flush's commands exactly like an application's GET would. Every few probe round trips
//! the pacer compares their recent 90th percentile with an aim of half the latency budget
//! (a p90 at half the budget keeps the p99 under it) and turns three knobs, in this order:
//!
//! 1. the batch size (SCAN COUNT and keys per UNLINK/PEXPIREAT batch): a GET waits behind at
//!    most a command or two, so smaller commands mean shorter waits at almost the same
//!    server work per key; shrunk by a quarter above the aim, grown by a tenth below it,
//!    between [`MIN_COUNT`] and `--batch-size`;
//! 2. the batches in flight: [`MAX_DEPTH`], or one once the batch size is at its floor;
//! 3. a pause between batches (doubling up to [`MAX_PAUSE`], halving away), only when one
//!    smallest batch at a time is still too much.
//!
//! Below the aim the knobs come back in the reverse order. `--rate` adds a hard keys/s cap.
//!
//! Pausing only helps when the flush is what slows Redis down. The probe also measures while
//! the flush is not sending (before the first batch and during its pauses): when the round
//! trips there are as slow as while it works (a busy machine, another client's load), the
//! aim rises to twice that ambient median instead of slowing down for nothing.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

/// Pacing settings.
#[derive(Debug, Clone, Copy)]
pub struct PaceConfig {
    /// Keys per second per node, None = as fast as the latency budget allows.
    pub rate: Option<u64>,
    /// Latency budget for other clients' commands; None disables adaptive pacing.
    pub max_latency: Option<Duration>,
}

const PROBE_EVERY: Duration = Duration::from_millis(5);
/// Batches whose UNLINKs (or PEXPIREATs) may be in flight at once on one node.
pub const MAX_DEPTH: usize = 3;
/// The longest pause between two batches.
pub const MAX_PAUSE: Duration = Duration::from_millis(50);
/// The smallest batch the pacer shrinks to (SCAN COUNT and keys per batch) before it drops
/// to one batch in flight and pauses.
pub const MIN_COUNT: usize = 50;
/// New probe round trips between two decisions (~20 ms): each decision sees mostly
/// round trips measured after the previous one took effect.
const DECIDE_EVERY: u64 = 4;
/// Round trips a decision looks at.
const DECIDE_WINDOW: usize = 12;
/// The p90 the pacer aims at, as a share of the budget.
const AIM: f64 = 0.5;
/// Below this share of the aim the knobs come back.
const UNDER: f64 = 0.7;

/// Round trips measured by the probe, newest last: while the flush works, and while it does
/// not (ambient).
#[derive(Default)]
struct Window {
    samples: VecDeque<(Instant, Duration)>,
    /// Round trips measured since the start.
    taken: u64,
    ambient: VecDeque<Duration>,
}

/// Ambient samples kept (the newest).
const AMBIENT_SAMPLES: usize = 40;
/// Ambient samples needed before they count.
const AMBIENT_MIN: usize = 5;

/// A running latency probe; stops when dropped.
pub struct Probe {
    window: Arc<Mutex<Window>>,
    /// True while the flush is not sending (before its first batch, during its pauses).
    idle: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
    _guard: Option<shared::portforward::Forwarded>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Probe {
    /// Starts probing on a dedicated connection.
    pub fn start(
        mut conn: MultiplexedConnection,
        guard: Option<shared::portforward::Forwarded>,
    ) -> Self {
        let window = Arc::new(Mutex::new(Window::default()));
        let idle = Arc::new(AtomicBool::new(true));
        let (w, quiet) = (window.clone(), idle.clone());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let start = Instant::now();
                let ambient = quiet.load(Ordering::Relaxed);
                if redis::cmd("PING")
                    .query_async::<()>(&mut conn)
                    .await
                    .is_err()
                {
                    return;
                }
                let rtt = start.elapsed();
                let mut w = w.lock().expect("probe window");
                w.samples.push_back((Instant::now(), rtt));
                w.taken += 1;
                while w.samples.len() > 400 {
                    w.samples.pop_front();
                }
                if ambient && quiet.load(Ordering::Relaxed) {
                    w.ambient.push_back(rtt);
                    while w.ambient.len() > AMBIENT_SAMPLES {
                        w.ambient.pop_front();
                    }
                }
            }
        });
        Probe {
            window,
            idle,
            task,
            _guard: guard,
        }
    }

    /// The 90th percentile of the last [`DECIDE_WINDOW`] round trips (~60 ms): robust to one
    /// stray scheduling hiccup of a busy client machine, quick to see Redis itself slowing
    /// down.
    fn recent_p90(&self) -> Option<Duration> {
        let w = self.window.lock().expect("probe window");
        let mut v: Vec<Duration> = w
            .samples
            .iter()
            .rev()
            .take(DECIDE_WINDOW)
            .map(|(_, d)| *d)
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort();
        Some(v[(v.len() * 9 / 10).min(v.len() - 1)])
    }

    /// Round trips measured so far.
    fn taken(&self) -> u64 {
        self.window.lock().expect("probe window").taken
    }

    /// The median of the round trips measured while the flush was not sending, once there
    /// are enough of them (a median: one scheduling hiccup during a pause must not lift the
    /// aim for the rest of the run).
    fn ambient_median(&self) -> Option<Duration> {
        let w = self.window.lock().expect("probe window");
        if w.ambient.len() < AMBIENT_MIN {
            return None;
        }
        let mut v: Vec<Duration> = w.ambient.iter().copied().collect();
        v.sort();
        Some(v[v.len() / 2])
    }

    /// Tells the probe whether the flush is sending (its samples then count as ambient or not).
    fn set_idle(&self, idle: bool) {
        self.idle.store(idle, Ordering::Relaxed);
    }

    /// Median of the samples so far (the idle baseline when called before the flush).
    pub fn median(&self) -> Option<Duration> {
        let w = self.window.lock().expect("probe window");
        let mut v: Vec<Duration> = w.samples.iter().map(|(_, d)| *d).collect();
        v.sort();
        v.get(v.len() / 2).copied()
    }
}

/// The pacer's three knobs (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Knobs {
    /// Keys per SCAN COUNT and per UNLINK/PEXPIREAT batch.
    pub count: usize,
    /// Batches in flight at once.
    pub depth: usize,
    /// Pause after each batch.
    pub pause: Duration,
}

impl Knobs {
    /// Above the aim: a smaller batch first, then one batch in flight, then a longer pause.
    pub fn slower(self, min_count: usize) -> Knobs {
        if self.count > min_count {
            Knobs {
                count: (self.count * 3 / 4).max(min_count),
                ..self
            }
        } else if self.depth > 1 {
            Knobs { depth: 1, ..self }
        } else {
            Knobs {
                pause: (self.pause * 2 + Duration::from_micros(500)).min(MAX_PAUSE),
                ..self
            }
        }
    }

    /// Well below the aim: a shorter pause first, then all batches in flight again, then a
    /// larger batch.
    pub fn faster(self, max_count: usize) -> Knobs {
        if !self.pause.is_zero() {
            let pause = self.pause / 2;
            Knobs {
                pause: if pause < Duration::from_micros(100) {
                    Duration::ZERO
                } else {
                    pause
                },
                ..self
            }
        } else if self.depth < MAX_DEPTH {
            Knobs {
                depth: MAX_DEPTH,
                ..self
            }
        } else {
            Knobs {
                count: (self.count + self.count / 10 + 1).min(max_count),
                ..self
            }
        }
    }
}

/// Decides the batch size, the batches in flight and the pause after each batch.
pub struct Pacer {
    config: PaceConfig,
    probe: Option<Probe>,
    budget: Duration,
    knobs: Knobs,
    /// The batch size's range; equal ends when the caller's batches do not follow
    /// [`Pacer::count`].
    count_range: (usize, usize),
    /// Probe round trips measured when the knobs last moved.
    decided_at: u64,
    started: Instant,
    keys: u64,
    /// Total time spent pausing, for the summary.
    pub paused: Duration,
}

impl Pacer {
    /// A pacer; `probe` enables the adaptive part. The budget is the configured one, or four
    /// times the idle round trip when the link itself is slower (port-forward). `max_count`
    /// is the largest batch (`--batch-size`); a caller whose batches do not follow
    /// [`Pacer::count`] passes [`None`] and is paced by depth and pauses alone.
    pub fn new(config: PaceConfig, probe: Option<Probe>, max_count: Option<usize>) -> Self {
        let baseline = probe.as_ref().and_then(Probe::median).unwrap_or_default();
        let budget = config
            .max_latency
            .unwrap_or(Duration::MAX)
            .max(baseline * 4);
        if let Some(p) = &probe {
            p.set_idle(false);
        }
        let count_range = match max_count {
            Some(max) => (max.clamp(1, MIN_COUNT), max.max(1)),
            None => (1, 1),
        };
        let decided_at = probe.as_ref().map_or(0, Probe::taken);
        Pacer {
            config,
            probe,
            budget,
            knobs: Knobs {
                count: count_range.1,
                depth: MAX_DEPTH,
                pause: Duration::ZERO,
            },
            count_range,
            decided_at,
            started: Instant::now(),
            keys: 0,
            paused: Duration::ZERO,
        }
    }

    /// How many batches may be in flight now.
    pub fn depth(&self) -> usize {
        self.knobs.depth
    }

    /// Keys per SCAN COUNT and per batch now.
    pub fn count(&self) -> usize {
        self.knobs.count
    }

    /// The latency budget in force.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// The p90 round trip the pacer aims at: half the budget (which keeps the p99 under the
    /// budget), or twice the ambient median round trip when that is higher (pacing cannot
    /// bring latency below what others cause).
    pub fn aim(budget: Duration, ambient: Option<Duration>) -> Duration {
        let aim = budget.mul_f64(AIM);
        ambient.map_or(aim, |a| aim.max(a * 2))
    }

    /// The knobs after a decision on the recent p90 round trip against the aim.
    pub fn decide(
        knobs: Knobs,
        p90: Option<Duration>,
        aim: Duration,
        count_range: (usize, usize),
    ) -> Knobs {
        match p90 {
            Some(p) if p > aim => knobs.slower(count_range.0),
            Some(p) if p > aim.mul_f64(UNDER) => knobs,
            _ => knobs.faster(count_range.1),
        }
    }

    /// Call after a batch of `n` keys; sleeps as needed.
    pub async fn after_batch(&mut self, n: u64) {
        let sleep = self.next_sleep(n);
        self.pause_for(sleep).await;
    }

    /// Call after handing a batch of `n` keys to Redis: the pause due now (zero for none),
    /// with the knobs ([`Pacer::count`], [`Pacer::depth`]) moved when the probe has enough
    /// new round trips. The caller lets its batches in flight finish, then calls
    /// [`Pacer::pause_for`].
    pub fn next_sleep(&mut self, n: u64) -> Duration {
        self.keys += n;
        let mut sleep = Duration::ZERO;
        if self.config.max_latency.is_some()
            && let Some(probe) = &self.probe
        {
            let taken = probe.taken();
            if taken >= self.decided_at + DECIDE_EVERY {
                self.decided_at = taken;
                let aim = Self::aim(self.budget, probe.ambient_median());
                self.knobs = Self::decide(self.knobs, probe.recent_p90(), aim, self.count_range);
            }
            sleep = self.knobs.pause;
        }
        if let Some(rate) = self.config.rate.filter(|r| *r > 0) {
            let due = Duration::from_secs_f64(self.keys as f64 / rate as f64);
            sleep = sleep.max(due.saturating_sub(self.started.elapsed()));
        }
        sleep
    }

    /// Pauses (the probe's round trips meanwhile count as ambient latency).
    pub async fn pause_for(&mut self, sleep: Duration) {
        if sleep.is_zero() {
            return;
        }
        self.paused += sleep;
        if let Some(p) = &self.probe {
            p.set_idle(true);
        }
        tokio::time::sleep(sleep).await;
        if let Some(p) = &self.probe {
            p.set_idle(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn full(count: usize) -> Knobs {
        Knobs {
            count,
            depth: MAX_DEPTH,
            pause: Duration::ZERO,
        }
    }

    #[test]
    fn above_the_aim_shrinks_the_batch_then_the_depth_then_pauses() {
        let (aim, range) = (MS, (MIN_COUNT, 500));
        let mut k = full(500);
        let mut counts = vec![k.count];
        while k.count > MIN_COUNT {
            k = Pacer::decide(k, Some(2 * MS), aim, range);
            assert_eq!((k.depth, k.pause), (MAX_DEPTH, Duration::ZERO), "{k:?}");
            counts.push(k.count);
        }
        assert_eq!(counts, [500, 375, 281, 210, 157, 117, 87, 65, 50]);
        k = Pacer::decide(k, Some(2 * MS), aim, range);
        assert_eq!(k.depth, 1, "one batch in flight before any pause");
        assert_eq!(k.pause, Duration::ZERO);
        k = Pacer::decide(k, Some(2 * MS), aim, range);
        assert_eq!(k.pause, Duration::from_micros(500));
        k = Pacer::decide(k, Some(2 * MS), aim, range);
        assert_eq!(k.pause, Duration::from_micros(1500));
        for _ in 0..20 {
            k = Pacer::decide(k, Some(9 * MS), aim, range);
        }
        assert_eq!(k.pause, MAX_PAUSE, "capped");
        assert_eq!((k.count, k.depth), (MIN_COUNT, 1));
    }

    #[test]
    fn well_below_the_aim_undoes_the_pause_then_the_depth_then_grows_the_batch() {
        let (aim, range) = (MS, (MIN_COUNT, 500));
        let mut k = Knobs {
            count: MIN_COUNT,
            depth: 1,
            pause: MAX_PAUSE,
        };
        let mut steps = 0;
        while !k.pause.is_zero() {
            k = Pacer::decide(k, Some(Duration::from_micros(300)), aim, range);
            assert_eq!((k.count, k.depth), (MIN_COUNT, 1));
            steps += 1;
        }
        assert_eq!(steps, 9, "halves away: 50 ms to under 0.1 ms");
        k = Pacer::decide(k, None, aim, range);
        assert_eq!((k.count, k.depth), (MIN_COUNT, MAX_DEPTH));
        for _ in 0..40 {
            k = Pacer::decide(k, Some(Duration::from_micros(300)), aim, range);
        }
        assert_eq!(k, full(500), "grows back to --batch-size and no further");
    }

    #[test]
    fn between_the_aim_and_its_lower_band_holds_still() {
        let k = full(300);
        let p90 = Duration::from_micros(800);
        assert_eq!(Pacer::decide(k, Some(p90), MS, (MIN_COUNT, 500)), k);
    }

    #[test]
    fn the_aim_is_half_the_budget_unless_twice_the_ambient_latency_is_higher() {
        let budget = 2 * MS;
        assert_eq!(Pacer::aim(budget, None), MS);
        assert_eq!(Pacer::aim(budget, Some(Duration::from_micros(200))), MS);
        // A machine where PING takes 3 ms with the flush idle: slowing down for a 5 ms p90
        // would not help anyone; 7 ms would (the flush adds to what is there anyway).
        let aim = Pacer::aim(budget, Some(3 * MS));
        assert_eq!(aim, 6 * MS);
        let k = full(500);
        assert_eq!(Pacer::decide(k, Some(5 * MS), aim, (MIN_COUNT, 500)), k);
        assert!(Pacer::decide(k, Some(7 * MS), aim, (MIN_COUNT, 500)).count < 500);
    }

    #[test]
    fn a_fixed_batch_size_is_paced_by_depth_and_pause_alone() {
        let mut k = full(1);
        k = Pacer::decide(k, Some(2 * MS), MS, (1, 1));
        assert_eq!((k.count, k.depth), (1, 1));
        k = Pacer::decide(k, Some(2 * MS), MS, (1, 1));
        assert!(k.pause > Duration::ZERO);
    }

    #[tokio::test]
    async fn rate_caps_keys_per_second() {
        let mut pacer = Pacer::new(
            PaceConfig {
                rate: Some(10_000),
                max_latency: None,
            },
            None,
            None,
        );
        let start = Instant::now();
        for _ in 0..10 {
            pacer.after_batch(500).await;
        }
        // 5000 keys at 10k/s take at least 0.5 s.
        assert!(
            start.elapsed() >= Duration::from_millis(490),
            "{:?}",
            start.elapsed()
        );
    }
}
