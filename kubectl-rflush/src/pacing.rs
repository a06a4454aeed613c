//! Pacing: deleting must not stall Redis for everybody else.
//!
//! A probe on its own connection PINGs the node every few milliseconds, so it queues behind
//! the flush's commands exactly like an application's GET would. After each batch the pacer
//! looks at the probe's recent round trips: above the latency budget it backs off (doubles a
//! pause between batches), below it the pause decays away. `--rate` adds a hard keys/s cap.
//!
//! The pacer also decides how many batches may be in flight at once (the next SCAN and the
//! previous batches' UNLINKs overlap, so Redis never waits for this side's round trip): above
//! the budget it drops to one batch at a time before it starts pausing, and it only goes back
//! to [`MAX_DEPTH`] batches once the pauses have decayed away.
//!
//! Pausing only helps when the flush is what slows Redis down. The probe also measures while
//! the flush is not sending (before the first batch and during its pauses): when the round
//! trips there are as slow as while it works (a busy machine, another client's load), the
//! threshold rises to 1.5× that ambient latency instead of pausing for nothing.

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
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// Round trips measured by the probe, newest last: while the flush works, and while it does
/// not (ambient).
#[derive(Default)]
struct Window {
    samples: VecDeque<(Instant, Duration)>,
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

    /// The 90th percentile of the last 20 round trips (~100 ms) — robust to one stray
    /// scheduling hiccup of a busy client machine, quick to see Redis itself slowing down.
    fn recent_p90(&self) -> Option<Duration> {
        let w = self.window.lock().expect("probe window");
        let mut v: Vec<Duration> = w.samples.iter().rev().take(20).map(|(_, d)| *d).collect();
        if v.is_empty() {
            return None;
        }
        v.sort();
        Some(v[(v.len() * 9 / 10).min(v.len() - 1)])
    }

