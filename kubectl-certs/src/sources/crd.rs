//! The `caBundle` of every CustomResourceDefinition (apiextensions.k8s.io/v1) whose
//! `spec.conversion.strategy` is `Webhook`: rows named `customresourcedefinition/NAME`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;

use super::serving::{self, BundleUser, Server};
use super::{Context, list_or_unknown};
use crate::findings::Severity;
use crate::model::{Entry, Origin};

/// The caBundle user of a CRD's conversion webhook, `None` without one.
pub fn user(crd: &CustomResourceDefinition) -> Option<BundleUser> {
    let conversion = crd.spec.conversion.as_ref()?;
    if conversion.strategy != "Webhook" {
        return None;
    }
    let cc = conversion.webhook.as_ref()?.client_config.as_ref()?;
    let server = match (&cc.service, &cc.url) {
        (Some(s), _) => Some(Server::service(&s.namespace, &s.name, s.port)),
        (None, Some(url)) => Server::url(url),
        (None, None) => None,
    };
    Some(BundleUser {
        name: format!(
            "customresourcedefinition/{}",
            crd.metadata.name.as_deref().unwrap_or_default()
        ),
        bundle: cc
            .ca_bundle
            .as_ref()
            .map(|b| b.0.clone())
            .unwrap_or_default(),
        server,
        // Reading or writing the resource in another version fails.
        unreachable: Severity::Critical,
        notes: Vec::new(),
    })
}

/// Lists CRDs (one LIST) and checks each conversion webhook's server.
pub async fn collect(ctx: &Context<'_>) -> Vec<Entry> {
    match list_or_unknown(
        Api::<CustomResourceDefinition>::all(ctx.client.clone()),
        &ctx.list_params(),
        Origin::CrdConversion,
        "customresourcedefinitions.apiextensions.k8s.io",
        "the cluster",
    )
    .await
    {
        Ok(items) => {
            let users = items.iter().filter_map(user).collect();
            serving::entries(ctx.client, Origin::CrdConversion, users).await
        }
        Err(unknown) => vec![unknown],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd(conversion: serde_json::Value) -> CustomResourceDefinition {
        serde_json::from_value(json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"plural": "widgets", "kind": "Widget"},
                     "versions": [], "conversion": conversion},
        }))
        .unwrap()
    }

    #[test]
    fn only_webhook_conversions_are_rows() {
        assert_eq!(user(&crd(json!({"strategy": "None"}))), None);
        let u = user(&crd(json!({"strategy": "Webhook", "webhook": {
            "conversionReviewVersions": ["v1"],
            "clientConfig": {"caBundle": "QUJD", "service": {"namespace": "w", "name": "conv", "port": 9443}}}})))
        .unwrap();
        assert_eq!(u.name, "customresourcedefinition/widgets.example.com");
        assert_eq!(u.bundle, b"ABC");
        assert_eq!(u.server, Some(Server::service("w", "conv", Some(9443))));
    }
}
