//! The verify steps: after issuance the Secret holds a new, valid certificate; after the
//! restarts, `--endpoint` serves it.

use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use crate::chain::Cert;
use crate::evaluate::evaluate;
use crate::findings::{Finding, Severity, Thresholds};
use crate::inspect::{fingerprint, now};
use crate::model::Entry;
use crate::rotation::{RotationReport, Snapshot};
use crate::served;

use super::{Ctx, leaf_of, progress};

/// How long the endpoint gets to serve the new certificate: pods of the old ReplicaSet can
/// still be terminating (and briefly look ready) right after a rollout completes.
const SERVED_DEADLINE: Duration = Duration::from_secs(30);
/// The pause between two looks at the endpoint.
const SERVED_RETRY: Duration = Duration::from_secs(2);
/// How long one look at the endpoint may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(15);

/// Reads the Secret back and checks it holds a certificate other than `before` that is valid;
/// returns its leaf.
pub async fn check_secret(
    ctx: &Ctx<'_>,
    entry: &Entry,
    before: Option<&Cert>,
    report: &mut RotationReport,
) -> anyhow::Result<Cert> {
    let (ns, name) = (&entry.namespace, &entry.secret_name);
    let after = Api::<Secret>::namespaced(ctx.client.clone(), ns)
        .get_opt(name)
        .await
        .map_err(|e| shared::Error::kube(format!("get secret {ns}/{name}"), e))?
        .with_context(|| {
            format!("verification failed: Secret {ns}/{name} is gone after issuance")
        })?;
    let mut after_entry = entry.clone();
    after_entry.secret = Some(after);
    let leaf = leaf_of(after_entry.data("tls.crt")).with_context(|| {
        format!("verification failed: Secret {ns}/{name} holds no certificate after issuance")
    })?;
    report.after = Some(Snapshot::of(&leaf));
    if let Some(b) = before
        && b.info.sha256 == leaf.info.sha256
    {
        anyhow::bail!(
            "verification failed: the Secret still holds the old certificate ({})",
            leaf.info.serial
        );
    }
    let at = now();
    let old = evaluate(entry, &[], Thresholds::default(), at);
    let new = evaluate(&after_entry, &[], Thresholds::default(), at);
    match judge_new_certificate(&old.findings, &new.findings) {
        NewCertificate::Unusable(bad) => anyhow::bail!(
            "verification failed: the new certificate is not valid: {}",
            bad.message
        ),
        NewCertificate::Usable { kept_problems } => {
            for f in kept_problems {
                let msg = format!(
                    "the new certificate still has a problem the old one had ({}): {}",
                    f.check, f.message
                );
                shared::exit::warn(&msg);
                report.warnings.push(msg);
            }
        }
    }
    Ok(leaf)
}

/// Findings that make a certificate unusable whatever the old one was like: a rotation that
/// produced one of these is rolled back.
const ALWAYS_FATAL: &[&str] = &[
    "tls-crt",
    "pem",
    "not-yet-valid",
    "expiry",
    "tls-key",
    "key-match",
];

/// What the post-issuance check concludes about the new certificate.
#[derive(Debug, PartialEq)]
enum NewCertificate<'a> {
    /// Roll back: this critical finding is fatal, or new (a regression against the old one).
    Unusable(&'a Finding),
    /// Keep it; these critical findings the old certificate had too (restoring it would not
    /// fix them: they come from the Certificate's spec or the issuer), worth a warning.
    Usable { kept_problems: Vec<&'a Finding> },
}

/// Decides whether a freshly issued certificate is kept. Readiness is judged elsewhere (the
/// issuance step waits for it); a policy finding such as a weak key or `renewBefore` longer
/// than the lifetime is only a reason to roll back when the old certificate did not have it,
/// since the backup would bring the same problem back.
fn judge_new_certificate<'a>(old: &[Finding], new: &'a [Finding]) -> NewCertificate<'a> {
    let critical = |f: &&Finding| f.severity >= Severity::Critical && f.check != "ready";
    let old_had = |check: &str| old.iter().filter(critical).any(|f| f.check == check);
    let mut kept_problems = Vec::new();
    for f in new.iter().filter(critical) {
        if ALWAYS_FATAL.contains(&f.check) || !old_had(f.check) {
            return NewCertificate::Unusable(f);
        }
        kept_problems.push(f);
    }
    NewCertificate::Usable { kept_problems }
}

