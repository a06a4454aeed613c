//! Smoke tests of the sandbox harness itself (tests/sandbox): the cluster, the API paths the
//! plugins use (exec, port-forward, rollout restart), the cert-manager stand-in, Redis Cluster
//! and OpenBao. Each test creates what it changes in a namespace of its own, so the plugins'
//! end-to-end tests can run beside them on the seeded `market-intel-brain` workload.

use std::{collections::BTreeMap, time::Duration};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use k8s_openapi::{
    ByteString,
    api::{
        apps::v1::Deployment,
        authorization::v1::SelfSubjectAccessReview,
        core::v1::{Node, Pod, Secret},
    },
};
use kube::{
    Api, Client, ResourceExt as _,
    api::{
        ApiResource, AttachParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
        PostParams,
    },
};
use kubectl_ops_tests::fixtures::TestNamespace;
use kubectl_ops_tests::sandbox::{Sandbox, User, eventually, redis_command};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const NEEDS: &str = "needs the sandbox: tests/sandbox/sandbox up";

fn certificates() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "cert-manager.io",
        "v1",
        "Certificate",
    ))
}

fn issuers() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("cert-manager.io", "v1", "Issuer"))
}

async fn sandbox() -> Result<(Sandbox, Client)> {
    let sb = Sandbox::load()?;
    let client = sb.client().await?;
    Ok((sb, client))
}

/// Runs a command in a pod through the API (kube `ws`), returning stdout; fails on a non-zero exit.
async fn exec(pods: &Api<Pod>, pod: &str, command: &[&str]) -> Result<String> {
    let params = AttachParams::default()
        .stdin(false)
        .stdout(true)
        .stderr(true);
    let mut process = pods.exec(pod, command.iter().copied(), &params).await?;
    let mut stdout = process.stdout().ok_or_else(|| anyhow!("no stdout"))?;
    let mut stderr = process.stderr().ok_or_else(|| anyhow!("no stderr"))?;
    let status = process.take_status().ok_or_else(|| anyhow!("no status"))?;
    let (mut out, mut err) = (String::new(), String::new());
    let (r1, r2) = tokio::join!(
        stdout.read_to_string(&mut out),
        stderr.read_to_string(&mut err)
    );
    r1?;
    r2?;
    let status = status.await;
    process.join().await?;
    match status.as_ref().and_then(|s| s.status.as_deref()) {
        Some("Success") => Ok(out),
        _ => bail!("{command:?} in {pod} failed: {status:?}\nstdout: {out}\nstderr: {err}"),
    }
}

