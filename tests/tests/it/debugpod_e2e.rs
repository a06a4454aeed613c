//! End-to-end tests of `kubectl debugpod` against the sandbox's real kubelet. Each test runs the
//! plugin as the least-privilege user `kubectl-ops-debugpod`, bound to exactly the Role that
//! `kubectl debugpod rbac` prints — so every passing test also proves that Role suffices.
//!
//! Tests that change things work in a namespace of their own with their own target pod;
//! tests of the seeded `api-gateway` (TLS 8443 + HTTP 8080) tag their sessions with a unique
//! `--reason` and delete them on drop, even when the test fails.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, ResourceExt as _};
use kubectl_ops_tests::fixtures::{
    TestNamespace, bind_role, printed_role, run_to_completion, unique,
};
use kubectl_ops_tests::plugin;
use kubectl_ops_tests::sandbox::{CONTEXT, Sandbox, User};
use serde_json::{Value, json};

const NEEDS: &str = "needs the sandbox: tests/sandbox/sandbox up";
const MANAGED: &str = "app.kubernetes.io/managed-by=kubectl-debugpod";
const REASON: &str = "debugpod.kubectl-ops.dev/reason";

/// A test's world: its namespace (own, or the seeded one), the Role bound, a config file that
/// points the debug image at the sandbox's toolbox, and a tag for its sessions.
struct Fixture {
    sb: Sandbox,
    admin: Client,
    ns: String,
    /// The namespace of the test's own (deleted on drop), or None in the seeded one.
    own_ns: Option<TestNamespace>,
    tag: String,
    dir: tempfile::TempDir,
}

impl Drop for Fixture {
    /// In the seeded namespace, deletes the sessions tagged with this test's `--reason`, even
    /// when the test failed (a namespace of the test's own goes with its guard).
    fn drop(&mut self) {
        if self.own_ns.is_some() {
            return;
        }
        let (sb, ns, tag) = (self.sb.clone(), self.ns.clone(), self.tag.clone());
        run_to_completion(async move {
            let Ok(admin) = sb.client().await else { return };
            let pods: Api<Pod> = Api::namespaced(admin, &ns);
            if let Ok(list) = pods.list(&ListParams::default().labels(MANAGED)).await {
                for p in list
                    .items
                    .iter()
                    .filter(|p| p.annotations().get(REASON) == Some(&tag))
                {
                    let _ = pods
                        .delete(
                            &p.name_any(),
                            &DeleteParams {
                                grace_period_seconds: Some(0),
                                ..Default::default()
                            },
                        )
                        .await;
                }
            }
        });
    }
}

impl Fixture {
    /// The seeded namespace (api-gateway, core-engine).
    async fn seeded(name: &str) -> Result<Self> {
        let sb = Sandbox::load()?;
        let admin = sb.client().await?;
        let ns = sb.namespace.clone();
        let f = Fixture {
            tag: format!("e2e-{name}-{}", unique()),
            sb,
            admin,
            ns,
            own_ns: None,
            dir: tempfile::tempdir()?,
        };
        f.setup().await?;
        Ok(f)
    }

