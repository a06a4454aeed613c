//! What `analyze` learns from the keys it inspected: counts and memory per prefix tree
//! (split on `:`), per data type, per TTL bucket and per cache type, the biggest keys, and
//! `cache_types` entries for prefixes no cache type covers. Pure bookkeeping: the keys come
//! from [`crate::commands::analyze`], the scaling to the whole key space from [`crate::sample`].

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use shared::config::CacheType;

use crate::sample::{Figure, Scale, Tally};
use crate::scan::Key;

/// Distinct prefixes kept per level; later new ones are folded into `PARENT*` so a key
/// space with an id in the prefix (`user:123:`) cannot exhaust memory.
pub const MAX_PREFIXES_PER_LEVEL: usize = 5000;

/// What one key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFacts {
    /// The key.
    pub key: Key,
    /// `TYPE` (string, hash, list, set, zset, stream, or a module type).
    pub kind: String,
    /// `MEMORY USAGE` bytes.
    pub bytes: u64,
    /// `PTTL` milliseconds, -1 without a TTL.
    pub pttl: i64,
}

/// TTL buckets, shortest first after "no TTL".
pub const TTL_BUCKETS: [&str; 5] = ["no TTL", "< 1m", "< 1h", "< 1d", ">= 1d"];

/// The index in [`TTL_BUCKETS`] of a `PTTL` reply.
pub fn ttl_bucket(pttl: i64) -> usize {
    match pttl {
        p if p < 0 => 0,
        p if p < 60_000 => 1,
        p if p < 3_600_000 => 2,
        p if p < 86_400_000 => 3,
        _ => 4,
    }
}

/// The prefixes of a key, one per level up to `depth`: `a:b:c` at depth 2 → `a:`, `a:b:`.
/// The part after the last `:` is the key's own name, never a prefix; a key without `:`
/// has the empty prefix (shown as "(no prefix)").
pub fn prefixes(key: &[u8], depth: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    for (i, &b) in key.iter().enumerate() {
        if out.len() == depth {
            break;
        }
        if b == b':' {
            out.push(&key[..=i]);
        }
    }
    if out.is_empty() {
        out.push(&key[..0]);
    }
    out
}

/// One node of the prefix tree.
#[derive(Debug, Clone, Default)]
struct PrefixNode {
    level: usize,
    parent: Option<Key>,
    folded: bool,
    tally: Tally,
    /// Per cluster node, keys per cache type (index = type, last = none).
    by_type: Vec<Vec<u64>>,
}

/// Collects facts about inspected keys.
#[derive(Debug)]
pub struct Analyzer {
    depth: usize,
    types: Vec<CacheType>,
    top_n: usize,
    total: Tally,
    kinds: BTreeMap<String, Tally>,
    ttl: Vec<Tally>,
    cache_types: Vec<Tally>,
    prefixes: HashMap<Key, PrefixNode>,
    per_level: Vec<usize>,
    folded_levels: Vec<usize>,
    top: Vec<KeyFacts>,
}

impl Analyzer {
    /// An empty analysis: prefixes up to `depth`, keys classified by the configured cache
    /// `types` (first matching pattern wins, as listed), the `top_n` biggest keys kept.
    pub fn new(depth: usize, types: Vec<CacheType>, top_n: usize) -> Self {
        let n_types = types.len();
        Analyzer {
            depth: depth.max(1),
            types,
            top_n,
            total: Tally::default(),
            kinds: BTreeMap::new(),
            ttl: vec![Tally::default(); TTL_BUCKETS.len()],
            cache_types: vec![Tally::default(); n_types + 1],
            prefixes: HashMap::new(),
            per_level: vec![0; depth.max(1) + 1],
            folded_levels: Vec::new(),
            top: Vec::new(),
        }
    }

    /// The cache type index covering `key`, or `types.len()` for none.
    fn cache_type_of(&self, key: &[u8]) -> usize {
        self.types
            .iter()
            .position(|t| crate::glob::matches(t.pattern.as_bytes(), key))
            .unwrap_or(self.types.len())
    }

