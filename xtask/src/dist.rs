//! Release archives: `kubectl-<plugin>_<tag>_<os>_<arch>.tar.gz` holding the binary,
//! LICENSE and README.md, each with a `.sha256` file, and the krew manifests rendered with
//! the real checksums.

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::krew;

/// A platform in krew's (Go's) names, e.g. `linux/amd64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Platform {
    /// `linux` or `darwin`.
    pub os: &'static str,
    /// `amd64` or `arm64`.
    pub arch: &'static str,
}

/// Every platform a release ships archives for; the krew manifests list exactly these.
/// Unix only: the plugins use `std::os::unix` and SIGWINCH.
pub const RELEASE_PLATFORMS: [Platform; 4] = [
    Platform::new("linux", "amd64"),
    Platform::new("linux", "arm64"),
    Platform::new("darwin", "amd64"),
    Platform::new("darwin", "arm64"),
];

impl Platform {
    const fn new(os: &'static str, arch: &'static str) -> Self {
        Platform { os, arch }
    }

    /// The platform this program runs on.
    pub fn host() -> Result<Self> {
        Self::release(std::env::consts::OS, std::env::consts::ARCH).with_context(|| {
            format!(
                "this machine ({} {})",
                std::env::consts::OS,
                std::env::consts::ARCH
            )
        })
    }

    /// The platform of a Rust target triple, e.g. `aarch64-apple-darwin` → `darwin/arm64`.
    pub fn for_target(triple: &str) -> Result<Self> {
        let mut parts = triple.split('-');
        let arch = parts.next().unwrap_or_default();
        let os = if triple.contains("-linux") {
            "linux"
        } else if triple.contains("-apple-darwin") {
            "macos"
        } else if triple.contains("-windows") {
            bail!(
                "target {triple}: Windows is not a release platform (the plugins use Unix-only APIs); \
                 release targets are linux and darwin on x86_64 and aarch64"
            );
        } else {
            bail!("target {triple}: not a linux or darwin target triple");
        };
        Self::release(os, arch).with_context(|| format!("target {triple}"))
    }

    /// Maps Rust's names (`std::env::consts::OS`/`ARCH`) to a release platform.
    fn release(os: &str, arch: &str) -> Result<Self> {
        let os = match os {
            "macos" => "darwin",
            other => other,
        };
        let arch = match arch {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        match RELEASE_PLATFORMS
            .into_iter()
            .find(|p| p.os == os && p.arch == arch)
        {
            Some(platform) => Ok(platform),
            None => bail!(
                "{os}/{arch} is not a release platform (those are {})",
                RELEASE_PLATFORMS.map(|p| p.to_string()).join(", ")
            ),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)
    }
}

/// The archive file name for a plugin on a platform.
pub fn archive_name(plugin: &str, tag: &str, platform: Platform) -> String {
    format!(
        "kubectl-{plugin}_{tag}_{}_{}.tar.gz",
        platform.os, platform.arch
    )
}

/// Hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Packs `binary` (a build for `platform`, installed as `kubectl-<plugin>`) with LICENSE and
/// README.md from `repo_root` into `out_dir`, writes `<archive>.sha256`, and returns the
/// archive path.
pub fn package(
    binary: &Path,
    plugin: &str,
    tag: &str,
    platform: Platform,
    repo_root: &Path,
    out_dir: &Path,
) -> Result<PathBuf> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("create {}", out_dir.display()))?;
    let archive = out_dir.join(archive_name(plugin, tag, platform));
    let file = File::create(&archive).with_context(|| format!("create {}", archive.display()))?;
    let encoder = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(encoder);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut add = |path: &Path, name: &str, mode: u32| -> Result<()> {
        let mut data = Vec::new();
        File::open(path)
            .with_context(|| format!("open {}", path.display()))?
            .read_to_end(&mut data)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, data.as_slice())
            .with_context(|| format!("add {name}"))
    };
    add(binary, &format!("kubectl-{plugin}"), 0o755)?;
    add(&repo_root.join("LICENSE"), "LICENSE", 0o644)?;
    add(&repo_root.join("README.md"), "README.md", 0o644)?;
    tar.into_inner()?.finish()?.flush()?;
    let sha = sha256_file(&archive)?;
    let file_name = archive
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    std::fs::write(
        out_dir.join(format!("{file_name}.sha256")),
        format!("{sha}  {file_name}\n"),
    )?;
    Ok(archive)
}

