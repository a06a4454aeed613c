//! `kubectl rflush` over TLS (`rediss://`) against real `redis-server --tls-port` processes
//! with a private CA, as Redis servers almost always have: the CA is trusted only when given
//! (`--redis-cacert`), a server that requires client certificates gets one (`--redis-cert`,
//! `--redis-key`), and flush, backup and restore work end to end over the encrypted link.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::rflush::{free_port, json, redis_server_command, rflush, text, wait_until};

/// A private CA and two leaves it signed (server for 127.0.0.1, client), as PEM files.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(DnType::CommonName, "rflush test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(ca, ca_key);
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("ca.pem", &ca_pem);
        for (name, usage) in [
            ("server", ExtendedKeyUsagePurpose::ServerAuth),
            ("client", ExtendedKeyUsagePurpose::ClientAuth),
        ] {
            let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
            leaf.distinguished_name.push(DnType::CommonName, name);
            leaf.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
            leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            leaf.extended_key_usages = vec![usage];
            let key = KeyPair::generate().unwrap();
            write(
                &format!("{name}.pem"),
                &leaf.signed_by(&key, &issuer).unwrap().pem(),
            );
            write(&format!("{name}.key"), &key.serialize_pem());
        }
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }
}

/// `redis-server` listening only on a TLS port, killed on drop.
struct TlsRedis {
    port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl TlsRedis {
    /// `auth_clients`: redis' `tls-auth-clients` (`no`, or `yes` to require a client certificate).
    fn start(pki: &Pki, auth_clients: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let child = redis_server_command(
            dir.path(),
            &["--port", "0", "--tls-port", &port.to_string()],
        )
        .arg("--tls-cert-file")
        .arg(pki.path("server.pem"))
        .arg("--tls-key-file")
        .arg(pki.path("server.key"))
        .arg("--tls-ca-cert-file")
        .arg(pki.path("ca.pem"))
        .args(["--tls-auth-clients", auth_clients])
        .spawn()
        .expect("start redis-server (apt-get install -y redis-server)");
        let log = dir.path().join("redis.log");
        wait_until("the TLS redis-server to accept connections", || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("Ready to accept connections"))
        });
        TlsRedis { port, child, dir }
    }

    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }

    /// Runs `redis-cli` over TLS with the client certificate (works with either setting).
    fn cli(&self, pki: &Pki, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["--tls", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["--cacert", &pki.arg("ca.pem")])
            .args([
                "--cert",
                &pki.arg("client.pem"),
                "--key",
                &pki.arg("client.key"),
            ])
            .args(args)
            .output()
            .expect("run redis-cli");
        assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn rflush_over_tls_trusts_only_the_given_ca_and_flushes_backs_up_and_restores() {
    let pki = Pki::new();
    let redis = TlsRedis::start(&pki, "no");
    redis.cli(&pki, &["DEBUG", "POPULATE", "500", "t:"]);
    redis.cli(&pki, &["DEBUG", "POPULATE", "20", "keep:"]);
    let url = redis.url();

    // The private CA is not in the public roots: one line that says what to give.
    let out = rflush(&url, &["count", "t:*"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("presented a certificate this client does not trust")
            && err.contains("hint: give the CA that signed it with --redis-cacert"),
        "{err}"
    );

    // A plain redis:// URL to the TLS port: the server hangs up, and the hint says why.
    let plain = format!("redis://127.0.0.1:{}", redis.port);
    let out = rflush(&plain, &["count", "t:*"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach Redis") && err.contains("use rediss://"),
        "{err}"
    );

    // From here on the CA is given: `rflush ARGS --redis-cacert CA -o json`.
    let ca = pki.arg("ca.pem");
    let trusting = |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--redis-cacert", &ca, "-o", "json"]);
        rflush(&url, &args)
    };
    let file = redis.dir().join("tls.rfb");
    let file = file.to_str().unwrap();
    let out = trusting(&["backup", "t:*", "-f", file]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["keys"], 500, "{}", text(&out));
    let out = trusting(&["flush", "--pattern", "t:*", "--yes", "--no-backup"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["deleted"], 500, "{}", text(&out));
    assert_eq!(redis.cli(&pki, &["DBSIZE"]), "20");
    let out = trusting(&["restore", file]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["restored"], 500, "{}", text(&out));
    assert_eq!(redis.cli(&pki, &["DBSIZE"]), "520");
    // DEBUG POPULATE names keys PREFIX:N with values value:N.
    assert_eq!(redis.cli(&pki, &["GET", "t::7"]), "value:7");
}

#[test]
fn rflush_presents_a_client_certificate_to_a_server_that_requires_one() {
    let pki = Pki::new();
    let redis = TlsRedis::start(&pki, "yes");
    redis.cli(&pki, &["DEBUG", "POPULATE", "30", "m:"]);
    let (url, ca) = (redis.url(), pki.arg("ca.pem"));

    let out = rflush(&url, &["count", "m:*", "--redis-cacert", &ca]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("requires a client certificate") && err.contains("--redis-cert"),
        "{err}"
    );

    let (cert, key) = (pki.arg("client.pem"), pki.arg("client.key"));
    let out = rflush(
        &url,
        &[
            "count",
            "m:*",
            "--redis-cacert",
            &ca,
            "--redis-cert",
            &cert,
            "--redis-key",
            &key,
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["keys"], 30, "{}", text(&out));

    // Half a pair, or TLS files for a plain URL: usage errors (exit 2) before any connection.
    let out = rflush(&url, &["count", "m:*", "--redis-cert", &cert]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--redis-cert and --redis-key go together"),
        "{}",
        text(&out)
    );
    let plain = format!("redis://127.0.0.1:{}", redis.port);
    let out = rflush(&plain, &["count", "m:*", "--redis-cacert", &ca]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("need a TLS address"),
        "{}",
        text(&out)
    );
}
