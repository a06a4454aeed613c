//! `kubectl certs rotate`: validate, back up, re-issue (cert-manager or Vault/OpenBao), restart
//! what mounts the Secret, verify, and restore the backup when verification fails.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use shared::color::{Stream, Tone, paint};
use shared::config::{Config, IssueMethod};
use shared::output::{Table, print_structured, write_str};
use shared::prompt::{Answer, confirm};

use crate::cli::{Method, RotateArgs};
use crate::evaluate::evaluate;
use crate::findings::{
    Analysis, Expectations, Material, Severity, Thresholds, analyze, parse_certs,
};
use crate::inspect::now;
use crate::model::{self, Entry, Source};
use crate::rotation::{Outcome, RotationReport, Snapshot, WorkloadResult};
use crate::{backup, certmanager, restart, served, vault};

/// Exit code when an issuance did not finish within --timeout (as `cmctl check api`).
pub const EXIT_TIMEOUT: u8 = 124;

/// The resolved way to rotate one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// cert-manager.
    CertManager,
    /// Vault/OpenBao.
    Vault,
}

impl Plan {
    fn as_str(self) -> &'static str {
        match self {
            Plan::CertManager => "cert-manager",
            Plan::Vault => "vault",
        }
    }
}

fn plan_for(entry: &Entry, method: Method, config: &Config) -> Result<Plan, shared::Error> {
    let configured = entry
        .config_name
        .as_deref()
        .and_then(|n| config.certificate(n))
        .map(|c| c.method);
    match method {
        Method::CertManager if entry.certificate.is_none() => Err(shared::Error::invalid(
            format!("{} has no cert-manager Certificate", entry.key()),
            "use --method vault, or create a Certificate for the Secret",
        )),
        Method::CertManager => Ok(Plan::CertManager),
        Method::Vault => Ok(Plan::Vault),
        Method::Auto if entry.certificate.is_some() => Ok(Plan::CertManager),
        Method::Auto if configured == Some(IssueMethod::Vault) || entry.source == Source::Vault => {
            Ok(Plan::Vault)
        }
        Method::Auto => Err(shared::Error::invalid(
            format!(
                "cannot tell how to rotate {}: no cert-manager Certificate manages it and the config does not name it with method: vault",
                entry.key()
            ),
            "pass --method vault (Vault/OpenBao PKI) or --method cert-manager",
        )),
    }
}

struct Ctx<'a> {
    client: kube::Client,
    config: &'a Config,
    args: &'a RotateArgs,
    endpoint: Option<served::Endpoint>,
}

fn leaf_of(bytes: Option<&[u8]>) -> Option<crate::chain::Cert> {
    bytes
        .map(parse_certs)
        .and_then(|(c, _)| c.into_iter().next())
}

fn progress(line: String) {
    eprintln!("  {} {line}", paint(Stream::Stderr, Tone::Dim, "·"));
}

fn say_error(message: &str) {
    eprintln!("{} {message}", paint(Stream::Stderr, Tone::Bad, "error:"));
}

async fn get_secret(client: &kube::Client, ns: &str, name: &str) -> anyhow::Result<Option<Secret>> {
    Api::<Secret>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .map_err(|e| shared::Error::kube(format!("get secret {ns}/{name}"), e).into())
}

/// Puts the backed-up Secret back (replace, or create if it is gone).
async fn restore_secret(client: &kube::Client, ns: &str, dir: &Path) -> anyhow::Result<()> {
    let docs = super::restore::read_backup(dir)?;
    let doc = docs
        .iter()
        .find(|d| d.value["kind"] == "Secret")
        .ok_or_else(|| anyhow::anyhow!("the backup holds no Secret"))?;
    let mut secret: Secret = serde_json::from_value(doc.value.clone())?;
    let name = secret.metadata.name.clone().unwrap_or_default();
    secret.metadata.namespace = Some(ns.to_string());
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    match api.get_opt(&name).await? {
        Some(current) => {
            secret.metadata.resource_version = current.metadata.resource_version;
            api.replace(&name, &PostParams::default(), &secret).await?;
        }
        None => {
            api.create(&PostParams::default(), &secret).await?;
        }
    }
    Ok(())
}

