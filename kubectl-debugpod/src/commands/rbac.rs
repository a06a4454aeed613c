//! `rbac`: the minimal Role each command needs. The e2e tests bind exactly this Role to a
//! user with no other rights and run every command as that user.

use std::io::Write;
use std::process::ExitCode;

use shared::Error;
use shared::rbac::{CommandRbac, Rule, role, role_yaml};

use crate::cli::Cli;

const READ_PODS: Rule = Rule {
    group: "",
    resources: &["pods"],
    verbs: &["get", "list"],
};
const MAKE_PODS: Rule = Rule {
    group: "",
    resources: &["pods"],
    verbs: &["get", "list", "watch", "create", "delete"],
};
/// `create` for SPDY clients (kubectl), `get` for the WebSocket upgrade this tool uses (a GET).
const EXEC: Rule = Rule {
    group: "",
    resources: &["pods/exec"],
    verbs: &["create", "get"],
};
const EVENTS: Rule = Rule {
    group: "",
    resources: &["events"],
    verbs: &["list", "watch"],
};

/// Every command's permissions.
pub const COMMANDS: &[CommandRbac] = &[
    CommandRbac {
        command: "list",
        why: "list pods (targets and debug sessions)",
        rules: &[READ_PODS],
    },
    CommandRbac {
        command: "create",
        why: "dry-run and create the debug pod, watch it (and its Events for pull progress), delete it on failure",
        rules: &[MAKE_PODS, EVENTS],
    },
    CommandRbac {
        command: "shell",
        why: "create/find a session and exec a TTY shell in it",
        rules: &[MAKE_PODS, EVENTS, EXEC],
    },
    CommandRbac {
        command: "exec",
        why: "create/find a session and exec the preset or command in it",
        rules: &[MAKE_PODS, EVENTS, EXEC],
    },
    CommandRbac {
        command: "capture",
        why: "create/find a session and exec tcpdump in it",
        rules: &[MAKE_PODS, EVENTS, EXEC],
    },
    CommandRbac {
        command: "report",
        why: "read the target, its logs and Events; run the presets in a session",
        rules: &[
            MAKE_PODS,
            EVENTS,
            EXEC,
            Rule {
                group: "",
                resources: &["pods/log"],
                verbs: &["get"],
            },
        ],
    },
    CommandRbac {
        command: "cleanup",
        why: "list and delete this tool's pods (by label)",
        rules: &[Rule {
            group: "",
            resources: &["pods"],
            verbs: &["list", "delete"],
        }],
    },
    CommandRbac {
        command: "ephemeral",
        why: "create --mode ephemeral: patch pods/ephemeralcontainers (K8s >= 1.25) and watch the pod",
        rules: &[
            Rule {
                group: "",
                resources: &["pods"],
                verbs: &["get", "list", "watch"],
            },
            Rule {
                group: "",
                resources: &["pods/ephemeralcontainers"],
                verbs: &["patch"],
            },
            Rule {
                group: "",
                resources: &["pods/attach"],
                verbs: &["create", "get"],
            },
        ],
    },
];

/// The commands' permissions by name (all pod-mode commands when `names` is empty).
pub fn select(names: &[String]) -> Result<Vec<CommandRbac>, Error> {
    if names.is_empty() {
        return Ok(COMMANDS
            .iter()
            .filter(|c| c.command != "ephemeral")
            .copied()
            .collect());
    }
    names
        .iter()
        .map(|n| {
            COMMANDS
                .iter()
                .find(|c| c.command == n)
                .copied()
                .ok_or_else(|| Error::NotFound {
                    kind: "command",
                    name: n.clone(),
                    namespace: None,
                    suggestions: shared::suggest::close_matches(
                        n,
                        COMMANDS.iter().map(|c| c.command),
                    ),
                    list_hint: Some(format!(
                        "commands: {}",
                        COMMANDS
                            .iter()
                            .map(|c| c.command)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                })
        })
        .collect()
}

/// Runs `rbac`.
pub fn run(cli: &Cli, names: &[String], out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let commands = select(names)?;
    let config = cli.global.load_config()?;
    let namespace = cli
        .global
        .cluster
        .namespace
        .clone()
        .unwrap_or(config.config.namespace);
    let text = role_yaml(&role("kubectl-debugpod", &namespace, &commands), &commands)?;
    out.write_all(text.as_bytes())?;
    out.write_all(
        b"# optional, cluster-wide: `get nodes` lets create read the node's taints (tolerations) and notice a\n\
          # deleted node early; report shows node conditions. Without it both fall back gracefully.\n",
    )?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_needs_pods_exec_and_cleanup_only_delete() {
        let exec = select(&["exec".into()]).unwrap();
        assert!(
            exec[0]
                .rules
                .iter()
                .any(|r| r.resources == ["pods/exec"] && r.verbs == ["create", "get"])
        );
        let cleanup = select(&["cleanup".into()]).unwrap();
        assert!(
            cleanup[0]
                .rules
                .iter()
                .all(|r| !r.verbs.contains(&"create"))
        );
        assert!(
            select(&["exek".into()])
                .unwrap_err()
                .to_string()
                .contains("did you mean \"exec\"")
        );
    }
}
