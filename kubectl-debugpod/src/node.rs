//! `node NODE`: a shell on a node, like node-shell or `kubectl debug node/NAME`, with the same
//! TTL, labels and cleanup as every other session.
//!
//! The pod has the `sysadmin` profile (privileged, hostPID, hostNetwork, hostIPC, the node's
//! `/` at `/host`), is pinned by `nodeName`, tolerates every taint, and is owned by the Node (so
//! it goes when the node is deleted). Shells and `exec -- CMD` enter the host's namespaces with
//! `nsenter -t 1 -m -u -i -n` (so they see the node's own files and tools; see
//! [`ENTER_HOST_SCRIPT`] for the fallbacks), unless the session was made with `--no-enter` (then
//! they run in the debug image, with the node at `/host`).

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, EnvVar, Node, Pod, PodSpec, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, ObjectMeta};
use kube::{Api, Client, ResourceExt};
use shared::Error;

use crate::pod_spec::{self, Resources, SessionMeta};
use crate::profile::Profile;
use crate::session::{self, CONTAINER, SessionKind};

/// How shells and commands enter the host: `nsenter -t 1 -m -u -i -n` (mount, UTS, IPC and
/// network namespaces of the host's PID 1; the PID namespace is shared already by hostPID).
/// Where PID 1's namespaces cannot be opened (some VM init agents forbid it even to root), the
/// kubelet's are used (it runs in the host's namespaces), and failing that `chroot /host` (the
/// network, PID, IPC and UTS namespaces are the host's anyway). Each fallback says so on stderr.
pub const ENTER_HOST_SCRIPT: &str = r#"for p in 1 $(for d in /proc/[0-9]*; do [ "$(cat "$d/comm" 2>/dev/null)" = kubelet ] && echo "${d#/proc/}"; done); do
  if nsenter -t "$p" -m -u -i -n -- true 2>/dev/null; then
    [ "$p" = 1 ] || echo "debugpod: the namespaces of the host's PID 1 cannot be opened; entering the kubelet's (pid $p)" >&2
    exec nsenter -t "$p" -m -u -i -n -- "$@"
  fi
done
echo "debugpod: no host process's namespaces can be opened; using chroot /host (network, PID, IPC and UTS are the host's already)" >&2
exec chroot /host "$@"
"#;

/// `args` run inside the host's namespaces ([`ENTER_HOST_SCRIPT`]).
pub fn in_host(args: &[String]) -> Vec<String> {
    ["/bin/sh", "-c", ENTER_HOST_SCRIPT, "debugpod"]
        .iter()
        .map(|s| s.to_string())
        .chain(args.iter().cloned())
        .collect()
}

/// Everything that decides the node pod's shape.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Session id.
    pub session: String,
    /// The namespace the pod is made in.
    pub namespace: String,
    /// Image.
    pub image: String,
    /// Lifetime (activeDeadlineSeconds).
    pub ttl: Duration,
    /// Shells and commands enter the host's namespaces.
    pub enter_host: bool,
    /// Who (annotation).
    pub created_by: String,
    /// Why (`--reason`).
    pub reason: String,
    /// Requests and limits.
    pub resources: Resources,
    /// Creation time.
    pub now: Timestamp,
}

