//! The command line of `kubectl certs`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use shared::cli::{ConfigCommand, GlobalArgs};
use shared::cluster::AllNamespacesArg;
use shared::duration::parse_duration;
use shared::output::{OutputArgs, SummaryOutputArgs};

/// List, check, validate, back up, rotate and restore TLS certificates held in Kubernetes Secrets (cert-manager and Vault/OpenBao).
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-certs",
    bin_name = "kubectl certs",
    version,
    about,
    propagate_version = true
)]
#[command(
    after_help = "Exit codes: 0 ok, 1 failure, 2 usage error; check/validate: 3 warning, 4 critical, 5 unknown; rotate: 124 timeout.\nDocs: https://github.com/kubectl-ops/kubectl-ops#kubectl-certs"
)]
pub struct Cli {
    /// Flags shared by every kubectl-ops plugin.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every certificate: cert-manager Certificates, kubernetes.io/tls Secrets and the config's named certificates.
    List(ListArgs),
    /// Grade certificates with every finding validate has, showing the worst; graded exit codes (0 ok, 3 warning, 4 critical, 5 unknown).
    Check(CheckArgs),
    /// Validate one certificate in depth: chain, key, SANs, usages, algorithms, renewal settings.
    Validate(ValidateArgs),
    /// Back up a certificate's Secret and Certificate (and Vault KV copy) as re-appliable YAML.
    Backup(BackupArgs),
    /// Restore Secrets and Certificates from a backup directory or file.
    Restore(RestoreArgs),
    /// Rotate certificates through cert-manager or Vault/OpenBao, restart their workloads, verify.
    Rotate(RotateArgs),
    /// Print the minimal Role (or ClusterRole) each command needs.
    Rbac(RbacArgs),
    /// Show the effective configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script for kubectl-PLUGIN (bash, zsh, fish, powershell).
    Completion(shared::completion::CompletionArgs),
}

/// Which objects to consider.
#[derive(Debug, Clone, Default, Args)]
pub struct SelectArgs {
    /// -A/--all-namespaces.
    #[command(flatten)]
    pub all_namespaces: AllNamespacesArg,
    /// Selector (label query) to filter on, e.g. -l app=api-gateway.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
}

/// `list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Scope.
    #[command(flatten)]
    pub select: SelectArgs,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Expiry thresholds (the status and the days-left colour, as in check).
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
    /// `--chunk-size`: the page size of the Certificate and Secret LISTs.
    #[command(flatten)]
    pub chunk: shared::paging::ChunkSizeArg,
    /// `--source`, `--include-opaque`.
    #[command(flatten)]
    pub sources: SourceArgs,
}

/// Which sources of certificates `list` and `check` read.
#[derive(Debug, Clone, Default, Args)]
pub struct SourceArgs {
    /// Read exactly these sources (comma list, repeatable) [default: certificate,secret,ingress in one namespace; every source with -A].
    #[arg(
        long = "source",
        value_name = "SOURCE",
        value_enum,
        value_delimiter = ','
    )]
    pub sources: Vec<crate::model::Origin>,
    /// The secret source also reads Opaque Secrets holding PEM certificates under any key.
    #[arg(long)]
    pub include_opaque: bool,
}

/// `--warn` / `--crit`.
#[derive(Debug, Clone, Copy, Args)]
pub struct ThresholdArgs {
    /// Warn when less than this remains (e.g. 30d).
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = parse_duration)]
    pub warn: Duration,
    /// Critical when less than this remains (e.g. 7d).
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub crit: Duration,
}

/// `check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Certificate names (Certificate, Secret or config name); none = every certificate in scope (then -l filters).
    #[arg(conflicts_with = "selector")]
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(shared::completion::certificate_candidates))]
    pub names: Vec<String>,
    /// Scope.
    #[command(flatten)]
    pub select: SelectArgs,
    /// Thresholds.
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
    /// Also fetch the certificate served at HOST:PORT, or svc/NAME:PORT (through a port-forward), and compare it with the Secret's.
    #[arg(long, value_name = "HOST:PORT|svc/NAME:PORT")]
    pub endpoint: Option<String>,
    /// Extra trusted CA certificates (PEM) to verify chains against, besides ca.crt.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// `--chunk-size`: the page size of the Certificate and Secret LISTs (a usage error with
    /// names, which are looked up on their own).
    #[command(flatten)]
    pub chunk: shared::paging::ChunkSizeArg,
    /// `--source`, `--include-opaque` (a usage error with names).
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Output format for scripts and monitoring [default: a table for people].
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FORMAT",
        value_enum,
        default_value_t = CheckFormat::Text,
        hide_default_value = true
    )]
    pub output: CheckFormat,
}

