//! Reading the certificate a TLS endpoint actually serves: a TLS handshake (rustls, ring)
//! directly to `host:port`, or through a port-forward to `svc/NAME:PORT`. The handshake uses
//! [`AcceptAnyCertToInspectIt`], which accepts whatever the server presents so that we can
//! *read* it; nothing is sent over the connection and the result is only ever compared with
//! the Secret's certificate, never trusted.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

/// A verifier that accepts any server certificate: used only to read what a server presents.
#[derive(Debug)]
pub struct AcceptAnyCertToInspectIt(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertToInspectIt {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A host and port reached directly.
    Direct {
        /// Host name or IP.
        host: String,
        /// Port.
        port: u16,
    },
    /// A Kubernetes target (svc/NAME, pod/NAME, deploy/NAME) reached through a port-forward.
    Forward {
        /// The target.
        target: shared::portforward::Target,
        /// The port (Service port for Services).
        port: u16,
    },
}

/// Parses `host:port`, `[v6]:port` or `svc/NAME:PORT`.
pub fn parse_endpoint(text: &str) -> Result<Endpoint, shared::Error> {
    let usage = || shared::Error::Usage {
        message: format!("invalid --endpoint {text:?}"),
        hint: Some(
            "use HOST:PORT (e.g. api.example.com:443) or svc/NAME:PORT (through a port-forward)"
                .into(),
        ),
    };
    let (left, port) = text.rsplit_once(':').ok_or_else(usage)?;
    let port: u16 = port.parse().map_err(|_| usage())?;
    if left.contains('/') {
        let target = left.parse()?;
        return Ok(Endpoint::Forward { target, port });
    }
    let host = left.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(usage());
    }
    Ok(Endpoint::Direct {
        host: host.to_string(),
        port,
    })
}

/// A TLS handshake over `stream` that accepts any certificate, to read the chain the server
/// presents (DER, leaf first).
pub async fn handshake<S>(stream: S, server_name: &str) -> anyhow::Result<Vec<Vec<u8>>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS configuration")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertToInspectIt(provider)))
        .with_no_client_auth();
    let name =
        ServerName::try_from(server_name.to_string()).unwrap_or(ServerName::try_from("localhost")?);
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await
        .context("TLS handshake failed")?;
    let (_, conn) = tls.get_ref();
    let certs = conn
        .peer_certificates()
        .ok_or_else(|| anyhow!("the server presented no certificate"))?;
    Ok(certs.iter().map(|c| c.as_ref().to_vec()).collect())
}

/// How long reading a served certificate may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// The `--endpoint` step of `check` and `validate`: fetches what `endpoint` serves (through a
/// port-forward for in-cluster targets) and compares it with the assessed Secret, or records an
/// Unknown `served` finding, with a hint, when it cannot be read.
pub async fn assess(
    analysis: &mut crate::findings::Analysis,
    client: &kube::Client,
    namespace: &str,
    endpoint: &Endpoint,
    endpoint_text: &str,
    thresholds: crate::findings::Thresholds,
    now: i64,
) {
    match fetch(Some(client), namespace, endpoint, None, FETCH_TIMEOUT).await {
        Ok(chain) => {
            crate::evaluate::compare_served(analysis, endpoint_text, &chain, thresholds, now)
        }
        Err(err) => analysis.findings.push(crate::findings::Finding {
            severity: crate::findings::Severity::Unknown,
            check: "served",
            message: format!("cannot read the certificate served at {endpoint_text}: {err:#}"),
            hint: Some("check the address and that it speaks TLS".into()),
        }),
    }
}

/// Fetches the served chain (DER, leaf first). `sni` defaults to the host.
pub async fn fetch(
    client: Option<&kube::Client>,
    namespace: &str,
    endpoint: &Endpoint,
    sni: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let work = async {
        match endpoint {
            Endpoint::Direct { host, port } => {
                let tcp = tokio::net::TcpStream::connect((host.as_str(), *port))
                    .await
                    .with_context(|| format!("connect to {host}:{port}"))?;
                handshake(tcp, sni.unwrap_or(host)).await
            }
            Endpoint::Forward { target, port } => {
                let client =
                    client.ok_or_else(|| anyhow!("a cluster connection is needed for {target}"))?;
                let pod = shared::portforward::resolve(client, namespace, target, *port).await?;
                let mut fwd = shared::portforward::connect(client, &pod).await?;
                let stream = std::mem::replace(&mut fwd.stream, tokio::io::duplex(1).0);
                let name = sni
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{}.{namespace}.svc", target.name));
                let result = handshake(stream, &name)
                    .await
                    .with_context(|| format!("through {pod}"));
                fwd.abort();
                result
            }
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| anyhow!("timed out after {}s", timeout.as_secs()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints() {
        assert_eq!(
            parse_endpoint("a.example:443").unwrap(),
            Endpoint::Direct {
                host: "a.example".into(),
                port: 443
            }
        );
        assert_eq!(
            parse_endpoint("[::1]:8443").unwrap(),
            Endpoint::Direct {
                host: "::1".into(),
                port: 8443
            }
        );
        assert!(matches!(
            parse_endpoint("svc/api-gateway:8443").unwrap(),
            Endpoint::Forward { port: 8443, .. }
        ));
        assert!(parse_endpoint("nope").is_err());
        assert!(parse_endpoint("x:99999").is_err());
    }
}
