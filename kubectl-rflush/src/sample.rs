//! Random samples of the key space and what they support: `RANDOMKEY` draws spread over the
//! nodes in proportion to their key counts, and estimates scaled back to the whole key space
//! with a stated error bound.
//!
//! Each node is a stratum: `n` draws out of `N` keys (with replacement, so the draws are
//! independent). A group's key count is estimated as `N·k/n` per node, summed over nodes;
//! its bound is the normal approximation of the binomial with Agresti–Coull pseudo-counts
//! (`z²/2` added to each side), so a group seen 0 or `n` times still gets an honest, non-zero
//! width. A group's memory is estimated as `N·mean(x)` with `x` = a key's bytes when it is in
//! the group and 0 otherwise; its bound is `z·N·s/√n` from the sample standard deviation.
//! Proportional allocation makes the stratified estimate at least as precise as one simple
//! random sample of the same size. `RANDOMKEY` is Redis' "fair" random key (it looks at
//! several buckets and picks one entry among them), close to uniform but not exactly so.

use clap::ValueEnum;
use redis::aio::MultiplexedConnection;
use redis::{RedisResult, Value};
use serde::Serialize;

use crate::scan::Key;

/// The confidence level of a stated bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize)]
pub enum Confidence {
    /// 90 %.
    #[value(name = "90")]
    P90,
    /// 95 % (the default).
    #[default]
    #[value(name = "95")]
    P95,
    /// 99 %.
    #[value(name = "99")]
    P99,
    /// 99.9 %.
    #[value(name = "99.9")]
    P999,
}

impl Confidence {
    /// The two-sided standard normal quantile.
    pub fn z(self) -> f64 {
        match self {
            Confidence::P90 => 1.644_853_6,
            Confidence::P95 => 1.959_964,
            Confidence::P99 => 2.575_829_3,
            Confidence::P999 => 3.290_526_7,
        }
    }

    /// As a fraction (0.95).
    pub fn level(self) -> f64 {
        match self {
            Confidence::P90 => 0.90,
            Confidence::P95 => 0.95,
            Confidence::P99 => 0.99,
            Confidence::P999 => 0.999,
        }
    }

    /// As people write it (`95%`).
    pub fn label(self) -> &'static str {
        match self {
            Confidence::P90 => "90%",
            Confidence::P95 => "95%",
            Confidence::P99 => "99%",
            Confidence::P999 => "99.9%",
        }
    }
}

/// One node seen as a stratum: its key count and the keys drawn (or inspected) there.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stratum {
    /// Keys on the node (DBSIZE), or the keys inspected when every key was.
    pub population: u64,
    /// Keys drawn and inspected.
    pub sampled: u64,
}

/// How sums over inspected keys scale to the whole key space.
#[derive(Debug, Clone)]
pub struct Scale {
    /// Per node.
    pub strata: Vec<Stratum>,
    /// True when every key was inspected: figures are exact, bounds are 0.
    pub exact: bool,
    /// The normal quantile of the stated bound.
    pub z: f64,
}

/// An estimate with its half-width (0 when exact).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Figure {
    /// The (estimated) value.
    pub value: u64,
    /// ± this much at the stated confidence; absent when exact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound: Option<u64>,
}

/// Per node sums over the keys of one group.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sums {
    /// Keys in the group.
    pub keys: u64,
    /// Their bytes (MEMORY USAGE).
    pub bytes: u64,
    /// Sum of their bytes squared (for the memory bound).
    pub bytes_sq: f64,
    /// Those without a TTL.
    pub no_ttl: u64,
}

/// A group's sums on every node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    per_node: Vec<Sums>,
}

impl Tally {
    /// Counts one key of `bytes` on `node`.
    pub fn add(&mut self, node: usize, bytes: u64, no_ttl: bool) {
        if self.per_node.len() <= node {
            self.per_node.resize(node + 1, Sums::default());
        }
        let s = &mut self.per_node[node];
        s.keys += 1;
        s.bytes += bytes;
        s.bytes_sq += (bytes as f64) * (bytes as f64);
        s.no_ttl += u64::from(no_ttl);
    }

    /// Inspected keys in the group, over all nodes (not scaled).
    pub fn seen(&self) -> u64 {
        self.per_node.iter().map(|s| s.keys).sum()
    }