    /// A namespace of the test's own with a running target pod `target` (HTTP on 8080; logs a
    /// greeting at start).
    async fn own(prefix: &str) -> Result<Self> {
        let sb = Sandbox::load()?;
        let admin = sb.client().await?;
        let namespace = TestNamespace::create(&sb, &admin, &format!("debugpod-{prefix}")).await?;
        let ns = namespace.name().to_owned();
        let f = Fixture {
            tag: format!("e2e-{prefix}-{}", unique()),
            sb,
            admin,
            ns,
            own_ns: Some(namespace),
            dir: tempfile::tempdir()?,
        };
        f.setup().await?;
        let target: Pod = serde_json::from_value(json!({
            "metadata": {"name": "target", "labels": {"app": "e2e-target"}},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                "name": "app", "image": f.sb.toolbox_image, "imagePullPolicy": "IfNotPresent",
                "command": ["/bin/sh", "-c", "echo \"hello from e2e target $(hostname)\"; mkdir -p /tmp/www; echo ok > /tmp/www/index.html; exec httpd -f -p 8080 -h /tmp/www"],
                "ports": [{"containerPort": 8080}]}]}
        }))?;
        f.pods().create(&PostParams::default(), &target).await?;
        f.wait_running("target").await?;
        Ok(f)
    }

    async fn setup(&self) -> Result<()> {
        std::fs::write(
            self.config(),
            format!(
                "debug_image: {}\nreports_dir: {}\n",
                self.sb.toolbox_image,
                self.dir.path().join("reports").display()
            ),
        )?;
        let role = printed_role("kubectl-debugpod", &self.ns)?;
        bind_role(&self.sb, &self.admin, &role, User::Debugpod).await
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    fn command_as(&self, user: User, args: &[&str]) -> Result<std::process::Command> {
        let mut cmd = plugin("kubectl-debugpod");
        cmd.env_remove("KUBECONFIG")
            .arg("--kubeconfig")
            .arg(self.sb.kubeconfig(user)?)
            .args(["--context", CONTEXT, "-n", &self.ns, "--config"])
            .arg(self.config())
            .args(args);
        Ok(cmd)
    }

    /// Runs `kubectl debugpod ARGS` as the least-privilege user.
    fn run(&self, args: &[&str]) -> Result<Output> {
        Ok(self.command_as(User::Debugpod, args)?.output()?)
    }

    async fn wait_running(&self, name: &str) -> Result<Pod> {
        let pod = tokio::time::timeout(
            Duration::from_secs(120),
            await_condition(self.pods(), name, conditions::is_pod_running()),
        )
        .await
        .with_context(|| format!("pod {name} not Running within 120s"))??;
        pod.context("pod vanished")
    }

    /// Fails when any pod of this tool (by label) is left in the namespace.
    async fn ensure_no_debug_pods_left(&self) -> Result<()> {
        let left = self
            .pods()
            .list(&ListParams::default().labels(MANAGED))
            .await?;
        ensure!(
            left.items.is_empty(),
            "orphan debug pods: {:?}",
            left.items.iter().map(|p| p.name_any()).collect::<Vec<_>>()
        );
        Ok(())
    }

    /// The debug pods (this tool's label) in the namespace tagged by this test.
    async fn sessions(&self) -> Result<Vec<Pod>> {
        let list = self
            .pods()
            .list(&ListParams::default().labels(MANAGED))
            .await?;
        Ok(list
            .items
            .into_iter()
            .filter(|p| p.annotations().get(REASON) == Some(&self.tag))
            .collect())
    }

    /// The running pod of a seeded Deployment.
    async fn seeded_pod(&self, app: &str) -> Result<Pod> {
        let list = self
            .pods()
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await?;
        list.items
            .into_iter()
            .find(|p| {
                p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                    && p.metadata.deletion_timestamp.is_none()
            })
            .with_context(|| format!("no running {app} pod"))
    }
}