fn requested_ttl(config: &Config) -> Option<Duration> {
    (!config.vault.ttl.is_empty())
        .then(|| shared::duration::parse_duration(&config.vault.ttl).ok())
        .flatten()
}

/// Issues from Vault and writes the Secret in one guarded update. Returns what changed.
async fn rotate_vault(
    ctx: &Ctx<'_>,
    entry: &Entry,
    before: Option<&Secret>,
    report: &mut RotationReport,
) -> anyhow::Result<()> {
    let v = &ctx.config.vault;
    let client = vault::VaultClient::from_env()?;
    let short = entry
        .config_name
        .clone()
        .unwrap_or_else(|| entry.name.clone());
    let common_name = entry
        .config_name
        .as_deref()
        .and_then(|n| ctx.config.certificate(n))
        .and_then(|c| c.common_name.clone())
        .or_else(|| {
            leaf_of(entry.data("tls.crt")).and_then(|l| l.info.common_name().map(str::to_string))
        })
        .unwrap_or_else(|| format!("{short}.{}", v.common_name_suffix));
    let alt_names: Vec<String> = leaf_of(entry.data("tls.crt"))
        .map(|l| {
            l.info
                .dns_names
                .into_iter()
                .filter(|n| *n != common_name)
                .collect()
        })
        .unwrap_or_default();
    progress(format!(
        "requesting {common_name} from {}/{}/issue/{}",
        client.addr, v.pki_mount, v.role
    ));
    let result = client
        .issue(&v.pki_mount, &v.role, &common_name, &alt_names, &v.ttl)
        .await?;
    for w in &result.warnings {
        shared::exit::warn(format!("Vault: {w}"));
        report.warnings.push(format!("Vault: {w}"));
    }
    let issued = result.issued;
    // tls.crt = leaf + intermediates (no self-signed root); ca.crt = the root, else the issuing CA.
    let chain_pems: Vec<String> = if issued.ca_chain.is_empty() {
        vec![issued.issuing_ca.clone()]
    } else {
        issued.ca_chain.clone()
    };
    let mut tls_crt = issued.certificate.trim_end().to_string();
    tls_crt.push('\n');
    let mut root: Option<String> = None;
    for pem in &chain_pems {
        let (certs, _) = parse_certs(pem.as_bytes());
        if certs.first().is_some_and(|c| c.info.is_self_issued()) {
            root = Some(pem.trim_end().to_string() + "\n");
        } else {
            tls_crt.push_str(pem.trim_end());
            tls_crt.push('\n');
        }
    }
    let ca_crt = root.unwrap_or_else(|| issued.issuing_ca.trim_end().to_string() + "\n");
    let key = issued.private_key.0.trim_end().to_string() + "\n";
    let material = Material {
        tls_crt: Some(tls_crt.as_bytes()),
        tls_key: Some(key.as_bytes()),
        ca_crt: Some(ca_crt.as_bytes()),
    };
    let mut expect = Expectations {
        dns_names: alt_names.clone(),
        ..Default::default()
    };
    expect.dns_names.push(common_name.clone());
    let check = analyze(&material, &expect, &[], Thresholds::default(), now());
    if let Some(leaf) = &check.leaf
        && let Some(asked) = requested_ttl(ctx.config)
        && (leaf.lifetime() as u64) + 600 < asked.as_secs()
    {
        let msg = format!(
            "Vault shortened the TTL: asked for {}, got {} days (the role's max_ttl caps it); check renewBefore/rotation schedules",
            v.ttl,
            leaf.lifetime() / 86_400
        );
        shared::exit::warn(&msg);
        report.warnings.push(msg);
    }
    if check.worst() >= Severity::Critical {
        let bad: Vec<String> = check
            .findings
            .iter()
            .filter(|f| f.severity >= Severity::Critical)
            .map(|f| f.message.clone())
            .collect();
        return Err(shared::Error::invalid(
            format!(
                "the certificate Vault issued does not validate, nothing was written: {}",
                bad.join("; ")
            ),
            "check the PKI role (allowed domains, key type) and the mount's CA chain",
        )
        .into());
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &entry.namespace);
    let mut data = BTreeMap::new();
    data.insert(
        "tls.crt".to_string(),
        ByteString(tls_crt.clone().into_bytes()),
    );
    data.insert("tls.key".to_string(), ByteString(key.clone().into_bytes()));
    data.insert(
        "ca.crt".to_string(),
        ByteString(ca_crt.clone().into_bytes()),
    );
    match before {
        Some(current) => {
            // One PUT guarded by the resourceVersion we backed up: a concurrent change fails it.
            let mut next = current.clone();
            let mut merged = next.data.take().unwrap_or_default();
            merged.extend(data);
            next.data = Some(merged);
            api.replace(&entry.secret_name, &PostParams::default(), &next)
                .await
                .map_err(|e| match &e {
                    kube::Error::Api(s) if s.code == 409 => shared::Error::invalid(
                        format!(
                            "Secret {}/{} changed since it was backed up; nothing was written",
                            entry.namespace, entry.secret_name
                        ),
                        "re-run the rotation",
                    ),
                    _ => shared::Error::kube(
                        format!("update secret {}/{}", entry.namespace, entry.secret_name),
                        e,
                    ),
                })?;
            report.changes.push(format!(
                "secret/{}: replaced tls.crt, tls.key, ca.crt",
                entry.secret_name
            ));
        }
        None => {
            let secret = Secret {
                metadata: kube::api::ObjectMeta {
                    name: Some(entry.secret_name.clone()),
                    namespace: Some(entry.namespace.clone()),
                    ..Default::default()
                },
                type_: Some(model::TLS_TYPE.into()),
                data: Some(data),
                ..Default::default()
            };
            api.create(&PostParams::default(), &secret)
                .await
                .map_err(|e| {
                    shared::Error::kube(
                        format!("create secret {}/{}", entry.namespace, entry.secret_name),
                        e,
                    )
                })?;
            report
                .changes
                .push(format!("secret/{}: created", entry.secret_name));
        }
    }
    if !v.kv_mount.is_empty() && !ctx.args.no_kv {
        let path = vault::kv_path(
            &v.kv_prefix,
            &entry.namespace,
            entry.config_name.as_deref().unwrap_or(&entry.name),
        );
        let body = serde_json::json!({ "tls.crt": tls_crt, "tls.key": key, "ca.crt": ca_crt, "serial": issued.serial_number });
        match client.kv_put(&v.kv_mount, &path, &body).await {
            Ok(version) => report.changes.push(format!(
                "vault kv {}/{path}: version {}",
                v.kv_mount,
                version.map(|v| v.to_string()).unwrap_or_else(|| "?".into())
            )),
            Err(e) => {
                let msg = format!("the Secret was written but the KV copy failed: {e}");
                shared::exit::warn(&msg);
                report.warnings.push(msg);
            }
        }
    }
    Ok(())
}

