//! Judging a TLS Secret's contents: every check yields a [`Finding`] with a severity and,
//! when something is wrong, a hint saying what to do. The worst severity decides the exit
//! code of `check` and `validate` ([`Severity::exit_code`]).

use std::time::Duration;

use serde::Serialize;

use crate::chain::{self, Cert, Verdict};
use crate::inspect::{self, CertInfo};
use crate::keys;
use crate::pem;

/// How bad a finding is. Ordered: `Ok < Info < Warning < Critical < Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Checked and fine.
    Ok,
    /// Worth knowing, no action needed.
    Info,
    /// Needs attention soon.
    Warning,
    /// Broken or about to break.
    Critical,
    /// Could not be checked (e.g. the Secret could not be read).
    Unknown,
}

/// Exit code of `check`/`validate` when everything is ok.
pub const EXIT_OK: u8 = 0;
/// Exit code when the worst finding is a warning.
pub const EXIT_WARNING: u8 = 3;
/// Exit code when the worst finding is critical.
pub const EXIT_CRITICAL: u8 = 4;
/// Exit code when something could not be checked.
pub const EXIT_UNKNOWN: u8 = 5;

impl Severity {
    /// The graded exit code: 0 ok/info, 3 warning, 4 critical, 5 unknown.
    pub fn exit_code(self) -> u8 {
        match self {
            Severity::Ok | Severity::Info => EXIT_OK,
            Severity::Warning => EXIT_WARNING,
            Severity::Critical => EXIT_CRITICAL,
            Severity::Unknown => EXIT_UNKNOWN,
        }
    }

    /// Upper-case label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Ok => "OK",
            Severity::Info => "INFO",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
            Severity::Unknown => "UNKNOWN",
        }
    }

    /// Colour tone for the label.
    pub fn tone(self) -> shared::color::Tone {
        use shared::color::Tone;
        match self {
            Severity::Ok => Tone::Good,
            Severity::Info => Tone::Dim,
            Severity::Warning => Tone::Warn,
            Severity::Critical | Severity::Unknown => Tone::Bad,
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// Stable identifier of the check, e.g. `key-mismatch`.
    pub check: &'static str,
    /// What was found.
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Finding {
    fn new(
        severity: Severity,
        check: &'static str,
        message: impl Into<String>,
        hint: Option<&str>,
    ) -> Self {
        Finding {
            severity,
            check,
            message: message.into(),
            hint: hint.map(str::to_string),
        }
    }
}

/// What kind of certificate material is judged: it decides which checks apply, so that every
/// source is graded by the one [`analyze`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A TLS serving certificate with its key (a `kubernetes.io/tls` Secret): every check.
    #[default]
    Serving,
    /// A CA bundle (a webhook's or APIService's `caBundle`): each certificate's validity and
    /// key strength; no key, no chain, no names.
    CaBundle,
    /// A server certificate whose key is not at hand (the chain the API server serves, a PEM in
    /// an Opaque Secret without a key): every check but the key.
    Certificate,
    /// A client certificate with its key (the kubeconfig user's): key match and `clientAuth`,
    /// no names.
    Client,
}

/// The raw material of a TLS Secret (or of another source, named by the labels).
#[derive(Debug, Clone, Default)]
pub struct Material<'a> {
    /// `tls.crt`.
    pub tls_crt: Option<&'a [u8]>,
    /// `tls.key` (only ever compared, never printed).
    pub tls_key: Option<&'a [u8]>,
    /// `ca.crt`.
    pub ca_crt: Option<&'a [u8]>,
    /// What the material is (a TLS Secret's by default).
    pub role: Role,
    /// The certificate's name in messages (default `tls.crt`).
    pub crt_label: Option<&'a str>,
    /// The key's name in messages (default `tls.key`).
    pub key_label: Option<&'a str>,
    /// How to renew it, for the expiry hints (default: `kubectl certs rotate NAME`).
    pub renew_hint: Option<&'a str>,
    /// An empty CA bundle is fine: its consumer is a URL the API server verifies with its
    /// system roots (a public CA), not an in-cluster Service.
    pub system_roots: bool,
}

/// What the cert-manager Certificate (if any) expects.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    /// `spec.dnsNames`.
    pub dns_names: Vec<String>,
    /// `spec.ipAddresses`.
    pub ip_addresses: Vec<String>,
    /// `spec.renewBefore`, as written.
    pub renew_before: Option<String>,
    /// The value of a `cert-manager.io/renew-before` annotation on the Certificate.
    pub renew_before_annotation: Option<String>,
    /// Names clients use to reach the certificate's server (an Ingress's `spec.tls[].hosts`,
    /// the kubeconfig's server host): each must be covered by a SAN.
    pub hosts: Vec<String>,
    /// Where [`Expectations::hosts`] come from, for messages (e.g. `Ingress shop/web`).
    pub hosts_from: String,
}

