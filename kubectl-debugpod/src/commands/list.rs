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

use super::Ctx;
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

/// The sessions table with a NAMESPACE column first.
fn session_table(rows: &[SessionRow], wide: bool) -> Table {
    let mut table = Table::new(std::iter::once("namespace").chain(SessionRow::headers(wide)));
    for r in rows {
        table.push(std::iter::once(r.session.namespace.clone()).chain(r.row(wide)));
    }
    table
}

/// Runs `list`.
pub async fn run(
    ctx: &Ctx,
    sessions: bool,
    format: OutputFormat,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let ns = (!ctx.all_namespaces).then_some(ctx.namespace.as_str());
    let where_ = ns
        .map(|n| format!("namespace {n:?}"))
        .unwrap_or_else(|| "all namespaces".into());
    let now = Timestamp::now();
    if sessions {
        let rows: Vec<SessionRow> = sessions_in(&ctx.client, ns)
            .await?
            .into_iter()
            .map(|s| SessionRow {
                expires_in: s
                    .expires_in(now)
                    .map(|d| if s.is_expired(now) { 0 } else { d.as_secs() }),
                session: s,
            })
            .collect();
        if rows.is_empty() && !format.is_structured() {
            eprintln!("No debug sessions found in {where_}.");
        }
        match format {
            // Across namespaces, a NAMESPACE column first, as kubectl prints it.
            OutputFormat::Table | OutputFormat::Wide if ctx.all_namespaces && !rows.is_empty() => {
                out.write_all(
                    session_table(&rows, format == OutputFormat::Wide)
                        .render()
                        .as_bytes(),
                )?
            }
            _ => print_list(out, format, &rows)?,
        }
        return Ok(ExitCode::SUCCESS);
    }
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
        let rows = [SessionRow {
            session: Session::from_pod(&pod).unwrap(),
            expires_in: Some(90),
        }];
        let text = session_table(&rows, false).render();
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
