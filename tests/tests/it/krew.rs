//! krew manifests and release archives: the templates render to manifests that pass krew's
//! validation rules, and an archive installs the way krew installs it and runs through
//! kubectl's plugin discovery.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};
use xtask::{dist, krew};

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn template(plugin: &str) -> String {
    std::fs::read_to_string(
        repo_root()
            .join("krew-manifests")
            .join(format!("{plugin}.yaml")),
    )
    .unwrap()
}

fn fake_sha(url: &str) -> Option<String> {
    Some(format!("{:x}", Sha256::digest(url.as_bytes())))
}

fn rendered(plugin: &str) -> String {
    krew::render(&template(plugin), "v0.1.0", &fake_sha).unwrap()
}

/// The (os, arch) pairs of a manifest's platforms, sorted.
fn platforms_of(manifest: &Value) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = manifest["spec"]["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let l = &p["selector"]["matchLabels"];
            (
                l["os"].as_str().unwrap().to_string(),
                l["arch"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

fn release_pairs() -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = dist::RELEASE_PLATFORMS
        .iter()
        .map(|p| (p.os.to_string(), p.arch.to_string()))
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn templates_render_to_valid_manifests_for_exactly_the_release_platforms() {
    assert_eq!(
        release_pairs(),
        [
            ("darwin", "amd64"),
            ("darwin", "arm64"),
            ("linux", "amd64"),
            ("linux", "arm64")
        ]
        .map(|(os, arch)| (os.to_string(), arch.to_string()))
    );
    for plugin in krew::PLUGINS {
        let text = rendered(plugin);
        assert_eq!(
            krew::validate(plugin, &text),
            Vec::<String>::new(),
            "{plugin}"
        );
        let doc: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(doc["spec"]["version"], "v0.1.0");
        assert_eq!(platforms_of(&doc), release_pairs(), "{plugin}");
        for p in doc["spec"]["platforms"].as_array().unwrap() {
            let l = &p["selector"]["matchLabels"];
            let platform = dist::RELEASE_PLATFORMS
                .into_iter()
                .find(|r| l["os"] == r.os && l["arch"] == r.arch)
                .unwrap();
            // The URL names the archive `cargo xtask dist` writes for that platform.
            let uri = p["uri"].as_str().unwrap();
            assert!(
                uri.ends_with(&format!(
                    "/v0.1.0/{}",
                    dist::archive_name(plugin, "v0.1.0", platform)
                )),
                "{uri}"
            );
            assert_eq!(p["bin"], format!("kubectl-{plugin}"));
        }
    }
}

#[test]
fn validator_catches_what_krew_rejects() {
    let good = rendered("certs");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "name",
            good.replace("name: certs", "name: cert"),
            "does not match the file name",
        ),
        (
            "prefix",
            good.replace("name: certs", "name: kubectl-certs"),
            "must not start with kubectl-",
        ),
        (
            "version",
            good.replace("version: \"v0.1.0\"", "version: \"0.1.0\""),
            "semantic version",
        ),
        (
            "sha",
            good.replacen("sha256: ", "sha256: A", 1),
            "64 lowercase hex",
        ),
        (
            "overlap",
            good.replacen("arch: arm64", "arch: amd64", 1),
            "overlaps",
        ),
        (
            "license",
            good.replacen("- from: LICENSE", "- from: README.md", 1),
            "no LICENSE",
        ),
        (
            "bin",
            good.replacen("bin: kubectl-certs\n", "bin: kubectl-other\n", 1),
            "not among the installed files",
        ),
        (
            "exe",
            good.replacen("os: linux", "os: windows", 1),
            "must end in .exe",
        ),
        (
            "selector key",
            good.replacen("os: linux", "distro: linux", 1),
            "not allowed",
        ),
        (
            "short",
            good.replace(
                "shortDescription: \"Check",
                "shortDescription: \"\"\n  x: \"Check",
            ),
            "shortDescription",
        ),
    ];
    for (what, text, expected) in cases {
        assert_ne!(text, good, "{what}: the mutation changed nothing");
        let problems = krew::validate("certs", &text);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{what}: {problems:?}"
        );
    }
}

