//! One certificate's verdict: the Secret's analysis plus the Certificate's readiness, and
//! optionally the certificate actually served on an endpoint.
//!
//! This is the only evaluation: `check`, `validate` and `list` all grade a certificate with
//! [`evaluate`] and every finding it returns, so they cannot disagree. `check` prints the
//! worst finding(s), `validate` prints all of them, `list` shows the worst severity.

use crate::chain::Cert;
use crate::findings::{Analysis, Finding, Severity, Thresholds, analyze, reached};
use crate::inspect;
use crate::model::Entry;

/// Analyses an entry: every finding on the Secret's material, the Certificate's expectations
/// (SANs, renewBefore) and its readiness. `now` is unix seconds.
///
/// Other sources' rows ([`crate::sources`]) are graded by the same path: their material's
/// [`crate::findings::Role`] decides which checks apply, a CA bundle is compared with what its
/// consumer reaches, and findings read off the object are added; a source that could not be
/// read is one Unknown finding.
pub fn evaluate(entry: &Entry, anchors: &[Cert], thresholds: Thresholds, now: i64) -> Analysis {
    let found = entry.found.as_deref();
    if let Some(unreadable) = found.and_then(|f| f.unreadable.clone()) {
        return Analysis {
            findings: vec![unreadable],
            ..Default::default()
        };
    }
    let own_material = found.is_some_and(|f| f.own_material());
    let mut a = if entry.secret.is_none() && !own_material {
        let mut a = Analysis::default();
        if let Some(missing) = found.and_then(|f| f.missing.clone()) {
            a.findings.push(missing);
            return a;
        }
        a.findings.push(Finding {
            severity: Severity::Critical,
            check: "secret",
            message: format!("Secret {}/{} does not exist", entry.namespace, entry.secret_name),
            hint: Some(match &entry.certificate {
                Some(_) => "cert-manager should create it; see `kubectl describe certificate` and rotate with `kubectl certs rotate`".into(),
                None => "restore it with `kubectl certs restore BACKUP` or issue it with `kubectl certs rotate`".into(),
            }),
        });
        a
    } else {
        analyze(
            &entry.material(),
            &entry.expectations(),
            anchors,
            thresholds,
            now,
        )
    };
    if let Some(cert) = &entry.certificate {
        match &cert.ready {
            Some(c) if c.status == "True" => a.findings.push(Finding {
                severity: Severity::Ok,
                check: "ready",
                message: "Certificate is Ready".into(),
                hint: None,
            }),
            Some(c) => a.findings.push(Finding {
                severity: Severity::Critical,
                check: "ready",
                message: format!("Certificate is not Ready: {} ({})", c.reason, c.message),
                hint: Some(format!(
                    "see `kubectl describe certificate {} -n {}`",
                    cert.name, cert.namespace
                )),
            }),
            None => a.findings.push(Finding {
                severity: Severity::Warning,
                check: "ready",
                message: "Certificate has no Ready condition yet".into(),
                hint: Some("is cert-manager running?".into()),
            }),
        }
        if let Some(i) = cert
            .issuing
            .as_ref()
            .filter(|i| i.status == "False" && i.reason != "Issued")
        {
            a.findings.push(Finding {
                severity: Severity::Warning,
                check: "ready",
                message: format!("last issuance failed: {} ({})", i.reason, i.message),
                hint: Some("fix the cause, then `kubectl certs rotate` to retry now instead of after cert-manager's back-off".into()),
            });
        }
    }
    if let Some(f) = found {
        if let Some(r) = &f.reached {
            let bundle = a.chain.clone();
            reached::grade(&mut a, &bundle, r, thresholds, now);
        }
        a.findings.extend(f.notes.iter().cloned());
    }
    a
}

#[cfg(test)]
mod agreement;

/// Adds findings comparing the served chain (DER, leaf first) with the Secret's leaf.
pub fn compare_served(
    a: &mut Analysis,
    endpoint: &str,
    served: &[Vec<u8>],
    thresholds: Thresholds,
    now: i64,
) {
    let Some(leaf_der) = served.first() else {
        return;
    };
    let served_leaf = match inspect::inspect(leaf_der) {
        Ok(info) => info,
        Err(e) => {
            a.findings.push(Finding {
                severity: Severity::Critical,
                check: "served",
                message: format!("{endpoint} serves an unreadable certificate: {e}"),
                hint: None,
            });
            return;
        }
    };
    match &a.leaf {
        Some(secret_leaf) if secret_leaf.sha256 == served_leaf.sha256 => a.findings.push(Finding {
            severity: Severity::Ok,
            check: "served",
            message: format!("{endpoint} serves the Secret's certificate (serial {})", served_leaf.serial),
            hint: None,
        }),
        Some(_) => a.findings.push(Finding {
            severity: Severity::Critical,
            check: "served",
            message: format!(
                "{endpoint} serves a different certificate (serial {}, expires {}) than the Secret holds",
                served_leaf.serial,
                inspect::rfc3339(served_leaf.not_after)
            ),
            hint: Some("the workload has not picked up the new Secret: restart it (`kubectl rollout restart`) or check which Secret it mounts".into()),
        }),
        None => {}
    }
    let left = served_leaf.not_after - now;
    if left < thresholds.crit.as_secs() as i64 {
        a.findings.push(Finding {
            severity: Severity::Critical,
            check: "served",
            message: format!(
                "the served certificate expires in {} days",
                served_leaf.days_left(now)
            ),
            hint: Some("rotate and restart the workload".into()),
        });
    } else if left < thresholds.warn.as_secs() as i64 {
        a.findings.push(Finding {
            severity: Severity::Warning,
            check: "served",
            message: format!(
                "the served certificate expires in {} days",
                served_leaf.days_left(now)
            ),
            hint: None,
        });
    }
}
