//! Release archives: `kubectl-<plugin>_<tag>_<os>_<arch>.tar.gz` holding the binary,
//! LICENSE and README.md, each with a `.sha256` file, and the krew manifests rendered with
//! the real checksums.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::krew;

/// The host platform in krew's (Go's) names, e.g. `("linux", "amd64")`.
pub fn host_platform() -> (&'static str, &'static str) {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    (os, arch)
}

/// The archive file name for a plugin on a platform.
pub fn archive_name(plugin: &str, tag: &str, os: &str, arch: &str) -> String {
    let ext = if os == "windows" { "zip" } else { "tar.gz" };
    format!("kubectl-{plugin}_{tag}_{os}_{arch}.{ext}")
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

/// Packs `binary` (installed as `kubectl-<plugin>`) with LICENSE and README.md from
/// `repo_root` into `out_dir`, writes `<archive>.sha256`, and returns the archive path.
pub fn package(
    binary: &Path,
    plugin: &str,
    tag: &str,
    repo_root: &Path,
    out_dir: &Path,
) -> Result<PathBuf> {
    let (os, arch) = host_platform();
    if os == "windows" {
        bail!("windows archives are zip files built by the release workflow");
    }
    std::fs::create_dir_all(out_dir).with_context(|| format!("create {}", out_dir.display()))?;
    let archive = out_dir.join(archive_name(plugin, tag, os, arch));
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
