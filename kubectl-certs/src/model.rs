//! The cluster's certificates: cert-manager Certificates and TLS Secrets, fetched with a
//! (paged) LIST per resource type and joined, plus the config's named certificates.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::Value;
use shared::Error;
use shared::cluster::NamespaceScope;
use shared::config::Config;
use shared::paging::{PageSink, list_paged};

use crate::findings::{Expectations, Material};
use crate::scan::{Joiner, sort_key};

/// The Secret type of TLS Secrets.
pub const TLS_TYPE: &str = "kubernetes.io/tls";
/// The annotation the seed used by mistake (it does nothing on a Certificate).
pub const RENEW_BEFORE_ANNOTATION: &str = "cert-manager.io/renew-before";

/// cert-manager.io/v1 Certificate.
pub fn certificate_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "cert-manager.io",
        "v1",
        "Certificate",
    ))
}

/// cert-manager.io/v1 CertificateRequest.
pub fn request_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "cert-manager.io",
        "v1",
        "CertificateRequest",
    ))
}

/// An API for a dynamic resource in a scope.
pub fn dyn_api(client: &kube::Client, ar: &ApiResource, ns: Option<&str>) -> Api<DynamicObject> {
    match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    }
}

/// A typed API in a scope.
pub fn api<K>(client: &kube::Client, ns: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// A condition of a Certificate's status.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Condition {
    /// `True`/`False`/`Unknown`.
    pub status: String,
    /// Reason.
    pub reason: String,
    /// Message.
    pub message: String,
    /// observedGeneration, if set.
    #[serde(skip)]
    pub observed_generation: Option<i64>,
}

/// The parts of a Certificate the commands use.
#[derive(Debug, Clone)]
pub struct CertificateView {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// spec.secretName.
    pub secret_name: String,
    /// `Kind/name` of spec.issuerRef.
    pub issuer: String,
    /// spec.issuerRef.name.
    pub issuer_name: String,
    /// The Ready condition.
    pub ready: Option<Condition>,
    /// The Issuing condition.
    pub issuing: Option<Condition>,
    /// status.revision.
    pub revision: Option<i64>,
    /// metadata.generation.
    pub generation: Option<i64>,
    /// What the spec expects of the Secret.
    pub expect: Expectations,
    /// The whole object.
    pub object: DynamicObject,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Finds a condition by type in a status.conditions array.
pub fn condition(data: &Value, type_: &str) -> Option<Condition> {
    data.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| Condition {
            status: c["status"].as_str().unwrap_or_default().to_string(),
            reason: c["reason"].as_str().unwrap_or_default().to_string(),
            message: c["message"].as_str().unwrap_or_default().to_string(),
            observed_generation: c["observedGeneration"].as_i64(),
        })
}

impl CertificateView {
    /// Reads a Certificate object.
    pub fn from_object(obj: DynamicObject) -> Self {
        let d = &obj.data;
        let kind = d
            .pointer("/spec/issuerRef/kind")
            .and_then(Value::as_str)
            .unwrap_or("Issuer");
        let issuer_name = d
            .pointer("/spec/issuerRef/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let annotations = obj.metadata.annotations.clone().unwrap_or_default();
        CertificateView {
            namespace: obj.metadata.namespace.clone().unwrap_or_default(),
            name: obj.metadata.name.clone().unwrap_or_default(),
            secret_name: d
                .pointer("/spec/secretName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            issuer: format!("{kind}/{issuer_name}"),
            issuer_name,
            ready: condition(d, "Ready"),
            issuing: condition(d, "Issuing"),
            revision: d.pointer("/status/revision").and_then(Value::as_i64),
            generation: obj.metadata.generation,
            expect: Expectations {
                dns_names: strings(&d["spec"]["dnsNames"]),
                ip_addresses: strings(&d["spec"]["ipAddresses"]),
                renew_before: d
                    .pointer("/spec/renewBefore")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                renew_before_annotation: annotations.get(RENEW_BEFORE_ANNOTATION).cloned(),
                ..Default::default()
            },
            object: obj,
        }
    }

    /// `True`, `False (Reason)`, or `Unknown`.
    pub fn ready_text(&self) -> String {
        match &self.ready {
            Some(c) if c.status == "True" => "True".into(),
            Some(c) => format!("{} ({})", c.status, c.reason),
            None => "Unknown".into(),
        }
    }
}

/// What issues and renews a certificate (the `issuer/method` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Manager {
    /// A cert-manager Certificate.
    CertManager,
    /// Issued from Vault/OpenBao (per the config).
    Vault,
    /// Nothing manages it (a TLS Secret made by hand, a webhook's caBundle, ...).
    Unmanaged,
}

impl Manager {
    /// Text for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Manager::CertManager => "cert-manager",
            Manager::Vault => "vault",
            Manager::Unmanaged => "secret",
        }
    }
}

