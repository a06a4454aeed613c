//! Restarting what mounts a Secret, the way `kubectl rollout restart` does (the pod-template
//! annotation `kubectl.kubernetes.io/restartedAt`), and waiting for each rollout by watching.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::anyhow;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::wait::await_condition;
use serde::Serialize;
use serde_json::json;

/// The annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// Workload kinds that can be restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Kind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
}

/// A workload that uses the Secret.
#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    /// Kind.
    pub kind: Kind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// How it uses the Secret (volume, projected volume, env).
    pub uses: Vec<String>,
    /// Why it is not restarted, if it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl Workload {
    /// `deployment/name`.
    pub fn id(&self) -> String {
        format!(
            "{}/{}",
            format!("{:?}", self.kind).to_lowercase(),
            self.name
        )
    }
}

/// How a pod spec uses `secret` (empty when it does not).
pub fn uses_of(spec: &PodSpec, secret: &str) -> Vec<String> {
    let mut uses = Vec::new();
    for v in spec.volumes.iter().flatten() {
        if v.secret.as_ref().and_then(|s| s.secret_name.as_deref()) == Some(secret) {
            uses.push(format!("volume {}", v.name));
        }
        if let Some(p) = &v.projected
            && p.sources
                .iter()
                .flatten()
                .any(|s| s.secret.as_ref().is_some_and(|s| s.name == secret))
        {
            uses.push(format!("projected volume {}", v.name));
        }
    }
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        if c.env_from
            .iter()
            .flatten()
            .any(|e| e.secret_ref.as_ref().is_some_and(|s| s.name == secret))
        {
            uses.push(format!("envFrom in container {}", c.name));
        }
        for e in c.env.iter().flatten() {
            if e.value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
                .is_some_and(|s| s.name == secret)
            {
                uses.push(format!("env {} in container {}", e.name, c.name));
            }
        }
    }
    uses
}

/// Why a reloader already restarts this workload on Secret changes, if one does.
pub fn reloader_reason(annotations: &BTreeMap<String, String>, secret: &str) -> Option<String> {
    if annotations
        .get("reloader.stakater.com/auto")
        .is_some_and(|v| v == "true")
    {
        return Some("managed by Reloader (reloader.stakater.com/auto)".into());
    }
    for key in [
        "secret.reloader.stakater.com/reload",
        "reloader.stakater.com/search",
    ] {
        if let Some(v) = annotations.get(key)
            && (key.ends_with("search") || v.split(',').any(|s| s.trim() == secret))
        {
            return Some(format!("managed by Reloader ({key})"));
        }
    }
    None
}

fn consider(
    kind: Kind,
    ns: &str,
    meta: &kube::api::ObjectMeta,
    template: &PodTemplateSpec,
    paused: bool,
    secret: &str,
) -> Option<Workload> {
    let uses = template
        .spec
        .as_ref()
        .map(|s| uses_of(s, secret))
        .unwrap_or_default();
    if uses.is_empty() {
        return None;
    }
    let mut skipped = reloader_reason(&meta.annotations.clone().unwrap_or_default(), secret);
    if paused {
        skipped =
            Some("the Deployment is paused (kubectl refuses to restart paused deployments)".into());
    }
    Some(Workload {
        kind,
        namespace: ns.to_string(),
        name: meta.name.clone().unwrap_or_default(),
        uses,
        skipped,
    })
}

/// Finds the Deployments, StatefulSets and DaemonSets in `ns` whose pods use `secret` (one LIST each).
pub async fn find(client: &kube::Client, ns: &str, secret: &str) -> anyhow::Result<Vec<Workload>> {
    let lp = ListParams::default();
    let err = |what: &str, e| shared::Error::kube(format!("list {what} in namespace {ns}"), e);
    let mut out = Vec::new();
    for d in Api::<Deployment>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .map_err(|e| err("deployments.apps", e))?
    {
        let spec = d.spec.unwrap_or_default();
        out.extend(consider(
            Kind::Deployment,
            ns,
            &d.metadata,
            &spec.template,
            spec.paused == Some(true),
            secret,
        ));
    }
    for s in Api::<StatefulSet>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .map_err(|e| err("statefulsets.apps", e))?
    {
        let spec = s.spec.unwrap_or_default();
        out.extend(consider(
            Kind::StatefulSet,
            ns,
            &s.metadata,
            &spec.template,
            false,
            secret,
        ));
    }
    for d in Api::<DaemonSet>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .map_err(|e| err("daemonsets.apps", e))?
    {
        let spec = d.spec.unwrap_or_default();
        out.extend(consider(
            Kind::DaemonSet,
            ns,
            &d.metadata,
            &spec.template,
            false,
            secret,
        ));
    }
    Ok(out)
}

