//! Reaching a port inside the cluster through the Kubernetes API (the `pods/portforward`
//! subresource), without kubectl and without a local listener: the returned stream is the
//! connection.
//!
//! Targets are written like kubectl's: `pod/NAME`, `svc/NAME` (or `service/`),
//! `statefulset/NAME` (`sts/`), `deployment/NAME` (`deploy/`), or a bare pod name.

use std::fmt;
use std::str::FromStr;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams};
use tokio::io::DuplexStream;

use crate::error::{Error, Result};

/// What a target names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A pod.
    Pod,
    /// A Service: one of its ready endpoints' pods.
    Service,
    /// A StatefulSet: one of its ready pods.
    StatefulSet,
    /// A Deployment: one of its ready pods.
    Deployment,
}

/// A port-forward target such as `svc/redis`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Kind of object.
    pub kind: TargetKind,
    /// Its name.
    pub name: String,
}

impl FromStr for Target {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let (kind, name) = match s.split_once('/') {
            None => (TargetKind::Pod, s),
            Some((kind, name)) => {
                let kind = match kind.to_ascii_lowercase().as_str() {
                    "pod" | "pods" | "po" => TargetKind::Pod,
                    "svc" | "service" | "services" => TargetKind::Service,
                    "sts" | "statefulset" | "statefulsets" => TargetKind::StatefulSet,
                    "deploy" | "deployment" | "deployments" => TargetKind::Deployment,
                    other => {
                        return Err(Error::Usage {
                            message: format!("unsupported target kind {other:?} in {s:?}"),
                            hint: Some(
                                "use pod/NAME, svc/NAME, statefulset/NAME or deployment/NAME"
                                    .into(),
                            ),
                        });
                    }
                };
                (kind, name)
            }
        };
        if name.is_empty() || name.contains('/') {
            return Err(Error::Usage {
                message: format!("invalid target {s:?}"),
                hint: Some("use pod/NAME, svc/NAME, statefulset/NAME or deployment/NAME".into()),
            });
        }
        Ok(Target {
            kind,
            name: name.to_string(),
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            TargetKind::Pod => "pod",
            TargetKind::Service => "svc",
            TargetKind::StatefulSet => "statefulset",
            TargetKind::Deployment => "deployment",
        };
        write!(f, "{kind}/{}", self.name)
    }
}

/// A concrete pod and port to forward to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPort {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container port.
    pub port: u16,
}

impl fmt::Display for PodPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pod/{}:{} (namespace {})",
            self.pod, self.port, self.namespace
        )
    }
}

fn is_ready(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    status.and_then(|s| s.phase.as_deref()) == Some("Running")
        && status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Picks a ready pod among those matching `selector`, by name for stable choices.
async fn ready_pod_by_selector(pods: &Api<Pod>, selector: &str, what: &str) -> Result<Pod> {
    let list = pods
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|e| Error::kube(format!("list pods of {what}"), e))?;
    let mut ready: Vec<Pod> = list.items.into_iter().filter(is_ready).collect();
    ready.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    ready.into_iter().next().ok_or_else(|| {
        Error::invalid(
            format!("{what} has no ready pod"),
            "check it with `kubectl get pods`",
        )
    })
}

