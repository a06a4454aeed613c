//! Building the debug pod: pinned to the target's node, labelled, annotated, limited in time
//! (`activeDeadlineSeconds`) and resources, with exactly the profile's powers.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, EnvVar, HostPathVolumeSource, Node, Pod, PodSpec, ResourceRequirements, Toleration,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::ObjectMeta;

use crate::profile::Profile;
use crate::session::{self, CONTAINER, SessionKind};
use crate::target::Target;

/// Requests and limits of the debug container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    /// CPU request.
    pub cpu_request: String,
    /// Memory request.
    pub memory_request: String,
    /// CPU limit.
    pub cpu_limit: String,
    /// Memory limit.
    pub memory_limit: String,
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            cpu_request: "10m".into(),
            memory_request: "32Mi".into(),
            cpu_limit: "500m".into(),
            memory_limit: "256Mi".into(),
        }
    }
}

/// Everything that decides the debug pod's shape.
#[derive(Debug, Clone)]
pub struct DebugPodOptions {
    /// Session id.
    pub session: String,
    /// Image.
    pub image: String,
    /// Lifetime (activeDeadlineSeconds).
    pub ttl: Duration,
    /// Profile.
    pub profile: Profile,
    /// Shells start inside the target's network namespace.
    pub share_netns: bool,
    /// Who (for the annotation).
    pub created_by: String,
    /// Why (`--reason`).
    pub reason: String,
    /// Requests and limits.
    pub resources: Resources,
    /// Creation time (expiry = now + ttl).
    pub now: Timestamp,
}

/// The tool version stamped on every debug pod.
pub const TOOL_VERSION: &str = concat!("kubectl-debugpod/", env!("CARGO_PKG_VERSION"));

/// The debug container's main process: wait for the TTL, end at once on SIGTERM (so deleting a
/// session is quick even though PID 1 ignores signals without a handler).
pub fn main_command(ttl: Duration) -> Vec<String> {
    let secs = ttl.as_secs().max(1);
    vec![
        "/bin/sh".into(),
        "-c".into(),
        format!("trap 'exit 0' TERM INT; sleep {secs} & wait"),
    ]
}

/// Tolerations that let the debug pod run on the target's node: one per node taint when the
/// node could be read, else the target's own tolerations.
pub fn tolerations(target: &Target, node: Option<&Node>) -> Vec<Toleration> {
    match node
        .and_then(|n| n.spec.as_ref())
        .and_then(|s| s.taints.as_ref())
    {
        Some(taints) => taints
            .iter()
            .map(|t| Toleration {
                key: Some(t.key.clone()),
                operator: Some("Exists".into()),
                effect: Some(t.effect.clone()),
                ..Default::default()
            })
            .collect(),
        None if node.is_some() => Vec::new(),
        None => target
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.clone())
            .unwrap_or_default(),
    }
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn quantity(s: &str) -> Quantity {
    Quantity(s.to_string())
}

/// What every session pod carries in its metadata, whatever its kind.
#[derive(Debug, Clone)]
pub struct SessionMeta<'a> {
    /// Debug pod, copy or node shell.
    pub kind: SessionKind,
    /// Session id.
    pub session: &'a str,
    /// The target's name (`node/NAME` for node sessions), for the annotation.
    pub target: &'a str,
    /// The target's UID (the Node's for node sessions), for the label.
    pub target_uid: &'a str,
    /// Who (for the annotation).
    pub created_by: &'a str,
    /// Why (`--reason`).
    pub reason: &'a str,
    /// Lifetime (expires-at = now + ttl).
    pub ttl: Duration,
    /// Creation time.
    pub now: Timestamp,
    /// The profile, when the session has one (copies run with the target's own settings).
    pub profile: Option<Profile>,
}

