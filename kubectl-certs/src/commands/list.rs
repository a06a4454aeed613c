//! `kubectl certs list`: every certificate in scope, one LIST per resource type. The status
//! and the days-left colour come from [`evaluate`], the evaluation `check` and `validate`
//! grade with, so `list` never calls a certificate healthy that `check` calls critical.

use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;
use shared::cluster::{Connection, NamespaceScope};
use shared::color::{Stream, Tone, paint};
use shared::config::LoadedConfig;
use shared::fleet::{self, FailedContext, FleetTargets, fan_out};
use shared::output::{OutputFormat, Printable, Table, print_list, write_str};

use crate::cli::ListArgs;
use crate::evaluate::evaluate;
use crate::findings::{Severity, Thresholds, parse_certs};
use crate::inspect::{now, rfc3339};
use crate::model::{self, Entry};

/// One row of `list`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRow {
    /// The kubeconfig context it was read through (set when several contexts are listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Where it was found: `certificate`, `secret`, `webhook`, `apiservice`, ...
    pub source: model::Origin,
    /// Namespace.
    pub namespace: String,
    /// Certificate (or Secret) name.
    pub name: String,
    /// The config's name for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_name: Option<String>,
    /// Secret name.
    pub secret: String,
    /// What issues it: `cert-manager`, `vault` or `unmanaged`.
    pub managed_by: model::Manager,
    /// Issuer (`Issuer/x`) or method.
    pub issuer: String,
    /// Ready condition (`True`, `False (Reason)`), or `-` without a Certificate; `Missing`
    /// when the Secret does not exist.
    pub ready: String,
    /// The worst finding's severity: the status `check` prints for this certificate.
    pub status: Severity,
    /// Leaf notAfter (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// Whole days left (negative: expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_left: Option<i64>,
    /// Leaf subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Leaf SANs.
    pub sans: Vec<String>,
    /// Leaf SHA-256 fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Why the certificate could not be read, if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The severity of the expiry finding (colours the days left).
    #[serde(skip)]
    expiry: Option<Severity>,
}

/// Builds a row (a bad Secret becomes a row with an error, never aborts the listing). Without
/// `--ca-file`, as `check` and `validate` without it.
pub fn row(e: &Entry, thresholds: Thresholds, now: i64) -> ListRow {
    let analysis = evaluate(e, &[], thresholds, now);
    let mut r = ListRow {
        context: None,
        source: e.origin,
        namespace: e.namespace.clone(),
        name: e.name.clone(),
        config_name: e.config_name.clone(),
        secret: e.secret_name.clone(),
        managed_by: e.manager,
        issuer: e.issuer_text(),
        ready: e
            .certificate
            .as_ref()
            .map(|c| c.ready_text())
            .unwrap_or_else(|| "-".into()),
        status: analysis.worst(),
        not_after: None,
        days_left: None,
        subject: None,
        sans: Vec::new(),
        sha256: None,
        error: None,
        expiry: analysis
            .findings
            .iter()
            .filter(|f| f.check == "expiry")
            .map(|f| f.severity)
            .max(),
    };
    if let Some(u) = e.found.as_ref().and_then(|f| f.unreadable.as_ref()) {
        r.error = Some(u.message.clone());
        return r;
    }
    let own = e.found.as_ref().is_some_and(|f| f.own_material());
    if e.secret.is_none() && !own {
        r.ready = "Missing".into();
        r.error = Some("Secret not found".into());
        return r;
    }
    let material = e.material();
    let Some(crt) = material.tls_crt else {
        r.error = Some(format!("no {}", material.crt_label.unwrap_or("tls.crt")));
        return r;
    };
    match &analysis.leaf {
        Some(leaf) => {
            r.not_after = Some(rfc3339(leaf.not_after));
            r.days_left = Some(leaf.days_left(now));
            r.subject = Some(leaf.subject.clone());
            r.sans = leaf.all_sans();
            r.sha256 = Some(leaf.sha256.clone());
        }
        None => {
            r.error = Some(
                parse_certs(crt)
                    .1
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "no certificate".into()),
            )
        }
    }
    r
}

impl ListRow {
    /// The UNKNOWN row of a fleet's context that could not be read (unreachable, refused,
    /// forbidden), with the error.
    pub fn context_failed(failed: FailedContext) -> Self {
        ListRow {
            context: Some(failed.context),
            source: model::Origin::Context,
            namespace: "-".into(),
            name: "-".into(),
            config_name: None,
            secret: "-".into(),
            managed_by: model::Manager::Unmanaged,
            issuer: "-".into(),
            ready: "-".into(),
            status: Severity::Unknown,
            not_after: None,
            days_left: None,
            subject: None,
            sans: Vec::new(),
            sha256: None,
            error: Some(failed.error),
            expiry: None,
        }
    }

