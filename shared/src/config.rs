//! The suite configuration: one typed config with the runbook's defaults embedded.
//!
//! Lookup order for an override file: `--config FILE`, then `$KUBECTL_OPS_CONFIG`, then
//! `$XDG_CONFIG_HOME/kubectl-ops/config.yaml` (or `~/.config/kubectl-ops/config.yaml`).
//! An override file replaces each top-level key it sets; anything it leaves out keeps the
//! embedded default. Unknown keys and bad values are errors naming the file, line and field.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The embedded defaults, as YAML (shown by `config --defaults` style commands and README).
pub const DEFAULT_CONFIG_YAML: &str = include_str!("default-config.yaml");

/// Environment variable naming an override file.
pub const CONFIG_ENV: &str = "KUBECTL_OPS_CONFIG";

/// `--config FILE`, flattened into every binary (listed with the global options in `--help`).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = crate::cli::GLOBAL_HEADING)]
pub struct ConfigArgs {
    /// Configuration file overriding the embedded defaults [env: KUBECTL_OPS_CONFIG; default: ~/.config/kubectl-ops/config.yaml].
    #[arg(long = "config", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl ConfigArgs {
    /// Loads the configuration: the embedded defaults, overridden by the file found.
    pub fn load(&self) -> Result<LoadedConfig> {
        let env = std::env::var_os(CONFIG_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let xdg = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .map(|dir| dir.join("kubectl-ops").join("config.yaml"));
        match (self.config.clone().or(env), xdg) {
            (Some(explicit), _) => load_file(&explicit),
            (None, Some(default_path)) if default_path.exists() => load_file(&default_path),
            _ => Ok(LoadedConfig {
                config: Config::default(),
                source: None,
            }),
        }
    }
}

/// A configuration and the file it came from (None = embedded defaults only).
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The effective configuration.
    pub config: Config,
    /// The override file, if one was read.
    pub source: Option<PathBuf>,
}

/// The whole suite configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Namespace used when neither `-n` nor the kubeconfig context names one.
    pub namespace: String,
    /// Image for debug pods.
    pub debug_image: String,
    /// Lifetime of a debug pod: seconds, or a duration such as `1h`.
    #[serde(with = "seconds_or_duration")]
    pub debug_ttl: Duration,
    /// Where backups are written (relative paths are relative to the working directory).
    pub backup_dir: PathBuf,
    /// Where reports are written.
    pub reports_dir: PathBuf,
    /// The certificates the runbook knows by name.
    pub certificates: Vec<CertificateEntry>,
    /// The Redis cache types: named key patterns.
    pub cache_types: Vec<CacheType>,
    /// Vault/OpenBao PKI settings for certificates with `method: vault`.
    pub vault: VaultSettings,
    /// How `kubectl rflush` reaches Redis by default.
    pub redis: RedisSettings,
}

/// How a certificate is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssueMethod {
    /// A cert-manager Certificate manages the Secret.
    CertManager,
    /// Issued from a Vault/OpenBao PKI role.
    Vault,
}

impl std::fmt::Display for IssueMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IssueMethod::CertManager => "cert-manager",
            IssueMethod::Vault => "vault",
        })
    }
}

/// A named certificate (runbook table "Available Certificates").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateEntry {
    /// Short name used on the command line.
    pub name: String,
    /// The `kubernetes.io/tls` Secret holding it.
    pub secret_name: String,
    /// How it is issued.
    pub method: IssueMethod,
    /// Back it up before rotating.
    #[serde(default = "yes")]
    pub backup: bool,
    /// Namespace, when not the default one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Vault common name, when not `<name>.<common_name_suffix>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
}

/// A Redis cache type (runbook table "Available Cache Types").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheType {
    /// Short name used on the command line.
    pub name: String,
    /// Redis glob pattern (SCAN MATCH syntax).
    pub pattern: String,
    /// Back keys up before flushing.
    #[serde(default = "yes")]
    pub backup: bool,
    /// What the cache holds.
    #[serde(default)]
    pub description: String,
}

