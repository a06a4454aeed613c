//! Which sources a `list`/`check` run reads: `--source` (exactly those), else a default that
//! depends on the scope; `--include-opaque` widens the `secret` source to Opaque Secrets.

use std::collections::BTreeSet;

use shared::cluster::NamespaceScope;

use crate::model::Origin;

/// The selected sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    origins: BTreeSet<Origin>,
    opaque: bool,
}

impl Selection {
    /// Resolves `--source` and `--include-opaque`:
    ///
    /// * `--source a,b` (repeatable): exactly those sources;
    /// * else in one namespace: `certificate`, `secret` and `ingress` of that namespace;
    /// * else with `-A`: all eight, except that with `-l` the `apiserver` and `kubeconfig`
    ///   rows (which carry no labels) are left out.
    ///
    /// `--include-opaque` makes the `secret` source also read Opaque Secrets holding PEM
    /// certificates; with a `--source` list that lacks `secret` it is a usage error.
    pub fn new(
        explicit: &[Origin],
        include_opaque: bool,
        scope: &NamespaceScope,
        selector: Option<&str>,
    ) -> Result<Self, shared::Error> {
        let origins: BTreeSet<Origin> = if !explicit.is_empty() {
            explicit.iter().copied().collect()
        } else {
            match scope {
                NamespaceScope::One(_) => [Origin::Certificate, Origin::Secret, Origin::Ingress]
                    .into_iter()
                    .collect(),
                NamespaceScope::All => [
                    Origin::Certificate,
                    Origin::Secret,
                    Origin::Webhook,
                    Origin::ApiService,
                    Origin::CrdConversion,
                    Origin::Ingress,
                    Origin::ApiServer,
                    Origin::Kubeconfig,
                ]
                .into_iter()
                .filter(|o| {
                    selector.is_none() || !matches!(o, Origin::ApiServer | Origin::Kubeconfig)
                })
                .collect(),
            }
        };
        if include_opaque && !origins.contains(&Origin::Secret) {
            return Err(shared::Error::Usage {
                message: "--include-opaque widens the secret source, which --source leaves out"
                    .into(),
                hint: Some("add secret to --source (e.g. --source secret,webhook)".into()),
            });
        }
        Ok(Selection {
            origins,
            opaque: include_opaque,
        })
    }

    /// Just one source (resolving a name).
    pub fn only(origin: Origin) -> Self {
        Selection {
            origins: [origin].into_iter().collect(),
            opaque: false,
        }
    }

    /// Is the source selected?
    pub fn wants(&self, origin: Origin) -> bool {
        self.origins.contains(&origin)
    }

    /// Are Opaque Secrets read (`--include-opaque`)?
    pub fn opaque(&self) -> bool {
        self.opaque
    }

    /// Are Certificates or TLS Secrets wanted (the inventory `model::load` reads)?
    pub fn wants_inventory(&self) -> bool {
        self.wants(Origin::Certificate) || self.wants(Origin::Secret)
    }
}

/// The source a row name belongs to, from its prefix: `validatingwebhookconfiguration/...`
/// and `mutatingwebhookconfiguration/...` (webhook), `apiservice/...`,
/// `customresourcedefinition/...` (crd-conversion), `ingress/...`, `apiserver/...`,
/// `kubeconfig/...`; `SECRET/KEY` is an Opaque Secret's key (secret). `None`: a plain name.
pub fn origin_of_name(name: &str) -> Option<Origin> {
    let (kind, rest) = name.split_once('/')?;
    Some(match kind {
        "validatingwebhookconfiguration" | "mutatingwebhookconfiguration" => Origin::Webhook,
        "apiservice" => Origin::ApiService,
        "customresourcedefinition" => Origin::CrdConversion,
        "ingress" => Origin::Ingress,
        "apiserver" => Origin::ApiServer,
        "kubeconfig" => Origin::Kubeconfig,
        _ if !rest.contains('/') => Origin::Secret,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one() -> NamespaceScope {
        NamespaceScope::One("ns".into())
    }

    #[test]
    fn defaults_depend_on_the_scope() {
        let s = Selection::new(&[], false, &one(), None).unwrap();
        assert!(s.wants(Origin::Ingress) && s.wants(Origin::Secret));
        assert!(!s.wants(Origin::Webhook) && !s.wants(Origin::ApiServer));
        let all = Selection::new(&[], false, &NamespaceScope::All, None).unwrap();
        assert!(all.wants(Origin::Webhook) && all.wants(Origin::Kubeconfig));
        let labelled = Selection::new(&[], false, &NamespaceScope::All, Some("a=b")).unwrap();
        assert!(labelled.wants(Origin::Webhook) && !labelled.wants(Origin::ApiServer));
    }

    #[test]
    fn source_selects_exactly_and_include_opaque_needs_secret() {
        let s = Selection::new(&[Origin::Webhook], false, &one(), None).unwrap();
        assert!(s.wants(Origin::Webhook) && !s.wants(Origin::Secret) && !s.wants_inventory());
        assert!(Selection::new(&[Origin::Webhook], true, &one(), None).is_err());
        let s = Selection::new(&[Origin::Secret], true, &one(), None).unwrap();
        assert!(s.opaque());
        assert!(
            Selection::new(&[], true, &NamespaceScope::All, None)
                .unwrap()
                .opaque()
        );
    }

    #[test]
    fn names_map_to_sources() {
        assert_eq!(
            origin_of_name("validatingwebhookconfiguration/a/b"),
            Some(Origin::Webhook)
        );
        assert_eq!(origin_of_name("apiservice/v1.x"), Some(Origin::ApiService));
        assert_eq!(origin_of_name("ingress/web/web-tls"), Some(Origin::Ingress));
        assert_eq!(origin_of_name("app-certs/cert.pem"), Some(Origin::Secret));
        assert_eq!(origin_of_name("api-gateway-tls"), None);
    }
}
