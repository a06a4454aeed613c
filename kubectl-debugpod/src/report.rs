//! The diagnostics report: everything an on-call engineer pastes into the incident — the
//! target's describe-equivalent, container statuses, logs (incl. the previous container's),
//! events, the node's conditions, and the network/system presets — as Markdown or JSON.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use serde::Serialize;

use crate::presets::PresetResult;

/// One condition (pod or node).
#[derive(Debug, Clone, Serialize)]
pub struct Condition {
    /// Type.
    #[serde(rename = "type")]
    pub type_: String,
    /// True/False/Unknown.
    pub status: String,
    /// Reason.
    pub reason: String,
    /// Message.
    pub message: String,
}

/// One container, describe-style.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerInfo {
    /// Name.
    pub name: String,
    /// Image.
    pub image: String,
    /// Ports.
    pub ports: Vec<i32>,
    /// Requests (`cpu=10m, memory=…`).
    pub requests: String,
    /// Limits.
    pub limits: String,
    /// Current state (`Running since …`, `Waiting: CrashLoopBackOff`, `Terminated: Error (exit 1)`).
    pub state: String,
    /// Last termination, if any.
    pub last_state: String,
    /// Ready.
    pub ready: bool,
    /// Restarts.
    pub restarts: i32,
    /// Runtime ID.
    pub container_id: String,
}

/// The target, describe-style.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetInfo {
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// UID.
    pub uid: String,
    /// Node.
    pub node: String,
    /// Pod IP.
    pub ip: String,
    /// Phase.
    pub phase: String,
    /// QoS class.
    pub qos_class: String,
    /// Start time.
    pub start_time: String,
    /// Controller (`ReplicaSet/x`).
    pub controlled_by: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Conditions.
    pub conditions: Vec<Condition>,
    /// Containers.
    pub containers: Vec<ContainerInfo>,
}

/// Logs of one container.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Logs {
    /// Container.
    pub container: String,
    /// The previous (crashed) instance.
    pub previous: bool,
    /// The lines.
    pub text: String,
    /// Why logs could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventInfo {
    /// Normal/Warning.
    #[serde(rename = "type")]
    pub type_: String,
    /// Reason.
    pub reason: String,
    /// Message.
    pub message: String,
    /// Count.
    pub count: i32,
    /// Last seen.
    pub last_seen: String,
    /// Source component.
    pub source: String,
}

/// The node.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// Name.
    pub name: String,
    /// kubelet version.
    pub kubelet_version: String,
    /// Container runtime.
    pub container_runtime: String,
    /// Conditions.
    pub conditions: Vec<Condition>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// When (RFC 3339).
    pub generated_at: String,
    /// Tool version.
    pub tool_version: String,
    /// Who ran it.
    pub generated_by: String,
    /// The target.
    pub target: TargetInfo,
    /// When the target is a copy session's pod: the pod it copies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_of: Option<String>,
    /// Its crashing containers: back-off reason, restarts, last exit code and reason.
    pub crashes: Vec<crate::copy::Crash>,
    /// Logs.
    pub logs: Vec<Logs>,
    /// Events, oldest first.
    pub events: Vec<EventInfo>,
    /// The node (None when it could not be read).
    pub node: Option<NodeInfo>,
    /// Why the node could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_error: Option<String>,
    /// Preset results.
    pub presets: Vec<PresetResult>,
    /// Why presets are missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presets_error: Option<String>,
}

