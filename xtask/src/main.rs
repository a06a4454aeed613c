//! `cargo xtask`: developer tasks for kubectl-ops.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use xtask::{dist, docs, krew};

/// Developer tasks for kubectl-ops.
#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build release binaries and archives for this platform, with .sha256 files, rendered
    /// krew manifests, man pages and completion scripts, under target/dist.
    Dist {
        /// Release tag (semver with a v).
        #[arg(long, default_value = concat!("v", env!("CARGO_PKG_VERSION")))]
        tag: String,
        /// Output directory.
        #[arg(long, default_value = "target/dist")]
        out: PathBuf,
        /// Package the binaries already in target/release instead of building them.
        #[arg(long)]
        skip_build: bool,
    },
    /// Write man pages.
    Man {
        /// Output directory.
        #[arg(long, default_value = "target/dist/man")]
        out: PathBuf,
    },
    /// Write completion scripts for bash, zsh, fish and PowerShell.
    Completions {
        /// Output directory.
        #[arg(long, default_value = "target/dist/completions")]
        out: PathBuf,
    },
    /// Validate krew manifests (rendered ones, e.g. target/dist/krew/*.yaml) like krew's validator.
    ValidateManifests {
        /// Manifest files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = repo_root();
    match cli.task {
        Task::Dist {
            tag,
            out,
            skip_build,
        } => {
            let out = root.join(out);
            if !skip_build {
                let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
                let status = Command::new(cargo)
                    .current_dir(&root)
                    .args([
                        "build",
                        "--release",
                        "--locked",
                        "-p",
                        "kubectl-certs",
                        "-p",
                        "kubectl-rflush",
                        "-p",
                        "kubectl-debugpod",
                    ])
                    .status()
                    .context("run cargo build --release")?;
                if !status.success() {
                    bail!("cargo build --release failed");
                }
            }
            for plugin in krew::PLUGINS {
                let binary = root
                    .join("target/release")
                    .join(format!("kubectl-{plugin}"));
                let archive = dist::package(&binary, plugin, &tag, &root, &out)?;
                dist::render_manifest(&root, plugin, &tag, &out)?;
                eprintln!("wrote {} and krew/{plugin}.yaml", archive.display());
            }
            docs::write_man_pages(&out.join("man"))?;
            docs::write_completions(&out.join("completions"))?;
            eprintln!(
                "wrote man pages and completion scripts under {}",
                out.display()
            );
        }
        Task::Man { out } => {
            let pages = docs::write_man_pages(&root.join(out))?;
            eprintln!("wrote {} man pages", pages.len());
        }
        Task::Completions { out } => docs::write_completions(&root.join(out))?,
        Task::ValidateManifests { files } => {
            let mut failed = false;
            for file in files {
                let stem = file
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_string();
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("read {}", file.display()))?;
                let problems = krew::validate(&stem, &text);
                if problems.is_empty() {
                    println!("{}: ok", file.display());
                } else {
                    failed = true;
                    for p in problems {
                        println!("{}: {p}", file.display());
                    }
                }
            }
            if failed {
                bail!("invalid manifests");
            }
        }
    }
    Ok(())
}
