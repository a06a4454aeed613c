//! `create TARGET --copy`: a copy of the target pod that can be inspected while the original
//! crash-loops (kubectl debug's `--copy-to`, and more).
//!
//! The copy keeps the target's spec — volumes, env, service account, security context,
//! resources, tolerations, and its node unless `--any-node` — and changes only what makes it
//! inspectable: one container's command is replaced (by `-- CMD...`, default: sleep until the
//! TTL), every probe is removed, images can be swapped (`--set-image C=IMAGE`), the labels are
//! replaced by the session's own (no Service sends it traffic, no ReplicaSet adopts it), it has
//! no owner (it outlives a target that is being replaced), it never restarts, and
//! `activeDeadlineSeconds` = TTL ends it even when nobody is left to delete it.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, EnvVar, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::ObjectMeta;
use shared::Error;

use crate::nsenter::quote;
use crate::pod_spec::{self, SessionMeta};
use crate::session::{self, SessionKind};
use crate::target::Target;

/// `--set-image CONTAINER=IMAGE` (`*` = every container).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageOverride {
    /// Container name, or `*`.
    pub container: String,
    /// The new image.
    pub image: String,
}

/// Parses `CONTAINER=IMAGE` (clap value parser).
pub fn parse_set_image(s: &str) -> Result<ImageOverride, String> {
    match s.split_once('=') {
        Some((c, i)) if !c.is_empty() && !i.is_empty() => Ok(ImageOverride {
            container: c.to_string(),
            image: i.to_string(),
        }),
        _ => Err(format!(
            "expected CONTAINER=IMAGE (or *=IMAGE for every container), got {s:?}"
        )),
    }
}

/// Everything that decides the copy's shape.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Session id.
    pub session: String,
    /// Lifetime (activeDeadlineSeconds).
    pub ttl: Duration,
    /// The container whose command is replaced (default: the crashing one, else the first).
    pub container: Option<String>,
    /// The replacement command (empty: sleep until the TTL).
    pub command: Vec<String>,
    /// Image overrides.
    pub set_images: Vec<ImageOverride>,
    /// Let the scheduler place the copy instead of pinning it to the target's node.
    pub any_node: bool,
    /// Who (annotation).
    pub created_by: String,
    /// Why (`--reason`).
    pub reason: String,
    /// Creation time.
    pub now: Timestamp,
}

/// How one container of the target has been failing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Crash {
    /// Container name.
    pub container: String,
    /// Current waiting reason (`CrashLoopBackOff`, ...), if waiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// Restarts so far.
    pub restarts: i32,
    /// Exit code of the last terminated instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Its reason (`Error`, `OOMKilled`, `ContainerCannotRun`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its message (the termination message, when the container wrote one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When it ended (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

impl Crash {
    /// One line: `container app: CrashLoopBackOff, 5 restarts, last exit 1 (Error) at T`.
    pub fn describe(&self) -> String {
        let mut s = format!("container {}: ", self.container);
        s += self.waiting.as_deref().unwrap_or("failing");
        s += &format!(
            ", {} restart{}",
            self.restarts,
            if self.restarts == 1 { "" } else { "s" }
        );
        if let Some(code) = self.exit_code {
            s += &format!(", last exit {code}");
            if let Some(r) = &self.reason {
                s += &format!(" ({r})");
            }
            if let Some(t) = &self.finished_at {
                s += &format!(" at {t}");
            }
        }
        if let Some(m) = self
            .message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
        {
            s += &format!(": {}", m.lines().next().unwrap_or(m));
        }
        s
    }
}

