//! What one X.509 certificate says: names, validity, usages, algorithms, fingerprint.
//! Parsing is x509-parser's; nothing here panics on malformed input.

use std::net::IpAddr;

use serde::Serialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::objects::{oid_registry, oid2sn};
use x509_parser::public_key::PublicKey;

/// The facts about one certificate that the commands show and judge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertInfo {
    /// Subject DN (RFC 4514 style).
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial number, colon-separated hex.
    pub serial: String,
    /// Start of validity, unix seconds.
    #[serde(serialize_with = "ser_time")]
    pub not_before: i64,
    /// End of validity, unix seconds.
    #[serde(serialize_with = "ser_time")]
    pub not_after: i64,
    /// DNS SANs.
    pub dns_names: Vec<String>,
    /// IP SANs.
    pub ip_addresses: Vec<String>,
    /// URI SANs.
    pub uris: Vec<String>,
    /// Email SANs.
    pub emails: Vec<String>,
    /// basicConstraints cA.
    pub is_ca: bool,
    /// Key usages (RFC 5280 names); empty when the extension is absent.
    pub key_usage: Vec<String>,
    /// Extended key usages; empty when the extension is absent.
    pub ext_key_usage: Vec<String>,
    /// Signature algorithm short name, e.g. `sha256WithRSAEncryption`.
    pub signature_algorithm: String,
    /// Public key algorithm and size, e.g. `RSA 2048`, `ECDSA P-256`, `Ed25519`.
    pub public_key: String,
    /// Public key size in bits (0 when unknown).
    #[serde(skip)]
    pub public_key_bits: usize,
    /// SHA-256 fingerprint of the DER, colon-separated upper-case hex (as openssl prints it).
    pub sha256: String,
    /// Raw DER subject (for chain matching).
    #[serde(skip)]
    pub subject_raw: Vec<u8>,
    /// Raw DER issuer.
    #[serde(skip)]
    pub issuer_raw: Vec<u8>,
}

fn ser_time<S: serde::Serializer>(t: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// Unix seconds as RFC 3339 UTC (`2026-01-31T12:00:00Z`).
pub fn rfc3339(t: i64) -> String {
    k8s_openapi::jiff::Timestamp::from_second(t)
        .map(|ts| ts.to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// Now, in unix seconds.
pub fn now() -> i64 {
    k8s_openapi::jiff::Timestamp::now().as_second()
}

/// Colon-separated upper-case hex.
pub fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// SHA-256 fingerprint of DER bytes, as openssl prints it.
pub fn fingerprint(der: &[u8]) -> String {
    colon_hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref())
}

/// Parses DER into an [`X509Certificate`], rejecting trailing bytes.
pub fn parse_der(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    match x509_parser::parse_x509_certificate(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err("trailing data after the certificate".into()),
        Err(e) => Err(format!("not a valid X.509 certificate ({e})")),
    }
}

fn key_usage_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(ku)) = cert.key_usage() else {
        return Vec::new();
    };
    let ku = ku.value;
    let all = [
        (ku.digital_signature(), "digitalSignature"),
        (ku.non_repudiation(), "nonRepudiation"),
        (ku.key_encipherment(), "keyEncipherment"),
        (ku.data_encipherment(), "dataEncipherment"),
        (ku.key_agreement(), "keyAgreement"),
        (ku.key_cert_sign(), "keyCertSign"),
        (ku.crl_sign(), "cRLSign"),
        (ku.encipher_only(), "encipherOnly"),
        (ku.decipher_only(), "decipherOnly"),
    ];
    all.iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| n.to_string())
        .collect()
}

fn ext_key_usage_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(eku)) = cert.extended_key_usage() else {
        return Vec::new();
    };
    let e = eku.value;
    let mut out: Vec<String> = [
        (e.any, "any"),
        (e.server_auth, "serverAuth"),
        (e.client_auth, "clientAuth"),
        (e.code_signing, "codeSigning"),
        (e.email_protection, "emailProtection"),
        (e.time_stamping, "timeStamping"),
        (e.ocsp_signing, "OCSPSigning"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, n)| n.to_string())
    .collect();
    out.extend(e.other.iter().map(|o| o.to_id_string()));
    out
}

