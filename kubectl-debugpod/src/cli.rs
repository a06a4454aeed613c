//! The command line of `kubectl debugpod`.

use clap::{Parser, Subcommand};
use shared::cli::{ConfigCommand, GlobalArgs};

/// Least-privilege debug pods next to a target pod: diagnostics, packet capture, shell, report, and a TTL that cleans up by itself.
#[derive(Debug, Parser)]
#[command(name = "kubectl-debugpod", bin_name = "kubectl debugpod", version, about, propagate_version = true)]
#[command(after_help = "Exit codes: 0 ok, 1 failure, 2 usage error.\nDocs: https://github.com/kubectl-ops/kubectl-ops#kubectl-debugpod")]
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
