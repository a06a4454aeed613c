//! TLS material for `rediss://` URLs: a CA to trust instead of the public web roots (Redis
//! servers almost always have a private CA), and a client certificate for servers started with
//! `tls-auth-clients yes`. The files go into the connection info, so every node reached from
//! it — cluster primaries, the master behind a Sentinel — is checked the same way.

use std::path::{Path, PathBuf};

use clap::Args;
use redis::{ClientTlsConfig, ConnectionAddr, ConnectionInfo, TlsCertificates};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use shared::Error;

const HINT: &str = "give PEM files: --redis-cacert CA.pem, and for a client certificate both --redis-cert CERT.pem and --redis-key KEY.pem";

/// TLS files for `rediss://` (flattened into the Redis arguments).
#[derive(Debug, Clone, Default, Args)]
pub struct TlsArgs {
    /// CA certificate(s), PEM, to trust for rediss:// instead of the public web roots.
    #[arg(
        long = "redis-cacert",
        env = "REDIS_TLS_CACERT",
        value_name = "FILE",
        global = true
    )]
    pub cacert: Option<PathBuf>,
    /// Client certificate, PEM, for servers that require one (with --redis-key).
    #[arg(
        long = "redis-cert",
        env = "REDIS_TLS_CERT",
        value_name = "FILE",
        global = true
    )]
    pub cert: Option<PathBuf>,
    /// Private key, PEM, of --redis-cert.
    #[arg(
        long = "redis-key",
        env = "REDIS_TLS_KEY",
        value_name = "FILE",
        global = true
    )]
    pub key: Option<PathBuf>,
}

impl TlsArgs {
    /// True when no TLS file was given.
    pub fn is_empty(&self) -> bool {
        self.cacert.is_none() && self.cert.is_none() && self.key.is_none()
    }

    /// Returns `info` carrying these files. Refuses them for an address that is not TLS, a
    /// certificate without its key (or the reverse), and files that cannot be read or parsed.
    pub fn apply(&self, info: ConnectionInfo) -> Result<ConnectionInfo, Error> {
        if self.is_empty() {
            return Ok(info);
        }
        if !matches!(info.addr(), ConnectionAddr::TcpTls { .. }) {
            return Err(usage(
                "--redis-cacert, --redis-cert and --redis-key need a TLS address",
                "write the URL as rediss://HOST:PORT",
            ));
        }
        let client_tls = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Some(ClientTlsConfig {
                client_cert: certificates("--redis-cert", cert)?,
                client_key: private_key("--redis-key", key)?,
            }),
            (None, None) => None,
            _ => {
                return Err(usage(
                    "--redis-cert and --redis-key go together",
                    "give both: the client certificate and its private key",
                ));
            }
        };
        let root_cert = self
            .cacert
            .as_deref()
            .map(|path| certificates("--redis-cacert", path))
            .transpose()?;
        let certificates = TlsCertificates {
            client_tls,
            root_cert,
        };
        let client = redis::Client::build_with_tls(info, certificates)
            .map_err(|e| usage(format!("unusable TLS files: {e}"), HINT))?;
        Ok(client.get_connection_info().clone())
    }
}

/// The file's bytes, when it holds at least one PEM certificate (a file without any would
/// otherwise mean "trust nothing" and fail every handshake later, far from the cause).
fn certificates(flag: &str, path: &Path) -> Result<Vec<u8>, Error> {
    let pem = read(flag, path)?;
    if !CertificateDer::pem_slice_iter(&pem).any(|c| c.is_ok()) {
        return Err(usage(
            format!("{flag} {} holds no PEM certificate", path.display()),
            HINT,
        ));
    }
    Ok(pem)
}

/// The file's bytes, when it holds a PEM private key.
fn private_key(flag: &str, path: &Path) -> Result<Vec<u8>, Error> {
    let pem = read(flag, path)?;
    if PrivateKeyDer::from_pem_slice(&pem).is_err() {
        return Err(usage(
            format!("{flag} {} holds no PEM private key", path.display()),
            HINT,
        ));
    }
    Ok(pem)
}

fn read(flag: &str, path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path)
        .map_err(|e| usage(format!("cannot read {flag} {}: {e}", path.display()), HINT))
}

fn usage(message: impl Into<String>, hint: impl Into<String>) -> Error {
    Error::Usage {
        message: message.into(),
        hint: Some(hint.into()),
    }
}

#[cfg(test)]
mod tests {
    use redis::IntoConnectionInfo as _;

    use super::*;

    fn args(cacert: Option<&str>, cert: Option<&str>, key: Option<&str>) -> TlsArgs {
        TlsArgs {
            cacert: cacert.map(PathBuf::from),
            cert: cert.map(PathBuf::from),
            key: key.map(PathBuf::from),
        }
    }

    fn message(e: Error) -> String {
        e.to_string()
    }

    #[test]
    fn nothing_given_leaves_the_address_alone() {
        let info = "redis://127.0.0.1:6379".into_connection_info().unwrap();
        let out = TlsArgs::default().apply(info.clone()).unwrap();
        assert_eq!(out.addr(), info.addr());
    }

    #[test]
    fn tls_files_need_a_tls_address() {
        let info = "redis://127.0.0.1:6379".into_connection_info().unwrap();
        let err = args(Some("/ca.pem"), None, None).apply(info).unwrap_err();
        assert!(message(err).contains("need a TLS address"));
    }

    #[test]
    fn a_certificate_needs_its_key() {
        let info = "rediss://127.0.0.1:6379".into_connection_info().unwrap();
        let err = args(None, Some("/c.pem"), None).apply(info).unwrap_err();
        assert!(message(err).contains("go together"));
    }

    #[test]
    fn an_unreadable_file_is_named() {
        let info = "rediss://127.0.0.1:6379".into_connection_info().unwrap();
        let err = args(Some("/nonexistent/ca.pem"), None, None)
            .apply(info)
            .unwrap_err();
        let text = message(err);
        assert!(
            text.contains("cannot read --redis-cacert /nonexistent/ca.pem"),
            "{text}"
        );
    }

    #[test]
    fn a_file_that_is_not_pem_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let info = "rediss://127.0.0.1:6379".into_connection_info().unwrap();
        let err = args(Some(path.to_str().unwrap()), None, None)
            .apply(info)
            .unwrap_err();
        let text = message(err);
        assert!(text.contains("holds no PEM certificate"), "{text}");
    }
}
