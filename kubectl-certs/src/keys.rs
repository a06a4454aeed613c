//! Does a private key belong to a certificate? The key's public half is derived (RSA from the
//! key's own modulus/exponent, ECDSA and Ed25519 through `ring`) and compared with the
//! certificate's SubjectPublicKeyInfo. Key bytes never appear in messages.

use ring::signature::KeyPair as _;
use x509_parser::der_parser::ber::BerObject;
use x509_parser::der_parser::parse_der;
use x509_parser::public_key::PublicKey;

use crate::pem::Block;

/// The public half of a key, in a comparable form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicHalf {
    /// RSA modulus and exponent, leading zeros stripped.
    Rsa {
        /// n.
        modulus: Vec<u8>,
        /// e.
        exponent: Vec<u8>,
    },
    /// The raw public key bytes (EC point, Ed25519 key).
    Raw(Vec<u8>),
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_ED25519: &str = "1.3.101.112";

fn strip(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[first..].to_vec()
}

fn der_parse(der: &[u8]) -> Result<BerObject<'_>, String> {
    match parse_der(der) {
        Ok((_, obj)) => Ok(obj),
        Err(_) => Err("not valid DER".into()),
    }
}

/// RSAPrivateKey ::= SEQUENCE { version, modulus, publicExponent, ... }
fn rsa_private(der: &[u8]) -> Result<PublicHalf, String> {
    let obj = der_parse(der)?;
    let seq = obj
        .as_sequence()
        .map_err(|_| "RSA key is not a SEQUENCE".to_string())?;
    let int = |i: usize| seq.get(i).and_then(|o| o.as_slice().ok()).map(strip);
    match (int(1), int(2)) {
        (Some(modulus), Some(exponent)) if seq.len() >= 9 => {
            Ok(PublicHalf::Rsa { modulus, exponent })
        }
        _ => Err("malformed RSA private key".into()),
    }
}

fn der_len(len: usize) -> Vec<u8> {
    match len {
        0..128 => vec![len as u8],
        128..256 => vec![0x81, len as u8],
        _ => vec![0x82, (len >> 8) as u8, len as u8],
    }
}

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(body.len()));
    out.extend_from_slice(body);
    out
}

/// Wraps a SEC1 ECPrivateKey into PKCS#8 for `curve_oid` (the OID's DER, tag included).
fn sec1_to_pkcs8(sec1: &[u8], curve_oid: &[u8]) -> Vec<u8> {
    let mut alg = tlv(0x06, &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]);
    alg.extend_from_slice(curve_oid);
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend(tlv(0x30, &alg));
    body.extend(tlv(0x04, sec1));
    tlv(0x30, &body)
}

const P256: &[u8] = &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22];

fn ring_pkcs8(pkcs8: &[u8]) -> Result<PublicHalf, String> {
    use ring::signature::{
        ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair,
        Ed25519KeyPair,
    };
    let rng = ring::rand::SystemRandom::new();
    if let Ok(kp) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8) {
        return Ok(PublicHalf::Raw(kp.public_key().as_ref().to_vec()));
    }
    for alg in [
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &ECDSA_P384_SHA384_ASN1_SIGNING,
    ] {
        if let Ok(kp) = EcdsaKeyPair::from_pkcs8(alg, pkcs8, &rng) {
            return Ok(PublicHalf::Raw(kp.public_key().as_ref().to_vec()));
        }
    }
    Err("unsupported or inconsistent EC/Ed25519 key (supported: P-256, P-384, Ed25519)".into())
}

/// PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, privateKey OCTET STRING, ... }
fn pkcs8(der: &[u8]) -> Result<PublicHalf, String> {
    let obj = der_parse(der)?;
    let seq = obj
        .as_sequence()
        .map_err(|_| "PKCS#8 key is not a SEQUENCE".to_string())?;
    let oid = seq
        .get(1)
        .and_then(|a| a.as_sequence().ok())
        .and_then(|a| a.first())
        .and_then(|o| o.as_oid().ok())
        .map(|o| o.to_id_string())
        .ok_or("malformed PKCS#8 key")?;
    match oid.as_str() {
        OID_RSA => {
            let inner = seq
                .get(2)
                .and_then(|o| o.as_slice().ok())
                .ok_or("malformed PKCS#8 RSA key")?;
            rsa_private(inner)
        }
        OID_EC | OID_ED25519 => ring_pkcs8(der),
        other => Err(format!("unsupported private key algorithm {other}")),
    }
}