/// The containers of `pod` that are crashing: waiting in a back-off, or restarted after a
/// non-zero exit. Spec order.
pub fn crashes(pod: &Pod) -> Vec<Crash> {
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default();
    let order: Vec<String> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    let mut out: Vec<(usize, Crash)> = statuses
        .iter()
        .filter_map(|cs| {
            let waiting = cs
                .state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.clone());
            let last = cs
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .or_else(|| cs.state.as_ref().and_then(|s| s.terminated.as_ref()));
            let backing_off = waiting
                .as_deref()
                .is_some_and(|w| w.ends_with("BackOff") || w == "RunContainerError");
            let failed = last.is_some_and(|t| t.exit_code != 0) && cs.restart_count > 0;
            if !backing_off && !failed {
                return None;
            }
            let crash = Crash {
                container: cs.name.clone(),
                waiting,
                restarts: cs.restart_count,
                exit_code: last.map(|t| t.exit_code),
                reason: last.and_then(|t| t.reason.clone()),
                message: last.and_then(|t| t.message.clone()),
                finished_at: last
                    .and_then(|t| t.finished_at.as_ref())
                    .map(|t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
            };
            let idx = order
                .iter()
                .position(|n| *n == cs.name)
                .unwrap_or(usize::MAX);
            Some((idx, crash))
        })
        .collect();
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, c)| c).collect()
}

/// `Job/NAME` when the pod belongs to a Job (directly, or through a CronJob's Job).
pub fn job_owner(pod: &Pod) -> Option<String> {
    pod.owner_references()
        .iter()
        .find(|o| o.kind == "Job")
        .map(|o| format!("Job/{}", o.name))
}

/// The container whose command is replaced: `name` (must exist), else the first crashing
/// one, else the first.
pub fn pick_container(pod: &Pod, name: Option<&str>) -> Result<String, Error> {
    let names: Vec<String> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    match name {
        Some(n) if names.iter().any(|c| c == n) => Ok(n.to_string()),
        Some(n) => Err(container_not_found(pod, n, &names)),
        None => crashes(pod)
            .first()
            .map(|c| c.container.clone())
            .or_else(|| names.first().cloned())
            .ok_or_else(|| Error::invalid("the target has no containers", "pick another pod")),
    }
}

fn container_not_found(pod: &Pod, name: &str, names: &[String]) -> Error {
    Error::NotFound {
        kind: "container",
        name: name.to_string(),
        namespace: None,
        suggestions: shared::suggest::close_matches(name, names.iter().map(String::as_str)),
        list_hint: Some(format!(
            "containers of {}: {}",
            pod.name_any(),
            names.join(", ")
        )),
    }
}

