//! One evaluation grades every command: for each crafted certificate, the status `check`
//! prints, the status `validate` prints and the status `list` shows are the same, and are the
//! expected severity, caused by the expected finding, which `check`'s message shows.
//!
//! Certificates come from rcgen, except the two rcgen cannot make (an RSA 1024 key, a SHA-1
//! signature): those are fixtures in `kubectl-certs/testdata/` (see `regenerate.sh` there).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use serde_json::{Value, json};
use time::{Duration as T, OffsetDateTime};

use super::*;
use crate::commands::check::Verdict;
use crate::commands::list;
use crate::findings::reached::Reached;
use crate::findings::{Role, parse_certs};
use crate::model::{CertificateView, Manager, Origin};
use crate::sources::{self, Found};

const FIXTURE_CA: &str = include_str!("../../testdata/fixture-ca.crt");
const RSA1024_CRT: &str = include_str!("../../testdata/rsa1024.crt");
const RSA1024_KEY: &str = include_str!("../../testdata/rsa1024.key");
const SHA1_CRT: &str = include_str!("../../testdata/sha1.crt");
const SHA1_KEY: &str = include_str!("../../testdata/sha1.key");

// ---- what each command prints ----

/// The status `check` prints for the entry (no `--endpoint`), and its table message: what
/// `check::run` does per certificate.
fn check_status(e: &Entry, now: i64) -> (Severity, String) {
    let v = Verdict::of(e, evaluate(e, &[], Thresholds::default(), now), now);
    (v.status, v.message())
}

/// The status `validate` prints for the entry, and its findings: what `validate::run` does.
fn validate_status(e: &Entry, now: i64) -> (Severity, Vec<Finding>) {
    let a = evaluate(e, &[], Thresholds::default(), now);
    (a.worst(), a.findings)
}

/// The status `list` shows for the entry.
fn list_status(e: &Entry, now: i64) -> Severity {
    list::row(e, Thresholds::default(), now).status
}

// ---- crafted certificates ----

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn ca_signed_by(name: &str, parent: Option<&Ca>, to: OffsetDateTime) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = now() - T::days(400);
    p.not_after = to;
    let key = KeyPair::generate().unwrap();
    let pem = match parent {
        Some(parent) => p.signed_by(&key, &parent.issuer).unwrap().pem(),
        None => p.self_signed(&key).unwrap().pem(),
    };
    Ca {
        issuer: Issuer::new(p, key),
        pem,
    }
}

fn root(name: &str) -> Ca {
    ca_signed_by(name, None, now() + T::days(3650))
}

/// A server leaf for `app.example` (KU digitalSignature+keyEncipherment, EKU serverAuth,
/// valid from a day ago for 90 days), changed by `tweak`; returns (tls.crt, tls.key).
fn leaf(ca: &Ca, tweak: impl FnOnce(&mut CertificateParams)) -> (String, String) {
    let mut p = CertificateParams::new(vec!["app.example".to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, "app.example");
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.not_before = now() - T::days(1);
    p.not_after = now() + T::days(90);
    tweak(&mut p);
    let key = KeyPair::generate().unwrap();
    (
        p.signed_by(&key, &ca.issuer).unwrap().pem(),
        key.serialize_pem(),
    )
}

fn valid_for(days: i64) -> impl FnOnce(&mut CertificateParams) {
    move |p| {
        p.not_before = now() - T::days(1);
        p.not_after = now() + T::days(days);
    }
}

// ---- cluster objects ----

fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    let data: BTreeMap<String, ByteString> = data
        .iter()
        .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
        .collect();
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            ..Default::default()
        },
        type_: Some(crate::model::TLS_TYPE.into()),
        data: Some(data),
        ..Default::default()
    }
}

/// A TLS Secret no Certificate manages.
fn plain(name: &str, crt: &str, key: &str, ca: Option<&str>) -> Entry {
    let mut data = vec![("tls.crt", crt), ("tls.key", key)];
    if let Some(ca) = ca {
        data.push(("ca.crt", ca));
    }
    Entry {
        namespace: "ns".into(),
        name: name.into(),
        secret_name: name.into(),
        config_name: None,
        manager: Manager::Unmanaged,
        origin: Origin::Secret,
        certificate: None,
        secret: Some(secret(name, &data)),
        found: None,
    }
}

