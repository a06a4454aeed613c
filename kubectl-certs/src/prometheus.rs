//! `kubectl certs check -o prometheus`: the verdicts as Prometheus text exposition format
//! (version 0.0.4), for node_exporter's textfile collector or a Pushgateway.
//!
//! The metric names follow x509-certificate-exporter where they mean the same thing
//! (`x509_cert_not_after`, `x509_cert_not_before`, `x509_cert_expired`, `x509_read_errors`),
//! so existing dashboards and alerts keep working; `x509_cert_status` and
//! `x509_cert_check_status` carry our own grading. Severities are encoded as the exit code
//! `check` gives for them (0 ok or info, 3 warning, 4 critical, 5 unknown), so an alert reads
//! like the CLI: `x509_cert_status >= 4`.
//!
//! The text itself is written by the `prometheus` crate (escaping, ordering, HELP/TYPE lines).

use std::collections::BTreeMap;

use prometheus::{Encoder as _, GaugeVec, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::commands::check::Verdict;
use crate::findings::Severity;

/// The labels of every per-certificate series, in order.
pub const CERT_LABELS: [&str; 8] = [
    "context",
    "namespace",
    "name",
    "source",
    "secret",
    "issuer",
    "subject_CN",
    "issuer_CN",
];

/// The families written, with their help text.
struct Families {
    not_after: GaugeVec,
    not_before: GaugeVec,
    expired: IntGaugeVec,
    status: IntGaugeVec,
    check_status: IntGaugeVec,
    read_errors: IntGaugeVec,
}

impl Families {
    fn register(registry: &Registry) -> prometheus::Result<Self> {
        let check_labels: Vec<&str> = CERT_LABELS.iter().copied().chain(["check"]).collect();
        let families = Families {
            not_after: GaugeVec::new(
                Opts::new(
                    "x509_cert_not_after",
                    "The certificate's notAfter (expiry), in seconds since the Unix epoch.",
                ),
                &CERT_LABELS,
            )?,
            not_before: GaugeVec::new(
                Opts::new(
                    "x509_cert_not_before",
                    "The certificate's notBefore, in seconds since the Unix epoch.",
                ),
                &CERT_LABELS,
            )?,
            expired: IntGaugeVec::new(
                Opts::new(
                    "x509_cert_expired",
                    "1 when the certificate has expired, else 0.",
                ),
                &CERT_LABELS,
            )?,
            status: IntGaugeVec::new(
                Opts::new(
                    "x509_cert_status",
                    "The certificate's worst finding, as kubectl certs check's exit code: 0 ok, 3 warning, 4 critical, 5 unknown.",
                ),
                &CERT_LABELS,
            )?,
            check_status: IntGaugeVec::new(
                Opts::new(
                    "x509_cert_check_status",
                    "The worst finding of one check (label check) on the certificate: 0 ok or info, 3 warning, 4 critical, 5 unknown.",
                ),
                &check_labels,
            )?,
            read_errors: IntGaugeVec::new(
                Opts::new(
                    "x509_read_errors",
                    "How many certificates could not be read (missing Secret, no or unreadable certificate).",
                ),
                &["context"],
            )?,
        };
        registry.register(Box::new(families.not_after.clone()))?;
        registry.register(Box::new(families.not_before.clone()))?;
        registry.register(Box::new(families.expired.clone()))?;
        registry.register(Box::new(families.status.clone()))?;
        registry.register(Box::new(families.check_status.clone()))?;
        registry.register(Box::new(families.read_errors.clone()))?;
        Ok(families)
    }
}

/// The label values of a verdict, in [`CERT_LABELS`] order. `context` is the verdict's own,
/// else `default_context` (the context in use when only one is checked).
fn cert_labels<'a>(v: &'a Verdict, default_context: &'a str) -> [&'a str; 8] {
    let (subject_cn, issuer_cn) = v
        .leaf
        .as_ref()
        .map(|l| (l.subject_cn.as_str(), l.issuer_cn.as_str()))
        .unwrap_or(("", ""));
    [
        v.context.as_deref().unwrap_or(default_context),
        &v.namespace,
        &v.name,
        v.source.as_str(),
        &v.secret,
        &v.issuer,
        subject_cn,
        issuer_cn,
    ]
}

