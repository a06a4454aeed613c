//! `kubectl rflush`: Inspect Redis and flush cache keys by type or pattern without blocking it: backed up first, resumable, reversible.
//!
//! The binary is a thin wrapper around [`main`]; commands live in [`commands`] and take
//! their output writer as an argument so they can be tested.

pub mod cli;
pub mod commands;

use std::process::ExitCode;

use clap::Parser;

/// Parses the command line, runs the command, prints any error once, returns the exit code.
pub fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    shared::cli::block_on(commands::run(cli))
}
