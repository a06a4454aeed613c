//! Finding the target pod: exact name, else the single Running pod of a workload prefix
//! (`api-gateway` → `api-gateway-5d9c…`), else a "did you mean" error. The target must be
//! Running and its node must still exist.

use anyhow::Context as _;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use serde::Serialize;
use shared::Error;

use crate::session::SELECTOR;

/// One container of the target, with what the debug pod needs to find it on the node.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetContainer {
    /// Container name.
    pub name: String,
    /// Runtime container ID without the scheme (`containerd://`), if started.
    pub id: Option<String>,
    /// Declared container ports.
    pub ports: Vec<i32>,
}

/// The pod being debugged.
#[derive(Debug, Clone)]
pub struct Target {
    /// The full pod object as last read.
    pub pod: Pod,
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// UID.
    pub uid: String,
    /// Pod IP.
    pub ip: String,
    /// Node name.
    pub node: String,
    /// Containers (spec order).
    pub containers: Vec<TargetContainer>,
    /// The pod uses the node's network namespace.
    pub host_network: bool,
}

/// Strips `containerd://`, `cri-o://`, `docker://` from a container ID.
pub fn strip_scheme(id: &str) -> &str {
    id.split_once("://").map(|(_, rest)| rest).unwrap_or(id)
}

impl Target {
    /// Builds a target from a pod object (no checks).
    pub fn from_pod(pod: Pod) -> Target {
        let spec = pod.spec.clone().unwrap_or_default();
        let status = pod.status.clone().unwrap_or_default();
        let statuses = status.container_statuses.unwrap_or_default();
        let containers = spec
            .containers
            .iter()
            .map(|c| TargetContainer {
                name: c.name.clone(),
                id: statuses
                    .iter()
                    .find(|s| s.name == c.name)
                    .and_then(|s| s.container_id.as_deref())
                    .map(|id| strip_scheme(id).to_string()),
                ports: c.ports.iter().flatten().map(|p| p.container_port).collect(),
            })
            .collect();
        Target {
            name: pod.name_any(),
            namespace: pod.namespace().unwrap_or_default(),
            uid: pod.uid().unwrap_or_default(),
            ip: status.pod_ip.unwrap_or_default(),
            node: spec.node_name.unwrap_or_default(),
            host_network: spec.host_network.unwrap_or(false),
            containers,
            pod,
        }
    }

    /// The pod's phase.
    pub fn phase(&self) -> &str {
        self.pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("Unknown")
    }

