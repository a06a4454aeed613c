//! Certificates that neither cert-manager nor a `kubernetes.io/tls` Secret lists: the
//! `caBundle` of admission webhooks, APIServices and CRD conversion webhooks (and whether it
//! verifies what their Service serves), the Secrets Ingresses name, the API server's serving
//! certificate, the kubeconfig user's client certificate and PEM certificates in Opaque
//! Secrets. Each source module reads one kind of object into [`Entry`] rows carrying a
//! [`Found`]; grading them is [`crate::evaluate::evaluate`]'s job, the same for every command.
//!
//! A source that cannot be read (LIST forbidden, API not served) becomes one `UNKNOWN` row with
//! a hint, never an error: the other sources are still reported.

pub mod apiserver;
pub mod apiservice;
pub mod crd;
pub mod ingress;
pub mod kubeconfig;
pub mod opaque;
pub mod selection;
pub mod serving;
pub mod webhook;

use std::fmt::Debug;

use kube::api::{Api, ListParams};
use serde::de::DeserializeOwned;
use shared::cluster::NamespaceScope;

use crate::findings::reached::Reached;
use crate::findings::{Finding, Material, Role, Severity};
use crate::model::{Entry, Manager, Origin};

pub use selection::Selection;

/// What a source found, beyond a Secret: the kind of material, its bytes (when it is not the
/// Secret's `tls.crt`/`tls.key`/`ca.crt`) and the facts it is judged with.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// What the material is: decides which checks apply.
    pub role: Role,
    /// The certificate(s), PEM; `None`: the Secret's `tls.crt` (and `tls.key`, `ca.crt`).
    pub crt: Option<Vec<u8>>,
    /// Its name in messages (`caBundle`, `client-certificate-data`, a Secret key, ...).
    pub crt_label: String,
    /// The private key, PEM, if the source has one.
    pub key: Option<Vec<u8>>,
    /// Its name in messages.
    pub key_label: String,
    /// CA certificates (PEM) to verify the certificate against.
    pub anchors: Option<Vec<u8>>,
    /// Names clients reach the certificate's server by; each must be covered by a SAN.
    pub hosts: Vec<String>,
    /// Where the hosts come from (`Ingress shop/web`), for messages.
    pub hosts_from: String,
    /// For a CA bundle: what its consumer reaches.
    pub reached: Option<Reached>,
    /// Findings read off the object itself (e.g. `insecureSkipTLSVerify`).
    pub notes: Vec<Finding>,
    /// When set, the source could not be read: this (Unknown) finding is the whole verdict.
    pub unreadable: Option<Finding>,
    /// The finding when the Secret this row names does not exist (instead of the generic one).
    pub missing: Option<Finding>,
    /// How to renew it, for the expiry hints.
    pub renew_hint: Option<String>,
    /// An empty CA bundle is fine (a URL the API server verifies with its system roots).
    pub system_roots: bool,
}

impl Found {
    /// Does the source bring its own bytes (rather than judge the Secret the row names)?
    pub fn own_material(&self) -> bool {
        self.crt.is_some() || self.role != Role::Serving
    }

    /// The material to judge: its own bytes, or the Secret's.
    pub fn material<'a>(&'a self, entry: &'a Entry) -> Material<'a> {
        let labels = |m: Material<'a>| Material {
            role: self.role,
            crt_label: (!self.crt_label.is_empty()).then_some(self.crt_label.as_str()),
            key_label: (!self.key_label.is_empty()).then_some(self.key_label.as_str()),
            renew_hint: self.renew_hint.as_deref(),
            system_roots: self.system_roots,
            ..m
        };
        if self.own_material() {
            labels(Material {
                tls_crt: self.crt.as_deref(),
                tls_key: self.key.as_deref(),
                ca_crt: self.anchors.as_deref(),
                ..Default::default()
            })
        } else {
            labels(Material {
                tls_crt: entry.data("tls.crt"),
                tls_key: entry.data("tls.key"),
                ca_crt: entry.data("ca.crt"),
                ..Default::default()
            })
        }
    }
}

/// A row for a source: cluster-scoped rows have namespace `-` and no Secret.
pub fn row(origin: Origin, namespace: &str, name: String, secret: &str, found: Found) -> Entry {
    Entry {
        namespace: namespace.to_string(),
        name,
        secret_name: secret.to_string(),
        config_name: None,
        manager: Manager::Unmanaged,
        origin,
        certificate: None,
        secret: None,
        found: Some(Box::new(found)),
    }
}

/// The namespace column of cluster-scoped rows.
pub const CLUSTER: &str = "-";

