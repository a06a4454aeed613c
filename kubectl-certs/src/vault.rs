//! A small Vault/OpenBao HTTP client: PKI issue and KV v2 read/write.
//!
//! Settings come from the environment, `BAO_*` first then `VAULT_*` (as the bao CLI does):
//! `*_ADDR`, `*_TOKEN` (else `~/.vault-token`), `*_CACERT`, `*_NAMESPACE`. The token is sent as
//! `X-Vault-Token`, the namespace as `X-Vault-Namespace`. Nothing secret is logged or put in
//! error messages.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use shared::Error;

/// A string that must never be printed (private keys, tokens).
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Sensitive(pub String);

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct VaultClient {
    http: reqwest::Client,
    /// Base address, without a trailing slash.
    pub addr: String,
    token: Sensitive,
    namespace: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(format!("BAO_{name}"))
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| {
            std::env::var(format!("VAULT_{name}"))
                .ok()
                .filter(|v| !v.is_empty())
        })
}

/// True when a Vault address is configured.
pub fn configured() -> bool {
    env("ADDR").is_some()
}

/// What Vault returned for `issue`.
#[derive(Debug, Clone, Deserialize)]
pub struct Issued {
    /// Leaf PEM.
    pub certificate: String,
    /// Issuing CA PEM.
    #[serde(default)]
    pub issuing_ca: String,
    /// CA chain PEMs (issuer first), when Vault sends it.
    #[serde(default)]
    pub ca_chain: Vec<String>,
    /// The private key (never printed).
    pub private_key: Sensitive,
    /// Serial.
    #[serde(default)]
    pub serial_number: String,
}

/// The issue call's result: data and the server's warnings.
#[derive(Debug, Clone)]
pub struct IssueResult {
    /// The certificate and key.
    pub issued: Issued,
    /// `warnings[]` (e.g. TTL capped at max_ttl).
    pub warnings: Vec<String>,
}

