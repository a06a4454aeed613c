//! `report`: one Markdown (or JSON) file about the target.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::Api;
use kube::api::{ListParams, LogParams};

use super::exec::{AUTO_TTL, run_preset};
use super::{Ctx, acquire, with_session};
use crate::cli::{ReportFormat, SessionArgs};
use crate::pod_spec::TOOL_VERSION;
use crate::presets::Preset;
use crate::profile::Profile;
use crate::report::{self, Logs, Report};
use crate::session::{Session, SessionKind};
use crate::target;

async fn logs(pods: &Api<Pod>, pod: &str, container: &str, previous: bool, tail: i64) -> Logs {
    let lp = LogParams {
        container: Some(container.into()),
        previous,
        tail_lines: Some(tail),
        timestamps: true,
        ..Default::default()
    };
    match pods.logs(pod, &lp).await {
        Ok(text) => Logs {
            container: container.into(),
            previous,
            text,
            error: None,
        },
        Err(e) => Logs {
            container: container.into(),
            previous,
            text: String::new(),
            error: Some(shared::exit::render_chain(&e)),
        },
    }
}

fn default_path(dir: &Path, target: &str, format: ReportFormat) -> PathBuf {
    let stamp = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let ext = match format {
        ReportFormat::Markdown => "md",
        ReportFormat::Json => "json",
    };
    dir.join(format!("debugpod-{target}-{stamp}.{ext}"))
}

/// The pod a report is about: the target pod named by `arg`; for a copy session (id or pod
/// name), the copy itself, with its session; for a debug pod's session, its target.
async fn report_subject(ctx: &Ctx, arg: &str) -> anyhow::Result<(Pod, Option<Session>)> {
    let debug_pods = target::list_debug_pods(&ctx.client, Some(&ctx.namespace)).await?;
    let named = debug_pods.iter().find_map(|p| {
        Session::from_pod(p)
            .filter(|s| s.id == arg || s.pod == arg)
            .map(|s| (p, s))
    });
    match named {
        None => Ok((target::find(&ctx.client, &ctx.namespace, arg).await?, None)),
        Some((pod, s)) if s.kind == SessionKind::Copy => Ok((pod.clone(), Some(s))),
        Some((_, s)) if s.kind == SessionKind::Node => Err(shared::Error::invalid(
            format!(
                "session {} is a node session: a report is about a pod",
                s.id
            ),
            format!(
                "look at the node with `kubectl debugpod exec {} system -n {}` (and network)",
                s.id, s.namespace
            ),
        )
        .into()),
        Some((_, s)) => {
            eprintln!(
                "session {} debugs pod {}: reporting on that pod",
                s.id, s.target
            );
            Ok((
                target::find(&ctx.client, &ctx.namespace, &s.target).await?,
                None,
            ))
        }
    }
}

/// Runs `report`.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    ctx: &Ctx,
    target_name: &str,
    file: Option<&Path>,
    format: ReportFormat,
    tail: i64,
    no_presets: bool,
    args: &SessionArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let (pod, copy_session) = report_subject(ctx, target_name).await?;
    let info = report::target_info(&pod);
    let crashes = crate::copy::crashes(&pod);
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default();
    let any_running = statuses
        .iter()
        .any(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()));
    let pods = ctx.pods();
    let mut all_logs = Vec::new();
    for c in &info.containers {
        if c.restarts > 0 {
            all_logs.push(logs(&pods, &info.name, &c.name, true, tail).await);
        }
        all_logs.push(logs(&pods, &info.name, &c.name, false, tail).await);
    }
    let events_api: Api<Event> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let events = events_api
        .list(&ListParams::default().fields(&format!("involvedObject.name={}", info.name)))
        .await
        .map_err(|e| shared::Error::kube(format!("list events of pod {}", info.name), e))?;
    let (node, node_error) = match Api::<Node>::all(ctx.client.clone()).get(&info.node).await {
        Ok(n) => (Some(report::node_info(&n)), None),
        Err(e) => (None, Some(shared::exit::render_chain(&e))),
    };
    let mut presets = Vec::new();
    let mut presets_error = None;
    if no_presets {
        presets_error = Some("skipped (--no-presets)".into());
    } else if info.phase != "Running" {
        presets_error = Some(format!("the pod is {}, not Running", info.phase));
    } else if !any_running && copy_session.is_none() {
        presets_error = Some(format!(
            "no container of the pod is running{}: the presets need a running process; debug a copy: `kubectl debugpod create {} --copy -n {}`",
            crashes
                .first()
                .map(|c| format!(" ({})", c.describe()))
                .unwrap_or_default(),
            info.name,
            info.namespace
        ));
    } else {
        let acquired = acquire(
            ctx,
            copy_session
                .as_ref()
                .map(|s| s.id.as_str())
                .unwrap_or(&info.name),
            args,
            Profile::Netadmin,
            true,
            Some(AUTO_TTL),
        )
        .await?;
        let body = async {
            let mut results = Vec::new();
            for p in [Preset::Network, Preset::System] {
                results.push(run_preset(ctx, &acquired, p, None).await?);
            }
            Ok(results)
        };
        match with_session(ctx, &acquired, false, body).await {
            Ok(r) => presets = r,
            Err(e) => presets_error = Some(format!("{e:#}")),
        }
    }
    let report = Report {
        generated_at: k8s_openapi::jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
        tool_version: TOOL_VERSION.into(),
        generated_by: ctx.user.clone(),
        events: report::event_infos(&events.items, &info.uid),
        target: info,
        copy_of: copy_session.map(|s| s.target),
        crashes,
        logs: all_logs,
        node,
        node_error,
        presets,
        presets_error,
    };
    let text = match format {
        ReportFormat::Markdown => report.markdown(),
        ReportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
    };
    match file {
        Some(p) if p.as_os_str() == "-" => out.write_all(text.as_bytes())?,
        _ => {
            let path = match file {
                Some(p) => p.to_path_buf(),
                None => default_path(&ctx.config.reports_dir, &report.target.name, format),
            };
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            std::fs::write(&path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            writeln!(out, "{}", path.display())?;
            eprintln!(
                "report for pod {}: {} events, {} log blocks, {} preset(s)",
                report.target.name,
                report.events.len(),
                report.logs.len(),
                report.presets.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
