//! End-to-end tests of debugpod's copy sessions (`create --copy`), node sessions (`node NODE`)
//! and sessions across namespaces (`list --sessions -A`, `cleanup -A`), against the sandbox's
//! real API server and kubelet. A child of `debugpod_e2e`, whose `Fixture` it uses.

use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::core::v1::{Endpoints, LimitRange, Namespace, Node, Pod};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::ResourceExt as _;
use kube::api::{Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kubectl_ops_tests::fixtures::{TestNamespace, run_to_completion, unique};
use kubectl_ops_tests::sandbox::{CONTEXT, User, eventually};
use serde_json::{Value, json};

use super::{Fixture, ok, stderr};

/// What the crashing container prints before it exits 1.
const CRASH_LINE: &str = "crashy: cannot read /etc/crashy/config.yaml: No such file or directory";

/// The sandbox's `crashy` workload (tests/sandbox/manifests/workload.yaml) in the test's own
/// namespace: a Deployment whose container exits 1 at start, and a Service selecting it.
async fn deploy_crashy(f: &Fixture) -> Result<Pod> {
    let deployment: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(json!({
        "metadata": {"name": "crashy", "labels": {"app": "crashy"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "crashy"}},
            "template": {"metadata": {"labels": {"app": "crashy"}},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                    "name": "crashy", "image": f.sb.toolbox_image, "imagePullPolicy": "IfNotPresent",
                    "command": ["/bin/sh", "-c"],
                    "args": [format!("echo \"crashy $(hostname): starting\"\n[ -r /etc/crashy/config.yaml ] || {{ echo \"{CRASH_LINE}\" >&2; exit 1; }}\nexec httpd -f -p 8080 -h /etc/crashy\n")],
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 2},
                    "livenessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 5}}]}}}
    }))?;
    Api::namespaced(f.admin.clone(), &f.ns)
        .create(&PostParams::default(), &deployment)
        .await?;
    let service: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
        "metadata": {"name": "crashy"},
        "spec": {"selector": {"app": "crashy"}, "ports": [{"name": "http", "port": 8080, "targetPort": "http"}]}
    }))?;
    Api::namespaced(f.admin.clone(), &f.ns)
        .create(&PostParams::default(), &service)
        .await?;
    // Crashed at least once (so its previous instance has logs) and backing off.
    let pods = f.pods();
    eventually(
        "the crashy pod to be in CrashLoopBackOff",
        Duration::from_secs(120),
        || {
            let pods = pods.clone();
            async move {
                let list = pods
                    .list(&ListParams::default().labels("app=crashy"))
                    .await?;
                Ok(list.items.into_iter().find(|p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.container_statuses.as_ref())
                        .and_then(|cs| cs.first())
                        .is_some_and(|c| {
                            c.restart_count >= 1
                                && c.state
                                    .as_ref()
                                    .and_then(|s| s.waiting.as_ref())
                                    .and_then(|w| w.reason.as_deref())
                                    == Some("CrashLoopBackOff")
                        })
                }))
            }
        },
    )
    .await
}

fn phase_and_reason(p: &Pod) -> (String, String) {
    let s = p.status.clone().unwrap_or_default();
    (s.phase.unwrap_or_default(), s.reason.unwrap_or_default())
}

fn pod_ip(p: &Pod) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default()
}

