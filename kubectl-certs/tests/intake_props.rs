//! Property tests: the PEM/X.509/key intake never panics, whatever the bytes, and the fuzzing
//! reaches the X.509 parser and the chain and key checks behind it.
//!
//! The seed is a complete certificate: a P-256 leaf for `a.example`, signed by a P-256 test CA,
//! with its PKCS#8 key (made with openssl, valid 2026-12-03 to 2126-11-09; nothing secret). The
//! first test proves the seed is whole (it parses, its DER length is what it declares, its chain
//! verifies and its key matches); the mutation tests count how many mutated inputs still reached
//! the X.509 parser, and fail when too few did.

use std::cell::Cell;

use kubectl_certs::findings::{
    Analysis, Expectations, Material, Severity, Thresholds, analyze, parse_certs,
};
use kubectl_certs::pem;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const LEAF: &str = "-----BEGIN CERTIFICATE-----
MIIBxTCCAWqgAwIBAgIURPHV1aFD9S0K2kUjF7S3Tb8S2TYwCgYIKoZIzj0EAwIw
IjEgMB4GA1UEAwwXaW50YWtlIHByb3BlcnR5IHRlc3QgQ0EwIBcNMjYxMjAzMTMz
NDU3WhgPMjEyNjExMDkxMzM0NTdaMBQxEjAQBgNVBAMMCWEuZXhhbXBsZTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABBKuiF+omKcS08ZDrkvtmfmISNjmrmGK9B2G
MU1tXZUbG9bGihD7GKAsfD9ydLtVnuScOBHk3SWXudtzxMCADFKjgYkwgYYwFAYD
VR0RBA0wC4IJYS5leGFtcGxlMA4GA1UdDwEB/wQEAwIHgDATBgNVHSUEDDAKBggr
BgEFBQcDATAJBgNVHRMEAjAAMB0GA1UdDgQWBBQe6NOLSwr12xpaziew5U5PtA/u
SDAfBgNVHSMEGDAWgBRcQR85uqdqZD2TE55PSpwMlIt3JTAKBggqhkjOPQQDAgNJ
ADBGAiEA8A77Zt3W12id0icln6fMHzjEfPq1Uu/34ciXizPmFQ0CIQDLcyNOa7Zm
YQb0b5iRWQYN5Rq0CnNBfcTFlqx7uRg7+A==
-----END CERTIFICATE-----
";

const LEAF_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgJZg8blerE9yuCNwC
tlc7N9Ky8qbPq/CR226g3ZjIZPOhRANCAAQSrohfqJinEtPGQ65L7Zn5iEjY5q5h
ivQdhjFNbV2VGxvWxooQ+xigLHw/cnS7VZ7knDgR5N0ll7nbc8TAgAxS
-----END PRIVATE KEY-----
";

const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBqjCCAVCgAwIBAgITBWPjGg2gmhb+DqoZMi07qkLUsTAKBggqhkjOPQQDAjAi
MSAwHgYDVQQDDBdpbnRha2UgcHJvcGVydHkgdGVzdCBDQTAgFw0yNjEyMDMxMzM0
NTdaGA8yMTI2MTEwOTEzMzQ1N1owIjEgMB4GA1UEAwwXaW50YWtlIHByb3BlcnR5
IHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATTmoG3PDenk6z2LrHU
uhCLATwlJmdJtHk4fQCkF3DaLlAWv+JEUnsqsljI8UsS17986P4XmghW9SI7Pu3Z
Lfe9o2MwYTAdBgNVHQ4EFgQUXEEfObqnamQ9kxOeT0qcDJSLdyUwHwYDVR0jBBgw
FoAUXEEfObqnamQ9kxOeT0qcDJSLdyUwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8B
Af8EBAMCAQYwCgYIKoZIzj0EAwIDSAAwRQIgDYjchDsj0xjunhSF7gHxoIxvNdnp
53w3Kdf3B54Nb0cCIQCs+6n+HQD0nGBKzWWw8bJdGH8oiwUXjRAOOLyRURcByQ==
-----END CERTIFICATE-----
";

/// A runner of `cases` cases; a failure prints its minimal input (nothing is written to disk).
fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// 2028-01-15: inside the seed's validity, far from its end.
const NOW: i64 = 1_831_000_000;