fn ok(out: &Output) -> Result<String> {
    ensure!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout.clone())?)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ip_of(p: &Pod) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default()
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn debugpod_create_runs_on_the_targets_node_with_the_profiles_exact_security_context()
-> Result<()> {
    let _ = NEEDS;
    let f = Fixture::own("create").await?;
    let target = f.pods().get("target").await?;
    let expected = [
        (
            "restricted",
            json!({"runAsNonRoot": true, "runAsUser": 65534, "runAsGroup": 65534, "allowPrivilegeEscalation": false,
                              "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}),
            false,
        ),
        ("baseline", Value::Null, false),
        (
            "netadmin",
            json!({"capabilities": {"add": ["NET_ADMIN", "NET_RAW", "SYS_PTRACE", "SYS_ADMIN"]}}),
            true,
        ),
        ("sysadmin", json!({"privileged": true}), true),
    ];
    for (profile, security_context, host_pid) in expected {
        let out = f.run(&[
            "create",
            "target",
            "--profile",
            profile,
            "--ttl",
            "5m",
            "--reason",
            &f.tag,
            "-o",
            "json",
        ])?;
        let session: Value = serde_json::from_str(&ok(&out)?)?;
        let pod = f
            .pods()
            .get(session["pod"].as_str().context("pod name")?)
            .await?;
        let spec = pod.spec.clone().unwrap();
        let status = pod.status.clone().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Running"), "{profile}");
        assert_eq!(
            spec.node_name,
            target.spec.as_ref().unwrap().node_name,
            "{profile}: pinned to the target's node"
        );
        assert_eq!(
            spec.active_deadline_seconds,
            Some(300),
            "{profile}: TTL is activeDeadlineSeconds"
        );
        assert_eq!(
            serde_json::to_value(&spec.containers[0].security_context)?,
            security_context,
            "{profile}"
        );
        assert_eq!(spec.host_pid.unwrap_or(false), host_pid, "{profile}");
        assert_eq!(
            spec.host_network.unwrap_or(false),
            profile == "sysadmin",
            "{profile}"
        );
        assert!(
            spec.containers[0]
                .resources
                .as_ref()
                .and_then(|r| r.limits.as_ref())
                .is_some_and(|l| l.contains_key("memory"))
        );
        let labels = pod.labels();
        assert_eq!(labels["app.kubernetes.io/managed-by"], "kubectl-debugpod");
        assert_eq!(
            labels["debugpod.kubectl-ops.dev/target-uid"],
            target.uid().unwrap()
        );
        let ann = pod.annotations();
        assert_eq!(
            ann["debugpod.kubectl-ops.dev/created-by"], "kubectl-ops-debugpod",
            "{ann:?}"
        );
        assert!(ann.contains_key("debugpod.kubectl-ops.dev/expires-at"));
        let env: Vec<(String, String)> = spec.containers[0]
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
            .collect();
        assert!(
            env.contains(&("TARGET_POD_IP".into(), ip_of(&target))),
            "{env:?}"
        );
        assert!(
            env.iter()
                .any(|(k, v)| k == "TARGET_CONTAINER_IDS" && v.starts_with("app=")),
            "{env:?}"
        );
    }
    let out = f.run(&["list", "--sessions", "-o", "json"])?;
    let list: Value = serde_json::from_str(&ok(&out)?)?;
    assert_eq!(list["items"].as_array().unwrap().len(), 4, "{list}");
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn debugpod_exec_presets_see_the_targets_ip_routes_listeners_and_processes() -> Result<()> {
    let f = Fixture::seeded("exec").await?;
    let target = f.seeded_pod("api-gateway").await?;
    let ip = ip_of(&target);
    let name = target.name_any();
    let out = f.run(&["exec", &name, "network", "-o", "json", "--reason", &f.tag])?;
    let net: Value = serde_json::from_str(&ok(&out)?).with_context(|| stderr(&out))?;
    assert_eq!(net["view"], "target", "{net}");
    let section = |v: &Value, n: &str| -> String {
        v["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == n)
            .map(|s| s["output"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert!(
        section(&net, "addresses").contains(&format!("inet {ip}/")),
        "addresses: {}",
        section(&net, "addresses")
    );
    let routes = section(&net, "routes");
    assert!(
        routes.contains("default via") || routes.contains("dev eth0"),
        "routes: {routes}"
    );
    let listening = section(&net, "listening");
    assert!(
        listening.contains(":8443") && listening.contains(":8080"),
        "listening: {listening}"
    );
    let conn = section(&net, "connectivity");
    assert!(
        conn.contains("8080 open") && conn.contains("8443 open"),
        "connectivity: {conn}"
    );
    assert!(
        !section(&net, "dns").is_empty(),
        "the DNS section is reported, not dropped"
    );
    let out = f.run(&["exec", &name, "system", "-o", "json", "--reason", &f.tag])?;
    let sys: Value = serde_json::from_str(&ok(&out)?).with_context(|| stderr(&out))?;
    let procs = section(&sys, "processes");
    assert!(
        procs.contains("openssl") && procs.contains("httpd"),
        "processes: {procs}"
    );
    assert!(section(&sys, "limits").contains("Max open files"), "{sys}");
    assert!(section(&sys, "open-files").contains("open files"), "{sys}");
    assert!(
        f.sessions().await?.is_empty(),
        "sessions made for one command are deleted afterwards"
    );
    Ok(())
}

/// Counts the records of a little-endian classic pcap (independently of the plugin's own
/// parser), failing unless whole records account for
/// every byte after the 24-byte header (a stray byte of text would break a reader like Wireshark).
fn pcap_records(data: &[u8]) -> Result<usize> {
    let (mut off, mut n) = (24, 0);
    while off + 16 <= data.len() {
        let len = u32::from_le_bytes([data[off + 8], data[off + 9], data[off + 10], data[off + 11]])
            as usize;
        if off + 16 + len > data.len() {
            break;
        }
        off += 16 + len;
        n += 1;
    }
    ensure!(
        off == data.len(),
        "{} bytes after record {n} are not a whole pcap record",
        data.len() - off
    );
    Ok(n)
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn debugpod_capture_writes_a_valid_pcap_with_the_generated_requests() -> Result<()> {
    let f = Fixture::seeded("capture").await?;
    let target = f.seeded_pod("api-gateway").await?;
    let client_pod = f.seeded_pod("core-engine").await?;
    // Two captures side by side: one to a file (`-f out.pcap`), one to stdout (`-f -`, what
    // `| wireshark -k -i -` reads), whose stdout must hold the pcap and nothing else.
    let file = f.dir.path().join("out.pcap");
    let piped = f.dir.path().join("stdout.pcap");
    let mut captures = Vec::new();
    for (out, stdout) in [
        (file.to_str().unwrap(), Stdio::null()),
        ("-", Stdio::from(std::fs::File::create(&piped)?)),
    ] {
        let mut child = f
            .command_as(
                User::Debugpod,
                &[
                    "capture",
                    &target.name_any(),
                    "-f",
                    out,
                    "--filter",
                    "tcp port 8080",
                    "--duration",
                    "20s",
                    "--reason",
                    &f.tag,
                ],
            )?
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()?;
        // Wait for tcpdump to say it listens (forwarded to our stderr).
        let mut err = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut all = String::new();
            let mut buf = [0u8; 1024];
            while let Ok(n) = std::io::Read::read(&mut err, &mut buf) {
                if n == 0 {
                    break;
                }
                all.push_str(&String::from_utf8_lossy(&buf[..n]));
                if all.contains("listening on") {
                    let _ = tx.send(true);
                }
            }
            let _ = tx.send(false);
            all
        });
        captures.push((child, rx));
    }
    let mut children = Vec::new();
    for (child, rx) in captures {
        let listening =
            tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(90))).await?;
        ensure!(
            matches!(listening, Ok(true)),
            "tcpdump never started listening"
        );
        children.push(child);
    }
    let url = format!("http://{}:8080/", ip_of(&target));
    let params = kube::api::AttachParams::default().stdout(true).stderr(true);
    for _ in 0..3 {
        let mut p = f
            .pods()
            .exec(
                &client_pod.name_any(),
                ["curl", "-s", "-m", "3", url.as_str()],
                &params,
            )
            .await?;
        let mut out = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut p.stdout().unwrap(), &mut out).await?;
        ensure!(
            out.contains("api-gateway"),
            "curl through the bridge answered {out:?}"
        );
    }
    for mut child in children {
        let status = tokio::task::spawn_blocking(move || child.wait()).await??;
        ensure!(status.success(), "capture exited {status:?}");
    }
    for path in [&file, &piped] {
        let data = std::fs::read(path)?;
        ensure!(
            data.len() > 24,
            "{}: pcap has no packets ({} bytes)",
            path.display(),
            data.len()
        );
        ensure!(
            data[..4] == [0xd4, 0xc3, 0xb2, 0xa1] || data[..4] == [0xa1, 0xb2, 0xc3, 0xd4],
            "{}: not a pcap: magic {:02x?}",
            path.display(),
            &data[..4]
        );
        // Every byte is accounted for by whole records: nothing else was written to the stream.
        let packets = pcap_records(&data)?;
        ensure!(packets >= 3, "{}: {packets} packets", path.display());
        ensure!(
            data.windows(6).any(|w| w == b"GET / "),
            "{}: the generated HTTP request is not in the capture",
            path.display()
        );
    }
    assert!(
        f.sessions().await?.is_empty(),
        "the capture's own session is deleted"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn debugpod_report_contains_the_targets_events_logs_and_presets() -> Result<()> {
    let f = Fixture::own("report").await?;
    // The kubelet posts its events asynchronously: wait (watching) until "Started" is recorded,
    // so the report has something definite to contain.
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(f.admin.clone(), &f.ns);
    let watch = kube::runtime::watcher(
        events,
        kube::runtime::watcher::Config::default().fields("involvedObject.name=target"),
    );
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut stream = std::pin::pin!(kube::runtime::WatchStreamExt::applied_objects(watch));
        while let Some(e) = futures::TryStreamExt::try_next(&mut stream).await? {
            if e.reason.as_deref() == Some("Started") {
                return Ok(());
            }
        }
        bail!("the event watch ended")
    })
    .await
    .context("no Started event within 60s")??;
    let md_path = f.dir.path().join("report.md");
    let out = f.run(&[
        "report",
        "target",
        "-f",
        md_path.to_str().unwrap(),
        "--reason",
        &f.tag,
    ])?;
    ok(&out)?;
    let md = std::fs::read_to_string(&md_path)?;
    for part in [
        "# Debug report: pod",
        "## Events",
        "Scheduled",
        "Started",
        "## Logs",
        "hello from e2e target target",
        "## Node",
        "Ready",
        "#### addresses",
        "#### processes",
    ] {
        assert!(md.contains(part), "report lacks {part:?}:\n{md}");
    }
    let json_path = f.dir.path().join("report.json");
    ok(&f.run(&[
        "report",
        "target",
        "-o",
        "json",
        "--no-presets",
        "-f",
        json_path.to_str().unwrap(),
    ])?)?;
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json_path)?)?;
    assert_eq!(v["target"]["name"], "target");
    assert!(
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "Started"),
        "{v}"
    );
    assert!(
        v["logs"][0]["text"]
            .as_str()
            .unwrap()
            .contains("hello from e2e target")
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn debugpod_ttl_is_enforced_by_kubernetes_after_the_cli_was_killed() -> Result<()> {
    let f = Fixture::own("ttl").await?;
    let mut child = f
        .command_as(
            User::Debugpod,
            &[
                "exec",
                "target",
                "--profile",
                "baseline",
                "--ttl",
                "20s",
                "--reason",
                &f.tag,
                "--",
                "sleep",
                "600",
            ],
        )?
        .stderr(Stdio::null())
        .spawn()?;
    // Watch for the session pod to run, then kill the CLI: nothing on this side deletes it now.
    let pods = f.pods();
    let watch = kube::runtime::watcher(
        pods.clone(),
        kube::runtime::watcher::Config::default().labels(MANAGED),
    );
    let running = tokio::time::timeout(Duration::from_secs(90), async {
        let mut stream = std::pin::pin!(kube::runtime::WatchStreamExt::applied_objects(watch));
        while let Some(p) = futures::TryStreamExt::try_next(&mut stream).await? {
            if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
                return Ok::<Pod, anyhow::Error>(p);
            }
        }
        bail!("the watch ended")
    });
    let pod = match running.await {
        Ok(p) => p?,
        Err(_) => {
            let _ = child.kill();
            bail!("the session never ran");
        }
    };
    child.kill()?;
    child.wait()?;
    let name = pod.name_any();
    let ended = tokio::time::timeout(
        Duration::from_secs(120),
        await_condition(pods.clone(), &name, |p: Option<&Pod>| {
            p.and_then(|p| p.status.as_ref())
                .is_some_and(|s| s.phase.as_deref() == Some("Failed"))
        }),
    )
    .await
    .context("the pod was not ended by Kubernetes within 120s")??
    .context("pod deleted instead of failed")?;
    let status = ended.status.unwrap();
    assert_eq!(
        status.reason.as_deref(),
        Some("DeadlineExceeded"),
        "{status:?}"
    );
    // The CLI lists it as expired, and cleanup (default: expired) removes it.
    let out = ok(&f.run(&["cleanup", "--yes"])?)?;
    assert!(out.contains(&format!("pod/{name} deleted")), "{out}");
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn debugpod_cleanup_removes_only_labelled_pods() -> Result<()> {
    let f = Fixture::own("cleanup").await?;
    let session: Value = serde_json::from_str(&ok(&f.run(&[
        "create",
        "target",
        "--profile",
        "baseline",
        "--reason",
        &f.tag,
        "-o",
        "json",
    ])?)?)?;
    let session_pod = session["pod"].as_str().unwrap().to_string();
    for (name, labels) in [
        ("debugpod-decoy-unlabelled", json!({})),
        (
            "decoy-other-tool",
            json!({"app.kubernetes.io/managed-by": "kubectl-debug"}),
        ),
    ] {
        let decoy: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "c", "image": f.sb.toolbox_image, "imagePullPolicy": "IfNotPresent", "command": ["sleep", "600"]}]}
        }))?;
        f.pods().create(&PostParams::default(), &decoy).await?;
    }
    let dry = ok(&f.run(&["cleanup", "--all", "--dry-run"])?)?;
    assert!(
        dry.contains(&session_pod) && !dry.contains("decoy"),
        "{dry}"
    );
    assert!(
        f.pods()
            .get_opt(&session_pod)
            .await?
            .is_some_and(|p| p.metadata.deletion_timestamp.is_none()),
        "dry run deleted nothing"
    );
    let out = ok(&f.run(&["cleanup", "--all", "--yes"])?)?;
    assert!(out.contains(&format!("pod/{session_pod} deleted")), "{out}");
    let gone = f.pods().get_opt(&session_pod).await?;
    assert!(
        gone.is_none_or(|p| p.metadata.deletion_timestamp.is_some()),
        "the session pod is deleted"
    );
    for decoy in ["debugpod-decoy-unlabelled", "decoy-other-tool", "target"] {
        let p = f.pods().get(decoy).await?;
        assert!(
            p.metadata.deletion_timestamp.is_none(),
            "{decoy} must not be touched"
        );
    }
    let out = f.run(&["cleanup", "decoy-other-tool"])?;
    assert_eq!(
        out.status.code(),
        Some(1),
        "a pod without the label is not a session"
    );
    assert!(
        stderr(&out).contains("debug session \"decoy-other-tool\" not found"),
        "{}",
        stderr(&out)
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn debugpod_failure_paths_explain_themselves_and_leave_nothing_behind() -> Result<()> {
    let f = Fixture::own("fail").await?;
    // Unknown target: close-name suggestion, nothing created.
    let out = f.run(&["create", "targt"])?;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "pod \"targt\" in namespace \"{}\" not found (did you mean \"target\"?)",
            f.ns
        )),
        "{}",
        stderr(&out)
    );
    // A missing image fails fast with the kubelet's reason, and the pod is deleted.
    let out = f.run(&[
        "create",
        "target",
        "--image",
        "localhost/no-such-image:0",
        "--timeout",
        "90s",
        "--reason",
        &f.tag,
    ])?;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("ErrImagePull") || err.contains("ImagePullBackOff"),
        "{err}"
    );
    assert!(err.contains("hint: check --image"), "{err}");
    f.ensure_no_debug_pods_left().await?;
    // No RBAC: the error names the verb and the resource.
    let out = f
        .command_as(User::Nobody, &["create", "target"])?
        .output()?;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("cannot get resource \"pods\""), "{err}");
    assert!(err.contains("hint:"), "{err}");
    f.ensure_no_debug_pods_left().await?;
    // Admission (here a LimitRange) rejects the pod at the dry-run: explained, nothing created.
    let limits: k8s_openapi::api::core::v1::LimitRange = serde_json::from_value(json!({
        "metadata": {"name": "tight"},
        "spec": {"limits": [{"type": "Container", "max": {"memory": "64Mi"}}]}
    }))?;
    Api::<k8s_openapi::api::core::v1::LimitRange>::namespaced(f.admin.clone(), &f.ns)
        .create(&PostParams::default(), &limits)
        .await?;
    let out = f.run(&["create", "target", "--reason", &f.tag])?;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("rejected") && err.contains("maximum memory usage per Container is 64Mi"),
        "{err}"
    );
    assert!(err.contains("--memory-limit"), "{err}");
    f.ensure_no_debug_pods_left().await?;
    // ...and the hint works.
    let out = f.run(&[
        "create",
        "target",
        "--memory-limit",
        "64Mi",
        "--reason",
        &f.tag,
    ])?;
    ok(&out)?;
    Ok(())
}