/// The UNKNOWN row for a source that could not be read.
pub fn unreadable(origin: Origin, what: &str, message: String, hint: String) -> Entry {
    row(
        origin,
        CLUSTER,
        what.to_string(),
        CLUSTER,
        Found {
            unreadable: Some(Finding {
                severity: Severity::Unknown,
                check: "source",
                message,
                hint: Some(hint),
            }),
            ..Default::default()
        },
    )
}

/// Lists `api` with `lp`; a failure (forbidden, not served, unreachable) becomes the UNKNOWN
/// row for `resource` (`ingresses.networking.k8s.io`).
pub async fn list_or_unknown<K>(
    api: Api<K>,
    lp: &ListParams,
    origin: Origin,
    resource: &str,
    scope: &str,
) -> Result<Vec<K>, Entry>
where
    K: Clone + DeserializeOwned + Debug,
{
    match api.list(lp).await {
        Ok(list) => Ok(list.items),
        Err(e) => Err(list_failure(origin, resource, scope, &e)),
    }
}

/// The UNKNOWN row for a failed LIST of `resource` in `scope`.
pub fn list_failure(origin: Origin, resource: &str, scope: &str, e: &kube::Error) -> Entry {
    let (message, hint) = match e {
        kube::Error::Api(s) if s.code == 403 => (
            format!("cannot list {resource} in {scope}: forbidden"),
            format!(
                "grant list on {resource} (`kubectl certs rbac --cluster-role` prints the rules), or leave the source out with --source"
            ),
        ),
        kube::Error::Api(s) if s.code == 404 => (
            format!("cannot list {resource}: the API is not served by this cluster"),
            "leave the source out with --source".to_string(),
        ),
        other => (
            format!("cannot list {resource} in {scope}: {other}"),
            "check the connection and retry".to_string(),
        ),
    };
    let plural = resource.split('.').next().unwrap_or(resource);
    unreadable(origin, &format!("{plural}/*"), message, hint)
}

/// Where the new sources read from.
pub struct Context<'a> {
    /// The cluster.
    pub client: &'a kube::Client,
    /// The client configuration (the API server's address, CA and client certificate).
    pub kube_config: Option<&'a kube::Config>,
    /// The namespace scope (namespaced sources only; cluster-scoped ones are read whole).
    pub scope: &'a NamespaceScope,
    /// `-l`: applied to every LIST.
    pub selector: Option<&'a str>,
    /// The kubeconfig user's name (the `kubeconfig` row's name).
    pub kubeconfig_user: Option<&'a str>,
}

impl Context<'_> {
    /// ListParams with the selector.
    pub fn list_params(&self) -> ListParams {
        match self.selector {
            Some(sel) => ListParams::default().labels(sel),
            None => ListParams::default(),
        }
    }
}

/// Reads every selected source other than Certificates and TLS Secrets, concurrently.
pub async fn collect(ctx: &Context<'_>, selection: &Selection) -> Vec<Entry> {
    let want = |o: Origin| selection.wants(o);
    let (webhooks, apiservices, crds, ingresses, apiserver, kubeconfig, opaque) = futures::join!(
        async {
            if want(Origin::Webhook) {
                webhook::collect(ctx).await
            } else {
                Vec::new()
            }
        },
        async {
            if want(Origin::ApiService) {
                apiservice::collect(ctx).await
            } else {
                Vec::new()
            }
        },
        async {
            if want(Origin::CrdConversion) {
                crd::collect(ctx).await
            } else {
                Vec::new()
            }
        },
        async {
            if want(Origin::Ingress) {
                ingress::collect(ctx).await
            } else {
                Vec::new()
            }
        },
        async {
            if want(Origin::ApiServer) {
                apiserver::collect(ctx).await
            } else {
                Vec::new()
            }
        },
        async {
            if want(Origin::Kubeconfig) {
                kubeconfig::collect(ctx)
            } else {
                Vec::new()
            }
        },
        async {
            if selection.opaque() {
                opaque::collect(ctx).await
            } else {
                Vec::new()
            }
        },
    );
    let mut out = Vec::new();
    for part in [
        webhooks,
        apiservices,
        crds,
        ingresses,
        apiserver,
        kubeconfig,
        opaque,
    ] {
        out.extend(part);
    }
    out
}

