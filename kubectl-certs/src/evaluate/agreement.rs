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
use crate::model::{CertificateView, Manager, Origin};

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
    out
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
