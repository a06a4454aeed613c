//! `list`: candidate targets, or this tool's sessions.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use serde::Serialize;
use shared::Error;
use shared::duration::format_age;
use shared::output::{OutputFormat, Printable, Table, print_list};

use shared::fleet::{self, FailedContext, FleetTargets, fan_out};

use super::Ctx;
use crate::cli::Cli;
use crate::session::{MANAGED_BY, Session};
use crate::target;

/// A candidate target row.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetRow {
    /// Pod name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// `ready/total` containers.
    pub ready: String,
    /// Phase or the waiting reason (like kubectl's STATUS).
    pub status: String,
    /// Restarts.
    pub restarts: i32,
    /// Node.
    pub node: String,
    /// Pod IP.
    pub ip: String,
    /// Age in seconds.
    pub age_seconds: u64,
}

impl Printable for TargetRow {
    const KIND: &'static str = "Pod";
    fn headers(wide: bool) -> Vec<&'static str> {
        let mut h = vec!["name", "ready", "status", "node", "ip", "age"];
        if wide {
            h.insert(3, "restarts");
            h.insert(0, "namespace");
        }
        h
    }
    fn row(&self, wide: bool) -> Vec<String> {
        let mut r = vec![
            self.name.clone(),
            self.ready.clone(),
            self.status.clone(),
            self.node.clone(),
            self.ip.clone(),
            format_age(Duration::from_secs(self.age_seconds)),
        ];
        if wide {
            r.insert(3, self.restarts.to_string());
            r.insert(0, self.namespace.clone());
        }
        r
    }
    fn name(&self) -> String {
        self.name.clone()
    }
}

/// A session row.
#[derive(Debug, Serialize)]
pub struct SessionRow {
    /// The kubeconfig context it was found in (set when several contexts are listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The session.
    #[serde(flatten)]
    pub session: Session,
    /// Seconds left (0 = expired).
    #[serde(rename = "expiresInSeconds")]
    pub expires_in: Option<u64>,
}

impl Printable for SessionRow {
    const KIND: &'static str = "DebugSession";
    fn headers(wide: bool) -> Vec<&'static str> {
        let mut h = vec![
            "session",
            "kind",
            "target",
            "profile",
            "status",
            "expires in",
            "owner",
        ];
        if wide {
            h.extend(["pod", "node", "reason"]);
        }
        h
    }
    fn row(&self, wide: bool) -> Vec<String> {
        let s = &self.session;
        let status = match &s.reason {
            Some(r) => format!("{} ({r})", s.phase),
            None => s.phase.clone(),
        };
        let mut r = vec![
            s.id.clone(),
            s.kind.name().to_string(),
            s.target.clone(),
            s.profile.map(|p| p.name().to_string()).unwrap_or_default(),
            status,
            match self.expires_in {
                Some(0) => "expired".into(),
                Some(secs) => format_age(Duration::from_secs(secs)),
                None => "?".into(),
            },
            s.owner.clone(),
        ];
        if wide {
            r.extend([s.pod.clone(), s.node.clone(), s.purpose.clone()]);
        }
        r
    }
    fn name(&self) -> String {
        self.session.pod.clone()
    }
}

fn target_row(pod: &Pod, now: Timestamp) -> TargetRow {
    let status = pod.status.clone().unwrap_or_default();
    let cs = status.container_statuses.clone().unwrap_or_default();
    let total = pod.spec.as_ref().map(|s| s.containers.len()).unwrap_or(0);
    let ready = cs.iter().filter(|c| c.ready).count();
    let waiting = cs
        .iter()
        .find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone());
    let phase = status.phase.clone().unwrap_or_else(|| "Unknown".into());
    let created = pod.creation_timestamp().map(|t| t.0).unwrap_or(now);
    TargetRow {
        name: pod.name_any(),
        namespace: pod.namespace().unwrap_or_default(),
        ready: format!("{ready}/{total}"),
        status: if pod.metadata.deletion_timestamp.is_some() {
            "Terminating".into()
        } else {
            waiting.unwrap_or(phase)
        },
        restarts: cs.iter().map(|c| c.restart_count).sum(),
        node: pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_else(|| "<none>".into()),
        ip: status.pod_ip.unwrap_or_else(|| "<none>".into()),
        age_seconds: (now.as_second() - created.as_second()).max(0) as u64,
    }
}

/// This tool's sessions in a namespace (None: all namespaces) of the cluster `client` talks to.
/// `list --sessions` and `cleanup` gather with it; a loop over contexts gathers once per client.
pub async fn sessions_in(
    client: &kube::Client,
    namespace: Option<&str>,
) -> anyhow::Result<Vec<Session>> {
    let pods = target::list_debug_pods(client, namespace).await?;
    Ok(pods.iter().filter_map(Session::from_pod).collect())
}

/// A row of `list --sessions`: a session, or on a fleet a context that did not answer
/// (`{"context": ..., "error": ...}` in JSON, `ERROR` in the STATUS column).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum SessionListRow {
    /// A session.
    Session(Box<SessionRow>),
    /// A context that failed.
    Failed(FailedContext),
}

impl Printable for SessionListRow {
    const KIND: &'static str = "DebugSession";
    fn headers(wide: bool) -> Vec<&'static str> {
        SessionRow::headers(wide)
    }
    fn row(&self, wide: bool) -> Vec<String> {
        match self {
            SessionListRow::Session(r) => r.row(wide),
            SessionListRow::Failed(_) => Self::headers(wide)
                .iter()
                .map(|h| if *h == "status" { "ERROR" } else { "-" }.to_string())
                .collect(),
        }
    }
    fn name(&self) -> String {
        match self {
            SessionListRow::Session(r) => r.name(),
            SessionListRow::Failed(f) => f.context.clone(),
        }
    }
}

