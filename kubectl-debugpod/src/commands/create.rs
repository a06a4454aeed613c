//! `create`: a debug session next to the target.

use std::io::Write;
use std::process::ExitCode;

use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use shared::Error;
use shared::prompt::Answer;

use super::next_steps::{self, Step};
use super::{Ctx, delete_session};
use crate::admission::{self, Rejection};
use crate::cli::{Mode, ResultFormat, SessionArgs};
use crate::pod_spec::{self, DebugPodOptions};
use crate::profile::Profile;
use crate::session::{self, CONTAINER, Session};
use crate::target::{self, Target};
use crate::{ephemeral, wait};

/// Runs `create`.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    ctx: &Ctx,
    target_name: &str,
    args: &SessionArgs,
    mode: Mode,
    container: Option<&str>,
    yes: bool,
    output: ResultFormat,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let target = target::resolve(&ctx.client, &ctx.namespace, target_name).await?;
    let profile = args.profile.unwrap_or(Profile::General);
    if mode == Mode::Ephemeral {
        let opts = ephemeral::EphemeralOptions {
            image: args
                .image
                .clone()
                .unwrap_or_else(|| ctx.config.debug_image.clone()),
            ttl: args.ttl.unwrap_or(ctx.config.debug_ttl),
            profile,
            container: container.map(str::to_string),
            session: session::new_id(),
            timeout: args.timeout,
            created_by: ctx.user.clone(),
            reason: args.reason_text(),
        };
        let name = ephemeral::add(&ctx.client, &target, &opts, Answer::from_flag(yes)).await?;
        let started = ephemeral::EphemeralSession::new(&target, &opts, &name);
        match output {
            ResultFormat::Json => {
                shared::output::print_structured(out, shared::output::OutputFormat::Json, &started)?
            }
            ResultFormat::Text => {
                writeln!(
                    out,
                    "ephemeral container {name} running in pod {} (ends after {}s via timeout; it can never be removed)",
                    target.name,
                    opts.ttl.as_secs()
                )?;
                writeln!(out, "  attach: {}", started.attach)?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let session = create_pod_session(ctx, &target, args, profile).await?;
    match output {
        ResultFormat::Json => {
            shared::output::print_structured(out, shared::output::OutputFormat::Json, &session)?
        }
        ResultFormat::Text => {
            let ns = &session.namespace;
            writeln!(
                out,
                "session {} ready: pod/{} on node {}, profile {}, expires {}",
                session.id,
                session.pod,
                session.node,
                session.profile.map(|p| p.name()).unwrap_or("?"),
                session.expires_at.as_deref().unwrap_or("?")
            )?;
            next_steps::print(
                out,
                10,
                &session.id,
                ns,
                &[
                    Step::new("shell", "shell"),
                    Step::exec("network", "network"),
                    Step::new("delete", "cleanup"),
                ],
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The profiles (other than `profile`) the server would accept, least privilege first.
async fn passing_profiles(
    ctx: &Ctx,
    target: &Target,
    opts: &DebugPodOptions,
    node: Option<&k8s_openapi::api::core::v1::Node>,
) -> Vec<Profile> {
    let mut passing = Vec::new();
    for p in Profile::ALL.into_iter().filter(|p| *p != opts.profile) {
        let pod = pod_spec::build(
            target,
            node,
            &DebugPodOptions {
                profile: p,
                ..opts.clone()
            },
        );
        if admission::dry_run(&ctx.pods(), &pod).await.is_ok() {
            passing.push(p);
        }
    }
    passing
}

/// Creates a debug pod for `target` and waits until it runs: dry-run first, then create,
/// then watch. On any failure after the create, the pod is deleted (no orphans).
pub async fn create_pod_session(
    ctx: &Ctx,
    target: &Target,
    args: &SessionArgs,
    profile: Profile,
) -> anyhow::Result<Session> {
    if args.share_netns && !profile.can_enter_netns() {
        return Err(Error::Usage {
            message: format!("--share-netns needs a profile that can enter the target's network namespace, not {profile}"),
            hint: Some("add --profile netadmin (or sysadmin)".into()),
        }
        .into());
    }
    let node = target::check_node(&ctx.client, &target.node).await?;
    let opts = DebugPodOptions {
        session: session::new_id(),
        image: args
            .image
            .clone()
            .unwrap_or_else(|| ctx.config.debug_image.clone()),
        ttl: args.ttl.unwrap_or(ctx.config.debug_ttl),
        profile,
        share_netns: args.share_netns,
        created_by: ctx.user.clone(),
        reason: args.reason_text(),
        resources: args.resources(),
        now: k8s_openapi::jiff::Timestamp::now(),
    };
    let pod = pod_spec::build(target, node.as_ref(), &opts);
    let pods = ctx.pods();
    if let Err(err) = admission::dry_run(&pods, &pod).await {
        let Some(rejection) = admission::classify(&err) else {
            return Err(Error::kube("dry-run create of the debug pod", err).into());
        };
        let passing = match rejection {
            Rejection::PodSecurity(_) => passing_profiles(ctx, target, &opts, node.as_ref()).await,
            _ => Vec::new(),
        };
        return Err(admission::explain(rejection, profile, &ctx.namespace, &passing).into());
    }
    let created = pods
        .create(&PostParams::default(), &pod)
        .await
        .map_err(|e| Error::kube("create the debug pod", e))?;
    let name = created.metadata.name.clone().unwrap_or_default();
    let waited = tokio::select! {
        r = wait::until_running(&ctx.client, &ctx.namespace, &name, CONTAINER, false, args.timeout) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted while waiting for pod {name}")),
    };
    match waited {
        Ok(running) => Ok(session_of(&running)),
        Err(err) => {
            if let Err(del) = delete_session(&pods, &name).await {
                shared::exit::warn(format!(
                    "could not delete the failed debug pod {name}: {del:#}"
                ));
            }
            Err(err)
        }
    }
}

fn session_of(pod: &Pod) -> Session {
    Session::from_pod(pod).expect("the debug pod carries the session labels")
}