/// Expiry thresholds.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Warn when fewer than this remain.
    pub warn: Duration,
    /// Critical when fewer than this remain.
    pub crit: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warn: Duration::from_secs(30 * 86_400),
            crit: Duration::from_secs(7 * 86_400),
        }
    }
}

/// The result of analysing one Secret.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// The leaf, if one could be parsed.
    pub leaf: Option<CertInfo>,
    /// Every certificate of `tls.crt`, leaf first.
    pub chain: Vec<Cert>,
    /// Findings, in check order.
    pub findings: Vec<Finding>,
}

impl Analysis {
    /// The worst severity (Ok when there are no findings).
    pub fn worst(&self) -> Severity {
        self.findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Ok)
    }
}

/// Parses the certificates of a PEM blob; returns them and the problems found.
pub fn parse_certs(bytes: &[u8]) -> (Vec<Cert>, Vec<String>) {
    let parsed = pem::parse(bytes);
    let mut problems = parsed.problems.clone();
    let mut certs = Vec::new();
    for (i, block) in parsed.blocks.iter().enumerate() {
        if block.is_private_key() {
            problems.push(format!(
                "PEM block {} is a {} (a private key does not belong here)",
                i + 1,
                block.label
            ));
            continue;
        }
        if !block.is_certificate() {
            problems.push(format!(
                "PEM block {} is a {:?}, not a CERTIFICATE",
                i + 1,
                block.label
            ));
            continue;
        }
        match inspect::inspect(&block.der) {
            Ok(info) => certs.push(Cert {
                info,
                der: block.der.clone(),
            }),
            Err(e) => problems.push(format!("PEM block {}: {e}", i + 1)),
        }
    }
    (certs, problems)
}

/// Parses a Go duration as cert-manager writes them (`720h`, `1h30m`, `90s`).
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = text.trim().chars().peekable();
    if text.trim().is_empty() {
        return None;
    }
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if (c == 'm' || c == 'u' || c == 'µ' || c == 'n') && chars.peek() == Some(&'s') {
            unit.push('s');
            chars.next();
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            "ns" => 0.000_000_001,
            _ => return None,
        };
    }
    if !num.is_empty() {
        return None;
    }
    Some(Duration::from_secs_f64(total))
}

fn days(d: Duration) -> i64 {
    (d.as_secs() / 86_400) as i64
}

/// Is `host` (a DNS name, possibly a wildcard, or an IP address) covered by the certificate's SANs?
pub fn covers(info: &CertInfo, host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Result::Ok(ip) => info
            .ip_addresses
            .iter()
            .any(|i| i.parse::<std::net::IpAddr>().is_ok_and(|x| x == ip)),
        Err(_) => info.dns_names.iter().any(|p| inspect::dns_matches(p, host)),
    }
}

