//! The Kubernetes client: kube's default stack, with `TCP_NODELAY` on the connection to the
//! API server, through the kubeconfig's `proxy-url` when it has one.
//!
//! kube's own builder leaves Nagle's algorithm on. For ordinary requests that does not matter,
//! but a port-forward or exec stream pipelines small writes behind large ones (a Redis `UNLINK`
//! after a page of `DUMP`s), and each small write then waits for the API server's delayed ACK:
//! ~40 ms per round trip. kubectl (Go) sets `TCP_NODELAY` on every connection; so do we.
//! The layers are the ones kube's `ClientBuilder::try_from(Config)` installs (base URI, retry of
//! 429/503/504, auth, impersonation and extra headers, connect/read/write timeouts).
//!
//! The proxy is kube's reading of the kubeconfig, like kubectl's: the cluster's `proxy-url`,
//! else `HTTPS_PROXY`/`https_proxy` unless `NO_PROXY` covers the server. `http://` and
//! `https://` proxies are tunnelled through with `CONNECT` (credentials in the URL become a
//! `Proxy-Authorization: Basic` header), `socks5://` ones with SOCKS5 (the proxy resolves the
//! host name, as kubectl's does).

use std::error::Error as StdError;

use http::{HeaderValue, Uri};
use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::proxy::{SocksV5, Tunnel};
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use kube::client::ConfigExt;
use kube::client::retry::RetryPolicy;
use tokio::net::TcpStream;
use tower::retry::RetryLayer;
use tower::{Service, ServiceBuilder, ServiceExt};

/// The way to the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A TCP connection of our own.
    Direct,
    /// `CONNECT` through an HTTP proxy, with its `Proxy-Authorization` value if the URL had
    /// credentials.
    Http(Uri, Option<String>),
    /// `CONNECT` through a proxy reached over TLS.
    Https(Uri, Option<String>),
    /// SOCKS5, with user and password if the URL had them.
    Socks5(Uri, Option<(String, String)>),
}

impl Route {
    /// The route `config` asks for (its `proxy_url`, as kube read it from the kubeconfig and
    /// the environment).
    pub fn of(config: &kube::Config) -> kube::Result<Route> {
        let Some(proxy) = config.proxy_url.clone() else {
            return Ok(Route::Direct);
        };
        let userinfo = proxy
            .authority()
            .and_then(|a| a.as_str().rsplit_once('@'))
            .map(|(info, _)| info.to_string());
        let decoded = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let basic = userinfo.as_deref().map(|info| {
            use base64::Engine;
            let (user, pass) = info.split_once(':').unwrap_or((info, ""));
            let plain = format!("{}:{}", decoded(user), decoded(pass));
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(plain)
            )
        });
        match proxy.scheme_str() {
            Some("http") => Ok(Route::Http(proxy, basic)),
            Some("https") => Ok(Route::Https(proxy, basic)),
            Some("socks5") => {
                let auth = userinfo.as_deref().map(|info| {
                    let (user, pass) = info.split_once(':').unwrap_or((info, ""));
                    (decoded(user), decoded(pass))
                });
                Ok(Route::Socks5(proxy, auth))
            }
            _ => Err(kube::Error::ProxyProtocolUnsupported {
                proxy_url: Box::new(proxy),
            }),
        }
    }
}

/// A TCP connector with `TCP_NODELAY` that also dials `https://` URIs (TLS comes on top).
fn tcp() -> HttpConnector {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http
}

fn tunnel<C>(proxy: Uri, auth: Option<String>, connector: C) -> Tunnel<C> {
    let tunnel = Tunnel::new(proxy, connector);
    match auth.and_then(|a| HeaderValue::from_str(&a).ok()) {
        Some(header) => tunnel.with_auth(header),
        None => tunnel,
    }
}

fn socks<C>(proxy: Uri, auth: Option<(String, String)>, connector: C) -> SocksV5<C> {
    let socks = SocksV5::new(proxy, connector);
    match auth {
        Some((user, pass)) => socks.with_auth(user, pass),
        None => socks,
    }
}

/// Builds a client for `config` whose TCP connections have `TCP_NODELAY` set, through the
/// proxy `config` names, if any.
pub fn build(config: kube::Config) -> kube::Result<kube::Client> {
    match Route::of(&config)? {
        Route::Direct => finish(config, tcp()),
        Route::Http(proxy, auth) => finish(config, tunnel(proxy, auth, tcp())),
        Route::Https(proxy, auth) => {
            let to_proxy = config.rustls_https_connector_with_connector(tcp())?;
            finish(config, tunnel(proxy, auth, to_proxy))
        }
        Route::Socks5(proxy, auth) => finish(config, socks(proxy, auth, tcp())),
    }
}

/// TLS to the API server on top of `connector`, timeouts, and kube's layers.
fn finish<C>(config: kube::Config, connector: C) -> kube::Result<kube::Client>
where
    C: Service<Uri> + Clone + Send + Sync + 'static,
    C::Response: hyper::rt::Read + hyper::rt::Write + Connection + Send + Unpin + 'static,
    C::Future: Send + 'static,
    C::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let https = config.rustls_https_connector_with_connector(connector)?;
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