/// PEM text of DER certificates.
pub fn pem_of(ders: &[Vec<u8>]) -> Vec<u8> {
    use base64::Engine as _;
    let mut out = String::new();
    for der in ders {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out.into_bytes()
}

/// Resolves NAMES the way `check NAME`/`validate NAME` take them: a source row's name
/// (`validatingwebhookconfiguration/CFG/WEBHOOK`, `apiservice/NAME`, `ingress/NAME/SECRET`,
/// `apiserver/HOST:PORT`, `kubeconfig/USER`, `SECRET/KEY` of an Opaque Secret) is read from
/// its source; any other name is a Certificate, Secret or config name
/// ([`crate::model::resolve`]). Order is kept.
pub async fn resolve(
    ctx: &Context<'_>,
    config: &shared::config::Config,
    names: &[String],
) -> anyhow::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for name in names {
        let source = selection::origin_of_name(name);
        let found = match source {
            None => {
                out.extend(
                    crate::model::resolve(
                        ctx.client,
                        config,
                        ctx.scope,
                        std::slice::from_ref(name),
                    )
                    .await?,
                );
                continue;
            }
            Some(Origin::Secret) => opaque::find(ctx, name).await?,
            Some(origin) => {
                let one = Selection::only(origin);
                collect(ctx, &one)
                    .await
                    .into_iter()
                    .find(|e| &e.name == name)
            }
        };
        match found {
            Some(e) => out.push(e),
            None => {
                return Err(shared::Error::NotFound {
                    kind: "certificate",
                    name: name.clone(),
                    namespace: None,
                    suggestions: Vec::new(),
                    list_hint: Some(format!(
                        "`kubectl certs list --source {}` shows the names",
                        source.map(Origin::as_str).unwrap_or("secret")
                    )),
                }
                .into());
            }
        }
    }
    Ok(out)
}

/// The kubeconfig user a connection authenticates as (`--user`, else the context's user).
fn user_name(
    global: &shared::cli::GlobalArgs,
    conn: &shared::cluster::Connection,
) -> Option<String> {
    if let Some(user) = &global.cluster.user {
        return Some(user.clone());
    }
    let context = conn.kubeconfig.context.as_deref()?;
    conn.kubeconfig
        .kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context)?
        .context
        .as_ref()?
        .user
        .clone()
}

/// The pieces a command's connection gives the sources: the client configuration (the API
/// server's address and CA, the client certificate) and the user's name.
async fn connection_facts(
    global: &shared::cli::GlobalArgs,
    conn: &shared::cluster::Connection,
) -> (Option<kube::Config>, Option<String>) {
    let config = global.cluster.client_config(&conn.kubeconfig).await.ok();
    (config, user_name(global, conn))
}

/// [`collect`] for a command's connection.
pub async fn collect_for(
    global: &shared::cli::GlobalArgs,
    conn: &shared::cluster::Connection,
    scope: &NamespaceScope,
    selector: Option<&str>,
    selection: &Selection,
) -> Vec<Entry> {
    let (kube_config, user) = connection_facts(global, conn).await;
    let ctx = Context {
        client: &conn.client,
        kube_config: kube_config.as_ref(),
        scope,
        selector,
        kubeconfig_user: user.as_deref(),
    };
    collect(&ctx, selection).await
}

/// [`resolve`] for a command's connection.
pub async fn resolve_for(
    global: &shared::cli::GlobalArgs,
    conn: &shared::cluster::Connection,
    config: &shared::config::Config,
    scope: &NamespaceScope,
    names: &[String],
) -> anyhow::Result<Vec<Entry>> {
    if names.iter().all(|n| selection::origin_of_name(n).is_none()) {
        return crate::model::resolve(&conn.client, config, scope, names).await;
    }
    let (kube_config, user) = connection_facts(global, conn).await;
    let ctx = Context {
        client: &conn.client,
        kube_config: kube_config.as_ref(),
        scope,
        selector: None,
        kubeconfig_user: user.as_deref(),
    };
    resolve(&ctx, config, names).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(Status::failure("nope", "Reason").with_code(code).boxed())
    }

    #[test]
    fn a_failed_list_is_an_unknown_row_with_a_hint() {
        let forbidden = list_failure(
            Origin::Webhook,
            "validatingwebhookconfigurations.admissionregistration.k8s.io",
            "the cluster",
            &api_error(403),
        );
        assert_eq!(forbidden.name, "validatingwebhookconfigurations/*");
        let a =
            crate::evaluate::evaluate(&forbidden, &[], crate::findings::Thresholds::default(), 0);
        assert_eq!(a.worst(), Severity::Unknown);
        assert!(a.findings[0].message.contains("forbidden"));
        assert!(
            a.findings[0]
                .hint
                .as_deref()
                .is_some_and(|h| h.contains("kubectl certs rbac --cluster-role"))
        );
        let unserved = list_failure(
            Origin::Ingress,
            "ingresses.networking.k8s.io",
            "namespace x",
            &api_error(404),
        );
        let f = unserved.found.unwrap().unreadable.unwrap();
        assert!(f.message.contains("not served"), "{}", f.message);
    }

    #[test]
    fn pem_of_round_trips_through_the_parser() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a.example".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let pem = pem_of(&[cert.der().to_vec(), cert.der().to_vec()]);
        let (certs, problems) = crate::findings::parse_certs(&pem);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[0].der, cert.der().to_vec());
    }
}
