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

#[test]
fn templates_render_to_valid_manifests_for_six_platforms() {
    for plugin in krew::PLUGINS {
        let text = rendered(plugin);
        assert_eq!(
            krew::validate(plugin, &text),
            Vec::<String>::new(),
            "{plugin}"
        );
        let doc: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(doc["spec"]["version"], "v0.1.0");
        let platforms = doc["spec"]["platforms"].as_array().unwrap();
        let mut pairs: Vec<(String, String)> = platforms
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
        let expected: Vec<(String, String)> = ["darwin", "linux", "windows"]
            .iter()
            .flat_map(|os| {
                ["amd64", "arm64"]
                    .iter()
                    .map(move |a| (os.to_string(), a.to_string()))
            })
            .collect();
        assert_eq!(pairs, expected, "{plugin}");
        for p in platforms {
            let uri = p["uri"].as_str().unwrap();
            assert!(uri.contains("/v0.1.0/"), "{uri}");
            if p["selector"]["matchLabels"]["os"] == "windows" {
                assert!(p["bin"].as_str().unwrap().ends_with(".exe"));
                assert!(uri.ends_with(".zip"), "{uri}");
            }
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
            good.replacen("bin: kubectl-certs.exe", "bin: kubectl-certs", 1),
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
    let (os, arch) = dist::host_platform();
    let platform = doc["spec"]["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["selector"]["matchLabels"]["os"] == os && p["selector"]["matchLabels"]["arch"] == arch
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
        let archive = dist::package(&binary, plugin, "v0.1.0", repo_root(), &dist_dir).unwrap();
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
        repo_root(),
        &dir.path().join("a"),
    )
    .unwrap();
    let b = dist::package(
        &binary,
        "rflush",
        "v0.1.0",
        repo_root(),
        &dir.path().join("b"),
    )
    .unwrap();
    assert_eq!(
        dist::sha256_file(&a).unwrap(),
        dist::sha256_file(&b).unwrap()
    );
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
