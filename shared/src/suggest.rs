//! "Did you mean" suggestions for unknown names.

/// The candidates closest to `name` (Jaro-Winkler ≥ 0.8 or a substring match), best first,
/// at most three.
pub fn close_matches<'a, I>(name: &str, candidates: I) -> Vec<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .map(|c| {
            let score = strsim::jaro_winkler(name, c);
            let contains = !name.is_empty() && (c.contains(name) || name.contains(c));
            (if contains { score.max(0.9) } else { score }, c)
        })
        .filter(|(score, _)| *score >= 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take(3)
        .map(|(_, c)| c.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_typos_and_prefixes() {
        let names = ["api-gateway", "core-engine", "market-intel-ca"];
        assert_eq!(close_matches("api-gatway", names), ["api-gateway"]);
        assert_eq!(close_matches("core", names), ["core-engine"]);
        assert!(close_matches("zzz", names).is_empty());
    }
}