/// Where in the cluster (or the kubeconfig) a certificate was found: the SOURCE column of
/// `list` and `check`, and what `--source` filters on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, clap::ValueEnum,
)]
pub enum Origin {
    /// A cert-manager Certificate (and the Secret it writes).
    #[serde(rename = "certificate")]
    #[value(name = "certificate")]
    Certificate,
    /// A `kubernetes.io/tls` Secret no Certificate claims (or, with `--include-opaque`, an
    /// Opaque Secret holding PEM certificates).
    #[serde(rename = "secret")]
    #[value(name = "secret")]
    Secret,
    /// The caBundle of a Validating/MutatingWebhookConfiguration's webhook.
    #[serde(rename = "webhook")]
    #[value(name = "webhook")]
    Webhook,
    /// The caBundle of an APIService.
    #[serde(rename = "apiservice")]
    #[value(name = "apiservice")]
    ApiService,
    /// The caBundle of a CustomResourceDefinition's conversion webhook.
    #[serde(rename = "crd-conversion")]
    #[value(name = "crd-conversion")]
    CrdConversion,
    /// A Secret named by an Ingress's `spec.tls[].secretName`.
    #[serde(rename = "ingress")]
    #[value(name = "ingress")]
    Ingress,
    /// The API server's serving certificate (a TLS handshake to the kubeconfig's server).
    #[serde(rename = "apiserver")]
    #[value(name = "apiserver")]
    ApiServer,
    /// The kubeconfig user's client certificate (`client-certificate-data`).
    #[serde(rename = "kubeconfig")]
    #[value(name = "kubeconfig")]
    Kubeconfig,
    /// A kubeconfig context of a fleet (`--context a,b`) that could not be read: its one
    /// UNKNOWN row (not a `--source`).
    #[serde(rename = "context")]
    #[value(skip)]
    Context,
}

impl Origin {
    /// Text for tables (the same word as in JSON and `--source`).
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Certificate => "certificate",
            Origin::Secret => "secret",
            Origin::Webhook => "webhook",
            Origin::ApiService => "apiservice",
            Origin::CrdConversion => "crd-conversion",
            Origin::Ingress => "ingress",
            Origin::ApiServer => "apiserver",
            Origin::Kubeconfig => "kubeconfig",
            Origin::Context => "context",
        }
    }
}

/// One certificate: a Certificate and/or a TLS Secret.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Namespace.
    pub namespace: String,
    /// The name users type (Certificate name, else Secret name).
    pub name: String,
    /// The Secret's name.
    pub secret_name: String,
    /// The config's name for it, if it has one.
    pub config_name: Option<String>,
    /// What issues it.
    pub manager: Manager,
    /// Where it was found (the SOURCE column).
    pub origin: Origin,
    /// The Certificate, if any.
    pub certificate: Option<CertificateView>,
    /// The Secret, if it exists.
    pub secret: Option<Secret>,
    /// What a source other than Certificates and TLS Secrets found: the kind of material, its
    /// bytes and the facts it is judged with (see [`crate::sources::Found`]).
    pub found: Option<Box<crate::sources::Found>>,
}

impl Entry {
    /// A Secret key's bytes.
    pub fn data(&self, key: &str) -> Option<&[u8]> {
        self.secret
            .as_ref()?
            .data
            .as_ref()?
            .get(key)
            .map(|b| b.0.as_slice())
    }

    /// The material to judge: the Secret's, or what a source found.
    pub fn material(&self) -> Material<'_> {
        match &self.found {
            Some(f) => f.material(self),
            None => Material {
                tls_crt: self.data("tls.crt"),
                tls_key: self.data("tls.key"),
                ca_crt: self.data("ca.crt"),
                ..Default::default()
            },
        }
    }

    /// The Certificate's expectations (empty without one), and the hosts a source expects.
    pub fn expectations(&self) -> Expectations {
        let mut e = self
            .certificate
            .as_ref()
            .map(|c| c.expect.clone())
            .unwrap_or_default();
        if let Some(f) = &self.found {
            e.hosts.clone_from(&f.hosts);
            e.hosts_from.clone_from(&f.hosts_from);
        }
        e
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Issuer/method text.
    pub fn issuer_text(&self) -> String {
        match (&self.certificate, self.manager) {
            (Some(c), _) => c.issuer.clone(),
            (None, s) => s.as_str().to_string(),
        }
    }
}