/// A cert-manager Certificate (`spec` merged over dnsNames [app.example], `status` as given)
/// whose Secret holds `crt`/`key`/`ca`.
fn managed(
    name: &str,
    spec: Value,
    annotations: Value,
    status: Value,
    tls: (&str, &str, &str),
) -> Entry {
    let mut full_spec = json!({
        "secretName": name,
        "dnsNames": ["app.example"],
        "issuerRef": {"name": "ca", "kind": "Issuer"},
    });
    for (k, v) in spec.as_object().into_iter().flatten() {
        full_spec[k] = v.clone();
    }
    let obj: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": name, "namespace": "ns", "annotations": annotations},
        "spec": full_spec,
        "status": status,
    }))
    .unwrap();
    let (crt, key, ca) = tls;
    Entry {
        namespace: "ns".into(),
        name: name.into(),
        secret_name: name.into(),
        config_name: None,
        manager: Manager::CertManager,
        origin: Origin::Certificate,
        certificate: Some(CertificateView::from_object(obj)),
        secret: Some(secret(
            name,
            &[("tls.crt", crt), ("tls.key", key), ("ca.crt", ca)],
        )),
        found: None,
    }
}

fn ready() -> Value {
    json!({"conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "ok"}]})
}

/// One crafted case: the entry, the status every command must print, and the finding
/// (check id) that must carry that status.
struct Case {
    name: &'static str,
    entry: Entry,
    want: Severity,
    because: &'static str,
}

fn case(name: &'static str, entry: Entry, want: Severity, because: &'static str) -> Case {
    Case {
        name,
        entry,
        want,
        because,
    }
}

fn cases() -> Vec<Case> {
    use Severity::*;
    let ca = root("Agreement CA");
    let other = root("Other CA");
    let c = Some(ca.pem.as_str());
    let (good, good_key) = leaf(&ca, |_| {});
    let mut out = Vec::new();

    out.push(case(
        "healthy",
        plain("healthy", &good, &good_key, c),
        Ok,
        "chain",
    ));
    out.push(case(
        "healthy, managed",
        managed(
            "healthy-managed",
            json!({"renewBefore": "360h"}),
            json!({}),
            ready(),
            (&good, &good_key, &ca.pem),
        ),
        Ok,
        "renew-before",
    ));

    // Algorithms.
    out.push(case(
        "RSA 1024 leaf",
        plain("rsa1024", RSA1024_CRT, RSA1024_KEY, Some(FIXTURE_CA)),
        Critical,
        "key-strength",
    ));
    out.push(case(
        "SHA-1 signature",
        plain("sha1", SHA1_CRT, SHA1_KEY, Some(FIXTURE_CA)),
        Critical,
        "signature",
    ));

    // Usages and names.
    let (crt, key) = leaf(&ca, |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth]
    });
    out.push(case(
        "EKU without serverAuth",
        plain("eku", &crt, &key, c),
        Warning,
        "usage",
    ));
    let (crt, key) = leaf(&ca, |p| {
        p.key_usages = vec![KeyUsagePurpose::KeyEncipherment]
    });
    out.push(case(
        "KU without digitalSignature",
        plain("ku", &crt, &key, c),
        Warning,
        "usage",
    ));
    let (crt, key) = leaf(&ca, |p| p.subject_alt_names.clear());
    out.push(case(
        "no subjectAltName",
        plain("no-san", &crt, &key, c),
        Warning,
        "san",
    ));
    out.push(case(
        "SANs do not cover spec.dnsNames",
        managed(
            "dns",
            json!({"dnsNames": ["app.example", "b.example"]}),
            json!({}),
            ready(),
            (&good, &good_key, &ca.pem),
        ),
        Critical,
        "san",
    ));
    out.push(case(
        "SANs do not cover spec.ipAddresses",
        managed(
            "ip",
            json!({"ipAddresses": ["10.0.0.1"]}),
            json!({}),
            ready(),
            (&good, &good_key, &ca.pem),
        ),
        Critical,
        "san",
    ));
    let (crt, key) = leaf(&ca, |p| {
        p.subject_alt_names
            .push(SanType::IpAddress("10.0.0.1".parse().unwrap()))
    });
    out.push(case(
        "SANs cover spec.ipAddresses",
        managed(
            "ip-ok",
            json!({"ipAddresses": ["10.0.0.1"]}),
            json!({}),
            ready(),
            (&crt, &key, &ca.pem),
        ),
        Ok,
        "expiry",
    ));

    // Chain.
    let inter = ca_signed_by("Agreement Intermediate", Some(&ca), now() + T::days(365));
    let (crt, key) = leaf(&inter, |_| {});
    out.push(case(
        "leaf, intermediate",
        plain("chained", &format!("{crt}{}", inter.pem), &key, c),
        Ok,
        "chain",
    ));
    out.push(case(
        "chain in the wrong order",
        plain(
            "disordered",
            &format!("{crt}{}{}", ca.pem, inter.pem),
            &key,
            c,
        ),
        Warning,
        "chain-order",
    ));
    out.push(case(
        "root included in tls.crt",
        plain(
            "with-root",
            &format!("{crt}{}{}", inter.pem, ca.pem),
            &key,
            c,
        ),
        Info,
        "chain-root",
    ));
    out.push(case(
        "issued by another CA",
        plain("wrong-ca", &good, &good_key, Some(&other.pem)),
        Critical,
        "chain",
    ));
    out.push(case(
        "no ca.crt",
        plain("no-ca", &good, &good_key, None),
        Warning,
        "chain-anchor",
    ));
    let old = ca_signed_by("Expired CA", None, now() - T::days(1));
    let (crt, key) = leaf(&old, |_| {});
    out.push(case(
        "expired CA",
        plain("old-ca", &crt, &key, Some(&old.pem)),
        Critical,
        "ca-expired",
    ));

    // Validity.
    let (crt, key) = leaf(&ca, |p| {
        p.not_before = now() - T::days(30);
        p.not_after = now() - T::days(2);
    });
    out.push(case(
        "expired",
        plain("expired", &crt, &key, c),
        Critical,
        "expiry",
    ));
    let (crt, key) = leaf(&ca, valid_for(20));
    out.push(case(
        "expires within --warn",
        plain("soon", &crt, &key, c),
        Warning,
        "expiry",
    ));
    let (crt, key) = leaf(&ca, valid_for(3));
    out.push(case(
        "expires within --crit",
        plain("very-soon", &crt, &key, c),
        Critical,
        "expiry",
    ));
    let (crt, key) = leaf(&ca, |p| {
        p.not_before = now() + T::days(2);
        p.not_after = now() + T::days(60);
    });
    out.push(case(
        "not yet valid",
        plain("future", &crt, &key, c),
        Critical,
        "not-yet-valid",
    ));

    // Key.
    let (_, stray_key) = leaf(&ca, |_| {});
    out.push(case(
        "key mismatch",
        plain("mismatch", &good, &stray_key, c),
        Critical,
        "key-match",
    ));
    out.push(case(
        "two keys in tls.key",
        plain("two-keys", &good, &format!("{good_key}{stray_key}"), c),
        Warning,
        "tls-key",
    ));
    out.push(case(
        "garbage tls.crt",
        plain(
            "garbage",
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
            &good_key,
            c,
        ),
        Critical,
        "pem",
    ));

    // cert-manager settings and state.
    out.push(case(
        "renewBefore >= the issued lifetime",
        managed(
            "loop",
            json!({"renewBefore": "2400h"}),
            json!({}),
            ready(),
            (&good, &good_key, &ca.pem),
        ),
        Critical,
        "renew-before",
    ));
    out.push(case(
        "renewBefore not a Go duration",
        managed(
            "days",
            json!({"renewBefore": "15d"}),
            json!({}),
            ready(),
            (&good, &good_key, &ca.pem),
        ),
        Warning,
        "renew-before",
    ));
    out.push(case(
        "renewBefore under 5m",
        managed(
            "tiny",
            json!({"renewBefore": "1m"}),
            json!({}),
            ready(),
            (&good, &good_key, &ca.pem),
        ),
        Warning,
        "renew-before",
    ));
    out.push(case(
        "renew-before annotation",
        managed(
            "annotated",
            json!({}),
            json!({"cert-manager.io/renew-before": "24h"}),
            ready(),
            (&good, &good_key, &ca.pem),
        ),
        Warning,
        "renew-before-annotation",
    ));
    out.push(case(
        "Certificate not Ready",
        managed("not-ready", json!({}), json!({}), json!({"conditions": [{"type": "Ready", "status": "False", "reason": "Pending", "message": "waiting"}]}), (&good, &good_key, &ca.pem)),
        Critical,
        "ready",
    ));
    out.push(case(
        "Certificate without a Ready condition",
        managed(
            "no-status",
            json!({}),
            json!({}),
            json!({}),
            (&good, &good_key, &ca.pem),
        ),
        Warning,
        "ready",
    ));
    out.push(case(
        "last issuance failed",
        managed("failed", json!({}), json!({}), json!({"conditions": [
            {"type": "Ready", "status": "True", "reason": "Ready", "message": "ok"},
            {"type": "Issuing", "status": "False", "reason": "Failed", "message": "the CA refused"},
        ]}), (&good, &good_key, &ca.pem)),
        Warning,
        "ready",
    ));
    let mut missing = plain("missing", &good, &good_key, c);
    missing.secret = None;
    out.push(case("Secret missing", missing, Critical, "secret"));
    out.extend(source_cases());
    out
}

