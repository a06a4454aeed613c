//! End-to-end tests of `kubectl certs` inventory sources against the sandbox: the caBundle of
//! admission webhooks and APIServices checked against what their Service really serves (a pod
//! running `openssl s_server`), Ingresses naming missing Secrets or hosts the certificate does
//! not cover, the API server's serving certificate, the kubeconfig's client certificate and
//! PEM certificates in Opaque Secrets. Cluster-scoped objects get unique names and are deleted
//! when the test ends (pass or fail); webhooks use `failurePolicy: Ignore` and selectors that
//! match nothing, so they never touch another test's requests.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use anyhow::{Context as _, Result, ensure};
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, PostParams};
use kubectl_ops_tests::certs::{
    Ca, CertsNamespace, make_ca, make_ca_valid_for, make_leaf, now, secret,
};
use kubectl_ops_tests::fixtures::{run_to_completion, unique};
use kubectl_ops_tests::output_text as text;
use kubectl_ops_tests::plugin;
use kubectl_ops_tests::sandbox::{CONTEXT, Sandbox, User};
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair};
use serde_json::{Value, json};
use time::Duration as T;

/// A namespace of the test's own, with a config file naming it and no certificates.
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
        let base = CertsNamespace::create(&format!("certs-src-{prefix}")).await?;
        base.write_config(&json!({"namespace": base.ns, "certificates": []}))?;
        Ok(Fixture { base })
    }

    /// As the admin.
    fn certs(&self, args: &[&str]) -> Result<Output> {
        self.certs_with(&self.sb.kubeconfig(User::Admin)?, args)
    }

    async fn put_secret(&self, name: &str, type_: &str, data: &[(&str, &str)]) -> Result<()> {
        let data: Vec<(&str, &[u8])> = data.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
        self.create_secret(&secret(name, type_, &data)).await
    }

    /// A Service `app` (port 443 -> 8443), and with `tls` a Secret `<app>-tls` holding
    /// `crt`/`key` and a Deployment behind the Service serving it with openssl s_server
    /// (waited for until available).
    async fn serve(&self, app: &str, tls: Option<(&str, &str)>) -> Result<()> {
        self.https_service(app, 443, json!(8443)).await?;
        let Some((crt, key)) = tls else {
            return Ok(());
        };
        let secret_name = format!("{app}-tls");
        self.put_secret(
            &secret_name,
            "kubernetes.io/tls",
            &[("tls.crt", crt), ("tls.key", key)],
        )
        .await?;
        self.serve_tls(app, &secret_name).await
    }
}

/// Deletes a cluster-scoped object when dropped (also when the test failed).
struct ClusterScoped {
    sb: Sandbox,
    name: String,
    resource: ApiResource,
}

impl ClusterScoped {
    async fn create<K>(sb: &Sandbox, admin: &Client, object: &K) -> Result<Self>
    where
        K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope>
            + Clone
            + serde::Serialize
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let name = object.meta().name.clone().context("a name")?;
        Api::<K>::all(admin.clone())
            .create(&PostParams::default(), object)
            .await
            .with_context(|| format!("creating {name}"))?;
        Ok(ClusterScoped {
            sb: sb.clone(),
            name,
            resource: ApiResource::erase::<K>(&Default::default()),
        })
    }
}

impl Drop for ClusterScoped {
    fn drop(&mut self) {
        let (sb, name, resource) = (self.sb.clone(), self.name.clone(), self.resource.clone());
        run_to_completion(async move {
            let Ok(admin) = sb.client().await else {
                return;
            };
            let api: Api<DynamicObject> = Api::all_with(admin, &resource);
            if let Err(e) = api.delete(&name, &DeleteParams::background()).await {
                eprintln!("could not delete {name}: {e}");
            }
        });
    }
}

fn json_of(o: &Output) -> Result<Value> {
    serde_json::from_slice(&o.stdout).with_context(|| text(o))
}