/// Rotates one certificate end to end.
async fn rotate_one(ctx: &Ctx<'_>, entry: &Entry, plan: Plan) -> RotationReport {
    let mut report = RotationReport::new(
        &entry.namespace,
        &entry.name,
        &entry.secret_name,
        plan.as_str(),
    );
    match rotate_inner(ctx, entry, plan, &mut report).await {
        Ok(()) => {}
        Err(e) => {
            if report.reason.is_none() {
                report.reason = Some(format!("{e:#}"));
            }
            if report.outcome == Outcome::Rotated {
                report.outcome = Outcome::Failed;
            }
        }
    }
    report
}

async fn rotate_inner(
    ctx: &Ctx<'_>,
    entry: &Entry,
    plan: Plan,
    report: &mut RotationReport,
) -> anyhow::Result<()> {
    let ns = &entry.namespace;
    eprintln!(
        "{} {} ({})",
        paint(Stream::Stderr, Tone::Strong, "rotating"),
        entry.key(),
        plan.as_str()
    );
    // 1. Pre-flight validation (informational: a broken certificate is a reason to rotate).
    let pre: Analysis = evaluate(entry, &[], Thresholds::default(), now(), true);
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
    let before_secret = get_secret(&ctx.client, ns, &entry.secret_name).await?;
    let before_leaf = leaf_of(
        before_secret
            .as_ref()
            .and_then(|s| s.data.as_ref())
            .and_then(|d| d.get("tls.crt"))
            .map(|b| b.0.as_slice()),
    );
    report.before = before_leaf.as_ref().map(Snapshot::of);
    // 2. Backup first.
    if before_secret.is_some() {
        let mut fresh = entry.clone();
        fresh.secret = before_secret.clone();
        let dir = backup::default_dir(ctx.config, &fresh);
        let manifest = backup::write(&fresh, ctx.config, &dir).await?;
        progress(format!("backed up to {}", dir.display()));
        report.recovery_command = Some(manifest.restore_command.clone());
        report.backup = Some(dir);
    }
    let workloads = if ctx.args.no_restart {
        Vec::new()
    } else {
        restart::find(&ctx.client, ns, &entry.secret_name).await?
    };
    // 3. Issue.
    match plan {
        Plan::CertManager => {
            let old = certmanager::trigger(&ctx.client, ns, &entry.name).await?;
            progress(format!(
                "set Issuing=True (ManuallyTriggered) on certificate {}; waiting for revision > {old}",
                entry.name
            ));
            report.changes.push(format!(
                "certificate/{}: Issuing=True (ManuallyTriggered)",
                entry.name
            ));
            let mut p = |line: String| progress(line);
            match certmanager::wait(&ctx.client, ns, &entry.name, old, ctx.args.timeout, &mut p)
                .await?
            {
                certmanager::Outcome::Issued { revision } => {
                    report.revision = Some((old, revision));
                    report.changes.push(format!(
                        "certificate/{}: revision {old} -> {revision}",
                        entry.name
                    ));
                }
                certmanager::Outcome::Failed { reason, message } => {
                    report.outcome = Outcome::Failed;
                    report.reason =
                        Some(format!("cert-manager failed to issue: {reason}: {message}"));
                    anyhow::bail!(
                        "cert-manager failed to issue {}: {reason}: {message}",
                        entry.key()
                    );
                }
                certmanager::Outcome::TimedOut { last } => {
                    report.outcome = Outcome::TimedOut;
                    report.reason = Some(format!(
                        "no new revision within {}s (last: {last})",
                        ctx.args.timeout.as_secs()
                    ));
                    anyhow::bail!(
                        "timed out after {}s waiting for cert-manager (last: {last})",
                        ctx.args.timeout.as_secs()
                    );
                }
            }
        }
        Plan::Vault => rotate_vault(ctx, entry, before_secret.as_ref(), report).await?,
    }
    // From here on the Secret has changed: failures restore the backup.
    report.outcome = Outcome::Rotated;
    let result = finish(ctx, entry, before_leaf.as_ref(), workloads, report).await;
    if let Err(e) = &result {
        report.outcome = Outcome::RolledBack;
        report.reason = Some(format!("{e:#}"));
        match &report.backup {
            Some(dir) => match restore_secret(&ctx.client, ns, dir).await {
                Ok(()) => {
                    say_error(&format!(
                        "{}: {e:#}; restored the previous Secret from {}",
                        entry.key(),
                        dir.display()
                    ));
                    report.changes.push(format!(
                        "secret/{}: restored from backup {}",
                        entry.secret_name,
                        dir.display()
                    ));
                    for w in report.workloads.iter().filter(|w| w.restarted) {
                        let at = k8s_openapi::jiff::Timestamp::now()
                            .strftime("%Y-%m-%dT%H:%M:%SZ")
                            .to_string();
                        if restart::restart(&ctx.client, &w.workload, &at)
                            .await
                            .is_ok()
                        {
                            report.changes.push(format!(
                                "{}: restarted again to load the restored Secret",
                                w.workload.id()
                            ));
                        }
                    }
                }
                Err(re) => say_error(&format!(
                    "{}: {e:#}; restoring the backup ALSO failed: {re:#}; run: kubectl certs restore {} --yes",
                    entry.key(),
                    dir.display()
                )),
            },
            None => say_error(&format!(
                "{}: {e:#}; there was no previous Secret to restore",
                entry.key()
            )),
        }
        return Err(anyhow::anyhow!("{e:#}"));
    }
    Ok(())
}