/// Vault/OpenBao PKI and KV settings. Address and token come from `VAULT_ADDR`/`VAULT_TOKEN`
/// (or `BAO_ADDR`/`BAO_TOKEN`), never from this file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaultSettings {
    /// PKI secrets engine mount, e.g. `pki_int`.
    pub pki_mount: String,
    /// PKI role to issue from.
    pub role: String,
    /// KV v2 mount for copies of issued certificates (empty = do not store).
    pub kv_mount: String,
    /// Path prefix under the KV mount.
    pub kv_prefix: String,
    /// Common names default to `<certificate name>.<suffix>`.
    pub common_name_suffix: String,
    /// Requested TTL, e.g. `8760h`.
    pub ttl: String,
}

/// Where Redis is, when no `--redis-url`/`--target` is given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    /// `svc/NAME`, `statefulset/NAME`, `deployment/NAME` or `pod/NAME` in the namespace.
    pub target: String,
    /// Redis port on the target.
    pub port: u16,
    /// Secret holding the password, as `NAME` or `NAME:KEY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<String>,
    /// A `redis://` or `rediss://` URL to use instead of the cluster target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

fn yes() -> bool {
    true
}

fn cert(name: &str, secret_name: &str, method: IssueMethod) -> CertificateEntry {
    CertificateEntry {
        name: name.into(),
        secret_name: secret_name.into(),
        method,
        backup: true,
        namespace: None,
        common_name: None,
    }
}

fn cache(name: &str, pattern: &str, description: &str) -> CacheType {
    CacheType {
        name: name.into(),
        pattern: pattern.into(),
        backup: true,
        description: description.into(),
    }
}

/// The runbook's defaults. [`DEFAULT_CONFIG_YAML`] shows the same values (a test keeps the
/// two equal); they live in code because serde builds a container default before parsing.
impl Default for Config {
    fn default() -> Self {
        use IssueMethod::{CertManager, Vault};
        Config {
            namespace: "market-intel-brain".into(),
            debug_image: "nicolaka/netshoot".into(),
            debug_ttl: Duration::from_secs(3600),
            backup_dir: PathBuf::from("./backups"),
            reports_dir: PathBuf::from("./reports"),
            certificates: vec![
                cert("api-gateway", "api-gateway-tls", CertManager),
                cert("core-engine", "core-engine-tls", CertManager),
                cert("market-intel-ca", "market-intel-ca", Vault),
                cert("api-gateway-mtls", "api-gateway-mtls", CertManager),
            ],
            cache_types: vec![
                cache("market-data", "market:data:*", "Market data cache"),
                cache("news-data", "news:data:*", "News data cache"),
                cache("user-sessions", "session:*", "User session cache"),
                cache("api-cache", "api:cache:*", "API response cache"),
                cache("rate-limits", "rate:limit:*", "Rate limiting cache"),
                cache("auth-tokens", "auth:token:*", "Authentication tokens"),
                cache("metrics-cache", "metrics:*", "Metrics cache"),
                cache("config-cache", "config:*", "Configuration cache"),
            ],
            vault: VaultSettings::default(),
            redis: RedisSettings::default(),
        }
    }
}

impl Default for VaultSettings {
    fn default() -> Self {
        VaultSettings {
            pki_mount: "pki_int".into(),
            role: "market-intel".into(),
            kv_mount: "kv".into(),
            kv_prefix: "certs".into(),
            common_name_suffix: "market-intel-brain.svc.cluster.local".into(),
            ttl: "8760h".into(),
        }
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            target: "statefulset/redis".into(),
            port: 6379,
            password_secret: None,
            url: None,
        }
    }
}

impl Config {
    /// Looks a certificate up by its short name or its Secret name.
    pub fn certificate(&self, name: &str) -> Option<&CertificateEntry> {
        self.certificates
            .iter()
            .find(|c| c.name == name)
            .or_else(|| self.certificates.iter().find(|c| c.secret_name == name))
    }

    /// Looks a cache type up by name.
    pub fn cache_type(&self, name: &str) -> Option<&CacheType> {
        self.cache_types.iter().find(|c| c.name == name)
    }

