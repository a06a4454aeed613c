//! Locating and running the real plugin executables.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Once;

/// Path of a workspace binary built next to the running test executable
/// (`target/<profile>/deps/it-*` → `target/<profile>/<name>`).
///
/// `cargo test` builds only the binaries of the package under test, so the first call
/// builds the binaries of the workspace (same profile, via `$CARGO`); cargo makes that a
/// no-op when they are up to date.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile> directory");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        // --workspace resolves features the way `cargo test --workspace` does, so this is a
        // no-op after it instead of a second build with other features.
        cmd.args(["build", "--quiet", "--workspace", "--bins"]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd
            .status()
            .expect("run cargo build for the plugin binaries");
        assert!(status.success(), "building the plugin binaries failed");
    });
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A command for a workspace binary with a clean, predictable environment: no colour, no
/// user config leaking in from the developer's machine.
pub fn plugin(name: &str) -> Command {
    let mut cmd = Command::new(bin_path(name));
    cmd.env_remove("KUBECTL_OPS_CONFIG")
        .env_remove("FORCE_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env("NO_COLOR", "1")
        .env("XDG_CONFIG_HOME", "/nonexistent-kubectl-ops-test-config");
    cmd
}

/// A finished command's exit code, stdout and stderr, for assertion messages.
pub fn output_text(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