/// Analyses a Secret's material. `extra_anchors` come from `--ca-file`; `now` is unix seconds.
pub fn analyze(
    material: &Material<'_>,
    expect: &Expectations,
    extra_anchors: &[Cert],
    thresholds: Thresholds,
    now: i64,
) -> Analysis {
    use Severity::*;
    let mut a = Analysis::default();
    let f = &mut a.findings;
    let role = material.role;
    let crt_label = material.crt_label.unwrap_or("tls.crt");
    let key_label = material.key_label.unwrap_or("tls.key");
    let Some(tls_crt) = material.tls_crt.filter(|b| !b.is_empty()) else {
        match role {
            Role::Serving => f.push(Finding::new(Critical, "tls-crt", format!("the Secret has no {crt_label}"), Some("a kubernetes.io/tls Secret needs tls.crt and tls.key; re-issue it with `kubectl certs rotate`"))),
            Role::CaBundle if material.system_roots => f.push(Finding::new(Info, "ca-bundle", format!("{crt_label} is empty: the API server verifies this URL with its system roots (not checked here)"), None)),
            Role::CaBundle => f.push(Finding::new(Warning, "ca-bundle", format!("{crt_label} is empty: the API server verifies this server with its own system roots only"), Some("inject the CA that signed the serving certificate (e.g. cert-manager's cainjector annotation)"))),
            Role::Certificate | Role::Client => f.push(Finding::new(Critical, "tls-crt", format!("{crt_label} holds no certificate"), None)),
        }
        return a;
    };
    let (chain, problems) = parse_certs(tls_crt);
    for p in &problems {
        let hint = if role == Role::CaBundle {
            "a caBundle must hold PEM CERTIFICATE blocks only"
        } else {
            "the certificate must be PEM CERTIFICATE blocks only: the leaf first, then its intermediates"
        };
        f.push(Finding::new(
            Critical,
            "pem",
            format!("{crt_label}: {p}"),
            Some(hint),
        ));
    }
    // A bundle is judged by the certificate that expires first; anything else by its leaf.
    let first = if role == Role::CaBundle {
        chain.iter().min_by_key(|c| c.info.not_after).cloned()
    } else {
        chain.first().cloned()
    };
    let Some(leaf) = first else {
        f.push(Finding::new(
            Critical,
            "x509",
            format!("{crt_label} holds no readable certificate"),
            Some("restore a backup (`kubectl certs restore`) or re-issue (`kubectl certs rotate`)"),
        ));
        return a;
    };
    a.leaf = Some(leaf.info.clone());
    let info = &leaf.info;
    let what = if role == Role::CaBundle {
        format!("the CA {} in {crt_label} ", info.subject)
    } else {
        String::new()
    };
    let (rotate_now, plan) = match material.renew_hint {
        Some(h) => (h, h),
        None => (
            "rotate now: `kubectl certs rotate NAME`",
            "plan a rotation: `kubectl certs rotate NAME --dry-run`",
        ),
    };

    // Validity window.
    let left = info.not_after - now;
    let days_left = info.days_left(now);
    if info.not_before > now {
        f.push(Finding::new(
            Critical,
            "not-yet-valid",
            format!(
                "{what}not valid before {} (clock skew or a back-dated issuer?)",
                inspect::rfc3339(info.not_before)
            ),
            Some("check the issuer's clock; clients reject it until then"),
        ));
    }
    if left <= 0 {
        f.push(Finding::new(
            Critical,
            "expiry",
            format!(
                "{what}expired on {} ({} days ago)",
                inspect::rfc3339(info.not_after),
                -days_left
            ),
            Some(rotate_now),
        ));
    } else if left < thresholds.crit.as_secs() as i64 {
        f.push(Finding::new(
            Critical,
            "expiry",
            format!(
                "{what}expires in {days_left} days ({}), under the critical threshold of {} days",
                inspect::rfc3339(info.not_after),
                days(thresholds.crit)
            ),
            Some(rotate_now),
        ));
    } else if left < thresholds.warn.as_secs() as i64 {
        f.push(Finding::new(
            Warning,
            "expiry",
            format!(
                "{what}expires in {days_left} days ({}), under the warning threshold of {} days",
                inspect::rfc3339(info.not_after),
                days(thresholds.warn)
            ),
            Some(plan),
        ));
    } else {
        f.push(Finding::new(
            Ok,
            "expiry",
            format!(
                "{what}valid until {} ({days_left} days left)",
                inspect::rfc3339(info.not_after)
            ),
            None,
        ));
    }

    if role == Role::CaBundle {
        for ca in &chain {
            if ca.info.public_key.starts_with("RSA ") && ca.info.public_key_bits < 2048 {
                f.push(Finding::new(
                    Critical,
                    "key-strength",
                    format!(
                        "{} key of the CA {} is too weak",
                        ca.info.public_key, ca.info.subject
                    ),
                    Some("re-issue the CA with RSA 2048+ or ECDSA P-256"),
                ));
            }
        }
        a.chain = chain;
        return a;
    }

    // Private key.
    match material.tls_key.filter(|b| !b.is_empty()) {
        None if role == Role::Certificate => {}
        None => f.push(Finding::new(
            Critical,
            "tls-key",
            format!("there is no {key_label}"),
            Some("a certificate without its key cannot be used; restore a backup or re-issue"),
        )),
        Some(key) => {
            let parsed = pem::parse(key);
            let keys: Vec<_> = parsed
                .blocks
                .iter()
                .filter(|b| b.is_private_key())
                .collect();
            match keys.as_slice() {
                [] => f.push(Finding::new(
                    Critical,
                    "tls-key",
                    format!("{key_label} holds no PEM private key"),
                    Some("the key must be one PEM PRIVATE KEY block"),
                )),
                [key, rest @ ..] => {
                    if !rest.is_empty() {
                        f.push(Finding::new(
                            Warning,
                            "tls-key",
                            format!(
                                "{key_label} holds {} private keys; only the first is used",
                                keys.len()
                            ),
                            None,
                        ));
                    }
                    match keys::key_matches(key, &leaf.der) {
                        Result::Ok(true) => f.push(Finding::new(Ok, "key-match", format!("{key_label} matches the leaf certificate"), None)),
                        Result::Ok(false) => f.push(Finding::new(Critical, "key-match", format!("{key_label} does not match the leaf certificate's public key"), Some("the key and certificate come from different issuances; restore the matching pair from a backup or re-issue"))),
                        Err(e) => f.push(Finding::new(Critical, "tls-key", format!("{key_label}: {e}"), Some("the key must be an unencrypted PKCS#1, PKCS#8 or SEC1 key"))),
                    }
                }
            }
        }
    }

    // Chain order and verification.
    for p in chain::order_problems(&chain) {
        f.push(Finding::new(Warning, "chain-order", p, Some("put the leaf first, then each issuer in turn; some clients reject out-of-order chains")));
    }
    if chain.len() > 1 && chain.last().is_some_and(|c| c.info.is_self_issued()) {
        f.push(Finding::new(
            Info,
            "chain-root",
            "tls.crt includes the self-signed root; it belongs in ca.crt only",
            None,
        ));
    }
    let mut anchors: Vec<Cert> = extra_anchors.to_vec();
    if let Some(ca) = material.ca_crt.filter(|b| !b.is_empty()) {
        let (ca_certs, ca_problems) = parse_certs(ca);
        for p in ca_problems {
            f.push(Finding::new(
                Critical,
                "chain",
                format!("ca.crt: {p}"),
                Some("ca.crt must hold the issuing CA as PEM"),
            ));
        }
        for ca in &ca_certs {
            if ca.info.not_after < now {
                f.push(Finding::new(
                    Critical,
                    "ca-expired",
                    format!(
                        "the CA in ca.crt ({}) expired on {}",
                        ca.info.subject,
                        inspect::rfc3339(ca.info.not_after)
                    ),
                    Some("rotate the CA first, then re-issue the certificates it signed"),
                ));
            }
        }
        anchors.extend(ca_certs);
    }
    match (chain::verify(&chain, &anchors, now), role) {
        (Verdict::Trusted(path), _) => f.push(Finding::new(Ok, "chain", format!("chain verifies: {}", path.join(" <- ")), None)),
        // The API server's client CA (--client-ca-file) is not in the kubeconfig: the
        // kubeconfig's certificate-authority is the server's, which may be another CA.
        (Verdict::NoAnchors, Role::Client) => f.push(Finding::new(Info, "chain-anchor", "the kubeconfig has no certificate-authority to verify the client certificate against", None)),
        (Verdict::Untrusted(why), Role::Client) => f.push(Finding::new(Info, "chain-anchor", format!("the client certificate does not chain to the kubeconfig's certificate-authority (the API server's client CA may be another one): {why}"), None)),
        (Verdict::NoAnchors, _) => f.push(Finding::new(Warning, "chain-anchor", "no ca.crt and no --ca-file: the chain cannot be verified", Some("pass the issuing CA with --ca-file FILE"))),
        (Verdict::Untrusted(why), _) => f.push(Finding::new(Critical, "chain", format!("chain does not verify: {why}"), Some("the certificate was not issued by the CA in ca.crt (or --ca-file); re-issue it from the right issuer"))),
    }

    // A client certificate: the API server needs clientAuth; its names are its identity.
    if role == Role::Client
        && !info.ext_key_usage.is_empty()
        && !info
            .ext_key_usage
            .iter()
            .any(|e| e == "clientAuth" || e == "any")
    {
        f.push(Finding::new(
            Critical,
            "usage",
            format!(
                "extended key usage is {} without clientAuth: the API server rejects it",
                info.ext_key_usage.join(", ")
            ),
            Some("issue the client certificate with the `client auth` usage"),
        ));
    }

    // Names.
    if !info.is_ca && role != Role::Client {
        if info.all_sans().is_empty() {
            f.push(Finding::new(
                Warning,
                "san",
                "the certificate has no subjectAltName; clients ignore the CN",
                Some("issue it with dnsNames"),
            ));
        }
        for name in &expect.dns_names {
            if !info.dns_names.iter().any(|p| inspect::dns_matches(p, name)) {
                f.push(Finding::new(Critical, "san", format!("DNS name {name:?} from the Certificate's spec.dnsNames is not in the certificate"), Some("the Secret is stale or was replaced by hand; re-issue with `kubectl certs rotate`")));
            }
        }
        for ip in &expect.ip_addresses {
            if !info.ip_addresses.contains(ip) {
                f.push(Finding::new(
                    Critical,
                    "san",
                    format!("IP address {ip} from spec.ipAddresses is not in the certificate"),
                    Some("re-issue with `kubectl certs rotate`"),
                ));
            }
        }
        for host in &expect.hosts {
            if !covers(info, host) {
                f.push(Finding::new(
                    Critical,
                    "san",
                    format!(
                        "{} host {host:?} is not covered by the certificate's SANs ({})",
                        expect.hosts_from,
                        info.all_sans().join(", ")
                    ),
                    Some("clients reaching that host reject the certificate: add the host to the certificate's names and re-issue, or fix the host"),
                ));
            }
        }
        // Usages.
        if !info.ext_key_usage.is_empty()
            && !info
                .ext_key_usage
                .iter()
                .any(|e| e == "serverAuth" || e == "any")
        {
            f.push(Finding::new(
                Warning,
                "usage",
                format!(
                    "extended key usage is {} without serverAuth: TLS servers cannot use it",
                    info.ext_key_usage.join(", ")
                ),
                Some("add `server auth` to the Certificate's spec.usages"),
            ));
        }
        if !info.key_usage.is_empty() && !info.key_usage.iter().any(|k| k == "digitalSignature") {
            f.push(Finding::new(
                Warning,
                "usage",
                format!(
                    "key usage is {} without digitalSignature: TLS 1.3 needs it",
                    info.key_usage.join(", ")
                ),
                Some("add `digital signature` to spec.usages"),
            ));
        }
    }

    // Algorithms.
    let sig = info.signature_algorithm.to_ascii_lowercase();
    if sig.contains("md5") || sig.contains("sha1") {
        f.push(Finding::new(
            Critical,
            "signature",
            format!("signature algorithm {} is broken", info.signature_algorithm),
            Some("re-issue with SHA-256 or better"),
        ));
    }
    if info.public_key.starts_with("RSA ") && info.public_key_bits < 2048 {
        f.push(Finding::new(
            Critical,
            "key-strength",
            format!("{} key is too weak", info.public_key),
            Some("use RSA 2048+ or ECDSA P-256 (spec.privateKey)"),
        ));
    }

    // cert-manager renewal settings.
    if let Some(value) = &expect.renew_before_annotation {
        f.push(Finding::new(Warning, "renew-before-annotation", format!("the Certificate carries the annotation cert-manager.io/renew-before={value:?}, which does nothing on a Certificate (only ingress-shim reads it on Ingress/Gateway)"), Some("set spec.renewBefore on the Certificate (or spec.renewBeforePercentage) and remove the annotation")));
    }
    if let Some(rb) = &expect.renew_before {
        match parse_go_duration(rb) {
            None => f.push(Finding::new(Warning, "renew-before", format!("spec.renewBefore {rb:?} is not a Go duration"), Some("use e.g. 360h"))),
            Some(d) if d.as_secs() as i64 >= info.lifetime() => f.push(Finding::new(Critical, "renew-before", format!("spec.renewBefore {rb} is not shorter than the issued lifetime ({} days): cert-manager would re-issue in a loop", info.lifetime() / 86_400), Some("lower spec.renewBefore well below the lifetime the issuer actually grants (Vault caps TTLs at the role's max_ttl)"))),
            Some(d) if d < Duration::from_secs(300) => f.push(Finding::new(Warning, "renew-before", format!("spec.renewBefore {rb} is below cert-manager's minimum of 5m"), Some("use at least 5m"))),
            Some(_) => f.push(Finding::new(Ok, "renew-before", format!("spec.renewBefore {rb} is below the issued lifetime"), None)),
        }
    }
    a.chain = chain;
    a
}

pub mod reached;

#[cfg(test)]
mod scenarios;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(
            parse_go_duration("720h"),
            Some(Duration::from_secs(720 * 3600))
        );
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("30d"), None);
        assert_eq!(parse_go_duration("12"), None);
    }

    #[test]
    fn severities_order_and_exit_codes() {
        assert!(Severity::Critical > Severity::Warning);
        assert_eq!(Severity::Info.exit_code(), 0);
        assert_eq!(Severity::Warning.exit_code(), 3);
        assert_eq!(Severity::Critical.exit_code(), 4);
        assert_eq!(Severity::Unknown.exit_code(), 5);
    }

    #[test]
    fn missing_tls_crt_is_critical() {
        let a = analyze(
            &Material::default(),
            &Expectations::default(),
            &[],
            Thresholds::default(),
            0,
        );
        assert_eq!(a.worst(), Severity::Critical);
        assert_eq!(a.findings[0].check, "tls-crt");
    }
}