fn analyze_all(crt: &[u8], key: &[u8], ca: &[u8]) -> Analysis {
    let m = Material {
        tls_crt: Some(crt),
        tls_key: Some(key),
        ca_crt: Some(ca),
        ..Default::default()
    };
    let a = analyze(
        &m,
        &Expectations {
            dns_names: vec!["a.example".into()],
            ..Default::default()
        },
        &[],
        Thresholds::default(),
        NOW,
    );
    assert!(!a.findings.is_empty());
    a
}

fn has(a: &Analysis, severity: Severity, check: &str) -> bool {
    a.findings
        .iter()
        .any(|f| f.severity == severity && f.check == check)
}

fn seed_der() -> Vec<u8> {
    let parsed = pem::parse(LEAF.as_bytes());
    assert_eq!(parsed.blocks.len(), 1);
    parsed.blocks[0].der.clone()
}

/// The tbsCertificate (the signed part) of a DER certificate, if it parses.
fn signed_part(der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.tbs_certificate.as_ref().to_vec())
}

#[test]
fn the_seed_is_a_whole_certificate_whose_chain_verifies_and_key_matches() {
    let parsed = pem::parse(LEAF.as_bytes());
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    let der = seed_der();
    // The outer SEQUENCE declares its length in two bytes (0x30 0x82 hi lo): all of it is here.
    assert_eq!(&der[..2], &[0x30, 0x82]);
    assert_eq!(
        usize::from(u16::from_be_bytes([der[2], der[3]])) + 4,
        der.len()
    );
    let (certs, problems) = parse_certs(LEAF.as_bytes());
    assert_eq!((certs.len(), problems.len()), (1, 0), "{problems:?}");
    let a = analyze_all(LEAF.as_bytes(), LEAF_KEY.as_bytes(), CA.as_bytes());
    assert!(has(&a, Severity::Ok, "chain"), "{:#?}", a.findings);
    assert!(has(&a, Severity::Ok, "key-match"), "{:#?}", a.findings);
    assert!(
        !a.findings
            .iter()
            .any(|f| matches!(f.severity, Severity::Critical | Severity::Unknown)),
        "{:#?}",
        a.findings
    );
}

/// One edit of the DER: overwrite a byte, flip a bit, cut, insert a byte, remove a run.
#[derive(Debug, Clone)]
enum Edit {
    Set(prop::sample::Index, u8),
    Flip(prop::sample::Index, u8),
    Cut(prop::sample::Index),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        3 => (any::<prop::sample::Index>(), 0u8..8).prop_map(|(i, b)| Edit::Flip(i, b)),
        1 => any::<prop::sample::Index>().prop_map(Edit::Cut),
        1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        1 => (any::<prop::sample::Index>(), 1usize..8).prop_map(|(i, n)| Edit::Remove(i, n)),
    ]
}

fn apply(der: &mut Vec<u8>, edit: &Edit) {
    if der.is_empty() {
        return;
    }
    match edit {
        Edit::Set(i, b) => {
            let i = i.index(der.len());
            der[i] = *b;
        }
        Edit::Flip(i, bit) => {
            let i = i.index(der.len());
            der[i] ^= 1 << bit;
        }
        Edit::Cut(i) => der.truncate(i.index(der.len())),
        Edit::Insert(i, b) => der.insert(i.index(der.len() + 1), *b),
        Edit::Remove(i, n) => {
            let i = i.index(der.len());
            der.drain(i..(i + n).min(der.len()));
        }
    }
}

