//! `kubectl debugpod` without a cluster: help, the printed RBAC, usage errors.

use kubectl_ops_tests::plugin;
use serde_json::Value;

fn run(args: &[&str]) -> std::process::Output {
    plugin("kubectl-debugpod")
        .args(args)
        .output()
        .expect("run kubectl-debugpod")
}

#[test]
fn debugpod_help_lists_every_command_and_profile() {
    let out = run(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "list", "create", "shell", "exec", "capture", "report", "cleanup", "rbac",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(cmd)),
            "--help lacks {cmd}:\n{text}"
        );
    }
    let out = run(&["create", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for p in [
        "restricted",
        "baseline",
        "general",
        "netadmin",
        "sysadmin",
        "--ttl",
        "--mode",
        "--share-netns",
        "--reason",
    ] {
        assert!(text.contains(p), "create --help lacks {p}");
    }
    let out = run(&["interactive", "--help"]);
    assert!(out.status.success(), "`interactive` is an alias of shell");
}

#[test]
fn debugpod_rbac_prints_a_role_with_exactly_the_needed_subresources() {
    let out = run(&["rbac", "-n", "payments"]);
    assert!(out.status.success());
    let role: Value = serde_saphyr::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(role["kind"], "Role");
    assert_eq!(role["metadata"]["namespace"], "payments");
    let resources: Vec<String> = role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
        })
        .collect();
    for r in ["pods", "pods/exec", "pods/log", "events"] {
        assert!(
            resources.iter().any(|x| x == r),
            "{r} missing: {resources:?}"
        );
    }
    assert!(
        !resources.iter().any(|x| x == "pods/ephemeralcontainers"),
        "pod mode never patches the target"
    );
    let out = run(&["rbac", "ephemeral"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("pods/ephemeralcontainers"));
    let out = run(&["rbac", "exek"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean \"exec\""));
}

#[test]
fn debugpod_exec_without_what_is_a_usage_error() {
    let out = run(&["exec", "some-pod"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["create", "x", "--profile", "legacy"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "unknown profiles are refused by the parser"
    );
    let out = run(&["create", "x", "--ttl", "soon"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn debugpod_copy_flags_without_copy_or_with_ephemeral_mode_are_usage_errors() {
    // Refused before any cluster access (no kubeconfig is needed to see these).
    for (args, wanted) in [
        (
            vec!["create", "x", "--copy", "--mode", "ephemeral"],
            "--copy and --mode ephemeral exclude each other",
        ),
        (vec!["create", "x", "--copy", "--image", "i"], "--set-image"),
        (
            vec!["create", "x", "--copy", "--profile", "sysadmin"],
            "--profile sysadmin does not apply to --copy",
        ),
        (vec!["create", "x", "--set-image", "app=i"], "--copy"),
        (vec!["create", "x", "--any-node"], "--copy"),
        (vec!["create", "x", "--", "sh"], "--copy"),
        (
            vec!["create", "x", "--copy", "--set-image", "app"],
            "CONTAINER=IMAGE",
        ),
    ] {
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(wanted), "{args:?}: {err}");
    }
    let out = run(&["create", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in ["--copy", "--any-node", "--set-image"] {
        assert!(text.contains(flag), "create --help lacks {flag}");
    }
}

#[test]
fn debugpod_node_mode_is_opt_in_and_adds_a_cluster_role_for_nodes() {
    let out = run(&["--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("node"));
    let default = String::from_utf8(run(&["rbac", "-n", "ops"]).stdout).unwrap();
    assert!(
        !default.contains("kind: ClusterRole") && !default.contains("- nodes"),
        "root on a node is not in the default Role:\n{default}"
    );
    let out = run(&["rbac", "node", "-n", "ops"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let (role, cluster) = text.split_once("\n---\n").expect("two documents");
    let role: Value = serde_saphyr::from_str(role).unwrap();
    let cluster: Value = serde_saphyr::from_str(cluster).unwrap();
    assert_eq!(
        (role["kind"].as_str(), cluster["kind"].as_str()),
        (Some("Role"), Some("ClusterRole"))
    );
    assert_eq!(role["metadata"]["namespace"], "ops");
    let rules = cluster["rules"].as_array().unwrap();
    assert!(
        rules.iter().any(|r| r["resources"][0] == "nodes"
            && r["verbs"].as_array().unwrap().iter().any(|v| v == "list")),
        "{cluster}"
    );
    let copy = String::from_utf8(run(&["rbac", "copy"]).stdout).unwrap();
    assert!(copy.contains("pods/log"), "{copy}");
}
