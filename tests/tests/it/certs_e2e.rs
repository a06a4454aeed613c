//! End-to-end tests of `kubectl certs` against the sandbox: the real apiserver, the cert-manager
//! stand-in and OpenBao. Every test works in a namespace of its own (a copy of the sandbox CA,
//! an Issuer, its own Certificates/Deployments) and runs the plugin as the least-privilege user
//! `kubectl-ops-certs`, bound to exactly the Role that `kubectl certs rbac` prints.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kubectl_ops_tests::certs::{
    CertsNamespace, make_ca, make_intermediate, make_leaf, now, secret,
};
use kubectl_ops_tests::fixtures::{bind_role, printed_role, role_without, wait_until_allowed};
use kubectl_ops_tests::output_text as text;
use kubectl_ops_tests::plugin;
use kubectl_ops_tests::sandbox::{CONTEXT, Sandbox, User, eventually};
use serde_json::{Value, json};
use time::{Duration as T, OffsetDateTime};

fn gvk(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("cert-manager.io", "v1", kind))
}

/// A namespace of the test's own with the sandbox CA, an Issuer, the `certs rbac` Role bound to
/// `kubectl-ops-certs`, and a config file pointing backups and reports at a temp dir.
struct Fixture {
    base: CertsNamespace,
}

impl std::ops::Deref for Fixture {
    type Target = CertsNamespace;

    fn deref(&self) -> &CertsNamespace {
        &self.base
    }
}

impl Fixture {
    async fn new(prefix: &str) -> Result<Self> {
        let base = CertsNamespace::create(&format!("certs-{prefix}")).await?;
        let ca = Api::<Secret>::namespaced(base.admin.clone(), &base.sb.namespace)
            .get("market-intel-ca")
            .await?;
        let copy = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("test-ca".into()),
                ..Default::default()
            },
            type_: ca.type_.clone(),
            data: ca.data.clone(),
            ..Default::default()
        };
        base.create_secret(&copy).await?;
        let issuer: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "cert-manager.io/v1", "kind": "Issuer",
            "metadata": {"name": "test-ca"}, "spec": {"ca": {"secretName": "test-ca"}},
        }))?;
        Api::<DynamicObject>::namespaced_with(base.admin.clone(), &base.ns, &gvk("Issuer"))
            .create(&PostParams::default(), &issuer)
            .await?;
        let f = Fixture { base };
        f.write_certificates(&[])?;
        f.bind_least_privilege().await?;
        Ok(f)
    }

    fn backups(&self) -> PathBuf {
        self.dir.path().join("backups")
    }

    fn reports(&self) -> PathBuf {
        self.dir.path().join("reports")
    }

    /// Writes the config, with `certificates` entries (YAML mappings) added.
    fn write_certificates(&self, certificates: &[Value]) -> Result<()> {
        self.write_config(&json!({
            "namespace": self.ns,
            "backup_dir": self.backups(),
            "reports_dir": self.reports(),
            "certificates": certificates,
            "vault": {"pki_mount": "pki_int", "role": "market-intel", "kv_mount": "kv", "kv_prefix": "certs-e2e",
                      "common_name_suffix": "market-intel-brain.svc.cluster.local", "ttl": "720h"},
        }))
    }

    /// Runs `kubectl certs ARGS -n NS` as the least-privilege user.
    fn certs(&self, args: &[&str], env: &[(&str, &str)]) -> Result<Output> {
        self.certs_with_env(&self.sb.kubeconfig(User::Certs)?, args, env)
    }

    fn certificates(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.admin.clone(), &self.ns, &gvk("Certificate"))
    }

    /// A Secret labelled `app=<name>` and annotated `team=sre`.
    async fn put_secret(&self, name: &str, type_: &str, data: &[(&str, &[u8])]) -> Result<()> {
        let mut s = secret(name, type_, data);
        s.metadata.labels = Some([("app".to_string(), name.to_string())].into());
        s.metadata.annotations = Some([("team".to_string(), "sre".to_string())].into());
        self.create_secret(&s).await
    }

    /// A Certificate `name` issued by the stand-in (waited for), a Deployment `web` serving it
    /// with openssl s_server on 8443 (waited for), and a Service `web`.
    async fn issued_and_served(&self, name: &str) -> Result<()> {
        let dns = format!("web.{}.svc", self.ns);
        let cert: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {
                "secretName": name, "commonName": dns, "dnsNames": [dns, "web"],
                "duration": "2160h", "renewBefore": "360h",
                "usages": ["digital signature", "key encipherment", "server auth"],
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                "issuerRef": {"name": "test-ca", "kind": "Issuer", "group": "cert-manager.io"},
            },
        }))?;
        self.certificates()
            .create(&PostParams::default(), &cert)
            .await?;
        let certs = self.certificates();
        eventually(
            "the stand-in to issue the Certificate",
            Duration::from_secs(90),
            || async {
                let c = certs.get(name).await?;
                Ok((revision(&c) >= 1 && ready(&c)).then_some(()))
            },
        )
        .await?;
        self.serve("web", name).await
    }

    /// A Deployment `app` serving the Secret `secret` with openssl s_server on 8443 (waited
    /// for), and a Service `app` in front of it.
    async fn serve(&self, app: &str, secret: &str) -> Result<()> {
        self.https_service(app, 8443, json!("https")).await?;
        self.serve_tls(app, secret).await
    }

    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    async fn leaf_sha(&self, secret: &str) -> Result<String> {
        let s = self.secrets().get(secret).await?;
        let crt = &s
            .data
            .as_ref()
            .and_then(|d| d.get("tls.crt"))
            .context("no tls.crt")?
            .0;
        let (_, pem) = x509_parser::pem::parse_x509_pem(crt)?;
        Ok(sha256_hex(&pem.contents))
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = ring_digest(bytes);
    digest.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02X}");
        s
    })
}

