//! One rotation, step by step: [`super::decide`] says which step runs next, this module runs
//! it and records what happened, until there is nothing left to do.

use shared::color::{Stream, Tone, paint};

use crate::evaluate::evaluate;
use crate::findings::{Severity, Thresholds};
use crate::inspect::now;
use crate::model::Entry;
use crate::rotation::RotationReport;

use super::decide::{self, Backup, Facts, Next, Step, Subject};
use super::plan::Plan;
use super::rollback::{self, Before};
use super::{Ctx, issue, progress, restart, verify};

/// Rotates one certificate end to end. Returns its report (outcome, reason, what to do next)
/// and the errors to print, in order.
pub async fn rotate_one(
    ctx: &Ctx<'_>,
    entry: &Entry,
    plan: Plan,
) -> (RotationReport, Vec<anyhow::Error>) {
    let mut report = RotationReport::new(
        &entry.namespace,
        &entry.name,
        &entry.secret_name,
        plan.as_str(),
    );
    eprintln!(
        "{} {} ({})",
        paint(Stream::Stderr, Tone::Strong, "rotating"),
        entry.key(),
        plan.as_str()
    );
    preflight(entry, &mut report);
    let subject = Subject {
        namespace: entry.namespace.clone(),
        name: entry.name.clone(),
        secret: entry.secret_name.clone(),
    };
    let mut facts = Facts::new(subject, ctx.endpoint.is_some());
    let mut before = Before::default();
    let mut after_leaf = None;
    loop {
        match decide::next(&facts) {
            Next::Conclude => break,
            Next::Run(Step::Backup) => {
                facts.backup = Some(match rollback::take_backup(ctx, entry, &mut report).await {
                    Ok((backup, found)) => {
                        before = found;
                        backup
                    }
                    Err(e) => Backup::Failed(e),
                });
            }
            Next::Run(Step::Issue) => {
                let issued =
                    issue::issue(ctx, entry, plan, before.secret.as_ref(), &mut report).await;
                facts.issuance = Some(issued);
            }
            Next::Run(Step::CheckSecret) => {
                let checked =
                    verify::check_secret(ctx, entry, before.leaf.as_ref(), &mut report).await;
                facts.secret_check = Some(checked.map(|leaf| after_leaf = Some(leaf)));
            }
            Next::Run(Step::Restart) => {
                let restarted =
                    restart::restart_all(ctx, &before.workloads, &mut report, &mut facts.restarted)
                        .await;
                facts.restart = Some(restarted);
            }
            Next::Run(Step::VerifyServed) => {
                let served = match &after_leaf {
                    Some(leaf) => verify::served(ctx, entry, leaf, &mut report).await,
                    None => Err(anyhow::anyhow!(
                        "verification failed: no new certificate to look for at the endpoint"
                    )),
                };
                facts.served = Some(served);
            }
            Next::Run(Step::Rollback) => {
                let restored = match report.backup.clone() {
                    Some(dir) => rollback::restore(ctx, entry, &dir, &mut report).await,
                    None => decide::Restore::Failed(anyhow::anyhow!("no backup was taken")),
                };
                facts.restore = Some(restored);
            }
        }
    }
    let conclusion = decide::conclude(facts);
    report.outcome = conclusion.outcome;
    let rendered: Vec<String> = conclusion
        .errors
        .iter()
        .map(|e| shared::exit::render_chain(e.as_ref()))
        .collect();
    report.reason = rendered.first().cloned();
    report.rollback_error = rendered.get(1).cloned();
    report.next_step = conclusion
        .errors
        .last()
        .and_then(|e| shared::exit::find_hint(e.as_ref()));
    (report, conclusion.errors)
}

/// Pre-flight validation, informational: a broken certificate is a reason to rotate.
fn preflight(entry: &Entry, report: &mut RotationReport) {
    let pre = evaluate(entry, &[], Thresholds::default(), now());
    for f in pre
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
    {
        report
            .warnings
            .push(format!("before: {} ({})", f.message, f.severity.label()));
        progress(format!("pre-flight {}: {}", f.severity.label(), f.message));
    }
}
