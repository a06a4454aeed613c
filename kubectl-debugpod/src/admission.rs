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
    /// Anything else (validation, webhook, ...).
    Other(String),
}

/// Classifies an API error from a pod create.
pub fn classify(err: &KubeError) -> Option<Rejection> {
    let KubeError::Api(status) = err else {
        return None;
    };
    let msg = status.message.clone();
    let lower = msg.to_lowercase();
    Some(
        if status.code == 403 && lower.contains("\" cannot ") && lower.contains(" resource \"") {
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
        } else {
            Rejection::Other(msg)
        },
    )
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
        Rejection::Other(msg) => Error::invalid(
            format!("the API server rejected the debug pod (dry-run): {msg}"),
            "a webhook with side effects may refuse all dry-runs; check `kubectl get validatingwebhookconfigurations`",
        ),
    }
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