/// What `check -o` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum CheckFormat {
    /// A table of verdicts and a summary line, for people (the default; `table` is an alias).
    #[default]
    #[value(alias = "table", hide = true)]
    Text,
    /// JSON, for scripts.
    Json,
    /// YAML, for scripts.
    Yaml,
    /// Prometheus text exposition format, for node_exporter's textfile collector or a Pushgateway.
    Prometheus,
}

/// `validate`.
#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// Certificate, Secret or config name.
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(shared::completion::certificate_candidates))]
    pub name: String,
    /// Extra trusted CA certificates (PEM) to verify the chain against, besides ca.crt.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Also compare with the certificate served at HOST:PORT or svc/NAME:PORT.
    #[arg(long, value_name = "HOST:PORT|svc/NAME:PORT")]
    pub endpoint: Option<String>,
    /// Thresholds.
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
    /// Output format (the findings as text, or json/yaml).
    #[command(flatten)]
    pub output: SummaryOutputArgs,
}

/// `backup`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Certificate, Secret or config name.
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(shared::completion::certificate_candidates))]
    pub name: String,
    /// Directory to write into (default: a timestamped directory under the config's backup_dir).
    #[arg(short = 'f', long = "dir", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `restore`.
#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// A backup directory (with manifest.json) or one YAML file.
    pub path: PathBuf,
    /// Show what would be restored (server-side dry run) without changing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Overwrite existing objects without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
}

/// How to rotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// cert-manager when a Certificate manages the Secret, else the config's method.
    Auto,
    /// Trigger cert-manager re-issuance (Issuing=True) and wait for it.
    CertManager,
    /// Issue from Vault/OpenBao PKI and write the Secret.
    Vault,
}

/// `rotate`.
#[derive(Debug, Clone, Args)]
pub struct RotateArgs {
    /// Certificate, Secret or config names.
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(shared::completion::certificate_candidates))]
    pub names: Vec<String>,
    /// Rotate every certificate in scope.
    #[arg(long)]
    pub all: bool,
    /// Scope and label selector (bulk).
    #[command(flatten)]
    pub select: SelectArgs,
    /// Only certificates expiring within this duration (e.g. 30d).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub expiring_within: Option<Duration>,
    /// Only Certificates whose issuerRef.name is NAME.
    #[arg(long, value_name = "NAME")]
    pub issuer: Option<String>,
    /// How to rotate.
    #[arg(long, value_enum, default_value_t = Method::Auto)]
    pub method: Method,
    /// Show the plan, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Do not restart the workloads that mount the Secret.
    #[arg(long)]
    pub no_restart: bool,
    /// Give up waiting (issuance, rollouts) after this long.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// After rotating, check that HOST:PORT or svc/NAME:PORT serves the new certificate.
    #[arg(long, value_name = "HOST:PORT|svc/NAME:PORT")]
    pub endpoint: Option<String>,
    /// Do not store a copy of a Vault-issued certificate in the KV v2 mount of the config.
    #[arg(long)]
    pub no_kv: bool,
    /// Output format for the final summary (a table, or json/yaml).
    #[command(flatten)]
    pub output: SummaryOutputArgs,
}

/// `rbac`.
#[derive(Debug, Clone, Args)]
pub struct RbacArgs {
    /// Commands to include (default: all).
    #[arg(value_name = "COMMAND")]
    pub commands: Vec<String>,
    /// Print a ClusterRole (for -A) instead of a Role.
    #[arg(long)]
    pub cluster_role: bool,
    /// Name of the Role.
    #[arg(long, default_value = "kubectl-certs")]
    pub name: String,
}
