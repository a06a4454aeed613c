//! Shell completion for the plugins.
//!
//! - `kubectl <plugin> completion bash|zsh|fish|powershell` prints a static script for the
//!   `kubectl-<plugin>` command (clap_complete).
//! - kubectl ≥ 1.26 completes `kubectl <plugin> <TAB>` by running `kubectl_complete-<plugin>
//!   ARGS... CURRENT` and reading candidates one per line (`value<TAB>description`), then a
//!   `:<directive>` line. Each plugin binary answers that protocol itself when it is invoked
//!   under the name `kubectl_complete-<plugin>` (a symlink or copy of the binary), using
//!   clap_complete's engine, so subcommands, flags and dynamic values (cache types,
//!   certificates, pods, sessions) all complete.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::time::Duration;

use clap::{Args, ValueEnum};
use clap_complete::engine::CompletionCandidate;

use crate::cluster::ClusterArgs;
use crate::config::ConfigArgs;
use crate::error::{Error, Result};

/// Cobra's `ShellCompDirectiveNoFileComp`: do not fall back to file names.
pub const DIRECTIVE_NO_FILE_COMP: u8 = 4;

/// Prefix of kubectl's completion executables.
pub const COMPLETER_PREFIX: &str = "kubectl_complete-";

/// Shells a static script can be printed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// GNU bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
    /// PowerShell.
    Powershell,
}

impl From<Shell> for clap_complete::Shell {
    fn from(shell: Shell) -> Self {
        match shell {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
            Shell::Powershell => clap_complete::Shell::PowerShell,
        }
    }
}

/// `completion SHELL`.
#[derive(Debug, Clone, Args)]
pub struct CompletionArgs {
    /// The shell to print a completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the static completion script for `cmd` (named `kubectl-<plugin>`).
pub fn print_script(mut cmd: clap::Command, shell: Shell, out: &mut dyn Write) -> Result<()> {
    let name = cmd.get_name().to_string();
    clap_complete::generate(clap_complete::Shell::from(shell), &mut cmd, name, out);
    out.flush().map_err(Error::Output)
}

/// The plugin name when this process was started as `kubectl_complete-<plugin>`.
pub fn completer_plugin_name(argv0: &OsStr) -> Option<String> {
    let file = std::path::Path::new(argv0).file_stem()?.to_str()?;
    file.strip_prefix(COMPLETER_PREFIX).map(str::to_string)
}

/// True when the current process was started as a kubectl completion executable.
pub fn invoked_as_completer() -> bool {
    std::env::args_os()
        .next()
        .is_some_and(|a| completer_plugin_name(&a).is_some())
}

/// Answers kubectl's plugin-completion protocol for `words` (the words after the plugin
/// name; the last one is being completed, possibly empty).
pub fn kubectl_complete(
    mut cmd: clap::Command,
    words: &[OsString],
    out: &mut dyn Write,
) -> Result<()> {
    let mut args: Vec<OsString> = vec![OsString::from(cmd.get_name())];
    args.extend(words.iter().cloned());
    if words.is_empty() {
        args.push(OsString::new());
    }
    let index = args.len() - 1;
    let cwd = std::env::current_dir().ok();
    let candidates = clap_complete::engine::complete(&mut cmd, args, index, cwd.as_deref())
        .map_err(Error::Output)?;
    let mut text = String::new();
    for candidate in candidates.iter().filter(|c| !c.is_hide_set()) {
        text.push_str(&candidate.get_value().to_string_lossy());
        if let Some(help) = candidate.get_help() {
            let help = help.to_string();
            if let Some(first) = help.lines().next().filter(|l| !l.is_empty()) {
                text.push('\t');
                text.push_str(first);
            }
        }
        text.push('\n');
    }
    text.push_str(&format!(":{DIRECTIVE_NO_FILE_COMP}\n"));
    crate::output::write_str(out, &text)
}

/// Runs the completer with this process's arguments and returns the exit code.
pub fn run_completer(cmd: clap::Command) -> std::process::ExitCode {
    let words: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut stdout = std::io::stdout().lock();
    match kubectl_complete(cmd, &words, &mut stdout) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => crate::exit::report(&err),
    }
}

// ---- dynamic candidates -------------------------------------------------------------

/// The value of a flag (`--name VALUE`, `--name=VALUE`, or a short `-n VALUE`) among this
/// process's arguments: completers see only the word being completed, so they read the
/// flags typed before it from here.
pub fn flag_value(long: &str, short: Option<char>) -> Option<String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    flag_value_in(&args, long, short)
}

fn flag_value_in(args: &[String], long: &str, short: Option<char>) -> Option<String> {
    let long_eq = format!("--{long}=");
    let long_flag = format!("--{long}");
    let short_flag = short.map(|c| format!("-{c}"));
    let mut found = None;
    let mut iter = args.iter().peekable();
    while let Some(arg) = iter.next() {
        if let Some(v) = arg.strip_prefix(&long_eq) {
            found = Some(v.to_string());
        } else if *arg == long_flag || short_flag.as_deref() == Some(arg.as_str()) {
            if let Some(v) = iter.peek().filter(|v| !v.is_empty()) {
                found = Some((*v).clone());
            }
        } else if let Some(s) = short_flag
            .as_deref()
            .filter(|_| arg.len() > 2)
            .and_then(|s| arg.strip_prefix(s))
        {
            found = Some(s.trim_start_matches('=').to_string());
        }
    }
    found
}