/// Sets the restartedAt annotation (strategic merge patch), as `kubectl rollout restart`.
pub async fn restart(client: &kube::Client, w: &Workload, at: &str) -> anyhow::Result<()> {
    let patch =
        json!({ "spec": { "template": { "metadata": { "annotations": { RESTARTED_AT: at } } } } });
    let pp = PatchParams::default();
    let p = Patch::Strategic(&patch);
    let ctx = || format!("restart {} in namespace {}", w.id(), w.namespace);
    match w.kind {
        Kind::Deployment => Api::<Deployment>::namespaced(client.clone(), &w.namespace)
            .patch(&w.name, &pp, &p)
            .await
            .map(|_| ()),
        Kind::StatefulSet => Api::<StatefulSet>::namespaced(client.clone(), &w.namespace)
            .patch(&w.name, &pp, &p)
            .await
            .map(|_| ()),
        Kind::DaemonSet => Api::<DaemonSet>::namespaced(client.clone(), &w.namespace)
            .patch(&w.name, &pp, &p)
            .await
            .map(|_| ()),
    }
    .map_err(|e| shared::Error::kube(ctx(), e).into())
}

/// True when a Deployment's rollout is complete (as `kubectl rollout status` decides).
pub fn deployment_done(d: &Deployment) -> bool {
    let (Some(spec), Some(st)) = (&d.spec, &d.status) else {
        return false;
    };
    let want = spec.replicas.unwrap_or(1);
    st.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
        && st.updated_replicas.unwrap_or(0) == want
        && st.replicas.unwrap_or(0) == want
        && st.available_replicas.unwrap_or(0) == want
}

/// True when a StatefulSet's rollout is complete.
pub fn statefulset_done(s: &StatefulSet) -> bool {
    let (Some(spec), Some(st)) = (&s.spec, &s.status) else {
        return false;
    };
    let want = spec.replicas.unwrap_or(1);
    st.observed_generation.unwrap_or(0) >= s.metadata.generation.unwrap_or(0)
        && st.updated_replicas.unwrap_or(0) == want
        && st.ready_replicas.unwrap_or(0) == want
        && st.current_revision == st.update_revision
}

/// True when a DaemonSet's rollout is complete.
pub fn daemonset_done(d: &DaemonSet) -> bool {
    let Some(st) = &d.status else { return false };
    st.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
        && st.updated_number_scheduled.unwrap_or(0) == st.desired_number_scheduled
        && st.number_available.unwrap_or(0) == st.desired_number_scheduled
}

/// Waits (by watching) until the workload's rollout is complete.
pub async fn wait_rollout(
    client: &kube::Client,
    w: &Workload,
    timeout: Duration,
) -> anyhow::Result<()> {
    let ns = &w.namespace;
    let fut = async {
        match w.kind {
            Kind::Deployment => await_condition(
                Api::<Deployment>::namespaced(client.clone(), ns),
                &w.name,
                |d: Option<&Deployment>| d.is_some_and(deployment_done),
            )
            .await
            .map(|_| ()),
            Kind::StatefulSet => await_condition(
                Api::<StatefulSet>::namespaced(client.clone(), ns),
                &w.name,
                |s: Option<&StatefulSet>| s.is_some_and(statefulset_done),
            )
            .await
            .map(|_| ()),
            Kind::DaemonSet => await_condition(
                Api::<DaemonSet>::namespaced(client.clone(), ns),
                &w.name,
                |d: Option<&DaemonSet>| d.is_some_and(daemonset_done),
            )
            .await
            .map(|_| ()),
        }
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            Err(anyhow::Error::new(e).context(format!("watching the rollout of {} failed", w.id())))
        }
        Err(_) => Err(anyhow!(
            "the rollout of {} did not finish within {}s",
            w.id(),
            timeout.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_volume_projected_and_env_uses() {
        let spec: PodSpec = serde_json::from_value(json!({
            "containers": [{"name": "app", "env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "tls", "key": "tls.key"}}}],
                            "envFrom": [{"secretRef": {"name": "other"}}]}],
            "volumes": [{"name": "a", "secret": {"secretName": "tls"}},
                        {"name": "b", "projected": {"sources": [{"secret": {"name": "tls"}}]}},
                        {"name": "c", "secret": {"secretName": "nope"}}]
        }))
        .unwrap();
        assert_eq!(
            uses_of(&spec, "tls"),
            ["volume a", "projected volume b", "env K in container app"]
        );
        assert!(uses_of(&spec, "x").is_empty());
    }

    #[test]
    fn reloader_annotations_skip() {
        let mut a = BTreeMap::new();
        assert!(reloader_reason(&a, "tls").is_none());
        a.insert(
            "secret.reloader.stakater.com/reload".to_string(),
            "x, tls".to_string(),
        );
        assert!(reloader_reason(&a, "tls").is_some());
        assert!(reloader_reason(&a, "y").is_none());
    }
}
