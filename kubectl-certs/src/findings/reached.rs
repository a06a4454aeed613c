//! Does a CA bundle verify what its consumer actually reaches? A webhook's, APIService's or
//! conversion webhook's `caBundle` is only right if the API server, connecting to the Service
//! (or URL) it names, is served a certificate that chains to the bundle and covers the name it
//! dials. The chain is read by the sources (a port-forward or a direct handshake); judging it
//! is here, so that every command grades it the same way.

use super::{Analysis, Finding, Severity, Thresholds};
use crate::chain::{self, Cert, Verdict};
use crate::inspect;

/// What the consumer of a CA bundle reaches, as read by a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reached {
    /// The chain served there (DER, leaf first) and the name the API server verifies.
    Served {
        /// Where, e.g. `service webhooks/policy:443`.
        endpoint: String,
        /// The name the API server checks the certificate against (`NAME.NAMESPACE.svc`, or
        /// the URL's host).
        server_name: String,
        /// The served chain, DER, leaf first.
        chain: Vec<Vec<u8>>,
    },
    /// There is nothing to connect to (the Service has no ready endpoint): the API server's
    /// calls fail whatever the bundle holds.
    Unreachable {
        /// Where.
        endpoint: String,
        /// Why.
        reason: String,
        /// How bad: critical when calls then fail (`failurePolicy: Fail`, an APIService, a
        /// conversion), a warning when they are ignored (`failurePolicy: Ignore`).
        severity: Severity,
    },
    /// The check could not be made (forbidden, the handshake failed): unknown.
    NotChecked {
        /// Where.
        endpoint: String,
        /// Why.
        reason: String,
    },
}

/// Adds the findings of comparing `bundle` (the CA certificates of the caBundle) with what
/// the consumer reaches.
pub fn grade(
    a: &mut Analysis,
    bundle: &[Cert],
    reached: &Reached,
    thresholds: Thresholds,
    now: i64,
) {
    let f = &mut a.findings;
    let (endpoint, server_name, chain) = match reached {
        Reached::Served {
            endpoint,
            server_name,
            chain,
        } => (endpoint, server_name, chain),
        Reached::Unreachable {
            endpoint,
            reason,
            severity,
        } => {
            f.push(Finding {
                severity: *severity,
                check: "served",
                message: format!("{endpoint}: {reason}; the served certificate cannot be checked and the API server's calls fail"),
                hint: Some("start the server behind the Service (`kubectl get endpoints`), or remove the stale configuration".into()),
            });
            return;
        }
        Reached::NotChecked { endpoint, reason } => {
            f.push(Finding {
                severity: Severity::Unknown,
                check: "served",
                message: format!("cannot read the certificate served at {endpoint}: {reason}"),
                hint: Some("the serving check needs get on services and endpoints, list on pods and create on pods/portforward (`kubectl certs rbac --cluster-role`)".into()),
            });
            return;
        }
    };
    let mut served = Vec::new();
    for der in chain {
        match inspect::inspect(der) {
            Ok(info) => served.push(Cert {
                info,
                der: der.clone(),
            }),
            Err(e) => {
                f.push(Finding {
                    severity: Severity::Critical,
                    check: "served",
                    message: format!("{endpoint} serves an unreadable certificate: {e}"),
                    hint: None,
                });
                return;
            }
        }
    }
    let Some(leaf) = served.first() else {
        f.push(Finding {
            severity: Severity::Critical,
            check: "served",
            message: format!("{endpoint} presented no certificate"),
            hint: None,
        });
        return;
    };
    match chain::verify(&served, bundle, now) {
        Verdict::Trusted(path) => f.push(Finding {
            severity: Severity::Ok,
            check: "served",
            message: format!(
                "the caBundle verifies the certificate served at {endpoint}: {}",
                path.join(" <- ")
            ),
            hint: None,
        }),
        // An empty bundle already has its own finding.
        Verdict::NoAnchors => {}
        Verdict::Untrusted(why) => f.push(Finding {
            severity: Severity::Critical,
            check: "served",
            message: format!(
                "the caBundle does not verify the certificate served at {endpoint} ({}): {}",
                leaf.info.subject,
                why.replace("in tls.crt or the trusted CAs", "in the served chain or the caBundle")
            ),
            hint: Some("the API server rejects the TLS handshake: put the CA that signed the serving certificate into caBundle (e.g. cert-manager's cainjector), or re-issue the serving certificate from the bundle's CA".into()),
        }),
    }
    if !super::covers(&leaf.info, server_name) {
        f.push(Finding {
            severity: Severity::Critical,
            check: "served",
            message: format!(
                "the certificate served at {endpoint} does not cover {server_name:?}, the name the API server verifies (SANs: {})",
                leaf.info.all_sans().join(", ")
            ),
            hint: Some(format!("re-issue the serving certificate with the DNS name {server_name}")),
        });
    }
    let left = leaf.info.not_after - now;
    let days_left = leaf.info.days_left(now);
    let (severity, message) = if left <= 0 {
        (
            Severity::Critical,
            format!(
                "the certificate served at {endpoint} expired on {}",
                inspect::rfc3339(leaf.info.not_after)
            ),
        )
    } else if left < thresholds.crit.as_secs() as i64 {
        (
            Severity::Critical,
            format!("the certificate served at {endpoint} expires in {days_left} days"),
        )
    } else if left < thresholds.warn.as_secs() as i64 {
        (
            Severity::Warning,
            format!("the certificate served at {endpoint} expires in {days_left} days"),
        )
    } else {
        return;
    };
    f.push(Finding {
        severity,
        check: "served-expiry",
        message,
        hint: Some("renew the serving certificate and restart the server".into()),
    });
}
