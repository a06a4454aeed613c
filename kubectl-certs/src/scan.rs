//! The certificates of a scope as a stream, for `list` and `check` on clusters with tens of
//! thousands of TLS Secrets: Certificates first (they are few), then the TLS Secrets page by
//! page (`--chunk-size`, see [`shared::paging`]), each Secret joined with the Certificate that
//! claims it into its [`Entry`] and handed on with the rest of its page. A [`Rows`] sink turns
//! every Entry into its output row before the next page is read, so no one holds every Secret.
//!
//! The join is [`Joiner`], the only one: [`crate::model::entries`] runs it over an inventory
//! held in memory, so both paths make the same entries.

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, ListParams};
use shared::Error;
use shared::cluster::NamespaceScope;
use shared::config::{CertificateEntry, Config, IssueMethod};
use shared::paging::{PageSink, list_paged};

use crate::model::{self, CertificateView, Entry, Manager, Origin, TLS_TYPE};

/// `(namespace, name)`.
type Key = (String, String);

/// What a scan saw besides the entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scanned {
    /// The Certificate CRD is not served (cert-manager is not installed).
    pub no_cert_manager: bool,
    /// A LIST's continue token expired and it was read again from the start.
    pub relisted: bool,
}

/// Joins Certificates and TLS Secrets into entries, the Secrets arriving in pages: one entry
/// per Certificate (when its Secret arrives, or at the end without one), one per TLS Secret no
/// Certificate claims, and, with `include_missing`, one per config-named certificate whose
/// Secret is absent.
pub struct Joiner<'a> {
    config: &'a Config,
    scope: &'a NamespaceScope,
    include_missing: bool,
    certificates: Vec<CertificateView>,
    /// The Certificates claiming each Secret (indexes into `certificates`).
    claims: HashMap<Key, Vec<usize>>,
    /// The first config entry for each (namespace, secretName).
    named: HashMap<Key, &'a CertificateEntry>,
    /// Which Certificates got their Secret (in the current listing).
    secret_seen: Vec<bool>,
    /// Config-named Secrets seen (in the current listing).
    named_seen: HashSet<Key>,
}

/// The config's namespace for a config entry.
fn config_ns<'a>(config: &'a Config, e: &'a CertificateEntry) -> &'a str {
    e.namespace.as_deref().unwrap_or(&config.namespace)
}

impl<'a> Joiner<'a> {
    /// A join of `certificates` with Secrets yet to come.
    pub fn new(
        certificates: Vec<CertificateView>,
        config: &'a Config,
        scope: &'a NamespaceScope,
        include_missing: bool,
    ) -> Self {
        let mut claims: HashMap<Key, Vec<usize>> = HashMap::new();
        for (i, c) in certificates.iter().enumerate() {
            claims
                .entry((c.namespace.clone(), c.secret_name.clone()))
                .or_default()
                .push(i);
        }
        let mut named = HashMap::new();
        for c in &config.certificates {
            named
                .entry((config_ns(config, c).to_string(), c.secret_name.clone()))
                .or_insert(c);
        }
        Joiner {
            config,
            scope,
            include_missing,
            secret_seen: vec![false; certificates.len()],
            certificates,
            claims,
            named,
            named_seen: HashSet::new(),
        }
    }

    fn config_name(&self, key: &Key) -> Option<String> {
        self.named.get(key).map(|c| c.name.clone())
    }

    fn certificate_entry(&self, i: usize, secret: Option<Secret>) -> Entry {
        let c = &self.certificates[i];
        let key = (c.namespace.clone(), c.secret_name.clone());
        Entry {
            namespace: c.namespace.clone(),
            name: c.name.clone(),
            secret_name: c.secret_name.clone(),
            config_name: self.config_name(&key),
            manager: Manager::CertManager,
            origin: Origin::Certificate,
            certificate: Some(c.clone()),
            secret,
            found: None,
        }
    }