    /// Counts one key found on cluster node `node` (0 for a standalone server).
    pub fn add(&mut self, node: usize, f: &KeyFacts) {
        let no_ttl = f.pttl < 0;
        self.total.add(node, f.bytes, no_ttl);
        self.kinds
            .entry(f.kind.clone())
            .or_default()
            .add(node, f.bytes, no_ttl);
        self.ttl[ttl_bucket(f.pttl)].add(node, f.bytes, no_ttl);
        let ct = self.cache_type_of(&f.key);
        self.cache_types[ct].add(node, f.bytes, no_ttl);
        let n_types = self.types.len() + 1;
        let mut parent: Option<Key> = None;
        for (i, label) in prefixes(&f.key, self.depth).into_iter().enumerate() {
            let level = i + 1;
            let id: Key = if self.prefixes.contains_key(label) {
                label.to_vec()
            } else if self.per_level[level] < MAX_PREFIXES_PER_LEVEL {
                self.per_level[level] += 1;
                label.to_vec()
            } else {
                if !self.folded_levels.contains(&level) {
                    self.folded_levels.push(level);
                }
                let mut id = parent.clone().unwrap_or_default();
                id.push(b'*');
                id
            };
            let folded = !id.is_empty() && id.last() != Some(&b':');
            let entry = self
                .prefixes
                .entry(id.clone())
                .or_insert_with(|| PrefixNode {
                    level,
                    parent: parent.clone(),
                    folded,
                    ..Default::default()
                });
            entry.tally.add(node, f.bytes, no_ttl);
            if entry.by_type.len() <= node {
                entry.by_type.resize(node + 1, vec![0; n_types]);
            }
            entry.by_type[node][ct] += 1;
            if folded {
                break; // a folded node has no children of its own
            }
            parent = Some(id);
        }
        self.keep_if_big(f);
    }

    fn keep_if_big(&mut self, f: &KeyFacts) {
        if self.top_n == 0 {
            return;
        }
        let smallest = self.top.last().map(|k| k.bytes);
        if self.top.len() >= self.top_n && smallest.is_some_and(|s| f.bytes <= s) {
            return;
        }
        if self.top.iter().any(|k| k.key == f.key) {
            return; // drawn twice
        }
        let at = self.top.partition_point(|k| k.bytes >= f.bytes);
        self.top.insert(at, f.clone());
        self.top.truncate(self.top_n);
    }

    /// Keys counted so far (not scaled).
    pub fn seen(&self) -> u64 {
        self.total.seen()
    }

