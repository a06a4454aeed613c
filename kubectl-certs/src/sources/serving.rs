//! What a caBundle's consumer reaches: the API server calls a webhook, an aggregated API or a
//! conversion webhook at a Service (`clientConfig.service`, port 443 by default) or at a URL.
//! We read the chain served there the way `--endpoint` does (a port-forward to a ready pod
//! behind the Service, or a direct TLS handshake to the URL's host) and leave judging it to
//! [`crate::findings::reached`].
//!
//! A Service with no ready endpoint is [`Reached::Unreachable`]: critical when the API
//! server's calls then fail (a webhook with `failurePolicy: Fail`, the default; an
//! APIService; a conversion webhook), a warning when they are ignored (`failurePolicy:
//! Ignore`). A check that cannot be made (forbidden, no TLS) is [`Reached::NotChecked`]:
//! unknown.

use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Endpoints;
use kube::Api;

use crate::findings::Severity;
use crate::findings::reached::Reached;
use crate::served::{self, Endpoint};

/// How long reading one served chain may take.
const TIMEOUT: Duration = Duration::from_secs(15);
/// How many serving checks run at once.
pub const PARALLEL: usize = 4;

/// Where the API server connects for a caBundle's consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    /// `clientConfig.service` (`spec.service` of an APIService).
    Service {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The Service port (443 when unset).
        port: u16,
    },
    /// `clientConfig.url`: the host and port of an `https://` URL.
    Url {
        /// Host.
        host: String,
        /// Port (443 when the URL has none).
        port: u16,
    },
}

impl Server {
    /// A Service reference; `port` defaults to 443.
    pub fn service(namespace: &str, name: &str, port: Option<i32>) -> Self {
        Server::Service {
            namespace: namespace.to_string(),
            name: name.to_string(),
            port: port.and_then(|p| u16::try_from(p).ok()).unwrap_or(443),
        }
    }

    /// A URL reference (`https://host[:port]/path`); `None` when it is not a URL with a host.
    pub fn url(url: &str) -> Option<Self> {
        let parsed = reqwest::Url::parse(url).ok()?;
        Some(Server::Url {
            host: parsed.host_str()?.trim_matches(['[', ']']).to_string(),
            port: parsed.port_or_known_default().unwrap_or(443),
        })
    }

    /// `service NS/NAME:PORT` or `https://HOST:PORT`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Server::Service {
                namespace,
                name,
                port,
            } => format!("service {namespace}/{name}:{port}"),
            Server::Url { host, port } => format!("https://{host}:{port}"),
        }
    }

    /// The name the API server verifies the certificate against.
    pub fn server_name(&self) -> String {
        match self {
            Server::Service {
                namespace, name, ..
            } => format!("{name}.{namespace}.svc"),
            Server::Url { host, .. } => host.clone(),
        }
    }
}

/// Reads what `server` serves; `unreachable` is the severity when nothing serves it.
pub async fn reach(client: &kube::Client, server: &Server, unreachable: Severity) -> Reached {
    let endpoint = server.describe();
    let server_name = server.server_name();
    let fetched = match server {
        Server::Service {
            namespace,
            name,
            port,
        } => {
            let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), namespace);
            match endpoints.get_opt(name).await {
                Ok(None) => {
                    return Reached::Unreachable {
                        endpoint,
                        reason: "the Service does not exist (no Endpoints object)".into(),
                        severity: unreachable,
                    };
                }
                Ok(Some(ep)) if !has_ready_address(&ep) => {
                    return Reached::Unreachable {
                        endpoint,
                        reason: "the Service has no ready endpoint".into(),
                        severity: unreachable,
                    };
                }
                Ok(Some(_)) => {}
                Err(e) => {
                    return Reached::NotChecked {
                        endpoint,
                        reason: format!("get endpoints {namespace}/{name}: {e}"),
                    };
                }
            }
            let target = match format!("svc/{name}").parse::<shared::portforward::Target>() {
                Ok(t) => t,
                Err(e) => {
                    return Reached::NotChecked {
                        endpoint,
                        reason: format!("{e}"),
                    };
                }
            };
            served::fetch(
                Some(client),
                namespace,
                &Endpoint::Forward {
                    target,
                    port: *port,
                },
                Some(&server_name),
                TIMEOUT,
            )
            .await
        }
        Server::Url { host, port } => {
            served::fetch(
                None,
                "",
                &Endpoint::Direct {
                    host: host.clone(),
                    port: *port,
                },
                Some(&server_name),
                TIMEOUT,
            )
            .await
        }
    };
    match fetched {
        Ok(chain) => Reached::Served {
            endpoint,
            server_name,
            chain,
        },
        Err(e) => Reached::NotChecked {
            endpoint,
            reason: format!("{e:#}"),
        },
    }
}

