//! What the sandbox e2e tests share: names unique to a run, a namespace of the test's own that
//! goes away when the test ends (pass or fail), and binding a least-privilege user to exactly the
//! Role a plugin's `rbac` command prints — waiting until the API server's authorizer agrees, so a
//! test never races the RBAC cache.

use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Client, ResourceExt as _};
use serde_json::{Value, json};

use crate::plugin;
use crate::sandbox::{Sandbox, User, eventually};

/// Twelve hex digits unique to this call (time, process and a counter mixed): every name built
/// from it has the same width, so a pattern `prefix:<u>*` never matches another run's keys.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mixed = nanos
        ^ (u64::from(std::process::id()) << 40)
        ^ N.fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!("{:012x}", mixed & 0xffff_ffff_ffff)
}

/// A namespace of the test's own, `<prefix>-<unique>`, labelled `kubectl-ops.dev/test=<prefix>`.
/// Dropping it deletes the namespace (in the background), also when the test failed.
pub struct TestNamespace {
    sandbox: Sandbox,
    name: String,
}

impl TestNamespace {
    /// Creates the namespace as the admin and waits until the API server admits pods there
    /// (see [`wait_until_pods_admitted`]).
    pub async fn create(sandbox: &Sandbox, admin: &Client, prefix: &str) -> Result<Self> {
        let name = format!("{prefix}-{}", unique());
        let namespace: Namespace = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"kubectl-ops.dev/test": prefix}},
        }))?;
        Api::<Namespace>::all(admin.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        let guard = TestNamespace {
            sandbox: sandbox.clone(),
            name,
        };
        wait_until_pods_admitted(admin, &guard.name).await?;
        Ok(guard)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Waits until the API server admits a pod in `namespace`, asking admission itself with a
/// server-side dry run (nothing is created). Right after a namespace is created a pod is
/// refused until the namespace's `default` ServiceAccount exists, and on clusters that mount
/// Secret-based tokens (the 1.20 sandbox) also until the token controller has given that
/// account a token Secret ("No API token found"). Kubernetes >= 1.24 never creates that
/// Secret (pods get a projected TokenRequest token), so waiting for it would time out there;
/// the dry run is the right condition on every version.
pub async fn wait_until_pods_admitted(admin: &Client, namespace: &str) -> Result<()> {
    let probe: Pod = serde_json::from_value(json!({
        "metadata": {"name": "kubectl-ops-admission-probe"},
        // Meets the "restricted" Pod Security Standard, which a cluster may enforce everywhere.
        "spec": {
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "probe",
                "image": "kubectl-ops.invalid/admission-probe",
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "capabilities": {"drop": ["ALL"]},
                },
            }],
        },
    }))?;
    let pods: Api<Pod> = Api::namespaced(admin.clone(), namespace);
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    eventually(
        &format!("namespace {namespace} to admit pods"),
        Duration::from_secs(60),
        || {
            let (pods, probe, dry_run) = (pods.clone(), probe.clone(), dry_run.clone());
            async move {
                pods.create(&dry_run, &probe).await?;
                Ok(Some(()))
            }
        },
    )
    .await
}

impl Drop for TestNamespace {
    /// Deletes the namespace; a namespace left behind would show up in every later `-A`.
    fn drop(&mut self) {
        let (sandbox, name) = (self.sandbox.clone(), self.name.clone());
        run_to_completion(async move {
            let Ok(admin) = sandbox.client().await else {
                return;
            };
            if let Err(e) = Api::<Namespace>::all(admin)
                .delete(&name, &DeleteParams::background())
                .await
            {
                eprintln!("could not delete test namespace {name}: {e}");
            }
        });
    }
}

/// Runs `cleanup` to completion on a thread with a runtime of its own, for `Drop` impls: the
/// test's runtime may be shutting down already when a fixture is dropped.
pub fn run_to_completion(cleanup: impl std::future::Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(cleanup);
        }
    })
    .join();
}

