//! Debug sessions: the labels and annotations that mark this tool's pods, and reading them back.
//!
//! Every debug pod carries `app.kubernetes.io/managed-by=kubectl-debugpod` (the only selector
//! `cleanup` ever deletes by), a session id, and the target's UID; annotations say who made it,
//! why, when it expires, with which profile and tool version.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde::Serialize;

use crate::profile::Profile;

/// `app.kubernetes.io/managed-by` value of every debug pod.
pub const MANAGED_BY: &str = "kubectl-debugpod";
/// The label selector that finds this tool's pods (and nothing else).
pub const SELECTOR: &str = "app.kubernetes.io/managed-by=kubectl-debugpod";
/// Label/annotation key prefix.
pub const PREFIX: &str = "debugpod.kubectl-ops.dev";
/// Label: session id.
pub const LABEL_SESSION: &str = "debugpod.kubectl-ops.dev/session";
/// Label: the target pod's UID.
pub const LABEL_TARGET_UID: &str = "debugpod.kubectl-ops.dev/target-uid";
/// Annotation: the target pod's name.
pub const ANN_TARGET: &str = "debugpod.kubectl-ops.dev/target";
/// Annotation: who created the session.
pub const ANN_CREATED_BY: &str = "debugpod.kubectl-ops.dev/created-by";
/// Annotation: why (`--reason`).
pub const ANN_REASON: &str = "debugpod.kubectl-ops.dev/reason";
/// Annotation: RFC 3339 expiry (creation + TTL; Kubernetes enforces it with activeDeadlineSeconds).
pub const ANN_EXPIRES_AT: &str = "debugpod.kubectl-ops.dev/expires-at";
/// Annotation: the profile.
pub const ANN_PROFILE: &str = "debugpod.kubectl-ops.dev/profile";
/// Annotation: the tool version.
pub const ANN_TOOL_VERSION: &str = "debugpod.kubectl-ops.dev/tool-version";
/// Annotation: `true` when shells start inside the target's network namespace.
pub const ANN_SHARE_NETNS: &str = "debugpod.kubectl-ops.dev/share-netns";
/// Annotation: what the session is (`pod`, `copy`, `node`); missing means `pod`.
pub const ANN_KIND: &str = "debugpod.kubectl-ops.dev/kind";
/// Annotation: the container that shells and commands run in (missing: [`CONTAINER`]).
pub const ANN_CONTAINER: &str = "debugpod.kubectl-ops.dev/container";
/// Annotation (copy sessions): the replaced container's original command line, shell-quoted.
pub const ANN_ENTRYPOINT: &str = "debugpod.kubectl-ops.dev/entrypoint";
/// Annotation (copy sessions): the target's labels, JSON (the copy does not carry them).
pub const ANN_ORIGINAL_LABELS: &str = "debugpod.kubectl-ops.dev/original-labels";
/// Annotation (node sessions): `true` when shells and commands enter the host's namespaces.
pub const ANN_ENTER_HOST: &str = "debugpod.kubectl-ops.dev/enter-host";
/// The debug container's name.
pub const CONTAINER: &str = "debugger";

/// What a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    /// A debug pod next to a running target pod, on its node.
    #[default]
    Pod,
    /// A copy of the target pod with its command replaced (`create --copy`).
    Copy,
    /// A privileged pod on a node, in the host's namespaces (`node NODE`).
    Node,
}

impl SessionKind {
    /// The annotation value.
    pub fn name(self) -> &'static str {
        match self {
            SessionKind::Pod => "pod",
            SessionKind::Copy => "copy",
            SessionKind::Node => "node",
        }
    }

    /// Reads the annotation value (anything unknown or missing is a `pod` session).
    pub fn parse(value: Option<&str>) -> SessionKind {
        match value {
            Some("copy") => SessionKind::Copy,
            Some("node") => SessionKind::Node,
            _ => SessionKind::Pod,
        }
    }
}

impl std::fmt::Display for SessionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A new random-enough session id: 6 lowercase base-36 characters.
pub fn new_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    // Mix the clock with the pid and a stack address so two sessions in the same tick differ.
    let local = 0u8;
    let mut x = nanos
        ^ ((std::process::id() as u128) << 64)
        ^ (&local as *const u8 as usize as u128).rotate_left(17);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 29;
    let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..6)
        .map(|_| {
            let c = alphabet[(x % 36) as usize] as char;
            x /= 36;
            c
        })
        .collect()
}

/// The debug pod's name: `debugpod-<target, shortened>-<id>` (≤ 63 characters, a valid hostname).
pub fn pod_name(target: &str, id: &str) -> String {
    let room = 63 - "debugpod--".len() - id.len();
    let short: String = target.chars().take(room).collect();
    format!("debugpod-{}-{id}", short.trim_end_matches('-'))
}

/// A debug session read back from its pod.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Session id.
    pub id: String,
    /// Debug pod, copy of the target, or node shell.
    pub kind: SessionKind,
    /// The debug pod's name.
    pub pod: String,
    /// Its namespace.
    pub namespace: String,
    /// The target pod's name.
    pub target: String,
    /// The target pod's UID.
    pub target_uid: String,
    /// The profile (None when the annotation is missing or unknown).
    pub profile: Option<Profile>,
    /// Pod phase (`Pending`, `Running`, `Failed`, ...).
    pub phase: String,
    /// Why the pod ended, e.g. `DeadlineExceeded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Expiry (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Who created it.
    pub owner: String,
    /// Why (`--reason`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub purpose: String,
    /// Node.
    pub node: String,
    /// Shells start in the target's network namespace.
    pub share_netns: bool,
    /// The container shells and commands run in.
    pub container: String,
    /// Copy sessions: the replaced container's original command line (shell-quoted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<String>,
    /// Node sessions: shells and commands enter the host's namespaces (`nsenter -t 1 -m -u -i -n`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enter_host: bool,
}

