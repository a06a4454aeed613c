//! `kubectl rflush`: Inspect Redis and flush cache keys by type or pattern without blocking it: backed up first, resumable, reversible.
//!
//! The binary is a thin wrapper around [`main`]; commands live in [`commands`] and take
//! their output writer as an argument so they can be tested. The modules below each do one
//! job: reaching Redis ([`connect`], [`cluster`], [`sentinel`], [`tls`]), the SCAN loop ([`scan`], [`engine`],
//! [`pacing`], [`progress`]), spread flushes ([`spread`]), the backup file ([`backup_format`]) and resuming
//! ([`checkpoint`]).

pub mod analysis;
pub mod backup_format;
pub mod checkpoint;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod connect;
pub mod dup_window;
pub mod engine;
pub mod glob;
pub mod info;
pub mod pacing;
pub mod progress;
pub mod sample;
pub mod scan;
pub mod sentinel;
pub mod spread;
pub mod tls;
pub mod unused_flags;

use std::process::ExitCode;

use clap::Parser;

/// Parses the command line, runs the command, prints any error once, returns the exit code.
pub fn main() -> ExitCode {
    if shared::completion::invoked_as_completer() {
        return shared::completion::run_completer(<cli::Cli as clap::CommandFactory>::command());
    }
    let cli = cli::Cli::parse();
    shared::cli::block_on(commands::run(cli))
}
