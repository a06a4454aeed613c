//! Findings on crafted certificates (rcgen): each broken case is caught with the right
//! severity, and a healthy one passes.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration as T, OffsetDateTime};

use super::*;

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn make_ca(name: &str, from: OffsetDateTime, to: OffsetDateTime) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = from;
    p.not_after = to;
    let key = KeyPair::generate().unwrap();
    let pem = p.self_signed(&key).unwrap().pem();
    Ca {
        issuer: Issuer::new(p, key),
        pem,
    }
}

fn leaf(ca: &Ca, sans: &[&str], from: OffsetDateTime, to: OffsetDateTime) -> (String, String) {
    let mut p =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, sans[0]);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.not_before = from;
    p.not_after = to;
    let key = KeyPair::generate().unwrap();
    (
        p.signed_by(&key, &ca.issuer).unwrap().pem(),
        key.serialize_pem(),
    )
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn run(crt: &str, key: &str, ca: &str, expect: &Expectations) -> Analysis {
    let m = Material {
        tls_crt: Some(crt.as_bytes()),
        tls_key: Some(key.as_bytes()),
        ca_crt: Some(ca.as_bytes()),
        ..Default::default()
    };
    analyze(
        &m,
        expect,
        &[],
        Thresholds::default(),
        crate::inspect::now(),
    )
}

fn has(a: &Analysis, sev: Severity, check: &str) -> bool {
    a.findings
        .iter()
        .any(|f| f.severity == sev && f.check == check)
}

fn good_ca() -> Ca {
    make_ca("Test CA", now() - T::days(1), now() + T::days(3650))
}

#[test]
fn healthy_certificate_is_ok() {
    let ca = good_ca();
    let (crt, key) = leaf(
        &ca,
        &["api.example.com"],
        now() - T::hours(1),
        now() + T::days(90),
    );
    let a = run(
        &crt,
        &key,
        &ca.pem,
        &Expectations {
            dns_names: vec!["api.example.com".into()],
            ..Default::default()
        },
    );
    assert_eq!(a.worst(), Severity::Ok, "{:#?}", a.findings);
    assert!(has(&a, Severity::Ok, "chain") && has(&a, Severity::Ok, "key-match"));
}

#[test]
fn expiry_thresholds_grade_warning_and_critical() {
    let ca = good_ca();
    let (crt, key) = leaf(&ca, &["a.example"], now() - T::days(1), now() + T::days(20));
    assert_eq!(
        run(&crt, &key, &ca.pem, &Expectations::default()).worst(),
        Severity::Warning
    );
    let (crt, key) = leaf(&ca, &["a.example"], now() - T::days(1), now() + T::days(3));
    let a = run(&crt, &key, &ca.pem, &Expectations::default());
    assert!(has(&a, Severity::Critical, "expiry"));
}

#[test]
fn expired_and_not_yet_valid_are_critical() {
    let ca = good_ca();
    let (crt, key) = leaf(&ca, &["a.example"], now() - T::days(10), now() - T::days(2));
    let a = run(&crt, &key, &ca.pem, &Expectations::default());
    assert!(has(&a, Severity::Critical, "expiry"), "{:#?}", a.findings);
    let (crt, key) = leaf(&ca, &["a.example"], now() + T::days(2), now() + T::days(30));
    assert!(has(
        &run(&crt, &key, &ca.pem, &Expectations::default()),
        Severity::Critical,
        "not-yet-valid"
    ));
}

#[test]
fn wrong_ca_key_mismatch_and_missing_san_are_critical() {
    let ca = good_ca();
    let other = make_ca("Other CA", now() - T::days(1), now() + T::days(100));
    let (crt, key) = leaf(&ca, &["a.example"], now() - T::days(1), now() + T::days(90));
    let a = run(&crt, &key, &other.pem, &Expectations::default());
    assert!(has(&a, Severity::Critical, "chain"), "{:#?}", a.findings);
    let (_, other_key) = leaf(&ca, &["a.example"], now() - T::days(1), now() + T::days(90));
    assert!(has(
        &run(&crt, &other_key, &ca.pem, &Expectations::default()),
        Severity::Critical,
        "key-match"
    ));
    let expect = Expectations {
        dns_names: vec!["a.example".into(), "b.example".into()],
        ..Default::default()
    };
    let a = run(&crt, &key, &ca.pem, &expect);
    assert!(a.findings.iter().any(|f| f.check == "san"
        && f.severity == Severity::Critical
        && f.message.contains("b.example")));
}

#[test]
fn expired_ca_is_critical() {
    let old = make_ca("Old CA", now() - T::days(100), now() - T::days(1));
    let (crt, key) = leaf(
        &old,
        &["a.example"],
        now() - T::days(10),
        now() + T::days(90),
    );
    let a = run(&crt, &key, &old.pem, &Expectations::default());
    assert!(
        has(&a, Severity::Critical, "ca-expired"),
        "{:#?}",
        a.findings
    );
}

#[test]
fn garbage_and_private_key_in_tls_crt_are_critical() {
    let ca = good_ca();
    let (crt, key) = leaf(&ca, &["a.example"], now() - T::days(1), now() + T::days(90));
    let a = run(
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        &key,
        &ca.pem,
        &Expectations::default(),
    );
    assert!(has(&a, Severity::Critical, "pem") && has(&a, Severity::Critical, "x509"));
    let a = run(
        &format!("{crt}{key}"),
        &key,
        &ca.pem,
        &Expectations::default(),
    );
    assert!(
        a.findings
            .iter()
            .any(|f| f.check == "pem" && f.message.contains("private key does not belong"))
    );
    assert!(
        !a.findings
            .iter()
            .any(|f| f.message.contains("BEGIN PRIVATE KEY")),
        "never echo key material"
    );
}

#[test]
fn chain_order_and_intermediates() {
    let root = good_ca();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, "Intermediate");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.not_before = now() - T::days(1);
    p.not_after = now() + T::days(365);
    let ikey = KeyPair::generate().unwrap();
    let ipem = p.signed_by(&ikey, &root.issuer).unwrap().pem();
    let inter = Ca {
        issuer: Issuer::new(p, ikey),
        pem: ipem.clone(),
    };
    let (crt, key) = leaf(
        &inter,
        &["a.example"],
        now() - T::days(1),
        now() + T::days(90),
    );
    let a = run(
        &format!("{crt}{ipem}"),
        &key,
        &root.pem,
        &Expectations::default(),
    );
    assert_eq!(a.worst(), Severity::Ok, "{:#?}", a.findings);
    let a = run(
        &format!("{ipem}{crt}"),
        &key,
        &root.pem,
        &Expectations::default(),
    );
    assert!(has(&a, Severity::Warning, "chain-order") || a.worst() >= Severity::Warning);
    // Without the intermediate the leaf cannot reach the root.
    assert!(has(
        &run(&crt, &key, &root.pem, &Expectations::default()),
        Severity::Critical,
        "chain"
    ));
}

#[test]
fn renew_before_checks() {
    let ca = good_ca();
    let (crt, key) = leaf(&ca, &["a.example"], now() - T::days(1), now() + T::days(29));
    let loop_ = Expectations {
        renew_before: Some("720h".into()),
        ..Default::default()
    };
    assert!(has(
        &run(&crt, &key, &ca.pem, &loop_),
        Severity::Critical,
        "renew-before"
    ));
    let annotated = Expectations {
        renew_before_annotation: Some("2024-01-01T00:00:00Z".into()),
        ..Default::default()
    };
    assert!(has(
        &run(&crt, &key, &ca.pem, &annotated),
        Severity::Warning,
        "renew-before-annotation"
    ));
}