// ---- other sources (webhooks, APIServices, Ingresses, the API server, the kubeconfig) ----

/// A caBundle row (a webhook's), reaching `reached`.
fn bundle(name: &str, pem: &str, reached: Option<Reached>) -> Entry {
    sources::row(
        Origin::Webhook,
        sources::CLUSTER,
        format!("validatingwebhookconfiguration/cfg/{name}"),
        sources::CLUSTER,
        Found {
            role: Role::CaBundle,
            crt: (!pem.is_empty()).then(|| pem.as_bytes().to_vec()),
            crt_label: "caBundle".into(),
            reached,
            ..Default::default()
        },
    )
}

/// What `svc.ns.svc` serves: `chain` (PEM) read through a port-forward.
fn served(chain: &str) -> Option<Reached> {
    let (certs, _) = parse_certs(chain.as_bytes());
    Some(Reached::Served {
        endpoint: "service ns/svc:443".into(),
        server_name: "svc.ns.svc".into(),
        chain: certs.into_iter().map(|c| c.der).collect(),
    })
}

/// A server leaf for `svc.ns.svc`.
fn svc_leaf(ca: &Ca, days: i64) -> String {
    leaf(ca, |p| {
        p.subject_alt_names = vec![SanType::DnsName("svc.ns.svc".try_into().unwrap())];
        p.not_after = now() + T::days(days);
    })
    .0
}