/// Why [`dial`] failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The proxy setting cannot be used.
    #[error("cannot use the kubeconfig's proxy")]
    Route(#[source] kube::Error),
    /// An `https://` proxy: a raw TCP stream cannot be had through it.
    #[error("cannot open a raw connection through the https:// proxy {0}")]
    HttpsProxy(Uri),
    /// Connecting (directly or through the proxy) failed.
    #[error("cannot connect to {target}{}", via(.proxy))]
    Connect {
        /// HOST:PORT.
        target: String,
        /// The proxy, when there is one.
        proxy: Option<Uri>,
        /// What went wrong.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

fn via(proxy: &Option<Uri>) -> String {
    proxy
        .as_ref()
        .map(|p| format!(" through the proxy {}", redact(p)))
        .unwrap_or_default()
}

/// A proxy URL without its credentials, for messages.
fn redact(proxy: &Uri) -> String {
    match proxy.authority().map(|a| a.as_str()) {
        Some(auth) if auth.contains('@') => {
            let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
            format!("{}://{host}", proxy.scheme_str().unwrap_or("http"))
        }
        _ => proxy.to_string(),
    }
}

/// Opens a TCP connection to `host:port` the way the client reaches the API server: directly,
/// or through the kubeconfig's HTTP or SOCKS5 proxy (for a TLS handshake of our own, e.g. to
/// read the API server's serving certificate).
pub async fn dial(config: &kube::Config, host: &str, port: u16) -> Result<TcpStream, DialError> {
    let route = Route::of(config).map_err(DialError::Route)?;
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let fail = |proxy: Option<Uri>, source: Box<dyn StdError + Send + Sync>| DialError::Connect {
        target: target.clone(),
        proxy,
        source,
    };
    let uri: Uri = format!("https://{target}")
        .parse()
        .map_err(|e: http::uri::InvalidUri| fail(None, e.into()))?;
    let io: TokioIo<TcpStream> = match route {
        Route::Direct => {
            return TcpStream::connect((host, port))
                .await
                .map_err(|e| fail(None, e.into()));
        }
        Route::Https(proxy, _) => return Err(DialError::HttpsProxy(proxy)),
        Route::Http(proxy, auth) => tunnel(proxy.clone(), auth, tcp())
            .oneshot(uri)
            .await
            .map_err(|e| fail(Some(proxy), e.into()))?,
        Route::Socks5(proxy, auth) => socks(proxy.clone(), auth, tcp())
            .oneshot(uri)
            .await
            .map_err(|e| fail(Some(proxy), e.into()))?,
    };
    Ok(io.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_with_proxy(proxy: Option<&str>) -> kube::Config {
        let mut c = kube::Config::new("https://10.0.0.1:6443".parse().unwrap());
        c.proxy_url = proxy.map(|p| p.parse().unwrap());
        c
    }

    #[test]
    fn the_route_follows_the_proxy_url_and_carries_its_credentials() {
        assert_eq!(Route::of(&config_with_proxy(None)).unwrap(), Route::Direct);
        let Route::Http(uri, auth) =
            Route::of(&config_with_proxy(Some("http://proxy.corp:3128"))).unwrap()
        else {
            panic!("http proxy")
        };
        assert_eq!(uri.port_u16(), Some(3128));
        assert_eq!(auth, None);
        // user "ops", password "p@ss:w" (percent-encoded in the URL).
        let Route::Http(_, Some(auth)) = Route::of(&config_with_proxy(Some(
            "http://ops:p%40ss%3Aw@proxy.corp:3128",
        )))
        .unwrap() else {
            panic!("http proxy with credentials")
        };
        use base64::Engine;
        let plain = base64::engine::general_purpose::STANDARD
            .decode(auth.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(String::from_utf8(plain).unwrap(), "ops:p@ss:w");
        assert_eq!(
            Route::of(&config_with_proxy(Some("socks5://u:v@127.0.0.1:1080"))).unwrap(),
            Route::Socks5(
                "socks5://u:v@127.0.0.1:1080".parse().unwrap(),
                Some(("u".into(), "v".into()))
            )
        );
        assert!(matches!(
            Route::of(&config_with_proxy(Some("https://proxy.corp:443"))).unwrap(),
            Route::Https(..)
        ));
        assert!(Route::of(&config_with_proxy(Some("ftp://proxy.corp:21"))).is_err());
    }

    #[test]
    fn messages_leave_the_proxy_credentials_out() {
        let p: Uri = "http://ops:secret@proxy.corp:3128".parse().unwrap();
        assert_eq!(redact(&p), "http://proxy.corp:3128");
        let p: Uri = "http://proxy.corp:3128".parse().unwrap();
        assert!(redact(&p).starts_with("http://proxy.corp:3128"));
    }

    #[tokio::test]
    async fn a_client_through_a_proxy_that_refuses_fails_instead_of_going_direct() {
        // A port with nothing listening: the proxy refuses, so a client that honours it fails
        // (one that ignored it would try 10.0.0.1 directly).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = config_with_proxy(Some(&format!("http://127.0.0.1:{port}")));
        let err = dial(&config, "10.0.0.1", 6443).await.unwrap_err();
        let text = format!("{err}");
        assert!(
            text.contains("through the proxy http://127.0.0.1:"),
            "{text}"
        );
    }
}