    /// All declared ports of all containers, sorted, deduplicated.
    pub fn ports(&self) -> Vec<i32> {
        let mut ports: Vec<i32> = self
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().copied())
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// `name=id,name=id` for the TARGET_CONTAINER_IDS env var.
    pub fn container_ids(&self) -> String {
        self.containers
            .iter()
            .filter_map(|c| c.id.as_ref().map(|id| format!("{}={id}", c.name)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The container to focus on: `name` if given (must exist), else the first.
    pub fn container(&self, name: Option<&str>) -> Result<&TargetContainer, Error> {
        match name {
            None => self
                .containers
                .first()
                .ok_or_else(|| Error::invalid("the target has no containers", "pick another pod")),
            Some(n) => {
                self.containers
                    .iter()
                    .find(|c| c.name == n)
                    .ok_or_else(|| Error::NotFound {
                        kind: "container",
                        name: n.to_string(),
                        namespace: None,
                        suggestions: shared::suggest::close_matches(
                            n,
                            self.containers.iter().map(|c| c.name.as_str()),
                        ),
                        list_hint: Some(format!(
                            "containers of {}: {}",
                            self.name,
                            self.containers
                                .iter()
                                .map(|c| c.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    })
            }
        }
    }
}

/// Looks the target up by name (or unique workload prefix) without checking its state.
pub async fn find(client: &Client, namespace: &str, name: &str) -> anyhow::Result<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    match pods.get_opt(name).await {
        Ok(Some(pod)) => return Ok(pod),
        Ok(None) => {}
        Err(err) => {
            return Err(
                Error::kube(format!("get pod {name:?} in namespace {namespace:?}"), err).into(),
            );
        }
    }
    let all = pods
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube(format!("list pods in namespace {namespace:?}"), e))?;
    let candidates: Vec<&Pod> = all
        .items
        .iter()
        .filter(|p| {
            p.labels()
                .get("app.kubernetes.io/managed-by")
                .is_none_or(|v| v != crate::session::MANAGED_BY)
        })
        .collect();
    let prefixed: Vec<&Pod> = candidates
        .iter()
        .copied()
        .filter(|p| p.name_any().starts_with(&format!("{name}-")))
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        // A pod being deleted still says Running (during every rollout): never a target.
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    if let [only] = prefixed.as_slice() {
        eprintln!(
            "using pod {} (the only Running pod named {name}-*)",
            only.name_any()
        );
        return Ok((*only).clone());
    }
    let names: Vec<String> = candidates.iter().map(|p| p.name_any()).collect();
    let mut suggestions = shared::suggest::close_matches(name, names.iter().map(String::as_str));
    if prefixed.len() > 1 {
        suggestions = prefixed.iter().map(|p| p.name_any()).take(3).collect();
    }
    Err(Error::NotFound {
        kind: "pod",
        name: name.to_string(),
        namespace: Some(namespace.to_string()),
        suggestions,
        list_hint: Some(format!(
            "list candidate targets with `kubectl debugpod list -n {namespace}`"
        )),
    }
    .into())
}

/// Resolves the target and checks it can be debugged: Running, with a node that still exists.
pub async fn resolve(client: &Client, namespace: &str, name: &str) -> anyhow::Result<Target> {
    let pod = find(client, namespace, name).await?;
    let target = Target::from_pod(pod);
    if target
        .pod
        .labels()
        .get("app.kubernetes.io/managed-by")
        .is_some_and(|v| v == crate::session::MANAGED_BY)
    {
        return Err(Error::invalid(
            format!(
                "pod {} is a debug pod of this tool, not a target",
                target.name
            ),
            format!(
                "debug the workload it points at: {}",
                target
                    .pod
                    .annotations()
                    .get(crate::session::ANN_TARGET)
                    .cloned()
                    .unwrap_or_default()
            ),
        )
        .into());
    }
    if target.phase() != "Running" {
        let why = target
            .pod
            .status
            .as_ref()
            .and_then(|s| s.reason.clone())
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        return Err(Error::invalid(
            format!("pod {} is {}{why}, not Running", target.name, target.phase()),
            format!("see why with `kubectl debugpod report {} -n {namespace}`; debug pods attach to running pods only", target.name),
        )
        .into());
    }
    if target.node.is_empty() {
        return Err(Error::invalid(
            format!("pod {} has no node", target.name),
            "wait until it is scheduled",
        )
        .into());
    }
    check_node(client, &target.node).await?;
    Ok(target)
}

/// Fails when the node is gone; a user who may not read nodes gets the benefit of the doubt.
pub async fn check_node(client: &Client, node: &str) -> anyhow::Result<Option<Node>> {
    let nodes: Api<Node> = Api::all(client.clone());
    match nodes.get_opt(node).await {
        Ok(Some(n)) => Ok(Some(n)),
        Ok(None) => Err(Error::invalid(
            format!("node {node:?} of the target no longer exists"),
            "the pod is stale; its controller will replace it — pick the new pod with `kubectl debugpod list`",
        )
        .into()),
        Err(kube::Error::Api(s)) if s.code == 403 => Ok(None),
        Err(e) => Err(e).context(format!("get node {node:?}")),
    }
}

/// Lists this tool's debug pods in a namespace (None = all namespaces).
pub async fn list_debug_pods(client: &Client, namespace: Option<&str>) -> anyhow::Result<Vec<Pod>> {
    let api: Api<Pod> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let list = api
        .list(&ListParams::default().labels(SELECTOR))
        .await
        .map_err(|e| {
            Error::kube(
                format!(
                    "list debug pods in {}",
                    namespace
                        .map(|n| format!("namespace {n:?}"))
                        .unwrap_or("all namespaces".into())
                ),
                e,
            )
        })?;
    Ok(list.items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_every_runtime_scheme() {
        assert_eq!(strip_scheme("containerd://abc"), "abc");
        assert_eq!(strip_scheme("cri-o://abc"), "abc");
        assert_eq!(strip_scheme("docker://abc"), "abc");
        assert_eq!(strip_scheme("abc"), "abc");
    }

    #[test]
    fn reads_ids_ports_and_ip() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "api-gateway-1", "namespace": "ns", "uid": "u-1"},
            "spec": {"nodeName": "n1", "containers": [
                {"name": "app", "ports": [{"containerPort": 8443}, {"containerPort": 8080}]},
                {"name": "side"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [
                {"name": "app", "containerID": "containerd://c1", "image": "i", "imageID": "", "ready": true, "restartCount": 0}]}
        }))
        .unwrap();
        let t = Target::from_pod(pod);
        assert_eq!(t.ip, "10.0.0.5");
        assert_eq!(t.ports(), [8080, 8443]);
        assert_eq!(t.container_ids(), "app=c1");
        assert_eq!(t.container(Some("side")).unwrap().id, None);
        assert!(
            t.container(Some("sid"))
                .unwrap_err()
                .to_string()
                .contains("did you mean \"side\"")
        );
    }
}
