//! Ephemeral mode against **recorded API exchanges**: the sandbox runs Kubernetes 1.20, which
//! has no Pod-shaped `pods/ephemeralcontainers`, so these tests put kube's mock service
//! (`tower-test`) behind a real `kube::Client` and let [`MockApiServer`] answer the requests a
//! 1.2x API server would get, the way kube-rs's own `ApiServerVerifier` examples do. Every
//! request is recorded so the tests can assert the exact sequence (version check, dry-run
//! PATCH, PATCH, watch) and the bodies sent.

use std::time::Duration;

use http::{Request, Response, StatusCode};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use shared::prompt::Answer;

use super::{EphemeralOptions, add};
use crate::profile::Profile;
use crate::target::Target;

/// One request the mock received.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    query: String,
    content_type: String,
    body: Value,
}

/// How the mock API server behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// Kubernetes 1.29: dry-run and patch succeed, the container runs.
    Modern,
    /// Kubernetes 1.20: the version check must stop everything.
    Old,
    /// 1.27, but the subresource answers 404 (disabled).
    Disabled,
    /// 1.29, but the user may not patch pods/ephemeralcontainers.
    Forbidden,
}

/// A mock Kubernetes API server: answers requests by route and records them.
struct MockApiServer {
    handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
}

fn pod_json(with_debugger: bool) -> Value {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "api-gateway-1", "namespace": "mib", "uid": "uid-1", "resourceVersion": "10"},
        "spec": {"nodeName": "node-a", "containers": [{"name": "app", "image": "app:1"}]},
        "status": {"phase": "Running", "podIP": "10.244.0.7", "containerStatuses": [
            {"name": "app", "containerID": "containerd://abc", "image": "app:1", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {}}}]}
    });
    if with_debugger {
        pod["spec"]["ephemeralContainers"] = json!([{"name": "debugpod-s1", "image": "toolbox:1"}]);
        pod["status"]["ephemeralContainerStatuses"] = json!([
            {"name": "debugpod-s1", "image": "toolbox:1", "imageID": "", "ready": false, "restartCount": 0, "state": {"running": {"startedAt": "2030-01-01T00:00:00Z"}}}]);
    }
    pod
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message})
}

impl MockApiServer {
    fn new() -> (MockApiServer, Client) {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        (MockApiServer { handle }, Client::new(service, "mib"))
    }

    fn answer(scenario: Scenario, r: &Recorded) -> (u16, Value) {
        let version = |minor: &str| {
            json!({"major": "1", "minor": minor, "gitVersion": format!("v1.{minor}.0"), "gitCommit": "", "gitTreeState": "clean",
                   "buildDate": "2030-01-01T00:00:00Z", "goVersion": "go", "compiler": "gc", "platform": "linux/amd64"})
        };
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/version") => match scenario {
                Scenario::Old => (200, version("20")),
                Scenario::Disabled => (200, version("27")),
                _ => (200, version("29")),
            },
            ("PATCH", "/api/v1/namespaces/mib/pods/api-gateway-1/ephemeralcontainers") => {
                match scenario {
                    Scenario::Modern => (200, pod_json(true)),
                    Scenario::Disabled => (
                        404,
                        status(
                            404,
                            "NotFound",
                            "the server could not find the requested resource",
                        ),
                    ),
                    Scenario::Forbidden => (
                        403,
                        status(
                            403,
                            "Forbidden",
                            r#"pods "api-gateway-1" is forbidden: User "u" cannot patch resource "pods/ephemeralcontainers" in API group "" in the namespace "mib""#,
                        ),
                    ),
                    Scenario::Old => (500, status(500, "InternalError", "unexpected request")),
                }
            }
            ("GET", "/api/v1/namespaces/mib/pods")
                if r.query
                    .contains("fieldSelector=metadata.name%3Dapi-gateway-1")
                    && !r.query.contains("watch=true") =>
            {
                (
                    200,
                    json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "11"}, "items": [pod_json(true)]}),
                )
            }
            ("GET", "/api/v1/namespaces/mib/events") => {
                (403, status(403, "Forbidden", "events is forbidden"))
            }
            _ => (404, status(404, "NotFound", "not part of the recording")),
        }
    }

    /// Serves until the client goes away; returns everything it received.
    fn run(mut self, scenario: Scenario) -> tokio::task::JoinHandle<Vec<Recorded>> {
        tokio::spawn(async move {
            let mut log = Vec::new();
            while let Some((request, send)) = self.handle.next_request().await {
                let (parts, body) = request.into_parts();
                let bytes = body.collect_bytes().await.unwrap_or_default();
                let recorded = Recorded {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_string(),
                    query: parts.uri.query().unwrap_or_default().to_string(),
                    content_type: parts
                        .headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string(),
                    body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                };
                let (code, reply) = Self::answer(scenario, &recorded);
                log.push(recorded);
                let response = Response::builder()
                    .status(StatusCode::from_u16(code).unwrap())
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                    .unwrap();
                send.send_response(response);
            }
            log
        })
    }
}