/// Items of a `check -o json` / `list -o json` report by name.
fn by_name(report: &Value) -> BTreeMap<String, Value> {
    report["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| Some((i["name"].as_str()?.to_string(), i.clone())))
        .collect()
}

fn has_finding(item: &Value, check: &str, severity: &str, text: &str) -> bool {
    item["findings"].as_array().into_iter().flatten().any(|f| {
        f["check"] == check
            && f["severity"] == severity
            && f["message"].as_str().is_some_and(|m| m.contains(text))
    })
}

/// The webhook configuration: one webhook per (name, CA bundle, Service, failurePolicy),
/// matching no object (a label no object carries) so it is never called.
fn webhooks(
    name: &str,
    ns: &str,
    hooks: &[(&str, &str, &str, &str)],
) -> Result<ValidatingWebhookConfiguration> {
    let never = json!({"matchLabels": {"kubectl-ops.dev/never": name}});
    let list: Vec<Value> = hooks
        .iter()
        .map(|(hook, bundle, service, policy)| {
            json!({
                "name": hook,
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": policy,
                "timeoutSeconds": 1,
                "namespaceSelector": never,
                "objectSelector": never,
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}],
                "clientConfig": {
                    "caBundle": b64(bundle),
                    "service": {"namespace": ns, "name": service},
                },
            })
        })
        .collect();
    Ok(serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": list,
    }))?)
}

/// Base64 of `text`, as Kubernetes encodes `[]byte` fields (ByteString serialises so).
fn b64(text: &str) -> Value {
    serde_json::to_value(ByteString(text.as_bytes().to_vec())).unwrap_or_default()
}

