//! The plan step: which certificates a run rotates, how (cert-manager or Vault), and what
//! `--dry-run` shows. Nothing here changes the cluster.

use shared::config::{Config, IssueMethod};
use shared::output::Table;

use crate::cli::{Method, RotateArgs};
use crate::model::{Entry, Manager};
use crate::restart::Workload;
use crate::rotation::{Outcome, RotationReport, Snapshot, WorkloadResult};

use super::leaf_of;

/// The resolved way to rotate one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// cert-manager.
    CertManager,
    /// Vault/OpenBao.
    Vault,
}

impl Plan {
    /// `cert-manager` or `vault`, as in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::CertManager => "cert-manager",
            Plan::Vault => "vault",
        }
    }
}

/// How to rotate `entry` when asked for `method`.
pub fn plan_for(entry: &Entry, method: Method, config: &Config) -> Result<Plan, shared::Error> {
    let configured = entry
        .config_name
        .as_deref()
        .and_then(|n| config.certificate(n))
        .map(|c| c.method);
    match method {
        Method::CertManager if entry.certificate.is_none() => Err(shared::Error::invalid(
            format!("{} has no cert-manager Certificate", entry.key()),
            "use --method vault, or create a Certificate for the Secret",
        )),
        Method::CertManager => Ok(Plan::CertManager),
        Method::Vault => Ok(Plan::Vault),
        Method::Auto if entry.certificate.is_some() => Ok(Plan::CertManager),
        Method::Auto
            if configured == Some(IssueMethod::Vault) || entry.manager == Manager::Vault =>
        {
            Ok(Plan::Vault)
        }
        Method::Auto => Err(shared::Error::invalid(
            format!(
                "cannot tell how to rotate {}: no cert-manager Certificate manages it and the config does not name it with method: vault",
                entry.key()
            ),
            "pass --method vault (Vault/OpenBao PKI) or --method cert-manager",
        )),
    }
}

/// True when the run selects by flags (`--all`, `-l`, `--expiring-within`, `--issuer`) rather
/// than by names.
pub fn is_bulk(args: &RotateArgs) -> bool {
    args.all
        || args.select.selector.is_some()
        || args.expiring_within.is_some()
        || args.issuer.is_some()
}

/// The candidates `--issuer` and `--expiring-within` keep.
pub fn select(entries: Vec<Entry>, args: &RotateArgs, now: i64) -> Vec<Entry> {
    entries
        .into_iter()
        .filter(|e| match &args.issuer {
            Some(i) => e.certificate.as_ref().is_some_and(|c| &c.issuer_name == i),
            None => true,
        })
        .filter(|e| match args.expiring_within {
            Some(d) => leaf_of(e.data("tls.crt"))
                .is_none_or(|l| l.info.not_after - now < d.as_secs() as i64),
            None => true,
        })
        .collect()
}

/// The targets and how each is rotated. CA certificates are refused (skipped with a warning
/// in bulk runs), and bulk runs skip Secrets nothing manages.
pub fn plans(
    targets: &[Entry],
    args: &RotateArgs,
    config: &Config,
) -> anyhow::Result<Vec<(Entry, Plan)>> {
    let bulk = is_bulk(args);
    let mut plans = Vec::new();
    for e in targets {
        if leaf_of(e.data("tls.crt")).is_some_and(|l| l.info.is_ca) {
            let msg = format!(
                "{} holds a CA certificate; kubectl certs rotates leaf certificates, not CAs",
                e.key()
            );
            if bulk {
                shared::exit::warn(format!("skipping: {msg}"));
                continue;
            }
            return Err(shared::Error::invalid(msg, "rotate a CA with your PKI's own procedure, then re-issue its leaves: `kubectl certs rotate --issuer NAME`").into());
        }
        if e.certificate.is_none()
            && args.method == Method::Auto
            && bulk
            && e.manager == Manager::Unmanaged
        {
            continue;
        }
        plans.push((e.clone(), plan_for(e, args.method, config)?));
    }
    Ok(plans)
}

/// One planned rotation: the table row and the `planned` report `--dry-run -o json` prints.
pub fn planned(
    entry: &Entry,
    plan: Plan,
    workloads: Vec<Workload>,
    now: i64,
) -> ([String; 6], RotationReport) {
    let leaf = leaf_of(entry.data("tls.crt"));
    let restarts: Vec<String> = workloads
        .iter()
        .map(|w| match &w.skipped {
            Some(_) => format!("{} (skipped)", w.id()),
            None => w.id(),
        })
        .collect();
    let row = [
        entry.namespace.clone(),
        entry.name.clone(),
        entry.secret_name.clone(),
        plan.as_str().to_string(),
        leaf.as_ref()
            .map(|l| l.info.days_left(now).to_string())
            .unwrap_or_else(|| "-".into()),
        if restarts.is_empty() {
            "-".into()
        } else {
            restarts.join(",")
        },
    ];
    let mut report = RotationReport::new(
        &entry.namespace,
        &entry.name,
        &entry.secret_name,
        plan.as_str(),
    );
    report.outcome = Outcome::Planned;
    report.before = leaf.as_ref().map(Snapshot::of);
    report.workloads = workloads.into_iter().map(WorkloadResult::pending).collect();
    (row, report)
}

/// The plan table's header.
pub fn table() -> Table {
    Table::new([
        "namespace",
        "name",
        "secret",
        "method",
        "days left",
        "restarts",
    ])
}