fn section(v: &Value, name: &str) -> String {
    v["sections"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == name)
        .and_then(|s| s["output"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn debugpod_copy_of_a_crash_looping_pod_reproduces_the_failure_gets_no_traffic_and_ends_at_its_ttl()
-> Result<()> {
    let f = Fixture::own("copy").await?;
    let crashy = deploy_crashy(&f).await?;
    let crashy_name = crashy.name_any();

    // A short-lived copy first: it must end by itself, whatever happens to this test.
    let short: Value = serde_json::from_str(&ok(&f.run(&[
        "create", "crashy", "--copy", "--ttl", "20s", "--reason", &f.tag, "-o", "json",
    ])?)?)?;
    let short_pod = short["pod"].as_str().context("pod")?.to_string();

    // The copy to work in.
    let out = f.run(&[
        "create", "crashy", "--copy", "--ttl", "5m", "--reason", &f.tag, "-o", "json",
    ])?;
    let session: Value = serde_json::from_str(&ok(&out)?).with_context(|| stderr(&out))?;
    assert_eq!(session["kind"], "copy", "{session}");
    assert_eq!(session["container"], "crashy", "the crashing container");
    assert_eq!(session["target"], crashy_name.as_str());
    assert_eq!(session["targetCrashes"][0]["exitCode"], 1, "{session}");
    assert!(
        session["entrypoint"]
            .as_str()
            .unwrap_or_default()
            .contains(CRASH_LINE)
    );
    let id = session["id"].as_str().context("id")?.to_string();
    let copy = f
        .pods()
        .get(session["pod"].as_str().context("pod")?)
        .await?;
    let spec = copy.spec.clone().context("spec")?;
    let original = crashy.spec.clone().context("spec")?;
    assert_eq!(
        spec.node_name, original.node_name,
        "pinned to the target's node"
    );
    assert_eq!(spec.service_account_name, original.service_account_name);
    assert_eq!(
        spec.active_deadline_seconds,
        Some(300),
        "TTL is activeDeadlineSeconds"
    );
    assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
    let c = &spec.containers[0];
    assert!(
        c.liveness_probe.is_none() && c.readiness_probe.is_none(),
        "no probes"
    );
    assert_eq!(c.args, None, "the command is replaced");
    assert!(
        copy.metadata
            .owner_references
            .as_deref()
            .unwrap_or_default()
            .is_empty(),
        "no owner: no ReplicaSet adopts it, and it outlives the target"
    );
    let labels = copy.labels();
    assert!(
        !labels.contains_key("app") && !labels.contains_key("pod-template-hash"),
        "neither the Service's nor the ReplicaSet's selector matches: {labels:?}"
    );
    assert_eq!(labels["app.kubernetes.io/managed-by"], "kubectl-debugpod");

    // The shell runs the original entrypoint by hand and sees the same failure as the target.
    let mut child = f
        .command_as(User::Debugpod, &["shell", &id])?
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(b"eval \"$DEBUGPOD_ENTRYPOINT\"; echo \"entrypoint-rc=$?\"\nexit 0\n")?;
    let shell = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    let (out, err) = (
        String::from_utf8_lossy(&shell.stdout).into_owned(),
        stderr(&shell),
    );
    assert!(shell.status.success(), "{out}\n{err}");
    assert!(
        out.contains("entrypoint-rc=1") && out.contains("starting"),
        "{out}\n{err}"
    );
    assert!(err.contains(CRASH_LINE), "the same failure: {err}");
    let previous = f
        .pods()
        .logs(
            &crashy_name,
            &LogParams {
                previous: true,
                ..LogParams::default()
            },
        )
        .await?;
    assert!(
        previous.contains(CRASH_LINE),
        "the target's own crash: {previous}"
    );

    // No Service endpoint points at the copy: a control pod with the Service's label (and its
    // named port, as the copy has) shows up in the Endpoints (so the controller has synced since
    // the copy became ready), the copy not.
    let control: Pod = serde_json::from_value(json!({
        "metadata": {"name": "control", "labels": {"app": "crashy"}},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
            "name": "c", "image": f.sb.toolbox_image, "imagePullPolicy": "IfNotPresent",
            "command": ["sleep", "600"], "ports": [{"name": "http", "containerPort": 8080}]}]}
    }))?;
    f.pods().create(&PostParams::default(), &control).await?;
    let copy_ip = pod_ip(&f.pods().get(&copy.name_any()).await?);
    ensure!(!copy_ip.is_empty(), "the copy has an IP");
    let endpoints: Api<Endpoints> = Api::namespaced(f.admin.clone(), &f.ns);
    let pods = f.pods();
    let ips = eventually(
        "the control pod in the crashy Service's endpoints",
        Duration::from_secs(90),
        || {
            let (endpoints, pods) = (endpoints.clone(), pods.clone());
            async move {
                let control_ip = pod_ip(&pods.get("control").await?);
                let ep = endpoints.get("crashy").await?;
                let ips: Vec<String> = ep
                    .subsets
                    .iter()
                    .flatten()
                    .flat_map(|s| {
                        s.addresses
                            .iter()
                            .flatten()
                            .chain(s.not_ready_addresses.iter().flatten())
                    })
                    .map(|a| a.ip.clone())
                    .collect();
                Ok((!control_ip.is_empty() && ips.contains(&control_ip)).then_some(ips))
            }
        },
    )
    .await?;
    assert!(
        !ips.contains(&copy_ip),
        "the copy {copy_ip} is an endpoint: {ips:?}"
    );

    // The presets run inside the copy; the report of the copy and of the crashing target.
    let out = f.run(&["exec", &id, "system", "-o", "json"])?;
    let sys: Value = serde_json::from_str(&ok(&out)?).with_context(|| stderr(&out))?;
    assert_eq!(sys["view"], "copy", "{sys}");
    assert!(section(&sys, "processes").contains("sleep 300"), "{sys}");
    let report = ok(&f.run(&["report", &id, "-f", "-"])?)?;
    assert!(
        report.contains(&format!("debug copy of pod {crashy_name}"))
            && report.contains("#### processes"),
        "{report}"
    );
    let report = ok(&f.run(&["report", "crashy", "-f", "-"])?)?;
    for part in [
        "## Crash",
        "container crashy: CrashLoopBackOff",
        "last exit 1 (Error)",
        "Last lines of the crashed instance of crashy:",
        CRASH_LINE,
        "debug a copy: `kubectl debugpod create",
    ] {
        assert!(report.contains(part), "report lacks {part:?}:\n{report}");
    }

    // The short copy ends at its TTL (the kubelet's activeDeadlineSeconds), by itself.
    let pods = f.pods();
    let name = short_pod.clone();
    eventually(
        "the 20s copy to end at its TTL",
        Duration::from_secs(120),
        || {
            let (pods, name) = (pods.clone(), name.clone());
            async move {
                let (phase, reason) = phase_and_reason(&pods.get(&name).await?);
                Ok((phase == "Failed" && reason == "DeadlineExceeded").then_some(()))
            }
        },
    )
    .await?;
    let out = f.run(&["shell", &short_pod])?;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is Failed (DeadlineExceeded)") && stderr(&out).contains("--copy"),
        "{}",
        stderr(&out)
    );

    // Cleanup shows what it deletes and asks: without a terminal and --yes it refuses.
    let out = f.run(&["cleanup", "--expired"])?;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("pod/{short_pod} in namespace {}", f.ns))
            && stderr(&out).contains("refusing to delete 1 debug pod(s)"),
        "{}",
        stderr(&out)
    );
    ensure!(
        f.pods().get_opt(&short_pod).await?.is_some(),
        "nothing deleted without --yes"
    );
    let out = ok(&f.run(&["cleanup", "--expired", "--yes"])?)?;
    assert!(out.contains(&format!("pod/{short_pod} deleted")), "{out}");
    assert!(
        !out.contains(&copy.name_any()),
        "the running copy is kept: {out}"
    );
    ok(&f.run(&["cleanup", &id, "--yes"])?)?;
    f.ensure_no_debug_pods_left().await
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn debugpod_copy_of_a_job_pod_warns_that_it_is_not_retried() -> Result<()> {
    let f = Fixture::own("copyjob").await?;
    let job: k8s_openapi::api::batch::v1::Job = serde_json::from_value(json!({
        "metadata": {"name": "nightly"},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1, "containers": [{
                "name": "task", "image": f.sb.toolbox_image, "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", "echo working; sleep 600"]}]}}}
    }))?;
    Api::namespaced(f.admin.clone(), &f.ns)
        .create(&PostParams::default(), &job)
        .await?;
    let pods = f.pods();
    let pod = eventually("the Job's pod", Duration::from_secs(60), || {
        let pods = pods.clone();
        async move {
            Ok(pods
                .list(&ListParams::default().labels("job-name=nightly"))
                .await?
                .items
                .into_iter()
                .next())
        }
    })
    .await?;
    let out = f.run(&[
        "create",
        &pod.name_any(),
        "--copy",
        "-c",
        "task",
        "--reason",
        &f.tag,
        "-o",
        "json",
    ])?;
    let session: Value = serde_json::from_str(&ok(&out)?)?;
    assert!(
        stderr(&out).contains("belongs to Job/nightly: the copy runs once and is not retried"),
        "{}",
        stderr(&out)
    );
    // An unknown container is named with a suggestion, and nothing is made.
    let out = f.run(&["create", &pod.name_any(), "--copy", "-c", "tsk"])?;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("container \"tsk\" not found (did you mean \"task\"?)"),
        "{}",
        stderr(&out)
    );
    ok(&f.run(&["cleanup", session["id"].as_str().context("id")?, "--yes"])?)?;
    f.ensure_no_debug_pods_left().await
}