    /// The report, with figures scaled by `scale`.
    pub fn report(&self, scale: &Scale) -> Findings {
        let figures = |t: &Tally| Figures {
            keys: t.keys(scale),
            memory: t.bytes(scale),
            no_ttl: t.no_ttl(scale),
        };
        let weights: Vec<f64> = scale
            .strata
            .iter()
            .map(|s| {
                if scale.exact || s.sampled == 0 {
                    1.0
                } else {
                    s.population as f64 / s.sampled as f64
                }
            })
            .collect();
        let type_name = |i: usize| self.types.get(i).map(|t| t.name.clone());

        // The tree: children of each node, biggest memory first.
        let mut children: HashMap<Option<&Key>, Vec<(&Key, &PrefixNode)>> = HashMap::new();
        for (id, node) in &self.prefixes {
            children
                .entry(node.parent.as_ref())
                .or_default()
                .push((id, node));
        }
        let mut memory_of: HashMap<&Key, u64> = HashMap::new();
        for (id, node) in &self.prefixes {
            memory_of.insert(id, node.tally.bytes(scale).value);
        }
        for list in children.values_mut() {
            list.sort_by(|a, b| {
                memory_of[b.0]
                    .cmp(&memory_of[a.0])
                    .then_with(|| a.0.cmp(b.0))
            });
        }
        let mut rows = Vec::new();
        let mut stack: Vec<(&Key, &PrefixNode)> = children
            .get(&None)
            .map(|v| v.iter().rev().copied().collect())
            .unwrap_or_default();
        while let Some((id, node)) = stack.pop() {
            let mut weighted = vec![0.0; self.types.len() + 1];
            for (n, counts) in node.by_type.iter().enumerate() {
                for (t, c) in counts.iter().enumerate() {
                    weighted[t] += *c as f64 * weights.get(n).copied().unwrap_or(1.0);
                }
            }
            let sum: f64 = weighted.iter().sum::<f64>().max(f64::MIN_POSITIVE);
            let mut coverage: Vec<Coverage> = weighted
                .iter()
                .enumerate()
                .filter(|(_, w)| **w > 0.0)
                .map(|(t, w)| Coverage {
                    cache_type: type_name(t),
                    share: w / sum,
                })
                .collect();
            coverage.sort_by(|a, b| b.share.total_cmp(&a.share));
            rows.push(PrefixRow {
                prefix: display_prefix(id, node.folded),
                level: node.level,
                figures: figures(&node.tally),
                cache_type: match coverage.as_slice() {
                    [only] => only.cache_type.clone(),
                    _ => None,
                },
                uncovered_share: weighted[self.types.len()] / sum,
                coverage,
                folded: node.folded,
                raw: id.clone(),
            });
            if let Some(kids) = children.get(&Some(id)) {
                stack.extend(kids.iter().rev().copied());
            }
        }

        let mut data_types: Vec<Group> = self
            .kinds
            .iter()
            .map(|(k, t)| Group {
                name: k.clone(),
                figures: figures(t),
            })
            .collect();
        data_types.sort_by_key(|g| std::cmp::Reverse(g.figures.memory.value));
        let ttl = TTL_BUCKETS
            .iter()
            .zip(&self.ttl)
            .map(|(name, t)| Group {
                name: (*name).to_string(),
                figures: figures(t),
            })
            .collect();
        let cache_types = self
            .types
            .iter()
            .zip(&self.cache_types)
            .map(|(ct, t)| CacheTypeRow {
                name: ct.name.clone(),
                pattern: ct.pattern.clone(),
                figures: figures(t),
            })
            .collect();
        let biggest = self
            .top
            .iter()
            .map(|f| BigKey {
                key: crate::commands::show_key(&f.key),
                kind: f.kind.clone(),
                bytes: f.bytes,
                ttl_seconds: (f.pttl >= 0).then(|| f.pttl as f64 / 1000.0),
                cache_type: type_name(self.cache_type_of(&f.key)),
            })
            .collect();
        let mut folded_levels = self.folded_levels.clone();
        folded_levels.sort_unstable();
        let suggestions = suggest(&rows, &self.types, scale.exact);
        Findings {
            total: figures(&self.total),
            uncovered: figures(&self.cache_types[self.types.len()]),
            cache_types,
            prefixes: rows,
            data_types,
            ttl,
            biggest,
            suggestions,
            folded_levels,
        }
    }
}

fn display_prefix(id: &[u8], folded: bool) -> String {
    if id.is_empty() {
        "(no prefix)".into()
    } else if folded {
        format!("{} (other)", crate::commands::show_key(id))
    } else {
        crate::commands::show_key(id)
    }
}

/// Keys, memory and keys without TTL of a group.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Figures {
    /// Keys.
    pub keys: Figure,
    /// Bytes (MEMORY USAGE).
    pub memory: Figure,
    /// Keys without a TTL.
    pub no_ttl: Figure,
}

/// Which cache type covers how much of a prefix.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// The cache type; absent for keys no cache type covers.
    pub cache_type: Option<String>,
    /// Share of the prefix's keys.
    pub share: f64,
}

/// One row of the prefix tree.
#[derive(Debug, Clone, Serialize)]
pub struct PrefixRow {
    /// `market:data:`; `(no prefix)` for keys without `:`; `PARENT* (other)` for folded ones.
    pub prefix: String,
    /// 1 for the first segment.
    pub level: usize,
    /// Figures.
    #[serde(flatten)]
    pub figures: Figures,
    /// The cache type covering every key of the prefix, if one does.
    pub cache_type: Option<String>,
    /// Share of the prefix's keys no cache type covers.
    pub uncovered_share: f64,
    /// Every cache type seen under the prefix, biggest share first.
    pub coverage: Vec<Coverage>,
    /// Prefixes beyond [`MAX_PREFIXES_PER_LEVEL`] folded together.
    pub folded: bool,
    #[serde(skip)]
    raw: Key,
}

/// A named group (data type, TTL bucket).
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// Its name.
    pub name: String,
    /// Figures.
    #[serde(flatten)]
    pub figures: Figures,
}

