//! `kubectl rflush rbac`: the Role the in-cluster mode needs.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use shared::cli::GlobalArgs;
use shared::output::write_str;
use shared::rbac::{CommandRbac, Rule, role, role_yaml};

use crate::cli::RbacArgs;

/// Port-forwarding to the Redis target: resolve it, then open the tunnel.
pub const PORT_FORWARD: CommandRbac = CommandRbac {
    command: "stats, count, flush, backup, restore",
    why: "find the Redis pod behind --target (pods, services, statefulsets, deployments) and port-forward to it",
    rules: &[
        Rule {
            group: "",
            resources: &["pods", "services"],
            verbs: &["get", "list"],
        },
        Rule {
            group: "apps",
            resources: &["statefulsets", "deployments"],
            verbs: &["get"],
        },
        Rule {
            group: "",
            resources: &["pods/portforward"],
            // kube-rs opens the tunnel over WebSocket: an upgraded GET, authorized as `get`
            // (kubectl's SPDY POST is `create`).
            verbs: &["get", "create"],
        },
    ],
};

/// Reading the Redis password Secret.
pub const PASSWORD_SECRET: CommandRbac = CommandRbac {
    command: "--password-secret",
    why: "read the Redis password (only when a password Secret is used)",
    rules: &[Rule {
        group: "",
        resources: &["secrets"],
        verbs: &["get"],
    }],
};

/// Every command's needs.
pub const ALL: [CommandRbac; 2] = [PORT_FORWARD, PASSWORD_SECRET];

/// Runs `rbac`.
pub fn run(global: &GlobalArgs, args: &RbacArgs, out: &mut dyn Write) -> Result<ExitCode> {
    let loaded = global.load_config()?;
    let namespace = global
        .cluster
        .namespace
        .clone()
        .unwrap_or_else(|| loaded.config.namespace.clone());
    let role = role(&args.name, &namespace, &ALL);
    write_str(out, &role_yaml(&role, &ALL)?)?;
    Ok(ExitCode::SUCCESS)
}