/// Does the Endpoints object list at least one ready address?
pub fn has_ready_address(ep: &Endpoints) -> bool {
    ep.subsets
        .iter()
        .flatten()
        .any(|s| s.addresses.as_ref().is_some_and(|a| !a.is_empty()))
}

/// Reads what each server serves, a few at a time, keeping the order. `None` entries (no
/// server to reach) stay `None`.
pub async fn reach_all(
    client: &kube::Client,
    servers: Vec<Option<(Server, Severity)>>,
) -> Vec<Option<Reached>> {
    futures::stream::iter(servers)
        .map(|s| async move {
            match s {
                Some((server, severity)) => Some(reach(client, &server, severity).await),
                None => None,
            }
        })
        .buffered(PARALLEL)
        .collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_port_defaults_to_443_and_names_the_svc() {
        let s = Server::service("webhooks", "policy", None);
        assert_eq!(s.describe(), "service webhooks/policy:443");
        assert_eq!(s.server_name(), "policy.webhooks.svc");
        assert_eq!(
            Server::service("a", "b", Some(8443)).describe(),
            "service a/b:8443"
        );
    }

    #[test]
    fn urls_give_host_and_port() {
        assert_eq!(
            Server::url("https://hooks.example.com/validate"),
            Some(Server::Url {
                host: "hooks.example.com".into(),
                port: 443
            })
        );
        assert_eq!(
            Server::url("https://10.0.0.5:9443/x"),
            Some(Server::Url {
                host: "10.0.0.5".into(),
                port: 9443
            })
        );
        assert_eq!(Server::url("not a url"), None);
    }

    #[test]
    fn endpoints_without_addresses_are_not_ready() {
        let empty: Endpoints = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "x"},
            "subsets": [{"notReadyAddresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 443}]}],
        }))
        .unwrap();
        assert!(!has_ready_address(&empty));
        let ready: Endpoints = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "x"},
            "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 443}]}],
        }))
        .unwrap();
        assert!(has_ready_address(&ready));
    }
}

/// One user of a caBundle (a webhook, an APIService, a conversion webhook), as read off its
/// object, before its server is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleUser {
    /// The row name, e.g. `validatingwebhookconfiguration/CFG/WEBHOOK`.
    pub name: String,
    /// The caBundle (PEM; empty when unset).
    pub bundle: Vec<u8>,
    /// Where the API server connects, if anywhere.
    pub server: Option<Server>,
    /// The severity when nothing serves there.
    pub unreachable: Severity,
    /// Findings read off the object (e.g. `insecureSkipTLSVerify`).
    pub notes: Vec<crate::findings::Finding>,
}

/// The rows of caBundle users: each server reached, then one row per user.
pub async fn entries(
    client: &kube::Client,
    origin: crate::model::Origin,
    users: Vec<BundleUser>,
) -> Vec<crate::model::Entry> {
    let servers = users
        .iter()
        .map(|u| u.server.clone().map(|s| (s, u.unreachable)))
        .collect();
    let reached = reach_all(client, servers).await;
    users
        .into_iter()
        .zip(reached)
        .map(|(u, reached)| {
            super::row(
                origin,
                super::CLUSTER,
                u.name,
                super::CLUSTER,
                super::Found {
                    role: crate::findings::Role::CaBundle,
                    system_roots: matches!(u.server, Some(Server::Url { .. })),
                    crt: (!u.bundle.is_empty()).then_some(u.bundle),
                    crt_label: "caBundle".into(),
                    reached,
                    notes: u.notes,
                    renew_hint: Some("replace the caBundle with the current CA (or let cert-manager's cainjector keep it current) before it expires".into()),
                    ..Default::default()
                },
            )
        })
        .collect()
}