/// Mutations of the seed's DER, re-wrapped in PEM, go through the whole intake. Every one
/// reaches the X.509 parser; enough are rejected by it and enough still parse (and go on to the
/// chain and key checks) for the fuzzing to mean something; and a certificate whose signed part
/// changed never verifies against the CA.
#[test]
fn mutated_certificates_reach_the_x509_parser_and_never_verify() {
    let seed = seed_der();
    let seed_tbs = signed_part(&seed).expect("the seed parses");
    let (cases, reached, parsed, rejected) =
        (Cell::new(0), Cell::new(0), Cell::new(0), Cell::new(0));
    let mut runner = runner(768);
    runner
        .run(&prop::collection::vec(edit(), 1..4), |edits| {
            let mut der = seed.clone();
            for e in &edits {
                apply(&mut der, e);
            }
            let text = pem::encode("CERTIFICATE", &der);
            if der.is_empty() {
                // A cut at 0 leaves an empty block: nothing for X.509 to parse, so the PEM
                // layer rightly reports no certificate. Not a case of this property.
                return Ok(());
            }
            cases.set(cases.get() + 1);
            // The PEM layer hands the block on: this input reached X.509 parsing.
            if pem::parse(text.as_bytes()).certificates().count() == 1 {
                reached.set(reached.get() + 1);
            }
            let (certs, _) = parse_certs(text.as_bytes());
            if certs.is_empty() {
                rejected.set(rejected.get() + 1);
            } else {
                parsed.set(parsed.get() + 1);
            }
            let a = analyze_all(text.as_bytes(), LEAF_KEY.as_bytes(), CA.as_bytes());
            if signed_part(&der).is_some_and(|tbs| tbs != seed_tbs) {
                prop_assert!(
                    !has(&a, Severity::Ok, "chain"),
                    "a changed certificate verified: {:?}",
                    edits
                );
            }
            Ok(())
        })
        .unwrap();
    let (n, reached, parsed, rejected) = (cases.get(), reached.get(), parsed.get(), rejected.get());
    eprintln!(
        "DER mutations: {n} cases, {reached} reached X.509, {parsed} parsed, {rejected} rejected"
    );
    assert_eq!(
        reached, n,
        "every DER mutation is handed to the X.509 parser"
    );
    assert!(
        parsed * 10 >= n && rejected * 10 >= n,
        "of {n} mutated certificates {parsed} parsed and {rejected} were rejected: the mutations \
         should exercise both"
    );
}

/// Mutations of the PEM text itself (a base64 character swapped for another, any byte, a
/// cut): never a panic, a fair share still reaches the X.509 parser, and some still parse.
#[test]
fn mutated_pem_text_never_panics_and_often_reaches_the_x509_parser() {
    const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (cases, reached, parsed) = (Cell::new(0), Cell::new(0), Cell::new(0));
    let mutation = prop_oneof![
        4 => (any::<prop::sample::Index>(), prop::sample::select(BASE64)).prop_map(|(i, b)| (0u8, i, b)),
        1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| (1u8, i, b)),
        1 => any::<prop::sample::Index>().prop_map(|i| (2u8, i, 0)),
    ];
    let mut runner = runner(512);
    runner
        .run(&prop::collection::vec(mutation, 1..3), |mutations| {
            let mut bytes = LEAF.as_bytes().to_vec();
            for (kind, at, byte) in mutations {
                let at = at.index(bytes.len());
                match kind {
                    // Only inside the base64 body, so the text stays PEM.
                    0 if BASE64.contains(&bytes[at]) && at > 28 && at < bytes.len() - 27 => {
                        bytes[at] = byte;
                    }
                    0 => {}
                    1 => bytes[at] = byte,
                    _ => bytes.truncate(at.max(1)),
                }
            }
            cases.set(cases.get() + 1);
            if pem::parse(&bytes).certificates().count() > 0 {
                reached.set(reached.get() + 1);
            }
            if !parse_certs(&bytes).0.is_empty() {
                parsed.set(parsed.get() + 1);
            }
            analyze_all(&bytes, LEAF_KEY.as_bytes(), CA.as_bytes());
            analyze_all(&bytes, &bytes, &bytes);
            Ok(())
        })
        .unwrap();
    let (n, reached, parsed) = (cases.get(), reached.get(), parsed.get());
    eprintln!("PEM text mutations: {n} cases, {reached} reached X.509, {parsed} parsed");
    assert!(
        reached * 3 >= n && parsed * 20 >= n,
        "of {n} mutated PEM texts {reached} reached the X.509 parser and {parsed} parsed"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(crt in proptest::collection::vec(any::<u8>(), 0..2048), key in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = pem::parse(&crt);
        let _ = parse_certs(&crt);
        analyze_all(&crt, &key, &crt);
    }

    #[test]
    fn arbitrary_der_in_a_pem_wrapper_never_panics(der in proptest::collection::vec(any::<u8>(), 1..1024), label in prop_oneof!["CERTIFICATE", "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"]) {
        let text = pem::encode(&label, &der);
        let parsed = pem::parse(text.as_bytes());
        prop_assert_eq!(parsed.blocks.len(), 1);
        prop_assert_eq!(&parsed.blocks[0].der, &der);
        analyze_all(pem::encode("CERTIFICATE", &der).as_bytes(), text.as_bytes(), text.as_bytes());
    }
}
