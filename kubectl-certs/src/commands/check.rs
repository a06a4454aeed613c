//! `kubectl certs check`: one verdict per certificate with graded exit codes. The verdict is
//! [`evaluate`]'s, the same evaluation `validate` prints in full: the status is the worst
//! finding, the table shows the worst finding(s), JSON carries every finding.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;
use shared::cluster::Connection;
use shared::color::{Stream, paint};
use shared::config::LoadedConfig;
use shared::fleet::{self, FailedContext, FleetTargets, fan_out};
use shared::output::{OutputFormat, Table, print_structured, write_str};

use crate::chain::Cert;
use crate::cli::{CheckArgs, CheckFormat};
use crate::evaluate::evaluate;
use crate::findings::Analysis;
use crate::findings::{Finding, Severity, Thresholds};
use crate::inspect::{now, rfc3339};
use crate::model::{self, Entry};
use crate::served;
use crate::sources;

/// One certificate's verdict.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// The kubeconfig context it was read through (set when several contexts are checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Where it was found: `certificate`, `secret`, `webhook`, `apiservice`, ...
    pub source: model::Origin,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Secret name.
    pub secret: String,
    /// Issuer (`Issuer/x`) or method, as `list` shows it.
    pub issuer: String,
    /// The worst severity.
    pub status: Severity,
    /// Whole days left, if the leaf could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_left: Option<i64>,
    /// notAfter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// Every finding.
    pub findings: Vec<Finding>,
    /// The leaf's validity window and names, for metrics.
    #[serde(skip)]
    pub leaf: Option<LeafFacts>,
}

/// What metrics need of the leaf beyond the verdict.
#[derive(Debug, Clone, Default)]
pub struct LeafFacts {
    /// notBefore, unix seconds.
    pub not_before: i64,
    /// notAfter, unix seconds.
    pub not_after: i64,
    /// The subject's CN (empty without one).
    pub subject_cn: String,
    /// The issuer's CN (empty without one).
    pub issuer_cn: String,
}

impl Verdict {
    /// The verdict on `entry` from its evaluation.
    pub fn of(entry: &Entry, analysis: Analysis, now: i64) -> Self {
        Verdict {
            context: None,
            source: entry.origin,
            namespace: entry.namespace.clone(),
            name: entry.name.clone(),
            secret: entry.secret_name.clone(),
            issuer: entry.issuer_text(),
            status: analysis.worst(),
            days_left: analysis.leaf.as_ref().map(|l| l.days_left(now)),
            not_after: analysis.leaf.as_ref().map(|l| rfc3339(l.not_after)),
            leaf: analysis.leaf.as_ref().map(|l| LeafFacts {
                not_before: l.not_before,
                not_after: l.not_after,
                subject_cn: l.common_name().unwrap_or_default().to_string(),
                issuer_cn: l.issuer_common_name().unwrap_or_default().to_string(),
            }),
            findings: analysis.findings,
        }
    }

    /// The UNKNOWN verdict of a fleet's context that could not be read (unreachable, refused,
    /// forbidden): its error is the one finding.
    pub fn context_failed(failed: FailedContext) -> Self {
        Verdict {
            context: Some(failed.context),
            source: model::Origin::Context,
            namespace: "-".into(),
            name: "-".into(),
            secret: "-".into(),
            issuer: "-".into(),
            status: Severity::Unknown,
            days_left: None,
            not_after: None,
            leaf: None,
            findings: vec![Finding {
                severity: Severity::Unknown,
                check: "context",
                message: failed.error,
                hint: None,
            }],
        }
    }

    /// The message of the worst findings, or `ok`.
    pub fn message(&self) -> String {
        let bad: Vec<&str> = self
            .findings
            .iter()
            .filter(|f| f.severity == self.status && f.severity > Severity::Info)
            .map(|f| f.message.as_str())
            .collect();
        if bad.is_empty() {
            self.findings
                .iter()
                .find(|f| f.check == "expiry")
                .map(|f| f.message.clone())
                .unwrap_or_else(|| "ok".into())
        } else {
            bad.join("; ")
        }
    }
}

/// Counts per status.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Checked.
    pub total: usize,
    /// Ok.
    pub ok: usize,
    /// Warning.
    pub warning: usize,
    /// Critical.
    pub critical: usize,
    /// Unknown.
    pub unknown: usize,
}

impl Summary {
    fn of(verdicts: &[Verdict]) -> Self {
        let mut s = Summary {
            total: verdicts.len(),
            ..Default::default()
        };
        for v in verdicts {
            match v.status {
                Severity::Ok | Severity::Info => s.ok += 1,
                Severity::Warning => s.warning += 1,
                Severity::Critical => s.critical += 1,
                Severity::Unknown => s.unknown += 1,
            }
        }
        s
    }

