//! `kubectl certs`: List, check, validate, back up, rotate and restore TLS certificates held in Kubernetes Secrets (cert-manager and Vault/OpenBao).
//!
//! The binary is a thin wrapper around [`main`]; commands live in [`commands`] and take
//! their output writer as an argument so they can be tested. The certificate logic is in
//! modules with one job each: [`pem`] (splitting), [`inspect`] (X.509 facts), [`keys`]
//! (key ↔ certificate), [`chain`] (order and signature verification), [`findings`] (the
//! verdicts), [`model`] (the cluster's Certificates and Secrets), [`served`] (TLS endpoints),
//! [`vault`], [`certmanager`], [`restart`], [`backup`] and [`rotation`] (reports).

pub mod backup;
pub mod certmanager;
pub mod chain;
pub mod cli;
pub mod commands;
pub mod evaluate;
pub mod findings;
pub mod inspect;
pub mod keys;
pub mod model;
pub mod pem;
pub mod prometheus;
pub mod restart;
pub mod rotation;
pub mod scan;
pub mod served;
pub mod sources;
pub mod vault;

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
