//! Behaviour every binary shares: help, version, config, errors, exit codes, colour.

use std::process::Output;

use kubectl_ops_tests::plugin;

const PLUGINS: [&str; 3] = ["certs", "rflush", "debugpod"];

fn run(name: &str, args: &[&str]) -> Output {
    plugin(&format!("kubectl-{name}"))
        .args(args)
        .output()
        .expect("run plugin")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_reads_like_a_kubectl_plugin() {
    for name in PLUGINS {
        let out = run(name, &["--help"]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.contains(&format!("Usage: kubectl {name} [OPTIONS] <COMMAND>")),
            "{name}: {text}"
        );
        for flag in [
            "--kubeconfig",
            "--context",
            "--namespace",
            "--request-timeout",
            "--as <USER>",
            "--config",
        ] {
            assert!(text.contains(flag), "{name} --help lacks {flag}");
        }
    }
}

#[test]
fn version_names_the_binary() {
    for name in PLUGINS {
        let out = run(name, &["--version"]);
        assert!(out.status.success());
        assert_eq!(
            stdout(&out).trim(),
            format!("kubectl-{name} {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn unknown_flag_is_a_usage_error_with_exit_2() {
    for name in PLUGINS {
        let out = run(name, &["--no-such-flag"]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(stdout(&out).is_empty(), "errors go to stderr only");
        assert!(stderr(&out).contains("--no-such-flag"));
    }
}

#[test]
fn config_view_prints_the_runbook_defaults() {
    let out = run("rflush", &["config", "view", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["namespace"], "market-intel-brain");
    assert_eq!(v["cache_types"].as_array().unwrap().len(), 8);
    assert_eq!(v["certificates"][0]["secret_name"], "api-gateway-tls");
}

#[test]
fn config_override_file_is_merged() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    std::fs::write(&file, "namespace: payments\n").unwrap();
    let out = plugin("kubectl-certs")
        .args(["config", "view", "-o", "json"])
        .env("KUBECTL_OPS_CONFIG", &file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["namespace"], "payments");
    assert_eq!(v["debug_image"], "nicolaka/netshoot");
}

#[test]
fn bad_config_is_one_error_line_with_file_and_line_and_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "namespace: a\nbakup_dir: /tmp\n").unwrap();
    let out = run(
        "debugpod",
        &["--config", file.to_str().unwrap(), "config", "view"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "error + hint: {err}");
    assert!(
        lines[0].starts_with(&format!("error: config file {}, line 2: ", file.display())),
        "{err}"
    );
    assert!(lines[0].contains("bakup_dir"), "{err}");
    assert!(lines[1].starts_with("hint: "), "{err}");
    assert!(stdout(&out).is_empty());
}

#[test]
fn no_color_output_has_no_escape_codes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "nope: 1\n").unwrap();
    let out = plugin("kubectl-certs")
        .args(["--config", file.to_str().unwrap(), "config", "view"])
        .env("NO_COLOR", "1")
        .env("FORCE_COLOR", "1")
        .output()
        .unwrap();
    assert!(!stderr(&out).contains('\u{1b}'), "{:?}", stderr(&out));
    // And FORCE_COLOR alone does colour the error prefix, so the check above can fail.
    let out = plugin("kubectl-certs")
        .args(["--config", file.to_str().unwrap(), "config", "view"])
        .env_remove("NO_COLOR")
        .env("FORCE_COLOR", "1")
        .output()
        .unwrap();
    assert!(stderr(&out).contains('\u{1b}'), "{:?}", stderr(&out));
}

#[test]
fn closed_stdout_is_not_an_error() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = plugin("kubectl-rflush")
        .args(["config", "view", "--defaults"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Runs a plugin under its kubectl completion name, as kubectl ≥ 1.26 does for `kubectl NAME <TAB>`.
fn complete(name: &str, words: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join(format!("kubectl_complete-{name}"));
    std::os::unix::fs::symlink(
        kubectl_ops_tests::bin_path(&format!("kubectl-{name}")),
        &link,
    )
    .unwrap();
    let out = std::process::Command::new(&link)
        .args(words)
        .env("KUBECONFIG", dir.path().join("no-kubeconfig"))
        .env("XDG_CONFIG_HOME", dir.path())
        .env_remove("KUBECTL_OPS_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn kubectl_completion_protocol_lists_subcommands_then_the_directive() {
    let text = complete("rflush", &["fl"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.iter().any(|l| l.starts_with("flush\t")), "{text}");
    assert_eq!(lines.last(), Some(&":4"), "{text}");
    assert!(
        !lines.iter().any(|l| l.starts_with("stats")),
        "only matches of the typed prefix: {text}"
    );
}

#[test]
fn kubectl_completion_offers_cache_types_and_configured_certificates() {
    let text = complete("rflush", &["flush", "market"]);
    assert!(
        text.lines().any(|l| l.starts_with("market-data\t")),
        "{text}"
    );
    let text = complete("certs", &["rotate", ""]);
    for name in [
        "api-gateway",
        "core-engine",
        "market-intel-ca",
        "api-gateway-mtls",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{name}\t"))),
            "{name}: {text}"
        );
    }
}

#[test]
fn completion_scripts_name_the_plugin_binary() {
    for name in PLUGINS {
        let out = run(name, &["completion", "bash"]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert!(stdout(&out).contains(&format!("kubectl-{name}")), "{name}");
    }
}