/// A configured cache type and what it holds.
#[derive(Debug, Clone, Serialize)]
pub struct CacheTypeRow {
    /// Name.
    pub name: String,
    /// Pattern.
    pub pattern: String,
    /// Figures.
    #[serde(flatten)]
    pub figures: Figures,
}

/// One of the biggest keys.
#[derive(Debug, Clone, Serialize)]
pub struct BigKey {
    /// The key (non-printable bytes escaped).
    pub key: String,
    /// Its data type.
    #[serde(rename = "type")]
    pub kind: String,
    /// MEMORY USAGE.
    pub bytes: u64,
    /// Remaining TTL; absent without one.
    pub ttl_seconds: Option<f64>,
    /// The cache type covering it.
    pub cache_type: Option<String>,
}

/// A suggested `cache_types` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suggestion {
    /// Name.
    pub name: String,
    /// Pattern.
    pub pattern: String,
    /// Back up before flushing.
    pub backup: bool,
    /// What analyze found.
    pub description: String,
}

/// Everything learned, scaled.
#[derive(Debug, Clone, Serialize)]
pub struct Findings {
    /// All inspected keys (matching the pattern, if one was given).
    pub total: Figures,
    /// Keys no configured cache type covers.
    pub uncovered: Figures,
    /// Per configured cache type.
    pub cache_types: Vec<CacheTypeRow>,
    /// The prefix tree, parents before children, biggest memory first.
    pub prefixes: Vec<PrefixRow>,
    /// Per data type, biggest memory first.
    pub data_types: Vec<Group>,
    /// Per TTL bucket.
    pub ttl: Vec<Group>,
    /// The biggest keys inspected.
    pub biggest: Vec<BigKey>,
    /// `cache_types` entries for uncovered prefixes.
    pub suggestions: Vec<Suggestion>,
    /// Levels where more than [`MAX_PREFIXES_PER_LEVEL`] prefixes were folded.
    pub folded_levels: Vec<usize>,
}

/// Escapes the glob characters of a literal prefix.
pub fn glob_escape(literal: &str) -> String {
    let mut s = String::with_capacity(literal.len() + 2);
    for c in literal.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

/// A cache type name from a prefix: `legacy:feed:` → `legacy-feed`.
fn name_for(prefix: &str) -> String {
    let mut name = String::new();
    for c in prefix.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.ends_with('-') && !name.is_empty() {
            name.push('-');
        }
    }
    let name = name.trim_end_matches('-').to_string();
    if name.is_empty() {
        "uncovered".into()
    } else {
        name
    }
}

