//! The server-side dry-run (`dryRun=All`) before creating anything: it runs authorization and
//! every admission plugin (PodSecurity, PodSecurityPolicy on older clusters, ResourceQuota,
//! LimitRange, webhooks) without persisting. A rejection is explained, naming the profiles
//! that *would* pass (each checked with another dry-run).

use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use kube::{Api, Error as KubeError};
use shared::Error;

use crate::profile::Profile;

/// Why the API server refused a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The user may not create pods (RBAC): the server's message names verb and resource.
    Rbac(String),
    /// PodSecurity admission or a PodSecurityPolicy refused the pod's security settings.
    PodSecurity(String),
    /// A ResourceQuota or LimitRange refused the pod's resources.
    Resources(String),
    /// A validating admission webhook (Gatekeeper, Kyverno, ...) denied the pod.
    Webhook(String),
    /// A webhook with side effects cannot be dry-run: nothing is known about the real create.
    DryRunUnsupported(String),
    /// Anything else (validation, ...).
    Other(String),
}

impl Rejection {
    /// The server's message.
    pub fn message(&self) -> &str {
        match self {
            Rejection::Rbac(m)
            | Rejection::PodSecurity(m)
            | Rejection::Resources(m)
            | Rejection::Webhook(m)
            | Rejection::DryRunUnsupported(m)
            | Rejection::Other(m) => m,
        }
    }

    /// True when the namespace's admission refused the pod (not the user's RBAC, and not a
    /// dry-run that could not tell): another namespace may accept it.
    pub fn is_admission(&self) -> bool {
        matches!(
            self,
            Rejection::PodSecurity(_)
                | Rejection::Resources(_)
                | Rejection::Webhook(_)
                | Rejection::Other(_)
        )
    }
}

/// The reason in an admission error without the `pods "x" is forbidden: ` preamble.
pub fn reason(msg: &str) -> &str {
    msg.split_once(" is forbidden: ")
        .map(|(_, rest)| rest)
        .unwrap_or(msg)
        .trim()
}

/// Classifies an API error from a pod create.
pub fn classify(err: &KubeError) -> Option<Rejection> {
    let KubeError::Api(status) = err else {
        return None;
    };
    let msg = status.message.clone();
    let lower = msg.to_lowercase();
    Some(if lower.contains("does not support dry run") {
        Rejection::DryRunUnsupported(msg)
    } else if status.code == 403 && lower.contains("\" cannot ") && lower.contains(" resource \"") {
        Rejection::Rbac(msg)
    } else if lower.contains("violates podsecurity")
        || lower.contains("pod security policy")
        || lower.contains("podsecuritypolicy")
        || lower.contains("privileged containers are not allowed")
        || lower.contains("host namespaces")
    {
        Rejection::PodSecurity(msg)
    } else if lower.contains("exceeded quota")
        || lower.contains("must specify")
        || lower.contains("maximum ")
        || lower.contains("minimum ")
        || lower.contains("limitrange")
    {
        Rejection::Resources(msg)
    } else if lower.contains("admission webhook") && lower.contains("denied the request") {
        Rejection::Webhook(msg)
    } else {
        Rejection::Other(msg)
    })
}

/// Dry-runs the create; `Ok(())` when the server would accept the pod.
pub async fn dry_run(pods: &Api<Pod>, pod: &Pod) -> Result<(), KubeError> {
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    pods.create(&pp, pod).await.map(|_| ())
}

/// Turns a rejection into the user's error, with what to do (`passing` = profiles that passed).
pub fn explain(
    rejection: Rejection,
    profile: Profile,
    namespace: &str,
    passing: &[Profile],
) -> Error {
    match rejection {
        Rejection::Rbac(msg) => Error::invalid(
            format!("not allowed to create the debug pod: {msg}"),
            format!("ask for the Role printed by `kubectl debugpod rbac create -n {namespace}`"),
        ),
        Rejection::PodSecurity(msg) => {
            let hint = match passing {
                [] => format!(
                    "no profile passes in namespace {namespace}; debug from a namespace labelled pod-security.kubernetes.io/enforce=privileged, or ask an admin"
                ),
                ps => format!(
                    "--profile {} would pass here ({}); the {profile} profile needs PodSecurity level {:?}",
                    ps.last().copied().unwrap_or(Profile::Restricted),
                    ps.iter()
                        .map(|p| format!(
                            "{p}: {}",
                            if p.limitation().is_empty() {
                                "full access"
                            } else {
                                p.limitation()
                            }
                        ))
                        .collect::<Vec<_>>()
                        .join("; "),
                    profile.pod_security_level()
                ),
            };
            Error::invalid(
                format!(
                    "the {profile} profile is rejected by admission in namespace {namespace}: {msg}"
                ),
                hint,
            )
        }
        Rejection::Resources(msg) => Error::invalid(
            format!("the debug pod's resources are rejected in namespace {namespace}: {msg}"),
            "lower --cpu-limit/--memory-limit (see `kubectl describe quota,limitrange`), or free quota by `kubectl debugpod cleanup --expired`",
        ),
        Rejection::Webhook(msg) => Error::invalid(
            format!("an admission webhook rejected the debug pod in namespace {namespace}: {msg}"),
            "the webhook's policy names what it refuses; see `kubectl get validatingwebhookconfigurations`, or ask its owners",
        ),
        Rejection::DryRunUnsupported(msg) | Rejection::Other(msg) => Error::invalid(
            format!("the API server rejected the debug pod (dry-run): {msg}"),
            "a webhook with side effects may refuse all dry-runs; check `kubectl get validatingwebhookconfigurations`",
        ),
    }
}