/// Renders `krew-manifests/<plugin>.yaml` with the archives found in `dist_dir` (their
/// `.sha256` files) and writes `dist_dir/krew/<plugin>.yaml`; returns the rendered text.
pub fn render_manifest(
    repo_root: &Path,
    plugin: &str,
    tag: &str,
    dist_dir: &Path,
) -> Result<String> {
    let template_path = repo_root
        .join("krew-manifests")
        .join(format!("{plugin}.yaml"));
    let template = std::fs::read_to_string(&template_path)
        .with_context(|| format!("read {}", template_path.display()))?;
    let sha_for = |url: &str| -> Option<String> {
        let file = url.rsplit('/').next()?;
        let text = std::fs::read_to_string(dist_dir.join(format!("{file}.sha256"))).ok()?;
        text.split_whitespace().next().map(str::to_string)
    };
    let rendered = krew::render(&template, tag, &sha_for).map_err(anyhow::Error::msg)?;
    let problems = krew::validate(plugin, &rendered);
    if !problems.is_empty() {
        bail!(
            "rendered manifest for {plugin} is invalid:\n  {}",
            problems.join("\n  ")
        );
    }
    let out = dist_dir.join("krew");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join(format!("{plugin}.yaml")), &rendered)?;
    Ok(rendered)
}

/// Packs the three plugin binaries found in `bin_dir` (a build for `platform`) into
/// `out_dir` and renders the krew manifests for the archives there. Returns the archives.
pub fn package_all(
    bin_dir: &Path,
    tag: &str,
    platform: Platform,
    repo_root: &Path,
    out_dir: &Path,
) -> Result<Vec<PathBuf>> {
    let mut archives = Vec::new();
    for plugin in krew::PLUGINS {
        let binary = bin_dir.join(format!("kubectl-{plugin}"));
        if !binary.is_file() {
            bail!(
                "{} does not exist: build the plugins for {platform} first (drop --skip-build)",
                binary.display()
            );
        }
        archives.push(package(&binary, plugin, tag, platform, repo_root, out_dir)?);
        render_manifest(repo_root, plugin, tag, out_dir)?;
    }
    Ok(archives)
}

/// Renders every plugin's krew manifest from the archives in `dist_dir` into
/// `dist_dir/krew/`, after checking that every release platform has its archive and
/// `.sha256` there: what a release publishes must be whole. Returns the manifests' paths.
pub fn render_release_manifests(
    repo_root: &Path,
    tag: &str,
    dist_dir: &Path,
) -> Result<Vec<PathBuf>> {
    let missing: Vec<String> = krew::PLUGINS
        .into_iter()
        .flat_map(|plugin| RELEASE_PLATFORMS.map(|platform| archive_name(plugin, tag, platform)))
        .filter(|name| {
            !dist_dir.join(name).is_file() || !dist_dir.join(format!("{name}.sha256")).is_file()
        })
        .collect();
    if !missing.is_empty() {
        bail!(
            "{} lacks these archives (or their .sha256 files): {}",
            dist_dir.display(),
            missing.join(", ")
        );
    }
    let mut written = Vec::new();
    for plugin in krew::PLUGINS {
        render_manifest(repo_root, plugin, tag, dist_dir)?;
        written.push(dist_dir.join("krew").join(format!("{plugin}.yaml")));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_targets_map_to_krew_platforms() {
        for (triple, expected) in [
            ("x86_64-unknown-linux-musl", "linux/amd64"),
            ("aarch64-unknown-linux-musl", "linux/arm64"),
            ("x86_64-unknown-linux-gnu", "linux/amd64"),
            ("x86_64-apple-darwin", "darwin/amd64"),
            ("aarch64-apple-darwin", "darwin/arm64"),
        ] {
            assert_eq!(
                Platform::for_target(triple).unwrap().to_string(),
                expected,
                "{triple}"
            );
        }
    }

    #[test]
    fn windows_and_other_targets_are_refused() {
        for triple in [
            "x86_64-pc-windows-msvc",
            "aarch64-pc-windows-msvc",
            "x86_64-pc-windows-gnu",
        ] {
            let error = format!("{:#}", Platform::for_target(triple).unwrap_err());
            assert!(
                error.contains("Windows is not a release platform"),
                "{error}"
            );
        }
        for triple in [
            "i686-unknown-linux-gnu",
            "wasm32-unknown-unknown",
            "x86_64-unknown-freebsd",
        ] {
            assert!(Platform::for_target(triple).is_err(), "{triple}");
        }
    }

    #[test]
    fn archive_names_follow_the_platform() {
        assert_eq!(
            archive_name("certs", "v1.0.0", Platform::new("darwin", "arm64")),
            "kubectl-certs_v1.0.0_darwin_arm64.tar.gz"
        );
    }
}
