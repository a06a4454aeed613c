//! PEM certificates in Opaque Secrets (`--include-opaque`), for applications that do not use
//! the `kubernetes.io/tls` type: one row per key holding a certificate, named `SECRET/KEY`
//! (source `secret`). A key holding only CA certificates is the others' trust anchor (or, when
//! the Secret holds nothing else, a CA bundle of its own); a key holding a private key is the
//! certificate's key.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::{Context, Found, list_or_unknown};
use crate::findings::{Role, parse_certs};
use crate::model::{Entry, Manager, Origin, api};

/// The Secret type this source reads.
pub const OPAQUE_TYPE: &str = "Opaque";

fn is_pem_certificate(bytes: &[u8]) -> bool {
    bytes
        .windows(27)
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
}

fn is_pem_key(bytes: &[u8]) -> bool {
    bytes.windows(16).any(|w| w == b"PRIVATE KEY-----")
}

/// The rows of one Opaque Secret (none when it holds no PEM certificate).
pub fn entries_of(secret: &Secret) -> Vec<Entry> {
    let Some(data) = secret.data.as_ref() else {
        return Vec::new();
    };
    let namespace = secret.metadata.namespace.clone().unwrap_or_default();
    let name = secret.metadata.name.clone().unwrap_or_default();
    let mut leaves = Vec::new();
    let mut cas = Vec::new();
    for (key, value) in data {
        if !is_pem_certificate(&value.0) {
            continue;
        }
        let (certs, _) = parse_certs(&value.0);
        if !certs.is_empty() && certs.iter().all(|c| c.info.is_ca) {
            cas.push((key, &value.0));
        } else {
            leaves.push((key, &value.0));
        }
    }
    let private = data
        .iter()
        .find(|(k, v)| !is_pem_certificate(&v.0) && is_pem_key(&v.0) && !k.is_empty());
    let anchors: Vec<u8> = cas.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    let row = |key: &str, found: Found| Entry {
        namespace: namespace.clone(),
        name: format!("{name}/{key}"),
        secret_name: name.clone(),
        config_name: None,
        manager: Manager::Unmanaged,
        origin: Origin::Secret,
        certificate: None,
        secret: Some(secret.clone()),
        found: Some(Box::new(found)),
    };
    if leaves.is_empty() {
        return cas
            .into_iter()
            .map(|(key, bytes)| {
                row(
                    key,
                    Found {
                        role: Role::CaBundle,
                        crt: Some(bytes.clone()),
                        crt_label: key.clone(),
                        ..Default::default()
                    },
                )
            })
            .collect();
    }
    leaves
        .into_iter()
        .map(|(key, bytes)| {
            row(
                key,
                Found {
                    role: if private.is_some() {
                        Role::Serving
                    } else {
                        Role::Certificate
                    },
                    crt: Some(bytes.clone()),
                    crt_label: key.clone(),
                    key: private.map(|(_, v)| v.0.clone()),
                    key_label: private.map(|(k, _)| k.clone()).unwrap_or_default(),
                    anchors: (!anchors.is_empty()).then(|| anchors.clone()),
                    ..Default::default()
                },
            )
        })
        .collect()
}

/// Lists Opaque Secrets in scope (one LIST) and reads their PEM certificates.
pub async fn collect(ctx: &Context<'_>) -> Vec<Entry> {
    let lp = ctx.list_params().fields(&format!("type={OPAQUE_TYPE}"));
    match list_or_unknown(
        api::<Secret>(ctx.client, ctx.scope.as_option()),
        &lp,
        Origin::Secret,
        "secrets",
        &ctx.scope.describe(),
    )
    .await
    {
        Ok(items) => items.iter().flat_map(entries_of).collect(),
        Err(unknown) => vec![unknown],
    }
}

/// Finds `SECRET/KEY` in the scope's namespace (one GET).
pub async fn find(ctx: &Context<'_>, name: &str) -> anyhow::Result<Option<Entry>> {
    let Some((secret, _)) = name.split_once('/') else {
        return Ok(None);
    };
    let ns = crate::commands::one_namespace(ctx.scope, "a SECRET/KEY name")?;
    let got = Api::<Secret>::namespaced(ctx.client.clone(), &ns)
        .get_opt(secret)
        .await
        .map_err(|e| shared::Error::kube(format!("get secret {secret} in namespace {ns}"), e))?;
    Ok(got
        .as_ref()
        .map(entries_of)
        .unwrap_or_default()
        .into_iter()
        .find(|e| e.name == name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

    fn secret(data: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("app".into()),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            type_: Some(OPAQUE_TYPE.into()),
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn keys_holding_certificates_become_rows_with_their_key_and_ca() {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["app.example".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap()
            .pem();
        let rows = entries_of(&secret(&[
            ("cert.pem", &leaf),
            ("key.pem", &key.serialize_pem()),
            ("ca.pem", &ca_pem),
            ("password", "hunter2"),
        ]));
        assert_eq!(rows.len(), 1);
        let found = rows[0].found.as_ref().unwrap();
        assert_eq!(rows[0].name, "app/cert.pem");
        assert_eq!(found.role, Role::Serving);
        assert_eq!(found.key_label, "key.pem");
        assert_eq!(found.anchors.as_deref(), Some(ca_pem.as_bytes()));

        let only_ca = entries_of(&secret(&[("ca.pem", &ca_pem)]));
        assert_eq!(only_ca.len(), 1);
        assert_eq!(only_ca[0].found.as_ref().unwrap().role, Role::CaBundle);
        assert!(entries_of(&secret(&[("password", "hunter2")])).is_empty());
        let no_key = entries_of(&secret(&[("cert.pem", &leaf)]));
        assert_eq!(no_key[0].found.as_ref().unwrap().role, Role::Certificate);
    }
}