    /// The entries of one page of Secrets.
    pub fn join(&mut self, secrets: Vec<Secret>) -> Vec<Entry> {
        let mut out = Vec::with_capacity(secrets.len());
        for s in secrets {
            let key = (
                s.metadata.namespace.clone().unwrap_or_default(),
                s.metadata.name.clone().unwrap_or_default(),
            );
            if self.named.contains_key(&key) {
                self.named_seen.insert(key.clone());
            }
            if let Some(claimants) = self.claims.get(&key) {
                let claimants = claimants.clone();
                let (last, others) = claimants.split_last().expect("a claim has a claimant");
                for &i in others {
                    self.secret_seen[i] = true;
                    out.push(self.certificate_entry(i, Some(s.clone())));
                }
                self.secret_seen[*last] = true;
                out.push(self.certificate_entry(*last, Some(s)));
                continue;
            }
            let cfg = self.named.get(&key);
            let manager = match cfg.map(|c| c.method) {
                Some(IssueMethod::Vault) => Manager::Vault,
                _ => Manager::Unmanaged,
            };
            out.push(Entry {
                config_name: cfg.map(|c| c.name.clone()),
                namespace: key.0,
                name: key.1.clone(),
                secret_name: key.1,
                manager,
                origin: Origin::Secret,
                certificate: None,
                secret: Some(s),
                found: None,
            });
        }
        out
    }

    /// The listing of Secrets starts again: forget which were seen.
    pub fn restart(&mut self) {
        self.secret_seen.fill(false);
        self.named_seen.clear();
    }

    /// The entries that need every Secret to have been seen: Certificates whose Secret does
    /// not exist, and (with `include_missing`) config-named certificates whose Secret does not.
    pub fn finish(self) -> Vec<Entry> {
        let mut out: Vec<Entry> = (0..self.certificates.len())
            .filter(|&i| !self.secret_seen[i])
            .map(|i| self.certificate_entry(i, None))
            .collect();
        if !self.include_missing {
            return out;
        }
        // A config-named certificate is present when a Certificate claims its Secret or the
        // Secret was listed; the first config entry for a Secret wins.
        let mut present: HashSet<Key> = self.claims.keys().cloned().collect();
        present.extend(self.named_seen.iter().cloned());
        for c in &self.config.certificates {
            let ns = config_ns(self.config, c);
            if self.scope.as_option().is_some_and(|s| s != ns) {
                continue;
            }
            if !present.insert((ns.to_string(), c.secret_name.clone())) {
                continue;
            }
            let vault = c.method == IssueMethod::Vault;
            out.push(Entry {
                namespace: ns.to_string(),
                name: c.name.clone(),
                secret_name: c.secret_name.clone(),
                config_name: Some(c.name.clone()),
                manager: if vault {
                    Manager::Vault
                } else {
                    Manager::CertManager
                },
                origin: if vault {
                    Origin::Secret
                } else {
                    Origin::Certificate
                },
                certificate: None,
                secret: None,
                found: None,
            });
        }
        out
    }
}

/// The order of `list` and `check`: by namespace and name; for equal names a Certificate's
/// entry first, then a Secret's, then a config-named certificate without a Secret.
pub fn sort_key(e: &Entry) -> (String, String, u8) {
    let rank = match (&e.certificate, &e.secret) {
        (Some(_), _) => 0,
        (None, Some(_)) => 1,
        (None, None) => 2,
    };
    (e.namespace.clone(), e.name.clone(), rank)
}

/// Turns each entry into a row as it arrives (several threads per page when there are
/// cores to spare) and keeps only the rows; [`Rows::finish`] sorts them.
pub struct Rows<R, F> {
    rows: Vec<((String, String, u8), R)>,
    make: F,
}

impl<R, F> Rows<R, F>
where
    R: Send,
    F: Fn(&Entry) -> R + Sync,
{
    /// A sink making rows with `make`.
    pub fn new(make: F) -> Self {
        Rows {
            rows: Vec::new(),
            make,
        }
    }

    /// The rows, in `list`'s order ([`sort_key`]).
    pub fn finish(mut self) -> Vec<R> {
        self.rows.sort_by(|a, b| a.0.cmp(&b.0));
        self.rows.into_iter().map(|(_, r)| r).collect()
    }
}

impl<R, F> PageSink<Entry> for Rows<R, F>
where
    R: Send,
    F: Fn(&Entry) -> R + Sync,
{
    fn page(&mut self, entries: Vec<Entry>) {
        let make = &self.make;
        let one = |e: &Entry| (sort_key(e), make(e));
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if threads < 2 || entries.len() < 64 {
            self.rows.extend(entries.iter().map(one));
            return;
        }
        let per = entries.len().div_ceil(threads);
        std::thread::scope(|s| {
            let parts: Vec<_> = entries
                .chunks(per)
                .map(|part| s.spawn(move || part.iter().map(one).collect::<Vec<_>>()))
                .collect();
            for p in parts {
                self.rows
                    .extend(p.join().expect("row evaluation does not panic"));
            }
        });
    }

    fn restart(&mut self) {
        self.rows.clear();
    }
}

