//! `create TARGET --copy`: a copy session of a pod that cannot be debugged in place (crash
//! loops, failed init, a pod being replaced). See [`crate::copy`] for what the copy changes.

use std::io::Write;
use std::process::ExitCode;

use k8s_openapi::api::core::v1::Pod;
use kube::api::LogParams;
use kube::{Api, ResourceExt};
use serde::Serialize;
use shared::Error;

use super::next_steps::{self, Step};
use super::{Ctx, launch};
use crate::admission::Rejection;
use crate::cli::{Mode, ResultFormat, SessionArgs};
use crate::copy::{self, CopyOptions, Crash, ImageOverride};
use crate::session::{self, Session};
use crate::target::{self, Target};

/// What `--copy` adds to `create`.
#[derive(Debug, Clone, Default)]
pub struct CopyArgs {
    /// `-c`: the container whose command is replaced.
    pub container: Option<String>,
    /// `-- CMD...`: the replacement command (empty: sleep until the TTL).
    pub command: Vec<String>,
    /// `--set-image`.
    pub set_images: Vec<ImageOverride>,
    /// `--any-node`.
    pub any_node: bool,
}

fn usage(message: impl Into<String>, hint: impl Into<String>) -> Error {
    Error::Usage {
        message: message.into(),
        hint: Some(hint.into()),
    }
}

/// The flags `create --copy` cannot use are usage errors (exit 2), never silently dropped:
/// the copy runs with the target's own image, security settings and resources.
pub fn check_flags(mode: Mode, args: &SessionArgs, yes: bool) -> Result<(), Error> {
    if yes {
        return Err(usage(
            "-y/--yes does not apply to --copy: nothing is asked before making a copy (it is only for --mode ephemeral)",
            "drop -y",
        ));
    }
    if mode == Mode::Ephemeral {
        return Err(usage(
            "--copy and --mode ephemeral exclude each other: a copy is a new pod, an ephemeral container goes into the target itself",
            "drop --mode ephemeral to debug a copy, or --copy to add an ephemeral container",
        ));
    }
    if args.image.is_some() {
        return Err(usage(
            "--image does not apply to --copy: the copy runs the target's own images",
            "swap a container's image with --set-image CONTAINER=IMAGE",
        ));
    }
    if let Some(p) = args.profile {
        return Err(usage(
            format!(
                "--profile {p} does not apply to --copy: the copy keeps the target's own security settings"
            ),
            "drop --profile (a separate debug pod with a profile: `create TARGET` without --copy)",
        ));
    }
    if args.share_netns {
        return Err(usage(
            "--share-netns does not apply to --copy: shells in a copy already run in its network namespace",
            "drop --share-netns",
        ));
    }
    for (given, flag) in [
        (args.cpu_limit.is_some(), "--cpu-limit"),
        (args.memory_limit.is_some(), "--memory-limit"),
    ] {
        if given {
            return Err(usage(
                format!(
                    "{flag} does not apply to --copy: the copy keeps the target's own requests and limits"
                ),
                format!("drop {flag}"),
            ));
        }
    }
    Ok(())
}

/// What `create --copy -o json` prints: the session, and how the target was failing.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyStarted {
    /// The copy session.
    #[serde(flatten)]
    pub session: Session,
    /// The target's crashing containers when the copy was made.
    pub target_crashes: Vec<Crash>,
}

