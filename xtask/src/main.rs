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
    /// Build release binaries and archives for this platform (or --target), with .sha256
    /// files, rendered krew manifests, man pages and completion scripts, under target/dist.
    Dist {
        /// Release tag (semver with a v).
        #[arg(long, default_value = concat!("v", env!("CARGO_PKG_VERSION")))]
        tag: String,
        /// Output directory.
        #[arg(long, default_value = "target/dist")]
        out: PathBuf,
        /// Build for this Rust target triple (e.g. aarch64-apple-darwin) instead of this
        /// machine; linux and darwin on x86_64 and aarch64 are release platforms.
        #[arg(long, value_name = "TRIPLE")]
        target: Option<String>,
        /// Package the binaries already built (target/release, or target/TRIPLE/release with
        /// --target) instead of building them.
        #[arg(long)]
        skip_build: bool,
    },
    /// Render the krew manifests for a release from the archives of every release platform
    /// (all of them must be in --dist), into DIST/krew.
    ReleaseManifests {
        /// Release tag (semver with a v).
        #[arg(long)]
        tag: String,
        /// Directory holding every platform's archives and .sha256 files.
        #[arg(long, default_value = "target/dist")]
        dist: PathBuf,
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

/// Cargo's target directory for a build run in `root`: `CARGO_TARGET_DIR` when set (relative
/// to `root`), else `root/target`.
fn target_dir(root: &Path) -> PathBuf {
    root.join(std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into()))
}

/// `cargo build --release --locked` of the three plugins, for `target` when given.
fn build_release(root: &Path, target: Option<&str>) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--release", "--locked"]);
    if let Some(triple) = target {
        cmd.args(["--target", triple]);
    }
    for plugin in krew::PLUGINS {
        cmd.args(["-p", &format!("kubectl-{plugin}")]);
    }
    let status = cmd.status().context("run cargo build --release")?;
    if !status.success() {
        bail!("cargo build --release failed");
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = repo_root();
    match cli.task {
        Task::Dist {
            tag,
            out,
            target,
            skip_build,
        } => {
            let out = root.join(out);
            let platform = match &target {
                Some(triple) => dist::Platform::for_target(triple)?,
                None => dist::Platform::host()?,
            };
            if !skip_build {
                build_release(&root, target.as_deref())?;
            }
            let mut bin_dir = target_dir(&root);
            if let Some(triple) = &target {
                bin_dir.push(triple);
            }
            bin_dir.push("release");
            for archive in dist::package_all(&bin_dir, &tag, platform, &root, &out)? {
                eprintln!("wrote {}", archive.display());
            }
            eprintln!(
                "wrote krew manifests for {platform} under {}",
                out.join("krew").display()
            );
            docs::write_man_pages(&out.join("man"))?;
            docs::write_completions(&out.join("completions"))?;
            eprintln!(
                "wrote man pages and completion scripts under {}",
                out.display()
            );
        }
        Task::ReleaseManifests { tag, dist } => {
            for manifest in dist::render_release_manifests(&root, &tag, &root.join(dist))? {
                eprintln!("wrote {}", manifest.display());
            }
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