    fn each<'a>(&'a self, scale: &'a Scale) -> impl Iterator<Item = (Sums, Stratum)> + 'a {
        scale
            .strata
            .iter()
            .enumerate()
            .map(move |(i, st)| (self.per_node.get(i).copied().unwrap_or_default(), *st))
    }

    /// The group's key count.
    pub fn keys(&self, scale: &Scale) -> Figure {
        proportion(self.each(scale).map(|(s, st)| (s.keys, st)), scale)
    }

    /// The group's keys without a TTL.
    pub fn no_ttl(&self, scale: &Scale) -> Figure {
        proportion(self.each(scale).map(|(s, st)| (s.no_ttl, st)), scale)
    }

    /// The group's memory.
    pub fn bytes(&self, scale: &Scale) -> Figure {
        if scale.exact {
            return Figure {
                value: self.per_node.iter().map(|s| s.bytes).sum(),
                bound: None,
            };
        }
        let (mut value, mut variance) = (0.0, 0.0);
        for (s, st) in self.each(scale) {
            if st.sampled == 0 {
                continue;
            }
            let (n, big_n) = (st.sampled as f64, st.population as f64);
            let mean = s.bytes as f64 / n;
            value += big_n * mean;
            // Sample variance of x (bytes when in the group, else 0); with a single draw
            // the spread is unknown, so take the mean itself as its standard deviation.
            let var = if st.sampled > 1 {
                ((s.bytes_sq / n - mean * mean) * n / (n - 1.0)).max(0.0)
            } else {
                mean * mean
            };
            variance += big_n * big_n * var / n;
        }
        Figure {
            value: value.round() as u64,
            bound: Some((scale.z * variance.sqrt()).round() as u64),
        }
    }
}

/// Scales per node hit counts `k` of `n` draws to `N·k/n`, with the Agresti–Coull bound.
fn proportion(per_node: impl Iterator<Item = (u64, Stratum)>, scale: &Scale) -> Figure {
    let z2 = scale.z * scale.z;
    let (mut value, mut variance) = (0.0, 0.0);
    for (k, st) in per_node {
        if scale.exact {
            value += k as f64;
            continue;
        }
        if st.sampled == 0 {
            continue;
        }
        let (k, n, big_n) = (k as f64, st.sampled as f64, st.population as f64);
        value += big_n * k / n;
        let n_adj = n + z2;
        let p_adj = (k + z2 / 2.0) / n_adj;
        variance += big_n * big_n * p_adj * (1.0 - p_adj) / n_adj;
    }
    Figure {
        value: value.round() as u64,
        bound: (!scale.exact).then(|| (scale.z * variance.sqrt()).round() as u64),
    }
}

/// The smallest share of keys a group can have and still appear in `n` random draws with
/// probability `confidence`: `1 − (1 − p)ⁿ = c` ⇒ `p = 1 − (1 − c)^(1/n)`.
pub fn smallest_visible_share(n: u64, confidence: Confidence) -> f64 {
    if n == 0 {
        return 1.0;
    }
    1.0 - (1.0 - confidence.level()).powf(1.0 / n as f64)
}

/// Splits `total` draws over nodes in proportion to their key counts (largest remainders);
/// a node with keys gets at least one draw while draws remain.
pub fn allocate(total: u64, populations: &[u64]) -> Vec<u64> {
    let sum: u64 = populations.iter().sum();
    if sum == 0 {
        return vec![0; populations.len()];
    }
    let exact: Vec<f64> = populations
        .iter()
        .map(|&p| total as f64 * p as f64 / sum as f64)
        .collect();
    let mut out: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let mut left = total.saturating_sub(out.iter().sum());
    let mut order: Vec<usize> = (0..populations.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra)
    });
    for i in order {
        if left == 0 {
            break;
        }
        if populations[i] > 0 {
            out[i] += 1;
            left -= 1;
        }
    }
    out
}

