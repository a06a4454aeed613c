//! The kubeconfig user's client certificate (`client-certificate-data` or
//! `client-certificate`, with `client-key-data`/`client-key`): graded as a client certificate
//! (key match, `clientAuth`), verified against the kubeconfig's certificate-authority when it
//! chains there. One row, named `kubeconfig/USER`; none when the user authenticates otherwise
//! (a token, an exec plugin).

use base64::Engine as _;
use serde_json::Value;

use super::{CLUSTER, Context, Found, pem_of, row, unreadable};
use crate::findings::Role;
use crate::model::{Entry, Origin};

/// A client certificate (PEM) and its key (PEM), if the kubeconfig has it.
pub type ClientPair = (Vec<u8>, Option<Vec<u8>>);

/// The client certificate and key of a user (PEM), read from the `-data` fields or the files
/// they name. `Ok(None)`: the user has no client certificate.
pub fn client_pair(auth_info: &Value) -> Result<Option<ClientPair>, String> {
    let read = |data: &str, file: &str| -> Result<Option<Vec<u8>>, String> {
        if let Some(b64) = auth_info[data].as_str().filter(|s| !s.is_empty()) {
            return base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map(Some)
                .map_err(|e| format!("{data} is not base64: {e}"));
        }
        if let Some(path) = auth_info[file].as_str().filter(|s| !s.is_empty()) {
            return std::fs::read(path)
                .map(Some)
                .map_err(|e| format!("cannot read {file} {path}: {e}"));
        }
        Ok(None)
    };
    let Some(crt) = read("client-certificate-data", "client-certificate")? else {
        return Ok(None);
    };
    Ok(Some((crt, read("client-key-data", "client-key")?)))
}

/// The row of a user's client certificate.
pub fn entry(user: &str, crt: Vec<u8>, key: Option<Vec<u8>>, anchors: Option<Vec<u8>>) -> Entry {
    row(
        Origin::Kubeconfig,
        CLUSTER,
        format!("kubeconfig/{user}"),
        CLUSTER,
        Found {
            role: Role::Client,
            crt: Some(crt),
            crt_label: "client-certificate-data".into(),
            key,
            key_label: "client-key-data".into(),
            anchors,
            renew_hint: Some("get a new client certificate (e.g. `kubeadm kubeconfig user`, or a CertificateSigningRequest) and update the kubeconfig".into()),
            ..Default::default()
        },
    )
}

/// The user's client certificate, if it has one.
pub fn collect(ctx: &Context<'_>) -> Vec<Entry> {
    let Some(config) = ctx.kube_config else {
        return Vec::new();
    };
    let user = ctx.kubeconfig_user.unwrap_or("-");
    // The serialised AuthInfo carries the fields as the kubeconfig spells them.
    let auth_info = serde_json::to_value(&config.auth_info).unwrap_or_default();
    match client_pair(&auth_info) {
        Ok(None) => Vec::new(),
        Ok(Some((crt, key))) => vec![entry(
            user,
            crt,
            key,
            config.root_cert.as_deref().map(pem_of),
        )],
        Err(message) => vec![unreadable(
            Origin::Kubeconfig,
            &format!("kubeconfig/{user}"),
            message,
            "fix the user's client certificate in the kubeconfig".into(),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_data_fields_and_files() {
        assert_eq!(client_pair(&json!({"token": "x"})).unwrap(), None);
        let pair =
            client_pair(&json!({"client-certificate-data": "Q1JU", "client-key-data": "S0VZ"}))
                .unwrap()
                .unwrap();
        assert_eq!(pair, (b"CRT".to_vec(), Some(b"KEY".to_vec())));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.crt");
        std::fs::write(&path, "FILE").unwrap();
        let pair = client_pair(&json!({"client-certificate": path}))
            .unwrap()
            .unwrap();
        assert_eq!(pair, (b"FILE".to_vec(), None));
        assert!(client_pair(&json!({"client-certificate-data": "!!"})).is_err());
    }
}