async fn finish(
    ctx: &Ctx<'_>,
    entry: &Entry,
    before: Option<&crate::chain::Cert>,
    workloads: Vec<restart::Workload>,
    report: &mut RotationReport,
) -> anyhow::Result<()> {
    let ns = &entry.namespace;
    let after_secret = get_secret(&ctx.client, ns, &entry.secret_name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the Secret is gone after issuance"))?;
    let mut after_entry = entry.clone();
    after_entry.secret = Some(after_secret);
    let check = evaluate(&after_entry, &[], Thresholds::default(), now(), false);
    let after_leaf = after_entry
        .data("tls.crt")
        .map(parse_certs)
        .and_then(|(c, _)| c.into_iter().next());
    report.after = after_leaf.as_ref().map(Snapshot::of);
    if let (Some(b), Some(a)) = (before, &after_leaf)
        && b.info.sha256 == a.info.sha256
    {
        anyhow::bail!(
            "verification failed: the Secret still holds the old certificate ({})",
            a.info.serial
        );
    }
    if let Some(bad) = check
        .findings
        .iter()
        .find(|f| f.severity >= Severity::Critical && f.check != "ready")
    {
        anyhow::bail!(
            "verification failed: the new certificate is not valid: {}",
            bad.message
        );
    }
    // Restart what mounts the Secret, then wait for each rollout.
    for w in workloads {
        let mut r = WorkloadResult {
            workload: w.clone(),
            restarted: false,
            rolled_out: false,
            error: None,
        };
        if let Some(why) = &w.skipped {
            progress(format!("not restarting {}: {why}", w.id()));
            report.workloads.push(r);
            continue;
        }
        let at = k8s_openapi::jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        restart::restart(&ctx.client, &w, &at).await?;
        r.restarted = true;
        report
            .changes
            .push(format!("{}: restarted (restartedAt={at})", w.id()));
        progress(format!(
            "restarted {} ({}); waiting for the rollout",
            w.id(),
            w.uses.join(", ")
        ));
        report.workloads.push(r);
        restart::wait_rollout(&ctx.client, &w, ctx.args.timeout).await?;
        if let Some(last) = report.workloads.last_mut() {
            last.rolled_out = true;
        }
        progress(format!("{} rolled out", w.id()));
    }
    // Verify the served certificate.
    if let (Some(ep), Some(text), Some(leaf)) = (&ctx.endpoint, &ctx.args.endpoint, &after_leaf) {
        // Pods of the old ReplicaSet can still be terminating (and briefly look ready) right
        // after the rollout completes, so the endpoint gets a few tries over 30 s.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let served =
                match served::fetch(Some(&ctx.client), ns, ep, None, Duration::from_secs(15)).await
                {
                    Ok(chain) => chain
                        .first()
                        .map(|d| crate::inspect::fingerprint(d))
                        .unwrap_or_default(),
                    Err(e) => format!("nothing ({e:#})"),
                };
            if served == leaf.info.sha256 {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "verification failed: {text} still serves {served}, not the new certificate {}",
                    leaf.info.sha256
                );
            }
            progress(format!("{text} still serves {served}; retrying"));
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        progress(format!("{text} serves the new certificate"));
        report
            .changes
            .push(format!("verified: {text} serves {}", leaf.info.sha256));
    }
    Ok(())
}

