//! The sandbox fixtures keep their promises (tests/src/fixtures.rs).

use anyhow::{Context as _, Result, ensure};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use kubectl_ops_tests::fixtures::TestNamespace;
use kubectl_ops_tests::sandbox::Sandbox;
use serde_json::json;

/// `TestNamespace::create` returns only once pods are admitted there: a pod created right after
/// it, with the `default` ServiceAccount's token mounted (a token Secret on 1.20, a projected
/// TokenRequest volume on >= 1.21), is accepted every time. Without any wait the 1.20 sandbox
/// refused 8 of 30 such first pods ("No API token found"), so ten rounds catch a fixture that
/// returns too early.
#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn a_pod_is_admitted_right_after_the_namespace_fixture_returns() -> Result<()> {
    let sb = Sandbox::load()?;
    let admin = sb.client().await?;
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "first"},
        "spec": {"containers": [{"name": "c", "image": "kubectl-ops.invalid/never-pulled"}]},
    }))?;
    for round in 1..=10 {
        let namespace = TestNamespace::create(&sb, &admin, "fixture-admit").await?;
        let pods: Api<Pod> = Api::namespaced(admin.clone(), namespace.name());
        let created = pods
            .create(&PostParams::default(), &pod)
            .await
            .with_context(|| format!("round {round}: creating a pod in {}", namespace.name()))?;
        let volumes: Vec<String> = created
            .spec
            .and_then(|s| s.volumes)
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect();
        ensure!(
            volumes
                .iter()
                .any(|v| v.starts_with("default-token-") || v.starts_with("kube-api-access-")),
            "round {round}: the pod got no ServiceAccount token volume: {volumes:?}"
        );
        pods.delete("first", &DeleteParams::background()).await?;
    }
    Ok(())
}
