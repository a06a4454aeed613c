//! The `caBundle` of every APIService (apiregistration.k8s.io/v1) served by a Service (the
//! aggregated APIs, e.g. metrics-server); local APIServices (no `spec.service`) have no
//! certificate and no row. Rows are named `apiservice/NAME`.

use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::Api;

use super::serving::{self, BundleUser, Server};
use super::{Context, list_or_unknown};
use crate::findings::{Finding, Severity};
use crate::model::{Entry, Origin};

/// The caBundle user of an APIService, `None` for a local one.
pub fn user(a: &APIService) -> Option<BundleUser> {
    let spec = a.spec.as_ref()?;
    let svc = spec.service.as_ref()?;
    let mut notes = Vec::new();
    if spec.insecure_skip_tls_verify == Some(true) {
        notes.push(Finding {
            severity: Severity::Warning,
            check: "insecure",
            message: "spec.insecureSkipTLSVerify is true: the API server does not verify this service's certificate".into(),
            hint: Some("set spec.caBundle to the serving CA and remove insecureSkipTLSVerify".into()),
        });
    }
    Some(BundleUser {
        name: format!(
            "apiservice/{}",
            a.metadata.name.as_deref().unwrap_or_default()
        ),
        bundle: spec
            .ca_bundle
            .as_ref()
            .map(|b| b.0.clone())
            .unwrap_or_default(),
        server: Some(Server::service(
            svc.namespace.as_deref().unwrap_or("default"),
            svc.name.as_deref().unwrap_or_default(),
            svc.port,
        )),
        // Every request for the API's group fails.
        unreachable: Severity::Critical,
        notes,
    })
}

/// Lists APIServices (one LIST) and checks each service-backed one's server.
pub async fn collect(ctx: &Context<'_>) -> Vec<Entry> {
    match list_or_unknown(
        Api::<APIService>::all(ctx.client.clone()),
        &ctx.list_params(),
        Origin::ApiService,
        "apiservices.apiregistration.k8s.io",
        "the cluster",
    )
    .await
    {
        Ok(items) => {
            let users = items.iter().filter_map(user).collect();
            serving::entries(ctx.client, Origin::ApiService, users).await
        }
        Err(unknown) => vec![unknown],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn service_backed_apiservices_only() {
        let local: APIService = serde_json::from_value(json!({
            "metadata": {"name": "v1.apps"},
            "spec": {"group": "apps", "version": "v1", "groupPriorityMinimum": 17800, "versionPriority": 15},
        }))
        .unwrap();
        assert_eq!(user(&local), None);
        let remote: APIService = serde_json::from_value(json!({
            "metadata": {"name": "v1beta1.metrics.k8s.io"},
            "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100, "versionPriority": 100,
                     "insecureSkipTLSVerify": true, "caBundle": "QUJD",
                     "service": {"namespace": "kube-system", "name": "metrics-server"}},
        }))
        .unwrap();
        let u = user(&remote).unwrap();
        assert_eq!(u.name, "apiservice/v1beta1.metrics.k8s.io");
        assert_eq!(u.bundle, b"ABC");
        assert_eq!(
            u.server,
            Some(Server::service("kube-system", "metrics-server", None))
        );
        assert_eq!(u.notes[0].check, "insecure");
    }
}