/// What a person at a terminal sees: `shell` in a pseudo-terminal (expectrl), driven by keys.
mod tty {
    use std::time::Duration;

    use anyhow::{Context as _, Result, bail};
    use expectrl::process::unix::WaitStatus;
    use expectrl::{ControlCode, Expect as _, Regex};

    /// Waits for `pattern` and returns the first capture group (or the whole match).
    fn capture(p: &mut impl expectrl::Expect, pattern: &str) -> Result<String> {
        let found = p
            .expect(Regex(pattern))
            .with_context(|| format!("waiting for {pattern:?}"))?;
        let bytes = found.get(1).or_else(|| found.get(0)).context("no match")?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    /// What the session showed and how it ended.
    pub struct ShellRun {
        pub tty: String,
        pub initial_size: String,
        pub expected_initial_size: String,
        pub resized: String,
        pub target_pod: String,
        pub exit: WaitStatus,
    }

    /// Drives `kubectl debugpod shell` in a pseudo-terminal. Markers are arithmetic
    /// (`$((40+2))`) so the terminal's echo of what was typed never matches them.
    pub fn drive(cmd: std::process::Command) -> Result<ShellRun> {
        let mut p = expectrl::Session::spawn(cmd).context("spawn in a pty")?;
        p.set_expect_timeout(Some(Duration::from_secs(150)));
        p.expect("exit to leave").context("the session started")?;

        p.send_line("tty; echo size=$(stty size)=; echo target=$TARGET_POD=; echo step-$((40+2))")?;
        let tty = capture(&mut p, r"(/dev/pts/\d+)")?;
        let initial_size = capture(&mut p, r"size=(\d+ \d+)=")?;
        let target_pod = capture(&mut p, r"target=([a-z0-9-]*)=")?;
        p.expect("step-42")?;
        let (cols, rows) = p.get_process().get_window_size()?;
        let expected_initial_size = format!("{rows} {cols}");

        // Resize the terminal: the kernel signals the plugin (SIGWINCH), which must pass the
        // new size on. The shell may read `stty size` before the resize message lands, so ask
        // until it shows (a wait on the condition, bounded by the expect timeout).
        p.get_process_mut().set_window_size(123, 45)?;
        let mut resized = String::new();
        for i in 0..50 {
            p.send_line(format!("echo resize-{i}=$(stty size)=$((1000+{i}))"))?;
            resized = capture(&mut p, &format!(r"resize-{i}=(\d+ \d+)=100{i}\b"))?;
            if resized == "45 123" {
                break;
            }
        }

        // Ctrl-C goes to the remote foreground job, not to the plugin.
        // The local terminal is raw, so ^C is a byte for the remote terminal, which interrupts
        // the sleep; the plugin itself must live on.
        p.send_line("echo sleeping-$((2+2)); sleep 300; echo not-interrupted-$((3+3))")?;
        p.expect("sleeping-4")?;
        p.send(ControlCode::EndOfText)?;
        p.send_line("echo alive-$((5+5))")?;
        let after_interrupt = capture(&mut p, r"(alive-10|not-interrupted-6)")?;
        if after_interrupt != "alive-10" {
            bail!("Ctrl-C did not reach the remote shell: {after_interrupt}");
        }

        // Leave with a status; the plugin offers to delete the session (its stdin is a terminal).
        p.send_line("exit 7")?;
        p.expect("Delete session").context("the delete prompt")?;
        p.send("y")?;
        p.expect("deleted session")
            .context("the session was deleted")?;
        let exit = p.get_process().wait()?;
        Ok(ShellRun {
            tty,
            initial_size,
            expected_initial_size,
            resized,
            target_pod,
            exit,
        })
    }
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn debugpod_shell_is_a_real_tty_that_follows_resizes_passes_ctrl_c_and_deletes_on_exit()
-> Result<()> {
    let f = Fixture::own("shell").await?;
    let cmd = f.command_as(
        User::Debugpod,
        &["shell", "target", "--reason", &f.tag, "--timeout", "120s"],
    )?;
    let run = tokio::task::spawn_blocking(move || tty::drive(cmd)).await??;
    assert!(run.tty.starts_with("/dev/pts/"), "{}", run.tty);
    assert_eq!(run.initial_size, run.expected_initial_size, "initial size");
    assert_eq!(
        run.resized, "45 123",
        "the remote terminal follows a resize"
    );
    assert_eq!(run.target_pod, "target", "the session carries TARGET_POD");
    assert!(
        matches!(run.exit, expectrl::process::unix::WaitStatus::Exited(_, 7)),
        "the shell's exit status is the plugin's: {:?}",
        run.exit
    );
    assert!(
        f.sessions().await?.is_empty(),
        "the session was deleted on exit"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn debugpod_a_workload_name_skips_pods_being_deleted() -> Result<()> {
    // Mid-rollout a Deployment has an old pod Terminating (phase still Running) next to the new
    // one: `debugpod exec web` must pick the live pod, not call the name ambiguous.
    let f = Fixture::own("rollout").await?;
    for name in ["web-old", "web-new"] {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"terminationGracePeriodSeconds": 120, "containers": [{
                "name": "app", "image": f.sb.toolbox_image, "imagePullPolicy": "IfNotPresent",
                // PID 1 ignores SIGTERM: deleted, the pod stays Terminating for the grace period.
                "command": ["/bin/sh", "-c", "while :; do sleep 1; done"]}]}
        }))?;
        f.pods().create(&PostParams::default(), &pod).await?;
        f.wait_running(name).await?;
    }
    f.pods().delete("web-old", &DeleteParams::default()).await?;
    let old = f.pods().get("web-old").await?;
    ensure!(
        old.metadata.deletion_timestamp.is_some()
            && old.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"),
        "web-old should be Terminating with phase Running"
    );
    let out = f.run(&["report", "web", "--no-presets", "-f", "-"])?;
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("using pod web-new (the only Running pod named web-*)"),
        "{err}"
    );
    Ok(())
}