/// Everything in a scope.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Certificates (empty when cert-manager's CRD is not installed).
    pub certificates: Vec<CertificateView>,
    /// TLS Secrets.
    pub secrets: Vec<Secret>,
    /// True when the Certificate CRD is not served.
    pub no_cert_manager: bool,
}

/// Lists Certificates and TLS Secrets in pages of kubectl's default size, and with a label
/// `selector` the partners of what it selects ([`load_paged`]).
pub async fn load(
    client: &kube::Client,
    scope: &NamespaceScope,
    selector: Option<&str>,
) -> Result<Inventory, Error> {
    load_paged(client, scope, selector, shared::paging::DEFAULT_CHUNK_SIZE).await
}

/// Lists Certificates and TLS Secrets, in pages of `chunk_size` ([`shared::paging`]), and
/// with a label `selector` the partners of what it selects. Holds every object listed: for
/// `list`/`check` over a whole cluster, [`crate::scan::scan`] streams them instead.
pub async fn load_paged(
    client: &kube::Client,
    scope: &NamespaceScope,
    selector: Option<&str>,
    chunk_size: u32,
) -> Result<Inventory, Error> {
    let ns = scope.as_option();
    let mut lp = ListParams::default();
    if let Some(sel) = selector {
        lp = lp.labels(sel);
    }
    let certs = dyn_api(client, &certificate_resource(), ns);
    let secrets: Api<Secret> = api(client, ns);
    let secret_lp = lp.clone().fields(&format!("type={TLS_TYPE}"));
    let (mut cert_objects, mut secret_objects) = (Vec::new(), Vec::new());
    let (certs, secrets) = futures::join!(
        list_paged(&certs, &lp, chunk_size, &mut cert_objects),
        list_paged(&secrets, &secret_lp, chunk_size, &mut secret_objects)
    );
    let mut inv = Inventory::default();
    match certs {
        Ok(_) => {
            inv.certificates = cert_objects
                .into_iter()
                .map(CertificateView::from_object)
                .collect()
        }
        Err(e) if matches!(e.kube_error(), kube::Error::Api(s) if s.code == 404) => {
            inv.no_cert_manager = true
        }
        Err(e) => {
            return Err(e.into_error(format!(
                "list certificates.cert-manager.io in {}",
                scope.describe()
            )));
        }
    }
    secrets.map_err(|e| e.into_error(format!("list secrets in {}", scope.describe())))?;
    inv.secrets = secret_objects;
    if selector.is_some() {
        add_partners(client, scope, &mut inv, chunk_size).await?;
    }
    Ok(inv)
}

/// Keeps the Secrets whose key is in `wanted` of a paged LIST.
struct KeepSecrets<'a> {
    wanted: &'a HashSet<(String, String)>,
    kept: Vec<Secret>,
}

impl PageSink<Secret> for KeepSecrets<'_> {
    fn page(&mut self, items: Vec<Secret>) {
        let wanted = self.wanted;
        self.kept.extend(
            items
                .into_iter()
                .filter(|s| wanted.contains(&secret_key(s))),
        );
    }

    fn restart(&mut self) {
        self.kept.clear();
    }
}

fn secret_key(s: &Secret) -> (String, String) {
    (
        s.metadata.namespace.clone().unwrap_or_default(),
        s.metadata.name.clone().unwrap_or_default(),
    )
}

/// A label selector picks Certificates and Secrets separately, but a Certificate's labels are
/// rarely on its Secret (cert-manager copies only `spec.secretTemplate`), nor the other way
/// round. Adds the partner of each selected object, so that a selected certificate is judged
/// with its Secret and its Certificate, as `validate NAME` judges it. At most one more LIST of
/// each type, and only when a partner is missing.
async fn add_partners(
    client: &kube::Client,
    scope: &NamespaceScope,
    inv: &mut Inventory,
    chunk_size: u32,
) -> Result<(), Error> {
    let ns = scope.as_option();
    let have: HashSet<(String, String)> = inv.secrets.iter().map(secret_key).collect();
    let claimed = |inv: &Inventory| -> HashSet<(String, String)> {
        inv.certificates
            .iter()
            .map(|c| (c.namespace.clone(), c.secret_name.clone()))
            .collect()
    };
    let selected = claimed(inv);
    if !inv.no_cert_manager && have.iter().any(|k| !selected.contains(k)) {
        let mut all: Vec<DynamicObject> = Vec::new();
        list_paged(
            &dyn_api(client, &certificate_resource(), ns),
            &ListParams::default(),
            chunk_size,
            &mut all,
        )
        .await
        .map_err(|e| {
            e.into_error(format!(
                "list certificates.cert-manager.io in {}",
                scope.describe()
            ))
        })?;
        let names: HashSet<(String, String)> = inv
            .certificates
            .iter()
            .map(|c| (c.namespace.clone(), c.name.clone()))
            .collect();
        inv.certificates.extend(
            all.into_iter()
                .map(CertificateView::from_object)
                .filter(|c| {
                    have.contains(&(c.namespace.clone(), c.secret_name.clone()))
                        && !names.contains(&(c.namespace.clone(), c.name.clone()))
                }),
        );
    }
    let claimed = claimed(inv);
    let wanted: HashSet<(String, String)> = claimed.difference(&have).cloned().collect();
    if !wanted.is_empty() {
        // Every TLS Secret goes past, but only the partners are kept.
        let mut partners = KeepSecrets {
            wanted: &wanted,
            kept: Vec::new(),
        };
        list_paged(
            &api::<Secret>(client, ns),
            &ListParams::default().fields(&format!("type={TLS_TYPE}")),
            chunk_size,
            &mut partners,
        )
        .await
        .map_err(|e| e.into_error(format!("list secrets in {}", scope.describe())))?;
        inv.secrets.extend(partners.kept);
    }
    Ok(())
}

