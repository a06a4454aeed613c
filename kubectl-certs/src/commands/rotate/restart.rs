//! The restart step: restart what mounts the Secret, as `kubectl rollout restart` does, and
//! wait for each rollout; on rollback, restart the same workloads again so they load the
//! restored Secret.

use std::time::Duration;

use crate::restart::{Workload, restart, wait_rollout};
use crate::rotation::{RotationReport, WorkloadResult};

use super::{Ctx, progress};

/// Restarts each workload (skipping Reloader-managed and paused ones) and waits for its
/// rollout, recording each in `report.workloads`; `restarted` gets the id of every workload
/// whose restartedAt was set, also when a later step failed.
pub async fn restart_all(
    ctx: &Ctx<'_>,
    workloads: &[Workload],
    report: &mut RotationReport,
    restarted: &mut Vec<String>,
) -> anyhow::Result<()> {
    for w in workloads {
        let mut result = WorkloadResult::pending(w.clone());
        if let Some(why) = &w.skipped {
            progress(format!("not restarting {}: {why}", w.id()));
            report.workloads.push(result);
            continue;
        }
        let at = stamp(None).await;
        if let Err(e) = restart(&ctx.client, w, &at).await {
            result.error = Some(shared::exit::render_chain(e.as_ref()));
            report.workloads.push(result);
            return Err(e);
        }
        result.restarted = true;
        result.restarted_at = Some(at.clone());
        restarted.push(w.id());
        report
            .changes
            .push(format!("{}: restarted (restartedAt={at})", w.id()));
        progress(format!(
            "restarted {} ({}); waiting for the rollout",
            w.id(),
            w.uses.join(", ")
        ));
        let rolled_out = wait_rollout(&ctx.client, w, ctx.args.timeout).await;
        result.rolled_out = rolled_out.is_ok();
        if let Err(e) = &rolled_out {
            result.error = Some(shared::exit::render_chain(e.as_ref()));
        }
        report.workloads.push(result);
        rolled_out?;
        progress(format!("{} rolled out", w.id()));
    }
    Ok(())
}

/// Restarts every workload restarted for the new certificate again, and waits for each
/// rollout. On failure: the ids of the workloads not restarted back, and the first error.
pub async fn restart_back(
    ctx: &Ctx<'_>,
    report: &mut RotationReport,
) -> Result<(), (Vec<String>, anyhow::Error)> {
    let mut failed = Vec::new();
    let mut first_error = None;
    for w in report.workloads.iter_mut().filter(|w| w.restarted) {
        let at = stamp(w.restarted_at.as_deref()).await;
        let result = async {
            restart(&ctx.client, &w.workload, &at).await?;
            progress(format!(
                "restarted {} again to load the restored Secret; waiting for the rollout",
                w.workload.id()
            ));
            wait_rollout(&ctx.client, &w.workload, ctx.args.timeout).await
        }
        .await;
        match result {
            Ok(()) => {
                w.restarted_back = true;
                report.changes.push(format!(
                    "{}: restarted again to load the restored Secret (restartedAt={at})",
                    w.workload.id()
                ));
                progress(format!("{} rolled out", w.workload.id()));
            }
            Err(e) => {
                w.error = Some(shared::exit::render_chain(e.as_ref()));
                failed.push(w.workload.id());
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        None => Ok(()),
        Some(e) => Err((failed, e)),
    }
}

/// A restartedAt value (RFC 3339 in seconds, as kubectl writes it) other than `previous`:
/// writing the same value again would leave the pod template as it is, and restart nothing.
async fn stamp(previous: Option<&str>) -> String {
    loop {
        let at = k8s_openapi::jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        if previous != Some(at.as_str()) {
            return at;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