/// Refuses this tool's own pods as targets.
fn ensure_not_a_session(target: &Target) -> Result<(), Error> {
    if target
        .pod
        .labels()
        .get("app.kubernetes.io/managed-by")
        .is_some_and(|v| v == session::MANAGED_BY)
    {
        return Err(Error::invalid(
            format!(
                "pod {} is a debug session of this tool, not a target",
                target.name
            ),
            format!(
                "copy the pod it points at: {}",
                target
                    .pod
                    .annotations()
                    .get(session::ANN_TARGET)
                    .cloned()
                    .unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

fn rejected(rejection: Rejection, target: &str, namespace: &str) -> Error {
    let what = format!("the copy of {target}");
    match rejection {
        Rejection::Rbac(msg) => Error::invalid(
            format!("not allowed to create {what}: {msg}"),
            format!("ask for the Role printed by `kubectl debugpod rbac copy -n {namespace}`"),
        ),
        Rejection::Resources(msg) => Error::invalid(
            format!(
                "namespace {namespace} has no room for {what}: {}",
                crate::admission::reason(&msg)
            ),
            "the copy asks for the target's own requests and limits: free quota (e.g. `kubectl debugpod cleanup --expired`), or scale the workload down while you debug",
        ),
        other => Error::invalid(
            format!(
                "namespace {namespace} refuses {what}: {}",
                crate::admission::reason(other.message())
            ),
            "the copy keeps the target's security settings, so --set-image or the replacement command changed what the policy checks; drop them, or ask the policy's owners",
        ),
    }
}

/// The last `lines` lines of the previous (crashed) instance of `container`, when readable.
async fn previous_logs(pods: &Api<Pod>, pod: &str, container: &str, lines: i64) -> Option<String> {
    let lp = LogParams {
        container: Some(container.into()),
        previous: true,
        tail_lines: Some(lines),
        ..Default::default()
    };
    pods.logs(pod, &lp)
        .await
        .ok()
        .filter(|t| !t.trim().is_empty())
}

/// The first line of `text`, at most `max` characters, with `…` when anything was cut.
fn one_line(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or("");
    let mut short: String = first.chars().take(max).collect();
    if short.len() < text.trim_end().len() {
        short.push('…');
    }
    short
}

/// Runs `create TARGET --copy`.
pub async fn run(
    ctx: &Ctx,
    target_name: &str,
    args: &SessionArgs,
    copy_args: &CopyArgs,
    output: ResultFormat,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    // Any phase: a crash-looping, failed or still-initialising pod is what a copy is for.
    let target = Target::from_pod(target::find(&ctx.client, &ctx.namespace, target_name).await?);
    ensure_not_a_session(&target)?;
    if let Some(job) = copy::job_owner(&target.pod) {
        shared::exit::warn(format!(
            "pod {} belongs to {job}: the copy runs once and is not retried (it is no part of the Job, whose backoffLimit and completions do not count it)",
            target.name
        ));
    }
    if !copy_args.any_node && !target.node.is_empty() {
        // Only a node known to be gone stops it; one the user may not read gets the benefit of the doubt.
        let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(ctx.client.clone());
        if let Ok(None) = nodes.get_opt(&target.node).await {
            return Err(Error::invalid(
                format!("node {:?} of pod {} no longer exists, so a copy pinned to it would never start", target.node, target.name),
                "add --any-node to let the scheduler place the copy",
            )
            .into());
        }
    }
    let opts = CopyOptions {
        session: session::new_id(),
        ttl: args.ttl.unwrap_or(ctx.config.debug_ttl),
        container: copy_args.container.clone(),
        command: copy_args.command.clone(),
        set_images: copy_args.set_images.clone(),
        any_node: copy_args.any_node,
        created_by: ctx.user.clone(),
        reason: args.reason_text(),
        now: k8s_openapi::jiff::Timestamp::now(),
    };
    let pod = copy::build(&target, &opts)?;
    if let Some(rejection) = launch::dry_run(ctx, &pod).await? {
        return Err(rejected(rejection, &target.name, &target.namespace).into());
    }
    let container = pod
        .annotations()
        .get(session::ANN_CONTAINER)
        .cloned()
        .unwrap_or_default();
    let running = launch::create_and_wait(ctx, &pod, &container, args.timeout).await?;
    let session = Session::from_pod(&running).expect("the copy carries the session labels");
    let crashes = copy::crashes(&target.pod);
    match output {
        ResultFormat::Json => shared::output::print_structured(
            out,
            shared::output::OutputFormat::Json,
            &CopyStarted {
                session,
                target_crashes: crashes,
            },
        )?,
        ResultFormat::Text => {
            let ns = &session.namespace;
            writeln!(
                out,
                "copy session {} ready: pod/{} (copy of {}) on node {}, container {} {}, expires {}",
                session.id,
                session.pod,
                target.name,
                session.node,
                session.container,
                if copy_args.command.is_empty() {
                    "sleeps instead of its command".to_string()
                } else {
                    format!("runs {}", copy_args.command.join(" "))
                },
                session.expires_at.as_deref().unwrap_or("?")
            )?;
            for c in &crashes {
                next_steps::labelled(out, 12, "target", &c.describe())?;
            }
            if let Some(c) = crashes.iter().find(|c| c.container == session.container)
                && let Some(text) = previous_logs(&ctx.pods(), &target.name, &c.container, 5).await
            {
                writeln!(
                    out,
                    "  last lines of the crashed container {}:",
                    c.container
                )?;
                for line in text.lines() {
                    writeln!(out, "    {line}")?;
                }
            }
            let entrypoint = match &session.entrypoint {
                Some(e) => format!(
                    "{}  (run it by hand in the shell: eval \"$DEBUGPOD_ENTRYPOINT\")",
                    one_line(e, 100)
                ),
                None => {
                    "the image's own (the spec sets no command); see the image's ENTRYPOINT/CMD"
                        .into()
                }
            };
            next_steps::labelled(out, 12, "entrypoint", &entrypoint)?;
            next_steps::print(
                out,
                12,
                &session.id,
                ns,
                &[
                    Step::new("shell", "shell"),
                    Step::exec("system", "system"),
                    Step::new("report", "report"),
                    Step::new("delete", "cleanup"),
                ],
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> SessionArgs {
        SessionArgs::defaults()
    }

    fn usage_message(r: Result<(), Error>) -> String {
        match r {
            Err(Error::Usage { message, .. }) => message,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn long_entrypoints_are_cut_to_one_line() {
        assert_eq!(one_line("'/app' '--serve'", 100), "'/app' '--serve'");
        assert_eq!(one_line("'sh' '-c' 'a\nb'", 100), "'sh' '-c' 'a…");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }

    #[test]
    fn flags_a_copy_cannot_use_are_usage_errors() {
        assert!(check_flags(Mode::Pod, &args(), false).is_ok());
        assert!(
            usage_message(check_flags(Mode::Ephemeral, &args(), false))
                .contains("--mode ephemeral")
        );
        let mut a = args();
        a.image = Some("busybox".into());
        assert!(usage_message(check_flags(Mode::Pod, &a, false)).contains("--image"));
        let mut a = args();
        a.profile = Some(crate::profile::Profile::Netadmin);
        assert!(usage_message(check_flags(Mode::Pod, &a, false)).contains("--profile netadmin"));
        let mut a = args();
        a.memory_limit = Some("1Gi".into());
        assert!(usage_message(check_flags(Mode::Pod, &a, false)).contains("--memory-limit"));
        let mut a = args();
        a.ttl = Some(std::time::Duration::from_secs(60));
        a.reason = Some("INC-1".into());
        assert!(
            check_flags(Mode::Pod, &a, false).is_ok(),
            "--ttl and --reason apply"
        );
        assert!(usage_message(check_flags(Mode::Pod, &args(), true)).contains("-y/--yes"));
    }
}