fn condition<'a>(obj: &'a DynamicObject, type_: &str) -> Option<&'a Value> {
    obj.data
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn revision(obj: &DynamicObject) -> i64 {
    obj.data
        .pointer("/status/revision")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn tls_crt(secret: &Secret) -> Option<Vec<u8>> {
    secret.data.as_ref()?.get("tls.crt").map(|b| b.0.clone())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn node_is_ready() -> Result<()> {
    let (_, client) = sandbox().await?;
    let nodes = Api::<Node>::all(client)
        .list(&ListParams::default())
        .await?;
    ensure!(
        nodes.items.len() == 1,
        "expected one node, got {}",
        nodes.items.len()
    );
    let node = &nodes.items[0];
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.clone());
    ensure!(
        ready.as_deref() == Some("True"),
        "node {} Ready={ready:?}",
        node.name_any()
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn seeded_workload_pods_are_running() -> Result<()> {
    let (sb, client) = sandbox().await?;
    let pods: Api<Pod> = Api::namespaced(client, &sb.namespace);
    for app in ["api-gateway", "core-engine", "redis"] {
        let list = pods
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await?;
        let running = list
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .any(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"));
        ensure!(running, "no Running pod with app={app} in {}", sb.namespace);
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn exec_through_the_api_reaches_the_tls_server() -> Result<()> {
    let (sb, client) = sandbox().await?;
    let pods: Api<Pod> = Api::namespaced(client, &sb.namespace);
    let pod = pods
        .list(
            &ListParams::default()
                .labels("app=api-gateway")
                .fields("status.phase=Running"),
        )
        .await?
        .items
        .into_iter()
        .find(|p| p.metadata.deletion_timestamp.is_none())
        .ok_or_else(|| anyhow!("no running api-gateway pod"))?
        .name_any();
    let out = exec(&pods, &pod, &["sh", "-c", "echo exec-ok; id -u"]).await?;
    ensure!(out == "exec-ok\n0\n", "unexpected exec output {out:?}");
    // The pod serves TLS with the certificate the stand-in issued into api-gateway-tls.
    let served = exec(
        &pods,
        &pod,
        &["sh", "-c", "openssl s_client -connect 127.0.0.1:8443 </dev/null 2>/dev/null | openssl x509 -noout -subject -issuer"],
    )
    .await?;
    ensure!(
        served.contains("api-gateway"),
        "served certificate: {served}"
    );
    ensure!(
        served.contains("Market Intel"),
        "served certificate not from the sandbox CA: {served}"
    );
    // Exit codes come back through the API too.
    ensure!(
        exec(&pods, &pod, &["sh", "-c", "exit 3"]).await.is_err(),
        "a failing command reported success"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn port_forward_to_redis_answers_ping() -> Result<()> {
    let (sb, client) = sandbox().await?;
    let pods: Api<Pod> = Api::namespaced(client, &sb.namespace);
    let mut forwarder = pods.portforward("redis-0", &[6379]).await?;
    let mut stream = forwarder
        .take_stream(6379)
        .ok_or_else(|| anyhow!("no stream for port 6379"))?;
    stream.write_all(b"PING\r\n").await?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 64];
    while !reply.ends_with(b"\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await??;
        ensure!(
            n > 0,
            "port-forward stream closed, got {:?}",
            String::from_utf8_lossy(&reply)
        );
        reply.extend_from_slice(&buf[..n]);
    }
    ensure!(
        reply == b"+PONG\r\n",
        "unexpected reply {:?}",
        String::from_utf8_lossy(&reply)
    );
    drop(stream);
    forwarder.join().await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn rollout_restart_completes() -> Result<()> {
    let (sb, client) = sandbox().await?;
    let ns = TestNamespace::create(&sb, &client, "smoke-rollout").await?;
    rollout_restart_in(&sb, &client, ns.name()).await
}

async fn rollout_restart_in(sb: &Sandbox, client: &Client, ns: &str) -> Result<()> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "web", "image": sb.toolbox_image, "imagePullPolicy": "IfNotPresent",
                        "command": ["httpd", "-f", "-p", "8080"],
                        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                    }],
                },
            },
        },
    }))?;
    deployments
        .create(&PostParams::default(), &deployment)
        .await?;
    wait_rolled_out(&deployments, "web").await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let before: Vec<String> = pods
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(|p| p.name_any())
        .collect();

    // What `kubectl rollout restart` does.
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}});
    deployments
        .patch("web", &PatchParams::default(), &Patch::Strategic(patch))
        .await?;
    wait_rolled_out(&deployments, "web").await?;
    let after = eventually(
        "the old pod to go away",
        Duration::from_secs(60),
        || async {
            let pods = pods.list(&ListParams::default()).await?;
            let names: Vec<String> = pods.items.iter().map(|p| p.name_any()).collect();
            if names.len() == 1 && !before.contains(&names[0]) {
                Ok(Some(pods.items))
            } else {
                // Retried; reported if the deadline passes.
                Err(anyhow!("pods now {names:?}, before the restart {before:?}"))
            }
        },
    )
    .await?;
    let annotations = after[0].metadata.annotations.clone().unwrap_or_default();
    ensure!(
        annotations.get("kubectl.kubernetes.io/restartedAt") == Some(&now),
        "new pod lacks the annotation"
    );
    Ok(())
}

async fn wait_rolled_out(deployments: &Api<Deployment>, name: &str) -> Result<()> {
    eventually(
        &format!("deployment {name} to roll out"),
        Duration::from_secs(90),
        || async {
            let d = deployments.get(name).await?;
            let generation = d.metadata.generation.unwrap_or(0);
            let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let s = d.status.unwrap_or_default();
            let (observed, updated, replicas, available) = (
                s.observed_generation.unwrap_or(0),
                s.updated_replicas.unwrap_or(0),
                s.replicas.unwrap_or(0),
                s.available_replicas.unwrap_or(0),
            );
            if observed >= generation && updated == want && replicas == want && available == want {
                Ok(Some(()))
            } else {
                Err(anyhow!(
                    "generation {generation} observed {observed}; replicas {replicas}, \
                     updated {updated}, available {available}, wanted {want}"
                ))
            }
        },
    )
    .await
}

