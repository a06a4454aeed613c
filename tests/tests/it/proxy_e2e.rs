//! The kubeconfig's proxy (`proxy-url`, or `HTTPS_PROXY` as kubectl reads it) against the
//! sandbox: the plugins reach the API server through a real `CONNECT` proxy, the API server's
//! certificate row is read through it too, and a proxy that refuses is an error, never a
//! silent direct connection.

use std::process::Command;

use kubectl_ops_tests::output_text as text;
use kubectl_ops_tests::plugin;
use kubectl_ops_tests::proxy::ConnectProxy;
use kubectl_ops_tests::sandbox::{Sandbox, User};
use serde_json::Value;

const NEEDS: &str = "needs the sandbox: tests/sandbox/sandbox up";

/// `kubectl-certs ARGS` as the sandbox admin with `HTTPS_PROXY` set to `proxy` (and no
/// `NO_PROXY` that could exempt the server).
fn certs_via(proxy: &str, args: &[&str]) -> Command {
    let sb = Sandbox::load().expect(NEEDS);
    let mut cmd = plugin("kubectl-certs");
    cmd.env("KUBECONFIG", sb.kubeconfig(User::Admin).unwrap())
        .env("HTTPS_PROXY", proxy)
        .env_remove("https_proxy")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .args(args);
    cmd
}

#[test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
fn certs_reach_the_api_server_and_its_certificate_through_the_proxy() {
    let proxy = ConnectProxy::start().unwrap();
    let out = certs_via(
        &proxy.url(),
        &[
            "check",
            "-A",
            "--source",
            "certificate,apiserver",
            "-o",
            "json",
        ],
    )
    .output()
    .unwrap();
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let rows = report["items"].as_array().cloned().unwrap_or_default();
    let apiserver = rows
        .iter()
        .find(|r| r["source"] == "apiserver")
        .unwrap_or_else(|| panic!("no apiserver row: {}", text(&out)));
    assert_eq!(apiserver["status"], "ok", "{apiserver}");
    let name = apiserver["name"].as_str().unwrap();
    let server = name.strip_prefix("apiserver/").unwrap();
    let targets = proxy.targets();
    // The API requests and the handshake of the apiserver row both went through it.
    assert!(
        targets.iter().filter(|t| *t == server).count() >= 2,
        "tunnels {targets:?}, server {server}: {}",
        text(&out)
    );
}

#[test]
#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]
fn a_proxy_that_refuses_is_an_error_not_a_direct_connection() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = certs_via(
        &format!("http://127.0.0.1:{port}"),
        &[
            "-n",
            "market-intel-brain",
            "list",
            "--source",
            "certificate",
        ],
    )
    .output()
    .unwrap();
    assert!(
        !out.status.success(),
        "went around the proxy: {}",
        text(&out)
    );
    assert!(out.stdout.is_empty(), "{}", text(&out));
}