fn ring_digest(bytes: &[u8]) -> Vec<u8> {
    // x509-parser's verify feature brings ring; use its SHA-256 through rcgen-free code.
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-binary"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let mut child = out.expect("openssl");
    {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(bytes)
            .expect("write");
    }
    child.wait_with_output().expect("openssl dgst").stdout
}

fn revision(c: &DynamicObject) -> i64 {
    c.data
        .pointer("/status/revision")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn ready(c: &DynamicObject) -> bool {
    c.data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

fn restarted_at(d: &Deployment) -> Option<String> {
    d.spec
        .as_ref()?
        .template
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get("kubectl.kubernetes.io/restartedAt")
        .cloned()
}

fn only_file(dir: &Path, prefix: &str) -> Result<PathBuf> {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    ensure!(
        files.len() == 1,
        "expected one {prefix}* in {}: {files:?}",
        dir.display()
    );
    Ok(files[0].clone())
}

// ---- crafted certificates (rcgen) ----

const TLS: &str = "kubernetes.io/tls";

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn certs_check_and_validate_grade_crafted_secrets() -> Result<()> {
    let f = Fixture::new("grade").await?;
    let ca = make_ca("Crafted CA");
    let other = make_ca("Other CA");
    let (good, good_key) = make_leaf(
        &ca,
        &["good.example"],
        now() - T::days(1),
        now() + T::days(200),
    );
    let (soon, soon_key) = make_leaf(
        &ca,
        &["soon.example"],
        now() - T::days(1),
        now() + T::days(20),
    );
    let (expired, expired_key) = make_leaf(
        &ca,
        &["old.example"],
        now() - T::days(30),
        now() - T::days(1),
    );
    let (future, future_key) = make_leaf(
        &ca,
        &["future.example"],
        now() + T::days(3),
        now() + T::days(90),
    );
    let (_, stray_key) = make_leaf(&ca, &["x.example"], now() - T::days(1), now() + T::days(90));
    let (san, san_key) = make_leaf(&ca, &["a.example"], now() - T::days(1), now() + T::days(90));
    let c = ca.pem.as_bytes();
    f.put_secret(
        "good",
        TLS,
        &[
            ("tls.crt", good.as_bytes()),
            ("tls.key", good_key.as_bytes()),
            ("ca.crt", c),
        ],
    )
    .await?;
    f.put_secret(
        "soon",
        TLS,
        &[
            ("tls.crt", soon.as_bytes()),
            ("tls.key", soon_key.as_bytes()),
            ("ca.crt", c),
        ],
    )
    .await?;
    f.put_secret(
        "expired",
        TLS,
        &[
            ("tls.crt", expired.as_bytes()),
            ("tls.key", expired_key.as_bytes()),
            ("ca.crt", c),
        ],
    )
    .await?;
    f.put_secret(
        "future",
        TLS,
        &[
            ("tls.crt", future.as_bytes()),
            ("tls.key", future_key.as_bytes()),
            ("ca.crt", c),
        ],
    )
    .await?;
    f.put_secret(
        "wrong-ca",
        TLS,
        &[
            ("tls.crt", good.as_bytes()),
            ("tls.key", good_key.as_bytes()),
            ("ca.crt", other.pem.as_bytes()),
        ],
    )
    .await?;
    f.put_secret(
        "key-mismatch",
        TLS,
        &[
            ("tls.crt", good.as_bytes()),
            ("tls.key", stray_key.as_bytes()),
            ("ca.crt", c),
        ],
    )
    .await?;
    f.put_secret(
        "garbage",
        TLS,
        &[
            (
                "tls.crt",
                b"-----BEGIN CERTIFICATE-----\nnot a cert\n-----END CERTIFICATE-----\n",
            ),
            ("tls.key", b"junk"),
        ],
    )
    .await?;
    f.put_secret(
        "missing-san",
        TLS,
        &[
            ("tls.crt", san.as_bytes()),
            ("tls.key", san_key.as_bytes()),
            ("ca.crt", c),
        ],
    )
    .await?;
    f.put_secret("opaque", "Opaque", &[("password", b"x")])
        .await?;
    // A Certificate that expects a SAN the Secret lacks (the annotation keeps the stand-in from
    // ever issuing it, so the crafted Secret stays as it is).
    let cert: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": "missing-san", "annotations": {"sandbox.kubectl-ops.dev/fail-issuance": "test: do not issue", "cert-manager.io/renew-before": "24h"}},
        "spec": {"secretName": "missing-san", "dnsNames": ["a.example", "b.example"], "issuerRef": {"name": "test-ca", "kind": "Issuer"}},
    }))?;
    f.certificates()
        .create(&PostParams::default(), &cert)
        .await?;

    for (name, want) in [
        ("good", 0),
        ("soon", 3),
        ("expired", 4),
        ("future", 4),
        ("wrong-ca", 4),
        ("key-mismatch", 4),
        ("garbage", 4),
    ] {
        let out = f.certs(&["check", name], &[])?;
        ensure!(
            out.status.code() == Some(want),
            "check {name}: want {want}\n{}",
            text(&out)
        );
        let out = f.certs(&["validate", name], &[])?;
        ensure!(
            out.status.code() == Some(want),
            "validate {name}: want {want}\n{}",
            text(&out)
        );
    }
    let out = f.certs(&["validate", "key-mismatch"], &[])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        stdout.contains("does not match the leaf") && stdout.contains("fix:"),
        "{}",
        text(&out)
    );
    ensure!(
        !stdout.contains("PRIVATE KEY")
            && !String::from_utf8_lossy(&out.stderr).contains("PRIVATE KEY"),
        "key material printed"
    );
    let out = f.certs(&["validate", "wrong-ca"], &[])?;
    ensure!(
        String::from_utf8_lossy(&out.stdout).contains("chain does not verify"),
        "{}",
        text(&out)
    );

    // SANs against the Certificate, and the seed's no-op annotation.
    let out = f.certs(&["validate", "missing-san", "-o", "json"], &[])?;
    ensure!(out.status.code() == Some(4), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout)?;
    let findings = report["findings"].as_array().context("findings")?;
    ensure!(
        findings
            .iter()
            .any(|f| f["check"] == "san"
                && f["message"].as_str().unwrap_or("").contains("b.example")),
        "{report}"
    );
    ensure!(
        findings
            .iter()
            .any(|f| f["check"] == "renew-before-annotation" && f["severity"] == "warning"),
        "{report}"
    );

    // Bad input: not a TLS Secret, an unknown name with a suggestion.
    let out = f.certs(&["validate", "opaque"], &[])?;
    ensure!(
        out.status.code() == Some(1)
            && String::from_utf8_lossy(&out.stderr).contains("has no tls.crt"),
        "{}",
        text(&out)
    );
    let out = f.certs(&["validate", "key-mismach"], &[])?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1)
            && err.contains("did you mean \"key-mismatch\"")
            && err.lines().count() <= 2,
        "{}",
        text(&out)
    );

    // The whole namespace: graded exit code and a summary.
    let out = f.certs(&["check", "-o", "json"], &[])?;
    ensure!(out.status.code() == Some(4), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout)?;
    let statuses: BTreeMap<String, String> = report["items"]
        .as_array()
        .context("items")?
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap_or("").to_string(),
                i["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for (name, want) in [
        ("good", "ok"),
        ("soon", "warning"),
        ("expired", "critical"),
        ("future", "critical"),
        ("wrong-ca", "critical"),
        ("key-mismatch", "critical"),
        ("garbage", "critical"),
        // Not Ready yet (the stand-in never issued it), and a DNS name the Secret lacks:
        // `check` grades the SAN finding as `validate` does.
        ("missing-san", "critical"),
    ] {
        ensure!(
            statuses.get(name).map(String::as_str) == Some(want),
            "{name}: {statuses:?}"
        );
    }
    ensure!(
        report["summary"]["total"] == statuses.len() && report["summary"]["critical"] == 6,
        "{}",
        report["summary"]
    );
    let out = f.certs(&["check"], &[])?;
    let summary = format!("{} certificates checked: ", statuses.len());
    ensure!(
        out.status.code() == Some(4) && String::from_utf8_lossy(&out.stdout).contains(&summary),
        "{}",
        text(&out)
    );

    // list: every TLS Secret and the Certificate, days left in JSON.
    let out = f.certs(&["list", "-o", "json"], &[])?;
    ensure!(out.status.success(), "{}", text(&out));
    let list: Value = serde_json::from_slice(&out.stdout)?;
    let items = list["items"].as_array().context("items")?;
    let good_row = items
        .iter()
        .find(|i| i["name"] == "good")
        .context("good row")?;
    ensure!(
        good_row["daysLeft"]
            .as_i64()
            .is_some_and(|d| (198..=200).contains(&d)),
        "{good_row}"
    );
    ensure!(
        items
            .iter()
            .any(|i| i["name"] == "garbage" && i["error"].is_string()),
        "a bad Secret is a row, not an abort"
    );
    Ok(())
}

