//! `kubectl certs restore DIR|FILE`: Secrets first, then Certificates (cert-manager's backup
//! guidance), each created or replaced; `--dry-run` asks the API server to validate only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use serde_json::Value;
use shared::output::write_str;
use shared::prompt::{Answer, confirm};

use crate::backup::{MANIFEST, Manifest};
use crate::cli::RestoreArgs;
use crate::model::certificate_resource;

/// One object to restore.
#[derive(Debug, Clone)]
pub struct Doc {
    /// Where it came from.
    pub file: PathBuf,
    /// The object.
    pub value: Value,
}

impl Doc {
    fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }
    fn name(&self) -> &str {
        self.value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

fn read_doc(path: &Path) -> anyhow::Result<Doc> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: Value = serde_saphyr::from_str(&text).map_err(|e| {
        shared::Error::invalid(
            format!("{} is not valid YAML: {e}", path.display()),
            "restore a file written by `kubectl certs backup`",
        )
    })?;
    let kind = value["kind"].as_str().unwrap_or_default();
    if kind != "Secret" && kind != "Certificate" {
        return Err(shared::Error::invalid(
            format!(
                "{}: kind {kind:?} cannot be restored (only Secret and Certificate)",
                path.display()
            ),
            "restore a file written by `kubectl certs backup`",
        )
        .into());
    }
    if value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .is_none()
    {
        return Err(shared::Error::invalid(
            format!("{} has no metadata.name", path.display()),
            "restore a file written by `kubectl certs backup`",
        )
        .into());
    }
    Ok(Doc {
        file: path.to_path_buf(),
        value,
    })
}

/// Reads a backup directory (via its manifest) or one file; Secrets sort before Certificates.
pub fn read_backup(path: &Path) -> anyhow::Result<Vec<Doc>> {
    let mut docs = Vec::new();
    if path.is_dir() {
        let manifest_path = path.join(MANIFEST);
        let text = std::fs::read_to_string(&manifest_path).map_err(|_| {
            shared::Error::invalid(
                format!("{} has no {MANIFEST}", path.display()),
                "pass a directory written by `kubectl certs backup`, or one of its YAML files",
            )
        })?;
        let manifest: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a backup manifest", manifest_path.display()))?;
        for f in manifest
            .files
            .iter()
            .filter(|f| f.kind == "Secret" || f.kind == "Certificate")
        {
            docs.push(read_doc(&path.join(&f.file))?);
        }
        if manifest.files.iter().any(|f| f.kind == "VaultKV") {
            shared::exit::hint(
                "the backup also holds a Vault KV copy (vault-kv-*.json); restore it with `bao kv put` if needed",
            );
        }
    } else {
        docs.push(read_doc(path)?);
    }
    docs.sort_by_key(|d| if d.kind() == "Secret" { 0 } else { 1 });
    Ok(docs)
}

/// Runs `restore`.
pub async fn run(
    args: &RestoreArgs,
    global: &shared::cli::GlobalArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let docs = read_backup(&args.path)?;
    let (_config, conn, scope) = super::setup(global, false).await?;
    let default_ns = super::one_namespace(&scope, "restore")?;
    let mut plan = Vec::new();
    for d in &docs {
        let ns = d
            .value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or(&default_ns)
            .to_string();
        let ar = if d.kind() == "Secret" {
            ApiResource::erase::<Secret>(&())
        } else {
            certificate_resource()
        };
        let api: Api<DynamicObject> = Api::namespaced_with(conn.client.clone(), &ns, &ar);
        let existing = api.get_opt(d.name()).await.map_err(|e| {
            shared::Error::kube(
                format!("get {} {}/{}", d.kind().to_lowercase(), ns, d.name()),
                e,
            )
        })?;
        plan.push((d, ns, api, existing));
    }
    let overwrites: Vec<String> = plan
        .iter()
        .filter(|p| p.3.is_some())
        .map(|p| format!("{}/{}", p.0.kind().to_lowercase(), p.0.name()))
        .collect();
    if !overwrites.is_empty() && !args.dry_run {
        confirm(
            Answer::from_flag(args.yes),
            &format!("replace {}", overwrites.join(", ")),
            &format!(
                "Replace the existing {} with the backup?",
                overwrites.join(", ")
            ),
        )?;
    }
    let pp = PostParams {
        dry_run: args.dry_run,
        ..Default::default()
    };
    let suffix = if args.dry_run {
        " (server dry run)"
    } else {
        ""
    };
    let mut text = String::new();
    for (d, ns, api, existing) in plan {
        let mut obj: DynamicObject = serde_json::from_value(d.value.clone())?;
        obj.metadata.namespace = Some(ns.clone());
        let what = format!("{}/{} in namespace {ns}", d.kind().to_lowercase(), d.name());
        match existing {
            Some(current) => {
                obj.metadata.resource_version = current.metadata.resource_version.clone();
                api.replace(d.name(), &pp, &obj)
                    .await
                    .map_err(|e| shared::Error::kube(format!("replace {what}"), e))?;
                text.push_str(&format!("{what} replaced{suffix}\n"));
            }
            None => {
                api.create(&pp, &obj)
                    .await
                    .map_err(|e| shared::Error::kube(format!("create {what}"), e))?;
                text.push_str(&format!("{what} created{suffix}\n"));
            }
        }
    }
    write_str(out, &text)?;
    Ok(ExitCode::SUCCESS)
}
