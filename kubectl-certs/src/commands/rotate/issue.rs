//! The issue step: a new certificate into the Secret, through cert-manager (trigger, then
//! watch for the new revision) or from Vault/OpenBao (see [`super::issue_vault`]).

use k8s_openapi::api::core::v1::Secret;

use crate::certmanager;
use crate::model::Entry;
use crate::rotation::RotationReport;

use super::decide::Issuance;
use super::plan::Plan;
use super::{Ctx, progress};

/// Issues a new certificate for `entry` into its Secret. `before` is the Secret as backed up.
pub async fn issue(
    ctx: &Ctx<'_>,
    entry: &Entry,
    plan: Plan,
    before: Option<&Secret>,
    report: &mut RotationReport,
) -> Issuance {
    match plan {
        Plan::CertManager => through_cert_manager(ctx, entry, report).await,
        Plan::Vault => match super::issue_vault::issue(ctx, entry, before, report).await {
            Ok(()) => Issuance::Written,
            Err(e) => Issuance::Failed(e),
        },
    }
}

/// Sets `Issuing=True` on the Certificate and watches until cert-manager wrote a new revision,
/// failed, or `--timeout` passed.
async fn through_cert_manager(
    ctx: &Ctx<'_>,
    entry: &Entry,
    report: &mut RotationReport,
) -> Issuance {
    let ns = &entry.namespace;
    let old = match certmanager::trigger(&ctx.client, ns, &entry.name).await {
        Ok(old) => old,
        Err(e) => return Issuance::Failed(e),
    };
    progress(format!(
        "set Issuing=True (ManuallyTriggered) on certificate {}; waiting for revision > {old}",
        entry.name
    ));
    report.changes.push(format!(
        "certificate/{}: Issuing=True (ManuallyTriggered)",
        entry.name
    ));
    let mut p = |line: String| progress(line);
    let outcome =
        certmanager::wait(&ctx.client, ns, &entry.name, old, ctx.args.timeout, &mut p).await;
    match outcome {
        Ok(certmanager::Outcome::Issued { revision }) => {
            report.revision = Some((old, revision));
            report.changes.push(format!(
                "certificate/{}: revision {old} -> {revision}",
                entry.name
            ));
            Issuance::Written
        }
        Ok(certmanager::Outcome::Failed { reason, message }) => Issuance::Failed(anyhow::anyhow!(
            "cert-manager failed to issue: {reason}: {message}"
        )),
        Ok(certmanager::Outcome::TimedOut { last }) => Issuance::TimedOut(anyhow::anyhow!(
            "timed out after {}s waiting for cert-manager (last: {last})",
            ctx.args.timeout.as_secs()
        )),
        Err(e) => Issuance::Failed(e),
    }
}