/// In the test's namespace: a copy of the sandbox CA, a CA Issuer and one Certificate, waited
/// until the stand-in has issued it (revision 1, Secret present, Ready=True).
async fn issued_certificate(sb: &Sandbox, client: &Client, ns: &str) -> Result<String> {
    let ca = Api::<Secret>::namespaced(client.clone(), &sb.namespace)
        .get("market-intel-ca")
        .await?;
    let copy = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("smoke-ca".into()),
            ..Default::default()
        },
        type_: ca.type_.clone(),
        data: ca.data.clone(),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &copy)
        .await?;
    let issuer: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cert-manager.io/v1", "kind": "Issuer",
        "metadata": {"name": "smoke-ca"},
        "spec": {"ca": {"secretName": "smoke-ca"}},
    }))?;
    Api::<DynamicObject>::namespaced_with(client.clone(), ns, &issuers())
        .create(&PostParams::default(), &issuer)
        .await?;
    let name = "web-tls".to_owned();
    let dns = format!("web.{ns}.svc.cluster.local");
    let cert: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": name},
        "spec": {
            "secretName": name, "commonName": dns, "dnsNames": [dns],
            "duration": "2160h", "renewBefore": "360h",
            "privateKey": {"algorithm": "ECDSA", "size": 256},
            "issuerRef": {"name": "smoke-ca", "kind": "Issuer", "group": "cert-manager.io"},
        },
    }))?;
    let certs: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &certificates());
    certs.create(&PostParams::default(), &cert).await?;
    eventually(
        "the stand-in to issue the new Certificate",
        Duration::from_secs(60),
        || async {
            let c = certs.get(&name).await?;
            let ready = condition(&c, "Ready").is_some_and(|r| r["status"] == "True");
            Ok((ready && revision(&c) == 1).then_some(()))
        },
    )
    .await?;
    Ok(name)
}

async fn set_issuing(certs: &Api<DynamicObject>, name: &str) -> Result<()> {
    // What `cmctl renew` does: add Issuing=True through the status subresource.
    let current = certs.get(name).await?;
    let mut conditions: Vec<Value> = current
        .data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    conditions.retain(|c| c["type"] != "Issuing");
    conditions.push(json!({
        "type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
        "message": "Certificate re-issuance manually triggered",
        "lastTransitionTime": k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    }));
    certs
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": conditions}})),
        )
        .await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn standin_reissues_when_issuing_is_set() -> Result<()> {
    let (sb, client) = sandbox().await?;
    let ns = TestNamespace::create(&sb, &client, "smoke-issue").await?;
    standin_reissue_in(&sb, &client, ns.name()).await
}