fn target() -> Target {
    Target::from_pod(serde_json::from_value::<Pod>(pod_json(false)).unwrap())
}

fn opts() -> EphemeralOptions {
    EphemeralOptions {
        image: "toolbox:1".into(),
        ttl: Duration::from_secs(600),
        profile: Profile::Netadmin,
        container: None,
        session: "s1".into(),
        timeout: Duration::from_secs(5),
        created_by: "alice".into(),
        reason: "INC-7".into(),
    }
}

async fn exchange(scenario: Scenario) -> (anyhow::Result<String>, Vec<Recorded>) {
    let (mock, client) = MockApiServer::new();
    let server = mock.run(scenario);
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        add(&client, &target(), &opts(), Answer::AssumeYes),
    )
    .await
    .expect("the exchange finished");
    drop(client);
    let log = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("mock stopped")
        .unwrap();
    (result, log)
}

fn patches(log: &[Recorded]) -> Vec<&Recorded> {
    log.iter().filter(|r| r.method == "PATCH").collect()
}

#[tokio::test]
async fn mock_modern_cluster_gets_version_check_dry_run_patch_then_watch() {
    let (result, log) = exchange(Scenario::Modern).await;
    assert_eq!(result.unwrap(), "debugpod-s1");
    let sequence: Vec<String> = log
        .iter()
        .filter(|r| !r.path.ends_with("/events"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        sequence,
        [
            "GET /version",
            "PATCH /api/v1/namespaces/mib/pods/api-gateway-1/ephemeralcontainers",
            "PATCH /api/v1/namespaces/mib/pods/api-gateway-1/ephemeralcontainers",
            "GET /api/v1/namespaces/mib/pods",
        ]
    );
    let p = patches(&log);
    assert!(
        p[0].query.contains("dryRun=All"),
        "first PATCH is the dry-run: {}",
        p[0].query
    );
    assert!(
        !p[1].query.contains("dryRun"),
        "second PATCH is real: {}",
        p[1].query
    );
    assert_eq!(p[1].content_type, "application/strategic-merge-patch+json");
    let c = &p[1].body["spec"]["ephemeralContainers"][0];
    assert_eq!(c["name"], "debugpod-s1");
    assert_eq!(
        c["command"],
        json!(["timeout", "-s", "KILL", "600", "sh"]),
        "the timeout wrapper is the only TTL"
    );
    assert_eq!(c["targetContainerName"], "app");
    assert_eq!(
        c["securityContext"]["capabilities"]["add"],
        json!(["NET_ADMIN", "NET_RAW", "SYS_PTRACE", "SYS_ADMIN"])
    );
    assert!(
        c.get("resources").is_none(),
        "ephemeral containers may not set resources"
    );
    let env = |name: &str| {
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].clone())
    };
    assert_eq!(
        env("DEBUGPOD_REASON"),
        Some(json!("INC-7")),
        "--reason is recorded in the container's spec"
    );
    assert_eq!(env("DEBUGPOD_CREATED_BY"), Some(json!("alice")));
    assert_eq!(
        p[0].body, p[1].body,
        "the dry-run checks exactly what is sent"
    );
}

#[tokio::test]
async fn mock_old_cluster_is_refused_before_any_patch() {
    let (result, log) = exchange(Scenario::Old).await;
    let err = result.unwrap_err();
    assert!(
        format!("{err:#}").contains("needs Kubernetes ≥ 1.25; this cluster is 1.20"),
        "{err:#}"
    );
    assert!(
        shared::exit::find_hint(err.as_ref())
            .unwrap()
            .contains("--mode pod")
    );
    assert!(patches(&log).is_empty(), "{log:?}");
}

#[tokio::test]
async fn mock_disabled_subresource_stops_after_the_dry_run() {
    let (result, log) = exchange(Scenario::Disabled).await;
    let err = format!("{:#}", result.unwrap_err());
    assert!(
        err.contains("ephemeral containers are not available"),
        "{err}"
    );
    let p = patches(&log);
    assert_eq!(p.len(), 1, "only the dry-run was sent");
    assert!(p[0].query.contains("dryRun=All"));
}

#[tokio::test]
async fn mock_missing_rbac_names_verb_and_resource() {
    let (result, log) = exchange(Scenario::Forbidden).await;
    let err = result.unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains(r#"cannot patch resource "pods/ephemeralcontainers""#),
        "{text}"
    );
    assert!(
        shared::exit::find_hint(err.as_ref())
            .unwrap()
            .contains("rbac ephemeral")
    );
    assert_eq!(patches(&log).len(), 1, "nothing after the refused dry-run");
}
