//! The minimal RBAC each command needs, declared by each plugin and printed as Role /
//! ClusterRole YAML by its `rbac` subcommand (and used by the e2e tests to prove it suffices).

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role};
use kube::api::ObjectMeta;

/// One rule: API group, resources, verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// API group ("" for core).
    pub group: &'static str,
    /// Resources, with subresources as `pods/portforward`.
    pub resources: &'static [&'static str],
    /// Verbs.
    pub verbs: &'static [&'static str],
}

/// The permissions one command needs, and why.
#[derive(Debug, Clone, Copy)]
pub struct CommandRbac {
    /// The command, e.g. `rotate`.
    pub command: &'static str,
    /// What the permissions are used for.
    pub why: &'static str,
    /// The rules.
    pub rules: &'static [Rule],
}

fn to_policy_rules(rules: &[Rule]) -> Vec<PolicyRule> {
    // Merge rules with the same group and verbs so the Role stays short.
    let mut merged: Vec<PolicyRule> = Vec::new();
    for r in rules {
        let verbs: Vec<String> = r.verbs.iter().map(|v| v.to_string()).collect();
        if let Some(existing) = merged.iter_mut().find(|p| {
            p.api_groups.as_deref() == Some(&[r.group.to_string()][..]) && p.verbs == verbs
        }) {
            let resources = existing.resources.get_or_insert_with(Vec::new);
            for res in r.resources {
                if !resources.iter().any(|x| x == res) {
                    resources.push(res.to_string());
                }
            }
            continue;
        }
        merged.push(PolicyRule {
            api_groups: Some(vec![r.group.to_string()]),
            resources: Some(r.resources.iter().map(|s| s.to_string()).collect()),
            verbs,
            ..Default::default()
        });
    }
    merged
}

/// The union of the rules of the given commands, as a namespaced Role.
pub fn role(name: &str, namespace: &str, commands: &[CommandRbac]) -> Role {
    let rules: Vec<Rule> = commands
        .iter()
        .flat_map(|c| c.rules.iter().copied())
        .collect();
    Role {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            ..Default::default()
        },
        rules: Some(to_policy_rules(&rules)),
    }
}

/// The same rules as a ClusterRole (for `-A` use).
pub fn cluster_role(name: &str, commands: &[CommandRbac]) -> ClusterRole {
    let rules: Vec<Rule> = commands
        .iter()
        .flat_map(|c| c.rules.iter().copied())
        .collect();
    ClusterRole {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        rules: Some(to_policy_rules(&rules)),
        ..Default::default()
    }
}

/// Renders a Role as YAML with `apiVersion`/`kind`, preceded by comments saying why.
pub fn role_yaml(role: &Role, commands: &[CommandRbac]) -> crate::Result<String> {
    let mut value = serde_json::to_value(role).map_err(|e| crate::Error::Serialize {
        format: "yaml",
        message: e.to_string(),
    })?;
    value["apiVersion"] = "rbac.authorization.k8s.io/v1".into();
    value["kind"] = "Role".into();
    let mut text = String::new();
    for c in commands {
        text.push_str(&format!("# {}: {}\n", c.command, c.why));
    }
    text.push_str(&crate::output::to_yaml(&value)?);
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: CommandRbac = CommandRbac {
        command: "list",
        why: "read",
        rules: &[Rule {
            group: "",
            resources: &["secrets"],
            verbs: &["get", "list"],
        }],
    };
    const FORWARD: CommandRbac = CommandRbac {
        command: "flush",
        why: "port-forward",
        rules: &[
            Rule {
                group: "",
                resources: &["pods"],
                verbs: &["get", "list"],
            },
            Rule {
                group: "",
                resources: &["pods/portforward"],
                verbs: &["create"],
            },
        ],
    };

    #[test]
    fn merges_rules_with_equal_group_and_verbs() {
        let role = role("r", "ns", &[LIST, FORWARD]);
        let rules = role.rules.unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].resources.as_deref().unwrap(), ["secrets", "pods"]);
        assert_eq!(rules[1].resources.as_deref().unwrap(), ["pods/portforward"]);
    }

    #[test]
    fn yaml_has_kind_and_reasons() {
        let yaml = role_yaml(&role("r", "ns", &[LIST]), &[LIST]).unwrap();
        assert!(yaml.starts_with("# list: read\n"), "{yaml}");
        assert!(yaml.contains("kind: Role"), "{yaml}");
        assert!(yaml.contains("namespace: ns"), "{yaml}");
    }
}