fn time_str(t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> String {
    t.map(|t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn quantities(
    m: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
) -> String {
    m.map(|m| {
        m.iter()
            .map(|(k, v)| format!("{k}={}", v.0))
            .collect::<Vec<_>>()
            .join(", ")
    })
    .unwrap_or_default()
}

fn state_str(s: Option<&k8s_openapi::api::core::v1::ContainerState>) -> String {
    let Some(s) = s else { return String::new() };
    if let Some(r) = &s.running {
        return format!("Running since {}", time_str(r.started_at.as_ref()));
    }
    if let Some(w) = &s.waiting {
        return format!(
            "Waiting: {}{}",
            w.reason.clone().unwrap_or_default(),
            w.message
                .as_ref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        );
    }
    if let Some(t) = &s.terminated {
        return format!(
            "Terminated: {} (exit {}) at {}",
            t.reason.clone().unwrap_or_default(),
            t.exit_code,
            time_str(t.finished_at.as_ref())
        );
    }
    String::new()
}

/// The describe-equivalent of a pod.
pub fn target_info(pod: &Pod) -> TargetInfo {
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let statuses = status.container_statuses.clone().unwrap_or_default();
    TargetInfo {
        name: pod.metadata.name.clone().unwrap_or_default(),
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        node: spec.node_name.clone().unwrap_or_default(),
        ip: status.pod_ip.clone().unwrap_or_default(),
        phase: status.phase.clone().unwrap_or_default(),
        qos_class: status.qos_class.clone().unwrap_or_default(),
        start_time: time_str(status.start_time.as_ref()),
        controlled_by: pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| format!("{}/{}", o.kind, o.name))
            .unwrap_or_default(),
        labels: pod.metadata.labels.clone().unwrap_or_default(),
        conditions: status
            .conditions
            .iter()
            .flatten()
            .map(|c| Condition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                reason: c.reason.clone().unwrap_or_default(),
                message: c.message.clone().unwrap_or_default(),
            })
            .collect(),
        containers: spec
            .containers
            .iter()
            .map(|c| {
                let st = statuses.iter().find(|s| s.name == c.name);
                ContainerInfo {
                    name: c.name.clone(),
                    image: c.image.clone().unwrap_or_default(),
                    ports: c.ports.iter().flatten().map(|p| p.container_port).collect(),
                    requests: quantities(c.resources.as_ref().and_then(|r| r.requests.as_ref())),
                    limits: quantities(c.resources.as_ref().and_then(|r| r.limits.as_ref())),
                    state: state_str(st.and_then(|s| s.state.as_ref())),
                    last_state: state_str(st.and_then(|s| s.last_state.as_ref())),
                    ready: st.is_some_and(|s| s.ready),
                    restarts: st.map(|s| s.restart_count).unwrap_or(0),
                    container_id: st.and_then(|s| s.container_id.clone()).unwrap_or_default(),
                }
            })
            .collect(),
    }
}

/// Events about the pod (matching its UID), oldest first.
pub fn event_infos(events: &[Event], uid: &str) -> Vec<EventInfo> {
    let mut list: Vec<&Event> = events
        .iter()
        .filter(|e| e.involved_object.uid.as_deref() == Some(uid))
        .collect();
    let key = |e: &Event| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or_else(|| e.event_time.as_ref().map(|t| t.0))
            .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
    };
    list.sort_by_key(|e| key(e));
    list.iter()
        .map(|e| EventInfo {
            type_: e.type_.clone().unwrap_or_default(),
            reason: e.reason.clone().unwrap_or_default(),
            message: e.message.clone().unwrap_or_default(),
            count: e.count.unwrap_or(1),
            last_seen: key(e)
                .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default(),
            source: e
                .source
                .as_ref()
                .and_then(|s| s.component.clone())
                .unwrap_or_default(),
        })
        .collect()
}