impl VaultClient {
    /// Builds a client from the environment.
    pub fn from_env() -> Result<Self, Error> {
        let addr = env("ADDR").ok_or_else(|| {
            Error::invalid(
                "Vault is not configured: VAULT_ADDR (or BAO_ADDR) is not set",
                "export VAULT_ADDR=https://vault.example:8200 and VAULT_TOKEN",
            )
        })?;
        let token = env("TOKEN")
            .or_else(|| {
                let home = std::env::var_os("HOME")?;
                std::fs::read_to_string(std::path::Path::new(&home).join(".vault-token"))
                    .ok()
                    .map(|t| t.trim().to_string())
            })
            .ok_or_else(|| {
                Error::invalid(
                    "no Vault token: VAULT_TOKEN (or BAO_TOKEN) is not set",
                    "log in with `vault login` / `bao login`, or export VAULT_TOKEN",
                )
            })?;
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10));
        if let Some(path) = env("CACERT") {
            let pem = std::fs::read(&path).map_err(|e| Error::Io {
                action: "cannot read VAULT_CACERT",
                path: path.clone().into(),
                source: e,
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| {
                Error::invalid(
                    format!("VAULT_CACERT {path} is not a PEM bundle"),
                    "point VAULT_CACERT at the CA that signed Vault's certificate",
                )
            })?;
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder.build().map_err(|e| {
            Error::invalid(
                format!("cannot build the Vault HTTP client: {e}"),
                "check VAULT_CACERT",
            )
        })?;
        Ok(VaultClient {
            http,
            addr: addr.trim_end_matches('/').to_string(),
            token: Sensitive(token),
            namespace: env("NAMESPACE"),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Error> {
        let url = format!("{}/v1/{}", self.addr, path.trim_start_matches('/'));
        let mut req = self
            .http
            .request(method.clone(), &url)
            .header("X-Vault-Token", &self.token.0);
        if let Some(ns) = &self.namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            Error::invalid(
                format!(
                    "cannot reach Vault at {}: {}",
                    self.addr,
                    if e.is_timeout() {
                        "timed out".to_string()
                    } else {
                        e.without_url().to_string()
                    }
                ),
                "check VAULT_ADDR (or BAO_ADDR), the network path and VAULT_CACERT",
            )
        })?;
        let status = resp.status().as_u16();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        Ok((status, value))
    }

    fn error(&self, what: &str, path: &str, status: u16, body: &Value) -> Error {
        let errors: Vec<String> = body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let detail = if errors.is_empty() {
            format!("HTTP {status}")
        } else {
            errors.join("; ")
        };
        let hint = match status {
            403 => format!("the Vault token lacks permission: its policy needs `update` (issue/write) or `read` on {path}"),
            404 => format!("check the mount and role names in the config (vault.pki_mount, vault.role, vault.kv_mount); path {path}"),
            400 => "the role refused the request: check the common name / SANs against the role's allowed_domains and max_ttl".into(),
            _ => "check the Vault server's status (`bao status`)".into(),
        };
        Error::invalid(format!("Vault {what} failed: {detail}"), hint)
    }

    /// `POST <mount>/issue/<role>`.
    pub async fn issue(
        &self,
        mount: &str,
        role: &str,
        common_name: &str,
        alt_names: &[String],
        ttl: &str,
    ) -> Result<IssueResult, Error> {
        let path = format!("{mount}/issue/{role}");
        let mut body = json!({ "common_name": common_name, "format": "pem", "remove_roots_from_chain": false });
        if !alt_names.is_empty() {
            body["alt_names"] = alt_names.join(",").into();
        }
        if !ttl.is_empty() {
            body["ttl"] = ttl.into();
        }
        let (status, value) = self.call(reqwest::Method::POST, &path, Some(&body)).await?;
        if !(200..300).contains(&status) {
            return Err(self.error("issue", &path, status, &value));
        }
        let issued: Issued = serde_json::from_value(value["data"].clone()).map_err(|_| {
            Error::invalid(
                format!("Vault issue at {path} returned no certificate"),
                "is this a PKI mount?",
            )
        })?;
        let warnings = value["warnings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|w| w.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(IssueResult { issued, warnings })
    }

    /// `POST <mount>/data/<path>` (KV v2); returns the new version.
    pub async fn kv_put(
        &self,
        mount: &str,
        path: &str,
        data: &Value,
    ) -> Result<Option<u64>, Error> {
        let full = format!("{mount}/data/{path}");
        let (status, value) = self
            .call(reqwest::Method::POST, &full, Some(&json!({ "data": data })))
            .await?;
        if !(200..300).contains(&status) {
            return Err(self.error("KV write", &full, status, &value));
        }
        Ok(value.pointer("/data/version").and_then(Value::as_u64))
    }

    /// `GET <mount>/data/<path>` (KV v2): the whole response, or None when absent.
    pub async fn kv_get(&self, mount: &str, path: &str) -> Result<Option<Value>, Error> {
        let full = format!("{mount}/data/{path}");
        let (status, value) = self.call(reqwest::Method::GET, &full, None).await?;
        match status {
            404 => Ok(None),
            200..300 => Ok(Some(value)),
            _ => Err(self.error("KV read", &full, status, &value)),
        }
    }
}

/// The KV v2 path of a certificate's copy: `<prefix>/<namespace>/<name>`.
pub fn kv_path(prefix: &str, namespace: &str, name: &str) -> String {
    [prefix.trim_matches('/'), namespace, name]
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_never_prints() {
        let s = Sensitive("-----BEGIN PRIVATE KEY-----".into());
        assert_eq!(format!("{s:?}"), "<redacted>");
    }

    #[test]
    fn kv_paths() {
        assert_eq!(kv_path("certs", "ns", "api"), "certs/ns/api");
        assert_eq!(kv_path("", "ns", "api"), "ns/api");
    }
}
