//! The subcommands of `kubectl debugpod`.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match &cli.command {
        Command::Config(cmd) => Ok(cmd.run(&cli.global, &mut stdout)?),
    }
}
