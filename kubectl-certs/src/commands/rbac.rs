//! `kubectl certs rbac`: the minimal Role each command needs (the e2e tests bind exactly this).

use std::io::Write;
use std::process::ExitCode;

use shared::output::write_str;
use shared::rbac::{CommandRbac, Rule, cluster_role, role, role_yaml};

use crate::cli::RbacArgs;

const CM: &str = "cert-manager.io";

/// A rule granting `verbs` on `resources` of API group `group` (`""`: the core group).
const fn rule(
    group: &'static str,
    resources: &'static [&'static str],
    verbs: &'static [&'static str],
) -> Rule {
    Rule {
        group,
        resources,
        verbs,
    }
}

/// Certificates are listed to resolve names and to inventory them.
const LIST_CERTIFICATES: Rule = rule(CM, &["certificates"], &["list"]);
/// Secrets are listed (by type) and read one by one.
const READ_SECRETS: Rule = rule("", &["secrets"], &["list", "get"]);
/// A ready pod behind a Service is looked up ...
const FIND_PODS: Rule = rule("", &["pods"], &["get", "list"]);
/// ... and port-forwarded to, to read the certificate it serves.
const PORT_FORWARD: Rule = rule("", &["pods/portforward"], &["get", "create"]);

/// `list` and `check`.
pub const LIST: CommandRbac = CommandRbac {
    command: "list/check",
    why: "one LIST of Certificates, one of TLS Secrets (Opaque too with --include-opaque) and one of Ingresses, and a GET of each Secret an Ingress names",
    rules: &[
        LIST_CERTIFICATES,
        READ_SECRETS,
        rule("networking.k8s.io", &["ingresses"], &["list"]),
    ],
};

/// `list -A`/`check -A`: the cluster-scoped sources (webhook, apiservice, crd-conversion) and
/// the serving check of their Services. A ClusterRole only: a Role cannot grant them.
pub const CLUSTER_SOURCES: CommandRbac = CommandRbac {
    command: "list/check -A (webhook, apiservice, crd-conversion sources)",
    why: "one LIST of each caBundle holder, then, for each, the Service's endpoints and a port-forward to a ready pod to read the served certificate",
    rules: &[
        rule(
            "admissionregistration.k8s.io",
            &[
                "validatingwebhookconfigurations",
                "mutatingwebhookconfigurations",
            ],
            &["list"],
        ),
        rule("apiregistration.k8s.io", &["apiservices"], &["list"]),
        rule(
            "apiextensions.k8s.io",
            &["customresourcedefinitions"],
            &["list"],
        ),
        rule("", &["services", "endpoints"], &["get"]),
        FIND_PODS,
        PORT_FORWARD,
    ],
};

/// `check NAME` / `validate`: name lookups (and hints for non-TLS Secrets).
pub const VALIDATE: CommandRbac = CommandRbac {
    command: "validate/check NAME/backup",
    why: "resolve a name; read one Secret that is not of type kubernetes.io/tls to say why",
    rules: &[LIST_CERTIFICATES, READ_SECRETS],
};

/// `--endpoint svc/NAME:PORT`.
pub const ENDPOINT: CommandRbac = CommandRbac {
    command: "--endpoint svc/NAME:PORT",
    why: "find a ready pod behind the Service and port-forward to it",
    rules: &[rule("", &["services"], &["get"]), FIND_PODS, PORT_FORWARD],
};

/// `restore`.
pub const RESTORE: CommandRbac = CommandRbac {
    command: "restore",
    why: "create or replace the backed-up Secrets and Certificates",
    rules: &[
        rule("", &["secrets"], &["get", "create", "update"]),
        rule(CM, &["certificates"], &["get", "create", "update"]),
    ],
};

/// `rotate`.
pub const ROTATE: CommandRbac = CommandRbac {
    command: "rotate",
    why: "trigger issuance (certificates/status), watch it, write Secrets (Vault), restart and watch workloads",
    rules: &[
        rule(CM, &["certificates"], &["get", "list", "watch"]),
        rule(CM, &["certificates/status"], &["update"]),
        rule(CM, &["certificaterequests"], &["list", "watch"]),
        rule("", &["events"], &["list", "watch"]),
        rule("", &["secrets"], &["get", "list", "create", "update"]),
        rule(
            "apps",
            &["deployments", "statefulsets", "daemonsets"],
            &["get", "list", "watch", "patch"],
        ),
    ],
};

/// Every command's rules, in order.
pub const ALL: &[(&str, CommandRbac)] = &[
    ("list", LIST),
    ("check", LIST),
    ("sources", CLUSTER_SOURCES),
    ("validate", VALIDATE),
    ("backup", VALIDATE),
    ("endpoint", ENDPOINT),
    ("restore", RESTORE),
    ("rotate", ROTATE),
];

/// The entries of [`ALL`] printed only as a ClusterRole.
pub const CLUSTER_ONLY: &[&str] = &["sources"];

/// Runs `rbac`.
pub fn run(
    args: &RbacArgs,
    global: &shared::cli::GlobalArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let mut picked: Vec<CommandRbac> = Vec::new();
    for (name, rbac) in ALL {
        // Cluster-scoped resources cannot be granted by a Role: they are in the ClusterRole only.
        if CLUSTER_ONLY.contains(name) && !args.cluster_role {
            continue;
        }
        let wanted = args.commands.is_empty() || args.commands.iter().any(|c| c == name);
        if wanted && !picked.iter().any(|p| p.command == rbac.command) {
            picked.push(*rbac);
        }
    }
    for c in &args.commands {
        if CLUSTER_ONLY.contains(&c.as_str()) && !args.cluster_role {
            return Err(shared::Error::Usage {
                message: format!("{c:?} needs cluster-scoped resources, which a Role cannot grant"),
                hint: Some(format!("kubectl certs rbac {c} --cluster-role")),
            }
            .into());
        }
        if !ALL.iter().any(|(n, _)| n == c) {
            let names: Vec<&str> = ALL.iter().map(|(n, _)| *n).collect();
            return Err(shared::Error::Usage {
                message: format!("unknown command {c:?}"),
                hint: Some(format!("one of: {}", names.join(", "))),
            }
            .into());
        }
    }
    let text = if args.cluster_role {
        let cr = cluster_role(&args.name, &picked);
        let mut value = serde_json::to_value(&cr)?;
        value["apiVersion"] = "rbac.authorization.k8s.io/v1".into();
        value["kind"] = "ClusterRole".into();
        let mut text: String = picked
            .iter()
            .map(|c| format!("# {}: {}\n", c.command, c.why))
            .collect();
        text.push_str(&shared::output::to_yaml(&value)?);
        text
    } else {
        let config = global.load_config()?;
        let ns = global
            .cluster
            .namespace
            .clone()
            .unwrap_or(config.config.namespace.clone());
        let mut text = role_yaml(&role(&args.name, &ns, &picked), &picked)?;
        if args.commands.is_empty() {
            text.insert_str(0, "# list/check -A also read webhooks, APIServices and CRDs: `kubectl certs rbac --cluster-role`\n");
        }
        text
    };
    write_str(out, &text)?;
    Ok(ExitCode::SUCCESS)
}
