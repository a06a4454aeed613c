//! Property tests: the PEM/X.509/key intake never panics, whatever the bytes.

use kubectl_certs::findings::{Expectations, Material, Thresholds, analyze, parse_certs};
use kubectl_certs::pem;
use proptest::prelude::*;

const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIUYWJjZGVmZ2hpamtsbW5vcHFyc3R1MAoGCCqGSM49BAMCMBExDzANBgNVBAMMBnRlc3RjYTAeFw0yNDAxMDEwMDAwMDBaFw0zNDAxMDEwMDAwMDBaMBExDzANBgNVBAMMBnRlc3RjYTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABA==\n-----END CERTIFICATE-----\n";

fn analyze_all(crt: &[u8], key: &[u8], ca: &[u8]) {
    let m = Material {
        tls_crt: Some(crt),
        tls_key: Some(key),
        ca_crt: Some(ca),
    };
    let a = analyze(
        &m,
        &Expectations {
            dns_names: vec!["a.example".into()],
            ..Default::default()
        },
        &[],
        Thresholds::default(),
        1_700_000_000,
    );
    assert!(!a.findings.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(crt in proptest::collection::vec(any::<u8>(), 0..2048), key in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = pem::parse(&crt);
        let _ = parse_certs(&crt);
        analyze_all(&crt, &key, &crt);
    }

    #[test]
    fn mutated_pem_never_panics(pos in 0usize..CERT.len(), byte in any::<u8>(), cut in 0usize..CERT.len()) {
        let mut bytes = CERT.as_bytes().to_vec();
        bytes[pos] = byte;
        bytes.truncate(cut.max(1));
        let _ = parse_certs(&bytes);
        analyze_all(&bytes, &bytes, &bytes);
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