    fn days_cell(&self) -> String {
        let Some(d) = self.days_left else {
            return match (&self.error, self.ready.as_str()) {
                (Some(_), "Missing") | (None, _) => "-".into(),
                (Some(_), _) => paint(Stream::Stdout, Tone::Bad, "ERROR"),
            };
        };
        let tone = self.expiry.map(Severity::tone).unwrap_or(Tone::Dim);
        let text = if d < 0 {
            format!("{d} (expired)")
        } else {
            d.to_string()
        };
        paint(Stream::Stdout, tone, text)
    }
}

impl Printable for ListRow {
    const KIND: &'static str = "Certificate";

    fn headers(wide: bool) -> Vec<&'static str> {
        let mut h = vec![
            "namespace",
            "name",
            "source",
            "secret",
            "issuer/method",
            "ready",
            "status",
            "not after",
            "days left",
        ];
        if wide {
            h.extend(["subject", "sans"]);
        }
        h
    }

    fn row(&self, wide: bool) -> Vec<String> {
        let ready = match self.ready.as_str() {
            "True" => paint(Stream::Stdout, Tone::Good, "True"),
            "-" => "-".into(),
            other => paint(Stream::Stdout, Tone::Bad, other),
        };
        let mut r = vec![
            self.namespace.clone(),
            self.name.clone(),
            self.source.as_str().to_string(),
            self.secret.clone(),
            self.issuer.clone(),
            ready,
            paint(Stream::Stdout, self.status.tone(), self.status.label()),
            self.not_after.clone().unwrap_or_else(|| "-".into()),
            self.days_cell(),
        ];
        if wide {
            r.push(
                self.subject
                    .clone()
                    .or_else(|| self.error.clone())
                    .unwrap_or_default(),
            );
            r.push(self.sans.join(","));
        }
        r
    }

    fn name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Runs `list`: in the context in use, or in each context of a fleet (`--context a,b`,
/// `--all-contexts`), a context that fails being one UNKNOWN row and the summary line.
pub async fn run(
    args: &ListArgs,
    global: &shared::cli::GlobalArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let config = global.load_config()?;
    let targets = FleetTargets::resolve(&global.cluster)?;
    let outcomes = fan_out(&targets, |context, conn| {
        let context = targets.label(&context);
        run_one_context(args, global, &config, conn, context)
    })
    .await?;
    let code = fleet::worst_exit(&outcomes, |_| 0, shared::exit::FAILURE);
    let fleet_summary = targets.is_fleet().then(|| fleet::Summary::of(&outcomes));
    let (rows, where_) = fleet::listing(
        &targets,
        outcomes,
        |scope| scope.describe(),
        ListRow::context_failed,
    );
    if rows.is_empty() && !args.output.output.is_structured() {
        eprintln!("No certificates found in {where_}.");
    }
    match args.output.output {
        // Several contexts: a CONTEXT column first.
        OutputFormat::Table | OutputFormat::Wide if targets.shows_context() && !rows.is_empty() => {
            let wide = args.output.output == OutputFormat::Wide;
            let mut table = Table::new(std::iter::once("context").chain(ListRow::headers(wide)));
            for r in &rows {
                table.push(
                    std::iter::once(r.context.clone().unwrap_or_default()).chain(r.row(wide)),
                );
            }
            write_str(out, &table.render())?;
        }
        format => print_list(out, format, &rows)?,
    }
    if let Some(fleet_summary) = fleet_summary {
        fleet_summary.print();
    }
    Ok(ExitCode::from(code))
}

/// The rows of one cluster: the context in use, or one context of a fleet (`context` is then
/// stamped on every row), and the namespace scope they were read in.
async fn run_one_context(
    args: &ListArgs,
    global: &shared::cli::GlobalArgs,
    config: &LoadedConfig,
    conn: Connection,
    context: Option<String>,
) -> anyhow::Result<(Vec<ListRow>, NamespaceScope)> {
    let scope = global.namespace_scope(args.select.all_namespaces.all_namespaces, &conn, config);
    let thresholds = Thresholds {
        warn: args.thresholds.warn,
        crit: args.thresholds.crit,
    };
    let now = now();
    // Each page of Secrets becomes rows before the next is read (see `scan`).
    let (mut rows, scanned) = super::graded_rows(
        global,
        &conn,
        &config.config,
        &scope,
        args.select.selector.as_deref(),
        &args.sources,
        args.chunk.get(),
        |e: &Entry| row(e, thresholds, now),
        |r: &ListRow| r.source,
    )
    .await?;
    if scanned.no_cert_manager {
        shared::exit::warn(format!(
            "{}cert-manager's Certificate CRD is not installed; listing TLS Secrets only",
            context
                .as_deref()
                .map(|c| format!("context {c}: "))
                .unwrap_or_default()
        ));
    }
    for r in &mut rows {
        r.context = context.clone();
    }
    Ok((rows, scope))
}