/// Cluster flags as typed so far on the command line being completed.
pub fn typed_cluster_args() -> ClusterArgs {
    ClusterArgs {
        kubeconfig: flag_value("kubeconfig", None).map(Into::into),
        context: flag_value("context", None)
            .map(|v| v.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
        namespace: flag_value("namespace", Some('n')),
        ..Default::default()
    }
}

/// The configuration as selected by the `--config` typed so far (defaults on any error).
pub fn typed_config() -> crate::config::Config {
    let args = ConfigArgs {
        config: flag_value("config", None).map(Into::into),
    };
    args.load().map(|l| l.config).unwrap_or_default()
}

/// Cache type names from the configuration.
pub fn cache_type_candidates() -> Vec<CompletionCandidate> {
    typed_config()
        .cache_types
        .into_iter()
        .map(|c| {
            CompletionCandidate::new(c.name)
                .help(Some(format!("{} ({})", c.description, c.pattern).into()))
        })
        .collect()
}

/// Certificate names from the configuration.
pub fn configured_certificate_candidates() -> Vec<CompletionCandidate> {
    typed_config()
        .certificates
        .into_iter()
        .map(|c| {
            CompletionCandidate::new(c.name)
                .help(Some(format!("{} via {}", c.secret_name, c.method).into()))
        })
        .collect()
}

/// Names of objects listed from the cluster by `list`, in the namespace typed so far (or
/// the context's/config's). Gives up quietly after two seconds: completion must not hang.
pub fn cluster_candidates<F, Fut>(list: F) -> Vec<CompletionCandidate>
where
    F: FnOnce(kube::Client, String) -> Fut,
    Fut: std::future::Future<Output = Vec<CompletionCandidate>>,
{
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    runtime.block_on(async move {
        let cluster = typed_cluster_args();
        let config = typed_config();
        let work = async {
            let conn = cluster.connect().await.ok()?;
            let scope =
                cluster.namespace_scope(false, Some(&conn.kubeconfig), Some(&config.namespace));
            let namespace = scope.as_option().unwrap_or("default").to_string();
            Some(list(conn.client, namespace).await)
        };
        tokio::time::timeout(Duration::from_secs(2), work)
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
    })
}

/// Pod names (optionally filtered by a label selector) in the typed namespace.
pub fn pod_candidates(label_selector: Option<&'static str>) -> Vec<CompletionCandidate> {
    use k8s_openapi::api::core::v1::Pod;
    cluster_candidates(|client, namespace| async move {
        let pods: kube::Api<Pod> = kube::Api::namespaced(client, &namespace);
        let mut params = kube::api::ListParams::default();
        if let Some(sel) = label_selector {
            params = params.labels(sel);
        }
        let Ok(list) = pods.list_metadata(&params).await else {
            return Vec::new();
        };
        list.items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .map(CompletionCandidate::new)
            .collect()
    })
}

/// Certificate names: the configuration's, then the `kubernetes.io/tls` Secrets in the
/// typed namespace.
pub fn certificate_candidates() -> Vec<CompletionCandidate> {
    use k8s_openapi::api::core::v1::Secret;
    let mut candidates = configured_certificate_candidates();
    candidates.extend(cluster_candidates(|client, namespace| async move {
        let secrets: kube::Api<Secret> = kube::Api::namespaced(client, &namespace);
        let params = kube::api::ListParams::default().fields("type=kubernetes.io/tls");
        let Ok(list) = secrets.list_metadata(&params).await else {
            return Vec::new();
        };
        list.items
            .into_iter()
            .filter_map(|s| s.metadata.name)
            .map(|n| CompletionCandidate::new(n).help(Some("TLS Secret".into())))
            .collect()
    }));
    candidates
}

/// Pods that can be debugged, in the typed namespace.
pub fn target_candidates() -> Vec<CompletionCandidate> {
    pod_candidates(None)
}

/// The debug sessions `kubectl debugpod` started, in the typed namespace.
pub fn debug_session_candidates() -> Vec<CompletionCandidate> {
    pod_candidates(Some("app.kubernetes.io/managed-by=kubectl-debugpod"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_completer_names() {
        assert_eq!(
            completer_plugin_name(OsStr::new("/usr/bin/kubectl_complete-certs")).as_deref(),
            Some("certs")
        );
        assert_eq!(
            completer_plugin_name(OsStr::new("kubectl_complete-rflush.exe")).as_deref(),
            Some("rflush")
        );
        assert_eq!(
            completer_plugin_name(OsStr::new("/usr/bin/kubectl-certs")),
            None
        );
    }

    #[test]
    fn reads_typed_flags() {
        let args: Vec<String> = [
            "flush",
            "-n",
            "prod",
            "--context=ctx",
            "--config",
            "/c.yaml",
            "x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            flag_value_in(&args, "namespace", Some('n')).as_deref(),
            Some("prod")
        );
        assert_eq!(
            flag_value_in(&args, "context", None).as_deref(),
            Some("ctx")
        );
        assert_eq!(
            flag_value_in(&args, "config", None).as_deref(),
            Some("/c.yaml")
        );
        let args: Vec<String> = vec!["-nprod".into()];
        assert_eq!(
            flag_value_in(&args, "namespace", Some('n')).as_deref(),
            Some("prod")
        );
        assert_eq!(flag_value_in(&args, "kubeconfig", None), None);
    }

    #[test]
    fn completes_subcommands_with_the_protocol_directive() {
        let cmd = clap::Command::new("kubectl-x")
            .subcommand(clap::Command::new("flush").about("Flush keys"))
            .subcommand(clap::Command::new("stats").about("Show stats"));
        let mut out = Vec::new();
        kubectl_complete(cmd, &[OsString::from("fl")], &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "flush\tFlush keys\n:4\n");
    }
}
