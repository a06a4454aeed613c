//! The Kubernetes client: kube's default stack, with `TCP_NODELAY` on the connection to the
//! API server.
//!
//! kube's own builder leaves Nagle's algorithm on. For ordinary requests that does not matter,
//! but a port-forward or exec stream pipelines small writes behind large ones (a Redis `UNLINK`
//! after a page of `DUMP`s), and each small write then waits for the API server's delayed ACK:
//! ~40 ms per round trip. kubectl (Go) sets `TCP_NODELAY` on every connection; so do we.
//! The layers are the ones kube's `ClientBuilder::try_from(Config)` installs (base URI, retry of
//! 429/503/504, auth, impersonation and extra headers, connect/read/write timeouts).

use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt;
use kube::client::retry::RetryPolicy;
use tower::ServiceBuilder;
use tower::retry::RetryLayer;

/// Builds a client for `config` whose TCP connections have `TCP_NODELAY` set.
pub fn build(config: kube::Config) -> kube::Result<kube::Client> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = config.rustls_https_connector_with_connector(http)?;
    let mut connector = TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    let http_client =
        hyper_util::client::legacy::Builder::new(TokioExecutor::new()).build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(
            config
                .default_retry
                .then(|| RetryLayer::new(RetryPolicy::server_retry())),
        )
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(tower::BoxError::from)
        .service(http_client);
    Ok(kube::Client::new(service, config.default_namespace))
}