/// Renders verdicts as Prometheus text. `now` is unix seconds (for `x509_cert_expired`).
pub fn render(verdicts: &[Verdict], default_context: &str, now: i64) -> prometheus::Result<String> {
    let registry = Registry::new();
    let families = Families::register(&registry)?;
    // Every context checked gets a read-error count, 0 included (a fleet's contexts come with
    // their verdicts; there is no default context then).
    let mut read_errors: BTreeMap<&str, i64> = BTreeMap::new();
    if !default_context.is_empty() || verdicts.is_empty() {
        read_errors.insert(default_context, 0);
    }
    for v in verdicts {
        let labels = cert_labels(v, default_context);
        families
            .status
            .with_label_values(&labels)
            .set(i64::from(v.status.exit_code()));
        let mut worst_per_check: BTreeMap<&str, Severity> = BTreeMap::new();
        for f in &v.findings {
            let worst = worst_per_check.entry(f.check).or_insert(f.severity);
            *worst = (*worst).max(f.severity);
        }
        for (check, severity) in worst_per_check {
            let mut with_check: Vec<&str> = labels.to_vec();
            with_check.push(check);
            families
                .check_status
                .with_label_values(&with_check)
                .set(i64::from(severity.exit_code()));
        }
        let errors = read_errors.entry(labels[0]).or_insert(0);
        match &v.leaf {
            Some(leaf) => {
                families
                    .not_after
                    .with_label_values(&labels)
                    .set(leaf.not_after as f64);
                families
                    .not_before
                    .with_label_values(&labels)
                    .set(leaf.not_before as f64);
                families
                    .expired
                    .with_label_values(&labels)
                    .set(i64::from(leaf.not_after <= now));
            }
            None => *errors += 1,
        }
    }
    for (context, count) in read_errors {
        families
            .read_errors
            .with_label_values(&[context])
            .set(count);
    }
    let mut buffer = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut buffer)?;
    String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::check::LeafFacts;
    use crate::findings::Finding;
    use crate::model::Origin;

    fn verdict(name: &str, leaf: Option<LeafFacts>, findings: Vec<Finding>) -> Verdict {
        let status = findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Ok);
        Verdict {
            context: None,
            source: Origin::Secret,
            namespace: "web".into(),
            name: name.into(),
            secret: format!("{name}-tls"),
            issuer: "Issuer/ca".into(),
            status,
            days_left: None,
            not_after: None,
            findings,
            leaf,
        }
    }

    fn finding(severity: Severity, check: &'static str) -> Finding {
        Finding {
            severity,
            check,
            message: "m".into(),
            hint: None,
        }
    }

    fn line_of<'a>(text: &'a str, metric: &str, must_contain: &str) -> &'a str {
        text.lines()
            .find(|l| l.starts_with(metric) && l.contains(must_contain))
            .unwrap_or_else(|| panic!("no {metric} line with {must_contain} in:\n{text}"))
    }

    #[test]
    fn a_readable_certificate_has_its_window_status_and_per_check_worst() {
        let leaf = LeafFacts {
            not_before: 1_000,
            not_after: 2_000,
            subject_cn: "api.example.com".into(),
            issuer_cn: "Example CA".into(),
        };
        let v = verdict(
            "api",
            Some(leaf),
            vec![
                finding(Severity::Ok, "expiry"),
                finding(Severity::Warning, "san"),
                finding(Severity::Critical, "san"),
            ],
        );
        let text = render(&[v], "prod", 3_000).unwrap();
        assert!(
            line_of(&text, "x509_cert_not_after{", "name=\"api\"").ends_with(" 2000"),
            "{text}"
        );
        assert!(line_of(&text, "x509_cert_not_before{", "api").ends_with(" 1000"));
        assert!(line_of(&text, "x509_cert_expired{", "api").ends_with(" 1"));
        assert!(line_of(&text, "x509_cert_status{", "api").ends_with(" 4"));
        assert!(line_of(&text, "x509_cert_check_status{", "check=\"san\"").ends_with(" 4"));
        assert!(line_of(&text, "x509_cert_check_status{", "check=\"expiry\"").ends_with(" 0"));
        assert!(
            line_of(&text, "x509_cert_status{", "subject_CN=\"api.example.com\"")
                .contains("context=\"prod\"")
        );
        assert!(line_of(&text, "x509_read_errors{", "prod").ends_with(" 0"));
        assert!(text.contains("# TYPE x509_cert_not_after gauge"));
    }

    #[test]
    fn an_unreadable_certificate_counts_as_a_read_error_and_has_no_window() {
        let missing = verdict("gone", None, vec![finding(Severity::Critical, "secret")]);
        let mut elsewhere = verdict("other", None, vec![finding(Severity::Unknown, "list")]);
        elsewhere.context = Some("staging".into());
        let text = render(&[missing.clone(), elsewhere.clone()], "prod", 0).unwrap();
        assert!(!text.contains("x509_cert_not_after{"), "{text}");
        assert!(line_of(&text, "x509_cert_status{", "gone").ends_with(" 4"));
        assert!(line_of(&text, "x509_read_errors{", "\"prod\"").ends_with(" 1"));
        assert!(line_of(&text, "x509_read_errors{", "\"staging\"").ends_with(" 1"));
        assert!(line_of(&text, "x509_cert_status{", "other").contains("context=\"staging\""));

        // A fleet: every verdict names its context, and no context-less series appears.
        let mut here = missing;
        here.context = Some("prod".into());
        let text = render(&[here, elsewhere], "", 0).unwrap();
        assert!(!text.contains("context=\"\""), "{text}");
        assert!(line_of(&text, "x509_read_errors{", "\"prod\"").ends_with(" 1"));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut v = verdict("q\"uote", None, vec![]);
        v.issuer = "back\\slash\nnewline".into();
        let text = render(&[v], "c", 0).unwrap();
        assert!(text.contains(r#"name="q\"uote""#), "{text}");
        assert!(text.contains(r#"issuer="back\\slash\nnewline""#), "{text}");
    }
}
