//! Waiting for a debug container by **watching** the pod (and its Events, for image-pull
//! progress), with a deadline, failing fast on states that will not fix themselves.

use std::io::IsTerminal;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use shared::Error;

/// Waiting reasons that will not resolve on their own.
const FATAL_WAITING: [&str; 8] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// Where a debug container is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Not yet: what it is doing.
    Waiting(String),
    /// Running.
    Ready,
    /// Will not become ready: reason and message.
    Failed(String, String),
}

fn find_status<'a>(pod: &'a Pod, container: &str, ephemeral: bool) -> Option<&'a ContainerStatus> {
    let status = pod.status.as_ref()?;
    let list = if ephemeral {
        status.ephemeral_container_statuses.as_ref()
    } else {
        status.container_statuses.as_ref()
    };
    list?.iter().find(|s| s.name == container)
}

/// Decides the state of `container` (an ephemeral container when `ephemeral`) in `pod`.
pub fn assess(pod: &Pod, container: &str, ephemeral: bool) -> State {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    if !ephemeral && matches!(phase, "Failed" | "Succeeded") {
        let reason = status
            .and_then(|s| s.reason.clone())
            .unwrap_or_else(|| phase.to_string());
        let message = status.and_then(|s| s.message.clone()).unwrap_or_default();
        return State::Failed(reason, message);
    }
    if let Some(cond) = status.and_then(|s| s.conditions.as_ref()).and_then(|c| {
        c.iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    }) && cond.reason.as_deref() == Some("Unschedulable")
    {
        return State::Failed(
            "Unschedulable".into(),
            cond.message.clone().unwrap_or_default(),
        );
    }
    let Some(cs) = find_status(pod, container, ephemeral) else {
        return State::Waiting(if phase == "Pending" {
            "Pending".into()
        } else {
            format!("{phase}, container not started")
        });
    };
    let state = cs.state.as_ref();
    if state.and_then(|s| s.running.as_ref()).is_some() {
        return State::Ready;
    }
    if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
        return State::Failed(
            t.reason.clone().unwrap_or_else(|| "Terminated".into()),
            format!(
                "container exited with code {}{}",
                t.exit_code,
                t.message
                    .as_ref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
        );
    }
    if let Some(w) = state.and_then(|s| s.waiting.as_ref()) {
        let reason = w.reason.clone().unwrap_or_else(|| "Waiting".into());
        let message = w.message.clone().unwrap_or_default();
        if FATAL_WAITING.contains(&reason.as_str()) {
            return State::Failed(reason, message);
        }
        return State::Waiting(if message.is_empty() {
            reason
        } else {
            format!("{reason}: {message}")
        });
    }
    State::Waiting(phase.to_string())
}

/// A hint for a failure reason.
pub fn hint_for(reason: &str) -> String {
    match reason {
        "ErrImagePull" | "ImagePullBackOff" | "ErrImageNeverPull" | "InvalidImageName" => {
            "check --image (or debug_image in the config): the node must be able to pull it; air-gapped clusters need a mirrored image".into()
        }
        "Unschedulable" | "OutOfcpu" | "OutOfmemory" | "NodeAffinity" => {
            "the target's node cannot fit the debug pod; lower --cpu-limit/--memory-limit or free the node".into()
        }
        "DeadlineExceeded" => "the TTL ran out before the container started; raise --ttl".into(),
        _ => "see `kubectl describe pod` of the debug pod for details (it has been deleted)".into(),
    }
}

/// Progress on stderr: a spinner on a terminal, one line per change otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last: String,
}

