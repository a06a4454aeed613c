//! `cleanup`: deletes this tool's debug pods — selected by the managed-by label, never by name
//! alone, so a pod this tool did not make is never touched.

use std::io::Write;
use std::process::ExitCode;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use shared::Error;
use shared::prompt::{Answer, confirm};

use super::{Ctx, delete_session};

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

/// One line about a session for the plan and the summary.
fn describe(s: &Session) -> String {
    format!(
        "pod/{} in namespace {} (session {}, {}, {}{})",
        s.pod,
        s.namespace,
        s.id,
        what(s),
        s.phase,
        s.reason
            .as_ref()
            .map(|r| format!("/{r}"))
            .unwrap_or_default()
    )
}

/// Runs `cleanup`: picks the sessions, shows them, asks (unless `--yes`; refuses without a
/// terminal), deletes them.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    ctx: &Ctx,
    names: &[String],
    expired: bool,
    all: bool,
    dry_run: bool,
    yes: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let ns = (!ctx.all_namespaces).then_some(ctx.namespace.as_str());
    let sessions = super::list::sessions_in(&ctx.client, ns).await?;
    for n in names {
        if !sessions.iter().any(|s| s.id == *n || s.pod == *n) {
            return Err(Error::NotFound {
                kind: "debug session",
                name: n.clone(),
                namespace: None,
                suggestions: shared::suggest::close_matches(
                    n,
                    sessions
                        .iter()
                        .flat_map(|s| [s.id.as_str(), s.pod.as_str()]),
                ),
                list_hint: Some(format!(
                    "list sessions with `kubectl debugpod list --sessions{}`",
                    if ctx.all_namespaces { " -A" } else { "" }
                )),
            }
            .into());
        }
    }
    let now = Timestamp::now();
    let chosen = select(&sessions, names, all, expired, now);
    let kept = sessions.len() - chosen.len();
    if chosen.is_empty() {
        eprintln!("nothing to clean up");
    } else if dry_run {
        for s in &chosen {
            writeln!(out, "{} would be deleted (dry run)", describe(s))?;
        }
    } else {
        eprintln!("debug pods to delete:");
        for s in &chosen {
            eprintln!("  {}", describe(s));
        }
        confirm(
            Answer::from_flag(yes),
            &format!("delete {} debug pod(s)", chosen.len()),
            &format!("Delete these {} debug pod(s)?", chosen.len()),
        )?;
        for s in &chosen {
            let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &s.namespace);
            delete_session(&api, &s.pod).await?;
            writeln!(
                out,
                "pod/{} deleted (session {}, {}, namespace {})",
                s.pod,
                s.id,
                what(s),
                s.namespace
            )?;
        }
    }
    if kept > 0 && !all && names.is_empty() {
        eprintln!("{kept} running session(s) kept; `--all` deletes them too");
    }
    Ok(ExitCode::SUCCESS)
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