/// Crafted certificates rcgen cannot make (RSA 1024 key, SHA-1 signature), shared with the
/// unit test of the same agreement (kubectl-certs/src/evaluate/agreement.rs).
const FIXTURE_CA: &str = include_str!("../../../kubectl-certs/testdata/fixture-ca.crt");
const RSA1024_CRT: &str = include_str!("../../../kubectl-certs/testdata/rsa1024.crt");
const RSA1024_KEY: &str = include_str!("../../../kubectl-certs/testdata/rsa1024.key");
const SHA1_CRT: &str = include_str!("../../../kubectl-certs/testdata/sha1.crt");
const SHA1_KEY: &str = include_str!("../../../kubectl-certs/testdata/sha1.key");

/// The `status` of a JSON report (or list item), and the exit code of the run.
fn graded(out: &Output, what: &str) -> Result<(Value, Option<i32>)> {
    let report: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{what}: stdout is not JSON\n{}", text(out)))?;
    Ok((report, out.status.code()))
}

fn items_by_name(report: &Value) -> Result<BTreeMap<String, Value>> {
    Ok(report["items"]
        .as_array()
        .context("items")?
        .iter()
        .map(|i| (i["name"].as_str().unwrap_or("").to_string(), i.clone()))
        .collect())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn certs_check_validate_and_list_grade_each_secret_alike() -> Result<()> {
    let f = Fixture::new("agree").await?;
    let ca = make_ca("Agreement CA");
    let (healthy, healthy_key) = make_leaf(
        &ca,
        &["healthy.example"],
        now() - T::days(1),
        now() + T::days(200),
    );
    let inter = make_intermediate(&ca, "Agreement Intermediate");
    let (chained, chained_key) = make_leaf(
        &inter,
        &["chained.example"],
        now() - T::days(1),
        now() + T::days(200),
    );
    let c = ca.pem.as_str();
    let tls = |crt: &str, key: &str, ca: &str| -> Vec<(String, Vec<u8>)> {
        vec![
            ("tls.crt".into(), crt.as_bytes().to_vec()),
            ("tls.key".into(), key.as_bytes().to_vec()),
            ("ca.crt".into(), ca.as_bytes().to_vec()),
        ]
    };
    let secrets = [
        ("healthy", tls(&healthy, &healthy_key, c)),
        ("rsa1024", tls(RSA1024_CRT, RSA1024_KEY, FIXTURE_CA)),
        ("sha1", tls(SHA1_CRT, SHA1_KEY, FIXTURE_CA)),
        // leaf, root, intermediate: the leaf is not followed by its issuer.
        (
            "disordered",
            tls(&format!("{chained}{c}{}", inter.pem), &chained_key, c),
        ),
        ("renew-loop", tls(&healthy, &healthy_key, c)),
    ];
    for (name, data) in &secrets {
        let data: Vec<(&str, &[u8])> = data
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        f.put_secret(name, TLS, &data).await?;
    }
    // A Certificate whose renewBefore is not shorter than the lifetime (cert-manager's renewal
    // loop), never issued by the stand-in so the crafted Secret stays. Its label is not on the
    // Secret (cert-manager does not copy a Certificate's labels to its Secret).
    let cert: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": "renew-loop", "labels": {"tier": "agree"},
                     "annotations": {"sandbox.kubectl-ops.dev/fail-issuance": "test: do not issue"}},
        "spec": {"secretName": "renew-loop", "dnsNames": ["healthy.example"], "renewBefore": "8760h",
                 "issuerRef": {"name": "test-ca", "kind": "Issuer"}},
    }))?;
    f.certificates()
        .create(&PostParams::default(), &cert)
        .await?;
    // A certificate the config names whose Secret does not exist.
    f.write_certificates(&[json!({"name": "gone", "secret_name": "gone-tls", "method": "cert-manager", "namespace": f.ns})])?;

    let expected = [
        ("healthy", "ok", 0, None),
        ("rsa1024", "critical", 4, Some("key-strength")),
        ("sha1", "critical", 4, Some("signature")),
        ("disordered", "warning", 3, Some("chain-order")),
        ("renew-loop", "critical", 4, Some("renew-before")),
        ("gone", "critical", 4, Some("secret")),
    ];

    // The whole namespace, as monitoring runs it, and list.
    let (checked, check_code) = graded(&f.certs(&["check", "-o", "json"], &[])?, "check")?;
    let checked = items_by_name(&checked)?;
    let (listed, list_code) = graded(&f.certs(&["list", "-o", "json"], &[])?, "list")?;
    ensure!(list_code == Some(0), "list exit {list_code:?}");
    let listed = items_by_name(&listed)?;
    ensure!(
        check_code == Some(4),
        "check -n NS: worst is critical, exit {check_code:?}"
    );
    // (The Fixture's copy of the sandbox CA, `test-ca`, is there too; it is not ours to grade.)
    let missing: Vec<&str> = expected
        .iter()
        .map(|e| e.0)
        .filter(|n| !checked.contains_key(*n))
        .collect();
    ensure!(
        missing.is_empty(),
        "check -n NS left out {missing:?}: {:?}",
        checked.keys()
    );

    for (name, status, code, because) in expected {
        let item = checked
            .get(name)
            .with_context(|| format!("check has no {name}"))?;
        let (validated, validate_code) = graded(
            &f.certs(&["validate", name, "-o", "json"], &[])?,
            &format!("validate {name}"),
        )?;
        let one = f.certs(&["check", name, "-o", "json"], &[])?;
        ensure!(
            item["status"] == validated["status"] && item["status"] == status,
            "{name}: check {} / validate {} / want {status}\ncheck: {item}\nvalidate: {validated}",
            item["status"],
            validated["status"]
        );
        ensure!(
            validate_code == Some(code) && one.status.code() == Some(code),
            "{name}: exit codes: validate {validate_code:?}, check NAME {:?}, want {code}",
            one.status.code()
        );
        ensure!(
            listed.get(name).map(|i| &i["status"]) == Some(&item["status"]),
            "{name}: list says {:?}, check {}",
            listed.get(name).map(|i| &i["status"]),
            item["status"]
        );
        // check's JSON carries every finding validate has, not only the worst.
        let checks = |v: &Value| -> Vec<String> {
            v["findings"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|f| format!("{} {}", f["severity"], f["check"]))
                        .collect()
                })
                .unwrap_or_default()
        };
        ensure!(
            checks(item) == checks(&validated),
            "{name}: findings differ\ncheck: {:?}\nvalidate: {:?}",
            checks(item),
            checks(&validated)
        );
        if let Some(because) = because {
            ensure!(
                checks(item).contains(&format!("\"{status}\" \"{because}\"")),
                "{name}: no {status} {because} finding in {:?}",
                checks(item)
            );
        }
    }

    // The table shows the worst finding, not "valid until".
    let out = f.certs(&["check", "rsa1024"], &[])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.code() == Some(4)
            && stdout.contains("CRITICAL")
            && stdout.contains("RSA 1024 key is too weak"),
        "{}",
        text(&out)
    );

    // A selector on either side of a Certificate/Secret pair finds the pair, graded as
    // validate grades it (the Secret carries app=renew-loop, the Certificate tier=agree).
    for selector in ["tier=agree", "app=renew-loop"] {
        let (report, code) = graded(
            &f.certs(&["check", "-l", selector, "-o", "json"], &[])?,
            &format!("check -l {selector}"),
        )?;
        let items = items_by_name(&report)?;
        let item = items
            .get("renew-loop")
            .with_context(|| format!("-l {selector}: {report}"))?;
        ensure!(
            items.len() == 1 && item["status"] == "critical" && code == Some(4),
            "check -l {selector}: {report}"
        );
        ensure!(
            item["findings"]
                .as_array()
                .is_some_and(|a| a.iter().any(|f| f["check"] == "renew-before"))
                && !item["findings"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|f| f["check"] == "secret")),
            "check -l {selector} did not pair the Certificate with its Secret: {item}"
        );
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn certs_backup_delete_restore_is_byte_identical() -> Result<()> {
    let f = Fixture::new("backup").await?;
    let ca = make_ca("Backup CA");
    let (crt, key) = make_leaf(&ca, &["b.example"], now() - T::days(1), now() + T::days(60));
    f.put_secret(
        "plain-tls",
        TLS,
        &[
            ("tls.crt", crt.as_bytes()),
            ("tls.key", key.as_bytes()),
            ("ca.crt", ca.pem.as_bytes()),
        ],
    )
    .await?;
    let before = f.secrets().get("plain-tls").await?;
    let dir = f.dir.path().join("bk");
    let out = f.certs(&["backup", "plain-tls", "-f", dir.to_str().unwrap()], &[])?;
    ensure!(out.status.success(), "{}", text(&out));
    for entry in std::fs::read_dir(&dir)? {
        let mode = entry?.metadata()?.permissions().mode() & 0o777;
        ensure!(mode == 0o600, "backup file mode {mode:o}");
    }
    ensure!(
        std::fs::metadata(&dir)?.permissions().mode() & 0o777 == 0o700,
        "backup dir mode"
    );
    let yaml = std::fs::read_to_string(dir.join("secret-plain-tls.yaml"))?;
    ensure!(
        !yaml.contains("resourceVersion")
            && !yaml.contains("uid:")
            && !yaml.contains("managedFields"),
        "{yaml}"
    );
    // A second backup into the same directory is refused, nothing overwritten.
    let out = f.certs(&["backup", "plain-tls", "-f", dir.to_str().unwrap()], &[])?;
    ensure!(out.status.code() == Some(1), "{}", text(&out));

    f.secrets()
        .delete("plain-tls", &DeleteParams::default())
        .await?;
    let out = f.certs(&["restore", dir.to_str().unwrap(), "--dry-run"], &[])?;
    ensure!(
        out.status.success()
            && String::from_utf8_lossy(&out.stdout).contains("created (server dry run)"),
        "{}",
        text(&out)
    );
    ensure!(
        f.secrets().get_opt("plain-tls").await?.is_none(),
        "dry run created the Secret"
    );
    let out = f.certs(&["restore", dir.to_str().unwrap()], &[])?;
    ensure!(out.status.success(), "{}", text(&out));
    let after = f.secrets().get("plain-tls").await?;
    ensure!(after.data == before.data, "restored data differs");
    ensure!(
        after.type_ == before.type_
            && after.metadata.labels == before.metadata.labels
            && after.metadata.annotations == before.metadata.annotations,
        "metadata differs"
    );
    // Replacing an existing Secret needs --yes (stdin is not a terminal here).
    let out = f.certs(&["restore", dir.to_str().unwrap()], &[])?;
    ensure!(
        out.status.code() == Some(1) && String::from_utf8_lossy(&out.stderr).contains("--yes"),
        "{}",
        text(&out)
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn certs_rotate_via_standin_bumps_revision_restarts_and_verifies() -> Result<()> {
    let f = Fixture::new("rotate").await?;
    f.issued_and_served("web-tls").await?;
    let rev_before = revision(&f.certificates().get("web-tls").await?);
    let sha_before = f.leaf_sha("web-tls").await?;
    let out = f.certs(&["rotate", "web-tls", "--dry-run"], &[])?;
    ensure!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("deployment/web"),
        "{}",
        text(&out)
    );
    ensure!(
        revision(&f.certificates().get("web-tls").await?) == rev_before,
        "dry run changed something"
    );

    let out = f.certs(
        &[
            "rotate",
            "web-tls",
            "--yes",
            "--timeout",
            "120s",
            "--endpoint",
            "svc/web:8443",
            "-o",
            "json",
        ],
        &[],
    )?;
    ensure!(out.status.success(), "{}", text(&out));
    let reports: Value = serde_json::from_slice(&out.stdout)?;
    let r = &reports[0];
    ensure!(r["outcome"] == "rotated", "{r}");
    let rev_after = revision(&f.certificates().get("web-tls").await?);
    ensure!(
        rev_after == rev_before + 1,
        "revision {rev_before} -> {rev_after}"
    );
    let sha_after = f.leaf_sha("web-tls").await?;
    ensure!(
        sha_after != sha_before,
        "the Secret still holds the old certificate"
    );
    ensure!(
        r["after"]["sha256"].as_str().map(|s| s.replace(':', "")) == Some(sha_after.clone()),
        "{r}"
    );
    ensure!(r["revision"] == json!([rev_before, rev_after]), "{r}");
    let d = Api::<Deployment>::namespaced(f.admin.clone(), &f.ns)
        .get("web")
        .await?;
    ensure!(
        restarted_at(&d).is_some(),
        "deployment web was not restarted"
    );
    let st = d.status.clone().unwrap_or_default();
    ensure!(
        st.observed_generation >= d.metadata.generation
            && st.updated_replicas == Some(1)
            && st.available_replicas == Some(1),
        "rollout not complete: {st:?}"
    );
    ensure!(r["workloads"][0]["rolledOut"] == true, "{r}");
    ensure!(
        r["changes"].as_array().is_some_and(|c| c.iter().any(|c| c
            .as_str()
            .unwrap_or("")
            .starts_with("verified: svc/web:8443 serves"))),
        "{r}"
    );
    // The report on disk and the backup taken first.
    let report: Value = serde_json::from_str(&std::fs::read_to_string(only_file(
        &f.reports(),
        "rotate-",
    )?)?)?;
    ensure!(
        report["before"]["sha256"]
            .as_str()
            .map(|s| s.replace(':', ""))
            == Some(sha_before),
        "{report}"
    );
    let backup = PathBuf::from(report["backup"].as_str().context("backup path")?);
    ensure!(
        backup.join("manifest.json").exists() && backup.join("certificate-web-tls.yaml").exists(),
        "backup incomplete"
    );
    ensure!(
        report["recoveryCommand"]
            .as_str()
            .is_some_and(|c| c.starts_with("kubectl certs restore")),
        "{report}"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn certs_failed_issuance_leaves_secret_and_workloads_untouched() -> Result<()> {
    let f = Fixture::new("fail").await?;
    f.issued_and_served("web-tls").await?;
    let sha_before = f.leaf_sha("web-tls").await?;
    let deployments: Api<Deployment> = Api::namespaced(f.admin.clone(), &f.ns);
    let gen_before = deployments.get("web").await?.metadata.generation;
    f.certificates()
        .patch("web-tls", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"annotations": {"sandbox.kubectl-ops.dev/fail-issuance": "the CA refused: test failure"}}})))
        .await?;
    let out = f.certs(&["rotate", "web-tls", "--yes", "--timeout", "90s"], &[])?;
    ensure!(out.status.code() == Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        err.contains("the CA refused: test failure") && err.contains("left unchanged"),
        "{}",
        text(&out)
    );
    ensure!(
        f.leaf_sha("web-tls").await? == sha_before,
        "the Secret changed"
    );
    let d = deployments.get("web").await?;
    ensure!(
        d.metadata.generation == gen_before && restarted_at(&d).is_none(),
        "the Deployment was touched"
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(only_file(
        &f.reports(),
        "rotate-",
    )?)?)?;
    ensure!(
        report["outcome"] == "failed"
            && report["reason"]
                .as_str()
                .unwrap_or("")
                .contains("test failure"),
        "{report}"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn certs_rotate_via_openbao_writes_a_secret_whose_chain_verifies() -> Result<()> {
    let f = Fixture::new("vault").await?;
    let cn = "vault-web.market-intel-brain.svc.cluster.local";
    f.write_certificates(&[json!({"name": "vault-web", "secret_name": "vault-web-tls", "method": "vault", "namespace": f.ns, "common_name": cn})])?;

    // Vault errors are one line with a hint, and nothing is written.
    let out = f.certs(
        &["rotate", "vault-web", "--yes"],
        &[("VAULT_TOKEN", "bogus"), ("BAO_TOKEN", "bogus")],
    )?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1) && err.contains("permission denied") && !err.contains("bogus"),
        "{}",
        text(&out)
    );
    let out = f.certs(
        &["rotate", "vault-web", "--yes"],
        &[
            ("VAULT_ADDR", "http://127.0.0.1:1"),
            ("BAO_ADDR", "http://127.0.0.1:1"),
        ],
    )?;
    ensure!(
        out.status.code() == Some(1)
            && String::from_utf8_lossy(&out.stderr).contains("cannot reach Vault"),
        "{}",
        text(&out)
    );
    ensure!(
        f.secrets().get_opt("vault-web-tls").await?.is_none(),
        "a failed issue wrote a Secret"
    );

    let out = f.certs(&["rotate", "vault-web", "--yes"], &[])?;
    ensure!(out.status.success(), "{}", text(&out));
    let s = f.secrets().get("vault-web-tls").await?;
    ensure!(s.type_.as_deref() == Some(TLS), "type {:?}", s.type_);
    let data = s.data.clone().context("data")?;
    let crt = &data["tls.crt"].0;
    let ca = &data["ca.crt"].0;
    // Verify the chain independently: leaf <- intermediate (tls.crt) <- root (ca.crt).
    let blocks: Vec<_> = x509_parser::pem::Pem::iter_from_buffer(crt).collect::<Result<_, _>>()?;
    ensure!(
        blocks.len() == 2,
        "tls.crt should hold leaf + intermediate, got {}",
        blocks.len()
    );
    let leaf = blocks[0].parse_x509()?;
    let inter = blocks[1].parse_x509()?;
    let (_, root_pem) = x509_parser::pem::parse_x509_pem(ca)?;
    let root = root_pem.parse_x509()?;
    leaf.verify_signature(Some(inter.public_key()))
        .context("leaf not signed by the intermediate")?;
    inter
        .verify_signature(Some(root.public_key()))
        .context("intermediate not signed by ca.crt")?;
    ensure!(
        leaf.subject().to_string().contains(cn),
        "{}",
        leaf.subject()
    );
    let out = f.certs(
        &["validate", "vault-web-tls", "--warn", "1h", "--crit", "1h"],
        &[],
    )?;
    ensure!(
        out.status.success(),
        "validate after the Vault rotation\n{}",
        text(&out)
    );
    // The KV v2 copy.
    let (status, kv) =
        f.sb.vault(
            "GET",
            &format!("kv/data/certs-e2e/{}/vault-web", f.ns),
            None,
        )
        .await?;
    ensure!(
        status == 200
            && kv["data"]["data"]["tls.crt"]
                .as_str()
                .is_some_and(|c| c.as_bytes() == crt.as_slice()),
        "KV copy: {status}"
    );

    // Rotating again replaces the Secret (guarded update) with a new certificate.
    let sha1 = f.leaf_sha("vault-web-tls").await?;
    let out = f.certs(&["rotate", "vault-web", "--yes"], &[])?;
    ensure!(out.status.success(), "{}", text(&out));
    ensure!(
        f.leaf_sha("vault-web-tls").await? != sha1,
        "second rotation did not change the certificate"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn certs_without_rbac_names_the_missing_permission() -> Result<()> {
    let sb = Sandbox::load()?;
    let kubeconfig = sb.kubeconfig(User::Nobody)?;
    let out = plugin("kubectl-certs")
        .envs(sb.envs())
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--context", CONTEXT, "-n", &sb.namespace, "list"])
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.code() != Some(1) {
        bail!("{}", text(&out));
    }
    ensure!(
        err.contains("cannot list resource") && err.contains("hint:") && err.contains("rbac"),
        "{}",
        text(&out)
    );
    Ok(())
}

/// A Deployment and Service `fixed` serving a certificate of their own (Secret `fixed-tls`,
/// crafted here): `--endpoint svc/fixed:8443` never serves what a rotation issues, so the
/// served check fails for real.
async fn serve_a_fixed_certificate(f: &Fixture) -> Result<()> {
    let ca = make_ca("Fixed CA");
    let host = format!("fixed.{}.svc", f.ns);
    let (crt, key) = make_leaf(&ca, &[&host], now() - T::days(1), now() + T::days(90));
    f.put_secret(
        "fixed-tls",
        TLS,
        &[
            ("tls.crt", crt.as_bytes()),
            ("tls.key", key.as_bytes()),
            ("ca.crt", ca.pem.as_bytes()),
        ],
    )
    .await?;
    f.serve("fixed", "fixed-tls").await
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn certs_rotate_rolls_back_when_the_endpoint_never_serves_the_new_certificate() -> Result<()>
{
    let f = Fixture::new("rollback").await?;
    f.issued_and_served("web-tls").await?;
    serve_a_fixed_certificate(&f).await?;
    let before = f.secrets().get("web-tls").await?;
    let rev_before = revision(&f.certificates().get("web-tls").await?);
    let gen_before = f.deployments().get("web").await?.metadata.generation;

    let out = f.certs(
        &[
            "rotate",
            "web-tls",
            "--yes",
            "--timeout",
            "120s",
            "--endpoint",
            "svc/fixed:8443",
            "-o",
            "json",
        ],
        &[],
    )?;
    ensure!(out.status.code() == Some(1), "{}", text(&out));
    let reports: Value = serde_json::from_slice(&out.stdout)?;
    let r = &reports[0];
    ensure!(r["outcome"] == "rolled-back", "{r}");
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        err.contains(&format!(
            "error: {}/web-tls rolled back: verification failed: svc/fixed:8443 serves",
            f.ns
        )) && err.contains("hint: the previous Secret was restored from")
            && err.contains("deployment/web restarted again"),
        "{}",
        text(&out)
    );
    // cert-manager did issue a new certificate; the rollback put the old one back, byte for byte.
    ensure!(
        revision(&f.certificates().get("web-tls").await?) == rev_before + 1,
        "the stand-in did not issue"
    );
    ensure!(r["after"]["sha256"] != r["before"]["sha256"], "{r}");
    let after = f.secrets().get("web-tls").await?;
    ensure!(
        after.data == before.data,
        "the Secret's data is not the original"
    );
    ensure!(
        after.type_ == before.type_
            && after.metadata.labels == before.metadata.labels
            && after.metadata.annotations == before.metadata.annotations,
        "the Secret's metadata is not the original"
    );
    // The workload was restarted for the new certificate, then again for the restored one.
    let d = f.deployments().get("web").await?;
    let w = &r["workloads"][0];
    ensure!(
        w["restarted"] == true && w["rolledOut"] == true && w["restartedBack"] == true,
        "{r}"
    );
    ensure!(
        restarted_at(&d).is_some() && restarted_at(&d).as_deref() != w["restartedAt"].as_str(),
        "restartedAt {:?} was not changed again after {}",
        restarted_at(&d),
        w["restartedAt"]
    );
    ensure!(
        d.metadata.generation == gen_before.map(|g| g + 2),
        "deployment web: generation {gen_before:?} -> {:?}, want two restarts",
        d.metadata.generation
    );
    let st = d.status.clone().unwrap_or_default();
    ensure!(
        st.observed_generation >= d.metadata.generation
            && st.updated_replicas == Some(1)
            && st.available_replicas == Some(1),
        "the rollout back is not complete: {st:?}"
    );
    // The report on disk says the same.
    let report: Value = serde_json::from_str(&std::fs::read_to_string(only_file(
        &f.reports(),
        "rotate-",
    )?)?)?;
    ensure!(
        report["outcome"] == "rolled-back"
            && report["reason"]
                .as_str()
                .is_some_and(|r| r.contains("svc/fixed:8443 serves"))
            && report["changes"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c
                    .as_str()
                    .unwrap_or("")
                    .starts_with("secret/web-tls: restored from backup"))),
        "{report}"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn certs_rotate_says_the_secret_is_not_restored_when_the_restore_fails() -> Result<()> {
    let f = Fixture::new("norestore").await?;
    f.issued_and_served("web-tls").await?;
    serve_a_fixed_certificate(&f).await?;
    // The user may do everything a cert-manager rotation needs, but not write Secrets: the
    // API server refuses the restore's write.
    let full = printed_role("kubectl-certs", &f.ns)?;
    let no_secret_writes = role_without(&full, "", "secrets", &["create", "update"]);
    bind_role(&f.sb, &f.admin, &no_secret_writes, User::Certs).await?;
    wait_until_allowed(&f.sb, User::Certs, &f.ns, ("", "secrets", "update"), false).await?;
    let before = f.secrets().get("web-tls").await?;

    let out = f.certs(
        &[
            "rotate",
            "web-tls",
            "--yes",
            "--timeout",
            "120s",
            "--endpoint",
            "svc/fixed:8443",
        ],
        &[],
    )?;
    ensure!(out.status.code() == Some(1), "{}", text(&out));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(only_file(
        &f.reports(),
        "rotate-",
    )?)?)?;
    let backup = PathBuf::from(report["backup"].as_str().context("backup path")?);
    let by_hand = format!("kubectl certs restore {}", backup.display());
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    ensure!(
        stdout.contains(&format!("failed — Secret NOT restored {}/web-tls", f.ns))
            && !stdout.contains("rolled back")
            && stdout.contains(&by_hand),
        "{}",
        text(&out)
    );
    ensure!(
        stderr.contains(&format!("error: {}/web-tls: the Secret is NOT restored: replace secret", f.ns))
            && stderr.contains("forbidden")
            && stderr.contains(&format!("hint: restore it by hand: `{by_hand}`, then `kubectl rollout restart deployment/web -n {}`", f.ns))
            && !stderr.contains("rolled back"),
        "{}",
        text(&out)
    );
    ensure!(
        report["outcome"] == "failed-not-restored"
            && report["rollbackError"]
                .as_str()
                .is_some_and(|e| e.contains("forbidden"))
            && report["nextStep"]
                .as_str()
                .is_some_and(|n| n.contains(&by_hand))
            && report["workloads"][0]["restartedBack"] == false,
        "{report}"
    );
    ensure!(
        f.secrets().get("web-tls").await?.data != before.data,
        "the report says NOT restored, but the Secret holds the original"
    );
    // The printed command does restore it, for a user allowed to write Secrets.
    bind_role(&f.sb, &f.admin, &full, User::Certs).await?;
    wait_until_allowed(&f.sb, User::Certs, &f.ns, ("", "secrets", "update"), true).await?;
    let out = f.certs(&["restore", backup.to_str().context("path")?, "--yes"], &[])?;
    ensure!(out.status.success(), "{}", text(&out));
    ensure!(
        f.secrets().get("web-tls").await?.data == before.data,
        "the recovery command did not restore the original"
    );
    Ok(())
}

/// Parses Prometheus text with the reference parser (Python prometheus-client, installed by the
/// sandbox harness): `[{name, type, samples: [{name, labels, value}]}]`.
fn parse_exposition(sb: &Sandbox, text: &[u8]) -> Result<Vec<Value>> {
    use std::io::Write as _;
    let python = sb
        .vars
        .get("SANDBOX_PYTHON")
        .context("the sandbox env file has no SANDBOX_PYTHON: re-run tests/sandbox/sandbox up")?;
    let script = "import sys, json\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        print(json.dumps([{'name': f.name, 'type': f.type, 'samples': [\n\
            {'name': s.name, 'labels': s.labels, 'value': s.value} for s in f.samples]}\n\
            for f in text_string_to_metric_families(sys.stdin.read())]))\n";
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    child.stdin.take().context("stdin")?.write_all(text)?;
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "prometheus_client rejected the exposition:\n{}\n--- input ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(text)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// The value of the one sample of `family` whose `name` label is `name`.
fn sample(families: &[Value], family: &str, name: &str) -> Option<(f64, Value)> {
    let f = families.iter().find(|f| f["name"] == family)?;
    let mut hits = f["samples"]
        .as_array()?
        .iter()
        .filter(|s| s["labels"]["name"] == name);
    let s = hits.next()?;
    assert!(hits.next().is_none(), "{family}: two samples for {name}");
    Some((s["value"].as_f64()?, s["labels"].clone()))
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn certs_check_prometheus_output_parses_and_agrees_with_json() -> Result<()> {
    let f = Fixture::new("prom").await?;
    let ca = make_ca("Prometheus CA");
    let day = T::days(1);
    let leaves = [
        ("healthy", now() - day, now() + T::days(200)),
        ("soon", now() - day, now() + T::days(3)),
        ("expired", now() - T::days(30), now() - day),
    ];
    for (name, from, to) in leaves {
        let host = format!("{name}.example");
        let (crt, key) = make_leaf(&ca, &[&host], from, to);
        f.put_secret(
            name,
            TLS,
            &[
                ("tls.crt", crt.as_bytes()),
                ("tls.key", key.as_bytes()),
                ("ca.crt", ca.pem.as_bytes()),
            ],
        )
        .await?;
    }
    f.write_certificates(&[json!({"name": "gone", "secret_name": "gone-tls", "method": "cert-manager", "namespace": f.ns})])?;

    let prom = f.certs(&["check", "-o", "prometheus"], &[])?;
    ensure!(
        prom.status.code() == Some(4),
        "check -o prometheus exit {:?} (critical certificates present)\n{}",
        prom.status.code(),
        text(&prom)
    );
    let families = parse_exposition(&f.sb, &prom.stdout)?;
    for family in [
        "x509_cert_not_after",
        "x509_cert_not_before",
        "x509_cert_expired",
        "x509_cert_status",
        "x509_cert_check_status",
        "x509_read_errors",
    ] {
        let found = families.iter().find(|f| f["name"] == family);
        ensure!(
            found.is_some_and(|f| f["type"] == "gauge"),
            "no gauge family {family} in {families:?}"
        );
    }

    // Every certificate check -o json grades appears with the same status and window.
    let (report, code) = graded(&f.certs(&["check", "-o", "json"], &[])?, "check")?;
    ensure!(code == Some(4), "check -o json exit {code:?}");
    let items = items_by_name(&report)?;
    for name in ["healthy", "soon", "expired", "gone"] {
        ensure!(
            items.contains_key(name),
            "check -o json lacks {name}: {items:?}"
        );
    }
    let mut unreadable = 0;
    for (name, item) in &items {
        let status = item["status"].as_str().context("status")?;
        let exit = match status {
            "ok" | "info" => 0.0,
            "warning" => 3.0,
            "critical" => 4.0,
            _ => 5.0,
        };
        let (value, labels) = sample(&families, "x509_cert_status", name)
            .with_context(|| format!("no x509_cert_status for {name}"))?;
        ensure!(
            value == exit,
            "{name}: status {value} in metrics, {status} in JSON"
        );
        ensure!(
            labels["namespace"] == f.ns.as_str(),
            "{name}: labels {labels}"
        );
        ensure!(labels["context"] == CONTEXT, "{name}: labels {labels}");
        ensure!(
            labels["source"] == item["source"],
            "{name}: labels {labels}"
        );
        match item["notAfter"].as_str() {
            Some(not_after) => {
                let epoch = OffsetDateTime::parse(
                    not_after,
                    &time::format_description::well_known::Rfc3339,
                )?
                .unix_timestamp() as f64;
                let (metric, _) = sample(&families, "x509_cert_not_after", name)
                    .with_context(|| format!("no x509_cert_not_after for {name}"))?;
                ensure!(metric == epoch, "{name}: not_after {metric} vs {epoch}");
                let (expired, _) = sample(&families, "x509_cert_expired", name)
                    .with_context(|| format!("no x509_cert_expired for {name}"))?;
                ensure!(
                    (expired == 1.0) == (*name == "expired"),
                    "{name}: expired = {expired}"
                );
                ensure!(
                    name == "test-ca" || labels["subject_CN"] == format!("{name}.example").as_str(),
                    "{name}: labels {labels}"
                );
            }
            None => {
                unreadable += 1;
                ensure!(
                    sample(&families, "x509_cert_not_after", name).is_none(),
                    "{name} has no certificate but a not_after sample"
                );
            }
        }
    }
    ensure!(
        unreadable == 1,
        "only gone-tls is unreadable, got {unreadable}"
    );
    let errors = families
        .iter()
        .find(|f| f["name"] == "x509_read_errors")
        .and_then(|f| f["samples"].as_array().cloned())
        .unwrap_or_default();
    ensure!(
        errors.len() == 1 && errors[0]["value"].as_f64() == Some(1.0),
        "x509_read_errors: {errors:?}"
    );
    Ok(())
}