/// Checks, for up to 30 s, that `--endpoint` serves `leaf`.
pub async fn served(
    ctx: &Ctx<'_>,
    entry: &Entry,
    leaf: &Cert,
    report: &mut RotationReport,
) -> anyhow::Result<()> {
    let (Some(endpoint), Some(text)) = (&ctx.endpoint, &ctx.args.endpoint) else {
        return Ok(());
    };
    let want = &leaf.info.sha256;
    let deadline = tokio::time::Instant::now() + SERVED_DEADLINE;
    let mut last_said = None;
    loop {
        let fetched = served::fetch(
            Some(&ctx.client),
            &entry.namespace,
            endpoint,
            None,
            FETCH_TIMEOUT,
        )
        .await;
        let served = match &fetched {
            Ok(chain) => chain.first().map(|der| fingerprint(der)),
            Err(_) => None,
        };
        if served.as_ref() == Some(want) {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(match (fetched, served) {
                (Err(e), _) => e.context(format!(
                    "verification failed: cannot read the certificate {text} serves"
                )),
                (Ok(_), Some(served)) => anyhow::anyhow!(
                    "verification failed: {text} serves {served}, not the new certificate {want}"
                ),
                (Ok(_), None) => anyhow::anyhow!(
                    "verification failed: {text} presented no certificate, not the new certificate {want}"
                ),
            });
        }
        if last_said.as_ref() != Some(&served) {
            progress(format!(
                "{text} still serves {}; retrying for up to {}s",
                served.as_deref().unwrap_or("nothing readable"),
                SERVED_DEADLINE.as_secs()
            ));
            last_said = Some(served);
        }
        tokio::time::sleep(SERVED_RETRY).await;
    }
    progress(format!("{text} serves the new certificate"));
    report
        .changes
        .push(format!("verified: {text} serves {want}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(severity: Severity, check: &'static str) -> Finding {
        Finding {
            severity,
            check,
            message: format!("{check} finding"),
            hint: None,
        }
    }

    #[test]
    fn a_new_critical_finding_is_a_regression_and_rolls_back() {
        let old = [finding(Severity::Ok, "key-strength")];
        let new = [finding(Severity::Critical, "key-strength")];
        assert_eq!(
            judge_new_certificate(&old, &new),
            NewCertificate::Unusable(&new[0])
        );
    }

    #[test]
    fn a_policy_problem_the_old_certificate_had_too_is_kept_with_a_warning() {
        let old = [finding(Severity::Critical, "renew-before")];
        let new = [
            finding(Severity::Ok, "expiry"),
            finding(Severity::Critical, "renew-before"),
        ];
        assert_eq!(
            judge_new_certificate(&old, &new),
            NewCertificate::Usable {
                kept_problems: vec![&new[1]]
            }
        );
    }

    #[test]
    fn an_expired_or_mismatched_new_certificate_rolls_back_even_if_the_old_one_was_too() {
        for check in ALWAYS_FATAL {
            let old = [finding(Severity::Critical, check)];
            let new = [finding(Severity::Critical, check)];
            assert_eq!(
                judge_new_certificate(&old, &new),
                NewCertificate::Unusable(&new[0]),
                "{check}"
            );
        }
    }

    #[test]
    fn readiness_and_warnings_never_roll_back() {
        let new = [
            finding(Severity::Critical, "ready"),
            finding(Severity::Warning, "chain-order"),
        ];
        assert_eq!(
            judge_new_certificate(&[], &new),
            NewCertificate::Usable {
                kept_problems: vec![]
            }
        );
    }
}
