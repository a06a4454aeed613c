//! The command line of `kubectl certs`.

use clap::{Parser, Subcommand};
use shared::cli::{ConfigCommand, GlobalArgs};

/// List, check, validate, back up, rotate and restore TLS certificates held in Kubernetes Secrets (cert-manager and Vault/OpenBao).
#[derive(Debug, Parser)]
#[command(name = "kubectl-certs", bin_name = "kubectl certs", version, about, propagate_version = true)]
#[command(after_help = "Exit codes: 0 ok, 1 failure, 2 usage error.\nDocs: https://github.com/kubectl-ops/kubectl-ops#kubectl-certs")]
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
    /// Show the effective configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}
