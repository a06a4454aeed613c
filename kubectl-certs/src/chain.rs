//! Chain checks: is `tls.crt` in order (leaf first, each certificate followed by its issuer),
//! and does the leaf chain up, by signature, to a trust anchor from `ca.crt` (or `--ca-file`)?
//!
//! Signatures are verified with x509-parser's `verify` feature (ring): each link's signature is
//! checked against the public key of the certificate whose subject matches its issuer. Only
//! `ca.crt`/`--ca-file` certificates are anchors; certificates shipped in `tls.crt` are never
//! trusted by themselves (the mistake `cmctl inspect secret` makes). We do this ourselves
//! rather than with webpki because we want to name *which* link fails and why (order, expired
//! CA, wrong CA, not a CA), and webpki only answers yes/no for a server name.

use crate::inspect::{CertInfo, parse_der};

/// A certificate as both facts and DER.
#[derive(Debug, Clone)]
pub struct Cert {
    /// Facts.
    pub info: CertInfo,
    /// DER.
    pub der: Vec<u8>,
}

/// The outcome of path building.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The leaf chains to an anchor; the path's subjects, leaf first.
    Trusted(Vec<String>),
    /// No anchors to verify against.
    NoAnchors,
    /// The chain does not verify; why.
    Untrusted(String),
}

/// Problems with the order of `tls.crt` (leaf first, then each issuer).
pub fn order_problems(chain: &[Cert]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, pair) in chain.windows(2).enumerate() {
        if pair[0].info.issuer_raw != pair[1].info.subject_raw {
            out.push(format!(
                "certificate {} ({}) is not followed by its issuer: certificate {} is {}",
                i + 1,
                pair[0].info.subject,
                i + 2,
                pair[1].info.subject
            ));
        }
    }
    out
}

fn signed_by(child: &Cert, parent: &Cert) -> Result<(), String> {
    let c = parse_der(&child.der)?;
    let p = parse_der(&parent.der)?;
    c.verify_signature(Some(p.public_key()))
        .map_err(|e| format!("{e}"))
}

/// Builds a path from `chain[0]` (the leaf) through `chain[1..]` to one of `anchors`.
/// `now` checks that each issuer on the path is a CA and currently valid.
pub fn verify(chain: &[Cert], anchors: &[Cert], now: i64) -> Verdict {
    let Some(leaf) = chain.first() else {
        return Verdict::Untrusted("no certificate".into());
    };
    if anchors.is_empty() {
        return Verdict::NoAnchors;
    }
    let mut path = vec![leaf.info.subject.clone()];
    let mut current = leaf;
    for _ in 0..10 {
        // An anchor identical to the current certificate ends the path (a CA Secret's own cert).
        if anchors.iter().any(|a| a.der == current.der) {
            return Verdict::Trusted(path);
        }
        let mut last_err = None;
        // Anchors first: a matching anchor ends the path.
        for anchor in anchors
            .iter()
            .filter(|a| a.info.subject_raw == current.info.issuer_raw)
        {
            match signed_by(current, anchor) {
                Ok(()) => {
                    if !anchor.info.is_ca {
                        return Verdict::Untrusted(format!(
                            "issuer {} is not a CA (basicConstraints)",
                            anchor.info.subject
                        ));
                    }
                    if anchor.info.not_after < now {
                        return Verdict::Untrusted(format!(
                            "the CA {} expired on {}",
                            anchor.info.subject,
                            crate::inspect::rfc3339(anchor.info.not_after)
                        ));
                    }
                    path.push(anchor.info.subject.clone());
                    return Verdict::Trusted(path);
                }
                Err(e) => {
                    last_err = Some(format!(
                        "signature by {} does not verify ({e})",
                        anchor.info.subject
                    ))
                }
            }
        }
        let next = chain[1..]
            .iter()
            .filter(|c| c.der != current.der && c.info.subject_raw == current.info.issuer_raw)
            .find(|c| signed_by(current, c).is_ok());
        match next {
            Some(inter) => {
                if !inter.info.is_ca {
                    return Verdict::Untrusted(format!(
                        "intermediate {} is not a CA",
                        inter.info.subject
                    ));
                }
                if inter.info.not_after < now {
                    return Verdict::Untrusted(format!(
                        "intermediate {} expired on {}",
                        inter.info.subject,
                        crate::inspect::rfc3339(inter.info.not_after)
                    ));
                }
                path.push(inter.info.subject.clone());
                current = inter;
            }
            None => {
                return Verdict::Untrusted(last_err.unwrap_or_else(|| {
                    format!(
                        "issuer {} of {} is not in tls.crt or the trusted CAs",
                        current.info.issuer, current.info.subject
                    )
                }));
            }
        }
    }
    Verdict::Untrusted("chain longer than 10 certificates".into())
}