    /// Checks what serde cannot: unique names, non-empty patterns, a positive TTL.
    /// Returns the offending field path and message.
    fn validate(&self) -> std::result::Result<(), (String, String)> {
        let mut seen = HashSet::new();
        for (i, c) in self.certificates.iter().enumerate() {
            if c.name.is_empty() || c.secret_name.is_empty() {
                return Err((
                    format!("certificates[{i}]"),
                    "name and secret_name must not be empty".into(),
                ));
            }
            if !seen.insert(&c.name) {
                return Err((
                    format!("certificates[{i}].name"),
                    format!("duplicate certificate name {:?}", c.name),
                ));
            }
        }
        let mut seen = HashSet::new();
        for (i, c) in self.cache_types.iter().enumerate() {
            if c.name.is_empty() {
                return Err((format!("cache_types[{i}].name"), "must not be empty".into()));
            }
            if c.pattern.is_empty() {
                return Err((
                    format!("cache_types[{i}].pattern"),
                    "must not be empty".into(),
                ));
            }
            if !seen.insert(&c.name) {
                return Err((
                    format!("cache_types[{i}].name"),
                    format!("duplicate cache type name {:?}", c.name),
                ));
            }
        }
        if self.debug_ttl.is_zero() {
            return Err(("debug_ttl".into(), "must be greater than zero".into()));
        }
        if self.namespace.is_empty() {
            return Err(("namespace".into(), "must not be empty".into()));
        }
        Ok(())
    }
}

/// Parses configuration text (the override file's contents) over the embedded defaults.
pub fn parse(text: &str, path: &Path) -> Result<Config> {
    let config: Config = serde_saphyr::from_str(text).map_err(|err| Error::Config {
        path: path.to_path_buf(),
        line: err.location().map(|l| l.line() as usize).filter(|l| *l > 0),
        message: first_line(&err.to_string()),
    })?;
    config
        .validate()
        .map_err(|(field, message)| Error::Config {
            path: path.to_path_buf(),
            line: find_line_of_field(text, &field),
            message: format!("{field}: {message}"),
        })?;
    Ok(config)
}

/// Reads and parses an override file.
pub fn load_file(path: &Path) -> Result<LoadedConfig> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "cannot read config file",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(LoadedConfig {
        config: parse(&text, path)?,
        source: Some(path.to_path_buf()),
    })
}