/// A user made up for one test, bound to exactly what `kubectl debugpod rbac node` prints (the
/// Role in each namespace, the ClusterRole cluster-wide), used through `--as`. The bindings go
/// on drop.
struct NodeUser {
    sandbox: kubectl_ops_tests::sandbox::Sandbox,
    name: String,
    cluster_role: String,
    namespaces: Vec<String>,
}

impl Drop for NodeUser {
    fn drop(&mut self) {
        let (sandbox, name, namespaces) = (
            self.sandbox.clone(),
            self.cluster_role.clone(),
            self.namespaces.clone(),
        );
        // A client of its own: the test's client lives on the test's runtime, which is blocked here.
        run_to_completion(async move {
            let Ok(admin) = sandbox.client().await else {
                return;
            };
            let dp = DeleteParams::default();
            let _ = Api::<ClusterRoleBinding>::all(admin.clone())
                .delete(&name, &dp)
                .await;
            let _ = Api::<ClusterRole>::all(admin.clone())
                .delete(&name, &dp)
                .await;
            for ns in namespaces {
                let _ = Api::<RoleBinding>::namespaced(admin.clone(), &ns)
                    .delete(&name, &dp)
                    .await;
                let _ = Api::<Role>::namespaced(admin.clone(), &ns)
                    .delete(&name, &dp)
                    .await;
            }
        });
    }
}

