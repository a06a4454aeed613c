//! The record of one rotation, written as JSON under `reports_dir`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::chain::Cert;
use crate::inspect::rfc3339;
use crate::restart::Workload;

/// A certificate's identity at one moment.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// SHA-256 fingerprint of the leaf.
    pub sha256: String,
    /// Serial.
    pub serial: String,
    /// notAfter.
    pub not_after: String,
}

impl Snapshot {
    /// The snapshot of a leaf.
    pub fn of(leaf: &Cert) -> Self {
        Snapshot {
            sha256: leaf.info.sha256.clone(),
            serial: leaf.info.serial.clone(),
            not_after: rfc3339(leaf.info.not_after),
        }
    }
}

/// What happened to one workload.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadResult {
    /// The workload.
    #[serde(flatten)]
    pub workload: Workload,
    /// restartedAt was set.
    pub restarted: bool,
    /// The restartedAt value set for the new certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<String>,
    /// The rollout completed.
    pub rolled_out: bool,
    /// Restarted again (and rolled out) to load the restored Secret after a rollback.
    pub restarted_back: bool,
    /// What went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl WorkloadResult {
    /// A workload nothing was done to yet.
    pub fn pending(workload: Workload) -> Self {
        WorkloadResult {
            workload,
            restarted: false,
            restarted_at: None,
            rolled_out: false,
            restarted_back: false,
            error: None,
        }
    }
}

/// How a rotation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// New certificate in place and verified.
    Rotated,
    /// Nothing was changed: the issuer failed or a pre-write check failed.
    Failed,
    /// A step after the write failed; the backup was put back and every workload restarted
    /// for the new certificate was restarted again (and rolled out).
    RolledBack,
    /// A step after the write failed; the backup was put back, but some workloads restarted for
    /// the new certificate could NOT be restarted again.
    RolledBackNotRestarted,
    /// A step after the write failed and the Secret is NOT restored: putting the backup back
    /// failed, or there was no Secret before (so no backup).
    FailedNotRestored,
    /// The issuer did not finish in time.
    TimedOut,
    /// Dry run: nothing changed.
    Planned,
}

impl Outcome {
    /// How the outcome reads in a summary line.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Rotated => "rotated",
            Outcome::Failed => "failed",
            Outcome::RolledBack => "rolled back",
            Outcome::RolledBackNotRestarted => "rolled back — workloads NOT restarted back",
            Outcome::FailedNotRestored => "failed — Secret NOT restored",
            Outcome::TimedOut => "timed out",
            Outcome::Planned => "planned",
        }
    }
}

/// The report of one rotation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationReport {
    /// `kubectl-ops/v1`.
    pub api_version: &'static str,
    /// `RotationReport`.
    pub kind: &'static str,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Secret.
    pub secret: String,
    /// `cert-manager` or `vault`.
    pub method: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Why, when it did not succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why putting things back fell short, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_error: Option<String>,
    /// What to do now, when it did not succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
    /// Start time.
    pub started: String,
    /// End time.
    pub finished: String,
    /// Leaf before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Snapshot>,
    /// Leaf after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Snapshot>,
    /// cert-manager status.revision before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<(i64, i64)>,
    /// What changed, one line each.
    pub changes: Vec<String>,
    /// Warnings (Vault TTL capped, pre-flight findings, ...).
    pub warnings: Vec<String>,
    /// Workloads found and what was done to them.
    pub workloads: Vec<WorkloadResult>,
    /// Backup directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<PathBuf>,
    /// How to go back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_command: Option<String>,
    /// Where this report was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_path: Option<PathBuf>,
}

impl RotationReport {
    /// A new report.
    pub fn new(namespace: &str, name: &str, secret: &str, method: &str) -> Self {
        RotationReport {
            api_version: shared::output::LIST_API_VERSION,
            kind: "RotationReport",
            namespace: namespace.into(),
            name: name.into(),
            secret: secret.into(),
            method: method.into(),
            outcome: Outcome::Failed,
            reason: None,
            rollback_error: None,
            next_step: None,
            started: k8s_openapi::jiff::Timestamp::now().to_string(),
            finished: String::new(),
            before: None,
            after: None,
            revision: None,
            changes: Vec::new(),
            warnings: Vec::new(),
            workloads: Vec::new(),
            backup: None,
            recovery_command: None,
            report_path: None,
        }
    }

    /// Writes the report as `<dir>/rotate-<time>-<ns>-<name>.json`.
    pub fn write(&mut self, dir: &Path) -> anyhow::Result<PathBuf> {
        use anyhow::Context as _;
        self.finished = k8s_openapi::jiff::Timestamp::now().to_string();
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create reports directory {}", dir.display()))?;
        let ts = k8s_openapi::jiff::Timestamp::now()
            .strftime("%Y%m%dT%H%M%SZ")
            .to_string();
        let path = dir.join(format!("rotate-{ts}-{}-{}.json", self.namespace, self.name));
        self.report_path = Some(path.clone());
        std::fs::write(&path, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }
}