    fn line(&self) -> String {
        format!(
            "{} certificates checked: {} ok, {} warning, {} critical, {} unknown\n",
            self.total, self.ok, self.warning, self.critical, self.unknown
        )
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    api_version: &'static str,
    kind: &'static str,
    summary: &'a Summary,
    items: &'a [Verdict],
}

/// Runs `check`.
pub async fn run(
    args: &CheckArgs,
    global: &shared::cli::GlobalArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let all_ns = args.select.all_namespaces.all_namespaces;
    if all_ns && !args.names.is_empty() {
        return Err(shared::Error::Usage {
            message: "names cannot be combined with -A".into(),
            hint: Some("use -n NAMESPACE NAME...".into()),
        }
        .into());
    }
    if args.chunk.chunk_size.is_some() && !args.names.is_empty() {
        return Err(shared::Error::Usage {
            message: "--chunk-size pages the LISTs of every certificate in scope; names are looked up on their own".into(),
            hint: Some("drop --chunk-size, or the names".into()),
        }
        .into());
    }
    if !args.names.is_empty() && (!args.sources.sources.is_empty() || args.sources.include_opaque) {
        return Err(shared::Error::Usage {
            message: "--source and --include-opaque choose what to read in scope; names are looked up on their own".into(),
            hint: Some("drop the names, or --source/--include-opaque (a source row's name, e.g. apiservice/NAME, is a name too)".into()),
        }
        .into());
    }
    if args.endpoint.is_some() && args.names.len() != 1 {
        return Err(shared::Error::Usage {
            message: "--endpoint compares one certificate".into(),
            hint: Some("give exactly one NAME with --endpoint".into()),
        }
        .into());
    }
    let endpoint = args
        .endpoint
        .as_deref()
        .map(served::parse_endpoint)
        .transpose()?;
    let anchors = super::load_ca_file(args.ca_file.as_deref())?;
    if endpoint.is_some() {
        fleet::refuse_fleet(&global.cluster, "`certs check --endpoint`")?;
    }
    let config = global.load_config()?;
    let targets = FleetTargets::resolve(&global.cluster)?;
    let outcomes = fan_out(&targets, |context, conn| {
        let context = targets.label(&context);
        run_one_context(
            args,
            global,
            &config,
            &anchors,
            endpoint.as_ref(),
            conn,
            context,
        )
    })
    .await?;
    let prometheus_context = match outcomes.as_slice() {
        [one] if !targets.is_fleet() => one.context.clone(),
        _ => String::new(),
    };
    let fleet_summary = targets.is_fleet().then(|| fleet::Summary::of(&outcomes));
    // A context that failed is one UNKNOWN verdict.
    let verdicts = fleet::rows(outcomes, Verdict::context_failed);
    let summary = Summary::of(&verdicts);
    let worst = verdicts
        .iter()
        .map(|v| v.status)
        .max()
        .unwrap_or(Severity::Ok);
    match args.output {
        CheckFormat::Json | CheckFormat::Yaml => {
            let report = Report {
                api_version: shared::output::LIST_API_VERSION,
                kind: "CheckReport",
                summary: &summary,
                items: &verdicts,
            };
            let format = if args.output == CheckFormat::Json {
                OutputFormat::Json
            } else {
                OutputFormat::Yaml
            };
            print_structured(out, format, &report)?;
        }
        CheckFormat::Prometheus => {
            let text = crate::prometheus::render(&verdicts, &prometheus_context, now())
                .context("rendering the verdicts as Prometheus text")?;
            write_str(out, &text)?;
        }
        CheckFormat::Text => {
            // Several contexts: a CONTEXT column first.
            let context_column = targets.shows_context();
            let mut table = Table::new(context_column.then_some("context").into_iter().chain([
                "namespace",
                "name",
                "source",
                "status",
                "days left",
                "not after",
                "message",
            ]));
            for v in &verdicts {
                let context = context_column.then(|| v.context.clone().unwrap_or_default());
                table.push(
                    context.into_iter().chain([
                        v.namespace.clone(),
                        v.name.clone(),
                        v.source.as_str().to_string(),
                        paint(Stream::Stdout, v.status.tone(), v.status.label()),
                        v.days_left
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| "-".into()),
                        v.not_after.clone().unwrap_or_else(|| "-".into()),
                        v.message(),
                    ]),
                );
            }
            if !verdicts.is_empty() {
                write_str(out, &table.render())?;
            }
            write_str(out, &summary.line())?;
        }
    }
    if let Some(fleet_summary) = fleet_summary {
        fleet_summary.print();
    }
    Ok(ExitCode::from(worst.exit_code()))
}

/// The verdicts of one cluster: the context in use, or one context of a fleet (`context` is
/// then stamped on every verdict).
async fn run_one_context(
    args: &CheckArgs,
    global: &shared::cli::GlobalArgs,
    config: &LoadedConfig,
    anchors: &[Cert],
    endpoint: Option<&served::Endpoint>,
    conn: Connection,
    context: Option<String>,
) -> anyhow::Result<Vec<Verdict>> {
    let scope = global.namespace_scope(args.select.all_namespaces.all_namespaces, &conn, config);
    let thresholds = Thresholds {
        warn: args.thresholds.warn,
        crit: args.thresholds.crit,
    };
    let now = now();
    let mut verdicts = if args.names.is_empty() {
        // The same certificates `list` shows: with no selector, also the config's named
        // certificates whose Secret is missing (a deleted Secret must not vanish from monitoring).
        // Each page of Secrets becomes verdicts before the next is read (see `scan`).
        let verdict = |e: &Entry| Verdict::of(e, evaluate(e, anchors, thresholds, now), now);
        let (verdicts, _) = super::graded_rows(
            global,
            &conn,
            &config.config,
            &scope,
            args.select.selector.as_deref(),
            &args.sources,
            args.chunk.get(),
            verdict,
            |v: &Verdict| v.source,
        )
        .await?;
        verdicts
    } else {
        let entries =
            sources::resolve_for(global, &conn, &config.config, &scope, &args.names).await?;
        let mut verdicts = Vec::with_capacity(entries.len());
        for e in &entries {
            let mut a = evaluate(e, anchors, thresholds, now);
            if let (Some(ep), Some(text)) = (&endpoint, &args.endpoint) {
                served::assess(
                    &mut a,
                    &conn.client,
                    &e.namespace,
                    ep,
                    text,
                    thresholds,
                    now,
                )
                .await;
            }
            verdicts.push(Verdict::of(e, a, now));
        }
        verdicts
    };
    for v in &mut verdicts {
        v.context = context.clone();
    }
    Ok(verdicts)
}