fn server_leaf(ca: &Ca, dns: &str) -> (String, String) {
    make_leaf(ca, &[dns], now() - T::days(1), now() + T::days(90))
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn certs_sources_webhook_bundles_are_checked_against_what_the_service_serves() -> Result<()> {
    let f = Fixture::new("hook").await?;
    let serving_ca = make_ca("Webhook serving CA");
    let soon_ca = make_ca_valid_for("Webhook CA expiring soon", 5);
    let (crt, key) = server_leaf(&serving_ca, &format!("hook.{}.svc", f.ns));
    f.serve("hook", Some((&crt, &key))).await?;
    f.serve("nothing", None).await?;
    let config = format!("certs-e2e-{}", f.ns);
    let _vwc = ClusterScoped::create(
        &f.sb,
        &f.admin,
        &webhooks(
            &config,
            &f.ns,
            &[
                ("wrong.certs.test", &soon_ca.pem, "hook", "Ignore"),
                ("right.certs.test", &serving_ca.pem, "hook", "Ignore"),
                ("down.certs.test", &serving_ca.pem, "nothing", "Ignore"),
            ],
        )?,
    )
    .await?;
    let name = |hook: &str| format!("validatingwebhookconfiguration/{config}/{hook}");

    let checked = f.certs(&["check", "-A", "--source", "webhook", "-o", "json"])?;
    let report = json_of(&checked)?;
    let items = by_name(&report);
    let wrong = items
        .get(&name("wrong.certs.test"))
        .context(text(&checked))?;
    ensure!(
        wrong["status"] == "critical" && wrong["source"] == "webhook",
        "{wrong:#}"
    );
    ensure!(
        has_finding(
            wrong,
            "served",
            "critical",
            "the caBundle does not verify the certificate served at service"
        ),
        "{wrong:#}"
    );
    ensure!(
        has_finding(wrong, "expiry", "critical", "Webhook CA expiring soon"),
        "{wrong:#}"
    );
    ensure!(
        !wrong["findings"].to_string().contains("tls.key"),
        "a CA bundle has no key: {wrong:#}"
    );
    let right = items
        .get(&name("right.certs.test"))
        .context(text(&checked))?;
    ensure!(right["status"] == "ok", "{right:#}");
    ensure!(
        has_finding(right, "served", "ok", "the caBundle verifies"),
        "{right:#}"
    );
    let down = items
        .get(&name("down.certs.test"))
        .context(text(&checked))?;
    ensure!(down["status"] == "warning", "{down:#}");
    ensure!(
        has_finding(down, "served", "warning", "no ready endpoint"),
        "{down:#}"
    );
    ensure!(checked.status.code() == Some(4), "{}", text(&checked));

    // list and validate grade the same rows alike.
    let listed = f.certs(&["list", "-A", "--source", "webhook", "-o", "json"])?;
    let listed = by_name(&json_of(&listed)?);
    for hook in ["wrong.certs.test", "right.certs.test", "down.certs.test"] {
        let checked_status = &items[&name(hook)]["status"];
        let listed_status = &listed.get(&name(hook)).context("listed")?["status"];
        ensure!(
            checked_status == listed_status,
            "{hook}: check {checked_status} list {listed_status}"
        );
        let validated = f.certs(&["validate", &name(hook), "-o", "json"])?;
        let v = json_of(&validated)?;
        ensure!(
            &v["status"] == checked_status,
            "{hook}: validate {} check {checked_status}",
            v["status"]
        );
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn certs_sources_apiservice_and_crd_conversion_bundles_are_checked_against_their_service()
-> Result<()> {
    let f = Fixture::new("agg").await?;
    let ca = make_ca("Aggregated API CA");
    let other = make_ca("Another CA");
    let (crt, key) = server_leaf(&ca, &format!("agg.{}.svc", f.ns));
    f.serve("agg", Some((&crt, &key))).await?;
    let group = format!("{}.certs-e2e.kubectl-ops.test", unique());
    let apiservice = |bundle: &str| -> Result<APIService> {
        Ok(serde_json::from_value(json!({
            "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": format!("v1.{group}")},
            "spec": {"group": group, "version": "v1", "groupPriorityMinimum": 10, "versionPriority": 10,
                     "caBundle": b64(bundle),
                     "service": {"namespace": f.ns, "name": "agg", "port": 443}},
        }))?)
    };
    let name = format!("apiservice/v1.{group}");
    let checked = {
        // As short-lived as possible: an APIService whose server is no real API makes
        // discovery of its group fail while it exists.
        let _a = ClusterScoped::create(&f.sb, &f.admin, &apiservice(&other.pem)?).await?;
        f.certs(&["check", "-A", "--source", "apiservice", "-o", "json"])?
    };
    let items = by_name(&json_of(&checked)?);
    let row = items.get(&name).context(text(&checked))?;
    ensure!(
        row["status"] == "critical" && row["source"] == "apiservice",
        "{row:#}"
    );
    ensure!(
        has_finding(row, "served", "critical", "does not verify"),
        "{row:#}"
    );

    // A CRD whose conversion webhook is the same Service, with the right CA: ok.
    let plural = format!("widgets{}", unique());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural, "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                          "schema": {"openAPIV3Schema": {"type": "object"}}}],
            "conversion": {"strategy": "Webhook", "webhook": {
                "conversionReviewVersions": ["v1"],
                "clientConfig": {"caBundle": b64(&ca.pem),
                                 "service": {"namespace": f.ns, "name": "agg", "port": 443}}}},
        },
    }))?;
    let _crd = ClusterScoped::create(&f.sb, &f.admin, &crd).await?;
    let checked = f.certs(&["check", "-A", "--source", "crd-conversion", "-o", "json"])?;
    let items = by_name(&json_of(&checked)?);
    let name = format!("customresourcedefinition/{plural}.{group}");
    let row = items.get(&name).context(text(&checked))?;
    ensure!(
        row["status"] == "ok" && row["source"] == "crd-conversion",
        "{row:#}"
    );
    ensure!(
        has_finding(row, "served", "ok", "the caBundle verifies"),
        "{row:#}"
    );
    let validated = f.certs(&["validate", &name, "-o", "json"])?;
    ensure!(
        json_of(&validated)?["status"] == "ok",
        "{}",
        text(&validated)
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn certs_sources_ingress_missing_secret_and_uncovered_host_are_critical() -> Result<()> {
    let f = Fixture::new("ing").await?;
    let ca = make_ca("Ingress CA");
    let (crt, key) = make_leaf(
        &ca,
        &["web.example"],
        now() - T::days(1),
        now() + T::days(90),
    );
    f.put_secret(
        "web-tls",
        "kubernetes.io/tls",
        &[("tls.crt", &crt), ("tls.key", &key), ("ca.crt", &ca.pem)],
    )
    .await?;
    let ingresses: Api<Ingress> = Api::namespaced(f.admin.clone(), &f.ns);
    for (name, secret, hosts) in [
        ("gone", "nope-tls", vec!["web.example"]),
        ("uncovered", "web-tls", vec!["web.example", "shop.example"]),
        ("covered", "web-tls", vec!["web.example"]),
    ] {
        let ing: Ingress = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "tls": [{"hosts": hosts, "secretName": secret}],
                "defaultBackend": {"service": {"name": "web", "port": {"number": 443}}},
            },
        }))?;
        ingresses.create(&PostParams::default(), &ing).await?;
    }
    // The least-privilege user with the Role `rbac` prints: the ingress source is a default
    // in one namespace.
    let kubeconfig = f.bind_least_privilege().await?;
    let checked = f.certs_with(&kubeconfig, &["check", "-o", "json"])?;
    let items = by_name(&json_of(&checked)?);
    let gone = items.get("ingress/gone/nope-tls").context(text(&checked))?;
    ensure!(
        gone["status"] == "critical" && gone["source"] == "ingress",
        "{gone:#}"
    );
    ensure!(
        has_finding(gone, "secret", "critical", "serves its default certificate"),
        "{gone:#}"
    );
    let uncovered = items
        .get("ingress/uncovered/web-tls")
        .context(text(&checked))?;
    ensure!(uncovered["status"] == "critical", "{uncovered:#}");
    ensure!(
        has_finding(
            uncovered,
            "san",
            "critical",
            "host \"shop.example\" is not covered"
        ),
        "{uncovered:#}"
    );
    let covered = items
        .get("ingress/covered/web-tls")
        .context(text(&checked))?;
    ensure!(covered["status"] == "ok", "{covered:#}");
    let web = items.get("web-tls").context(text(&checked))?;
    ensure!(
        web["status"] == "ok" && web["source"] == "secret",
        "{web:#}"
    );
    ensure!(checked.status.code() == Some(4), "{}", text(&checked));

    // `--source` selects exactly; list agrees with check.
    let listed = f.certs_with(&kubeconfig, &["list", "--source", "ingress", "-o", "json"])?;
    let listed = by_name(&json_of(&listed)?);
    ensure!(!listed.contains_key("web-tls"), "{listed:?}");
    for name in [
        "ingress/gone/nope-tls",
        "ingress/uncovered/web-tls",
        "ingress/covered/web-tls",
    ] {
        ensure!(listed[name]["status"] == items[name]["status"], "{name}");
    }
    ensure!(listed["ingress/gone/nope-tls"]["ready"] == "Missing");
    Ok(())
}

