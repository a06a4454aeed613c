//! `rbac`: the minimal Role each command needs. The e2e tests bind exactly this Role to a
//! user with no other rights and run every command as that user.

use std::io::Write;
use std::process::ExitCode;

use shared::Error;
use shared::rbac::{CommandRbac, Rule, cluster_role, role, role_yaml};

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

const LOGS: Rule = Rule {
    group: "",
    resources: &["pods/log"],
    verbs: &["get"],
};

/// Every command's permissions in the namespace (a Role); `ephemeral` and `node` are modes,
/// printed only when asked for by name.
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
        command: "copy",
        why: "create --copy: read the target (any phase), dry-run/create/watch/delete its copy, read the crashed container's last log lines",
        rules: &[MAKE_PODS, EVENTS, LOGS],
    },
    CommandRbac {
        command: "node",
        why: "node NODE (and shell/exec NODE): dry-run/create/watch/delete a privileged pod on the node in this namespace, exec in it (nodes: see the ClusterRole)",
        rules: &[MAKE_PODS, EVENTS, EXEC],
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

/// Cluster-scoped permissions of the commands that need them (a ClusterRole).
pub const CLUSTER_COMMANDS: &[CommandRbac] = &[CommandRbac {
    command: "node",
    why: "read the node (its UID owns the pod; unknown names get suggestions from the list), list namespaces to name one whose admission accepts the pod when this one refuses it",
    rules: &[
        Rule {
            group: "",
            resources: &["nodes"],
            verbs: &["get", "list"],
        },
        Rule {
            group: "",
            resources: &["namespaces"],
            verbs: &["list"],
        },
    ],
}];

/// Modes left out of the default Role: they need more power than the rest (ephemeral changes
/// the target pod forever; node is root on a node).
const OPT_IN: [&str; 2] = ["ephemeral", "node"];

/// The commands' permissions by name (every command but the opt-in modes when `names` is empty).
pub fn select(names: &[String]) -> Result<Vec<CommandRbac>, Error> {
    if names.is_empty() {
        return Ok(COMMANDS
            .iter()
            .filter(|c| !OPT_IN.contains(&c.command))
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
    let cluster: Vec<CommandRbac> = CLUSTER_COMMANDS
        .iter()
        .filter(|c| commands.iter().any(|n| n.command == c.command))
        .copied()
        .collect();
    if cluster.is_empty() {
        out.write_all(
            b"# optional, cluster-wide: `get nodes` lets create read the node's taints (tolerations) and notice a\n\
              # deleted node early; report shows node conditions. Without it both fall back gracefully.\n\
              # `list --sessions -A` and `cleanup -A` need these pod rules cluster-wide (a ClusterRole).\n\
              # `kubectl debugpod rbac node` adds the node mode (a root shell on a node).\n",
        )?;
    } else {
        out.write_all(cluster_role_yaml(&cluster)?.as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The cluster-scoped rules as a second YAML document (`---`, a ClusterRole), with why.
fn cluster_role_yaml(commands: &[CommandRbac]) -> anyhow::Result<String> {
    let mut value = serde_json::to_value(cluster_role("kubectl-debugpod-node", commands))?;
    value["apiVersion"] = "rbac.authorization.k8s.io/v1".into();
    value["kind"] = "ClusterRole".into();
    let mut text = String::from("---\n");
    for c in commands {
        text.push_str(&format!("# {} (cluster-wide): {}\n", c.command, c.why));
    }
    text.push_str(&shared::output::to_yaml(&value)?);
    Ok(text)
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
        let all = select(&[]).unwrap();
        assert!(all.iter().any(|c| c.command == "copy"));
        assert!(
            !all.iter()
                .any(|c| c.command == "node" || c.command == "ephemeral"),
            "root on a node and a forever-changed target are opt-in"
        );
        let copy = select(&["copy".into()]).unwrap();
        assert!(copy[0].rules.iter().any(|r| r.resources == ["pods/log"]));
        let yaml = cluster_role_yaml(CLUSTER_COMMANDS).unwrap();
        assert!(yaml.starts_with("---\n# node (cluster-wide)"), "{yaml}");
        assert!(
            yaml.contains("kind: ClusterRole") && yaml.contains("- nodes"),
            "{yaml}"
        );
        assert!(
            select(&["exek".into()])
                .unwrap_err()
                .to_string()
                .contains("did you mean \"exec\"")
        );
    }
}
