//! The issue step for Vault/OpenBao: `POST <pki_mount>/issue/<role>`, validate the result, then
//! write the Secret in one update guarded by the backed-up resourceVersion (and a KV v2 copy).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use shared::config::Config;

use crate::findings::{Expectations, Material, Severity, Thresholds, analyze, parse_certs};
use crate::inspect::now;
use crate::model::{self, Entry};
use crate::rotation::RotationReport;
use crate::vault;

use super::{Ctx, leaf_of, progress};

fn requested_ttl(config: &Config) -> Option<Duration> {
    (!config.vault.ttl.is_empty())
        .then(|| shared::duration::parse_duration(&config.vault.ttl).ok())
        .flatten()
}

/// Issues from Vault and writes the Secret in one guarded update; records what changed.
pub async fn issue(
    ctx: &Ctx<'_>,
    entry: &Entry,
    before: Option<&Secret>,
    report: &mut RotationReport,
) -> anyhow::Result<()> {
    let v = &ctx.config.vault;
    let client = vault::VaultClient::from_env()?;
    let short = entry
        .config_name
        .clone()
        .unwrap_or_else(|| entry.name.clone());
    let common_name = entry
        .config_name
        .as_deref()
        .and_then(|n| ctx.config.certificate(n))
        .and_then(|c| c.common_name.clone())
        .or_else(|| {
            leaf_of(entry.data("tls.crt")).and_then(|l| l.info.common_name().map(str::to_string))
        })
        .unwrap_or_else(|| format!("{short}.{}", v.common_name_suffix));
    let alt_names: Vec<String> = leaf_of(entry.data("tls.crt"))
        .map(|l| {
            l.info
                .dns_names
                .into_iter()
                .filter(|n| *n != common_name)
                .collect()
        })
        .unwrap_or_default();
    progress(format!(
        "requesting {common_name} from {}/{}/issue/{}",
        client.addr, v.pki_mount, v.role
    ));
    let result = client
        .issue(&v.pki_mount, &v.role, &common_name, &alt_names, &v.ttl)
        .await?;
    for w in &result.warnings {
        shared::exit::warn(format!("Vault: {w}"));
        report.warnings.push(format!("Vault: {w}"));
    }
    let issued = result.issued;
    // tls.crt = leaf + intermediates (no self-signed root); ca.crt = the root, else the issuing CA.
    let chain_pems: Vec<String> = if issued.ca_chain.is_empty() {
        vec![issued.issuing_ca.clone()]
    } else {
        issued.ca_chain.clone()
    };
    let mut tls_crt = issued.certificate.trim_end().to_string();
    tls_crt.push('\n');
    let mut root: Option<String> = None;
    for pem in &chain_pems {
        let (certs, _) = parse_certs(pem.as_bytes());
        if certs.first().is_some_and(|c| c.info.is_self_issued()) {
            root = Some(pem.trim_end().to_string() + "\n");
        } else {
            tls_crt.push_str(pem.trim_end());
            tls_crt.push('\n');
        }
    }
    let ca_crt = root.unwrap_or_else(|| issued.issuing_ca.trim_end().to_string() + "\n");
    let key = issued.private_key.0.trim_end().to_string() + "\n";
    let material = Material {
        tls_crt: Some(tls_crt.as_bytes()),
        tls_key: Some(key.as_bytes()),
        ca_crt: Some(ca_crt.as_bytes()),
        ..Default::default()
    };
    let mut expect = Expectations {
        dns_names: alt_names.clone(),
        ..Default::default()
    };
    expect.dns_names.push(common_name.clone());
    let check = analyze(&material, &expect, &[], Thresholds::default(), now());
    if let Some(leaf) = &check.leaf
        && let Some(asked) = requested_ttl(ctx.config)
        && (leaf.lifetime() as u64) + 600 < asked.as_secs()
    {
        let msg = format!(
            "Vault shortened the TTL: asked for {}, got {} days (the role's max_ttl caps it); check renewBefore/rotation schedules",
            v.ttl,
            leaf.lifetime() / 86_400
        );
        shared::exit::warn(&msg);
        report.warnings.push(msg);
    }
    if check.worst() >= Severity::Critical {
        let bad: Vec<String> = check
            .findings
            .iter()
            .filter(|f| f.severity >= Severity::Critical)
            .map(|f| f.message.clone())
            .collect();
        return Err(shared::Error::invalid(
            format!(
                "the certificate Vault issued does not validate, nothing was written: {}",
                bad.join("; ")
            ),
            "check the PKI role (allowed domains, key type) and the mount's CA chain",
        )
        .into());
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &entry.namespace);
    let mut data = BTreeMap::new();
    data.insert(
        "tls.crt".to_string(),
        ByteString(tls_crt.clone().into_bytes()),
    );
    data.insert("tls.key".to_string(), ByteString(key.clone().into_bytes()));
    data.insert(
        "ca.crt".to_string(),
        ByteString(ca_crt.clone().into_bytes()),
    );
    match before {
        Some(current) => {
            // One PUT guarded by the resourceVersion we backed up: a concurrent change fails it.
            let mut next = current.clone();
            let mut merged = next.data.take().unwrap_or_default();
            merged.extend(data);
            next.data = Some(merged);
            api.replace(&entry.secret_name, &PostParams::default(), &next)
                .await
                .map_err(|e| match &e {
                    kube::Error::Api(s) if s.code == 409 => shared::Error::invalid(
                        format!(
                            "Secret {}/{} changed since it was backed up; nothing was written",
                            entry.namespace, entry.secret_name
                        ),
                        "re-run the rotation",
                    ),
                    _ => shared::Error::kube(
                        format!("update secret {}/{}", entry.namespace, entry.secret_name),
                        e,
                    ),
                })?;
            report.changes.push(format!(
                "secret/{}: replaced tls.crt, tls.key, ca.crt",
                entry.secret_name
            ));
        }
        None => {
            let secret = Secret {
                metadata: kube::api::ObjectMeta {
                    name: Some(entry.secret_name.clone()),
                    namespace: Some(entry.namespace.clone()),
                    ..Default::default()
                },
                type_: Some(model::TLS_TYPE.into()),
                data: Some(data),
                ..Default::default()
            };
            api.create(&PostParams::default(), &secret)
                .await
                .map_err(|e| {
                    shared::Error::kube(
                        format!("create secret {}/{}", entry.namespace, entry.secret_name),
                        e,
                    )
                })?;
            report
                .changes
                .push(format!("secret/{}: created", entry.secret_name));
        }
    }
    if !v.kv_mount.is_empty() && !ctx.args.no_kv {
        let path = vault::kv_path(
            &v.kv_prefix,
            &entry.namespace,
            entry.config_name.as_deref().unwrap_or(&entry.name),
        );
        let body = serde_json::json!({ "tls.crt": tls_crt, "tls.key": key, "ca.crt": ca_crt, "serial": issued.serial_number });
        match client.kv_put(&v.kv_mount, &path, &body).await {
            Ok(version) => report.changes.push(format!(
                "vault kv {}/{path}: version {}",
                v.kv_mount,
                version.map(|v| v.to_string()).unwrap_or_else(|| "?".into())
            )),
            Err(e) => {
                let msg = format!(
                    "the Secret was written but the KV copy failed: {}",
                    shared::exit::render_chain(&e)
                );
                shared::exit::warn(&msg);
                report.warnings.push(msg);
            }
        }
    }
    Ok(())
}
