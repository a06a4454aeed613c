//! The command line of `kubectl debugpod`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use shared::cli::{ConfigCommand, GlobalArgs};
use shared::cluster::AllNamespacesArg;
use shared::duration::parse_duration;
use shared::output::OutputArgs;

use crate::profile::Profile;

/// Least-privilege debug pods next to a target pod: diagnostics, packet capture, shell, report, and a TTL that cleans up by itself.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-debugpod",
    bin_name = "kubectl debugpod",
    version,
    about,
    propagate_version = true
)]
#[command(
    after_help = "Exit codes: 0 ok, 1 failure, 2 usage error; `exec -- CMD` exits with CMD's code.\nDocs: https://github.com/kubectl-ops/kubectl-ops#kubectl-debugpod"
)]
pub struct Cli {
    /// Flags shared by every kubectl-ops plugin.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the debugger runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Mode {
    /// A separate pod on the target's node (removable, resource-limited, TTL enforced by Kubernetes).
    #[default]
    Pod,
    /// An ephemeral container inside the target pod (Kubernetes ≥ 1.25; can never be removed).
    Ephemeral,
}

/// How a debug session is made, when a command has to make one.
#[derive(Debug, Clone, Args)]
pub struct SessionArgs {
    /// Debug image [default: debug_image from the config].
    #[arg(long)]
    pub image: Option<String>,
    /// Lifetime; Kubernetes kills the pod after it (activeDeadlineSeconds) [default: debug_ttl from the config].
    #[arg(long, value_parser = parse_duration)]
    pub ttl: Option<Duration>,
    /// What the debugger may do (see `kubectl debugpod create --help`).
    #[arg(long, value_enum)]
    pub profile: Option<Profile>,
    /// Shells and `exec -- CMD` start inside the target's network namespace (needs netadmin or sysadmin).
    #[arg(long)]
    pub share_netns: bool,
    /// Why, e.g. a ticket (an annotation on the debug pod; in --mode ephemeral, DEBUGPOD_REASON in the container's spec).
    #[arg(long)]
    pub reason: Option<String>,
    /// How long to wait for the debug pod to run.
    #[arg(long, value_parser = parse_duration, default_value = "2m")]
    pub timeout: Duration,
    /// CPU limit of the debug container [default: 500m] (not with --mode ephemeral: it shares the pod's).
    #[arg(long)]
    pub cpu_limit: Option<String>,
    /// Memory limit of the debug container [default: 256Mi] (not with --mode ephemeral).
    #[arg(long)]
    pub memory_limit: Option<String>,
}

#[cfg(test)]
impl SessionArgs {
    /// The flags' defaults, as an empty command line gives them (for tests).
    pub fn defaults() -> Self {
        #[derive(Parser)]
        struct Probe {
            #[command(flatten)]
            args: SessionArgs,
        }
        Probe::parse_from(["probe"]).args
    }
}

impl SessionArgs {
    /// The flags given that only shape a session this command creates (`--image`, `--ttl`,
    /// `--reason`, `--cpu-limit`, `--memory-limit`): with any of them, a running session is
    /// not reused, since it was made without them.
    pub fn creation_flags(&self) -> Vec<&'static str> {
        [
            (self.image.is_some(), "--image"),
            (self.ttl.is_some(), "--ttl"),
            (self.reason.is_some(), "--reason"),
            (self.cpu_limit.is_some(), "--cpu-limit"),
            (self.memory_limit.is_some(), "--memory-limit"),
        ]
        .into_iter()
        .filter_map(|(given, flag)| given.then_some(flag))
        .collect()
    }

    /// `--reason`, empty when not given.
    pub fn reason_text(&self) -> String {
        self.reason.clone().unwrap_or_default()
    }

    /// The debug container's requests and limits: the defaults, with `--cpu-limit` and
    /// `--memory-limit` applied.
    pub fn resources(&self) -> crate::pod_spec::Resources {
        let defaults = crate::pod_spec::Resources::default();
        crate::pod_spec::Resources {
            cpu_limit: self.cpu_limit.clone().unwrap_or(defaults.cpu_limit.clone()),
            memory_limit: self
                .memory_limit
                .clone()
                .unwrap_or(defaults.memory_limit.clone()),
            ..defaults
        }
    }
}

/// `exec` output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ResultFormat {
    /// Sections for people.
    #[default]
    Text,
    /// JSON for scripts.
    Json,
}

