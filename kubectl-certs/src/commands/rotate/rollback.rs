//! The backup taken before anything changes, and the rollback that puts it back: the Secret
//! from the backup, then the workloads restarted again so they load it.

use std::path::Path;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};

use crate::chain::Cert;
use crate::model::Entry;
use crate::restart::Workload;
use crate::rotation::{RotationReport, Snapshot};
use crate::{backup, restart};

use super::decide::{Backup, Restore};
use super::{Ctx, leaf_of, progress};

/// What was there before the rotation.
#[derive(Debug, Default)]
pub struct Before {
    /// The Secret as backed up (None: it did not exist).
    pub secret: Option<Secret>,
    /// Its leaf certificate.
    pub leaf: Option<Cert>,
    /// The workloads that mount it (empty with `--no-restart`).
    pub workloads: Vec<Workload>,
}

/// Reads the Secret and the workloads that mount it, and backs the Secret up (when it exists).
pub async fn take_backup(
    ctx: &Ctx<'_>,
    entry: &Entry,
    report: &mut RotationReport,
) -> anyhow::Result<(Backup, Before)> {
    let (ns, name) = (&entry.namespace, &entry.secret_name);
    let secret = Api::<Secret>::namespaced(ctx.client.clone(), ns)
        .get_opt(name)
        .await
        .map_err(|e| shared::Error::kube(format!("get secret {ns}/{name}"), e))?;
    let leaf = leaf_of(
        secret
            .as_ref()
            .and_then(|s| s.data.as_ref())
            .and_then(|d| d.get("tls.crt"))
            .map(|b| b.0.as_slice()),
    );
    report.before = leaf.as_ref().map(Snapshot::of);
    let backup = match &secret {
        Some(current) => {
            let mut fresh = entry.clone();
            fresh.secret = Some(current.clone());
            let dir = backup::default_dir(ctx.config, &fresh);
            let manifest = backup::write(&fresh, ctx.config, &dir).await?;
            progress(format!("backed up to {}", dir.display()));
            report.recovery_command = Some(manifest.restore_command.clone());
            report.backup = Some(dir.clone());
            Backup::Taken {
                dir,
                restore_command: manifest.restore_command,
            }
        }
        None => Backup::NoSecret,
    };
    let workloads = if ctx.args.no_restart {
        Vec::new()
    } else {
        restart::find(&ctx.client, ns, name).await?
    };
    Ok((
        backup,
        Before {
            secret,
            leaf,
            workloads,
        },
    ))
}

/// Puts the backup in `dir` back into the Secret, then restarts again every workload the
/// rotation restarted.
pub async fn restore(
    ctx: &Ctx<'_>,
    entry: &Entry,
    dir: &Path,
    report: &mut RotationReport,
) -> Restore {
    progress(format!(
        "restoring the previous Secret from {}",
        dir.display()
    ));
    if let Err(e) = restore_secret(&ctx.client, &entry.namespace, dir).await {
        return Restore::Failed(e);
    }
    report.changes.push(format!(
        "secret/{}: restored from backup {}",
        entry.secret_name,
        dir.display()
    ));
    match super::restart::restart_back(ctx, report).await {
        Ok(()) => Restore::Done,
        Err((workloads, error)) => Restore::NotRestarted { workloads, error },
    }
}

/// Writes the backed-up Secret back (replace, or create if it is gone).
async fn restore_secret(client: &kube::Client, ns: &str, dir: &Path) -> anyhow::Result<()> {
    let docs = crate::commands::restore::read_backup(dir)?;
    let doc = docs
        .iter()
        .find(|d| d.value["kind"] == "Secret")
        .with_context(|| format!("the backup {} holds no Secret", dir.display()))?;
    let mut secret: Secret = serde_json::from_value(doc.value.clone())
        .with_context(|| format!("{} is not a valid Secret", doc.file.display()))?;
    let name = secret.metadata.name.clone().unwrap_or_default();
    secret.metadata.namespace = Some(ns.to_string());
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let current = api
        .get_opt(&name)
        .await
        .map_err(|e| shared::Error::kube(format!("get secret {ns}/{name}"), e))?;
    match current {
        Some(current) => {
            secret.metadata.resource_version = current.metadata.resource_version;
            api.replace(&name, &PostParams::default(), &secret)
                .await
                .map_err(|e| {
                    shared::Error::kube(format!("replace secret {ns}/{name} with the backup"), e)
                })?;
        }
        None => {
            api.create(&PostParams::default(), &secret)
                .await
                .map_err(|e| {
                    shared::Error::kube(format!("create secret {ns}/{name} from the backup"), e)
                })?;
        }
    }
    Ok(())
}