/// Entries for the highest prefixes whose keys no cache type covers: a fully uncovered
/// prefix is suggested whole; a partly covered one is looked into (its children).
fn suggest(rows: &[PrefixRow], types: &[CacheType], exact: bool) -> Vec<Suggestion> {
    let mut taken: Vec<String> = types.iter().map(|t| t.name.clone()).collect();
    let mut out = Vec::new();
    // Rows are in tree order; skip the subtree of a suggested or fully covered prefix.
    let mut skip_below: Option<(usize, Key)> = None;
    for row in rows {
        if let Some((level, id)) = &skip_below {
            if row.level > *level && row.raw.starts_with(id) {
                continue;
            }
            skip_below = None;
        }
        let fully_uncovered = row.cache_type.is_none()
            && row.coverage.len() == 1
            && row.coverage[0].cache_type.is_none();
        let fully_covered = row.uncovered_share == 0.0;
        if fully_covered {
            skip_below = Some((row.level, row.raw.clone()));
            continue;
        }
        if !fully_uncovered || row.folded || row.raw.is_empty() {
            continue; // look at the children, if any
        }
        let Ok(text) = std::str::from_utf8(&row.raw) else {
            continue; // not expressible as a YAML string pattern
        };
        if text.chars().any(char::is_control) {
            continue;
        }
        let base = name_for(text);
        let mut name = base.clone();
        let mut n = 2;
        while taken.contains(&name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        taken.push(name.clone());
        let approx = if exact { "" } else { "~" };
        let f = &row.figures;
        let no_ttl = if f.keys.value > 0 {
            100.0 * f.no_ttl.value as f64 / f.keys.value as f64
        } else {
            0.0
        };
        out.push(Suggestion {
            name,
            pattern: format!("{}*", glob_escape(text)),
            backup: true,
            description: format!(
                "found by kubectl rflush analyze: {approx}{} keys, {approx}{}, {no_ttl:.0}% without TTL",
                crate::commands::thousands(f.keys.value),
                crate::info::human_bytes(f.memory.value)
            ),
        });
        skip_below = Some((row.level, row.raw.clone()));
    }
    out
}

/// The `cache_types:` block for the override file: the configured types followed by the
/// suggested ones (a list in the override file replaces the configured one whole). Fields in
/// the order the README documents them; strings are JSON-quoted, which YAML reads as is.
pub fn suggestion_yaml(configured: &[CacheType], suggestions: &[Suggestion]) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let entry = |name: &str, pattern: &str, backup: bool, description: &str| {
        format!(
            "  - name: {}\n    pattern: {}\n    backup: {backup}\n    description: {}\n",
            quote(name),
            quote(pattern),
            quote(description)
        )
    };
    let mut text = String::from("cache_types:\n");
    for t in configured {
        text.push_str(&entry(&t.name, &t.pattern, t.backup, &t.description));
    }
    if !suggestions.is_empty() {
        text.push_str("  # new: prefixes no cache type covered\n");
        for s in suggestions {
            text.push_str(&entry(&s.name, &s.pattern, s.backup, &s.description));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Stratum;

    fn types() -> Vec<CacheType> {
        shared::config::Config::default().cache_types
    }

    fn facts(key: &str, kind: &str, bytes: u64, pttl: i64) -> KeyFacts {
        KeyFacts {
            key: key.as_bytes().to_vec(),
            kind: kind.into(),
            bytes,
            pttl,
        }
    }

    fn exact(n: u64) -> Scale {
        Scale {
            strata: vec![Stratum {
                population: n,
                sampled: n,
            }],
            exact: true,
            z: 1.96,
        }
    }

    #[test]
    fn prefixes_split_on_colons_up_to_the_depth() {
        let p = |k: &str, d| {
            prefixes(k.as_bytes(), d)
                .into_iter()
                .map(|b| String::from_utf8(b.to_vec()).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(p("market:data:AAPL", 2), ["market:", "market:data:"]);
        assert_eq!(p("market:data:AAPL", 1), ["market:"]);
        assert_eq!(p("market:data:AAPL", 5), ["market:", "market:data:"]);
        assert_eq!(p("session:abc", 2), ["session:"]);
        assert_eq!(p("plain", 2), [""]);
        assert_eq!(p(":x", 2), [":"]);
    }

    #[test]
    fn ttl_buckets() {
        assert_eq!(ttl_bucket(-1), 0);
        assert_eq!(ttl_bucket(59_999), 1);
        assert_eq!(ttl_bucket(60_000), 2);
        assert_eq!(ttl_bucket(3_599_999), 2);
        assert_eq!(ttl_bucket(86_399_999), 3);
        assert_eq!(ttl_bucket(86_400_000), 4);
    }

    #[test]
    fn tree_coverage_and_suggestions() {
        let mut a = Analyzer::new(2, types(), 3);
        for i in 0..30 {
            a.add(0, &facts(&format!("market:data:{i}"), "string", 100, 5000));
        }
        for i in 0..10 {
            a.add(0, &facts(&format!("market:old:{i}"), "hash", 1000, -1));
        }
        for i in 0..5 {
            a.add(0, &facts(&format!("legacy:feed:{i}"), "list", 50, -1));
            a.add(0, &facts(&format!("legacy:blob:{i}"), "string", 10, -1));
        }
        a.add(0, &facts("lonely", "string", 7, -1));
        let f = a.report(&exact(51));
        assert_eq!(f.total.keys.value, 51);
        assert_eq!(f.total.memory.value, 3000 + 10_000 + 250 + 50 + 7);
        assert_eq!(f.uncovered.keys.value, 21);
        let order: Vec<&str> = f.prefixes.iter().map(|r| r.prefix.as_str()).collect();
        assert_eq!(
            order,
            [
                "market:",
                "market:old:",
                "market:data:",
                "legacy:",
                "legacy:feed:",
                "legacy:blob:",
                "(no prefix)"
            ]
        );
        let market = &f.prefixes[0];
        assert_eq!(market.cache_type, None);
        assert!((market.uncovered_share - 0.25).abs() < 1e-9);
        assert_eq!(f.prefixes[2].cache_type.as_deref(), Some("market-data"));
        assert_eq!(f.prefixes[1].figures.no_ttl.value, 10);
        let names: Vec<(&str, &str)> = f
            .suggestions
            .iter()
            .map(|s| (s.name.as_str(), s.pattern.as_str()))
            .collect();
        assert_eq!(
            names,
            [("market-old", "market:old:*"), ("legacy", "legacy:*")]
        );
        assert!(
            f.suggestions[1]
                .description
                .contains("10 keys, 300 B, 100% without TTL"),
            "{:?}",
            f.suggestions[1]
        );
        let big: Vec<&str> = f.biggest.iter().map(|b| b.key.as_str()).collect();
        assert_eq!(big.len(), 3);
        assert!(big.iter().all(|k| k.starts_with("market:old:")), "{big:?}");
        assert_eq!(f.ttl[0].figures.keys.value, 21);
        assert_eq!(f.ttl[1].figures.keys.value, 30);
        assert_eq!(f.data_types[0].name, "hash");
        let yaml = suggestion_yaml(&types(), &f.suggestions);
        // It is a valid override file: the configured types plus the two new ones.
        let config = shared::config::parse(&yaml, std::path::Path::new("suggested.yaml")).unwrap();
        let list = &config.cache_types;
        assert_eq!(list.len(), types().len() + 2);
        assert_eq!(list[..types().len()], types()[..]);
        assert_eq!(list[types().len()].pattern, "market:old:*");
        assert_eq!(list[types().len() + 1].name, "legacy");
        assert!(
            yaml.contains("  - name: \"legacy\"\n    pattern: \"legacy:*\"\n    backup: true\n"),
            "{yaml}"
        );
        assert!(yaml.contains("# new: prefixes no cache type covered"));
    }

    #[test]
    fn suggestions_get_unique_names_and_escaped_patterns() {
        let mut t = types();
        t.push(CacheType {
            name: "legacy".into(),
            pattern: "nothing:*".into(),
            backup: true,
            description: String::new(),
        });
        let mut a = Analyzer::new(1, t.clone(), 0);
        a.add(0, &facts("legacy:1", "string", 1, -1));
        a.add(0, &facts("we*ird:1", "string", 1, -1));
        let f = a.report(&exact(2));
        let s: Vec<(&str, &str)> = f
            .suggestions
            .iter()
            .map(|s| (s.name.as_str(), s.pattern.as_str()))
            .collect();
        assert_eq!(s, [("legacy-2", "legacy:*"), ("we-ird", r"we\*ird:*")]);
        assert!(crate::glob::matches(br"we\*ird:*", b"we*ird:1"));
        assert!(!crate::glob::matches(br"we\*ird:*", b"weXird:1"));
    }

    #[test]
    fn many_prefixes_fold_into_their_parent() {
        let mut a = Analyzer::new(2, types(), 0);
        for i in 0..MAX_PREFIXES_PER_LEVEL + 10 {
            a.add(0, &facts(&format!("user:{i}:profile"), "string", 1, -1));
        }
        let f = a.report(&exact((MAX_PREFIXES_PER_LEVEL + 10) as u64));
        assert_eq!(f.folded_levels, [2]);
        let other = f.prefixes.iter().find(|r| r.folded).unwrap();
        assert_eq!(other.prefix, "user:* (other)");
        assert_eq!(other.figures.keys.value, 10);
        assert_eq!(
            f.prefixes[0].figures.keys.value as usize,
            MAX_PREFIXES_PER_LEVEL + 10
        );
        assert_eq!(f.prefixes.len(), MAX_PREFIXES_PER_LEVEL + 2);
        // The whole of user: is uncovered: one suggestion for it, none for its children.
        assert_eq!(f.suggestions.len(), 1);
        assert_eq!(f.suggestions[0].pattern, "user:*");
    }
}
