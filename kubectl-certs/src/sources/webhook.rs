//! The `caBundle` of each webhook of every ValidatingWebhookConfiguration and
//! MutatingWebhookConfiguration (admissionregistration.k8s.io/v1): one row per webhook,
//! named `validatingwebhookconfiguration/CONFIG/WEBHOOK`.

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use kube::Api;

use super::serving::{self, BundleUser, Server};
use super::{Context, list_or_unknown};
use crate::findings::Severity;
use crate::model::{Entry, Origin};

/// The caBundle user of one webhook. `failurePolicy` decides how bad an unreachable server
/// is: `Fail` (the default) rejects every matching request, `Ignore` lets it through.
fn user(
    kind: &str,
    config: &str,
    webhook: &str,
    client_config: &WebhookClientConfig,
    failure_policy: Option<&str>,
) -> BundleUser {
    let server = match (&client_config.service, &client_config.url) {
        (Some(s), _) => Some(Server::service(&s.namespace, &s.name, s.port)),
        (None, Some(url)) => Server::url(url),
        (None, None) => None,
    };
    BundleUser {
        name: format!("{kind}/{config}/{webhook}"),
        bundle: client_config
            .ca_bundle
            .as_ref()
            .map(|b| b.0.clone())
            .unwrap_or_default(),
        server,
        unreachable: if failure_policy == Some("Ignore") {
            Severity::Warning
        } else {
            Severity::Critical
        },
        notes: Vec::new(),
    }
}

/// The webhooks of a ValidatingWebhookConfiguration.
pub fn validating(c: &ValidatingWebhookConfiguration) -> Vec<BundleUser> {
    let config = c.metadata.name.clone().unwrap_or_default();
    c.webhooks
        .iter()
        .flatten()
        .map(|w| {
            user(
                "validatingwebhookconfiguration",
                &config,
                &w.name,
                &w.client_config,
                w.failure_policy.as_deref(),
            )
        })
        .collect()
}

/// The webhooks of a MutatingWebhookConfiguration.
pub fn mutating(c: &MutatingWebhookConfiguration) -> Vec<BundleUser> {
    let config = c.metadata.name.clone().unwrap_or_default();
    c.webhooks
        .iter()
        .flatten()
        .map(|w| {
            user(
                "mutatingwebhookconfiguration",
                &config,
                &w.name,
                &w.client_config,
                w.failure_policy.as_deref(),
            )
        })
        .collect()
}

/// Lists both kinds (one LIST each) and checks every webhook's server.
pub async fn collect(ctx: &Context<'_>) -> Vec<Entry> {
    let lp = ctx.list_params();
    let (v, m) = futures::join!(
        list_or_unknown(
            Api::<ValidatingWebhookConfiguration>::all(ctx.client.clone()),
            &lp,
            Origin::Webhook,
            "validatingwebhookconfigurations.admissionregistration.k8s.io",
            "the cluster",
        ),
        list_or_unknown(
            Api::<MutatingWebhookConfiguration>::all(ctx.client.clone()),
            &lp,
            Origin::Webhook,
            "mutatingwebhookconfigurations.admissionregistration.k8s.io",
            "the cluster",
        ),
    );
    let mut out = Vec::new();
    let mut users = Vec::new();
    match v {
        Ok(items) => users.extend(items.iter().flat_map(validating)),
        Err(unknown) => out.push(unknown),
    }
    match m {
        Ok(items) => users.extend(items.iter().flat_map(mutating)),
        Err(unknown) => out.push(unknown),
    }
    out.extend(serving::entries(ctx.client, Origin::Webhook, users).await);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_webhook_is_a_row_with_its_bundle_and_server() {
        let c: ValidatingWebhookConfiguration = serde_json::from_value(json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "policy"},
            "webhooks": [
                {"name": "a.policy.example", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                 "failurePolicy": "Ignore",
                 "clientConfig": {"caBundle": "LS0tLS1CRUdJTg==", "service": {"namespace": "hooks", "name": "policy"}}},
                {"name": "b.policy.example", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                 "clientConfig": {"url": "https://hooks.example.com:8443/validate"}},
            ],
        }))
        .unwrap();
        let users = validating(&c);
        assert_eq!(users.len(), 2);
        assert_eq!(
            users[0].name,
            "validatingwebhookconfiguration/policy/a.policy.example"
        );
        assert_eq!(users[0].bundle, b"-----BEGIN");
        assert_eq!(
            users[0].server,
            Some(Server::service("hooks", "policy", None))
        );
        assert_eq!(users[0].unreachable, Severity::Warning);
        assert!(users[1].bundle.is_empty());
        assert_eq!(
            users[1].server,
            Some(Server::Url {
                host: "hooks.example.com".into(),
                port: 8443
            })
        );
        assert_eq!(users[1].unreachable, Severity::Critical);
    }

    #[test]
    fn mutating_webhooks_are_named_by_their_kind() {
        let c: MutatingWebhookConfiguration = serde_json::from_value(json!({
            "metadata": {"name": "inject"},
            "webhooks": [{"name": "x.example", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                          "clientConfig": {"service": {"namespace": "n", "name": "s", "port": 9443}}}],
        }))
        .unwrap();
        let users = mutating(&c);
        assert_eq!(
            users[0].name,
            "mutatingwebhookconfiguration/inject/x.example"
        );
        assert_eq!(users[0].server, Some(Server::service("n", "s", Some(9443))));
    }
}