/// Hands Secrets pages to a [`Joiner`] and its entries on to the caller's sink.
struct SecretPages<'j, 'a> {
    joiner: &'j mut Joiner<'a>,
    sink: &'j mut dyn PageSink<Entry>,
}

impl PageSink<Secret> for SecretPages<'_, '_> {
    fn page(&mut self, secrets: Vec<Secret>) {
        let entries = self.joiner.join(secrets);
        self.sink.page(entries);
    }

    /// Everything delivered so far came from Secrets pages (the entries of Certificates
    /// without a Secret come at the end), so the caller forgets all of it. Said on stderr
    /// now, not at the end: the relist takes as long again.
    fn restart(&mut self) {
        relisted_warning("TLS Secrets");
        self.joiner.restart();
        self.sink.restart();
    }
}

fn relisted_warning(what: &str) {
    shared::exit::warn(format!(
        "the {what} changed while they were read in pages and the continue token expired (HTTP 410); read them again from the start"
    ));
}

/// Streams every certificate in scope into `sink` (see the module documentation). With a
/// label `selector`, the selected objects and their partners are read first
/// ([`model::load`]) and handed on as one page: a selection is small, and a partner may come
/// after its object in the LIST. `include_missing`: also the config's named certificates whose
/// Secret does not exist.
pub async fn scan(
    client: &kube::Client,
    scope: &NamespaceScope,
    selector: Option<&str>,
    config: &Config,
    include_missing: bool,
    chunk_size: u32,
    sink: &mut dyn PageSink<Entry>,
) -> Result<Scanned, Error> {
    if selector.is_some() {
        let inv = model::load_paged(client, scope, selector, chunk_size).await?;
        sink.page(model::entries(&inv, config, scope, include_missing));
        return Ok(Scanned {
            no_cert_manager: inv.no_cert_manager,
            relisted: false,
        });
    }
    let ns = scope.as_option();
    let mut scanned = Scanned::default();
    let mut objects: Vec<DynamicObject> = Vec::new();
    let certs = model::dyn_api(client, &model::certificate_resource(), ns);
    match list_paged(&certs, &ListParams::default(), chunk_size, &mut objects).await {
        Ok(s) => scanned.relisted |= s.relisted,
        Err(e) if matches!(e.kube_error(), kube::Error::Api(s) if s.code == 404) => {
            scanned.no_cert_manager = true;
        }
        Err(e) => {
            return Err(e.into_error(format!(
                "list certificates.cert-manager.io in {}",
                scope.describe()
            )));
        }
    }
    if scanned.relisted {
        relisted_warning("Certificates");
    }
    let certificates = objects
        .into_iter()
        .map(CertificateView::from_object)
        .collect();
    let mut joiner = Joiner::new(certificates, config, scope, include_missing);
    let secrets: Api<Secret> = model::api(client, ns);
    let lp = ListParams::default().fields(&format!("type={TLS_TYPE}"));
    let mut pages = SecretPages {
        joiner: &mut joiner,
        sink: &mut *sink,
    };
    let summary = list_paged(&secrets, &lp, chunk_size, &mut pages)
        .await
        .map_err(|e| e.into_error(format!("list secrets in {}", scope.describe())))?;
    scanned.relisted |= summary.relisted;
    sink.page(joiner.finish());
    Ok(scanned)
}

#[cfg(test)]
mod tests {
    //! The streaming join must make exactly the entries, in the same order, that the join
    //! over a whole inventory made before `list`/`check` streamed (kept here as the reference),
    //! whatever the page size, and after a relist.

    use std::collections::{BTreeMap, HashSet};

    use k8s_openapi::api::core::v1::Secret;
    use kube::api::DynamicObject;
    use serde_json::json;
    use shared::cluster::NamespaceScope;
    use shared::config::{CertificateEntry, Config, IssueMethod};
    use shared::paging::PageSink;

    use super::{Joiner, Rows};
    use crate::model::{CertificateView, Entry, Manager, Origin};