/// The namespace label PodSecurity admission enforces.
pub const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

/// Where else a pod that namespace `current` refused could go, most likely first: namespaces
/// labelled `enforce=privileged`, then `kube-system`, then those without an enforce label
/// (a cluster default may still apply: each is checked with a dry-run). At most `max`.
pub fn candidate_namespaces(
    namespaces: &[k8s_openapi::api::core::v1::Namespace],
    current: &str,
    max: usize,
) -> Vec<String> {
    use kube::ResourceExt;
    let rank = |ns: &k8s_openapi::api::core::v1::Namespace| -> Option<u8> {
        if ns.metadata.deletion_timestamp.is_some() || ns.name_any() == current {
            return None;
        }
        match ns.labels().get(ENFORCE_LABEL).map(String::as_str) {
            Some("privileged") => Some(0),
            None if ns.name_any() == "kube-system" => Some(1),
            None => Some(2),
            Some(_) => None,
        }
    };
    let mut ranked: Vec<(u8, String)> = namespaces
        .iter()
        .filter_map(|ns| rank(ns).map(|r| (r, ns.name_any())))
        .collect();
    ranked.sort();
    ranked.into_iter().take(max).map(|(_, n)| n).collect()
}

/// What the search for a namespace that accepts a pod found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceSearch {
    /// This namespace's dry-run accepted the pod.
    Accepted(String),
    /// No candidate accepted it (or the user may not create pods in them).
    NoneAccepted {
        /// How many were tried.
        tried: usize,
    },
    /// Namespaces could not be listed.
    CannotList(String),
}

/// How many other namespaces are dry-run at most.
pub const MAX_CANDIDATES: usize = 10;

/// Dry-runs `pod` in other namespaces ([`candidate_namespaces`]) until one accepts it.
pub async fn namespace_that_accepts(
    client: &kube::Client,
    pod: &Pod,
    current: &str,
) -> NamespaceSearch {
    let all: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let list = match all.list(&kube::api::ListParams::default()).await {
        Ok(l) => l,
        Err(e) => return NamespaceSearch::CannotList(shared::exit::render_chain(&e)),
    };
    let candidates = candidate_namespaces(&list.items, current, MAX_CANDIDATES);
    for ns in &candidates {
        let mut moved = pod.clone();
        moved.metadata.namespace = Some(ns.clone());
        if dry_run(&Api::namespaced(client.clone(), ns), &moved)
            .await
            .is_ok()
        {
            return NamespaceSearch::Accepted(ns.clone());
        }
    }
    NamespaceSearch::NoneAccepted {
        tried: candidates.len(),
    }
}

