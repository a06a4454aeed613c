//! The verify steps: after issuance the Secret holds a new, valid certificate; after the
//! restarts, `--endpoint` serves it.

use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use crate::chain::Cert;
use crate::evaluate::evaluate;
use crate::findings::{Severity, Thresholds};
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
    let check = evaluate(&after_entry, &[], Thresholds::default(), now());
    if let Some(bad) = check
        .findings
        .iter()
        .find(|f| f.severity >= Severity::Critical && f.check != "ready")
    {
        anyhow::bail!(
            "verification failed: the new certificate is not valid: {}",
            bad.message
        );
    }
    Ok(leaf)
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