    /// The 90th percentile of the round trips measured while the flush was not sending, once
    /// there are enough of them.
    fn ambient_p90(&self) -> Option<Duration> {
        let w = self.window.lock().expect("probe window");
        if w.ambient.len() < AMBIENT_MIN {
            return None;
        }
        let mut v: Vec<Duration> = w.ambient.iter().copied().collect();
        v.sort();
        Some(v[(v.len() * 9 / 10).min(v.len() - 1)])
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

/// Decides the pause after each batch.
pub struct Pacer {
    config: PaceConfig,
    probe: Option<Probe>,
    budget: Duration,
    pause: Duration,
    started: Instant,
    keys: u64,
    depth: usize,
    /// Total time spent pausing, for the summary.
    pub paused: Duration,
}

impl Pacer {
    /// A pacer; `probe` enables the adaptive part. The budget is the configured one, or four
    /// times the idle round trip when the link itself is slower (port-forward).
    pub fn new(config: PaceConfig, probe: Option<Probe>) -> Self {
        let baseline = probe.as_ref().and_then(Probe::median).unwrap_or_default();
        let budget = config
            .max_latency
            .unwrap_or(Duration::MAX)
            .max(baseline * 4);
        if let Some(p) = &probe {
            p.set_idle(false);
        }
        let now = Instant::now();
        Pacer {
            config,
            probe,
            budget,
            pause: Duration::ZERO,
            started: now,
            keys: 0,
            depth: MAX_DEPTH,
            paused: Duration::ZERO,
        }
    }

    /// How many batches may be in flight now.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The next depth: one batch at a time while over the budget, one more per batch under
    /// it once there is no pause left.
    pub fn next_depth(depth: usize, over: bool, pause: Duration) -> usize {
        if over {
            1
        } else if pause.is_zero() {
            (depth + 1).min(MAX_DEPTH)
        } else {
            depth
        }
    }

    /// The latency budget in force.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// The threshold above which pausing is worth it: the budget, or 1.5× the ambient latency
    /// when that is higher (pausing cannot bring latency below what others cause).
    pub fn threshold(budget: Duration, ambient: Option<Duration>) -> Duration {
        ambient.map_or(budget, |a| budget.max(a.mul_f64(1.5)))
    }

    /// The next pause, given the worst probe round trip since the last batch.
    pub fn next_pause(pause: Duration, worst: Option<Duration>, budget: Duration) -> Duration {
        match worst {
            Some(w) if w > budget => (pause * 2 + Duration::from_micros(500)).min(MAX_PAUSE),
            _ => {
                let p = pause.mul_f64(0.7);
                if p < Duration::from_micros(100) {
                    Duration::ZERO
                } else {
                    p
                }
            }
        }
    }

    /// Call after a batch of `n` keys; sleeps as needed.
    pub async fn after_batch(&mut self, n: u64) {
        let sleep = self.next_sleep(n);
        self.pause_for(sleep).await;
    }

    /// Call after handing a batch of `n` keys to Redis: the pause due now (zero for none),
    /// with the number of batches allowed in flight ([`Pacer::depth`]) updated. The caller
    /// lets its batches in flight finish, then calls [`Pacer::pause_for`].
    pub fn next_sleep(&mut self, n: u64) -> Duration {
        self.keys += n;
        let mut sleep = Duration::ZERO;
        if self.config.max_latency.is_some()
            && let Some(probe) = &self.probe
        {
            let worst = probe.recent_p90();
            let threshold = Self::threshold(self.budget, probe.ambient_p90());
            let over = worst.is_some_and(|w| w > threshold);
            // Fewer batches in flight first; pauses only once there is one batch in flight.
            if !over || self.depth == 1 {
                self.pause = Self::next_pause(self.pause, worst, threshold);
            }
            self.depth = Self::next_depth(self.depth, over, self.pause);
            sleep = self.pause;
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

    #[test]
    fn backs_off_above_budget_and_recovers_below() {
        let budget = Duration::from_millis(2);
        let mut p = Duration::ZERO;
        p = Pacer::next_pause(p, Some(Duration::from_millis(5)), budget);
        assert_eq!(p, Duration::from_micros(500));
        p = Pacer::next_pause(p, Some(Duration::from_millis(5)), budget);
        assert_eq!(p, Duration::from_micros(1500));
        for _ in 0..20 {
            p = Pacer::next_pause(p, Some(Duration::from_millis(9)), budget);
        }
        assert_eq!(p, MAX_PAUSE, "capped");
        for _ in 0..40 {
            p = Pacer::next_pause(p, Some(Duration::from_micros(300)), budget);
        }
        assert_eq!(p, Duration::ZERO, "decays to no pause");
        assert_eq!(
            Pacer::next_pause(Duration::ZERO, None, budget),
            Duration::ZERO
        );
    }

    #[test]
    fn ambient_latency_raises_the_threshold_only_above_the_budget() {
        let budget = Duration::from_millis(2);
        assert_eq!(Pacer::threshold(budget, None), budget);
        assert_eq!(
            Pacer::threshold(budget, Some(Duration::from_micros(200))),
            budget
        );
        // A machine where PING takes 4 ms with the flush idle: pausing for a 5 ms p90 would
        // not help anyone; 7 ms would (the flush adds to what is there anyway).
        let t = Pacer::threshold(budget, Some(Duration::from_millis(4)));
        assert_eq!(t, Duration::from_millis(6));
        assert_eq!(
            Pacer::next_pause(Duration::ZERO, Some(Duration::from_millis(5)), t),
            Duration::ZERO
        );
        assert!(
            Pacer::next_pause(Duration::ZERO, Some(Duration::from_millis(7)), t) > Duration::ZERO
        );
    }

    #[test]
    fn depth_drops_to_one_over_budget_and_returns_once_pauses_decayed() {
        assert_eq!(Pacer::next_depth(MAX_DEPTH, true, Duration::ZERO), 1);
        assert_eq!(Pacer::next_depth(1, false, Duration::from_millis(1)), 1);
        assert_eq!(Pacer::next_depth(1, false, Duration::ZERO), 2);
        assert_eq!(
            Pacer::next_depth(MAX_DEPTH, false, Duration::ZERO),
            MAX_DEPTH
        );
    }

    #[tokio::test]
    async fn rate_caps_keys_per_second() {
        let mut pacer = Pacer::new(
            PaceConfig {
                rate: Some(10_000),
                max_latency: None,
            },
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
