//! The command line of `kubectl rflush`.

use clap::{Parser, Subcommand};
use shared::cli::{ConfigCommand, GlobalArgs};

/// Inspect Redis and flush cache keys by type or pattern without blocking it: backed up first, resumable, reversible.
#[derive(Debug, Parser)]
#[command(name = "kubectl-rflush", bin_name = "kubectl rflush", version, about, propagate_version = true)]
#[command(after_help = "Exit codes: 0 ok, 1 failure, 2 usage error.\nDocs: https://github.com/kubectl-ops/kubectl-ops#kubectl-rflush")]
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
