//! The shared error type, with a `hint:` for the user wherever there is one.

use std::path::PathBuf;

/// Result alias for the shared crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the shared crate.
///
/// Each variant renders as one line; [`Error::hint`] adds what the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No kubeconfig could be read.
    #[error("cannot read kubeconfig {}", path_list(.paths))]
    KubeconfigRead {
        /// The files that were tried.
        paths: Vec<PathBuf>,
        /// What went wrong.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// No kubeconfig file exists at any of the usual places.
    #[error("no kubeconfig found (looked at {})", path_list(.paths))]
    KubeconfigMissing {
        /// The files that were tried.
        paths: Vec<PathBuf>,
    },
    /// The requested context is not in the kubeconfig.
    #[error("context {name:?} not found in kubeconfig ({})", known_contexts(.suggestions, .known))]
    UnknownContext {
        /// The context asked for.
        name: String,
        /// The contexts the kubeconfig has.
        known: Vec<String>,
        /// The known contexts closest to `name` (see [`crate::suggest::close_matches`]).
        suggestions: Vec<String>,
    },
    /// The kubeconfig could be read but a client config could not be made from it.
    #[error("invalid kubeconfig")]
    KubeconfigInvalid(#[source] kube::config::KubeconfigError),
    /// A client could not be built from the config.
    #[error("cannot create Kubernetes client")]
    Client(#[source] kube::Error),
    /// A request to the Kubernetes API failed.
    #[error("{action}")]
    Kube {
        /// What we were doing, e.g. "list secrets in namespace x".
        action: String,
        /// The underlying error.
        #[source]
        source: kube::Error,
    },
    /// The suite configuration file is invalid.
    #[error("config file {}{}: {message}", .path.display(), line_suffix(*.line))]
    Config {
        /// The file.
        path: PathBuf,
        /// The line the problem is on, if known (1-based).
        line: Option<usize>,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{action} {}", .path.display())]
    Io {
        /// What we tried, e.g. "cannot read".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A destructive step needs a confirmation that cannot be asked for.
    #[error("refusing to {action} without confirmation: stdin is not a terminal")]
    NeedsConfirmation {
        /// What would have been done.
        action: String,
    },
    /// The user answered no.
    #[error("aborted: {action} was not confirmed")]
    Declined {
        /// What would have been done.
        action: String,
    },
    /// A prompt could not be shown.
    #[error("cannot prompt for confirmation")]
    Prompt(#[source] std::io::Error),
    /// A named thing does not exist.
    #[error("{kind} {name:?}{} not found{}", namespace_suffix(.namespace), suggestion_suffix(.suggestions))]
    NotFound {
        /// What kind of thing, e.g. "cache type".
        kind: &'static str,
        /// The name given.
        name: String,
        /// The namespace looked in, for namespaced objects.
        namespace: Option<String>,
        /// Close matches.
        suggestions: Vec<String>,
        /// What to run to see valid names.
        list_hint: Option<String>,
    },
    /// Bad input given on the command line or in a file.
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// What to do instead.
        hint: Option<String>,
    },
    /// The command line is wrong (exit code 2).
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// What to do instead.
        hint: Option<String>,
    },
    /// Writing output failed.
    #[error("cannot write output")]
    Output(#[source] std::io::Error),
    /// Serializing output failed.
    #[error("cannot serialize output as {format}")]
    Serialize {
        /// json or yaml.
        format: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A step failed: `message` says where that leaves things, `hint` what to do now, and
    /// `source` (when there is one) why it failed, kept as a chain.
    #[error("{message}")]
    Failed {
        /// Where the failure leaves things, e.g. "ns/web-tls rolled back".
        message: String,
        /// What to do now; when `None`, the first hint along `source` is shown.
        hint: Option<String>,
        /// Why it failed.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// A port-forward could not be set up or broke.
    #[error("port-forward to {target}: {message}")]
    PortForward {
        /// pod/NAME:PORT.
        target: String,
        /// What went wrong.
        message: String,
    },
}

fn path_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(", line {l}")).unwrap_or_default()
}

fn namespace_suffix(namespace: &Option<String>) -> String {
    namespace
        .as_ref()
        .map_or_else(String::new, |ns| format!(" in namespace {ns:?}"))
}

/// `known: a, b`, led by `did you mean "a"?; ` when there are close matches.
fn known_contexts(suggestions: &[String], known: &[String]) -> String {
    let known = format!("known: {}", known.join(", "));
    match suggestion_suffix(suggestions).trim() {
        "" => known,
        s => format!(
            "{}; {known}",
            s.trim_start_matches('(').trim_end_matches(')')
        ),
    }
}

fn suggestion_suffix(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!(" (did you mean {one:?}?)"),
        many => format!(" (did you mean one of: {}?)", many.join(", ")),
    }
}

impl Error {
    /// Builds an [`Error::UnknownContext`] for `name`, suggesting the close matches in `known`.
    pub fn unknown_context(name: &str, known: Vec<String>) -> Self {
        let suggestions = crate::suggest::close_matches(name, known.iter().map(String::as_str));
        Error::UnknownContext {
            name: name.to_string(),
            known,
            suggestions,
        }
    }

    /// Builds an [`Error::Invalid`] with a hint.
    pub fn invalid(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Invalid {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// Builds an [`Error::Failed`]: `message` and `hint` on top of the chain of `source`.
    ///
    /// An `anyhow::Error` source should be passed as
    /// `err.reallocate_into_boxed_dyn_error_without_backtrace()`, so that the hints further down
    /// its chain stay visible to [`crate::exit::find_hint`].
    pub fn failed(
        message: impl Into<String>,
        hint: Option<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Error::Failed {
            message: message.into(),
            hint,
            source,
        }
    }

    /// Wraps a kube error with what was being done.
    pub fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            action: action.into(),
            source,
        }
    }

    /// What the user can do about this error, if there is something useful to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::KubeconfigMissing { .. } | Error::KubeconfigRead { .. } => Some(
                "pass --kubeconfig FILE or set KUBECONFIG; for the local sandbox run `tests/sandbox/sandbox env`"
                    .into(),
            ),
            Error::UnknownContext { .. } => Some("list contexts with `kubectl config get-contexts`".into()),
            Error::Config { .. } => Some(
                "fix the file, or see the defaults with `kubectl certs config` (README: Configuration)".into(),
            ),
            Error::NeedsConfirmation { .. } => {
                Some("re-run with --yes to confirm, or --dry-run to see what would happen".into())
            }
            Error::NotFound { list_hint, .. } => list_hint.clone(),
            Error::Invalid { hint, .. } | Error::Usage { hint, .. } | Error::Failed { hint, .. } => {
                hint.clone()
            }
            Error::Kube { source, .. } | Error::Client(source) => kube_hint(source),
            _ => None,
        }
    }
}

/// How the user invoked this plugin: `kubectl certs` for the binary `kubectl-certs`.
fn invoked_as() -> String {
    let name = std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    match name.strip_prefix("kubectl-") {
        Some(plugin) => format!("kubectl {plugin}"),
        None => "kubectl <plugin>".to_string(),
    }
}

/// A hint for common Kubernetes API failures (RBAC, not found, unreachable).
pub fn kube_hint(err: &kube::Error) -> Option<String> {
    match err {
        kube::Error::Api(status) if status.code == 403 => Some(format!(
            "your user lacks the permission named above; `{} rbac` prints the Role each command needs",
            invoked_as()
        )),
        kube::Error::Api(status) if status.code == 401 => Some(
            "the cluster rejected your credentials; refresh them (check --context / KUBECONFIG)"
                .into(),
        ),
        kube::Error::Api(status) if status.code == 404 => {
            Some("check the name and the namespace (-n NAMESPACE, or -A to look everywhere)".into())
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => Some(
            "is the cluster reachable? check --context / KUBECONFIG and --request-timeout".into(),
        ),
        _ => None,
    }
}
