//! Man pages and completion scripts generated from the clap definitions.

use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;

/// The three plugin command definitions, named `kubectl-<plugin>`.
pub fn commands() -> Vec<clap::Command> {
    vec![
        kubectl_certs::cli::Cli::command(),
        kubectl_rflush::cli::Cli::command(),
        kubectl_debugpod::cli::Cli::command(),
    ]
}

/// Writes `kubectl-<plugin>.1` and one page per subcommand (`kubectl-<plugin>-<sub>.1`).
pub fn write_man_pages(out_dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("create {}", out_dir.display()))?;
    let mut written = Vec::new();
    for cmd in commands() {
        written.extend(write_pages(cmd, out_dir)?);
    }
    Ok(written)
}

fn write_pages(cmd: clap::Command, out_dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let cmd = cmd.disable_help_subcommand(true);
    let mut written = Vec::new();
    let name = cmd
        .get_display_name()
        .unwrap_or(cmd.get_name())
        .replace(' ', "-");
    let path = out_dir.join(format!("{name}.1"));
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
    std::fs::write(&path, buf)?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub_name = format!("{name}-{}", sub.get_name());
        let sub = sub.clone().display_name(sub_name.clone()).name(sub_name);
        written.extend(write_pages(sub, out_dir)?);
    }
    Ok(written)
}

/// Writes completion scripts for every shell: `kubectl-<plugin>.bash` etc.
pub fn write_completions(out_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(out_dir)?;
    for mut cmd in commands() {
        let name = cmd.get_name().to_string();
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
            clap_complete::Shell::PowerShell,
        ] {
            clap_complete::generate_to(shell, &mut cmd, &name, out_dir)?;
        }
    }
    Ok(())
}