/// Installs a rendered manifest + archive into `krew_root` the way krew does: check the
/// archive's sha256, unpack it, apply the `files` operations into the store, and link
/// `bin/kubectl-<name>` (dashes become underscores) to the platform's `bin`.
fn install_like_krew(manifest: &str, archive: &Path, krew_root: &Path) -> String {
    let doc: Value = serde_saphyr::from_str(manifest).unwrap();
    let name = doc["metadata"]["name"].as_str().unwrap().to_string();
    let version = doc["spec"]["version"].as_str().unwrap();
    let host = dist::Platform::host().unwrap();
    let platform = doc["spec"]["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["selector"]["matchLabels"]["os"] == host.os
                && p["selector"]["matchLabels"]["arch"] == host.arch
        })
        .expect("a platform for this machine")
        .clone();
    assert_eq!(
        platform["sha256"].as_str().unwrap(),
        dist::sha256_file(archive).unwrap(),
        "sha256 mismatch"
    );
    assert!(
        platform["uri"]
            .as_str()
            .unwrap()
            .ends_with(archive.file_name().unwrap().to_str().unwrap())
    );
    let unpacked = krew_root.join("tmp").join(&name);
    std::fs::create_dir_all(&unpacked).unwrap();
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(archive).unwrap());
    tar::Archive::new(gz).unpack(&unpacked).unwrap();
    let store = krew_root.join("store").join(&name).join(version);
    std::fs::create_dir_all(&store).unwrap();
    for op in platform["files"].as_array().unwrap() {
        let from = unpacked.join(op["from"].as_str().unwrap());
        let to = store
            .join(op["to"].as_str().unwrap())
            .join(from.file_name().unwrap());
        std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
        std::fs::set_permissions(&to, std::fs::metadata(&from).unwrap().permissions()).unwrap();
    }
    let bin_dir = krew_root.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let link = bin_dir.join(format!("kubectl-{}", name.replace('-', "_")));
    std::os::unix::fs::symlink(store.join(platform["bin"].as_str().unwrap()), &link).unwrap();
    assert!(store.join("LICENSE").exists(), "LICENSE is installed");
    name
}

#[test]
fn archive_installs_like_krew_and_runs_through_kubectl() {
    let kubectl = which("kubectl").expect("kubectl on PATH (the machine image ships it)");
    let dir = tempfile::tempdir().unwrap();
    let dist_dir = dir.path().join("dist");
    let krew_root = dir.path().join("krew");
    for plugin in krew::PLUGINS {
        let binary = kubectl_ops_tests::bin_path(&format!("kubectl-{plugin}"));
        let archive = dist::package(
            &binary,
            plugin,
            "v0.1.0",
            dist::Platform::host().unwrap(),
            repo_root(),
            &dist_dir,
        )
        .unwrap();
        let sha_file = std::fs::read_to_string(format!("{}.sha256", archive.display())).unwrap();
        assert!(sha_file.ends_with(&format!(
            "  {}\n",
            archive.file_name().unwrap().to_str().unwrap()
        )));
        let manifest = dist::render_manifest(repo_root(), plugin, "v0.1.0", &dist_dir).unwrap();
        assert_eq!(krew::validate(plugin, &manifest), Vec::<String>::new());
        let name = install_like_krew(&manifest, &archive, &krew_root);
        let path = format!(
            "{}:{}",
            krew_root.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new(&kubectl)
            .args([name.as_str(), "--version"])
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl {name} --version: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("kubectl-{plugin} {}", env!("CARGO_PKG_VERSION"))
        );
    }
    let path = format!("{}:/usr/bin:/bin", krew_root.join("bin").display());
    let out = Command::new(&kubectl)
        .args(["plugin", "list"])
        .env("PATH", &path)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    for plugin in krew::PLUGINS {
        assert!(listed.contains(&format!("kubectl-{plugin}")), "{listed}");
    }
}

#[test]
fn archives_are_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let binary = kubectl_ops_tests::bin_path("kubectl-rflush");
    let a = dist::package(
        &binary,
        "rflush",
        "v0.1.0",
        dist::Platform::host().unwrap(),
        repo_root(),
        &dir.path().join("a"),
    )
    .unwrap();
    let b = dist::package(
        &binary,
        "rflush",
        "v0.1.0",
        dist::Platform::host().unwrap(),
        repo_root(),
        &dir.path().join("b"),
    )
    .unwrap();
    assert_eq!(
        dist::sha256_file(&a).unwrap(),
        dist::sha256_file(&b).unwrap()
    );
}

/// `cargo xtask ARGS` (the built xtask binary), with `CARGO_TARGET_DIR` set to `target_dir`.
fn xtask(args: &[&str], target_dir: &Path) -> std::process::Output {
    Command::new(kubectl_ops_tests::bin_path("xtask"))
        .args(args)
        .env("CARGO_TARGET_DIR", target_dir)
        .output()
        .unwrap()
}

/// The names of the files directly in `dir`, sorted.
fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The bytes of `name` inside a `.tar.gz` archive.
fn member_of(archive: &Path, name: &str) -> Vec<u8> {
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(archive).unwrap());
    let mut tar = tar::Archive::new(gz);
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some(name) {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            return data;
        }
    }
    panic!("{name} is not in {}", archive.display());
}

