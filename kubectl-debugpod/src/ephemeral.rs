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
use serde::Serialize;
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
    /// Who (`DEBUGPOD_CREATED_BY` in the container's spec).
    pub created_by: String,
    /// Why (`--reason`; `DEBUGPOD_REASON` in the container's spec, which stays in the pod's
    /// spec for good: the pod's own annotations would need `patch pods`, a far wider right).
    pub reason: String,
}

/// What `create --mode ephemeral -o json` prints: where the container runs and how to reach it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EphemeralSession {
    /// Always `ephemeral`.
    pub mode: &'static str,
    /// Session id.
    pub id: String,
    /// The ephemeral container's name (`debugpod-<id>`).
    pub container: String,
    /// The target pod it was added to.
    pub pod: String,
    /// Its namespace.
    pub namespace: String,
    /// The target container whose processes it sees.
    pub target_container: String,
    /// Image.
    pub image: String,
    /// Profile (its security context).
    pub profile: Profile,
    /// Seconds until `timeout` kills its shell.
    pub ttl_seconds: u64,
    /// Who.
    pub owner: String,
    /// Why (`--reason`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub purpose: String,
    /// The command that attaches to it.
    pub attach: String,
}

impl EphemeralSession {
    /// The session of container `name`, just added to `target` with `opts`.
    pub fn new(target: &Target, opts: &EphemeralOptions, name: &str) -> EphemeralSession {
        EphemeralSession {
            mode: "ephemeral",
            id: opts.session.clone(),
            container: name.to_string(),
            pod: target.name.clone(),
            namespace: target.namespace.clone(),
            target_container: target
                .container(opts.container.as_deref())
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            image: opts.image.clone(),
            profile: opts.profile,
            ttl_seconds: opts.ttl.as_secs(),
            owner: opts.created_by.clone(),
            purpose: opts.reason.clone(),
            attach: format!(
                "kubectl attach -it {} -c {name} -n {}",
                target.name, target.namespace
            ),
        }
    }
}

/// The ephemeral container for `target`.
pub fn container(target: &Target, opts: &EphemeralOptions) -> Result<EphemeralContainer, Error> {
    let focus = target.container(opts.container.as_deref())?;
    let env = |n: &str, v: &str| EnvVar {
        name: n.into(),
        value: Some(v.into()),
        value_from: None,
    };
    let mut vars = vec![
        env("TARGET_POD", &target.name),
        env("TARGET_POD_IP", &target.ip),
        env("TARGET_CONTAINER", &focus.name),
        env("DEBUGPOD_SESSION", &opts.session),
        env("DEBUGPOD_CREATED_BY", &opts.created_by),
    ];
    if !opts.reason.is_empty() {
        vars.push(env("DEBUGPOD_REASON", &opts.reason));
    }
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
        env: Some(vars),
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