/// Joins an inventory into entries: one per Certificate, one per TLS Secret no Certificate
/// claims, and (with `include_missing`) the config's named certificates whose Secret is absent.
/// The join is [`crate::scan::Joiner`]'s, the one `list` and `check` stream through.
pub fn entries(
    inv: &Inventory,
    config: &Config,
    scope: &NamespaceScope,
    include_missing: bool,
) -> Vec<Entry> {
    let mut joiner = Joiner::new(inv.certificates.clone(), config, scope, include_missing);
    let mut out = joiner.join(inv.secrets.clone());
    out.extend(joiner.finish());
    out.sort_by_cached_key(sort_key);
    out
}

/// Finds NAME among entries: config name, Certificate name, Secret name.
pub fn find<'a>(entries: &'a [Entry], name: &str) -> Option<&'a Entry> {
    entries
        .iter()
        .find(|e| e.config_name.as_deref() == Some(name))
        .or_else(|| entries.iter().find(|e| e.name == name))
        .or_else(|| entries.iter().find(|e| e.secret_name == name))
}

/// The not-found error for NAME, with close names.
pub fn not_found(entries: &[Entry], name: &str, scope: &NamespaceScope) -> Error {
    let mut names: Vec<&str> = Vec::new();
    for e in entries {
        names.push(&e.name);
        names.push(&e.secret_name);
        if let Some(c) = &e.config_name {
            names.push(c);
        }
    }
    Error::NotFound {
        kind: "certificate",
        name: name.to_string(),
        namespace: None,
        suggestions: shared::suggest::close_matches(name, names),
        list_hint: Some(format!(
            "`kubectl certs list` shows the certificates in {}",
            scope.describe()
        )),
    }
}

/// Resolves names in one namespace. A Secret that is not of type kubernetes.io/tls is fetched
/// with a GET so that the error can say what is wrong with it.
pub async fn resolve(
    client: &kube::Client,
    config: &Config,
    scope: &NamespaceScope,
    names: &[String],
) -> Result<Vec<Entry>, anyhow::Error> {
    let inv = load(client, scope, None).await?;
    let all = entries(&inv, config, scope, true);
    let mut out = Vec::new();
    for name in names {
        if let Some(e) = find(&all, name) {
            out.push(e.clone());
            continue;
        }
        if let NamespaceScope::One(ns) = scope {
            let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
            if let Some(s) = secrets
                .get_opt(name)
                .await
                .map_err(|e| Error::kube(format!("get secret {name} in namespace {ns}"), e))?
            {
                let kind = s.type_.clone().unwrap_or_else(|| "Opaque".into());
                if !s.data.as_ref().is_some_and(|d| d.contains_key("tls.crt")) {
                    return Err(Error::invalid(
                        format!("Secret {ns}/{name} (type {kind}) has no tls.crt: it is not a TLS certificate"),
                        "TLS Secrets hold tls.crt and tls.key; `kubectl certs list` shows the certificates",
                    )
                    .into());
                }
                out.push(Entry {
                    namespace: ns.clone(),
                    name: name.clone(),
                    secret_name: name.clone(),
                    config_name: None,
                    manager: Manager::Unmanaged,
                    origin: Origin::Secret,
                    certificate: None,
                    secret: Some(s),
                    found: None,
                });
                continue;
            }
        }
        return Err(not_found(&all, name, scope).into());
    }
    Ok(out)
}
