//! The API server's serving certificate: a TLS handshake to the kubeconfig's server, graded as
//! a certificate without its key, verified against the kubeconfig's certificate-authority and
//! checked to cover the host the kubeconfig dials (or its `tls-server-name`). One row, named
//! `apiserver/HOST:PORT`. The handshake goes the client's way: through the kubeconfig's
//! `proxy-url` (HTTP CONNECT or SOCKS5) when it has one.

use std::time::Duration;

use super::{CLUSTER, Context, Found, pem_of, row, unreadable};
use crate::findings::Role;
use crate::model::{Entry, Origin};
use crate::served;

/// How long the handshake may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The host and port of the kubeconfig's server.
pub fn address(config: &kube::Config) -> Option<(String, u16)> {
    let uri = &config.cluster_url;
    let host = uri.host()?.trim_matches(['[', ']']).to_string();
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("http") => 80,
        _ => 443,
    });
    Some((host, port))
}

/// The row for a served chain (DER, leaf first).
pub fn entry(config: &kube::Config, host: &str, port: u16, chain: &[Vec<u8>]) -> Entry {
    let dialled = config
        .tls_server_name
        .clone()
        .unwrap_or_else(|| host.to_string());
    row(
        Origin::ApiServer,
        CLUSTER,
        format!("apiserver/{host}:{port}"),
        CLUSTER,
        Found {
            role: Role::Certificate,
            crt: Some(pem_of(chain)),
            crt_label: format!("the certificate served at {host}:{port}"),
            anchors: config.root_cert.as_deref().map(pem_of),
            hosts: vec![dialled],
            hosts_from: "the kubeconfig's server".into(),
            renew_hint: Some("renew the API server's serving certificate (e.g. `kubeadm certs renew apiserver`) and restart the API server".into()),
            ..Default::default()
        },
    )
}

/// Reads the API server's chain.
pub async fn collect(ctx: &Context<'_>) -> Vec<Entry> {
    let Some(config) = ctx.kube_config else {
        return Vec::new();
    };
    let Some((host, port)) = address(config) else {
        return vec![unreadable(
            Origin::ApiServer,
            "apiserver/*",
            format!("the kubeconfig's server {} has no host", config.cluster_url),
            "check the cluster's server in the kubeconfig".into(),
        )];
    };
    let sni = config.tls_server_name.as_deref().unwrap_or(&host);
    // The way the client goes: through the kubeconfig's proxy-url (or HTTPS_PROXY) when set.
    let read = async {
        let tcp = shared::kube_client::dial(config, &host, port).await?;
        served::handshake(tcp, sni).await
    };
    let result = tokio::time::timeout(TIMEOUT, read)
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out after {}s", TIMEOUT.as_secs())));
    match result {
        Ok(chain) => vec![entry(config, &host, port, &chain)],
        Err(e) => vec![unreadable(
            Origin::ApiServer,
            &format!("apiserver/{host}:{port}"),
            format!("cannot read the certificate served at {host}:{port}: {e:#}"),
            "a TLS-inspecting proxy between here and the API server hides its certificate; leave the source out with --source".into(),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_defaults_the_port() {
        let c = kube::Config::new("https://10.0.0.1:6443".parse().unwrap());
        assert_eq!(address(&c), Some(("10.0.0.1".into(), 6443)));
        let c = kube::Config::new("https://k8s.example.com".parse().unwrap());
        assert_eq!(address(&c), Some(("k8s.example.com".into(), 443)));
    }
}
