//! `kubectl debugpod`: least-privilege debug pods next to a target pod — diagnostics, packet
//! capture, shell, report, and a TTL that cleans up by itself.
//!
//! The binary is a thin wrapper around [`main`]; commands live in [`commands`] and take
//! their output writer as an argument so they can be tested. The other modules have one job
//! each: [`profile`] (what a profile grants), [`pod_spec`] (the debug pod), [`session`]
//! (labels, annotations, reading sessions back), [`target`] (finding the target),
//! [`admission`] (the server-side dry-run), [`wait`] (watching until running), [`nsenter`]
//! (entering the target's netns), [`presets`], [`remote`] (pods/exec), [`pcap`], [`report`]
//! and [`ephemeral`]; [`flag_rules`] turns flags a mode would ignore into usage errors.

pub mod admission;
pub mod cli;
pub mod commands;
pub mod copy;
pub mod ephemeral;
pub mod flag_rules;
pub mod node;
pub mod nsenter;
pub mod pcap;
pub mod pod_spec;
pub mod presets;
pub mod profile;
pub mod remote;
pub mod report;
pub mod session;
pub mod target;
pub mod wait;

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