/// What the release workflow does on each build runner: `cargo xtask dist --target TRIPLE`
/// packages the binaries cargo wrote to `<target dir>/TRIPLE/release` as that platform's
/// archives, with a manifest naming only that platform.
#[test]
fn dist_packages_a_cross_compiled_target() {
    let dir = tempfile::tempdir().unwrap();
    let target_dir = dir.path().join("target");
    let bin_dir = target_dir.join("aarch64-apple-darwin/release");
    std::fs::create_dir_all(&bin_dir).unwrap();
    for plugin in krew::PLUGINS {
        // Stand-ins for the darwin builds: the archive must hold these exact bytes.
        std::fs::write(
            bin_dir.join(format!("kubectl-{plugin}")),
            format!("darwin arm64 build of {plugin}"),
        )
        .unwrap();
    }
    let out = dir.path().join("dist");
    let run = xtask(
        &[
            "dist",
            "--target",
            "aarch64-apple-darwin",
            "--skip-build",
            "--tag",
            "v1.2.3",
            "--out",
            out.to_str().unwrap(),
        ],
        &target_dir,
    );
    assert!(
        run.status.success(),
        "xtask dist: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut expected: Vec<String> = krew::PLUGINS
        .iter()
        .flat_map(|p| {
            let name = format!("kubectl-{p}_v1.2.3_darwin_arm64.tar.gz");
            [format!("{name}.sha256"), name]
        })
        .collect();
    expected.sort();
    assert_eq!(file_names(&out), expected);
    for plugin in krew::PLUGINS {
        let archive = out.join(format!("kubectl-{plugin}_v1.2.3_darwin_arm64.tar.gz"));
        assert_eq!(
            member_of(&archive, &format!("kubectl-{plugin}")),
            format!("darwin arm64 build of {plugin}").into_bytes()
        );
        let manifest = std::fs::read_to_string(out.join(format!("krew/{plugin}.yaml"))).unwrap();
        assert_eq!(krew::validate(plugin, &manifest), Vec::<String>::new());
        let doc: Value = serde_saphyr::from_str(&manifest).unwrap();
        assert_eq!(
            platforms_of(&doc),
            [("darwin".to_string(), "arm64".to_string())]
        );
        assert_eq!(
            doc["spec"]["platforms"][0]["sha256"],
            dist::sha256_file(&archive).unwrap()
        );
    }
}

#[test]
fn dist_refuses_windows_and_unknown_targets_before_building() {
    for (triple, expected) in [
        (
            "x86_64-pc-windows-msvc",
            "Windows is not a release platform",
        ),
        ("x86_64-pc-windows-gnu", "Windows is not a release platform"),
        ("x86_64-unknown-freebsd", "not a linux or darwin target"),
        (
            "riscv64gc-unknown-linux-gnu",
            "linux/riscv64gc is not a release platform",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("dist");
        // No --skip-build: a refusal must come before cargo is started.
        let run = xtask(
            &["dist", "--target", triple, "--out", out.to_str().unwrap()],
            &dir.path().join("target"),
        );
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{triple}: {stderr}");
        assert!(stderr.contains(expected), "{triple}: {stderr}");
        assert!(!out.exists(), "{triple}: wrote {}", out.display());
        assert!(
            !dir.path().join("target").exists(),
            "{triple}: started a build"
        );
    }
}

/// The release job: every platform's archives together render into manifests listing all of
/// them with their real checksums; one archive missing is an error naming it.
#[test]
fn release_manifests_need_every_platforms_archive() {
    let dir = tempfile::tempdir().unwrap();
    let dist_dir = dir.path().join("dist");
    let binary = dir.path().join("kubectl-plugin");
    for platform in dist::RELEASE_PLATFORMS {
        std::fs::write(&binary, format!("build for {platform}")).unwrap();
        for plugin in krew::PLUGINS {
            dist::package(&binary, plugin, "v0.2.0", platform, repo_root(), &dist_dir).unwrap();
        }
    }
    let args = [
        "release-manifests",
        "--tag",
        "v0.2.0",
        "--dist",
        dist_dir.to_str().unwrap(),
    ];
    let run = xtask(&args, &dir.path().join("target"));
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for plugin in krew::PLUGINS {
        let manifest =
            std::fs::read_to_string(dist_dir.join(format!("krew/{plugin}.yaml"))).unwrap();
        assert_eq!(krew::validate(plugin, &manifest), Vec::<String>::new());
        let doc: Value = serde_saphyr::from_str(&manifest).unwrap();
        assert_eq!(platforms_of(&doc), release_pairs(), "{plugin}");
        for p in doc["spec"]["platforms"].as_array().unwrap() {
            let file = p["uri"].as_str().unwrap().rsplit('/').next().unwrap();
            assert_eq!(
                p["sha256"],
                dist::sha256_file(&dist_dir.join(file)).unwrap(),
                "{file}"
            );
        }
    }
    std::fs::remove_file(dist_dir.join("kubectl-rflush_v0.2.0_linux_arm64.tar.gz")).unwrap();
    let run = xtask(&args, &dir.path().join("target"));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(
        stderr.contains("kubectl-rflush_v0.2.0_linux_arm64.tar.gz"),
        "{stderr}"
    );
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
