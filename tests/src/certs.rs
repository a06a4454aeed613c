//! Certificates for tests: a CA (root or intermediate) and leaves signed by it, made with rcgen,
//! so a test states the validity window and names it needs instead of shipping PEM files.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// A CA that can sign: its issuer (parameters and key) and its certificate as PEM.
pub struct Ca {
    /// Signs certificates.
    pub issuer: Issuer<'static, KeyPair>,
    /// The CA certificate (PEM).
    pub pem: String,
}

/// The current time (UTC).
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn ca_params(name: &str, valid_days: i64) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("empty SAN list");
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = now() - Duration::days(1);
    p.not_after = now() + Duration::days(valid_days);
    p
}

/// A self-signed root CA valid from yesterday for ten years.
pub fn make_ca(name: &str) -> Ca {
    make_ca_valid_for(name, 3650)
}

/// A self-signed root CA valid from yesterday for `valid_days` (a CA about to expire).
pub fn make_ca_valid_for(name: &str, valid_days: i64) -> Ca {
    let p = ca_params(name, valid_days);
    let key = KeyPair::generate().expect("generating a key");
    let pem = p.self_signed(&key).expect("self-signing").pem();
    Ca {
        issuer: Issuer::new(p, key),
        pem,
    }
}

/// An intermediate CA signed by `root`, valid from yesterday for 1000 days.
pub fn make_intermediate(root: &Ca, name: &str) -> Ca {
    let p = ca_params(name, 1000);
    let key = KeyPair::generate().expect("generating a key");
    let pem = p.signed_by(&key, &root.issuer).expect("signing").pem();
    Ca {
        issuer: Issuer::new(p, key),
        pem,
    }
}

/// A serverAuth leaf for `sans` (the first is also the CN), valid `from`..`to`, signed by `ca`:
/// (certificate PEM, private key PEM).
pub fn make_leaf(
    ca: &Ca,
    sans: &[&str],
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> (String, String) {
    let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("SANs");
    p.distinguished_name.push(DnType::CommonName, sans[0]);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.not_before = from;
    p.not_after = to;
    let key = KeyPair::generate().expect("generating a key");
    (
        p.signed_by(&key, &ca.issuer).expect("signing").pem(),
        key.serialize_pem(),
    )
}
