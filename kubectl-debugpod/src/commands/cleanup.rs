//! `cleanup`: deletes this tool's debug pods — selected by the managed-by label, never by name
//! alone, so a pod this tool did not make is never touched.

use std::io::Write;
use std::process::ExitCode;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use shared::Error;
use shared::prompt::{Answer, confirm};

use shared::fleet::{self, FleetTargets, fan_out};

use super::{Ctx, delete_session};
use crate::cli::Cli;

use crate::session::{Session, SessionKind};

/// Which sessions `cleanup` picks.
pub fn select<'a>(
    sessions: &'a [Session],
    names: &[String],
    all: bool,
    expired: bool,
    now: Timestamp,
) -> Vec<&'a Session> {
    sessions
        .iter()
        .filter(|s| {
            if all {
                return true;
            }
            let named = names.iter().any(|n| *n == s.id || *n == s.pod);
            let by_expiry = (expired || names.is_empty()) && s.is_expired(now);
            named || by_expiry
        })
        .collect()
}

/// What a session is, in words: `debug pod of T`, `copy of T`, `node session on N`.
fn what(s: &Session) -> String {
    match s.kind {
        SessionKind::Pod => format!("debug pod of {}", s.target),
        SessionKind::Copy => format!("copy of {}", s.target),
        SessionKind::Node => format!("node session on {}", s.node),
    }
}

/// Where a session is: `namespace n`, or on a fleet `context c, namespace n`.
fn place(context: Option<&str>, s: &Session) -> String {
    match context {
        Some(c) => format!("context {c}, namespace {}", s.namespace),
        None => format!("namespace {}", s.namespace),
    }
}

/// One line about a session for the plan and the summary.
fn describe(context: Option<&str>, s: &Session) -> String {
    format!(
        "pod/{} in {} (session {}, {}, {}{})",
        s.pod,
        place(context, s),
        s.id,
        what(s),
        s.phase,
        s.reason
            .as_ref()
            .map(|r| format!("/{r}"))
            .unwrap_or_default()
    )
}

