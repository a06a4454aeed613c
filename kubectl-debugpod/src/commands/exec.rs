//! `exec`: presets (`network`, `system`) or `-- CMD...` in a session.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use shared::Error;

use super::{Acquired, Ctx, acquire, with_session};
use crate::cli::{ResultFormat, SessionArgs};
use crate::nsenter;
use crate::presets::{self, Preset, PresetResult};
use crate::profile::Profile;
use crate::remote;
use crate::session::SessionKind;

/// Lifetime of a session made just for one command, if the CLI dies before deleting it.
pub const AUTO_TTL: Duration = Duration::from_secs(600);

/// Runs a preset in an acquired session.
pub async fn run_preset(
    ctx: &Ctx,
    acquired: &Acquired,
    preset: Preset,
    container: Option<&str>,
) -> anyhow::Result<PresetResult> {
    let profile = acquired.session.profile.unwrap_or(Profile::Baseline);
    let (view, script) = match acquired.session.kind {
        SessionKind::Pod => presets::script(preset, &acquired.target, profile, container),
        SessionKind::Copy => presets::script_inside(preset, &acquired.target),
        SessionKind::Node => presets::script_host(preset),
    };
    let output = remote::run(
        &ctx.pods(),
        &acquired.session.pod,
        &acquired.session.container,
        vec!["/bin/sh".into(), "-c".into(), script],
    )
    .await?;
    if output.code == Some(125) {
        return Err(Error::invalid(
            format!(
                "cannot find the target's processes from session {}: {}",
                acquired.session.id,
                output.stderr.trim()
            ),
            match crate::copy::crashes(&acquired.target.pod).first() {
                // A crash-looping container has no process most of the time: debug a copy.
                Some(c) => format!(
                    "{}; debug a copy instead: `kubectl debugpod create {} --copy -n {}`",
                    c.describe(),
                    acquired.target.name,
                    acquired.target.namespace
                ),
                None => "the target may have restarted or moved; re-run, or create a new session"
                    .to_string(),
            },
        )
        .into());
    }
    let mut result = PresetResult {
        preset,
        target: acquired.target.name.clone(),
        target_ip: acquired.target.ip.clone(),
        session_pod: acquired.session.pod.clone(),
        view,
        notes: Vec::new(),
        sections: presets::parse(&output.text()),
    };
    if result.sections.is_empty() {
        return Err(anyhow::anyhow!(
            "the {preset:?} preset produced no output (exit {:?}): {}",
            output.code,
            output.stderr.trim()
        ));
    }
    result.annotate(profile);
    Ok(result)
}

/// What `exec` runs.
#[derive(Debug, Clone)]
pub enum What {
    /// A preset.
    Preset(Preset),
    /// A command.
    Command(Vec<String>),
}

/// Runs `exec`.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    ctx: &Ctx,
    target: &str,
    what: &What,
    args: &SessionArgs,
    container: Option<&str>,
    keep: bool,
    format: ResultFormat,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    if let What::Command(cmd) = what
        && cmd.is_empty()
    {
        return Err(Error::Usage {
            message: "say what to run".into(),
            hint: Some("`network`, `system`, or `-- CMD...`".into()),
        }
        .into());
    }
    let need_netns = matches!(what, What::Preset(_)) || args.share_netns;
    let acquired = acquire(
        ctx,
        target,
        args,
        Profile::Netadmin,
        need_netns,
        Some(AUTO_TTL),
    )
    .await?;
    let body = async {
        match what {
            What::Preset(p) => {
                let result = run_preset(ctx, &acquired, *p, container).await?;
                match format {
                    ResultFormat::Json => shared::output::print_structured(
                        out,
                        shared::output::OutputFormat::Json,
                        &result,
                    )?,
                    ResultFormat::Text => out.write_all(result.render().as_bytes())?,
                }
                Ok(ExitCode::SUCCESS)
            }
            What::Command(cmd) => {
                crate::flag_rules::check_exec_container(container, &acquired.session)?;
                let cmd = if acquired.session.share_netns {
                    nsenter::in_target_netns(&acquired.target, container, cmd)
                } else if acquired.session.enter_host {
                    crate::node::in_host(cmd)
                } else {
                    cmd.clone()
                };
                let output = remote::run(
                    &ctx.pods(),
                    &acquired.session.pod,
                    &acquired.session.container,
                    cmd,
                )
                .await?;
                out.write_all(&output.stdout)?;
                eprint!("{}", output.stderr);
                Ok(ExitCode::from(output.code.unwrap_or(1).clamp(0, 255) as u8))
            }
        }
    };
    with_session(ctx, &acquired, keep, body).await
}
