//! `kubectl certs check --chunk-size` against the sandbox's real API server and etcd: an
//! expired continue token (etcd compacted past the revision of the LIST's first page) makes
//! the plugin list again from the start, once, without counting any Secret twice.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, PostParams};
use kubectl_ops_tests::fixtures::TestNamespace;
use kubectl_ops_tests::plugin;
use kubectl_ops_tests::sandbox::Sandbox;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;

/// How many Secrets: at `--chunk-size 1` one request each, long enough a LIST to compact under.
const SECRETS: usize = 300;

/// The sandbox's etcd (`ETCD_PORT` in tests/sandbox/sandbox), or `$SANDBOX_ETCD_URL`.
fn etcd_url() -> String {
    std::env::var("SANDBOX_ETCD_URL").unwrap_or_else(|_| "http://127.0.0.1:23790".into())
}

/// POSTs JSON to etcd's v3 HTTP gateway.
async fn etcd(path: &str, body: &Value) -> Result<Value> {
    let out = tokio::process::Command::new("curl")
        .args(["-sSf", "-X", "POST", "--max-time", "10"])
        .arg(format!("{}{path}", etcd_url()))
        .arg("-d")
        .arg(body.to_string())
        .output()
        .await
        .context("running curl")?;
    ensure!(
        out.status.success(),
        "etcd {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Writes once (so the store's revision moves past every LIST started before) and compacts
/// etcd at the new revision: every continue token issued before becomes too old.
async fn compact_now(config_maps: &Api<ConfigMap>, round: usize) -> Result<i64> {
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": format!("bump-{round}")}}))?;
    config_maps.create(&PostParams::default(), &cm).await?;
    // A range read of any key answers with the store's current revision.
    let range = etcd("/v3/kv/range", &json!({"key": "L2J1bXA="})).await?;
    let revision: i64 = range["header"]["revision"]
        .as_str()
        .context("etcd range: no header.revision")?
        .parse()?;
    etcd(
        "/v3/kv/compaction",
        &json!({"revision": revision.to_string()}),
    )
    .await?;
    Ok(revision)
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn certs_check_relists_once_when_etcd_compaction_expires_the_continue_token() -> Result<()> {
    let sb = Sandbox::load()?;
    let admin = sb.client().await?;
    let namespace = TestNamespace::create(&sb, &admin, "certs-scale").await?;
    let ns = namespace.name().to_owned();
    let leaf = rcgen::generate_simple_self_signed(vec!["svc.certs-scale.test".to_string()])?;
    let (crt, key) = (leaf.cert.pem(), leaf.signing_key.serialize_pem());
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let created: Vec<Result<Secret, kube::Error>> = futures::stream::iter(0..SECRETS)
        .map(|i| {
            let secrets = secrets.clone();
            let secret: Secret = serde_json::from_value(json!({
                "metadata": {"name": format!("s-{i:04}")}, "type": "kubernetes.io/tls",
                "stringData": {"tls.crt": crt, "tls.key": key},
            }))
            .expect("a Secret");
            async move { secrets.create(&PostParams::default(), &secret).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for c in created {
        c?;
    }

    // Compact under the running LIST until it says it listed the Secrets again, then let the
    // relist finish in peace: a second expiry would be an error, by design.
    let mut cmd = tokio::process::Command::from(plugin("kubectl-certs"));
    cmd.envs(sb.envs())
        .args(["check", "-n", &ns, "--chunk-size", "1", "-o", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().context("running kubectl-certs")?;
    let stdout = child.stdout.take().context("stdout")?;
    let reading = tokio::spawn(async move {
        let mut buf = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut tokio::io::BufReader::new(stdout), &mut buf)
            .await
            .map(|_| buf)
    });
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().context("stderr")?).lines();
    let mut lines: Vec<String> = Vec::new();
    let relisted = |lines: &[String]| {
        lines
            .iter()
            .any(|l| l.contains("TLS Secrets changed") && l.contains("read them again"))
    };
    let config_maps: Api<ConfigMap> = Api::namespaced(admin.clone(), &ns);
    let mut compactions = 0;
    let mut stderr_open = true;
    while stderr_open && !relisted(&lines) {
        compact_now(&config_maps, compactions).await?;
        compactions += 1;
        // Wait (up to 300 ms) for the plugin to say it relisted before compacting again.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
        while !relisted(&lines) {
            match tokio::time::timeout_at(deadline, stderr.next_line()).await {
                Ok(Ok(Some(line))) => lines.push(line),
                Ok(Ok(None)) | Ok(Err(_)) => {
                    stderr_open = false;
                    break;
                }
                Err(_) => break,
            }
        }
    }
    while let Ok(Some(line)) = stderr.next_line().await {
        lines.push(line);
    }
    let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
        .await
        .context("kubectl certs check did not finish")??;
    let stdout = reading.await??;
    let stderr_text = lines.join("\n");
    if !relisted(&lines) {
        bail!(
            "the LIST finished before a compaction expired its token ({compactions} compactions); stderr:\n{stderr_text}"
        );
    }
    // Graded exit codes only (the self-signed leaves are judged; 1 would be an error).
    ensure!(
        matches!(status.code(), Some(0 | 3 | 4)),
        "exit {:?}; stderr:\n{stderr_text}",
        status.code()
    );
    let report: Value = serde_json::from_slice(&stdout)
        .with_context(|| format!("JSON report; stderr:\n{stderr_text}"))?;
    let names: Vec<&str> = report["items"]
        .as_array()
        .context("items")?
        .iter()
        .filter(|v| v["namespace"] == ns.as_str())
        .filter_map(|v| v["name"].as_str())
        .collect();
    let distinct: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(
        names.len(),
        SECRETS,
        "every Secret once, none twice (after {compactions} compactions)"
    );
    assert_eq!(distinct.len(), SECRETS);
    assert_eq!(report["summary"]["total"], SECRETS);
    Ok(())
}