/// The labels and annotations of a session pod: `managed-by` (the only selector cleanup
/// deletes by), session id, target UID; who, why, what, until when.
pub fn session_metadata(
    meta: &SessionMeta<'_>,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let expires = meta.now + SignedDuration::from_secs(meta.ttl.as_secs() as i64);
    let labels = BTreeMap::from([
        (
            "app.kubernetes.io/managed-by".to_string(),
            session::MANAGED_BY.to_string(),
        ),
        ("app.kubernetes.io/name".to_string(), "debugpod".to_string()),
        (session::LABEL_SESSION.to_string(), meta.session.to_string()),
        (
            session::LABEL_TARGET_UID.to_string(),
            meta.target_uid.to_string(),
        ),
    ]);
    let mut annotations = BTreeMap::from([
        (session::ANN_KIND.to_string(), meta.kind.name().to_string()),
        (session::ANN_TARGET.to_string(), meta.target.to_string()),
        (
            session::ANN_CREATED_BY.to_string(),
            meta.created_by.to_string(),
        ),
        (
            session::ANN_EXPIRES_AT.to_string(),
            expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        ),
        (
            session::ANN_TOOL_VERSION.to_string(),
            TOOL_VERSION.to_string(),
        ),
    ]);
    if let Some(p) = meta.profile {
        annotations.insert(session::ANN_PROFILE.to_string(), p.name().to_string());
    }
    if !meta.reason.is_empty() {
        annotations.insert(session::ANN_REASON.to_string(), meta.reason.to_string());
    }
    (labels, annotations)
}

/// The debug container's requests and limits.
pub fn resource_requirements(r: &Resources) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_string(), quantity(&r.cpu_request)),
            ("memory".to_string(), quantity(&r.memory_request)),
        ])),
        limits: Some(BTreeMap::from([
            ("cpu".to_string(), quantity(&r.cpu_limit)),
            ("memory".to_string(), quantity(&r.memory_limit)),
        ])),
        ..Default::default()
    }
}

/// The node's `/` as a hostPath volume, and its mount at `/host`.
pub fn host_root() -> (Volume, VolumeMount) {
    (
        Volume {
            name: "host-root".into(),
            host_path: Some(HostPathVolumeSource {
                path: "/".into(),
                type_: None,
            }),
            ..Default::default()
        },
        VolumeMount {
            name: "host-root".into(),
            mount_path: "/host".into(),
            ..Default::default()
        },
    )
}

