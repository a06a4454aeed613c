//! End-to-end tests of fleet commands (`--context a,b`, `--all-contexts`) against the sandbox,
//! with the real binaries and a kubeconfig of four contexts ([`FleetKubeconfig`]): the sandbox
//! as the admin and as a least-privilege user bound to exactly the Role the plugin prints (two
//! "clusters" that answer), a server where nothing listens and one that never answers. A
//! failed context must be a row of its own and named in the summary line on stderr, never hide
//! the other contexts, and never hang the command; the exit code is the worst across contexts.

use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kubectl_ops_tests::fixtures::{TestNamespace, bind_role, printed_role, unique};
use kubectl_ops_tests::fleet::{ADMIN, FleetKubeconfig, LIMITED, SILENT, UNREACHABLE, run_bounded};
use kubectl_ops_tests::output_text as text;
use kubectl_ops_tests::plugin;
use kubectl_ops_tests::sandbox::{Sandbox, User};
use serde_json::{Value, json};

const NEEDS: &str = "needs the sandbox: tests/sandbox/sandbox up";

/// No fleet command may take longer than this, whatever a context does.
const BOUND: Duration = Duration::from_secs(90);

/// `plugin ARGS` with the fleet kubeconfig and no ambient cluster or Redis settings.
fn fleet_cmd(name: &str, kc: &FleetKubeconfig, args: &[&str]) -> Command {
    let mut cmd = plugin(name);
    cmd.env_remove("KUBECONFIG")
        .env_remove("REDIS_URL")
        .env_remove("REDIS_PASSWORD")
        .env_remove("REDIS_USERNAME")
        .arg("--kubeconfig")
        .arg(&kc.path)
        .args(args);
    cmd
}

fn run(name: &str, kc: &FleetKubeconfig, args: &[&str]) -> Result<Output> {
    Ok(run_bounded(&mut fleet_cmd(name, kc, args), BOUND)?.0)
}

/// The table row of `context` (the first cell), or an error showing the whole output.
fn row_of<'a>(stdout: &'a str, context: &str, contains: &str) -> Result<&'a str> {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(context) && l.contains(contains))
        .with_context(|| format!("no row of context {context} with {contains:?} in:\n{stdout}"))
}

fn json_of(o: &Output) -> Result<Value> {
    serde_json::from_slice(&o.stdout).with_context(|| text(o))
}

fn contexts_of(items: &Value) -> Vec<String> {
    items
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["context"].as_str().unwrap_or("<none>").to_string())
        .collect()
}