/// The sessions table with a CONTEXT column first (several contexts) and a NAMESPACE column
/// (across namespaces or contexts), as kubectl prints it.
fn session_table(rows: &[SessionListRow], wide: bool, context: bool, namespace: bool) -> Table {
    let headers = context
        .then_some("context")
        .into_iter()
        .chain(namespace.then_some("namespace"))
        .chain(SessionListRow::headers(wide));
    let mut table = Table::new(headers);
    for r in rows {
        let (ctx, ns) = match r {
            SessionListRow::Session(s) => (
                s.context.clone().unwrap_or_default(),
                s.session.namespace.clone(),
            ),
            SessionListRow::Failed(f) => (f.context.clone(), "-".into()),
        };
        let lead = context
            .then_some(ctx)
            .into_iter()
            .chain(namespace.then_some(ns));
        table.push(lead.chain(r.row(wide)));
    }
    table
}

/// The session rows of one cluster, stamped with `context` (on a fleet).
async fn session_rows(
    ctx: &Ctx,
    context: Option<String>,
    now: Timestamp,
) -> anyhow::Result<Vec<SessionListRow>> {
    let ns = (!ctx.all_namespaces).then_some(ctx.namespace.as_str());
    Ok(sessions_in(&ctx.client, ns)
        .await?
        .into_iter()
        .map(|s| {
            SessionListRow::Session(Box::new(SessionRow {
                context: context.clone(),
                expires_in: s
                    .expires_in(now)
                    .map(|d| if s.is_expired(now) { 0 } else { d.as_secs() }),
                session: s,
            }))
        })
        .collect())
}

/// Runs `list --sessions`: in the context in use, or in each context of a fleet (`--context
/// a,b`, `--all-contexts`), a context that fails becoming an `ERROR` row and the summary line.
pub async fn run_sessions(
    cli: &Cli,
    all_namespaces: bool,
    format: OutputFormat,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let targets = FleetTargets::resolve(&cli.global.cluster)?;
    let config = cli.global.load_config()?;
    let now = Timestamp::now();
    let outcomes = fan_out(&targets, |context, conn| {
        let ctx = Ctx::with_connection(cli, conn, &config, all_namespaces);
        let label = targets.label(&context);
        async move {
            let rows = session_rows(&ctx, label, now).await?;
            Ok::<_, anyhow::Error>((rows, ctx.scope_text()))
        }
    })
    .await?;
    let code = fleet::worst_exit(&outcomes, |_| 0, shared::exit::FAILURE);
    let summary = targets.is_fleet().then(|| fleet::Summary::of(&outcomes));
    let (rows, where_) = fleet::listing(&targets, outcomes, String::clone, SessionListRow::Failed);
    if rows.is_empty() && !format.is_structured() {
        eprintln!("No debug sessions found in {where_}.");
    }
    let (context_col, namespace_col) = (
        targets.shows_context(),
        all_namespaces || targets.shows_context(),
    );
    match format {
        // Across namespaces or contexts, CONTEXT and NAMESPACE columns first, as kubectl prints them.
        OutputFormat::Table | OutputFormat::Wide if namespace_col && !rows.is_empty() => out
            .write_all(
                session_table(
                    &rows,
                    format == OutputFormat::Wide,
                    context_col,
                    namespace_col,
                )
                .render()
                .as_bytes(),
            )?,
        // `-o name` names sessions; a failed context is in the summary line.
        OutputFormat::Name => {
            let sessions: Vec<SessionListRow> = rows
                .into_iter()
                .filter(|r| matches!(r, SessionListRow::Session(_)))
                .collect();
            print_list(out, format, &sessions)?
        }
        _ => print_list(out, format, &rows)?,
    }
    if let Some(summary) = summary {
        summary.print();
    }
    Ok(ExitCode::from(code))
}

/// Runs `list` (candidate targets) in the context in use.
pub async fn run(ctx: &Ctx, format: OutputFormat, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let ns = (!ctx.all_namespaces).then_some(ctx.namespace.as_str());
    let where_ = ctx.scope_text();
    let now = Timestamp::now();
    let api: Api<Pod> = match ns {
        Some(n) => Api::namespaced(ctx.client.clone(), n),
        None => Api::all(ctx.client.clone()),
    };
    let selector = format!("app.kubernetes.io/managed-by!={MANAGED_BY}");
    let pods = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| Error::kube(format!("list pods in {where_}"), e))?;
    let rows: Vec<TargetRow> = pods.items.iter().map(|p| target_row(p, now)).collect();
    if rows.is_empty() && !format.is_structured() {
        eprintln!("No resources found in {where_}.");
    }
    print_list(out, format, &rows)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_across_namespaces_name_their_namespace_and_kind() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "debugpod-copy-crashy-1", "namespace": "team-a",
                "labels": {"app.kubernetes.io/managed-by": "kubectl-debugpod", crate::session::LABEL_SESSION: "abc123"},
                "annotations": {crate::session::ANN_KIND: "copy", crate::session::ANN_TARGET: "crashy-1"}},
            "status": {"phase": "Running"}
        }))
        .unwrap();
        let rows = [SessionListRow::Session(Box::new(SessionRow {
            context: None,
            session: Session::from_pod(&pod).unwrap(),
            expires_in: Some(90),
        }))];
        let text = session_table(&rows, false, false, true).render();
        let mut lines = text.lines();
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("NAMESPACE   SESSION   KIND   TARGET"),
            "{text}"
        );
        let row = lines.next().unwrap();
        assert!(
            row.starts_with("team-a") && row.contains("abc123") && row.contains("copy"),
            "{text}"
        );
    }
}