fn selector_string(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Finds the container port named `name` on the pod.
fn named_port(pod: &Pod, name: &str) -> Option<u16> {
    pod.spec
        .as_ref()?
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find_map(|p| {
            (p.name.as_deref() == Some(name))
                .then(|| u16::try_from(p.container_port).ok())
                .flatten()
        })
}

/// Resolves a target and a port (for Services, the Service port, mapped to its targetPort)
/// to a ready pod and container port.
pub async fn resolve(
    client: &kube::Client,
    namespace: &str,
    target: &Target,
    port: u16,
) -> Result<PodPort> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let not_found = |kind: &'static str, e: kube::Error| match &e {
        kube::Error::Api(s) if s.code == 404 => Error::NotFound {
            kind,
            name: target.name.clone(),
            namespace: Some(namespace.to_string()),
            suggestions: vec![],
            list_hint: Some(format!("check the name and the namespace ({namespace})")),
        },
        _ => Error::kube(format!("get {target} in namespace {namespace}"), e),
    };
    let (pod, port) = match target.kind {
        TargetKind::Pod => {
            let pod = pods
                .get(&target.name)
                .await
                .map_err(|e| not_found("pod", e))?;
            if !is_ready(&pod) {
                return Err(Error::invalid(
                    format!("pod {} is not running and ready", target.name),
                    "check it with `kubectl get pod`",
                ));
            }
            (pod, port)
        }
        TargetKind::StatefulSet | TargetKind::Deployment => {
            let labels = if target.kind == TargetKind::StatefulSet {
                let api: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
                let sts = api
                    .get(&target.name)
                    .await
                    .map_err(|e| not_found("statefulset", e))?;
                sts.spec
                    .and_then(|s| s.selector.match_labels)
                    .unwrap_or_default()
            } else {
                let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
                let d = api
                    .get(&target.name)
                    .await
                    .map_err(|e| not_found("deployment", e))?;
                d.spec
                    .and_then(|s| s.selector.match_labels)
                    .unwrap_or_default()
            };
            (
                ready_pod_by_selector(&pods, &selector_string(&labels), &target.to_string())
                    .await?,
                port,
            )
        }
        TargetKind::Service => {
            let api: Api<Service> = Api::namespaced(client.clone(), namespace);
            let svc = api
                .get(&target.name)
                .await
                .map_err(|e| not_found("service", e))?;
            let spec = svc.spec.unwrap_or_default();
            let selector = spec.selector.unwrap_or_default();
            if selector.is_empty() {
                return Err(Error::invalid(
                    format!("{target} has no selector"),
                    "port-forward to one of its pods with --target pod/NAME",
                ));
            }
            let pod =
                ready_pod_by_selector(&pods, &selector_string(&selector), &target.to_string())
                    .await?;
            let svc_port = spec
                .ports
                .unwrap_or_default()
                .into_iter()
                .find(|p| p.port == i32::from(port));
            let container_port = match svc_port.and_then(|p| p.target_port) {
                Some(IntOrString::Int(n)) => u16::try_from(n).unwrap_or(port),
                Some(IntOrString::String(name)) => named_port(&pod, &name).ok_or_else(|| {
                    Error::invalid(
                        format!("{target}: pod has no container port named {name:?}"),
                        "check the Service's targetPort",
                    )
                })?,
                None => port,
            };
            (pod, container_port)
        }
    };
    Ok(PodPort {
        namespace: namespace.to_string(),
        pod: pod.metadata.name.unwrap_or_default(),
        port,
    })
}

/// One forwarded connection: read and write it like a TCP stream.
pub struct Forwarded {
    /// The byte stream to the pod's port.
    pub stream: DuplexStream,
    /// Resolves to an error message if the apiserver reports one for the port.
    pub error: Option<std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send>>>,
    forwarder: kube::api::Portforwarder,
}

impl Forwarded {
    /// Stops the forwarding.
    pub fn abort(&self) {
        self.forwarder.abort();
    }
}

/// Opens a new connection to `target` through the API server.
pub async fn connect(client: &kube::Client, target: &PodPort) -> Result<Forwarded> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &target.namespace);
    let mut forwarder = pods
        .portforward(&target.pod, &[target.port])
        .await
        .map_err(|e| Error::kube(format!("port-forward to {target}"), e))?;
    let stream = forwarder
        .take_stream(target.port)
        .ok_or_else(|| Error::PortForward {
            target: target.to_string(),
            message: "the API server returned no stream".into(),
        })?;
    let error = forwarder.take_error(target.port).map(|f| Box::pin(f) as _);
    Ok(Forwarded {
        stream,
        error,
        forwarder,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubectl_style_targets() {
        let t: Target = "svc/redis".parse().unwrap();
        assert_eq!(
            t,
            Target {
                kind: TargetKind::Service,
                name: "redis".into()
            }
        );
        assert_eq!(
            "statefulset/redis".parse::<Target>().unwrap().kind,
            TargetKind::StatefulSet
        );
        assert_eq!("redis-0".parse::<Target>().unwrap().kind, TargetKind::Pod);
        assert_eq!(
            "deploy/api".parse::<Target>().unwrap().to_string(),
            "deployment/api"
        );
    }

    #[test]
    fn rejects_unknown_kinds_with_usage_error() {
        let err = "job/x".parse::<Target>().unwrap_err();
        assert!(matches!(err, Error::Usage { .. }));
        assert!("svc/".parse::<Target>().is_err());
    }
}