/// The Role that `<plugin> rbac -n NAMESPACE` prints (YAML), parsed.
pub fn printed_role(plugin_name: &str, namespace: &str) -> Result<Role> {
    let out = plugin(plugin_name)
        .args(["rbac", "-n", namespace])
        .output()?;
    ensure!(
        out.status.success(),
        "{plugin_name} rbac: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value: Value = serde_saphyr::from_str(&String::from_utf8(out.stdout)?)?;
    let role: Role = serde_json::from_value(value)?;
    ensure!(
        role.metadata.namespace.as_deref() == Some(namespace),
        "{plugin_name} rbac -n {namespace} printed a Role for {:?}",
        role.metadata.namespace
    );
    Ok(role)
}

/// Applies `role` (creating it, or bringing an existing one to these rules: tests sharing the
/// seeded namespace run concurrently), binds it to `user` under the Role's name, and waits until
/// the user is allowed the first verb on the first resource of the first rule.
pub async fn bind_role(sandbox: &Sandbox, admin: &Client, role: &Role, user: User) -> Result<()> {
    let namespace = role.metadata.namespace.clone().context("Role namespace")?;
    let roles: Api<Role> = Api::namespaced(admin.clone(), &namespace);
    match roles.create(&PostParams::default(), role).await {
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let existing = roles.get(&role.name_any()).await?;
            if existing.rules != role.rules {
                let mut updated = role.clone();
                updated.metadata.resource_version = existing.metadata.resource_version;
                roles
                    .replace(&role.name_any(), &PostParams::default(), &updated)
                    .await?;
            }
        }
        other => {
            other?;
        }
    }
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": role.name_any()},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.name_any()},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user.name()}],
    }))?;
    match Api::<RoleBinding>::namespaced(admin.clone(), &namespace)
        .create(&PostParams::default(), &binding)
        .await
    {
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        other => {
            other?;
        }
    }
    let rule = role
        .rules
        .as_ref()
        .and_then(|rules| rules.first())
        .context("the Role has no rules")?;
    let verb = rule.verbs.first().context("a rule without verbs")?;
    let resource = rule
        .resources
        .as_ref()
        .and_then(|r| r.first())
        .context("a rule without resources")?;
    let group = rule
        .api_groups
        .as_ref()
        .and_then(|g| g.first())
        .cloned()
        .unwrap_or_default();
    wait_until_allowed(sandbox, user, &namespace, (&group, resource, verb), true).await
}

/// Waits until the API server's authorizer answers `allowed == expected` for `user` doing
/// `verb` on `resource` (in API group `group`) in `namespace` (a SelfSubjectAccessReview as
/// that user).
pub async fn wait_until_allowed(
    sandbox: &Sandbox,
    user: User,
    namespace: &str,
    (group, resource, verb): (&str, &str, &str),
    expected: bool,
) -> Result<()> {
    let client = sandbox.client_for(user).await?;
    let review: SelfSubjectAccessReview = serde_json::from_value(json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {
            "namespace": namespace, "group": group, "resource": resource, "verb": verb,
        }},
    }))?;
    let what = format!(
        "{} to be {} {verb} {resource} in {namespace}",
        user.name(),
        if expected { "allowed" } else { "denied" }
    );
    eventually(&what, Duration::from_secs(30), || {
        let (client, review) = (client.clone(), review.clone());
        async move {
            let answer = Api::<SelfSubjectAccessReview>::all(client)
                .create(&PostParams::default(), &review)
                .await?;
            Ok((answer.status.is_some_and(|s| s.allowed) == expected).then_some(()))
        }
    })
    .await
}

/// `role` without `verbs` on `resource` (in API group `group`, "" for the core group): for a
/// user who may do everything a command needs except one write, to make that write fail for
/// real. The verbs go from every rule naming `resource` (and so from that rule's other
/// resources too; the Roles the plugins print name one resource per rule). Rules left without
/// verbs are dropped.
pub fn role_without(role: &Role, group: &str, resource: &str, verbs: &[&str]) -> Role {
    let mut reduced = role.clone();
    let rules = reduced.rules.take().unwrap_or_default();
    reduced.rules = Some(
        rules
            .into_iter()
            .filter_map(|mut rule| {
                let applies = rule.api_groups.iter().flatten().any(|g| g == group)
                    && rule.resources.iter().flatten().any(|r| r == resource);
                if applies {
                    rule.verbs.retain(|v| !verbs.contains(&v.as_str()));
                }
                (!rule.verbs.is_empty()).then_some(rule)
            })
            .collect(),
    );
    reduced
}
