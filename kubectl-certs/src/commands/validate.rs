//! `kubectl certs validate NAME`: every check, each finding with a severity and a fix hint.
//! The findings are [`evaluate`]'s, the same evaluation `check` and `list` grade with.

use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;
use shared::color::{Stream, Tone, paint};
use shared::output::{print_structured, write_str};

use crate::cli::ValidateArgs;
use crate::evaluate::evaluate;
use crate::findings::{Finding, Severity, Thresholds};
use crate::inspect::{CertInfo, now};
use crate::served;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    api_version: &'static str,
    kind: &'static str,
    namespace: &'a str,
    name: &'a str,
    secret: &'a str,
    status: Severity,
    chain: Vec<&'a CertInfo>,
    findings: &'a [Finding],
}

/// Runs `validate`.
pub async fn run(
    args: &ValidateArgs,
    global: &shared::cli::GlobalArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let endpoint = args
        .endpoint
        .as_deref()
        .map(served::parse_endpoint)
        .transpose()?;
    let anchors = super::load_ca_file(args.ca_file.as_deref())?;
    let (config, conn, scope) = super::setup(global, false).await?;
    let entry = crate::sources::resolve_for(
        global,
        &conn,
        &config.config,
        &scope,
        std::slice::from_ref(&args.name),
    )
    .await?
    .remove(0);
    let thresholds = Thresholds {
        warn: args.thresholds.warn,
        crit: args.thresholds.crit,
    };
    let now = now();
    let mut a = evaluate(&entry, &anchors, thresholds, now);
    if let (Some(ep), Some(text)) = (&endpoint, &args.endpoint) {
        served::assess(
            &mut a,
            &conn.client,
            &entry.namespace,
            ep,
            text,
            thresholds,
            now,
        )
        .await;
    }
    let worst = a.worst();
    if args.output.output.is_structured() {
        let report = Report {
            api_version: shared::output::LIST_API_VERSION,
            kind: "ValidationReport",
            namespace: &entry.namespace,
            name: &entry.name,
            secret: &entry.secret_name,
            status: worst,
            chain: a.chain.iter().map(|c| &c.info).collect(),
            findings: &a.findings,
        };
        print_structured(out, args.output.output, &report)?;
        return Ok(ExitCode::from(worst.exit_code()));
    }
    let mut text = if entry.found.is_some() && entry.secret.is_none() {
        // A source other than a Secret: a caBundle, a served chain, a client certificate.
        format!(
            "{} {} (source {})\n",
            paint(Stream::Stdout, Tone::Strong, "Certificate"),
            entry.name,
            entry.origin.as_str()
        )
    } else {
        format!(
            "{} {}/{} (Secret {})\n",
            paint(Stream::Stdout, Tone::Strong, "Certificate"),
            entry.namespace,
            entry.name,
            entry.secret_name
        )
    };
    let bundle = entry
        .found
        .as_ref()
        .is_some_and(|f| f.role == crate::findings::Role::CaBundle);
    for (i, c) in a.chain.iter().enumerate() {
        let role = match (bundle, i) {
            (true, _) => "ca",
            (false, 0) => "leaf",
            (false, _) => "chain",
        };
        text.push_str(&format!(
            "  [{}] {role}: {}\n      issuer: {}\n      serial {}  {}  {}\n      valid {} .. {}\n      sha256 {}\n",
            i + 1,
            c.info.subject,
            c.info.issuer,
            c.info.serial,
            c.info.public_key,
            c.info.signature_algorithm,
            crate::inspect::rfc3339(c.info.not_before),
            crate::inspect::rfc3339(c.info.not_after),
            c.info.sha256
        ));
        if i == 0 && !c.info.all_sans().is_empty() {
            text.push_str(&format!("      SANs: {}\n", c.info.all_sans().join(", ")));
        }
    }
    text.push('\n');
    for f in &a.findings {
        text.push_str(&format!(
            "{:<9} {:<24} {}\n",
            paint(Stream::Stdout, f.severity.tone(), f.severity.label()),
            f.check,
            f.message
        ));
        if let Some(h) = &f.hint {
            text.push_str(&format!(
                "{:<9} {:<24} {} {h}\n",
                "",
                "",
                paint(Stream::Stdout, Tone::Accent, "fix:")
            ));
        }
    }
    let count = |s: Severity| a.findings.iter().filter(|f| f.severity == s).count();
    text.push_str(&format!(
        "\nresult: {} ({} critical, {} warning, {} ok)\n",
        worst.label(),
        count(Severity::Critical),
        count(Severity::Warning),
        count(Severity::Ok)
    ));
    write_str(out, &text)?;
    Ok(ExitCode::from(worst.exit_code()))
}