/// An Ingress row over a TLS Secret (`None`: the Secret is missing) with `hosts`.
fn ingress(name: &str, tls: Option<(&str, &str, &str)>, hosts: &[&str]) -> Entry {
    let u = crate::sources::ingress::TlsUse {
        namespace: "ns".into(),
        ingress: name.into(),
        secret: format!("{name}-tls"),
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
    };
    let s = tls.map(|(crt, key, ca)| {
        secret(
            &format!("{name}-tls"),
            &[("tls.crt", crt), ("tls.key", key), ("ca.crt", ca)],
        )
    });
    crate::sources::ingress::entry(u, s)
}

/// An API server row: the served chain, the kubeconfig's CA, the dialled host.
fn apiserver(chain: &str, ca: &str, host: &str) -> Entry {
    sources::row(
        Origin::ApiServer,
        sources::CLUSTER,
        format!("apiserver/{host}:6443"),
        sources::CLUSTER,
        Found {
            role: Role::Certificate,
            crt: Some(chain.as_bytes().to_vec()),
            anchors: Some(ca.as_bytes().to_vec()),
            hosts: vec![host.into()],
            hosts_from: "the kubeconfig's server".into(),
            ..Default::default()
        },
    )
}

fn client_leaf(ca: &Ca, eku: ExtendedKeyUsagePurpose) -> (String, String) {
    leaf(ca, |p| {
        p.subject_alt_names.clear();
        p.distinguished_name.push(DnType::CommonName, "admin");
        p.extended_key_usages = vec![eku];
    })
}