/// The node's facts.
pub fn node_info(node: &Node) -> NodeInfo {
    let status = node.status.clone().unwrap_or_default();
    let info = status.node_info.clone().unwrap_or_default();
    NodeInfo {
        name: node.metadata.name.clone().unwrap_or_default(),
        kubelet_version: info.kubelet_version,
        container_runtime: info.container_runtime_version,
        conditions: status
            .conditions
            .iter()
            .flatten()
            .map(|c| Condition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                reason: c.reason.clone().unwrap_or_default(),
                message: c.message.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

/// How many of the crashed instance's last log lines the Crash section repeats.
pub const CRASH_LINES: usize = 20;

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn fence(text: &str) -> String {
    let body = if text.trim().is_empty() {
        "(empty)"
    } else {
        text.trim_end()
    };
    format!("```text\n{}\n```\n", body.replace("```", "'''"))
}

impl Report {
    /// Renders Markdown.
    pub fn markdown(&self) -> String {
        let t = &self.target;
        let mut md = format!("# Debug report: pod {}/{}\n\n", t.namespace, t.name);
        md += &format!(
            "Generated {} by {} with {}.\n\n",
            self.generated_at, self.generated_by, self.tool_version
        );
        if let Some(original) = &self.copy_of {
            md += &format!(
                "This pod is a debug copy of pod {original} (its command replaced, probes removed, no Service traffic).\n\n"
            );
        }
        if !self.crashes.is_empty() {
            md += "## Crash\n\n";
            for c in &self.crashes {
                md += &format!("- {}\n", md_escape(&c.describe()));
            }
            md += "\n";
            for c in &self.crashes {
                if let Some(l) = self
                    .logs
                    .iter()
                    .find(|l| l.previous && l.container == c.container && l.error.is_none())
                {
                    let lines: Vec<&str> = l.text.lines().collect();
                    let last = &lines[lines.len().saturating_sub(CRASH_LINES)..];
                    md += &format!(
                        "Last lines of the crashed instance of {}:\n\n{}\n",
                        c.container,
                        fence(&last.join("\n"))
                    );
                }
            }
        }
        md += "## Pod\n\n| Field | Value |\n|---|---|\n";
        for (k, v) in [
            ("Name", &t.name),
            ("Namespace", &t.namespace),
            ("UID", &t.uid),
            ("Node", &t.node),
            ("IP", &t.ip),
            ("Phase", &t.phase),
            ("QoS class", &t.qos_class),
            ("Start time", &t.start_time),
            ("Controlled by", &t.controlled_by),
        ] {
            md += &format!("| {k} | {} |\n", md_escape(v));
        }
        let labels = t
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        md += &format!("| Labels | {} |\n\n", md_escape(&labels));
        md += "### Conditions\n\n| Type | Status | Reason | Message |\n|---|---|---|---|\n";
        for c in &t.conditions {
            md += &format!(
                "| {} | {} | {} | {} |\n",
                c.type_,
                c.status,
                md_escape(&c.reason),
                md_escape(&c.message)
            );
        }
        md += "\n## Containers\n\n| Name | Image | Ready | Restarts | State | Last state | Requests | Limits | Ports |\n|---|---|---|---|---|---|---|---|---|\n";
        for c in &t.containers {
            md += &format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                c.name,
                md_escape(&c.image),
                c.ready,
                c.restarts,
                md_escape(&c.state),
                md_escape(&c.last_state),
                md_escape(&c.requests),
                md_escape(&c.limits),
                c.ports
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        md += "\n## Events\n\n";
        if self.events.is_empty() {
            md += "No events (they expire after an hour by default).\n";
        } else {
            md += "| Last seen | Type | Reason | Count | From | Message |\n|---|---|---|---|---|---|\n";
            for e in &self.events {
                md += &format!(
                    "| {} | {} | {} | {} | {} | {} |\n",
                    e.last_seen,
                    e.type_,
                    e.reason,
                    e.count,
                    e.source,
                    md_escape(&e.message)
                );
            }
        }
        md += "\n## Logs\n\n";
        for l in &self.logs {
            md += &format!(
                "### {}{}\n\n",
                l.container,
                if l.previous {
                    " (previous instance)"
                } else {
                    ""
                }
            );
            match &l.error {
                Some(e) => md += &format!("Logs unavailable: {e}\n\n"),
                None => md += &format!("{}\n", fence(&l.text)),
            }
        }
        md += "## Node\n\n";
        match (&self.node, &self.node_error) {
            (Some(n), _) => {
                md += &format!(
                    "{} — kubelet {}, runtime {}\n\n",
                    n.name, n.kubelet_version, n.container_runtime
                );
                md += "| Condition | Status | Reason | Message |\n|---|---|---|---|\n";
                for c in &n.conditions {
                    md += &format!(
                        "| {} | {} | {} | {} |\n",
                        c.type_,
                        c.status,
                        md_escape(&c.reason),
                        md_escape(&c.message)
                    );
                }
            }
            (None, Some(e)) => md += &format!("Node not readable: {e}\n"),
            (None, None) => md += "Node unknown.\n",
        }
        md += "\n## Diagnostics\n\n";
        if let Some(e) = &self.presets_error {
            md += &format!("Presets not run: {e}\n");
        }
        for p in &self.presets {
            md += &format!(
                "### {:?} (via {}, {:?})\n\n",
                p.preset, p.session_pod, p.view
            );
            for s in &p.sections {
                md += &format!(
                    "#### {} — `{}` (exit {})\n\n{}\n",
                    s.name,
                    s.command.replace('`', "'"),
                    s.exit_code,
                    fence(&s.output)
                );
            }
            for n in &p.notes {
                md += &format!("> note: {n}\n\n");
            }
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_filtered_by_uid_and_sorted() {
        let ev = |uid: &str, reason: &str, t: &str| -> Event {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": reason}, "involvedObject": {"uid": uid},
                "reason": reason, "message": "m", "type": "Normal", "lastTimestamp": t
            }))
            .unwrap()
        };
        let events = [
            ev("u", "Started", "2030-01-01T00:00:02Z"),
            ev("other", "X", "2030-01-01T00:00:00Z"),
            ev("u", "Pulled", "2030-01-01T00:00:01Z"),
        ];
        let infos = event_infos(&events, "u");
        assert_eq!(
            infos.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(),
            ["Pulled", "Started"]
        );
    }

    #[test]
    fn markdown_has_every_part() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "t", "namespace": "n", "uid": "u"},
            "spec": {"containers": [{"name": "app", "image": "img"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "app", "image": "img", "imageID": "", "ready": true, "restartCount": 2,
                "state": {"running": {"startedAt": "2030-01-01T00:00:00Z"}}}]}
        }))
        .unwrap();
        let r = Report {
            generated_at: "now".into(),
            tool_version: "v".into(),
            generated_by: "me".into(),
            target: target_info(&pod),
            copy_of: None,
            crashes: vec![crate::copy::Crash {
                container: "app".into(),
                waiting: Some("CrashLoopBackOff".into()),
                restarts: 2,
                exit_code: Some(1),
                reason: Some("Error".into()),
                message: None,
                finished_at: None,
            }],
            logs: vec![Logs {
                container: "app".into(),
                previous: true,
                text: "boom".into(),
                error: None,
            }],
            events: vec![],
            node: None,
            node_error: Some("forbidden".into()),
            presets: vec![],
            presets_error: Some("not running".into()),
        };
        let md = r.markdown();
        for part in [
            "# Debug report: pod n/t",
            "## Containers",
            "Running since 2030-01-01T00:00:00Z",
            "### app (previous instance)",
            "boom",
            "## Crash",
            "- container app: CrashLoopBackOff, 2 restarts, last exit 1 (Error)",
            "Last lines of the crashed instance of app:",
            "Node not readable: forbidden",
            "Presets not run",
        ] {
            assert!(md.contains(part), "missing {part}:\n{md}");
        }
    }
}