/// The public half of a private key PEM block.
pub fn public_half_of_key(block: &Block) -> Result<PublicHalf, String> {
    match block.label.as_str() {
        "RSA PRIVATE KEY" => rsa_private(&block.der),
        "PRIVATE KEY" => pkcs8(&block.der),
        "EC PRIVATE KEY" => {
            for curve in [P256, P384] {
                if let Ok(half) = ring_pkcs8(&sec1_to_pkcs8(&block.der, curve)) {
                    return Ok(half);
                }
            }
            Err("unsupported or malformed EC private key (supported: P-256, P-384)".into())
        }
        "ENCRYPTED PRIVATE KEY" => Err(
            "the private key is encrypted; Kubernetes TLS Secrets need an unencrypted key".into(),
        ),
        other => Err(format!("{other:?} is not a private key")),
    }
}

/// The public half of a certificate's key (DER certificate in).
pub fn public_half_of_cert(cert_der: &[u8]) -> Result<PublicHalf, String> {
    let cert = crate::inspect::parse_der(cert_der)?;
    let spki = cert.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => Ok(PublicHalf::Rsa {
            modulus: strip(rsa.modulus),
            exponent: strip(rsa.exponent),
        }),
        _ => Ok(PublicHalf::Raw(spki.subject_public_key.data.to_vec())),
    }
}

/// Whether the key matches the certificate: `Ok(true)` match, `Ok(false)` mismatch, `Err` when
/// the key cannot be read.
pub fn key_matches(key: &Block, cert_der: &[u8]) -> Result<bool, String> {
    Ok(public_half_of_key(key)? == public_half_of_cert(cert_der)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(label: &str, der: Vec<u8>) -> Block {
        Block {
            label: label.into(),
            der,
        }
    }

    fn cert_for(kp: &rcgen::KeyPair) -> Vec<u8> {
        rcgen::CertificateParams::new(vec!["a.example".into()])
            .unwrap()
            .self_signed(kp)
            .unwrap()
            .der()
            .to_vec()
    }

    #[test]
    fn ecdsa_and_ed25519_keys_match_their_certs_only() {
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
        ] {
            let a = rcgen::KeyPair::generate_for(alg).unwrap();
            let b = rcgen::KeyPair::generate_for(alg).unwrap();
            let key = block("PRIVATE KEY", a.serialize_der());
            assert_eq!(key_matches(&key, &cert_for(&a)), Ok(true));
            assert_eq!(key_matches(&key, &cert_for(&b)), Ok(false));
        }
    }

    #[test]
    fn garbage_keys_are_errors() {
        assert!(key_matches(&block("PRIVATE KEY", vec![1, 2, 3]), &[]).is_err());
        assert!(public_half_of_key(&block("RSA PRIVATE KEY", vec![0x30, 0x00])).is_err());
        assert!(public_half_of_key(&block("EC PRIVATE KEY", vec![0x30])).is_err());
        assert!(
            public_half_of_key(&block("ENCRYPTED PRIVATE KEY", vec![]))
                .unwrap_err()
                .contains("encrypted")
        );
    }

    /// RSA keys as openssl writes them (PKCS#8 and traditional PKCS#1), made by the openssl CLI
    /// because ring cannot generate RSA keys.
    #[test]
    fn rsa_pkcs1_and_pkcs8_keys_match_their_cert_only() {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let ok = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("openssl CLI")
                .status
                .success();
            assert!(ok, "openssl {args:?}");
        };
        for (key, cert) in [("a.key", "a.crt"), ("b.key", "b.crt")] {
            run(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                key,
                "-out",
                cert,
                "-subj",
                "/CN=a.example",
                "-days",
                "2",
            ]);
        }
        run(&["rsa", "-in", "a.key", "-traditional", "-out", "a1.key"]);
        let read = |f: &str| {
            crate::pem::parse(&std::fs::read(dir.path().join(f)).unwrap())
                .blocks
                .remove(0)
        };
        let cert_a = read("a.crt").der;
        let cert_b = read("b.crt").der;
        for key in ["a.key", "a1.key"] {
            let k = read(key);
            assert_eq!(key_matches(&k, &cert_a), Ok(true), "{key}");
            assert_eq!(key_matches(&k, &cert_b), Ok(false), "{key}");
        }
        assert_eq!(read("a1.key").label, "RSA PRIVATE KEY");
    }
}