impl Progress {
    fn new(what: &str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(120));
            bar.set_message(format!("waiting for {what}"));
            bar
        });
        if bar.is_none() {
            eprintln!("waiting for {what}");
        }
        Progress {
            bar,
            last: String::new(),
        }
    }

    fn say(&mut self, msg: &str) {
        if msg == self.last {
            return;
        }
        self.last = msg.to_string();
        match &self.bar {
            Some(bar) => bar.set_message(msg.to_string()),
            None => eprintln!("  {msg}"),
        }
    }

    fn done(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Watches `pod` until `container` runs. Fails with the reason and message when it cannot,
/// and after `timeout`. Events about the pod (image pulls) are shown as they come, when the
/// user may watch Events.
pub async fn until_running(
    client: &Client,
    namespace: &str,
    pod: &str,
    container: &str,
    ephemeral: bool,
    timeout: Duration,
) -> anyhow::Result<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let field = format!("metadata.name={pod}");
    let mut pod_stream = watcher(pods, watcher::Config::default().fields(&field))
        .applied_objects()
        .boxed();
    let event_field = format!("involvedObject.name={pod},involvedObject.kind=Pod");
    let mut event_stream = Some(
        watcher(events, watcher::Config::default().fields(&event_field))
            .applied_objects()
            .boxed(),
    );
    let mut progress = Progress::new(&format!("pod/{pod} ({container})"));
    let started = tokio::time::Instant::now();
    let deadline = started + timeout;
    let mut last_state = "Pending".to_string();
    let result = loop {
        tokio::select! {
            next = pod_stream.try_next() => {
                let obj = match next {
                    Ok(Some(obj)) => obj,
                    Ok(None) => break Err(anyhow::anyhow!("the watch on pod {pod} ended")),
                    Err(watcher::Error::InitialListFailed(e) | watcher::Error::WatchStartFailed(e)) => {
                        break Err(Error::kube(format!("watch pod {pod:?} in namespace {namespace:?}"), e).into());
                    }
                    Err(watcher::Error::WatchFailed(e)) => break Err(Error::kube(format!("watch pod {pod:?}"), e).into()),
                    Err(e) => { progress.say(&format!("watch interrupted ({e}); resuming")); continue; }
                };
                match assess(&obj, container, ephemeral) {
                    State::Ready => break Ok(obj),
                    State::Failed(reason, message) => {
                        break Err(Error::invalid(
                            format!("debug pod {pod} failed: {reason}{}", if message.is_empty() { String::new() } else { format!(": {message}") }),
                            hint_for(&reason),
                        ).into());
                    }
                    State::Waiting(what) => { last_state = what.clone(); progress.say(&what); }
                }
            }
            next = async { match event_stream.as_mut() { Some(s) => s.try_next().await, None => std::future::pending().await } } => {
                match next {
                    Ok(Some(ev)) => {
                        let reason = ev.reason.clone().unwrap_or_default();
                        let message = ev.message.clone().unwrap_or_default();
                        progress.say(&format!("{reason}: {message}"));
                        if reason == "FailedScheduling" || reason == "FailedCreatePodSandBox" && message.contains("not found") {
                            last_state = format!("{reason}: {message}");
                        }
                    }
                    // No permission to watch Events, or the stream ended: carry on without.
                    _ => event_stream = None,
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                break Err(Error::invalid(
                    format!("timed out after {} waiting for debug pod {pod} (last state: {last_state})", shared::duration::format_age(timeout)),
                    "raise --timeout, or check the node and image with `kubectl describe pod` (the debug pod has been deleted)",
                ).into());
            }
        }
    };
    progress.done();
    if result.is_ok() {
        eprintln!(
            "pod/{pod} running after {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "status": status}))
            .unwrap()
    }

    fn cs(state: serde_json::Value) -> serde_json::Value {
        serde_json::json!([{"name": "debugger", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": state}])
    }

    #[test]
    fn running_container_is_ready() {
        let p = pod(
            serde_json::json!({"phase": "Running", "containerStatuses": cs(serde_json::json!({"running": {}}))}),
        );
        assert_eq!(assess(&p, "debugger", false), State::Ready);
    }

    #[test]
    fn image_pull_errors_fail_fast_with_the_message() {
        let p = pod(serde_json::json!({"phase": "Pending", "containerStatuses":
            cs(serde_json::json!({"waiting": {"reason": "ErrImagePull", "message": "pull access denied"}}))}));
        assert_eq!(
            assess(&p, "debugger", false),
            State::Failed("ErrImagePull".into(), "pull access denied".into())
        );
        assert!(hint_for("ErrImagePull").contains("--image"));
    }

    #[test]
    fn container_creating_keeps_waiting() {
        let p = pod(serde_json::json!({"phase": "Pending", "containerStatuses":
            cs(serde_json::json!({"waiting": {"reason": "ContainerCreating"}}))}));
        assert_eq!(
            assess(&p, "debugger", false),
            State::Waiting("ContainerCreating".into())
        );
        assert_eq!(
            assess(&pod(serde_json::json!({})), "debugger", false),
            State::Waiting("Pending".into())
        );
    }

    #[test]
    fn deadline_and_unschedulable_fail() {
        let p = pod(
            serde_json::json!({"phase": "Failed", "reason": "DeadlineExceeded", "message": "too long"}),
        );
        assert_eq!(
            assess(&p, "debugger", false),
            State::Failed("DeadlineExceeded".into(), "too long".into())
        );
        let p = pod(serde_json::json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes"}]}));
        assert_eq!(
            assess(&p, "debugger", false),
            State::Failed("Unschedulable".into(), "0/1 nodes".into())
        );
    }

    #[test]
    fn ephemeral_statuses_are_read_separately() {
        let p = pod(serde_json::json!({"phase": "Running",
            "containerStatuses": cs(serde_json::json!({"running": {}})),
            "ephemeralContainerStatuses": [{"name": "dbg", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "PodInitializing"}}}]}));
        assert_eq!(
            assess(&p, "dbg", true),
            State::Waiting("PodInitializing".into())
        );
        assert_eq!(assess(&p, "debugger", false), State::Ready);
    }
}