    fn certificate(ns: &str, name: &str, secret: &str) -> CertificateView {
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"namespace": ns, "name": name},
            "spec": {"secretName": secret, "issuerRef": {"name": "ca"}}
        }))
        .unwrap();
        CertificateView::from_object(obj)
    }

    fn secret(ns: &str, name: &str) -> Secret {
        serde_json::from_value(json!({
            "metadata": {"namespace": ns, "name": name}, "type": "kubernetes.io/tls",
            "data": {"tls.crt": "", "tls.key": ""}
        }))
        .unwrap()
    }

    fn named(name: &str, ns: Option<&str>, secret: &str, method: IssueMethod) -> CertificateEntry {
        CertificateEntry {
            name: name.into(),
            secret_name: secret.into(),
            method,
            backup: true,
            namespace: ns.map(str::to_string),
            common_name: None,
        }
    }

    /// The join as `model::entries` did it before streaming (2026-12-03), unchanged.
    fn entries_before_streaming(
        certificates: &[CertificateView],
        all_secrets: &[Secret],
        config: &Config,
        scope: &NamespaceScope,
        include_missing: bool,
    ) -> Vec<Entry> {
        let config_ns = |e: &CertificateEntry| -> String {
            e.namespace
                .clone()
                .unwrap_or_else(|| config.namespace.clone())
        };
        let mut secrets: BTreeMap<(String, String), &Secret> = BTreeMap::new();
        for s in all_secrets {
            secrets.insert(
                (
                    s.metadata.namespace.clone().unwrap_or_default(),
                    s.metadata.name.clone().unwrap_or_default(),
                ),
                s,
            );
        }
        let config_for = |ns: &str, secret: &str| {
            config
                .certificates
                .iter()
                .find(|c| config_ns(c) == ns && c.secret_name == secret)
        };
        let mut out = Vec::new();
        let mut claimed = HashSet::new();
        for c in certificates {
            let key = (c.namespace.clone(), c.secret_name.clone());
            claimed.insert(key.clone());
            out.push(Entry {
                namespace: c.namespace.clone(),
                name: c.name.clone(),
                secret_name: c.secret_name.clone(),
                config_name: config_for(&c.namespace, &c.secret_name).map(|e| e.name.clone()),
                manager: Manager::CertManager,
                origin: Origin::Certificate,
                certificate: Some(c.clone()),
                secret: secrets.get(&key).map(|s| (*s).clone()),
                found: None,
            });
        }
        for ((ns, name), s) in &secrets {
            if claimed.contains(&(ns.clone(), name.clone())) {
                continue;
            }
            let cfg = config_for(ns, name);
            let manager = match cfg.map(|c| c.method) {
                Some(IssueMethod::Vault) => Manager::Vault,
                _ => Manager::Unmanaged,
            };
            out.push(Entry {
                namespace: ns.clone(),
                name: name.clone(),
                secret_name: name.clone(),
                config_name: cfg.map(|c| c.name.clone()),
                manager,
                origin: Origin::Secret,
                certificate: None,
                secret: Some((*s).clone()),
                found: None,
            });
        }
        if include_missing {
            for c in &config.certificates {
                let ns = config_ns(c);
                if scope.as_option().is_some_and(|s| s != ns) {
                    continue;
                }
                if out
                    .iter()
                    .any(|e| e.namespace == ns && e.secret_name == c.secret_name)
                {
                    continue;
                }
                out.push(Entry {
                    namespace: ns.to_string(),
                    name: c.name.clone(),
                    secret_name: c.secret_name.clone(),
                    config_name: Some(c.name.clone()),
                    manager: if c.method == IssueMethod::Vault {
                        Manager::Vault
                    } else {
                        Manager::CertManager
                    },
                    origin: if c.method == IssueMethod::Vault {
                        Origin::Secret
                    } else {
                        Origin::Certificate
                    },
                    certificate: None,
                    secret: None,
                    found: None,
                });
            }
        }
        out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        out
    }

    /// What a row shows of an entry.
    fn shown(e: &Entry) -> String {
        format!(
            "{}/{} secret={} config={:?} {:?} {:?} cert={} secret={}",
            e.namespace,
            e.name,
            e.secret_name,
            e.config_name,
            e.manager,
            e.origin,
            e.certificate.as_ref().map_or("-", |c| c.name.as_str()),
            e.secret
                .as_ref()
                .and_then(|s| s.metadata.name.as_deref())
                .unwrap_or("-"),
        )
    }

    /// A cluster with every case of the join: a Certificate with and without its Secret, two
    /// Certificates sharing one Secret, a Certificate and an unrelated Secret of the same
    /// name, unclaimed Secrets named and not named by the config (cert-manager and vault),
    /// config-named certificates without a Secret (one named twice, one in another namespace).
    fn cluster() -> (Vec<CertificateView>, Vec<Secret>, Config) {
        let certificates = vec![
            certificate("a", "web", "web-tls"),
            certificate("a", "gone", "gone-tls"),
            certificate("b", "one", "shared-tls"),
            certificate("b", "two", "shared-tls"),
            certificate("b", "same", "other-tls"),
        ];
        let mut secrets = vec![
            secret("a", "web-tls"),
            secret("a", "plain-tls"),
            secret("a", "vaulted-tls"),
            secret("b", "shared-tls"),
            secret("b", "same"),
            secret("b", "other-tls"),
            secret("c", "z-tls"),
            secret("c", "a-tls"),
        ];
        for i in 0..25 {
            secrets.push(secret("d", &format!("bulk-{i:02}")));
        }
        let config = Config {
            namespace: "a".into(),
            certificates: vec![
                named("web", None, "web-tls", IssueMethod::CertManager),
                named("vaulted", None, "vaulted-tls", IssueMethod::Vault),
                named("absent", None, "absent-tls", IssueMethod::CertManager),
                named("absent-again", None, "absent-tls", IssueMethod::Vault),
                named("vault-absent", Some("b"), "va-tls", IssueMethod::Vault),
                named("same", Some("b"), "same", IssueMethod::Vault),
                named("gone", None, "gone-tls", IssueMethod::CertManager),
            ],
            ..Config::default()
        };
        (certificates, secrets, config)
    }

    fn streamed(
        certificates: &[CertificateView],
        secrets: &[Secret],
        config: &Config,
        scope: &NamespaceScope,
        include_missing: bool,
        page: usize,
        relist_after: Option<usize>,
    ) -> Vec<String> {
        let mut rows = Rows::new(shown);
        let mut joiner = Joiner::new(certificates.to_vec(), config, scope, include_missing);
        if let Some(pages) = relist_after {
            // A first attempt that gets `pages` pages, then the token expires.
            for chunk in secrets.chunks(page).take(pages) {
                rows.page(joiner.join(chunk.to_vec()));
            }
            joiner.restart();
            rows.restart();
        }
        for chunk in secrets.chunks(page) {
            rows.page(joiner.join(chunk.to_vec()));
        }
        rows.page(joiner.finish());
        rows.finish()
    }

    #[test]
    fn streaming_join_makes_the_entries_the_whole_inventory_join_made() {
        let (certificates, secrets, config) = cluster();
        for scope in [NamespaceScope::All, NamespaceScope::One("a".into())] {
            let in_scope: Vec<Secret> = secrets
                .iter()
                .filter(|s| {
                    scope
                        .as_option()
                        .is_none_or(|ns| s.metadata.namespace.as_deref() == Some(ns))
                })
                .cloned()
                .collect();
            let certs: Vec<CertificateView> = certificates
                .iter()
                .filter(|c| scope.as_option().is_none_or(|ns| c.namespace == ns))
                .cloned()
                .collect();
            for include_missing in [true, false] {
                let want: Vec<String> =
                    entries_before_streaming(&certs, &in_scope, &config, &scope, include_missing)
                        .iter()
                        .map(shown)
                        .collect();
                assert!(want.len() >= 4, "{want:#?}");
                for page in [1, 2, 3, 7, 500] {
                    for relist_after in [None, Some(1), Some(3)] {
                        let got = streamed(
                            &certs,
                            &in_scope,
                            &config,
                            &scope,
                            include_missing,
                            page,
                            relist_after,
                        );
                        assert_eq!(
                            got, want,
                            "scope {scope:?}, include_missing {include_missing}, page {page}, relist after {relist_after:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn model_entries_is_the_same_join() {
        let (certificates, secrets, config) = cluster();
        let inv = crate::model::Inventory {
            certificates: certificates.clone(),
            secrets: secrets.clone(),
            no_cert_manager: false,
        };
        let scope = NamespaceScope::All;
        let got: Vec<String> = crate::model::entries(&inv, &config, &scope, true)
            .iter()
            .map(shown)
            .collect();
        let want: Vec<String> =
            entries_before_streaming(&certificates, &secrets, &config, &scope, true)
                .iter()
                .map(shown)
                .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn rows_made_on_several_threads_keep_every_entry_once() {
        let (certificates, secrets, config) = cluster();
        let scope = NamespaceScope::All;
        let mut many = Vec::new();
        for i in 0..400 {
            many.push(secret(&format!("n{:03}", i % 17), &format!("s-{i:03}")));
        }
        many.extend(secrets);
        let one_page = streamed(&certificates, &many, &config, &scope, true, 10_000, None);
        let small_pages = streamed(&certificates, &many, &config, &scope, true, 100, Some(2));
        // 400 + the cluster's 5 Certificates, 30 unclaimed Secrets, 2 config-named without one.
        assert_eq!(one_page.len(), 400 + 5 + 30 + 2);
        assert_eq!(small_pages, one_page);
    }
}