/// A debug session pod as `debugpod create` labels it, whose TTL ran out an hour ago.
async fn expired_session(sb: &Sandbox, pods: &Api<Pod>, id: &str) -> Result<()> {
    let expired = k8s_openapi::jiff::Timestamp::now() - std::time::Duration::from_secs(3600);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {
            "name": format!("debugpod-fleet-{id}"),
            "labels": {
                "app.kubernetes.io/managed-by": "kubectl-debugpod",
                "debugpod.kubectl-ops.dev/session": id,
            },
            "annotations": {
                "debugpod.kubectl-ops.dev/target": "fleet-target",
                "debugpod.kubectl-ops.dev/expires-at": expired.to_string(),
            },
        },
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
            "name": "debugger", "image": sb.toolbox_image, "imagePullPolicy": "IfNotPresent",
            "command": ["sleep", "3600"]}]},
    }))?;
    pods.create(&PostParams::default(), &pod).await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn debugpod_sessions_and_cleanup_across_contexts() -> Result<()> {
    let _ = NEEDS;
    let sb = Sandbox::load()?;
    let admin = sb.client().await?;
    let ns = TestNamespace::create(&sb, &admin, "fleet-debugpod").await?;
    let role = printed_role("kubectl-debugpod", ns.name())?;
    bind_role(&sb, &admin, &role, User::Debugpod).await?;
    let kc = FleetKubeconfig::write(&sb, User::Debugpod)?;
    let pods: Api<Pod> = Api::namespaced(admin.clone(), ns.name());
    let id = unique();
    expired_session(&sb, &pods, &id).await?;
    let n = ns.name();

    // Both "clusters" list the session; the unreachable one is an ERROR row and in the summary.
    let contexts = format!("{ADMIN},{LIMITED},{UNREACHABLE}");
    let o = run(
        "kubectl-debugpod",
        &kc,
        &["list", "--sessions", "-n", n, "--context", &contexts],
    )?;
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    ensure!(o.status.code() == Some(1), "{}", text(&o));
    ensure!(
        stdout.starts_with("CONTEXT") && stdout.lines().next().unwrap().contains("NAMESPACE"),
        "{}",
        text(&o)
    );
    row_of(&stdout, ADMIN, &id)?;
    row_of(&stdout, LIMITED, &id)?;
    row_of(&stdout, UNREACHABLE, "ERROR")?;
    ensure!(
        stderr.contains(&format!(
            "3 contexts: 2 answered, 1 failed: {UNREACHABLE}: "
        )),
        "{}",
        text(&o)
    );

    // JSON: every row names its context; the failed one carries the error.
    let o = run(
        "kubectl-debugpod",
        &kc,
        &[
            "list",
            "--sessions",
            "-n",
            n,
            "--context",
            &contexts,
            "-o",
            "json",
        ],
    )?;
    ensure!(o.status.code() == Some(1), "{}", text(&o));
    let v = json_of(&o)?;
    ensure!(
        contexts_of(&v["items"]) == [ADMIN, LIMITED, UNREACHABLE],
        "{}",
        text(&o)
    );
    ensure!(v["items"][1]["id"] == json!(id), "{}", text(&o));
    ensure!(
        v["items"][2]["error"]
            .as_str()
            .is_some_and(|e| e.contains("refused")),
        "{}",
        text(&o)
    );

    // One context is what it always was: no CONTEXT column, no summary line, exit 0.
    let o = run(
        "kubectl-debugpod",
        &kc,
        &["list", "--sessions", "-n", n, "--context", LIMITED],
    )?;
    ensure!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    ensure!(
        stdout.starts_with("SESSION") && stdout.contains(&id),
        "{}",
        text(&o)
    );
    ensure!(
        !String::from_utf8_lossy(&o.stderr).contains("contexts:"),
        "{}",
        text(&o)
    );

    // Listing targets works on one context: several are a usage error, not ignored.
    let o = run(
        "kubectl-debugpod",
        &kc,
        &["list", "-n", n, "--context", &contexts],
    )?;
    ensure!(o.status.code() == Some(2), "{}", text(&o));
    ensure!(
        String::from_utf8_lossy(&o.stderr).contains("hint: give one --context NAME"),
        "{}",
        text(&o)
    );

    // cleanup --expired --dry-run plans the session in each context.
    let both = format!("{ADMIN},{LIMITED}");
    let o = run(
        "kubectl-debugpod",
        &kc,
        &[
            "cleanup",
            "--expired",
            "--dry-run",
            "-n",
            n,
            "--context",
            &both,
        ],
    )?;
    ensure!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for ctx in [ADMIN, LIMITED] {
        ensure!(
            stdout
                .lines()
                .any(|l| l.contains(&format!("context {ctx}, namespace {n}"))
                    && l.contains("would be deleted")),
            "{}",
            text(&o)
        );
    }
    ensure!(
        pods.get_opt(&format!("debugpod-fleet-{id}"))
            .await?
            .is_some()
    );

    // cleanup --expired --yes as the limited user, beside an unreachable context: the session
    // is deleted, the unreachable context is named, the exit code says one failed.
    let o = run(
        "kubectl-debugpod",
        &kc,
        &[
            "cleanup",
            "--expired",
            "--yes",
            "-n",
            n,
            "--context",
            &format!("{UNREACHABLE},{LIMITED}"),
        ],
    )?;
    ensure!(o.status.code() == Some(1), "{}", text(&o));
    ensure!(
        String::from_utf8_lossy(&o.stdout).contains(&format!(
            "pod/debugpod-fleet-{id} deleted (session {id}, debug pod of fleet-target, context {LIMITED}, namespace {n})"
        )),
        "{}",
        text(&o)
    );
    ensure!(
        String::from_utf8_lossy(&o.stderr)
            .contains("2 contexts: 1 answered, 1 failed: unreachable: "),
        "{}",
        text(&o)
    );
    let gone = pods
        .get_opt(&format!("debugpod-fleet-{id}"))
        .await?
        .is_none_or(|p| p.metadata.deletion_timestamp.is_some());
    ensure!(gone, "the expired session is still there");
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn a_silent_context_ends_in_a_timeout_and_hides_nothing() -> Result<()> {
    let sb = Sandbox::load()?;
    let kc = FleetKubeconfig::write(&sb, User::Nobody)?;
    // --all-contexts: admin, limited (no permissions at all), unreachable, silent.
    let (o, took) = run_bounded(
        &mut fleet_cmd(
            "kubectl-debugpod",
            &kc,
            &["list", "--sessions", "-A", "--all-contexts", "-o", "json"],
        ),
        BOUND,
    )?;
    ensure!(o.status.code() == Some(1), "{}", text(&o));
    let v = json_of(&o)?;
    let items = v["items"].as_array().context("items")?;
    let failed: Vec<&str> = items
        .iter()
        .filter(|i| i.get("error").is_some())
        .filter_map(|i| i["context"].as_str())
        .collect();
    ensure!(
        failed == [LIMITED, UNREACHABLE, SILENT],
        "failed contexts {failed:?}\n{}",
        text(&o)
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    ensure!(
        stderr.contains("4 contexts: 1 answered, 3 failed: "),
        "{}",
        text(&o)
    );
    // The silent server is given up on after the fleet's 10 s connect timeout, not kube's 30 s.
    ensure!(
        took < Duration::from_secs(25),
        "took {took:?}\n{}",
        text(&o)
    );

    // --request-timeout bounds it too.
    let (o, took) = run_bounded(
        &mut fleet_cmd(
            "kubectl-debugpod",
            &kc,
            &[
                "list",
                "--sessions",
                "--request-timeout",
                "2s",
                "--context",
                &format!("{SILENT},{ADMIN}"),
            ],
        ),
        BOUND,
    )?;
    ensure!(o.status.code() == Some(1), "{}", text(&o));
    ensure!(
        String::from_utf8_lossy(&o.stderr).contains("2 contexts: 1 answered, 1 failed: silent: "),
        "{}",
        text(&o)
    );
    ensure!(took < Duration::from_secs(9), "took {took:?}\n{}", text(&o));
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn rflush_stats_across_contexts() -> Result<()> {
    let sb = Sandbox::load()?;
    let admin = sb.client().await?;
    crate::rflush_e2e::bind_rflush_role(&sb, &admin).await?;
    let types = crate::rflush_e2e::seeded_types(&sb)?;
    let kc = FleetKubeconfig::write(&sb, User::Rflush)?;
    let contexts = format!("{ADMIN},{LIMITED},{UNREACHABLE}");
    let ns = sb.namespace.as_str();

    let o = run(
        "kubectl-rflush",
        &kc,
        &["stats", "-n", ns, "--context", &contexts, "-o", "json"],
    )?;
    ensure!(o.status.code() == Some(1), "{}", text(&o));
    let v = json_of(&o)?;
    ensure!(v["kind"] == "StatsList", "{}", text(&o));
    ensure!(
        contexts_of(&v["items"]) == [ADMIN, LIMITED, UNREACHABLE],
        "{}",
        text(&o)
    );
    // Each reachable context counted the seeded cache types through its own port-forward.
    for item in &v["items"].as_array().context("items")?[..2] {
        for (name, _, seeded) in &types {
            let got = item["cache_types"]
                .as_array()
                .context("cache_types")?
                .iter()
                .find(|t| t["name"] == json!(name))
                .and_then(|t| t["keys"].as_u64());
            ensure!(
                got == Some(*seeded),
                "{}: {name} has {got:?} keys, seeded {seeded}\n{}",
                item["context"],
                text(&o)
            );
        }
    }
    ensure!(v["items"][2]["error"].is_string(), "{}", text(&o));

    let o = run(
        "kubectl-rflush",
        &kc,
        &["stats", "-n", ns, "--context", &contexts],
    )?;
    ensure!(o.status.code() == Some(1), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    ensure!(stdout.starts_with("CONTEXT"), "{}", text(&o));
    row_of(&stdout, ADMIN, "redis-0")?;
    row_of(&stdout, LIMITED, "redis-0")?;
    row_of(&stdout, UNREACHABLE, "ERROR")?;
    row_of(&stdout, LIMITED, "market-data")?;
    ensure!(
        String::from_utf8_lossy(&o.stderr)
            .contains("3 contexts: 2 answered, 1 failed: unreachable: "),
        "{}",
        text(&o)
    );

    // With a URL the contexts would pick nothing: a usage error, before anything connects.
    let o = run(
        "kubectl-rflush",
        &kc,
        &[
            "stats",
            "--redis-url",
            &sb.redis_url,
            "--context",
            &format!("{ADMIN},{LIMITED}"),
        ],
    )?;
    ensure!(o.status.code() == Some(2), "{}", text(&o));
    ensure!(
        String::from_utf8_lossy(&o.stderr).contains("--context would not be used"),
        "{}",
        text(&o)
    );
    Ok(())
}

/// A namespace of the test's own with one TLS Secret whose leaf has 20 days left (WARNING at
/// the default thresholds), the `certs rbac` Role bound to `kubectl-ops-certs`, and a config
/// file without named certificates.
struct CertsFleet {
    ns: TestNamespace,
    kc: FleetKubeconfig,
    config: tempfile::NamedTempFile,
}

impl CertsFleet {
    async fn new() -> Result<Self> {
        use k8s_openapi::ByteString;
        use k8s_openapi::api::core::v1::Secret;
        use kubectl_ops_tests::certs::{make_ca, make_leaf, now};
        let sb = Sandbox::load()?;
        let admin = sb.client().await?;
        let ns = TestNamespace::create(&sb, &admin, "fleet-certs").await?;
        let ca = make_ca("fleet-ca");
        let dns = format!("web.{}.svc", ns.name());
        let (crt, key) = make_leaf(
            &ca,
            &[&dns],
            now() - time::Duration::days(10),
            now() + time::Duration::days(20),
        );
        let data = [
            ("tls.crt", crt.into_bytes()),
            ("tls.key", key.into_bytes()),
            ("ca.crt", ca.pem.clone().into_bytes()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), ByteString(v)))
        .collect();
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("fleet-web-tls".into()),
                ..Default::default()
            },
            type_: Some("kubernetes.io/tls".into()),
            data: Some(data),
            ..Default::default()
        };
        Api::<Secret>::namespaced(admin.clone(), ns.name())
            .create(&PostParams::default(), &secret)
            .await?;
        let role = printed_role("kubectl-certs", ns.name())?;
        bind_role(&sb, &admin, &role, User::Certs).await?;
        let config = tempfile::NamedTempFile::new()?;
        std::fs::write(
            config.path(),
            serde_json::to_string(&json!({"namespace": ns.name(), "certificates": []}))?,
        )?;
        let kc = FleetKubeconfig::write(&sb, User::Certs)?;
        Ok(CertsFleet { ns, kc, config })
    }

    fn certs(&self, args: &[&str]) -> Result<Output> {
        let mut cmd = fleet_cmd("kubectl-certs", &self.kc, args);
        cmd.args(["-n", self.ns.name(), "--config"])
            .arg(self.config.path());
        Ok(run_bounded(&mut cmd, BOUND)?.0)
    }
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn certs_check_and_list_across_contexts() -> Result<()> {
    let f = CertsFleet::new().await?;
    let contexts = format!("{ADMIN},{LIMITED},{UNREACHABLE}");

    // Table: CONTEXT first, the Secret from both clusters, UNKNOWN for the unreachable one, the
    // summary line; exit = the worst across clusters (unknown, 5).
    let o = f.certs(&["check", "--context", &contexts])?;
    ensure!(o.status.code() == Some(5), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    ensure!(stdout.starts_with("CONTEXT"), "{}", text(&o));
    row_of(&stdout, ADMIN, "fleet-web-tls")?;
    ensure!(row_of(&stdout, LIMITED, "fleet-web-tls")?.contains("WARNING"));
    row_of(&stdout, UNREACHABLE, "UNKNOWN")?;
    ensure!(
        String::from_utf8_lossy(&o.stderr)
            .contains("3 contexts: 2 answered, 1 failed: unreachable: "),
        "{}",
        text(&o)
    );

    // Both clusters answer: the worst is the WARNING (3), not a failure.
    let o = f.certs(&["check", "--context", &format!("{ADMIN},{LIMITED}")])?;
    ensure!(o.status.code() == Some(3), "{}", text(&o));

    // JSON carries the context of every verdict; the unreachable one is unknown.
    let o = f.certs(&["check", "--context", &contexts, "-o", "json"])?;
    ensure!(o.status.code() == Some(5), "{}", text(&o));
    let v = json_of(&o)?;
    let items = v["items"].as_array().context("items")?;
    for ctx in [ADMIN, LIMITED] {
        ensure!(
            items.iter().any(|i| i["context"] == json!(ctx)
                && i["secret"] == json!("fleet-web-tls")
                && i["status"] == json!("warning")),
            "no warning verdict of {ctx}\n{}",
            text(&o)
        );
    }
    ensure!(
        items
            .iter()
            .any(|i| i["context"] == json!(UNREACHABLE) && i["status"] == json!("unknown")),
        "{}",
        text(&o)
    );

    // list: the same rows, CONTEXT first; a failed context makes the exit code 1.
    let o = f.certs(&["list", "--context", &contexts])?;
    ensure!(o.status.code() == Some(1), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    ensure!(stdout.starts_with("CONTEXT"), "{}", text(&o));
    row_of(&stdout, ADMIN, "fleet-web-tls")?;
    row_of(&stdout, LIMITED, "fleet-web-tls")?;
    row_of(&stdout, UNREACHABLE, "UNKNOWN")?;
    let o = f.certs(&["list", "--context", &contexts, "-o", "json"])?;
    let v = json_of(&o)?;
    let listed: Vec<String> = contexts_of(&v["items"]);
    ensure!(
        listed.first().map(String::as_str) == Some(ADMIN)
            && listed.last().map(String::as_str) == Some(UNREACHABLE)
            && listed.iter().any(|c| c == LIMITED),
        "{listed:?}\n{}",
        text(&o)
    );

    // One context: no CONTEXT column, no context in JSON, as before.
    let o = f.certs(&["check", "--context", LIMITED, "-o", "json"])?;
    ensure!(o.status.code() == Some(3), "{}", text(&o));
    let v = json_of(&o)?;
    ensure!(
        v["items"]
            .as_array()
            .is_some_and(|i| !i.is_empty() && i.iter().all(|i| i.get("context").is_none())),
        "{}",
        text(&o)
    );

    // A command that works on one cluster refuses several contexts (usage error, exit 2).
    let o = f.certs(&["validate", "fleet-web-tls", "--context", &contexts])?;
    ensure!(o.status.code() == Some(2), "{}", text(&o));
    Ok(())
}