fn select(entries: Vec<Entry>, args: &RotateArgs, now: i64) -> Vec<Entry> {
    entries
        .into_iter()
        .filter(|e| match &args.issuer {
            Some(i) => e.certificate.as_ref().is_some_and(|c| &c.issuer_name == i),
            None => true,
        })
        .filter(|e| match args.expiring_within {
            Some(d) => leaf_of(e.data("tls.crt"))
                .is_none_or(|l| l.info.not_after - now < d.as_secs() as i64),
            None => true,
        })
        .collect()
}

/// Runs `rotate`.
pub async fn run(
    args: &RotateArgs,
    global: &shared::cli::GlobalArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let bulk = args.all
        || args.select.selector.is_some()
        || args.expiring_within.is_some()
        || args.issuer.is_some();
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
    let targets = select(candidates, args, now);
    if targets.is_empty() {
        eprintln!("nothing to rotate in {}", scope.describe());
        return Ok(ExitCode::SUCCESS);
    }
    let mut plans = Vec::new();
    for e in &targets {
        if leaf_of(e.data("tls.crt")).is_some_and(|l| l.info.is_ca) {
            let msg = format!(
                "{} holds a CA certificate; kubectl certs rotates leaf certificates, not CAs",
                e.key()
            );
            if bulk {
                shared::exit::warn(format!("skipping: {msg}"));
                continue;
            }
            return Err(shared::Error::invalid(msg, "rotate a CA with your PKI's own procedure, then re-issue its leaves: `kubectl certs rotate --issuer NAME`").into());
        }
        let method = if e.certificate.is_none()
            && args.method == Method::Auto
            && bulk
            && e.source == Source::Secret
        {
            continue; // bulk runs skip Secrets nothing manages
        } else {
            args.method
        };
        plans.push((e.clone(), plan_for(e, method, &config.config)?));
    }
    let mut table = Table::new([
        "namespace",
        "name",
        "secret",
        "method",
        "days left",
        "restarts",
    ]);
    let mut planned_reports = Vec::new();
    for (e, p) in &plans {
        let workloads = if args.no_restart {
            Vec::new()
        } else {
            restart::find(&conn.client, &e.namespace, &e.secret_name).await?
        };
        let restarts: Vec<String> = workloads
            .iter()
            .map(|w| {
                if w.skipped.is_some() {
                    format!("{} (skipped)", w.id())
                } else {
                    w.id()
                }
            })
            .collect();
        let days = leaf_of(e.data("tls.crt"))
            .map(|l| l.info.days_left(now).to_string())
            .unwrap_or_else(|| "-".into());
        table.push([
            e.namespace.clone(),
            e.name.clone(),
            e.secret_name.clone(),
            p.as_str().to_string(),
            days,
            if restarts.is_empty() {
                "-".into()
            } else {
                restarts.join(",")
            },
        ]);
        let mut r = RotationReport::new(&e.namespace, &e.name, &e.secret_name, p.as_str());
        r.outcome = Outcome::Planned;
        r.before = leaf_of(e.data("tls.crt")).as_ref().map(Snapshot::of);
        r.workloads = workloads
            .into_iter()
            .map(|w| WorkloadResult {
                workload: w,
                restarted: false,
                rolled_out: false,
                error: None,
            })
            .collect();
        planned_reports.push(r);
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
        let mut r = rotate_one(&ctx, e, *p).await;
        match r.write(&config.config.reports_dir) {
            Ok(path) => progress(format!("report: {}", path.display())),
            Err(err) => shared::exit::warn(format!("cannot write the report: {err:#}")),
        }
        if r.outcome == Outcome::Failed || r.outcome == Outcome::TimedOut {
            say_error(&format!(
                "{}: {}",
                e.key(),
                r.reason.clone().unwrap_or_default()
            ));
            if r.outcome == Outcome::Failed {
                eprintln!(
                    "{} the Secret and workloads were left unchanged{}",
                    paint(Stream::Stderr, Tone::Accent, "hint:"),
                    r.backup
                        .as_ref()
                        .map(|b| format!("; backup at {}", b.display()))
                        .unwrap_or_default()
                );
            }
        }
        reports.push(r);
    }
    if args.output.output.is_structured() {
        print_structured(out, args.output.output, &reports)?;
    } else {
        let mut text = String::new();
        for r in &reports {
            let fp = |s: &Option<Snapshot>| {
                s.as_ref()
                    .map(|s| s.sha256.chars().take(23).collect::<String>())
                    .unwrap_or_else(|| "-".into())
            };
            let label = match r.outcome {
                Outcome::Rotated => paint(Stream::Stdout, Tone::Good, "rotated"),
                Outcome::RolledBack => paint(Stream::Stdout, Tone::Bad, "rolled back"),
                Outcome::TimedOut => paint(Stream::Stdout, Tone::Bad, "timed out"),
                _ => paint(Stream::Stdout, Tone::Bad, "failed"),
            };
            text.push_str(&format!(
                "{label} {}/{} ({}): sha256 {} -> {}\n",
                r.namespace,
                r.name,
                r.method,
                fp(&r.before),
                fp(&r.after)
            ));
            for c in &r.changes {
                text.push_str(&format!("  {c}\n"));
            }
            if let Some(p) = &r.report_path {
                text.push_str(&format!("  report: {}\n", p.display()));
            }
        }
        write_str(out, &text)?;
    }
    let code = if reports.iter().all(|r| r.outcome == Outcome::Rotated) {
        0
    } else if reports
        .iter()
        .any(|r| matches!(r.outcome, Outcome::Failed | Outcome::RolledBack))
    {
        1
    } else {
        EXIT_TIMEOUT
    };
    Ok(ExitCode::from(code))
}