/// `report` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ReportFormat {
    /// Markdown.
    #[default]
    Markdown,
    /// JSON.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List candidate target pods, or (--sessions) the debug sessions this tool started.
    List {
        /// Show debug sessions instead of targets.
        #[arg(long)]
        sessions: bool,
        /// All namespaces.
        #[command(flatten)]
        all: AllNamespacesArg,
        /// Output format.
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Start a debug session next to TARGET (a separate pod on its node, or --mode ephemeral), or of a copy of TARGET (--copy).
    ///
    /// Profiles: restricted (non-root, drop ALL), baseline (runtime defaults), general (+SYS_PTRACE),
    /// netadmin (hostPID + NET_ADMIN/NET_RAW/SYS_PTRACE/SYS_ADMIN: enters the target's network
    /// namespace), sysadmin (privileged, host namespaces, node / at /host). A server-side dry-run
    /// checks admission first; the pod ends by itself after --ttl.
    Create {
        /// Target pod (or a Deployment-style prefix with exactly one Running pod).
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(shared::completion::target_candidates))]
        target: String,
        /// Session settings.
        #[command(flatten)]
        session: SessionArgs,
        /// Separate pod (default) or ephemeral container.
        #[arg(long, value_enum, default_value_t = Mode::Pod)]
        mode: Mode,
        /// Target container (for ephemeral mode's process namespace and the PID search; with --copy, the container whose command is replaced [default: the crashing one]).
        #[arg(short = 'c', long)]
        container: Option<String>,
        /// Do not ask before adding an ephemeral container (it can never be removed).
        #[arg(short = 'y', long)]
        yes: bool,
        /// Print the session as JSON instead of a summary.
        #[arg(short = 'o', long, value_enum, default_value_t = ResultFormat::Text)]
        output: ResultFormat,
        /// Debug a copy of TARGET (any phase, e.g. CrashLoopBackOff): same spec and node, one container's command replaced (by `-- CMD`, default: sleep until --ttl), no probes, no Service traffic, no owner.
        #[arg(long)]
        copy: bool,
        /// With --copy: let the scheduler place the copy instead of pinning it to the target's node.
        #[arg(long, requires = "copy")]
        any_node: bool,
        /// With --copy: run CONTAINER with IMAGE (repeatable; `*=IMAGE` for every container).
        #[arg(long, requires = "copy", value_name = "CONTAINER=IMAGE", value_parser = crate::copy::parse_set_image)]
        set_image: Vec<crate::copy::ImageOverride>,
        /// With --copy: the command that replaces the container's, after `--` (e.g. `-- sh`).
        #[arg(last = true, requires = "copy", value_name = "CMD")]
        command: Vec<String>,
    },
    /// A shell on a node, like node-shell or `kubectl debug node/NODE`: a privileged pod (sysadmin: hostPID, hostNetwork, the node's / at /host) pinned to NODE, tolerating every taint, with the same TTL, labels and cleanup as every session.
    ///
    /// `shell`, `exec -- CMD` and the `network`/`system` presets then run in the host's namespaces
    /// (`nsenter -t 1 -m -u -i -n`); `shell NODE` and `exec NODE ...` also find (or make) it by
    /// the node's name. A namespace whose admission refuses the pod is explained with one that
    /// accepts it.
    Node {
        /// The node.
        node: String,
        /// Debug image [default: debug_image from the config].
        #[arg(long)]
        image: Option<String>,
        /// Lifetime; Kubernetes kills the pod after it (activeDeadlineSeconds) [default: debug_ttl from the config].
        #[arg(long, value_parser = parse_duration)]
        ttl: Option<Duration>,
        /// Why, e.g. a ticket (an annotation on the pod).
        #[arg(long)]
        reason: Option<String>,
        /// How long to wait for the pod to run.
        #[arg(long, value_parser = parse_duration, default_value = "2m")]
        timeout: Duration,
        /// CPU limit of the pod's container [default: 500m].
        #[arg(long)]
        cpu_limit: Option<String>,
        /// Memory limit of the pod's container [default: 256Mi].
        #[arg(long)]
        memory_limit: Option<String>,
        /// Shells and commands run in the debug image (the node's files at /host) instead of entering the host's namespaces (for hosts without a shell).
        #[arg(long)]
        no_enter: bool,
        /// Print the session as JSON instead of a summary.
        #[arg(short = 'o', long, value_enum, default_value_t = ResultFormat::Text)]
        output: ResultFormat,
    },
    /// Open an interactive shell in a session (creates one if TARGET has none).
    #[command(visible_alias = "interactive")]
    Shell {
        /// Target pod, session id/pod (also of a copy or node session), or a node's name (`node/NAME`).
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(shared::completion::target_candidates))]
        target: String,
        /// Session settings (when one is created).
        #[command(flatten)]
        session: SessionArgs,
        /// Delete the session on exit without asking.
        #[arg(long)]
        rm: bool,
        /// Keep the session on exit without asking.
        #[arg(long, conflicts_with = "rm")]
        keep: bool,
        /// Shell to run.
        #[arg(long, default_value = "sh")]
        shell: String,
    },
    /// Run a preset (network, system) or `-- CMD...` against TARGET.
    ///
    /// Presets run inside the target's network namespace (and PID view) when the session's
    /// profile allows (netadmin, sysadmin); in a copy session inside the copy; on a node (its
    /// name, or a node session) in the host's namespaces. Without a session, one is created for
    /// the command and deleted afterwards (--keep keeps it).
    Exec {
        /// Target pod, session id/pod (also of a copy or node session), or a node's name (`node/NAME`).
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(shared::completion::target_candidates))]
        target: String,
        /// A preset: `network` or `system`.
        #[arg(value_enum, required_unless_present = "command")]
        preset: Option<crate::presets::Preset>,
        /// Or a command to run, after `--`.
        #[arg(last = true, value_name = "CMD")]
        command: Vec<String>,
        /// Session settings (when one is created).
        #[command(flatten)]
        session: SessionArgs,
        /// Target container (for the PID view).
        #[arg(short = 'c', long)]
        container: Option<String>,
        /// Keep a session created for this command.
        #[arg(long)]
        keep: bool,
        /// Output format for presets (`-- CMD` prints the command's own output).
        #[arg(short = 'o', long, value_enum, default_value_t = ResultFormat::Text, conflicts_with = "command")]
        output: ResultFormat,
    },
    /// Capture packets in the target's network namespace to a local pcap file (or stdout).
    Capture {
        /// Target pod or session id/pod.
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(shared::completion::target_candidates))]
        target: String,
        /// Output file; `-` for stdout (e.g. `| wireshark -k -i -`).
        #[arg(short = 'f', long, default_value = "capture.pcap")]
        file: PathBuf,
        /// tcpdump filter expression, e.g. "tcp port 8080".
        #[arg(long, default_value = "")]
        filter: String,
        /// How long to capture.
        #[arg(long, value_parser = parse_duration, default_value = "30s")]
        duration: Duration,
        /// Stop after this many packets.
        #[arg(long)]
        count: Option<u64>,
        /// Interface inside the target's netns.
        #[arg(short = 'i', long, default_value = "any")]
        interface: String,
        /// Session settings (when one is created).
        #[command(flatten)]
        session: SessionArgs,
        /// Keep a session created for this command.
        #[arg(long)]
        keep: bool,
    },
    /// Write one diagnostics report of TARGET: describe, statuses, logs, events, node, presets.
    Report {
        /// Target pod.
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(shared::completion::target_candidates))]
        target: String,
        /// Output file (`-` = stdout) [default: <reports_dir>/debugpod-<target>-<time>.md|json].
        #[arg(short = 'f', long)]
        file: Option<PathBuf>,
        /// Report format.
        #[arg(short = 'o', long, value_enum, default_value_t = ReportFormat::Markdown)]
        output: ReportFormat,
        /// Log lines per container.
        #[arg(long, default_value_t = 100)]
        tail: i64,
        /// Skip the network/system presets (no debug pod is needed then, so no session flags).
        #[arg(long, conflicts_with_all = ["image", "ttl", "profile", "share_netns", "reason", "timeout", "cpu_limit", "memory_limit"])]
        no_presets: bool,
        /// Session settings (when one is created for the presets).
        #[command(flatten)]
        session: SessionArgs,
    },
    /// Delete this tool's debug pods (by label only): expired/finished by default.
    Cleanup {
        /// Sessions (ids or pod names) to delete.
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(shared::completion::debug_session_candidates))]
        sessions: Vec<String>,
        /// Delete expired and finished sessions (the default when nothing else is named).
        #[arg(long)]
        expired: bool,
        /// Delete every session, running or not (so no SESSION names or --expired with it).
        #[arg(long, conflicts_with_all = ["sessions", "expired"])]
        all: bool,
        /// Show what would be deleted.
        #[arg(long)]
        dry_run: bool,
        /// Delete without asking (needed when stdin is not a terminal).
        #[arg(short = 'y', long)]
        yes: bool,
        /// All namespaces.
        #[command(flatten)]
        all_namespaces: AllNamespacesArg,
    },
    /// Print the minimal RBAC Role for the given commands (default: all but the opt-in modes ephemeral and node).
    Rbac {
        /// Commands (list, create, copy, shell, exec, capture, report, cleanup; opt-in: ephemeral, node — node adds a ClusterRole).
        commands: Vec<String>,
    },
    /// Show the effective configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script for kubectl-PLUGIN (bash, zsh, fish, powershell).
    Completion(shared::completion::CompletionArgs),
}