/// Asserts a refusal: exit 1, one `error:` line containing `wanted`, a `hint:`, and no debug
/// pod of this tool left in the namespace.
async fn refused_leaving_nothing(f: &Fixture, out: &Output, wanted: &str) -> Result<()> {
    let err = stderr(out);
    ensure!(
        out.status.code() == Some(1),
        "exit {:?}: {err}",
        out.status.code()
    );
    ensure!(err.contains(wanted), "want {wanted:?} in: {err}");
    ensure!(
        err.lines().filter(|l| l.starts_with("error:")).count() == 1
            && err.lines().any(|l| l.starts_with("hint: ")),
        "one error line and a hint: {err}"
    );
    f.ensure_no_debug_pods_left().await
}

/// The targets a debug pod cannot help with, and a debug pod that never starts: each is one
/// `error:` line with a `hint:`, exit 1, and no debug pod left behind.
#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn debugpod_a_finished_target_a_vanished_node_and_a_timeout_leave_nothing_behind()
-> Result<()> {
    let f = Fixture::own("stale").await?;

    // A pod that ran to completion: Succeeded, not Running.
    let finished: Pod = serde_json::from_value(json!({
        "metadata": {"name": "finished"},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1, "containers": [{
            "name": "job", "image": f.sb.toolbox_image, "imagePullPolicy": "IfNotPresent",
            "command": ["true"]}]}
    }))?;
    f.pods().create(&PostParams::default(), &finished).await?;
    tokio::time::timeout(
        Duration::from_secs(120),
        await_condition(f.pods(), "finished", |p: Option<&Pod>| {
            p.and_then(|p| p.status.as_ref())
                .and_then(|s| s.phase.as_deref())
                == Some("Succeeded")
        }),
    )
    .await
    .context("pod finished did not succeed within 120s")??;
    let out = f.run(&["create", "finished", "--reason", &f.tag])?;
    refused_leaving_nothing(&f, &out, "pod finished is Succeeded, not Running").await?;

    // A pod the API still reports Running on a node that is gone (its kubelet never comes
    // back to say otherwise): bound to a node that does not exist, status set by the admin.
    let stale: Pod = serde_json::from_value(json!({
        "metadata": {"name": "stale"},
        "spec": {"nodeName": "ghost-node", "terminationGracePeriodSeconds": 1, "containers": [{
            "name": "app", "image": f.sb.toolbox_image, "command": ["sleep", "3600"]}]}
    }))?;
    f.pods().create(&PostParams::default(), &stale).await?;
    f.pods()
        .patch_status(
            "stale",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                json!({"status": {"phase": "Running", "podIP": "10.244.200.200"}}),
            ),
        )
        .await?;
    // The admin may read nodes: the vanished node is named.
    let out = f
        .command_as(User::Admin, &["create", "stale", "--reason", &f.tag])?
        .output()?;
    refused_leaving_nothing(
        &f,
        &out,
        "node \"ghost-node\" of the target no longer exists",
    )
    .await?;
    // The least-privilege user may not read nodes, so the debug pod is created on the ghost
    // node and never starts: the deadline ends the wait, and the pod is deleted.
    let out = f.run(&["create", "stale", "--timeout", "5s", "--reason", &f.tag])?;
    refused_leaving_nothing(&f, &out, "timed out after 5s waiting for debug pod").await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn debugpod_session_flags_are_applied_or_refused_never_dropped() -> Result<()> {
    let f = Fixture::own("flags").await?;
    let target_ip = ip_of(&f.pods().get("target").await?);
    // --reason is an annotation on the debug pod (and in the session's JSON).
    let out = f.run(&[
        "create",
        "target",
        "--profile",
        "netadmin",
        "--ttl",
        "5m",
        "--reason",
        &f.tag,
        "-o",
        "json",
    ])?;
    let session: Value = serde_json::from_str(&ok(&out)?)?;
    let id = session["id"].as_str().context("session id")?.to_string();
    let pod = f
        .pods()
        .get(session["pod"].as_str().context("pod")?)
        .await?;
    assert_eq!(
        pod.annotations().get(REASON),
        Some(&f.tag),
        "{:?}",
        pod.annotations()
    );
    assert_eq!(session["purpose"], f.tag.as_str(), "{session}");
    // A session named by id is used as it is: settings for a new one are refused, not dropped.
    for (extra, named) in [
        (vec!["--image", "busybox"], "--image"),
        (vec!["--profile", "sysadmin"], "--profile sysadmin"),
        (vec!["--share-netns"], "--share-netns"),
        (vec!["--reason", "other"], "--reason"),
        (vec!["-c", "app"], "-c app"),
    ] {
        let args: Vec<&str> = ["exec", id.as_str()]
            .into_iter()
            .chain(extra.iter().copied())
            .chain(["--", "true"])
            .collect();
        let out = f.run(&args)?;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(named) && err.contains(&id), "{args:?}: {err}");
    }
    // `--share-netns` with the target's name does not reuse the netadmin session made without
    // it: a session that shares the target's network namespace runs the command there.
    let out = f.run(&[
        "exec",
        "target",
        "--share-netns",
        "--",
        "ip",
        "-o",
        "-4",
        "addr",
    ])?;
    let addrs = ok(&out)?;
    assert!(
        addrs.contains(&format!("inet {target_ip}/")),
        "not in the target's netns ({target_ip}): {addrs}\n{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("creating one"), "{}", stderr(&out));
    // Only the first session is left in the test's namespace (the one made for the command,
    // untagged, was deleted).
    let left: Vec<String> = f
        .pods()
        .list(&ListParams::default().labels(MANAGED))
        .await?
        .iter()
        .map(|p| p.name_any())
        .collect();
    assert_eq!(left, [pod.name_any()]);
    Ok(())
}

/// Copy sessions, node sessions, sessions across namespaces.
mod copy_node;
