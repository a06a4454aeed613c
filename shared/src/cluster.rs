//! Cluster access like kubectl: the global flags, kubeconfig selection, namespace
//! precedence, and a [`kube::Client`] built from them (no shelling out to kubectl).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::{Error, Result};

/// The kubectl flags every plugin accepts (`kubectl options`), flattened into each binary.
/// `--help` lists them under their own heading, after the command's options, as kubectl keeps
/// its global options apart.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = crate::cli::GLOBAL_HEADING)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file to use for CLI requests.
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The name of the kubeconfig context to use (fleet commands: several, a,b or repeated).
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        value_delimiter = ',',
        action = clap::ArgAction::Append
    )]
    pub context: Vec<String>,
    /// Run on every context of the kubeconfig (fleet commands only).
    #[arg(long, global = true, conflicts_with = "context")]
    pub all_contexts: bool,
    /// The name of the kubeconfig cluster to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// The name of the kubeconfig user to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,
    /// If present, the namespace scope for this CLI request.
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Username to impersonate for the operation.
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    /// Group to impersonate for the operation (repeatable).
    #[arg(long = "as-group", global = true, value_name = "GROUP")]
    pub as_group: Vec<String>,
    /// The length of time to wait before giving up on a single server request (e.g. 10s, 1m; 0 = no timeout).
    #[arg(long, global = true, value_name = "DURATION", value_parser = crate::duration::parse_duration)]
    pub request_timeout: Option<Duration>,
    /// If true, the server's certificate will not be checked for validity (insecure).
    #[arg(long, global = true)]
    pub insecure_skip_tls_verify: bool,
}

/// `-A/--all-namespaces`, for commands that list.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct AllNamespacesArg {
    /// If present, list the requested object(s) across all namespaces. Namespace in current context is ignored even if specified with --namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
}

/// Which namespaces a command works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceScope {
    /// Every namespace (`-A`).
    All,
    /// One namespace.
    One(String),
}

impl NamespaceScope {
    /// The single namespace, or `None` for all namespaces.
    pub fn as_option(&self) -> Option<&str> {
        match self {
            NamespaceScope::All => None,
            NamespaceScope::One(ns) => Some(ns),
        }
    }

    /// Human text for messages: `namespace "x"` or `all namespaces`.
    pub fn describe(&self) -> String {
        match self {
            NamespaceScope::All => "all namespaces".into(),
            NamespaceScope::One(ns) => format!("namespace {ns:?}"),
        }
    }
}

/// Picks the namespace with kubectl's precedence: `-A`, then `-n`, then the kubeconfig
/// context's namespace, then the suite config's namespace, then `default`.
pub fn resolve_namespace(
    all_namespaces: bool,
    flag: Option<&str>,
    context_namespace: Option<&str>,
    config_namespace: Option<&str>,
) -> NamespaceScope {
    if all_namespaces {
        return NamespaceScope::All;
    }
    let ns = flag
        .or(context_namespace)
        .or(config_namespace)
        .filter(|ns| !ns.is_empty())
        .unwrap_or("default");
    NamespaceScope::One(ns.to_string())
}

/// A kubeconfig read the way kubectl reads it, and the choices made from it.
#[derive(Debug, Clone)]
pub struct LoadedKubeconfig {
    /// The merged kubeconfig.
    pub kubeconfig: Kubeconfig,
    /// The files it came from, in precedence order.
    pub sources: Vec<PathBuf>,
    /// The context in use (from `--context` or `current-context`).
    pub context: Option<String>,
}

impl LoadedKubeconfig {
    /// The namespace set on the selected context, if any.
    pub fn context_namespace(&self) -> Option<&str> {
        let name = self.context.as_deref()?;
        self.kubeconfig
            .contexts
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.context.as_ref())
            .and_then(|c| c.namespace.as_deref())
    }
}

/// The kubeconfig files kubectl would read: `--kubeconfig`, else every existing entry of
/// `KUBECONFIG` (a path list), else `~/.kube/config`.
pub fn kubeconfig_paths(
    flag: Option<&Path>,
    env: Option<&std::ffi::OsStr>,
    home: Option<&Path>,
) -> Vec<PathBuf> {
    if let Some(path) = flag {
        return vec![path.to_path_buf()];
    }
    if let Some(value) = env {
        let paths: Vec<PathBuf> = std::env::split_paths(value)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !paths.is_empty() {
            return paths;
        }
    }
    home.map(|h| vec![h.join(".kube").join("config")])
        .unwrap_or_default()
}