/// The debug pod for `target` (not yet created).
pub fn build(target: &Target, node: Option<&Node>, opts: &DebugPodOptions) -> Pod {
    let (labels, mut annotations) = session_metadata(&SessionMeta {
        kind: SessionKind::Pod,
        session: &opts.session,
        target: &target.name,
        target_uid: &target.uid,
        created_by: &opts.created_by,
        reason: &opts.reason,
        ttl: opts.ttl,
        now: opts.now,
        profile: Some(opts.profile),
    });
    annotations.insert(
        session::ANN_SHARE_NETNS.to_string(),
        opts.share_netns.to_string(),
    );
    let resources = resource_requirements(&opts.resources);
    let (volumes, mounts) = if opts.profile.host_root_mount() {
        let (volume, mount) = host_root();
        (Some(vec![volume]), Some(vec![mount]))
    } else {
        (None, None)
    };
    let flag = |on: bool| on.then_some(true);
    Pod {
        metadata: ObjectMeta {
            name: Some(session::pod_name(&target.name, &opts.session)),
            namespace: Some(target.namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            // The garbage collector removes the session when the target pod goes away.
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Pod".into(),
                name: target.name.clone(),
                uid: target.uid.clone(),
                controller: Some(false),
                block_owner_deletion: Some(false),
            }]),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some(target.node.clone()),
            restart_policy: Some("Never".into()),
            active_deadline_seconds: Some(opts.ttl.as_secs().max(1) as i64),
            termination_grace_period_seconds: Some(2),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            host_pid: flag(opts.profile.host_pid()),
            host_network: flag(opts.profile.host_network()),
            host_ipc: flag(opts.profile.host_ipc()),
            tolerations: Some(tolerations(target, node)).filter(|t| !t.is_empty()),
            volumes,
            containers: vec![Container {
                name: CONTAINER.into(),
                image: Some(opts.image.clone()),
                image_pull_policy: Some("IfNotPresent".into()),
                command: Some(main_command(opts.ttl)),
                env: Some(vec![
                    env("TARGET_POD", &target.name),
                    env("TARGET_POD_IP", &target.ip),
                    env("TARGET_POD_UID", &target.uid),
                    env("TARGET_NAMESPACE", &target.namespace),
                    env("TARGET_NODE", &target.node),
                    env("TARGET_CONTAINER_IDS", target.container_ids()),
                    env("DEBUGPOD_SESSION", &opts.session),
                    env("DEBUGPOD_PROFILE", opts.profile.name()),
                ]),
                resources: Some(resources),
                security_context: opts.profile.security_context(),
                volume_mounts: mounts,
                termination_message_policy: Some("FallbackToLogsOnError".into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::from_pod(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "api-gateway-1", "namespace": "mib", "uid": "uid-1"},
                "spec": {"nodeName": "node-a", "containers": [{"name": "app"}],
                         "tolerations": [{"key": "dedicated", "operator": "Exists"}]},
                "status": {"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [
                    {"name": "app", "containerID": "containerd://cid", "image": "i", "imageID": "", "ready": true, "restartCount": 0}]}
            }))
            .unwrap(),
        )
    }

    fn opts(profile: Profile) -> DebugPodOptions {
        DebugPodOptions {
            session: "s1".into(),
            image: "localhost/toolbox:1".into(),
            ttl: Duration::from_secs(3600),
            profile,
            share_netns: false,
            created_by: "alice".into(),
            reason: "INC-42".into(),
            resources: Resources::default(),
            now: "2030-01-01T00:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn pinned_labelled_annotated_and_time_limited() {
        let pod = build(&target(), None, &opts(Profile::General));
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.node_name.as_deref(), Some("node-a"));
        assert_eq!(spec.active_deadline_seconds, Some(3600));
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        let labels = pod.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["app.kubernetes.io/managed-by"], "kubectl-debugpod");
        assert_eq!(labels[session::LABEL_TARGET_UID], "uid-1");
        let ann = pod.metadata.annotations.as_ref().unwrap();
        assert_eq!(ann[session::ANN_EXPIRES_AT], "2030-01-01T01:00:00Z");
        assert_eq!(ann[session::ANN_REASON], "INC-42");
        assert_eq!(ann[session::ANN_CREATED_BY], "alice");
        let c = &spec.containers[0];
        let env: BTreeMap<_, _> = c
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.as_str(), e.value.clone().unwrap()))
            .collect();
        assert_eq!(env["TARGET_POD"], "api-gateway-1");
        assert_eq!(env["TARGET_POD_IP"], "10.0.0.5");
        assert_eq!(env["TARGET_CONTAINER_IDS"], "app=cid");
        assert!(
            c.resources
                .as_ref()
                .unwrap()
                .limits
                .as_ref()
                .unwrap()
                .contains_key("memory")
        );
        // Without node access the target's tolerations are copied.
        assert_eq!(
            spec.tolerations.as_ref().unwrap()[0].key.as_deref(),
            Some("dedicated")
        );
        assert_eq!(
            pod.metadata.owner_references.as_ref().unwrap()[0].uid,
            "uid-1"
        );
    }

    #[test]
    fn host_namespaces_only_where_the_profile_names_them() {
        for p in Profile::ALL {
            let pod = build(&target(), None, &opts(p));
            let spec = pod.spec.unwrap();
            assert_eq!(spec.host_pid.unwrap_or(false), p.host_pid(), "{p}");
            assert_eq!(
                spec.host_network.unwrap_or(false),
                p == Profile::Sysadmin,
                "{p}"
            );
            assert_eq!(spec.volumes.is_some(), p == Profile::Sysadmin, "{p}");
            assert_eq!(
                spec.containers[0].security_context,
                p.security_context(),
                "{p}"
            );
        }
    }

    #[test]
    fn node_taints_become_tolerations() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "node-a"},
            "spec": {"taints": [{"key": "gpu", "effect": "NoSchedule"}]}
        }))
        .unwrap();
        let t = tolerations(&target(), Some(&node));
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].key.as_deref(), t[0].effect.as_deref()),
            (Some("gpu"), Some("NoSchedule"))
        );
    }

    #[test]
    fn main_process_exits_on_term() {
        let cmd = main_command(Duration::from_secs(20));
        assert!(cmd[2].contains("trap 'exit 0' TERM") && cmd[2].contains("sleep 20"));
    }
}
