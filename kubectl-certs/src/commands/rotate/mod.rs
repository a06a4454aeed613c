//! `kubectl certs rotate`: validate, back up, re-issue (cert-manager or Vault/OpenBao), restart
//! what mounts the Secret, verify, and restore the backup when verification fails.
//!
//! One module per step — [`plan`], [`rollback`] (the backup and putting it back), [`issue`] and
//! [`issue_vault`], [`restart`], [`verify`] — driven by [`execute`], which asks the pure
//! [`decide`] which step runs next and how the rotation ended.

pub mod decide;
mod execute;
mod issue;
mod issue_vault;
pub mod plan;
mod restart;
mod rollback;
mod verify;

use std::io::Write;
use std::process::ExitCode;

use shared::color::{Stream, Tone, paint};
use shared::config::Config;
use shared::output::{print_structured, write_str};
use shared::prompt::{Answer, confirm};

use crate::chain::Cert;
use crate::cli::RotateArgs;
use crate::findings::parse_certs;
use crate::inspect::now;
use crate::model;
use crate::rotation::{Outcome, RotationReport, Snapshot};
use crate::served;

/// Exit code when an issuance did not finish within --timeout (as `cmctl check api`).
pub const EXIT_TIMEOUT: u8 = 124;

/// What every step of a run needs.
struct Ctx<'a> {
    client: kube::Client,
    config: &'a Config,
    args: &'a RotateArgs,
    endpoint: Option<served::Endpoint>,
}

/// The first certificate in `bytes` (the leaf), if any.
fn leaf_of(bytes: Option<&[u8]>) -> Option<Cert> {
    bytes
        .map(parse_certs)
        .and_then(|(c, _)| c.into_iter().next())
}

/// One progress line on stderr.
fn progress(line: String) {
    eprintln!("  {} {line}", paint(Stream::Stderr, Tone::Dim, "·"));
}

/// Runs `rotate`.
pub async fn run(
    args: &RotateArgs,
    global: &shared::cli::GlobalArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let bulk = plan::is_bulk(args);
    if args.names.is_empty() && !bulk {
        return Err(shared::Error::Usage {
            message:
                "say what to rotate: NAME..., or --all / -l SELECTOR / --expiring-within / --issuer"
                    .into(),
            hint: Some("`kubectl certs list` shows the certificates; try --dry-run first".into()),
        }
        .into());
    }
    if !args.names.is_empty() && (args.all || args.select.selector.is_some()) {
        return Err(shared::Error::Usage {
            message: "names cannot be combined with --all or -l".into(),
            hint: None,
        }
        .into());
    }
    let endpoint = args
        .endpoint
        .as_deref()
        .map(served::parse_endpoint)
        .transpose()?;
    let (config, conn, scope) =
        super::setup(global, args.select.all_namespaces.all_namespaces).await?;
    let now = now();
    let candidates = if args.names.is_empty() {
        let inv = model::load(&conn.client, &scope, args.select.selector.as_deref()).await?;
        model::entries(&inv, &config.config, &scope, false)
    } else {
        super::one_namespace(&scope, "rotate")?;
        model::resolve(&conn.client, &config.config, &scope, &args.names).await?
    };
    let targets = plan::select(candidates, args, now);
    if targets.is_empty() {
        eprintln!("nothing to rotate in {}", scope.describe());
        return Ok(ExitCode::SUCCESS);
    }
    let plans = plan::plans(&targets, args, &config.config)?;
    let mut table = plan::table();
    let mut planned_reports = Vec::new();
    for (e, p) in &plans {
        let workloads = if args.no_restart {
            Vec::new()
        } else {
            crate::restart::find(&conn.client, &e.namespace, &e.secret_name).await?
        };
        let (row, report) = plan::planned(e, *p, workloads, now);
        table.push(row);
        planned_reports.push(report);
    }
    if args.dry_run {
        if args.output.output.is_structured() {
            print_structured(out, args.output.output, &planned_reports)?;
        } else {
            write_str(out, &table.render())?;
            write_str(
                out,
                &format!(
                    "dry run: {} certificate(s) would be backed up, re-issued and verified; nothing was changed\n",
                    plans.len()
                ),
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    eprint!("{}", table.render());
    let names: Vec<String> = plans.iter().map(|(e, _)| e.key()).collect();
    confirm(
        Answer::from_flag(args.yes),
        &format!("rotate {}", names.join(", ")),
        &format!("Rotate {} certificate(s)?", plans.len()),
    )?;
    let ctx = Ctx {
        client: conn.client.clone(),
        config: &config.config,
        args,
        endpoint,
    };
    let mut reports = Vec::new();
    for (e, p) in &plans {
        let (mut r, errors) = execute::rotate_one(&ctx, e, *p).await;
        match r.write(&config.config.reports_dir) {
            Ok(path) => progress(format!("report: {}", path.display())),
            Err(err) => shared::exit::warn(format!(
                "cannot write the report: {}",
                shared::exit::render_chain(err.as_ref())
            )),
        }
        for err in &errors {
            shared::exit::report(err.as_ref());
        }
        reports.push(r);
    }
    if args.output.output.is_structured() {
        print_structured(out, args.output.output, &reports)?;
    } else {
        write_str(out, &summary(&reports))?;
    }
    Ok(ExitCode::from(decide::exit_code(
        reports.iter().map(|r| r.outcome),
    )))
}

/// The text summary on stdout: one line per rotation, its changes, what to do, its report.
fn summary(reports: &[RotationReport]) -> String {
    let fp = |s: &Option<Snapshot>| {
        s.as_ref()
            .map(|s| s.sha256.chars().take(23).collect::<String>())
            .unwrap_or_else(|| "-".into())
    };
    let mut text = String::new();
    for r in reports {
        let tone = if r.outcome == Outcome::Rotated {
            Tone::Good
        } else {
            Tone::Bad
        };
        text.push_str(&format!(
            "{} {}/{} ({}): sha256 {} -> {}\n",
            paint(Stream::Stdout, tone, r.outcome.label()),
            r.namespace,
            r.name,
            r.method,
            fp(&r.before),
            fp(&r.after)
        ));
        for c in &r.changes {
            text.push_str(&format!("  {c}\n"));
        }
        if let Some(next) = &r.next_step {
            text.push_str(&format!("  next: {next}\n"));
        }
        if let Some(p) = &r.report_path {
            text.push_str(&format!("  report: {}\n", p.display()));
        }
    }
    text
}