/// Reads and merges kubeconfig files (the first file to set a value wins, as in kubectl)
/// and selects the context: `context` if given (it must exist), else `current-context`.
///
/// With `explicit` (from `--kubeconfig`) every file must exist; otherwise missing files
/// are skipped, as kubectl skips missing `KUBECONFIG` entries.
pub fn read_kubeconfigs(
    candidates: &[PathBuf],
    explicit: bool,
    context: Option<&str>,
) -> Result<LoadedKubeconfig> {
    let existing: Vec<PathBuf> = if explicit {
        candidates.to_vec()
    } else {
        candidates.iter().filter(|p| p.exists()).cloned().collect()
    };
    if existing.is_empty() {
        return Err(Error::KubeconfigMissing {
            paths: candidates.to_vec(),
        });
    }
    let mut merged = Kubeconfig::default();
    for path in &existing {
        let next = Kubeconfig::read_from(path).map_err(|source| Error::KubeconfigRead {
            paths: vec![path.clone()],
            source,
        })?;
        merged = merged.merge(next).map_err(|source| Error::KubeconfigRead {
            paths: existing.clone(),
            source,
        })?;
    }
    if let Some(name) = context
        && !merged.contexts.iter().any(|c| c.name == name)
    {
        return Err(Error::unknown_context(
            name,
            merged.contexts.iter().map(|c| c.name.clone()).collect(),
        ));
    }
    let context = context
        .map(str::to_string)
        .or_else(|| merged.current_context.clone());
    Ok(LoadedKubeconfig {
        kubeconfig: merged,
        sources: existing,
        context,
    })
}

impl ClusterArgs {
    /// Reads and merges the kubeconfig files kubectl would read, and checks the requested
    /// context exists. Several contexts or `--all-contexts` are a usage error here: a command
    /// that connects this way works on one cluster (fleet commands use
    /// [`crate::fleet::FleetTargets`]).
    pub fn load_kubeconfig(&self) -> Result<LoadedKubeconfig> {
        let context = self.single_context()?;
        self.read_kubeconfig(context)
    }

    /// Reads and merges the kubeconfig files kubectl would read and selects `context` (it
    /// must exist), else `current-context`.
    pub(crate) fn read_kubeconfig(&self, context: Option<&str>) -> Result<LoadedKubeconfig> {
        let env = std::env::var_os("KUBECONFIG");
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let candidates =
            kubeconfig_paths(self.kubeconfig.as_deref(), env.as_deref(), home.as_deref());
        read_kubeconfigs(&candidates, self.kubeconfig.is_some(), context)
    }

    /// The one context asked for (`None`: the kubeconfig's current context), or a usage error
    /// when several contexts or `--all-contexts` were given (see [`crate::fleet::refuse_fleet`]).
    pub fn single_context(&self) -> Result<Option<&str>> {
        crate::fleet::refuse_fleet(self, "this command")?;
        Ok(self.context.first().map(String::as_str))
    }

    /// The namespace scope for this invocation (see [`resolve_namespace`]).
    pub fn namespace_scope(
        &self,
        all_namespaces: bool,
        loaded: Option<&LoadedKubeconfig>,
        config_namespace: Option<&str>,
    ) -> NamespaceScope {
        resolve_namespace(
            all_namespaces,
            self.namespace.as_deref(),
            loaded.and_then(LoadedKubeconfig::context_namespace),
            config_namespace,
        )
    }

    /// Builds the client configuration: kubeconfig, context/cluster/user overrides,
    /// impersonation, timeouts.
    pub async fn client_config(&self, loaded: &LoadedKubeconfig) -> Result<kube::Config> {
        let options = KubeConfigOptions {
            context: loaded.context.clone(),
            cluster: self.cluster.clone(),
            user: self.user.clone(),
        };
        let mut config = kube::Config::from_custom_kubeconfig(loaded.kubeconfig.clone(), &options)
            .await
            .map_err(Error::KubeconfigInvalid)?;
        if let Some(user) = &self.as_user {
            config.auth_info.impersonate = Some(user.clone());
        }
        if !self.as_group.is_empty() {
            config.auth_info.impersonate_groups = Some(self.as_group.clone());
        }
        if let Some(timeout) = self.request_timeout.filter(|t| !t.is_zero()) {
            config.read_timeout = Some(timeout);
            config.connect_timeout = Some(timeout);
        }
        if self.insecure_skip_tls_verify {
            config.accept_invalid_certs = true;
        }
        Ok(config)
    }

    /// Connects: reads the kubeconfig and builds a [`kube::Client`].
    pub async fn connect(&self) -> Result<Connection> {
        let loaded = self.load_kubeconfig()?;
        let config = self.client_config(&loaded).await?;
        let client = crate::kube_client::build(config).map_err(Error::Client)?;
        Ok(Connection {
            client,
            kubeconfig: loaded,
        })
    }
}

/// A client plus the kubeconfig it came from.
#[derive(Clone)]
pub struct Connection {
    /// The Kubernetes client.
    pub client: kube::Client,
    /// Where its settings came from.
    pub kubeconfig: LoadedKubeconfig,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_precedence_all_wins() {
        let scope = resolve_namespace(true, Some("flag"), Some("ctx"), Some("cfg"));
        assert_eq!(scope, NamespaceScope::All);
    }