/// What `cleanup` was asked to do.
#[derive(Debug, Clone, Copy)]
pub struct Choice<'a> {
    /// Sessions (ids or pod names) named on the command line.
    pub names: &'a [String],
    /// `--expired`.
    pub expired: bool,
    /// `--all`.
    pub all: bool,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--yes`.
    pub yes: bool,
}

/// The sessions of one cluster.
struct Gathered {
    /// The context, on a fleet.
    context: Option<String>,
    ctx: Ctx,
    sessions: Vec<Session>,
}

/// Checks every named session exists (one context: names are per cluster).
fn check_names(g: &Gathered, names: &[String]) -> anyhow::Result<()> {
    for n in names {
        if !g.sessions.iter().any(|s| s.id == *n || s.pod == *n) {
            return Err(Error::NotFound {
                kind: "debug session",
                name: n.clone(),
                namespace: None,
                suggestions: shared::suggest::close_matches(
                    n,
                    g.sessions
                        .iter()
                        .flat_map(|s| [s.id.as_str(), s.pod.as_str()]),
                ),
                list_hint: Some(format!(
                    "list sessions with `kubectl debugpod list --sessions{}`",
                    if g.ctx.all_namespaces { " -A" } else { "" }
                )),
            }
            .into());
        }
    }
    Ok(())
}

/// Runs `cleanup`: gathers the sessions (in the context in use, or in each context of a fleet,
/// where a context that fails is left out and named in the summary line), picks them, shows
/// them, asks once (unless `--yes`; refuses without a terminal), deletes them.
pub async fn run(
    cli: &Cli,
    all_namespaces: bool,
    choice: &Choice<'_>,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    if !choice.names.is_empty() {
        fleet::refuse_fleet(&cli.global.cluster, "`debugpod cleanup SESSION...`")?;
    }
    let targets = FleetTargets::resolve(&cli.global.cluster)?;
    let config = cli.global.load_config()?;
    let outcomes = fan_out(&targets, |context, conn| {
        let ctx = Ctx::with_connection(cli, conn, &config, all_namespaces);
        let context = targets.label(&context);
        async move {
            let ns = (!ctx.all_namespaces).then_some(ctx.namespace.as_str());
            let sessions = super::list::sessions_in(&ctx.client, ns).await?;
            Ok::<_, anyhow::Error>(Gathered {
                context,
                ctx,
                sessions,
            })
        }
    })
    .await?;
    let mut code = fleet::worst_exit(&outcomes, |_| 0, shared::exit::FAILURE);
    if targets.is_fleet() {
        // Before the plan: the question must not hide that a context is missing from it.
        fleet::Summary::of(&outcomes).print();
    }
    let gathered: Vec<Gathered> = outcomes.into_iter().filter_map(|o| o.result.ok()).collect();
    if let [one] = gathered.as_slice() {
        check_names(one, choice.names)?;
    }
    let now = Timestamp::now();
    let mut total = 0;
    let mut kept = 0;
    let mut plan: Vec<(&Gathered, Vec<&Session>)> = Vec::new();
    for g in &gathered {
        let chosen = select(&g.sessions, choice.names, choice.all, choice.expired, now);
        total += chosen.len();
        kept += g.sessions.len() - chosen.len();
        plan.push((g, chosen));
    }
    if total == 0 {
        eprintln!("nothing to clean up");
    } else if choice.dry_run {
        for (g, chosen) in &plan {
            for s in chosen {
                writeln!(
                    out,
                    "{} would be deleted (dry run)",
                    describe(g.context.as_deref(), s)
                )?;
            }
        }
    } else {
        eprintln!("debug pods to delete:");
        for (g, chosen) in &plan {
            for s in chosen {
                eprintln!("  {}", describe(g.context.as_deref(), s));
            }
        }
        confirm(
            Answer::from_flag(choice.yes),
            &format!("delete {total} debug pod(s)"),
            &format!("Delete these {total} debug pod(s)?"),
        )?;
        for (g, chosen) in &plan {
            for s in chosen {
                let api: Api<Pod> = Api::namespaced(g.ctx.client.clone(), &s.namespace);
                match delete_session(&api, &s.pod).await {
                    Ok(()) => {}
                    // On a fleet one cluster's failure does not stop the others.
                    Err(e) if targets.is_fleet() => {
                        let e: &(dyn std::error::Error + Send + Sync + 'static) = e.as_ref();
                        shared::exit::warn(format!(
                            "pod/{} in {}: {}",
                            s.pod,
                            place(g.context.as_deref(), s),
                            shared::exit::render_chain(e)
                        ));
                        code = code.max(shared::exit::FAILURE);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
                writeln!(
                    out,
                    "pod/{} deleted (session {}, {}, {})",
                    s.pod,
                    s.id,
                    what(s),
                    place(g.context.as_deref(), s)
                )?;
            }
        }
    }
    if kept > 0 && !choice.all && choice.names.is_empty() {
        eprintln!("{kept} running session(s) kept; `--all` deletes them too");
    }
    Ok(ExitCode::from(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(id: &str, phase: &str, expires: &str) -> Session {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("debugpod-t-{id}"), "namespace": "n",
                "labels": {"app.kubernetes.io/managed-by": "kubectl-debugpod", crate::session::LABEL_SESSION: id},
                "annotations": {crate::session::ANN_EXPIRES_AT: expires}},
            "status": {"phase": phase}
        }))
        .unwrap();
        Session::from_pod(&pod).unwrap()
    }

    #[test]
    fn default_picks_expired_and_finished_only() {
        let now: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        let all = [
            s("a", "Running", "2030-01-01T01:00:00Z"),
            s("b", "Running", "2029-12-31T00:00:00Z"),
            s("c", "Failed", "2030-01-01T01:00:00Z"),
        ];
        let ids: Vec<&str> = select(&all, &[], false, false, now)
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(ids, ["b", "c"]);
        let ids: Vec<&str> = select(&all, &["a".into()], false, false, now)
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(ids, ["a"]);
        assert_eq!(select(&all, &[], true, false, now).len(), 3);
    }
}