/// The container's command line as the runtime would run it, shell-quoted, when the spec says
/// it (`command` + `args`); None when it relies on the image's entrypoint.
pub fn entrypoint(c: &Container) -> Option<String> {
    let command = c.command.as_ref().filter(|c| !c.is_empty())?;
    Some(
        command
            .iter()
            .chain(c.args.iter().flatten())
            .map(|a| quote(a))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// The copy of `target` (not yet created).
pub fn build(target: &Target, opts: &CopyOptions) -> Result<Pod, Error> {
    let original = &target.pod;
    let mut spec = original.spec.clone().unwrap_or_default();
    let names: Vec<String> = spec.containers.iter().map(|c| c.name.clone()).collect();
    let replaced = pick_container(original, opts.container.as_deref())?;
    for o in &opts.set_images {
        if o.container != "*" && !names.contains(&o.container) {
            return Err(container_not_found(original, &o.container, &names));
        }
    }
    let mut entry = None;
    for c in &mut spec.containers {
        // No probe may restart the copy or mark it unready mid-inspection.
        c.liveness_probe = None;
        c.readiness_probe = None;
        c.startup_probe = None;
        if let Some(o) = opts
            .set_images
            .iter()
            .rev()
            .find(|o| o.container == c.name || o.container == "*")
        {
            c.image = Some(o.image.clone());
        }
        if c.name != replaced {
            continue;
        }
        entry = entrypoint(c);
        if opts.command.is_empty() {
            c.command = Some(pod_spec::main_command(opts.ttl));
        } else {
            c.command = Some(opts.command.clone());
            // An interactive command (`-- sh`) waits on its stdin instead of exiting at once;
            // `kubectl attach -it` reaches it.
            c.stdin = Some(true);
            c.tty = Some(true);
        }
        c.args = None;
        let env = c.env.get_or_insert_with(Vec::new);
        env.retain(|e| e.name != "DEBUGPOD_SESSION" && e.name != "DEBUGPOD_ENTRYPOINT");
        env.push(EnvVar {
            name: "DEBUGPOD_SESSION".into(),
            value: Some(opts.session.clone()),
            value_from: None,
        });
        env.push(EnvVar {
            name: "DEBUGPOD_ENTRYPOINT".into(),
            value: Some(entry.clone().unwrap_or_default()),
            value_from: None,
        });
    }
    spec.ephemeral_containers = None;
    spec.restart_policy = Some("Never".into());
    spec.active_deadline_seconds = Some(opts.ttl.as_secs().max(1) as i64);
    spec.node_name = if opts.any_node || target.node.is_empty() {
        None
    } else {
        Some(target.node.clone())
    };
    let (labels, mut annotations) = pod_spec::session_metadata(&SessionMeta {
        kind: SessionKind::Copy,
        session: &opts.session,
        target: &target.name,
        target_uid: &target.uid,
        created_by: &opts.created_by,
        reason: &opts.reason,
        ttl: opts.ttl,
        now: opts.now,
        profile: None,
    });
    // The target's own annotations stay (the app may read them), except another session's.
    let mut all: BTreeMap<String, String> = original
        .annotations()
        .iter()
        .filter(|(k, _)| !k.starts_with(session::PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    annotations.insert(session::ANN_CONTAINER.into(), replaced);
    if let Some(e) = entry {
        annotations.insert(session::ANN_ENTRYPOINT.into(), e);
    }
    annotations.insert(
        session::ANN_ORIGINAL_LABELS.into(),
        serde_json::to_string(original.labels()).unwrap_or_default(),
    );
    all.extend(annotations);
    Ok(Pod {
        metadata: ObjectMeta {
            name: Some(session::pod_name(
                &format!("copy-{}", target.name),
                &opts.session,
            )),
            namespace: Some(target.namespace.clone()),
            labels: Some(labels),
            annotations: Some(all),
            // No owner: the copy must outlive a target its controller is replacing.
            owner_references: None,
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crashy() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "crashy-5d9c-x1", "namespace": "mib", "uid": "uid-c",
                "labels": {"app": "crashy", "pod-template-hash": "5d9c"},
                "annotations": {"team": "payments"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "crashy-5d9c", "uid": "rs", "controller": true}]},
            "spec": {"nodeName": "node-a", "serviceAccountName": "crashy", "restartPolicy": "Always",
                "volumes": [{"name": "cfg", "configMap": {"name": "crashy"}}],
                "containers": [
                    {"name": "sidecar", "image": "side:1", "readinessProbe": {"tcpSocket": {"port": 9}}},
                    {"name": "app", "image": "app:1", "command": ["/bin/sh", "-c"], "args": ["echo boom; exit 1"],
                     "env": [{"name": "MODE", "value": "prod"}],
                     "livenessProbe": {"exec": {"command": ["true"]}}, "startupProbe": {"exec": {"command": ["true"]}},
                     "volumeMounts": [{"name": "cfg", "mountPath": "/etc/crashy"}]}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "sidecar", "image": "side:1", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {}}},
                {"name": "app", "image": "app:1", "imageID": "", "ready": false, "restartCount": 4,
                 "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                 "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2030-01-01T00:00:00Z"}}}]}
        }))
        .unwrap()
    }

    fn opts() -> CopyOptions {
        CopyOptions {
            session: "s1".into(),
            ttl: Duration::from_secs(1800),
            container: None,
            command: vec![],
            set_images: vec![],
            any_node: false,
            created_by: "alice".into(),
            reason: "INC-7".into(),
            now: "2030-01-01T00:00:00Z".parse().unwrap(),
        }
    }

    fn container<'a>(pod: &'a Pod, name: &str) -> &'a Container {
        pod.spec
            .as_ref()
            .unwrap()
            .containers
            .iter()
            .find(|c| c.name == name)
            .unwrap()
    }

    #[test]
    fn the_copy_keeps_the_spec_but_not_labels_owner_probes_or_command() {
        let pod = build(&Target::from_pod(crashy()), &opts()).unwrap();
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.node_name.as_deref(), Some("node-a"));
        assert_eq!(spec.service_account_name.as_deref(), Some("crashy"));
        assert_eq!(spec.volumes.as_ref().unwrap()[0].name, "cfg");
        assert_eq!(spec.active_deadline_seconds, Some(1800));
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert!(pod.metadata.owner_references.is_none());
        let labels = pod.metadata.labels.as_ref().unwrap();
        assert!(!labels.contains_key("app") && !labels.contains_key("pod-template-hash"));
        assert_eq!(labels["app.kubernetes.io/managed-by"], "kubectl-debugpod");
        assert_eq!(labels[session::LABEL_TARGET_UID], "uid-c");
        let ann = pod.metadata.annotations.as_ref().unwrap();
        assert_eq!(ann["team"], "payments", "the target's annotations stay");
        assert_eq!(ann[session::ANN_KIND], "copy");
        assert_eq!(ann[session::ANN_CONTAINER], "app", "the crashing container");
        assert_eq!(
            ann[session::ANN_ENTRYPOINT],
            "'/bin/sh' '-c' 'echo boom; exit 1'"
        );
        assert_eq!(ann[session::ANN_EXPIRES_AT], "2030-01-01T00:30:00Z");
        assert!(ann[session::ANN_ORIGINAL_LABELS].contains("\"app\":\"crashy\""));
        assert!(
            session::Session::from_pod(&pod).is_some_and(|s| s.kind == SessionKind::Copy),
            "the copy reads back as a copy session"
        );
        let app = container(&pod, "app");
        assert_eq!(app.command.as_ref().unwrap()[0], "/bin/sh");
        assert!(app.command.as_ref().unwrap()[2].contains("sleep 1800"));
        assert_eq!(app.args, None);
        assert!(app.liveness_probe.is_none() && app.startup_probe.is_none());
        assert!(container(&pod, "sidecar").readiness_probe.is_none());
        assert_eq!(
            container(&pod, "sidecar").command,
            None,
            "other containers keep their command"
        );
        let env: Vec<_> = app.env.iter().flatten().map(|e| e.name.as_str()).collect();
        assert_eq!(env, ["MODE", "DEBUGPOD_SESSION", "DEBUGPOD_ENTRYPOINT"]);
        assert!(
            pod.metadata
                .name
                .as_ref()
                .unwrap()
                .starts_with("debugpod-copy-crashy-")
        );
    }

    #[test]
    fn a_command_images_and_any_node() {
        let o = CopyOptions {
            container: Some("sidecar".into()),
            command: vec!["sh".into()],
            set_images: vec![
                parse_set_image("*=toolbox:1").unwrap(),
                parse_set_image("app=app:debug").unwrap(),
            ],
            any_node: true,
            ..opts()
        };
        let pod = build(&Target::from_pod(crashy()), &o).unwrap();
        assert_eq!(pod.spec.as_ref().unwrap().node_name, None);
        let side = container(&pod, "sidecar");
        assert_eq!(side.command.as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!((side.stdin, side.tty), (Some(true), Some(true)));
        assert_eq!(side.image.as_deref(), Some("toolbox:1"));
        assert_eq!(container(&pod, "app").image.as_deref(), Some("app:debug"));
        assert_eq!(
            container(&pod, "app").args.as_ref().unwrap()[0],
            "echo boom; exit 1",
            "a container not replaced keeps its command"
        );
    }

    #[test]
    fn unknown_containers_are_named_with_suggestions() {
        let o = CopyOptions {
            set_images: vec![parse_set_image("ap=x").unwrap()],
            ..opts()
        };
        let err = build(&Target::from_pod(crashy()), &o)
            .unwrap_err()
            .to_string();
        assert!(err.contains("did you mean \"app\""), "{err}");
        let err = pick_container(&crashy(), Some("sidecr")).unwrap_err();
        assert!(
            err.to_string().contains("did you mean \"sidecar\""),
            "{err}"
        );
        assert!(parse_set_image("app").is_err() && parse_set_image("=x").is_err());
    }

    #[test]
    fn crash_summary_and_job_owner() {
        let c = crashes(&crashy());
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].describe(),
            "container app: CrashLoopBackOff, 4 restarts, last exit 1 (Error) at 2030-01-01T00:00:00Z"
        );
        assert_eq!(job_owner(&crashy()), None);
        let mut job_pod = crashy();
        job_pod.metadata.owner_references.as_mut().unwrap()[0].kind = "Job".into();
        job_pod.metadata.owner_references.as_mut().unwrap()[0].name = "nightly-2901".into();
        assert_eq!(job_owner(&job_pod).as_deref(), Some("Job/nightly-2901"));
    }
}
