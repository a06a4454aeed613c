//! The Secrets Ingresses (networking.k8s.io/v1) serve: one row per Ingress and
//! `spec.tls[].secretName`, named `ingress/INGRESS/SECRET`, graded as a TLS Secret plus the
//! Ingress's hosts. A missing Secret is critical (the ingress controller then serves its
//! default certificate), and so is a host the certificate's SANs do not cover.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;

use super::{Context, Found, list_or_unknown};
use crate::findings::{Finding, Severity};
use crate::model::{Entry, Manager, Origin, api};

/// One TLS entry of an Ingress, the hosts of all its entries naming the same Secret merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsUse {
    /// Namespace.
    pub namespace: String,
    /// The Ingress.
    pub ingress: String,
    /// `spec.tls[].secretName`.
    pub secret: String,
    /// `spec.tls[].hosts`.
    pub hosts: Vec<String>,
}

/// The TLS entries of an Ingress (entries without a secretName are skipped: the controller's
/// default certificate serves them by design).
pub fn tls_uses(ing: &Ingress) -> Vec<TlsUse> {
    let namespace = ing.metadata.namespace.clone().unwrap_or_default();
    let ingress = ing.metadata.name.clone().unwrap_or_default();
    let mut by_secret: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for tls in ing.spec.iter().flat_map(|s| s.tls.iter().flatten()) {
        let Some(secret) = tls.secret_name.clone().filter(|s| !s.is_empty()) else {
            continue;
        };
        by_secret
            .entry(secret)
            .or_default()
            .extend(tls.hosts.iter().flatten().cloned());
    }
    by_secret
        .into_iter()
        .map(|(secret, hosts)| TlsUse {
            namespace: namespace.clone(),
            ingress: ingress.clone(),
            secret,
            hosts: hosts.into_iter().collect(),
        })
        .collect()
}

/// The row of one TLS use, with its Secret if it exists.
pub fn entry(u: TlsUse, secret: Option<Secret>) -> Entry {
    let from = format!("Ingress {}/{}", u.namespace, u.ingress);
    Entry {
        namespace: u.namespace.clone(),
        name: format!("ingress/{}/{}", u.ingress, u.secret),
        secret_name: u.secret.clone(),
        config_name: None,
        manager: Manager::Unmanaged,
        origin: Origin::Ingress,
        certificate: None,
        secret,
        found: Some(Box::new(Found {
            hosts: u.hosts,
            missing: Some(Finding {
                severity: Severity::Critical,
                check: "secret",
                message: format!(
                    "Secret {}/{} named by {from} does not exist: the ingress controller serves its default certificate instead",
                    u.namespace, u.secret
                ),
                hint: Some("create the Secret (or the cert-manager Certificate that writes it), or fix spec.tls[].secretName".into()),
            }),
            hosts_from: from,
            ..Default::default()
        })),
    }
}

/// Lists Ingresses in scope (one LIST), then the Secrets they name (one GET each; a Secret
/// that cannot be read is an UNKNOWN row).
pub async fn collect(ctx: &Context<'_>) -> Vec<Entry> {
    let ns = ctx.scope.as_option();
    let ingresses = match list_or_unknown(
        api::<Ingress>(ctx.client, ns),
        &ctx.list_params(),
        Origin::Ingress,
        "ingresses.networking.k8s.io",
        &ctx.scope.describe(),
    )
    .await
    {
        Ok(items) => items,
        Err(unknown) => return vec![unknown],
    };
    let uses: Vec<TlsUse> = ingresses.iter().flat_map(tls_uses).collect();
    let mut out = Vec::new();
    for u in uses {
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &u.namespace);
        match secrets.get_opt(&u.secret).await {
            Ok(secret) => out.push(entry(u, secret)),
            Err(e) => {
                let mut row = super::unreadable(
                    Origin::Ingress,
                    &format!("ingress/{}/{}", u.ingress, u.secret),
                    format!("cannot read Secret {}/{}: {e}", u.namespace, u.secret),
                    "the ingress source needs get on secrets (`kubectl certs rbac`)".into(),
                );
                row.namespace = u.namespace.clone();
                row.secret_name = u.secret.clone();
                out.push(row);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tls_entries_merge_hosts_per_secret() {
        let ing: Ingress = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"tls": [
                {"hosts": ["a.example"], "secretName": "web-tls"},
                {"hosts": ["b.example"], "secretName": "web-tls"},
                {"hosts": ["c.example"], "secretName": "other-tls"},
                {"hosts": ["d.example"]},
            ]},
        }))
        .unwrap();
        let uses = tls_uses(&ing);
        assert_eq!(uses.len(), 2);
        assert_eq!(uses[0].secret, "other-tls");
        assert_eq!(uses[1].secret, "web-tls");
        assert_eq!(uses[1].hosts, ["a.example", "b.example"]);
        let e = entry(uses[1].clone(), None);
        assert_eq!(e.name, "ingress/web/web-tls");
        assert_eq!(e.namespace, "shop");
        assert_eq!(e.expectations().hosts, ["a.example", "b.example"]);
        assert_eq!(e.expectations().hosts_from, "Ingress shop/web");
    }
}