/// The node pod for `node` (not yet created).
pub fn build(node: &Node, opts: &NodeOptions) -> Pod {
    let name = node.name_any();
    let target = format!("node/{name}");
    let uid = node.uid().unwrap_or_default();
    let profile = Profile::Sysadmin;
    let (labels, mut annotations) = pod_spec::session_metadata(&SessionMeta {
        kind: SessionKind::Node,
        session: &opts.session,
        target: &target,
        target_uid: &uid,
        created_by: &opts.created_by,
        reason: &opts.reason,
        ttl: opts.ttl,
        now: opts.now,
        profile: Some(profile),
    });
    annotations.insert(
        session::ANN_ENTER_HOST.to_string(),
        opts.enter_host.to_string(),
    );
    let (volume, mount) = pod_spec::host_root();
    let env = |n: &str, v: &str| EnvVar {
        name: n.into(),
        value: Some(v.into()),
        value_from: None,
    };
    Pod {
        metadata: ObjectMeta {
            name: Some(session::pod_name(&format!("node-{name}"), &opts.session)),
            namespace: Some(opts.namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            // A cluster-scoped owner: the garbage collector removes the pod with the node.
            owner_references: (!uid.is_empty()).then(|| {
                vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    name: name.clone(),
                    uid: uid.clone(),
                    controller: Some(false),
                    block_owner_deletion: Some(false),
                }]
            }),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some(name.clone()),
            restart_policy: Some("Never".into()),
            active_deadline_seconds: Some(opts.ttl.as_secs().max(1) as i64),
            termination_grace_period_seconds: Some(2),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            host_pid: Some(profile.host_pid()),
            host_network: Some(profile.host_network()),
            host_ipc: Some(profile.host_ipc()),
            // Every taint, whatever its key and effect (NoSchedule, NoExecute, ...).
            tolerations: Some(vec![Toleration {
                operator: Some("Exists".into()),
                ..Default::default()
            }]),
            volumes: Some(vec![volume]),
            containers: vec![Container {
                name: CONTAINER.into(),
                image: Some(opts.image.clone()),
                image_pull_policy: Some("IfNotPresent".into()),
                command: Some(pod_spec::main_command(opts.ttl)),
                env: Some(vec![
                    env("NODE_NAME", &name),
                    env("DEBUGPOD_SESSION", &opts.session),
                    env("DEBUGPOD_PROFILE", profile.name()),
                ]),
                resources: Some(pod_spec::resource_requirements(&opts.resources)),
                security_context: profile.security_context(),
                volume_mounts: Some(vec![mount]),
                termination_message_policy: Some("FallbackToLogsOnError".into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    }
}

/// Reads the node `name`; an unknown name gets close-name suggestions (when nodes may be
/// listed), a missing permission says which ClusterRole to ask for.
pub async fn find(client: &Client, name: &str) -> anyhow::Result<Node> {
    let nodes: Api<Node> = Api::all(client.clone());
    match nodes.get_opt(name).await {
        Ok(Some(n)) => return Ok(n),
        Ok(None) => {}
        Err(kube::Error::Api(s)) if s.code == 403 => {
            return Err(Error::invalid(
                format!("not allowed to read node {name:?}: {}", s.message),
                "node sessions need get/list on nodes: ask for the ClusterRole printed by `kubectl debugpod rbac node`",
            )
            .into());
        }
        Err(e) => return Err(Error::kube(format!("get node {name:?}"), e).into()),
    }
    let known: Vec<String> = match nodes.list(&ListParams::default()).await {
        Ok(list) => list.items.iter().map(|n| n.name_any()).collect(),
        Err(_) => Vec::new(),
    };
    Err(Error::NotFound {
        kind: "node",
        name: name.to_string(),
        namespace: None,
        suggestions: shared::suggest::close_matches(name, known.iter().map(String::as_str)),
        list_hint: Some(if known.is_empty() {
            "list nodes with `kubectl get nodes`".to_string()
        } else {
            format!("nodes: {}", known.join(", "))
        }),
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Node {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "worker-1", "uid": "node-uid"},
            "spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoExecute"}]}
        }))
        .unwrap()
    }

    fn opts() -> NodeOptions {
        NodeOptions {
            session: "n1".into(),
            namespace: "ops".into(),
            image: "toolbox:1".into(),
            ttl: Duration::from_secs(900),
            enter_host: true,
            created_by: "alice".into(),
            reason: String::new(),
            resources: Resources::default(),
            now: "2030-01-01T00:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn sysadmin_pinned_tolerating_everything_owned_by_the_node() {
        let pod = build(&node(), &opts());
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.node_name.as_deref(), Some("worker-1"));
        assert_eq!(
            (spec.host_pid, spec.host_network, spec.host_ipc),
            (Some(true), Some(true), Some(true))
        );
        assert_eq!(spec.active_deadline_seconds, Some(900));
        let t = &spec.tolerations.as_ref().unwrap()[0];
        assert_eq!(
            (t.key.as_deref(), t.operator.as_deref(), t.effect.as_deref()),
            (None, Some("Exists"), None),
            "an empty key with Exists tolerates every taint"
        );
        let c = &spec.containers[0];
        assert_eq!(c.security_context.as_ref().unwrap().privileged, Some(true));
        assert_eq!(c.volume_mounts.as_ref().unwrap()[0].mount_path, "/host");
        assert_eq!(
            spec.volumes.as_ref().unwrap()[0]
                .host_path
                .as_ref()
                .unwrap()
                .path,
            "/"
        );
        let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("Node", "node-uid")
        );
        assert_eq!(owner.block_owner_deletion, Some(false));
        let s = session::Session::from_pod(&pod).unwrap();
        assert_eq!(s.kind, SessionKind::Node);
        assert_eq!(s.target, "node/worker-1");
        assert_eq!(s.profile, Some(Profile::Sysadmin));
        assert!(s.enter_host);
        assert_eq!(pod.metadata.namespace.as_deref(), Some("ops"));
    }

    #[test]
    fn commands_enter_the_hosts_namespaces() {
        let cmd = in_host(&["cat".into(), "/etc/os-release".into()]);
        assert_eq!(&cmd[..2], ["/bin/sh", "-c"]);
        assert!(cmd[2].contains(r#"exec nsenter -t "$p" -m -u -i -n -- "$@""#));
        assert_eq!(&cmd[3..], ["debugpod", "cat", "/etc/os-release"]);
        let ok = std::process::Command::new("sh")
            .args(["-n", "-c", ENTER_HOST_SCRIPT])
            .status()
            .unwrap();
        assert!(ok.success(), "valid sh");
    }
}
