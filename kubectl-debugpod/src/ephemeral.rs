//! `--mode ephemeral`: an ephemeral container inside the target pod (Kubernetes ≥ 1.25, the
//! Pod-shaped `pods/ephemeralcontainers` subresource, PATCH = RBAC verb `patch`).
//!
//! It shares the target's network namespace and (with `targetContainerName`) its process
//! namespace without any host access, but it can **never be removed** from the pod spec and
//! takes no resource limits, so its only TTL is a `timeout -s KILL` wrapper around its shell.
//! The user is warned and must confirm.

use std::time::Duration;

use k8s_openapi::api::core::v1::{EnvVar, EphemeralContainer, Pod};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use shared::Error;
use shared::prompt::{Answer, confirm};

use crate::admission;
use crate::profile::Profile;
use crate::target::Target;
use crate::wait;

/// The first Kubernetes minor (of 1.x) where ephemeral containers are GA.
pub const MIN_MINOR: u32 = 25;

/// Settings of an ephemeral debug container.
#[derive(Debug, Clone)]
pub struct EphemeralOptions {
    /// Image.
    pub image: String,
    /// Lifetime, enforced by `timeout` inside the container.
    pub ttl: Duration,
    /// Profile (its container security context; host namespaces do not apply).
    pub profile: Profile,
    /// Target container for the process namespace (default: the first).
    pub container: Option<String>,
    /// Session id (names the container `debugpod-<id>`).
    pub session: String,
    /// How long to wait for it to run.
    pub timeout: Duration,
}

/// The ephemeral container for `target`.
pub fn container(target: &Target, opts: &EphemeralOptions) -> Result<EphemeralContainer, Error> {
    let focus = target.container(opts.container.as_deref())?;
    let env = |n: &str, v: &str| EnvVar {
        name: n.into(),
        value: Some(v.into()),
        value_from: None,
    };
    Ok(EphemeralContainer {
        name: format!("debugpod-{}", opts.session),
        image: Some(opts.image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec![
            "timeout".into(),
            "-s".into(),
            "KILL".into(),
            opts.ttl.as_secs().max(1).to_string(),
            "sh".into(),
        ]),
        stdin: Some(true),
        tty: Some(true),
        target_container_name: Some(focus.name.clone()),
        security_context: opts.profile.security_context(),
        termination_message_policy: Some("File".into()),
        env: Some(vec![
            env("TARGET_POD", &target.name),
            env("TARGET_POD_IP", &target.ip),
            env("TARGET_CONTAINER", &focus.name),
            env("DEBUGPOD_SESSION", &opts.session),
        ]),
        ..Default::default()
    })
}

/// Parses the server's minor version (`"25"`, `"25+"`).
pub fn minor(info: &k8s_openapi::apimachinery::pkg::version::Info) -> Option<u32> {
    if info.major.trim_end_matches('+') != "1" {
        return info
            .major
            .trim_end_matches('+')
            .parse::<u32>()
            .ok()
            .map(|_| u32::MAX);
    }
    info.minor.trim_end_matches('+').parse().ok()
}

fn patch_error(target: &Target, err: kube::Error) -> anyhow::Error {
    if let kube::Error::Api(s) = &err
        && s.code == 404
    {
        return Error::invalid(
            format!("ephemeral containers are not available for pod {} (the API server has no pods/ephemeralcontainers)", target.name),
            "use --mode pod (the default)",
        )
        .into();
    }
    match admission::classify(&err) {
        Some(admission::Rejection::Rbac(msg)) => Error::invalid(
            format!("not allowed to add an ephemeral container: {msg}"),
            "ask for `patch` on pods/ephemeralcontainers (`kubectl debugpod rbac ephemeral`)",
        )
        .into(),
        Some(r) => admission::explain(r, Profile::Baseline, &target.namespace, &[]).into(),
        None => Error::kube(
            format!("add an ephemeral container to pod {}", target.name),
            err,
        )
        .into(),
    }
}

/// Adds the ephemeral container after a version check, a warning with confirmation and a
/// server-side dry-run, then watches until it runs. Returns its name.
pub async fn add(
    client: &Client,
    target: &Target,
    opts: &EphemeralOptions,
    answer: Answer,
) -> anyhow::Result<String> {
    let info = client
        .apiserver_version()
        .await
        .map_err(|e| Error::kube("get the server version", e))?;
    match minor(&info) {
        Some(m) if m >= MIN_MINOR => {}
        _ => {
            return Err(Error::invalid(
                format!(
                    "ephemeral mode needs Kubernetes ≥ 1.{MIN_MINOR}; this cluster is {}.{}",
                    info.major, info.minor
                ),
                "use --mode pod (the default): a separate pod on the target's node that can be removed",
            )
            .into());
        }
    }
    let c = container(target, opts)?;
    shared::exit::warn(format!(
        "an ephemeral container can never be removed from pod {}: it stays in the pod's spec until the pod is deleted, has no resource limits (it shares the pod's), and its only TTL is `timeout {}s`",
        target.name,
        opts.ttl.as_secs()
    ));
    confirm(
        answer,
        &format!("add ephemeral container {} to pod {}", c.name, target.name),
        "Add it anyway?",
    )?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &target.namespace);
    let patch = Patch::Strategic(serde_json::json!({"spec": {"ephemeralContainers": [c]}}));
    let dry = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    pods.patch_ephemeral_containers(&target.name, &dry, &patch)
        .await
        .map_err(|e| patch_error(target, e))?;
    pods.patch_ephemeral_containers(&target.name, &PatchParams::default(), &patch)
        .await
        .map_err(|e| patch_error(target, e))?;
    wait::until_running(
        client,
        &target.namespace,
        &target.name,
        &c.name,
        true,
        opts.timeout,
    )
    .await?;
    Ok(c.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let v = |major: &str, minor: &str| k8s_openapi::apimachinery::pkg::version::Info {
            major: major.into(),
            minor: minor.into(),
            ..Default::default()
        };
        assert_eq!(minor(&v("1", "20")), Some(20));
        assert_eq!(minor(&v("1", "27+")), Some(27));
    }
}

#[cfg(test)]
#[path = "ephemeral_mock_tests.rs"]
mod mock_tests;