/// The documents `kubectl debugpod rbac node -n NS` prints: the Role, then the ClusterRole.
fn printed_node_rbac(namespace: &str) -> Result<(Role, ClusterRole)> {
    let out = kubectl_ops_tests::plugin("kubectl-debugpod")
        .args(["rbac", "node", "-n", namespace])
        .output()?;
    let text = ok(&out)?;
    let (role, cluster) = text
        .split_once("\n---\n")
        .context("rbac node prints a Role and a ClusterRole")?;
    let role: Value = serde_saphyr::from_str(role)?;
    let cluster: Value = serde_saphyr::from_str(cluster)?;
    Ok((
        serde_json::from_value(role)?,
        serde_json::from_value(cluster)?,
    ))
}

impl NodeUser {
    async fn bind(f: &Fixture, namespaces: &[&str]) -> Result<NodeUser> {
        let name = format!("node-debugger-{}", unique());
        let user = NodeUser {
            sandbox: f.sb.clone(),
            name: name.clone(),
            cluster_role: name.clone(),
            namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
        };
        let subject =
            json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}]);
        for ns in namespaces {
            let (mut role, _) = printed_node_rbac(ns)?;
            role.metadata.name = Some(name.clone());
            Api::<Role>::namespaced(f.admin.clone(), ns)
                .create(&PostParams::default(), &role)
                .await?;
            let binding: RoleBinding = serde_json::from_value(json!({
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": subject,
            }))?;
            Api::<RoleBinding>::namespaced(f.admin.clone(), ns)
                .create(&PostParams::default(), &binding)
                .await?;
        }
        let (_, mut cluster) = printed_node_rbac(namespaces[0])?;
        cluster.metadata.name = Some(name.clone());
        Api::<ClusterRole>::all(f.admin.clone())
            .create(&PostParams::default(), &cluster)
            .await?;
        let binding: ClusterRoleBinding = serde_json::from_value(json!({
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": subject,
        }))?;
        Api::<ClusterRoleBinding>::all(f.admin.clone())
            .create(&PostParams::default(), &binding)
            .await?;
        // Wait until the authorizer agrees on every binding.
        let mut checks = vec![(None, "nodes", "get")];
        checks.extend(
            namespaces
                .iter()
                .map(|ns| (Some(ns.to_string()), "pods", "create")),
        );
        for (ns, resource, verb) in checks {
            let review: SubjectAccessReview = serde_json::from_value(json!({
                "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "spec": {"user": name, "groups": ["system:authenticated"],
                    "resourceAttributes": {"namespace": ns, "resource": resource, "verb": verb}},
            }))?;
            let api: Api<SubjectAccessReview> = Api::all(f.admin.clone());
            eventually(
                &format!("{name} to be allowed to {verb} {resource}"),
                Duration::from_secs(30),
                || {
                    let (api, review) = (api.clone(), review.clone());
                    async move {
                        let answer = api.create(&PostParams::default(), &review).await?;
                        Ok(answer.status.is_some_and(|s| s.allowed).then_some(()))
                    }
                },
            )
            .await?;
        }
        Ok(user)
    }

    /// Runs `kubectl debugpod ARGS -n NAMESPACE` as this user (the admin's kubeconfig, `--as`).
    fn run(&self, f: &Fixture, namespace: &str, args: &[&str]) -> Result<std::process::Output> {
        let mut cmd = kubectl_ops_tests::plugin("kubectl-debugpod");
        cmd.env_remove("KUBECONFIG")
            .arg("--kubeconfig")
            .arg(f.sb.kubeconfig(User::Admin)?)
            .args([
                "--context",
                CONTEXT,
                "--as",
                &self.name,
                "-n",
                namespace,
                "--config",
            ])
            .arg(f.config())
            .args(args);
        Ok(cmd.output()?)
    }
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn debugpod_node_session_runs_in_the_hosts_namespaces_and_names_a_namespace_that_accepts_it()
-> Result<()> {
    let f = Fixture::own("node").await?;
    let other = TestNamespace::create(&f.sb, &f.admin, "debugpod-nodeb").await?;
    Api::<Namespace>::all(f.admin.clone())
        .patch(
            other.name(),
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}})),
        )
        .await?;
    let user = NodeUser::bind(&f, &[&f.ns, other.name()]).await?;
    let node_name =
        f.sb.vars
            .get("SANDBOX_NODE_NAME")
            .cloned()
            .unwrap_or("localhost".into());
    let node = Api::<Node>::all(f.admin.clone()).get(&node_name).await?;

    // An unknown node: one error line, a close-name suggestion, nothing made.
    let typo = format!("{}x", node_name);
    let out = user.run(&f, &f.ns, &["node", &typo])?;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "node \"{typo}\" not found (did you mean \"{node_name}\"?)"
        )),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    assert!(err.lines().any(|l| l.starts_with("hint: ")), "{err}");

    // The node session: sysadmin, pinned, tolerating everything, owned by the Node.
    let out = user.run(
        &f,
        &f.ns,
        &[
            "node", &node_name, "--ttl", "5m", "--reason", &f.tag, "-o", "json",
        ],
    )?;
    let session: Value = serde_json::from_str(&ok(&out)?).with_context(|| stderr(&out))?;
    assert_eq!(session["kind"], "node", "{session}");
    assert_eq!(
        session["owner"],
        user.name.as_str(),
        "created-by is the (impersonated) user"
    );
    let pod = f
        .pods()
        .get(session["pod"].as_str().context("pod")?)
        .await?;
    let spec = pod.spec.clone().context("spec")?;
    assert_eq!(spec.node_name.as_deref(), Some(node_name.as_str()));
    assert_eq!((spec.host_pid, spec.host_network), (Some(true), Some(true)));
    assert_eq!(spec.active_deadline_seconds, Some(300));
    let c = &spec.containers[0];
    assert_eq!(
        c.security_context.as_ref().and_then(|s| s.privileged),
        Some(true)
    );
    assert!(
        c.volume_mounts
            .iter()
            .flatten()
            .any(|m| m.mount_path == "/host")
    );
    let tolerations = spec.tolerations.clone().unwrap_or_default();
    assert!(
        tolerations
            .iter()
            .any(|t| t.key.is_none() && t.operator.as_deref() == Some("Exists")),
        "{tolerations:?}"
    );
    let owner = &pod.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), Some(owner.uid.clone())),
        ("Node", node.uid())
    );

    // `exec NODE system` finds that session by the node's name and shows the host's processes:
    // the same PID 1 as this machine (the sandbox's node is this machine), and the kubelet.
    let out = user.run(&f, &f.ns, &["exec", &node_name, "system", "-o", "json"])?;
    let sys: Value = serde_json::from_str(&ok(&out)?).with_context(|| stderr(&out))?;
    assert!(
        stderr(&out).contains("using node session"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sys["view"], "host", "{sys}");
    let host_init = std::fs::read("/proc/1/cmdline")?
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        section(&sys, "init").contains(&format!("pid 1: {host_init}")),
        "init: {} (host: {host_init})",
        section(&sys, "init")
    );
    assert!(section(&sys, "processes").contains("kubelet"), "{sys}");
    // `exec NODE network` looks at the host's network namespace: the node's InternalIP (the
    // sandbox's bridge address, which no pod has) and the kubelet's API port listening.
    let node_ip = node
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
        .map(|a| a.address.clone())
        .context("the node's InternalIP")?;
    let out = user.run(&f, &f.ns, &["exec", &node_name, "network", "-o", "json"])?;
    let net: Value = serde_json::from_str(&ok(&out)?).with_context(|| stderr(&out))?;
    assert!(
        section(&net, "addresses").contains(&format!("inet {node_ip}/")),
        "{net}"
    );
    assert!(section(&net, "listening").contains("kubelet"), "{net}");
    // `exec NODE -- CMD` runs in the host's mount namespace: the host's own os-release (the
    // debug image has none).
    let out = user.run(
        &f,
        &f.ns,
        &["exec", &node_name, "--", "cat", "/etc/os-release"],
    )?;
    assert_eq!(
        ok(&out)?,
        std::fs::read_to_string("/etc/os-release")?,
        "{}",
        stderr(&out)
    );

    // A namespace whose admission refuses the pod (here a LimitRange; PodSecurity does not exist
    // in 1.20) is named with another namespace whose dry-run accepts it.
    let limits: LimitRange = serde_json::from_value(json!({
        "metadata": {"name": "tight"},
        "spec": {"limits": [{"type": "Container", "max": {"memory": "64Mi"}}]}
    }))?;
    Api::<LimitRange>::namespaced(f.admin.clone(), &f.ns)
        .create(&PostParams::default(), &limits)
        .await?;
    let out = user.run(&f, &f.ns, &["node", &node_name, "--reason", &f.tag])?;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "namespace {} refuses the node pod: maximum memory usage per Container is 64Mi",
            f.ns
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "hint: namespace {0} accepts it (server-side dry-run): `kubectl debugpod node {node_name} --namespace {0}`",
            other.name()
        )),
        "{err}"
    );
    // ...and it does.
    let out = user.run(
        &f,
        other.name(),
        &["node", &node_name, "--reason", &f.tag, "-o", "json"],
    )?;
    let there: Value = serde_json::from_str(&ok(&out)?).with_context(|| stderr(&out))?;
    assert_eq!(there["namespace"], other.name());

    ok(&user.run(&f, other.name(), &["cleanup", "--all", "--yes"])?)?;
    ok(&user.run(&f, &f.ns, &["cleanup", "--all", "--yes"])?)?;
    f.ensure_no_debug_pods_left().await
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn debugpod_sessions_of_every_namespace_are_listed_and_cleaned_up_in_one_command()
-> Result<()> {
    let a = Fixture::own("alla").await?;
    let b = Fixture::own("allb").await?;
    let mut ids = Vec::new();
    for f in [&a, &a, &b] {
        let s: Value = serde_json::from_str(&ok(&f.run(&[
            "create",
            "target",
            "--profile",
            "baseline",
            "--ttl",
            "10m",
            "--reason",
            &f.tag,
            "-o",
            "json",
        ])?)?)?;
        ids.push((
            s["id"].as_str().context("id")?.to_string(),
            s["pod"].as_str().context("pod")?.to_string(),
            f.ns.clone(),
        ));
    }
    // Two of them expired (their expiry passed: what the annotation says, set by the admin).
    for (_, pod, ns) in &ids[1..] {
        Api::<Pod>::namespaced(a.admin.clone(), ns)
            .patch(
                pod,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {"debugpod.kubectl-ops.dev/expires-at": "2020-01-01T00:00:00Z"}}})),
            )
            .await?;
    }
    let admin = |args: &[&str]| -> Result<std::process::Output> {
        Ok(a.command_as(User::Admin, args)?.output()?)
    };
    let list: Value =
        serde_json::from_str(&ok(&admin(&["list", "--sessions", "-A", "-o", "json"])?)?)?;
    for (id, _, ns) in &ids {
        assert!(
            list["items"]
                .as_array()
                .context("items")?
                .iter()
                .any(|s| s["id"] == id.as_str() && s["namespace"] == ns.as_str()),
            "{id} in {ns} missing: {list}"
        );
    }
    let table = ok(&admin(&["list", "--sessions", "-A"])?)?;
    assert!(table.starts_with("NAMESPACE"), "{table}");
    for (id, _, ns) in &ids {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(ns.as_str()) && l.contains(id.as_str())),
            "{table}"
        );
    }
    // `cleanup --expired -A` picks the expired ones of both namespaces (shown with a dry run:
    // other tests' expired sessions are not this test's to delete)...
    let dry = ok(&admin(&["cleanup", "--expired", "-A", "--dry-run"])?)?;
    assert!(dry.contains(&ids[1].1) && dry.contains(&ids[2].1), "{dry}");
    assert!(
        !dry.contains(&ids[0].1),
        "a running session is not expired: {dry}"
    );
    // ...and deletes named sessions wherever they are, after --yes only.
    let out = admin(&["cleanup", "-A", &ids[1].0, &ids[2].0])?;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refusing to delete 2 debug pod(s)"),
        "{}",
        stderr(&out)
    );
    let out = ok(&admin(&["cleanup", "-A", &ids[1].0, &ids[2].0, "--yes"])?)?;
    for (_, pod, ns) in &ids[1..] {
        assert!(
            out.contains(&format!("pod/{pod} deleted")) && out.contains(ns.as_str()),
            "{out}"
        );
        let gone = Api::<Pod>::namespaced(a.admin.clone(), ns)
            .get_opt(pod)
            .await?;
        assert!(
            gone.is_none_or(|p| p.metadata.deletion_timestamp.is_some()),
            "{pod}"
        );
    }
    let kept = a.pods().get(&ids[0].1).await?;
    assert!(
        kept.metadata.deletion_timestamp.is_none(),
        "the other session is kept"
    );
    Ok(())
}