/// The error for a pod that namespace `namespace` refused, with where it would pass instead
/// (`retry` is the command line to repeat, without `-n`).
pub fn explain_elsewhere(
    what: &str,
    rejection: &Rejection,
    namespace: &str,
    search: &NamespaceSearch,
    retry: &str,
) -> Error {
    let message = format!(
        "namespace {namespace} refuses the {what}: {}",
        reason(rejection.message())
    );
    let hint = match search {
        NamespaceSearch::Accepted(ns) => {
            format!("namespace {ns} accepts it (server-side dry-run): `{retry} --namespace {ns}`")
        }
        NamespaceSearch::NoneAccepted { tried } => format!(
            "none of the {tried} other namespace(s) you may create pods in accepts it either; ask an admin for a namespace labelled {ENFORCE_LABEL}=privileged"
        ),
        NamespaceSearch::CannotList(_) => format!(
            "try a namespace labelled {ENFORCE_LABEL}=privileged, e.g. `{retry} --namespace kube-system` (namespaces could not be listed to check)"
        ),
    };
    Error::invalid(message, hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_err(code: u16, msg: &str) -> KubeError {
        KubeError::Api(Box::new(
            kube::core::Status::failure(msg, "Forbidden").with_code(code),
        ))
    }

    #[test]
    fn rbac_is_not_admission() {
        let e = api_err(
            403,
            r#"pods is forbidden: User "u" cannot create resource "pods" in API group "" in the namespace "n""#,
        );
        assert!(matches!(classify(&e), Some(Rejection::Rbac(_))));
        let text = explain(classify(&e).unwrap(), Profile::General, "n", &[]).to_string();
        assert!(text.contains(r#"cannot create resource "pods""#), "{text}");
    }

    #[test]
    fn pod_security_names_a_passing_profile() {
        let e = api_err(
            403,
            r#"pods "x" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostPID=true)"#,
        );
        let r = classify(&e).unwrap();
        assert!(matches!(r, Rejection::PodSecurity(_)));
        let err = explain(
            r,
            Profile::Netadmin,
            "n",
            &[Profile::Restricted, Profile::Baseline],
        );
        let hint = err.hint().unwrap();
        assert!(hint.starts_with("--profile baseline would pass"), "{hint}");
        let psp = api_err(
            403,
            "pods \"x\" is forbidden: unable to validate against any pod security policy: []",
        );
        assert!(matches!(classify(&psp), Some(Rejection::PodSecurity(_))));
    }

    #[test]
    fn pod_security_messages_of_every_generation_are_recognised() {
        // PodSecurity admission (1.23+), as the API server words it.
        let pss = api_err(
            403,
            r#"pods "debugpod-node-w1-abc" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true, hostPID=true, hostIPC=true), privileged (container "debugger" must not set securityContext.privileged=true), hostPath volumes (volume "host-root")"#,
        );
        let r = classify(&pss).unwrap();
        assert!(matches!(r, Rejection::PodSecurity(_)) && r.is_admission());
        assert!(
            reason(r.message())
                .starts_with("violates PodSecurity \"baseline:latest\": host namespaces"),
            "{}",
            reason(r.message())
        );
        // PodSecurityPolicy (≤ 1.24).
        let psp = api_err(
            403,
            "pods \"x\" is forbidden: PodSecurityPolicy: unable to admit pod: [spec.securityContext.hostNetwork: Invalid value: true: Host network is not allowed to be used]",
        );
        assert!(matches!(classify(&psp), Some(Rejection::PodSecurity(_))));
        // A policy webhook (Gatekeeper, Kyverno).
        let gk = api_err(
            403,
            r#"admission webhook "validation.gatekeeper.sh" denied the request: [psp-host-namespace] Sharing the host namespace is not allowed: debugpod-node-w1-abc"#,
        );
        let r = classify(&gk).unwrap();
        assert!(matches!(r, Rejection::Webhook(_)) && r.is_admission());
        // A webhook that cannot be dry-run says nothing about the real create.
        let se = api_err(
            400,
            r#"admission webhook "audit.example.com" does not support dry run"#,
        );
        let r = classify(&se).unwrap();
        assert!(matches!(r, Rejection::DryRunUnsupported(_)) && !r.is_admission());
        // RBAC is the user's, not the namespace's.
        let rbac = api_err(
            403,
            r#"pods is forbidden: User "u" cannot create resource "pods" in API group "" in the namespace "n""#,
        );
        assert!(!classify(&rbac).unwrap().is_admission());
    }

    fn ns(name: &str, enforce: Option<&str>) -> k8s_openapi::api::core::v1::Namespace {
        let labels = enforce
            .map(|e| serde_json::json!({ENFORCE_LABEL: e}))
            .unwrap_or(serde_json::json!({}));
        serde_json::from_value(serde_json::json!({"metadata": {"name": name, "labels": labels}}))
            .unwrap()
    }

    #[test]
    fn privileged_namespaces_are_tried_first_and_restricted_ones_never() {
        let all = [
            ns("apps", Some("restricted")),
            ns("zeta", None),
            ns("kube-system", None),
            ns("debug", Some("privileged")),
            ns("teams", Some("baseline")),
            ns("current", Some("privileged")),
            ns("alpha", None),
        ];
        assert_eq!(
            candidate_namespaces(&all, "current", 10),
            ["debug", "kube-system", "alpha", "zeta"]
        );
        assert_eq!(
            candidate_namespaces(&all, "current", 2),
            ["debug", "kube-system"]
        );
    }

    #[test]
    fn the_hint_names_the_namespace_that_accepts() {
        let r = Rejection::PodSecurity(
            r#"pods "p" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostPID=true)"#.into(),
        );
        let e = explain_elsewhere(
            "node pod",
            &r,
            "apps",
            &NamespaceSearch::Accepted("debug".into()),
            "kubectl debugpod node w1",
        );
        assert_eq!(
            e.to_string(),
            r#"namespace apps refuses the node pod: violates PodSecurity "baseline:latest": host namespaces (hostPID=true)"#
        );
        assert_eq!(
            e.hint().unwrap(),
            "namespace debug accepts it (server-side dry-run): `kubectl debugpod node w1 --namespace debug`"
        );
        let e = explain_elsewhere(
            "node pod",
            &r,
            "apps",
            &NamespaceSearch::CannotList("forbidden".into()),
            "kubectl debugpod node w1",
        );
        assert!(e.hint().unwrap().contains("--namespace kube-system"));
    }

    #[test]
    fn quota_and_limitrange_are_resources() {
        let q = api_err(
            403,
            "pods \"x\" is forbidden: exceeded quota: q, requested: limits.memory=256Mi",
        );
        assert!(matches!(classify(&q), Some(Rejection::Resources(_))));
        let l = api_err(
            403,
            "pods \"x\" is forbidden: maximum memory usage per Container is 64Mi, but limit is 256Mi",
        );
        assert!(matches!(classify(&l), Some(Rejection::Resources(_))));
    }
}