async fn standin_reissue_in(sb: &Sandbox, client: &Client, ns: &str) -> Result<()> {
    let name = issued_certificate(sb, client, ns).await?;
    let certs: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &certificates());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let old_crt = tls_crt(&secrets.get(&name).await?).context("no tls.crt")?;
    let old_key = secrets
        .get(&name)
        .await?
        .data
        .unwrap_or_default()
        .get("tls.key")
        .cloned();

    set_issuing(&certs, &name).await?;
    let cert = eventually("revision 2", Duration::from_secs(60), || async {
        let c = certs.get(&name).await?;
        Ok((revision(&c) == 2 && condition(&c, "Issuing").is_none()).then_some(c))
    })
    .await?;
    ensure!(
        condition(&cert, "Ready").is_some_and(|r| r["status"] == "True" && r["reason"] == "Ready")
    );
    for field in ["notBefore", "notAfter", "renewalTime"] {
        ensure!(
            cert.data.pointer(&format!("/status/{field}")).is_some(),
            "status.{field} missing"
        );
    }

    let secret = secrets.get(&name).await?;
    ensure!(secret.type_.as_deref() == Some("kubernetes.io/tls"));
    let annotations = secret.annotations();
    ensure!(annotations.get("cert-manager.io/certificate-name") == Some(&name));
    ensure!(
        annotations
            .get("cert-manager.io/issuer-name")
            .map(String::as_str)
            == Some("smoke-ca")
    );
    let new_crt = tls_crt(&secret).context("no tls.crt")?;
    ensure!(new_crt != old_crt, "tls.crt did not change");
    ensure!(
        secret.data.as_ref().and_then(|d| d.get("tls.key")).cloned() != old_key,
        "the key was not rotated"
    );
    let data: BTreeMap<String, ByteString> = secret.data.unwrap_or_default();
    ensure!(data.contains_key("ca.crt"), "ca.crt missing");

    // The new leaf: signed by the sandbox CA, for the right name, valid 2160h.
    let (_, pem) = x509_parser::pem::parse_x509_pem(&new_crt)?;
    let leaf = pem.parse_x509()?;
    ensure!(
        leaf.issuer().to_string().contains("Market Intel"),
        "issuer {}",
        leaf.issuer()
    );
    let dns = format!("web.{ns}.svc.cluster.local");
    ensure!(
        leaf.subject().to_string().contains(&dns),
        "subject {}",
        leaf.subject()
    );
    let validity = leaf.validity();
    let hours = (validity.not_after.timestamp() - validity.not_before.timestamp()) / 3600;
    ensure!(hours == 2160, "validity {hours}h");

    // cert-manager's CertificateRequest for revision 2, approved and ready.
    let requests = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "cert-manager.io",
            "v1",
            "CertificateRequest",
        )),
    );
    let request = requests.get(&format!("{name}-2")).await?;
    ensure!(condition(&request, "Approved").is_some_and(|c| c["status"] == "True"));
    ensure!(
        condition(&request, "Ready")
            .is_some_and(|c| c["status"] == "True" && c["reason"] == "Issued")
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn standin_failure_annotation_fails_the_issuance() -> Result<()> {
    let (sb, client) = sandbox().await?;
    let ns = TestNamespace::create(&sb, &client, "smoke-fail").await?;
    standin_failure_in(&sb, &client, ns.name()).await
}

async fn standin_failure_in(sb: &Sandbox, client: &Client, ns: &str) -> Result<()> {
    let name = issued_certificate(sb, client, ns).await?;
    let certs: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &certificates());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let before = secrets.get(&name).await?;

    let message = "injected by the smoke test: issuer unreachable";
    let patch =
        json!({"metadata": {"annotations": {"sandbox.kubectl-ops.dev/fail-issuance": message}}});
    certs
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await?;
    set_issuing(&certs, &name).await?;
    let cert = eventually("Issuing=False", Duration::from_secs(60), || async {
        let c = certs.get(&name).await?;
        Ok(condition(&c, "Issuing")
            .is_some_and(|i| i["status"] == "False")
            .then_some(c))
    })
    .await?;
    let issuing = condition(&cert, "Issuing").unwrap();
    ensure!(
        issuing["reason"] == "Failed",
        "reason {}",
        issuing["reason"]
    );
    ensure!(
        issuing["message"] == message,
        "message {}",
        issuing["message"]
    );
    ensure!(cert.data.pointer("/status/failedIssuanceAttempts") == Some(&json!(1)));
    ensure!(
        cert.data.pointer("/status/lastFailureTime").is_some(),
        "lastFailureTime missing"
    );
    ensure!(
        revision(&cert) == 1,
        "revision moved to {}",
        revision(&cert)
    );
    ensure!(
        condition(&cert, "Ready").is_some_and(|r| r["status"] == "True"),
        "Ready was touched"
    );
    let after = secrets.get(&name).await?;
    ensure!(after.data == before.data, "the Secret changed");
    ensure!(
        after.metadata.resource_version == before.metadata.resource_version,
        "the Secret was written"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn least_privilege_users_authenticate_and_nobody_has_no_rights() -> Result<()> {
    let sb = Sandbox::load()?;
    // The plugin users start without bindings, but end-to-end tests running beside this one
    // bind them: only check that their tokens authenticate (a self-review is open to any
    // authenticated user; a bad token gets 401).
    for user in [User::Certs, User::Rflush, User::Debugpod] {
        let client = sb.client_for(user).await?;
        can_list_pods(&client, &sb.namespace)
            .await
            .with_context(|| format!("{} does not authenticate", user.name()))?;
    }
    // kubectl-ops-nobody is never bound: denied, both by the review and by the real request.
    let client = sb.client_for(User::Nobody).await?;
    ensure!(
        !can_list_pods(&client, &sb.namespace).await?,
        "kubectl-ops-nobody may list pods"
    );
    match Api::<Pod>::namespaced(client, &sb.namespace)
        .list(&ListParams::default())
        .await
    {
        Err(kube::Error::Api(s)) if s.code == 403 => Ok(()),
        Err(other) => bail!("kubectl-ops-nobody: expected 403, got {other}"),
        Ok(_) => bail!("kubectl-ops-nobody could list pods"),
    }
}

/// A SelfSubjectAccessReview: may this client list pods in the namespace?
async fn can_list_pods(client: &Client, namespace: &str) -> Result<bool> {
    let review: SelfSubjectAccessReview = serde_json::from_value(json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"namespace": namespace, "verb": "list", "resource": "pods"}},
    }))?;
    let answer = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn redis_cluster_reports_ok() -> Result<()> {
    let sb = Sandbox::load()?;
    ensure!(
        sb.redis_cluster_nodes.len() == 6,
        "nodes: {:?}",
        sb.redis_cluster_nodes
    );
    let mut primaries = 0;
    for node in &sb.redis_cluster_nodes {
        let info = redis_command(node, &["CLUSTER", "INFO"]).await?;
        ensure!(info.contains("cluster_state:ok"), "{node}: {info}");
        ensure!(
            info.contains("cluster_slots_assigned:16384"),
            "{node}: {info}"
        );
        ensure!(info.contains("cluster_known_nodes:6"), "{node}: {info}");
        let replication = redis_command(node, &["INFO", "replication"]).await?;
        if replication.contains("role:master") {
            primaries += 1;
        }
    }
    ensure!(primaries == 3, "expected 3 primaries, found {primaries}");
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn openbao_issues_from_the_intermediate() -> Result<()> {
    let sb = Sandbox::load()?;
    let name = "api-gateway.market-intel-brain.svc.cluster.local";
    let (status, body) = sb
        .vault(
            "POST",
            "pki_int/issue/market-intel",
            Some(&json!({"common_name": name, "ttl": "24h"})),
        )
        .await?;
    ensure!(status == 200, "issue: HTTP {status}: {body}");
    let data = &body["data"];
    let pem = data["certificate"].as_str().context("no certificate")?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes())?;
    let leaf = pem.parse_x509()?;
    ensure!(
        leaf.subject().to_string().contains(name),
        "subject {}",
        leaf.subject()
    );
    ensure!(
        leaf.issuer().to_string().contains("Intermediate"),
        "issuer {}",
        leaf.issuer()
    );
    ensure!(
        data["ca_chain"].as_array().is_some_and(|c| c.len() == 2),
        "ca_chain: {}",
        data["ca_chain"]
    );
    ensure!(data["private_key"].as_str().is_some(), "no private key");

    // The role is limited to the namespace's service domain.
    let (status, _) = sb
        .vault(
            "POST",
            "pki_int/issue/market-intel",
            Some(&json!({"common_name": "example.com"})),
        )
        .await?;
    ensure!(
        status == 400,
        "a name outside the role was issued (HTTP {status})"
    );

    // KV v2 is mounted at kv/.
    let (status, body) = sb.vault("GET", "sys/mounts", None).await?;
    ensure!(status == 200, "sys/mounts: HTTP {status}");
    ensure!(
        body["data"]["kv/"]["options"]["version"] == "2",
        "kv/ is not KV v2: {}",
        body["data"]["kv/"]
    );
    Ok(())
}

#[test]
fn sandbox_tests_are_ignored_by_default() {
    // Guard against a test losing its #[ignore]: a plain `cargo test` must never count a
    // sandbox test as passed on a machine without the sandbox.
    let source = include_str!("sandbox_smoke.rs");
    let tokio_tests = source.matches("#[tokio::test]\n").count();
    let ignored = source
        .matches(&format!("#[ignore = \"{NEEDS}\"]\n"))
        .count();
    assert_eq!(tokio_tests, ignored);
}