fn source_cases() -> Vec<Case> {
    use Severity::*;
    let ca = root("Webhook CA");
    let other = root("Other Webhook CA");
    let soon = ca_signed_by("Webhook CA expiring", None, now() + T::days(3));
    let mut out = Vec::new();
    let (wrong_name, _) = leaf(&ca, |_| {});

    // caBundles: the bundle's own validity, then what its consumer serves.
    out.push(case(
        "caBundle verifies the served certificate",
        bundle("ok", &ca.pem, served(&svc_leaf(&ca, 90))),
        Ok,
        "served",
    ));
    out.push(case(
        "caBundle does not verify the served certificate",
        bundle("wrong", &ca.pem, served(&svc_leaf(&other, 90))),
        Critical,
        "served",
    ));
    out.push(case(
        "caBundle CA expires within --crit",
        bundle("soon", &soon.pem, served(&svc_leaf(&soon, 2))),
        Critical,
        "expiry",
    ));
    out.push(case(
        "served certificate expires within --warn",
        bundle("served-soon", &ca.pem, served(&svc_leaf(&ca, 20))),
        Warning,
        "served-expiry",
    ));
    out.push(case(
        "served certificate does not cover NAME.NS.svc",
        bundle("wrong-name", &ca.pem, served(&wrong_name)),
        Critical,
        "served",
    ));
    out.push(case(
        "no ready endpoint, failurePolicy Ignore",
        bundle(
            "ignore",
            &ca.pem,
            Some(Reached::Unreachable {
                endpoint: "service ns/svc:443".into(),
                reason: "the Service has no ready endpoint".into(),
                severity: Warning,
            }),
        ),
        Warning,
        "served",
    ));
    out.push(case(
        "no ready endpoint, failurePolicy Fail",
        bundle(
            "fail",
            &ca.pem,
            Some(Reached::Unreachable {
                endpoint: "service ns/svc:443".into(),
                reason: "the Service has no ready endpoint".into(),
                severity: Critical,
            }),
        ),
        Critical,
        "served",
    ));
    out.push(case(
        "serving check not possible",
        bundle(
            "forbidden",
            &ca.pem,
            Some(Reached::NotChecked {
                endpoint: "service ns/svc:443".into(),
                reason: "forbidden".into(),
            }),
        ),
        Unknown,
        "served",
    ));
    out.push(case(
        "empty caBundle",
        bundle("empty", "", None),
        Warning,
        "ca-bundle",
    ));
    let mut url = bundle("url", "", served(&svc_leaf(&ca, 90)));
    if let Some(f) = url.found.as_mut() {
        f.system_roots = true;
    }
    out.push(case(
        "empty caBundle of a url webhook (system roots)",
        url,
        Info,
        "ca-bundle",
    ));
    let mut url_soon = bundle("url-soon", "", served(&svc_leaf(&ca, 3)));
    if let Some(f) = url_soon.found.as_mut() {
        f.system_roots = true;
    }
    out.push(case(
        "url webhook whose served certificate expires within --crit",
        url_soon,
        Critical,
        "served-expiry",
    ));
    let mut insecure = bundle("insecure", &ca.pem, served(&svc_leaf(&ca, 90)));
    insecure.origin = Origin::ApiService;
    if let Some(f) = insecure.found.as_mut() {
        f.notes.push(Finding {
            severity: Warning,
            check: "insecure",
            message: "spec.insecureSkipTLSVerify is true".into(),
            hint: None,
        });
    }
    out.push(case(
        "APIService with insecureSkipTLSVerify",
        insecure,
        Warning,
        "insecure",
    ));

    // Ingresses.
    let (crt, key) = leaf(&ca, |_| {});
    out.push(case(
        "Ingress names a missing Secret",
        ingress("gone", None, &["app.example"]),
        Critical,
        "secret",
    ));
    out.push(case(
        "Ingress host not covered by the SANs",
        ingress(
            "uncovered",
            Some((&crt, &key, &ca.pem)),
            &["app.example", "shop.example"],
        ),
        Critical,
        "san",
    ));
    out.push(case(
        "Ingress hosts covered",
        ingress("covered", Some((&crt, &key, &ca.pem)), &["app.example"]),
        Ok,
        "chain",
    ));

    // The API server's served chain (no key) and the kubeconfig's client certificate.
    out.push(case(
        "API server certificate covers the dialled host",
        apiserver(&crt, &ca.pem, "app.example"),
        Ok,
        "chain",
    ));
    out.push(case(
        "API server certificate does not cover the dialled host",
        apiserver(&crt, &ca.pem, "10.0.0.1"),
        Critical,
        "san",
    ));
    out.push(case(
        "API server certificate from another CA",
        apiserver(&crt, &other.pem, "app.example"),
        Critical,
        "chain",
    ));
    let (client, client_key) = client_leaf(&ca, ExtendedKeyUsagePurpose::ClientAuth);
    out.push(case(
        "client certificate",
        sources::kubeconfig::entry(
            "admin",
            client.clone().into_bytes(),
            Some(client_key.clone().into_bytes()),
            Some(ca.pem.clone().into_bytes()),
        ),
        Ok,
        "key-match",
    ));
    let (server_only, server_key) = client_leaf(&ca, ExtendedKeyUsagePurpose::ServerAuth);
    out.push(case(
        "client certificate without clientAuth",
        sources::kubeconfig::entry(
            "admin",
            server_only.into_bytes(),
            Some(server_key.into_bytes()),
            None,
        ),
        Critical,
        "usage",
    ));
    out.push(case(
        "client certificate with another key",
        sources::kubeconfig::entry(
            "admin",
            client.into_bytes(),
            Some(key.clone().into_bytes()),
            None,
        ),
        Critical,
        "key-match",
    ));
    out.push(case(
        "source not readable",
        sources::unreadable(
            Origin::Webhook,
            "webhook/*",
            "cannot list validatingwebhookconfigurations: forbidden".into(),
            "grant list".into(),
        ),
        Unknown,
        "source",
    ));
    out
}