impl Session {
    /// Reads a session from a debug pod; `None` if the pod is not one of this tool's.
    pub fn from_pod(pod: &Pod) -> Option<Session> {
        let labels = pod.labels();
        if labels
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str)
            != Some(MANAGED_BY)
        {
            return None;
        }
        let ann = pod.annotations();
        let get = |m: &BTreeMap<String, String>, k: &str| m.get(k).cloned().unwrap_or_default();
        let status = pod.status.as_ref();
        Some(Session {
            id: get(labels, LABEL_SESSION),
            kind: SessionKind::parse(ann.get(ANN_KIND).map(String::as_str)),
            pod: pod.name_any(),
            namespace: pod.namespace().unwrap_or_default(),
            target: get(ann, ANN_TARGET),
            target_uid: get(labels, LABEL_TARGET_UID),
            profile: ann.get(ANN_PROFILE).and_then(|p| Profile::parse(p)),
            phase: status
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Pending".into()),
            reason: status.and_then(|s| s.reason.clone()),
            expires_at: ann.get(ANN_EXPIRES_AT).cloned(),
            owner: get(ann, ANN_CREATED_BY),
            purpose: get(ann, ANN_REASON),
            node: pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default(),
            share_netns: ann.get(ANN_SHARE_NETNS).is_some_and(|v| v == "true"),
            container: ann
                .get(ANN_CONTAINER)
                .cloned()
                .unwrap_or_else(|| CONTAINER.to_string()),
            entrypoint: ann.get(ANN_ENTRYPOINT).cloned(),
            enter_host: ann.get(ANN_ENTER_HOST).is_some_and(|v| v == "true"),
        })
    }

    /// Time left before Kubernetes ends the session (zero when expired; None when unknown).
    pub fn expires_in(&self, now: Timestamp) -> Option<Duration> {
        let at: Timestamp = self.expires_at.as_deref()?.parse().ok()?;
        let secs = at.as_second() - now.as_second();
        Some(Duration::from_secs(secs.max(0) as u64))
    }

    /// True when the pod has ended or its expiry has passed.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        matches!(self.phase.as_str(), "Succeeded" | "Failed")
            || self.expires_in(now).is_some_and(|d| d.is_zero())
    }

    /// True when the session can run commands now.
    pub fn is_running(&self) -> bool {
        self.phase == "Running"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_short_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 6);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        assert_ne!(a, b);
    }

    #[test]
    fn pod_names_fit_a_hostname() {
        let long = "a".repeat(200);
        let name = pod_name(&long, "abc123");
        assert!(name.len() <= 63, "{}", name.len());
        assert!(name.starts_with("debugpod-aaa") && name.ends_with("-abc123"));
        assert_eq!(
            pod_name("api-gateway-5d9c", "x1y2z3"),
            "debugpod-api-gateway-5d9c-x1y2z3"
        );
    }

    #[test]
    fn foreign_pods_are_not_sessions() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "decoy", "labels": {"app.kubernetes.io/managed-by": "helm"}}
        }))
        .unwrap();
        assert!(Session::from_pod(&pod).is_none());
    }

    #[test]
    fn expiry_is_read_from_the_annotation() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "debugpod-x-1", "namespace": "ns",
                "labels": {"app.kubernetes.io/managed-by": "kubectl-debugpod", LABEL_SESSION: "1"},
                "annotations": {ANN_EXPIRES_AT: "2030-01-01T01:00:00Z", ANN_PROFILE: "netadmin"}},
            "status": {"phase": "Running"}
        }))
        .unwrap();
        let s = Session::from_pod(&pod).unwrap();
        let now: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(s.expires_in(now), Some(Duration::from_secs(3600)));
        assert!(!s.is_expired(now));
        assert!(s.is_expired("2030-01-01T02:00:00Z".parse().unwrap()));
        assert_eq!(s.profile, Some(Profile::Netadmin));
        // Pods made before kinds existed are debug pods with the `debugger` container.
        assert_eq!(s.kind, SessionKind::Pod);
        assert_eq!(s.container, CONTAINER);
        assert!(!s.enter_host);
    }

    #[test]
    fn kind_container_and_entrypoint_are_read_back() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "debugpod-copy-crashy-1", "namespace": "ns",
                "labels": {"app.kubernetes.io/managed-by": "kubectl-debugpod", LABEL_SESSION: "1"},
                "annotations": {ANN_KIND: "copy", ANN_CONTAINER: "app", ANN_ENTRYPOINT: "'/bin/app' '--serve'"}},
        }))
        .unwrap();
        let s = Session::from_pod(&pod).unwrap();
        assert_eq!(s.kind, SessionKind::Copy);
        assert_eq!(s.container, "app");
        assert_eq!(s.entrypoint.as_deref(), Some("'/bin/app' '--serve'"));
        assert_eq!(SessionKind::parse(Some("node")), SessionKind::Node);
        assert_eq!(SessionKind::parse(Some("later-kind")), SessionKind::Pod);
    }
}
