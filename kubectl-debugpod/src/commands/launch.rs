//! Starting a session pod that is already built (a copy, a node pod): the server-side dry-run,
//! the create, the watch until its container runs, and deleting it again when it does not.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use shared::Error;

use super::{Ctx, delete_session};
use crate::admission::{self, Rejection};
use crate::wait;

/// Dry-runs the create of `pod`: `Ok(None)` when the server would accept it, the rejection
/// when admission or RBAC refuses it. A webhook that cannot be dry-run proves nothing either
/// way: that is a warning, and the real create decides.
pub async fn dry_run(ctx: &Ctx, pod: &Pod) -> anyhow::Result<Option<Rejection>> {
    let namespace = pod.namespace().unwrap_or_else(|| ctx.namespace.clone());
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    match admission::dry_run(&pods, pod).await {
        Ok(()) => Ok(None),
        Err(err) => match admission::classify(&err) {
            None => {
                Err(Error::kube(format!("dry-run create of pod {}", pod.name_any()), err).into())
            }
            Some(Rejection::DryRunUnsupported(msg)) => {
                shared::exit::warn(format!(
                    "the server cannot dry-run this pod ({}); creating it for real",
                    admission::reason(&msg)
                ));
                Ok(None)
            }
            Some(r) => Ok(Some(r)),
        },
    }
}

/// Creates `pod` and watches it until `container` runs (or `timeout`, or Ctrl-C). On any
/// failure after the create the pod is deleted: nothing is left behind.
pub async fn create_and_wait(
    ctx: &Ctx,
    pod: &Pod,
    container: &str,
    timeout: Duration,
) -> anyhow::Result<Pod> {
    let namespace = pod.namespace().unwrap_or_else(|| ctx.namespace.clone());
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let created = pods
        .create(&PostParams::default(), pod)
        .await
        .map_err(|e| Error::kube(format!("create pod {}", pod.name_any()), e))?;
    let name = created.name_any();
    let waited = tokio::select! {
        r = wait::until_running(&ctx.client, &namespace, &name, container, false, timeout) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted while waiting for pod {name}")),
    };
    match waited {
        Ok(running) => Ok(running),
        Err(err) => {
            if let Err(del) = delete_session(&pods, &name).await {
                shared::exit::warn(format!(
                    "could not delete the failed pod {name}: {}",
                    shared::exit::render_chain(del.as_ref())
                ));
            }
            Err(err)
        }
    }
}