#[test]
fn material_without_a_key_never_gets_key_findings() {
    let now = crate::inspect::now();
    let ca = root("No-key CA");
    let (crt, _) = leaf(&ca, |_| {});
    for e in [
        bundle("b", &ca.pem, served(&svc_leaf(&ca, 90))),
        apiserver(&crt, &ca.pem, "app.example"),
    ] {
        let a = evaluate(&e, &[], Thresholds::default(), now);
        assert!(
            !a.findings
                .iter()
                .any(|f| f.check == "tls-key" || f.check == "key-match"),
            "{}: {:?}",
            e.name,
            a.findings
        );
        assert_eq!(a.worst(), Severity::Ok, "{}: {:?}", e.name, a.findings);
    }
    let soon = ca_signed_by("Soon", None, now_t() + T::days(3));
    let two = format!("{}{}", ca.pem, soon.pem);
    let row = list::row(&bundle("two", &two, None), Thresholds::default(), now);
    assert!(
        row.days_left.is_some_and(|d| d <= 3),
        "a bundle's days left are those of the CA that expires first: {:?}",
        row.days_left
    );
    assert_eq!(row.status, Severity::Critical);
}

fn now_t() -> OffsetDateTime {
    now()
}

#[test]
fn check_validate_and_list_print_the_same_status_for_every_crafted_case() {
    let now = crate::inspect::now();
    let mut wrong = Vec::new();
    for c in cases() {
        let (checked, message) = check_status(&c.entry, now);
        let (validated, findings) = validate_status(&c.entry, now);
        let listed = list_status(&c.entry, now);
        let cause = findings
            .iter()
            .find(|f| f.check == c.because && f.severity == c.want);
        let mut problems = Vec::new();
        if checked != validated {
            problems.push(format!("check {checked:?} != validate {validated:?}"));
        }
        if listed != validated {
            problems.push(format!("list {listed:?} != validate {validated:?}"));
        }
        if validated != c.want {
            problems.push(format!("validate {validated:?}, want {:?}", c.want));
        }
        if checked != c.want {
            problems.push(format!("check {checked:?}, want {:?}", c.want));
        }
        match cause {
            None => problems.push(format!("no {:?} finding {:?}", c.want, c.because)),
            Some(f) if c.want > Severity::Info && !message.contains(&f.message) => {
                problems.push(format!(
                    "check's message {message:?} does not show the worst finding {:?}",
                    f.message
                ))
            }
            Some(_) => {}
        }
        if !problems.is_empty() {
            wrong.push(format!(
                "{}: {}\n    findings: {:?}",
                c.name,
                problems.join("; "),
                findings
                    .iter()
                    .map(|f| format!("{:?} {}", f.severity, f.check))
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} case(s) disagree:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