    #[test]
    fn namespace_precedence_flag_then_context_then_config_then_default() {
        let one = |s: &str| NamespaceScope::One(s.to_string());
        assert_eq!(
            resolve_namespace(false, Some("flag"), Some("ctx"), Some("cfg")),
            one("flag")
        );
        assert_eq!(
            resolve_namespace(false, None, Some("ctx"), Some("cfg")),
            one("ctx")
        );
        assert_eq!(
            resolve_namespace(false, None, None, Some("cfg")),
            one("cfg")
        );
        assert_eq!(resolve_namespace(false, None, None, None), one("default"));
    }

    #[test]
    fn kubeconfig_flag_beats_env_and_home() {
        let paths = kubeconfig_paths(
            Some(Path::new("/flag")),
            Some(std::ffi::OsStr::new("/a:/b")),
            Some(Path::new("/home/u")),
        );
        assert_eq!(paths, vec![PathBuf::from("/flag")]);
    }

    #[test]
    fn kubeconfig_env_is_a_path_list() {
        let paths = kubeconfig_paths(
            None,
            Some(std::ffi::OsStr::new("/a::/b")),
            Some(Path::new("/h")),
        );
        assert_eq!(paths, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
    }

    #[test]
    fn kubeconfig_defaults_to_home() {
        let paths = kubeconfig_paths(None, None, Some(Path::new("/h")));
        assert_eq!(paths, vec![PathBuf::from("/h/.kube/config")]);
    }

    fn write_kubeconfig(
        dir: &Path,
        file: &str,
        current: &str,
        contexts: &[(&str, Option<&str>)],
    ) -> PathBuf {
        let mut yaml =
            format!("apiVersion: v1\nkind: Config\ncurrent-context: {current}\nclusters:\n");
        for (name, _) in contexts {
            yaml +=
                &format!("- name: {name}\n  cluster:\n    server: https://{name}.example:6443\n");
        }
        yaml += "users:\n- name: u\n  user:\n    token: t\ncontexts:\n";
        for (name, ns) in contexts {
            yaml += &format!("- name: {name}\n  context:\n    cluster: {name}\n    user: u\n");
            if let Some(ns) = ns {
                yaml += &format!("    namespace: {ns}\n");
            }
        }
        let path = dir.join(file);
        std::fs::write(&path, yaml).unwrap();
        path
    }

    #[test]
    fn two_contexts_current_and_selected() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_kubeconfig(
            dir.path(),
            "config",
            "prod",
            &[("prod", Some("payments")), ("dev", None)],
        );
        let loaded = read_kubeconfigs(std::slice::from_ref(&path), true, None).unwrap();
        assert_eq!(loaded.context.as_deref(), Some("prod"));
        assert_eq!(loaded.context_namespace(), Some("payments"));
        let loaded = read_kubeconfigs(&[path], true, Some("dev")).unwrap();
        assert_eq!(loaded.context.as_deref(), Some("dev"));
        assert_eq!(loaded.context_namespace(), None);
    }

    #[test]
    fn unknown_context_lists_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_kubeconfig(
            dir.path(),
            "config",
            "prod",
            &[("prod", None), ("dev", None)],
        );
        let err = read_kubeconfigs(&[path], true, Some("stage")).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"context "stage" not found in kubeconfig (known: prod, dev)"#
        );
    }

    #[test]
    fn kubeconfig_list_merges_first_wins_and_skips_missing() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_kubeconfig(dir.path(), "a", "alpha", &[("alpha", Some("ns-a"))]);
        let b = write_kubeconfig(
            dir.path(),
            "b",
            "beta",
            &[("beta", Some("ns-b")), ("alpha", Some("ignored"))],
        );
        let missing = dir.path().join("missing");
        let loaded = read_kubeconfigs(&[missing, a, b], false, None).unwrap();
        assert_eq!(loaded.sources.len(), 2);
        assert_eq!(loaded.context.as_deref(), Some("alpha"));
        assert_eq!(loaded.context_namespace(), Some("ns-a"));
        let names: Vec<_> = loaded
            .kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["alpha", "beta"]);
    }

    #[test]
    fn explicit_kubeconfig_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_kubeconfigs(&[dir.path().join("nope")], true, None).unwrap_err();
        assert!(matches!(err, Error::KubeconfigRead { .. }), "{err:?}");
        let err = read_kubeconfigs(&[dir.path().join("nope")], false, None).unwrap_err();
        assert!(matches!(err, Error::KubeconfigMissing { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn client_config_applies_context_and_impersonation() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_kubeconfig(
            dir.path(),
            "config",
            "prod",
            &[("prod", None), ("dev", None)],
        );
        let args = ClusterArgs {
            kubeconfig: Some(path),
            context: vec!["dev".into()],
            as_user: Some("alice".into()),
            as_group: vec!["ops".into()],
            request_timeout: Some(Duration::from_secs(7)),
            ..Default::default()
        };
        let loaded = args.load_kubeconfig().unwrap();
        let config = args.client_config(&loaded).await.unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://dev.example:6443/");
        assert_eq!(config.auth_info.impersonate.as_deref(), Some("alice"));
        assert_eq!(
            config.auth_info.impersonate_groups,
            Some(vec!["ops".to_string()])
        );
        assert_eq!(config.read_timeout, Some(Duration::from_secs(7)));
    }
}
