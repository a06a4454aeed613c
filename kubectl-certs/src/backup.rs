//! Backups: a certificate's Secret and Certificate as re-appliable YAML (runtime metadata
//! stripped), a Vault KV copy when there is one, and a `manifest.json`, in a fresh directory
//! created with mode 0700 and files with 0600. A failed backup removes what it wrote.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::config::Config;

use crate::findings::parse_certs;
use crate::inspect::{fingerprint, rfc3339};
use crate::model::{Entry, Manager};
use crate::vault;

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";

/// One file of a backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    /// File name inside the backup directory.
    pub file: String,
    /// `Secret`, `Certificate` or `VaultKV`.
    pub kind: String,
    /// Object name.
    pub name: String,
    /// SHA-256 of the file.
    pub sha256: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// `kubectl-ops/v1`.
    pub api_version: String,
    /// `CertificateBackup`.
    pub kind: String,
    /// When (RFC 3339).
    pub created: String,
    /// Namespace.
    pub namespace: String,
    /// Certificate name.
    pub name: String,
    /// Secret name.
    pub secret: String,
    /// Leaf fingerprint at backup time.
    #[serde(default)]
    pub leaf_sha256: Option<String>,
    /// Leaf notAfter at backup time.
    #[serde(default)]
    pub leaf_not_after: Option<String>,
    /// The files, in restore order (Secrets first).
    pub files: Vec<FileEntry>,
    /// How to restore.
    pub restore_command: String,
}

/// Strips what the API server owns so the object can be applied again.
pub fn strip(mut v: Value) -> Value {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "managedFields",
            "ownerReferences",
            "selfLink",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            meta.remove(k);
        }
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
            if a.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    v
}

fn write_0600(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn hex_sha(bytes: &[u8]) -> String {
    fingerprint(bytes).replace(':', "").to_lowercase()
}

/// Where a new backup goes: `<backup_dir>/<UTC timestamp>-<namespace>-<name>`.
pub fn default_dir(config: &Config, entry: &Entry) -> PathBuf {
    let ts = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    config
        .backup_dir
        .join(format!("{ts}-{}-{}", entry.namespace, entry.name))
}

/// Writes a backup of `entry` into `dir` (created; must not hold a backup already).
pub async fn write(entry: &Entry, config: &Config, dir: &Path) -> anyhow::Result<Manifest> {
    let secret = entry.secret.as_ref().ok_or_else(|| {
        shared::Error::invalid(
            format!(
                "Secret {}/{} does not exist: nothing to back up",
                entry.namespace, entry.secret_name
            ),
            "check the name with `kubectl certs list`",
        )
    })?;
    if dir.join(MANIFEST).exists() {
        return Err(shared::Error::invalid(
            format!("{} already holds a backup", dir.display()),
            "pick a new directory, or leave out -f to get a timestamped one",
        )
        .into());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let created_dir = !dir.exists();
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create backup directory {}", dir.display()))?;
    let result = write_files(entry, secret, config, dir).await;
    if result.is_err() && created_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

async fn write_files(
    entry: &Entry,
    secret: &k8s_openapi::api::core::v1::Secret,
    config: &Config,
    dir: &Path,
) -> anyhow::Result<Manifest> {
    let mut files = Vec::new();
    let mut secret_value = strip(serde_json::to_value(secret)?);
    secret_value["apiVersion"] = "v1".into();
    secret_value["kind"] = "Secret".into();
    let yaml = shared::output::to_yaml(&secret_value)?;
    let file = format!("secret-{}.yaml", entry.secret_name);
    write_0600(&dir.join(&file), yaml.as_bytes())?;
    files.push(FileEntry {
        file,
        kind: "Secret".into(),
        name: entry.secret_name.clone(),
        sha256: hex_sha(yaml.as_bytes()),
    });
    if let Some(cert) = &entry.certificate {
        let mut v = strip(serde_json::to_value(&cert.object)?);
        v["apiVersion"] = "cert-manager.io/v1".into();
        v["kind"] = "Certificate".into();
        let yaml = shared::output::to_yaml(&v)?;
        let file = format!("certificate-{}.yaml", cert.name);
        write_0600(&dir.join(&file), yaml.as_bytes())?;
        files.push(FileEntry {
            file,
            kind: "Certificate".into(),
            name: cert.name.clone(),
            sha256: hex_sha(yaml.as_bytes()),
        });
    }
    if entry.manager == Manager::Vault && !config.vault.kv_mount.is_empty() && vault::configured() {
        let client = vault::VaultClient::from_env()?;
        let path = vault::kv_path(
            &config.vault.kv_prefix,
            &entry.namespace,
            entry.config_name.as_deref().unwrap_or(&entry.name),
        );
        match client.kv_get(&config.vault.kv_mount, &path).await {
            Ok(Some(v)) => {
                let text = serde_json::to_string_pretty(&v)?;
                let file = format!("vault-kv-{}.json", entry.name);
                write_0600(&dir.join(&file), text.as_bytes())?;
                files.push(FileEntry {
                    file,
                    kind: "VaultKV".into(),
                    name: format!("{}/{path}", config.vault.kv_mount),
                    sha256: hex_sha(text.as_bytes()),
                });
            }
            Ok(None) => {}
            Err(e) => shared::exit::warn(format!("no Vault KV copy in the backup: {e}")),
        }
    }
    let leaf = entry
        .data("tls.crt")
        .map(parse_certs)
        .and_then(|(c, _)| c.into_iter().next());
    let manifest = Manifest {
        api_version: shared::output::LIST_API_VERSION.into(),
        kind: "CertificateBackup".into(),
        created: k8s_openapi::jiff::Timestamp::now().to_string(),
        namespace: entry.namespace.clone(),
        name: entry.name.clone(),
        secret: entry.secret_name.clone(),
        leaf_sha256: leaf.as_ref().map(|l| l.info.sha256.clone()),
        leaf_not_after: leaf.as_ref().map(|l| rfc3339(l.info.not_after)),
        files,
        restore_command: format!("kubectl certs restore {}", dir.display()),
    };
    write_0600(
        &dir.join(MANIFEST),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
    )?;
    Ok(manifest)
}