/// A kubeconfig for the sandbox whose user authenticates with a client certificate signed by
/// the sandbox's own CA (CN `kubectl-ops-certs-e2e-client`, no rights), with `eku`.
fn client_kubeconfig(
    sb: &Sandbox,
    dir: &Path,
    eku: ExtendedKeyUsagePurpose,
) -> Result<std::path::PathBuf> {
    let pki = sb.state_dir.join("pki");
    let ca_pem = std::fs::read_to_string(pki.join("ca.crt"))?;
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(pki.join("ca.key"))?)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key)?;
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name
        .push(DnType::CommonName, "kubectl-ops-certs-e2e-client");
    p.extended_key_usages = vec![eku];
    p.not_before = now() - T::days(1);
    p.not_after = now() + T::days(60);
    let key = KeyPair::generate()?;
    let crt = p.signed_by(&key, &issuer)?.pem();
    let server = sb
        .vars
        .get("SANDBOX_API_SERVER")
        .context("SANDBOX_API_SERVER")?;
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": {"server": server, "certificate-authority-data": b64(&ca_pem)}}],
        "users": [{"name": "e2e-client", "user": {"client-certificate-data": b64(&crt), "client-key-data": b64(&key.serialize_pem())}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": "sandbox", "user": "e2e-client"}}],
        "current-context": CONTEXT,
    });
    let path = dir.join(format!("kubeconfig-{}", unique()));
    std::fs::write(&path, serde_json::to_string(&config)?)?;
    Ok(path)
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn certs_sources_apiserver_and_kubeconfig_client_certificate() -> Result<()> {
    let f = Fixture::new("kc").await?;
    let kubeconfig = client_kubeconfig(&f.sb, f.dir.path(), ExtendedKeyUsagePurpose::ClientAuth)?;
    let checked = f.certs_with(
        &kubeconfig,
        &[
            "check",
            "-A",
            "--source",
            "apiserver,kubeconfig",
            "-o",
            "json",
        ],
    )?;
    let report = json_of(&checked)?;
    let items = by_name(&report);
    ensure!(items.len() == 2, "{}", text(&checked));
    let server = f.sb.vars["SANDBOX_API_SERVER"].trim_start_matches("https://");
    let apiserver = items
        .get(&format!("apiserver/{server}"))
        .context(text(&checked))?;
    ensure!(
        apiserver["status"] == "ok" && apiserver["source"] == "apiserver",
        "{apiserver:#}"
    );
    ensure!(
        has_finding(apiserver, "chain", "ok", "chain verifies"),
        "{apiserver:#}"
    );
    ensure!(
        !apiserver["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f["check"] == "tls-key" || f["check"] == "key-match"),
        "a served chain has no key: {apiserver:#}"
    );
    // The row is the sandbox API server's own certificate.
    let pem = std::fs::read(f.sb.state_dir.join("pki/apiserver.crt"))?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem)?;
    let cert = pem.parse_x509()?;
    let not_after =
        time::OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp())?
            .format(&time::format_description::well_known::Rfc3339)?;
    ensure!(
        apiserver["notAfter"] == not_after,
        "{apiserver:#} vs {not_after}"
    );

    let client = items.get("kubeconfig/e2e-client").context(text(&checked))?;
    ensure!(
        client["status"] == "ok" && client["source"] == "kubeconfig",
        "{client:#}"
    );
    ensure!(
        has_finding(client, "key-match", "ok", "client-key-data matches"),
        "{client:#}"
    );
    ensure!(
        has_finding(client, "chain", "ok", "chain verifies"),
        "{client:#}"
    );
    ensure!(checked.status.code() == Some(0), "{}", text(&checked));

    // A client certificate without clientAuth is critical.
    let server_only = client_kubeconfig(&f.sb, f.dir.path(), ExtendedKeyUsagePurpose::ServerAuth)?;
    let checked = f.certs_with(
        &server_only,
        &["check", "-A", "--source", "kubeconfig", "-o", "json"],
    )?;
    let items = by_name(&json_of(&checked)?);
    let client = items.get("kubeconfig/e2e-client").context(text(&checked))?;
    ensure!(client["status"] == "critical", "{client:#}");
    ensure!(
        has_finding(client, "usage", "critical", "without clientAuth"),
        "{client:#}"
    );
    ensure!(checked.status.code() == Some(4), "{}", text(&checked));
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn certs_sources_opaque_secret_pem_with_include_opaque() -> Result<()> {
    let f = Fixture::new("opq").await?;
    let ca = make_ca("Opaque CA");
    let (crt, _) = make_leaf(
        &ca,
        &["app.example"],
        now() - T::days(1),
        now() + T::days(20),
    );
    f.put_secret(
        "app-certs",
        "Opaque",
        &[("cert.pem", &crt), ("ca.pem", &ca.pem), ("password", "x")],
    )
    .await?;
    let kubeconfig = f.bind_least_privilege().await?;
    let without = f.certs_with(&kubeconfig, &["list", "-o", "json"])?;
    ensure!(
        !by_name(&json_of(&without)?).contains_key("app-certs/cert.pem"),
        "{}",
        text(&without)
    );
    let listed = f.certs_with(&kubeconfig, &["list", "--include-opaque", "-o", "json"])?;
    let listed = by_name(&json_of(&listed)?);
    let row = listed.get("app-certs/cert.pem").context("listed")?;
    ensure!(
        row["status"] == "warning" && row["source"] == "secret",
        "{row:#}"
    );
    let checked = f.certs_with(&kubeconfig, &["check", "--include-opaque", "-o", "json"])?;
    let items = by_name(&json_of(&checked)?);
    let item = items.get("app-certs/cert.pem").context(text(&checked))?;
    ensure!(item["status"] == "warning", "{item:#}");
    ensure!(
        has_finding(item, "expiry", "warning", "expires in"),
        "{item:#}"
    );
    ensure!(
        has_finding(item, "chain", "ok", "chain verifies"),
        "{item:#}"
    );
    ensure!(
        !item["findings"].to_string().contains("tls.key"),
        "{item:#}"
    );
    let validated = f.certs_with(
        &kubeconfig,
        &["validate", "app-certs/cert.pem", "-o", "json"],
    )?;
    ensure!(
        json_of(&validated)?["status"] == "warning",
        "{}",
        text(&validated)
    );
    ensure!(validated.status.code() == Some(3), "{}", text(&validated));
    // --include-opaque widens the secret source: a --source list without it is a usage error.
    let usage = f.certs_with(
        &kubeconfig,
        &["list", "--source", "ingress", "--include-opaque"],
    )?;
    ensure!(usage.status.code() == Some(2), "{}", text(&usage));
    ensure!(
        String::from_utf8_lossy(&usage.stderr).contains("hint:"),
        "{}",
        text(&usage)
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
async fn certs_sources_forbidden_webhook_list_is_an_unknown_row_with_a_hint() -> Result<()> {
    let f = Fixture::new("rbac").await?;
    let kubeconfig = f.bind_least_privilege().await?;
    let checked = f.certs_with(&kubeconfig, &["check", "--source", "webhook", "-o", "json"])?;
    ensure!(checked.status.code() == Some(5), "{}", text(&checked));
    ensure!(
        !String::from_utf8_lossy(&checked.stderr).contains("error:"),
        "{}",
        text(&checked)
    );
    let report = json_of(&checked)?;
    let items = report["items"].as_array().context("items")?;
    ensure!(!items.is_empty(), "{report:#}");
    for item in items {
        ensure!(
            item["status"] == "unknown" && item["source"] == "webhook",
            "{item:#}"
        );
        let finding = &item["findings"][0];
        ensure!(
            finding["message"]
                .as_str()
                .is_some_and(|m| m.contains("forbidden")),
            "{item:#}"
        );
        ensure!(
            finding["hint"]
                .as_str()
                .is_some_and(|h| h.contains("kubectl certs rbac --cluster-role")),
            "{item:#}"
        );
    }
    // list shows the row too, and succeeds.
    let listed = f.certs_with(&kubeconfig, &["list", "--source", "webhook"])?;
    ensure!(listed.status.success(), "{}", text(&listed));
    ensure!(
        String::from_utf8_lossy(&listed.stdout).contains("UNKNOWN"),
        "{}",
        text(&listed)
    );
    Ok(())
}

/// `rbac --cluster-role` prints the rules of the cluster-scoped sources and their serving
/// check; a Role cannot grant them and does not carry them.
#[test]
fn certs_sources_rbac_prints_the_cluster_scoped_rules() -> Result<()> {
    let out = plugin("kubectl-certs")
        .args(["rbac", "--cluster-role"])
        .output()?;
    ensure!(out.status.success(), "{}", text(&out));
    let yaml = String::from_utf8(out.stdout)?;
    for needed in [
        "validatingwebhookconfigurations",
        "mutatingwebhookconfigurations",
        "apiservices",
        "customresourcedefinitions",
        "ingresses",
        "pods/portforward",
        "endpoints",
    ] {
        ensure!(yaml.contains(needed), "{needed} missing from:\n{yaml}");
    }
    let role = plugin("kubectl-certs").args(["rbac", "-n", "x"]).output()?;
    let role = String::from_utf8(role.stdout)?;
    ensure!(
        role.contains("ingresses") && !role.contains("- validatingwebhookconfigurations"),
        "{role}"
    );
    let refused = plugin("kubectl-certs").args(["rbac", "sources"]).output()?;
    ensure!(refused.status.code() == Some(2), "{}", text(&refused));
    Ok(())
}