/// serde-saphyr's messages may carry a rendered snippet; keep the headline.
fn first_line(message: &str) -> String {
    let line = message
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(message)
        .trim();
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

/// Best effort: the line of the `index`-th list item for `list[index].field`, or of `key:`.
fn find_line_of_field(text: &str, field: &str) -> Option<usize> {
    let (top, rest) = field.split_once('[').unwrap_or((field, ""));
    let top_line = text
        .lines()
        .position(|l| l.starts_with(&format!("{top}:")))?;
    let Some((index, _)) = rest.split_once(']') else {
        return Some(top_line + 1);
    };
    let index: usize = index.parse().ok()?;
    text.lines()
        .enumerate()
        .skip(top_line + 1)
        .filter(|(_, l)| l.trim_start().starts_with("- "))
        .nth(index)
        .map(|(n, _)| n + 1)
}

mod seconds_or_duration {
    //! `debug_ttl: 3600` or `debug_ttl: 1h`.
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(value.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Seconds(secs) => Ok(Duration::from_secs(secs)),
            Raw::Text(text) => {
                crate::duration::parse_duration(&text).map_err(serde::de::Error::custom)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Config {
        parse(text, Path::new("test.yaml")).unwrap()
    }

    fn parse_err(text: &str) -> Error {
        parse(text, Path::new("test.yaml")).unwrap_err()
    }

    #[test]
    fn embedded_defaults_match_the_runbook_tables() {
        let c = Config::default();
        assert_eq!(c.namespace, "market-intel-brain");
        assert_eq!(c.debug_ttl, Duration::from_secs(3600));
        let certs: Vec<_> = c
            .certificates
            .iter()
            .map(|c| (c.name.as_str(), c.secret_name.as_str(), c.method))
            .collect();
        assert_eq!(
            certs,
            [
                ("api-gateway", "api-gateway-tls", IssueMethod::CertManager),
                ("core-engine", "core-engine-tls", IssueMethod::CertManager),
                ("market-intel-ca", "market-intel-ca", IssueMethod::Vault),
                (
                    "api-gateway-mtls",
                    "api-gateway-mtls",
                    IssueMethod::CertManager
                ),
            ]
        );
        let caches: Vec<_> = c
            .cache_types
            .iter()
            .map(|c| (c.name.as_str(), c.pattern.as_str()))
            .collect();
        assert_eq!(
            caches,
            [
                ("market-data", "market:data:*"),
                ("news-data", "news:data:*"),
                ("user-sessions", "session:*"),
                ("api-cache", "api:cache:*"),
                ("rate-limits", "rate:limit:*"),
                ("auth-tokens", "auth:token:*"),
                ("metrics-cache", "metrics:*"),
                ("config-cache", "config:*"),
            ]
        );
        assert!(c.cache_types.iter().all(|c| c.backup));
    }

    #[test]
    fn embedded_yaml_equals_the_code_defaults() {
        assert_eq!(parse_ok(DEFAULT_CONFIG_YAML), Config::default());
    }

    #[test]
    fn override_replaces_only_what_it_sets() {
        let c = parse_ok("namespace: payments\ndebug_ttl: 15m\n");
        assert_eq!(c.namespace, "payments");
        assert_eq!(c.debug_ttl, Duration::from_secs(900));
        assert_eq!(c.cache_types, Config::default().cache_types);
        assert_eq!(c.debug_image, "nicolaka/netshoot");
    }

    #[test]
    fn override_lists_replace_whole_tables() {
        let c = parse_ok("cache_types:\n  - name: only\n    pattern: 'x:*'\n");
        assert_eq!(c.cache_types.len(), 1);
        assert!(c.cache_types[0].backup, "backup defaults to true");
        assert_eq!(c.cache_type("only").unwrap().pattern, "x:*");
        assert!(c.cache_type("market-data").is_none());
    }

    #[test]
    fn nested_sections_keep_defaults_for_missing_keys() {
        let c = parse_ok("redis:\n  port: 6380\n");
        assert_eq!(c.redis.port, 6380);
        assert_eq!(c.redis.target, "statefulset/redis");
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let err = parse_err("namespace: a\nbackup_dri: /tmp\n");
        let text = err.to_string();
        assert!(
            text.starts_with("config file test.yaml, line 2: "),
            "{text}"
        );
        assert!(text.contains("backup_dri"), "{text}");
    }

    #[test]
    fn bad_value_names_the_line() {
        let err = parse_err(
            "namespace: a\ncertificates:\n  - name: x\n    secret_name: y\n    method: letsencrypt\n",
        );
        let text = err.to_string();
        assert!(text.contains("line 5"), "{text}");
        assert!(text.contains("letsencrypt"), "{text}");
    }

    #[test]
    fn duplicate_names_are_rejected_with_their_line() {
        let err = parse_err(
            "cache_types:\n  - name: a\n    pattern: 'a:*'\n  - name: a\n    pattern: 'b:*'\n",
        );
        let text = err.to_string();
        assert!(text.contains("line 4"), "{text}");
        assert!(text.contains("duplicate cache type name \"a\""), "{text}");
    }

    #[test]
    fn zero_ttl_is_rejected() {
        let text = parse_err("debug_ttl: 0\n").to_string();
        assert!(
            text.contains("debug_ttl: must be greater than zero"),
            "{text}"
        );
    }

    #[test]
    fn certificate_lookup_by_name_or_secret() {
        let c = Config::default();
        assert_eq!(
            c.certificate("api-gateway").unwrap().secret_name,
            "api-gateway-tls"
        );
        assert_eq!(
            c.certificate("core-engine-tls").unwrap().name,
            "core-engine"
        );
        assert!(c.certificate("nope").is_none());
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let args = ConfigArgs {
            config: Some(PathBuf::from("/nonexistent/kubectl-ops.yaml")),
        };
        let err = args.load().unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot read config file /nonexistent/kubectl-ops.yaml")
        );
    }
}
