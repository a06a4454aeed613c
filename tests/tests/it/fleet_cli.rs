//! The fleet flags (`--context a,b`, `--all-contexts`) without a cluster: commands that work on
//! one cluster refuse several contexts with a usage error, an unknown context is named with
//! close matches, and fleet commands turn contexts that cannot be reached into rows and a
//! summary line (every context here points at a closed loopback port).

use std::process::Output;

use anyhow::Result;
use kubectl_ops_tests::output_text as text;
use kubectl_ops_tests::plugin;

/// A kubeconfig with contexts `prod`, `stage` and `dev`, all on https://127.0.0.1:1.
fn kubeconfig() -> Result<tempfile::NamedTempFile> {
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Config\ncurrent-context: prod\nclusters:\n- name: closed\n  cluster:\n    server: https://127.0.0.1:1\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n",
    );
    for name in ["prod", "stage", "dev"] {
        yaml += &format!("- name: {name}\n  context:\n    cluster: closed\n    user: u\n");
    }
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), yaml)?;
    Ok(file)
}

fn run(bin: &str, kc: &tempfile::NamedTempFile, args: &[&str]) -> Result<Output> {
    Ok(plugin(bin)
        .env_remove("KUBECONFIG")
        .env_remove("REDIS_URL")
        .arg("--kubeconfig")
        .arg(kc.path())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()?)
}

#[test]
fn one_cluster_commands_refuse_several_contexts() -> Result<()> {
    let kc = kubeconfig()?;
    let cases: &[(&str, &[&str])] = &[
        ("kubectl-certs", &["rbac", "--context", "prod,stage"]),
        ("kubectl-certs", &["validate", "web-tls", "--all-contexts"]),
        (
            "kubectl-debugpod",
            &["create", "web", "--context", "prod", "--context", "dev"],
        ),
        ("kubectl-debugpod", &["list", "--all-contexts"]),
        (
            "kubectl-debugpod",
            &["cleanup", "abc123", "--context", "prod,dev"],
        ),
        ("kubectl-debugpod", &["rbac", "--all-contexts"]),
        (
            "kubectl-rflush",
            &["count", "market-data", "--context", "prod,dev"],
        ),
        (
            "kubectl-rflush",
            &["stats", "--watch", "--context", "prod,dev"],
        ),
        ("kubectl-rflush", &["list", "--all-contexts"]),
    ];
    for (bin, args) in cases {
        let o = run(bin, &kc, args)?;
        let stderr = String::from_utf8_lossy(&o.stderr);
        anyhow::ensure!(
            o.status.code() == Some(2)
                && stderr.starts_with("error: ")
                && stderr.contains("works on one context")
                && stderr.contains("\nhint: give one --context NAME"),
            "{bin} {args:?}\n{}",
            text(&o)
        );
    }
    // clap: both at once is a usage error too.
    let o = run(
        "kubectl-certs",
        &kc,
        &["list", "--all-contexts", "--context", "prod"],
    )?;
    anyhow::ensure!(o.status.code() == Some(2), "{}", text(&o));
    Ok(())
}

#[test]
fn an_unknown_context_suggests_the_close_ones() -> Result<()> {
    let kc = kubeconfig()?;
    let o = run(
        "kubectl-debugpod",
        &kc,
        &["list", "--sessions", "--context", "prod,stag"],
    )?;
    anyhow::ensure!(
        o.status.code() == Some(1)
            && String::from_utf8_lossy(&o.stderr).starts_with(
                "error: context \"stag\" not found in kubeconfig (did you mean \"stage\"?; known: prod, stage, dev)\n"
            ),
        "{}",
        text(&o)
    );
    Ok(())
}

#[test]
fn unreachable_contexts_are_rows_and_a_summary_line() -> Result<()> {
    let kc = kubeconfig()?;
    let o = run(
        "kubectl-debugpod",
        &kc,
        &["list", "--sessions", "--context", "dev,prod"],
    )?;
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    let first_cells: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    anyhow::ensure!(
        o.status.code() == Some(1)
            && first_cells == ["CONTEXT", "dev", "prod"]
            && stdout.lines().skip(1).all(|l| l.contains("ERROR"))
            && stderr.starts_with("2 contexts: 0 answered, 2 failed: dev: ")
            && stderr.contains("; prod: "),
        "{}",
        text(&o)
    );
    // One context keeps today's behaviour: the error itself, exit 1, no rows.
    let o = run(
        "kubectl-debugpod",
        &kc,
        &["list", "--sessions", "--context", "dev"],
    )?;
    anyhow::ensure!(
        o.status.code() == Some(1)
            && o.stdout.is_empty()
            && String::from_utf8_lossy(&o.stderr).starts_with("error: "),
        "{}",
        text(&o)
    );
    Ok(())
}