fn public_key_desc(cert: &X509Certificate<'_>) -> (String, usize) {
    let spki = cert.public_key();
    let alg = spki.algorithm.algorithm.to_id_string();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => (format!("RSA {}", rsa.key_size()), rsa.key_size()),
        Ok(PublicKey::EC(ec)) => {
            let bits = ec.key_size();
            let curve = match bits {
                256 => "P-256".to_string(),
                384 => "P-384".to_string(),
                521 => "P-521".to_string(),
                n => format!("{n}-bit curve"),
            };
            (format!("ECDSA {curve}"), bits)
        }
        _ if alg == "1.3.101.112" => ("Ed25519".into(), 256),
        Ok(other) => (format!("{alg} {}", other.key_size()), other.key_size()),
        Err(_) => (alg, 0),
    }
}

fn ip_string(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(bytes).unwrap_or_default()).to_string(),
        16 => IpAddr::from(<[u8; 16]>::try_from(bytes).unwrap_or_default()).to_string(),
        _ => colon_hex(bytes),
    }
}

/// Describes a parsed certificate.
pub fn describe(cert: &X509Certificate<'_>, der: &[u8]) -> CertInfo {
    let mut info = CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string().to_uppercase(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        dns_names: Vec::new(),
        ip_addresses: Vec::new(),
        uris: Vec::new(),
        emails: Vec::new(),
        is_ca: cert.is_ca(),
        key_usage: key_usage_names(cert),
        ext_key_usage: ext_key_usage_names(cert),
        signature_algorithm: oid2sn(&cert.signature_algorithm.algorithm, oid_registry())
            .map(str::to_string)
            .unwrap_or_else(|_| cert.signature_algorithm.algorithm.to_id_string()),
        public_key: String::new(),
        public_key_bits: 0,
        sha256: fingerprint(der),
        subject_raw: cert.subject().as_raw().to_vec(),
        issuer_raw: cert.issuer().as_raw().to_vec(),
    };
    (info.public_key, info.public_key_bits) = public_key_desc(cert);
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => info.dns_names.push(d.to_string()),
                GeneralName::IPAddress(ip) => info.ip_addresses.push(ip_string(ip)),
                GeneralName::URI(u) => info.uris.push(u.to_string()),
                GeneralName::RFC822Name(e) => info.emails.push(e.to_string()),
                _ => {}
            }
        }
    }
    info
}

/// Parses and describes DER.
pub fn inspect(der: &[u8]) -> Result<CertInfo, String> {
    parse_der(der).map(|c| describe(&c, der))
}

impl CertInfo {
    /// Whole days until `notAfter` (negative once expired), rounded down.
    pub fn days_left(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(86_400)
    }

    /// True when the certificate is self-issued (subject == issuer).
    pub fn is_self_issued(&self) -> bool {
        self.subject_raw == self.issuer_raw
    }

    /// The subject's CN, if any.
    pub fn common_name(&self) -> Option<&str> {
        first_cn(&self.subject)
    }

    /// The issuer's CN, if any.
    pub fn issuer_common_name(&self) -> Option<&str> {
        first_cn(&self.issuer)
    }

    /// Lifetime in seconds.
    pub fn lifetime(&self) -> i64 {
        self.not_after - self.not_before
    }

    /// Every SAN, for display: DNS names, then IPs, URIs, emails.
    pub fn all_sans(&self) -> Vec<String> {
        let mut all = self.dns_names.clone();
        all.extend(self.ip_addresses.iter().cloned());
        all.extend(self.uris.iter().cloned());
        all.extend(self.emails.iter().cloned());
        all
    }
}

/// The first `CN=` attribute of an RFC 4514 DN string.
fn first_cn(dn: &str) -> Option<&str> {
    dn.split(", ").find_map(|part| part.strip_prefix("CN="))
}

/// True when `name` is covered by the SAN `pattern` (`*.example.com` covers one label).
pub fn dns_matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.to_ascii_lowercase(), name.to_ascii_lowercase());
    let (p, n) = (p.trim_end_matches('.'), n.trim_end_matches('.'));
    if p == n {
        return true;
    }
    match p.strip_prefix("*.") {
        Some(suffix) => n
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(dns_matches("*.svc.local", "a.svc.local"));
        assert!(!dns_matches("*.svc.local", "a.b.svc.local"));
        assert!(!dns_matches("*.svc.local", "svc.local"));
        assert!(dns_matches("API.example.com.", "api.example.com"));
    }

    #[test]
    fn garbage_der_is_an_error_not_a_panic() {
        assert!(inspect(b"\x30\x03\x02\x01").is_err());
        assert!(inspect(&[]).is_err());
    }

    #[test]
    fn fingerprint_is_openssl_style() {
        let fp = fingerprint(b"");
        assert!(fp.starts_with("E3:B0:C4:42"), "{fp}");
        assert_eq!(fp.len(), 32 * 3 - 1);
    }
}