/// `n` pipelined `RANDOMKEY`s; an empty database gives fewer (none).
pub async fn random_keys(conn: &mut MultiplexedConnection, n: usize) -> RedisResult<Vec<Key>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for _ in 0..n {
        pipe.cmd("RANDOMKEY");
    }
    let values: Vec<Value> = pipe.query_async(conn).await?;
    let mut keys = Vec::with_capacity(values.len());
    for v in values {
        if !matches!(v, Value::Nil) {
            keys.push(redis::from_redis_value::<Key>(v)?);
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampled(population: u64, sampled: u64) -> Scale {
        Scale {
            strata: vec![Stratum {
                population,
                sampled,
            }],
            exact: false,
            z: Confidence::P95.z(),
        }
    }

    #[test]
    fn a_proportion_scales_with_the_binomial_bound() {
        let mut t = Tally::default();
        for _ in 0..2501 {
            t.add(0, 100, false);
        }
        // 2,501 of 10,000 draws from 1,000,000 keys: ≈250,100 ± 1.96·10⁶·√(.25·.75/10⁴).
        let f = t.keys(&sampled(1_000_000, 10_000));
        assert_eq!(f.value, 250_100);
        let b = f.bound.unwrap() as f64;
        let expected = 1.96 * 1e6 * (0.2501f64 * 0.7499 / 10_000.0).sqrt();
        assert!((b - expected).abs() / expected < 0.01, "{b} vs {expected}");
    }

    #[test]
    fn an_unseen_or_all_seen_group_still_has_a_bound() {
        let t = Tally::default();
        let f = t.keys(&sampled(1_000_000, 1000));
        assert_eq!(f.value, 0);
        assert!(
            f.bound.unwrap() > 0,
            "zero hits must not mean zero uncertainty"
        );
        let mut all = Tally::default();
        for _ in 0..1000 {
            all.add(0, 10, true);
        }
        let f = all.keys(&sampled(1_000_000, 1000));
        assert_eq!(f.value, 1_000_000);
        assert!(f.bound.unwrap() > 0);
        // Every draw was 10 bytes: memory is known to be 10 per key, so its spread is 0.
        assert_eq!(all.bytes(&sampled(1_000_000, 1000)).bound, Some(0));
        assert_eq!(all.bytes(&sampled(1_000_000, 1000)).value, 10_000_000);
    }

    #[test]
    fn memory_bound_follows_the_sample_spread() {
        // Half the draws are 100-byte keys in the group: x is 100 or 0, mean 50, sd ≈ 50.
        let mut t = Tally::default();
        for _ in 0..500 {
            t.add(0, 100, false);
        }
        let f = t.bytes(&sampled(10_000, 1000));
        assert_eq!(f.value, 500_000);
        let expected = 1.96 * 10_000.0 * 50.0 * (1000.0f64 / 999.0).sqrt() / 1000f64.sqrt();
        let b = f.bound.unwrap() as f64;
        assert!((b - expected).abs() < 2.0, "{b} vs {expected}");
    }

    #[test]
    fn strata_add_up() {
        let scale = Scale {
            strata: vec![
                Stratum {
                    population: 1000,
                    sampled: 100,
                },
                Stratum {
                    population: 3000,
                    sampled: 300,
                },
            ],
            exact: false,
            z: 1.96,
        };
        let mut t = Tally::default();
        for _ in 0..10 {
            t.add(0, 1, false);
        }
        for _ in 0..60 {
            t.add(1, 1, false);
        }
        assert_eq!(t.keys(&scale).value, 100 + 600);
        let exact = Scale {
            exact: true,
            ..scale
        };
        assert_eq!(
            t.keys(&exact),
            Figure {
                value: 70,
                bound: None
            }
        );
        assert_eq!(t.bytes(&exact).value, 70);
    }

    #[test]
    fn allocation_is_proportional_and_complete() {
        assert_eq!(allocate(10_000, &[5_000_000]), vec![10_000]);
        assert_eq!(allocate(10, &[100, 200, 700]), vec![1, 2, 7]);
        let a = allocate(10, &[1, 1, 1]);
        assert_eq!(a.iter().sum::<u64>(), 10);
        assert!(a.iter().all(|&n| n >= 3));
        assert_eq!(allocate(5, &[0, 0]), vec![0, 0]);
        assert_eq!(allocate(3, &[0, 10]), vec![0, 3]);
    }

    #[test]
    fn visibility_threshold() {
        // The rule of three: about 3/n at 95 %.
        let p = smallest_visible_share(10_000, Confidence::P95);
        assert!((p - 3.0 / 10_000.0).abs() < 0.00001, "{p}");
    }
}
