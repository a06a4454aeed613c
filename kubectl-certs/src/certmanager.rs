//! Re-issuing through cert-manager the way `cmctl renew` does (the `Issuing=True` condition,
//! reason `ManuallyTriggered`, on `certificates/status`), but with a resourceVersion-guarded
//! update retried on conflict, and then *waiting*, by watching, for a new `status.revision`
//! with `Ready=True`, while reporting CertificateRequest conditions and events as they come.

use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, DynamicObject, PostParams};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, watch_object};
use serde_json::{Value, json};

use crate::model::{certificate_resource, condition, request_resource};

/// How the wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new revision is Ready.
    Issued {
        /// The new status.revision.
        revision: i64,
    },
    /// cert-manager reported a failure.
    Failed {
        /// Its reason.
        reason: String,
        /// Its message.
        message: String,
    },
    /// Nothing conclusive within the timeout.
    TimedOut {
        /// The last state seen.
        last: String,
    },
}

/// Sets Issuing=True (ManuallyTriggered) on the Certificate's status; returns the revision
/// before the trigger. Retries on 409 Conflict with a fresh read.
pub async fn trigger(client: &kube::Client, ns: &str, name: &str) -> anyhow::Result<i64> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &certificate_resource());
    let now = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    for attempt in 1..=5 {
        let mut obj = api
            .get(name)
            .await
            .map_err(|e| shared::Error::kube(format!("get certificate {ns}/{name}"), e))?;
        let revision = obj
            .data
            .pointer("/status/revision")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let generation = obj.metadata.generation;
        let status = obj
            .data
            .as_object_mut()
            .map(|o| o.entry("status").or_insert_with(|| json!({})));
        let Some(status) = status.and_then(Value::as_object_mut) else {
            anyhow::bail!("certificate {ns}/{name} is malformed")
        };
        let conditions = status.entry("conditions").or_insert_with(|| json!([]));
        let list = conditions
            .as_array_mut()
            .ok_or_else(|| anyhow::anyhow!("status.conditions is not a list"))?;
        list.retain(|c| c["type"] != "Issuing");
        let mut cond = json!({
            "type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
            "message": "Certificate re-issuance manually triggered (kubectl certs rotate)",
            "lastTransitionTime": now,
        });
        if let Some(g) = generation {
            cond["observedGeneration"] = g.into();
        }
        list.push(cond);
        match api.replace_status(name, &PostParams::default(), &obj).await {
            Ok(_) => return Ok(revision),
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < 5 => {
                tracing::debug!(attempt, "conflict updating certificates/status; retrying");
                continue;
            }
            Err(e) => {
                return Err(shared::Error::kube(
                    format!("update certificates/status {ns}/{name}"),
                    e,
                )
                .into());
            }
        }
    }
    anyhow::bail!("certificate {ns}/{name} kept changing under us (5 conflicts)")
}

/// Judges a Certificate object against the revision before the trigger.
pub fn judge(obj: &DynamicObject, old_revision: i64) -> Option<Outcome> {
    let d = &obj.data;
    let revision = d
        .pointer("/status/revision")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let ready = condition(d, "Ready");
    let issuing = condition(d, "Issuing");
    if let Some(i) = &issuing
        && i.status == "False"
        && i.reason != "Issued"
    {
        return Some(Outcome::Failed {
            reason: i.reason.clone(),
            message: i.message.clone(),
        });
    }
    let ready_now = ready.as_ref().is_some_and(|r| {
        r.status == "True"
            && r.observed_generation
                .is_none_or(|g| Some(g) >= obj.metadata.generation)
    });
    let issuing_done = issuing.as_ref().is_none_or(|i| i.status != "True");
    if revision > old_revision && ready_now && issuing_done {
        return Some(Outcome::Issued { revision });
    }
    None
}

fn describe(obj: &DynamicObject) -> String {
    let d = &obj.data;
    let r = condition(d, "Ready")
        .map(|c| format!("Ready={} ({})", c.status, c.reason))
        .unwrap_or_else(|| "Ready=?".into());
    let i = condition(d, "Issuing")
        .map(|c| format!(", Issuing={} ({})", c.status, c.reason))
        .unwrap_or_default();
    format!(
        "revision {}, {r}{i}",
        d.pointer("/status/revision")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    )
}

/// Watches until the Certificate has a revision above `old_revision` and is Ready, or fails.
/// `progress` gets one line per observed change (CertificateRequests, events, the Certificate).
pub async fn wait(
    client: &kube::Client,
    ns: &str,
    name: &str,
    old_revision: i64,
    timeout: Duration,
    progress: &mut dyn FnMut(String),
) -> anyhow::Result<Outcome> {
    let certs: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &certificate_resource());
    let requests: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &request_resource());
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let mut cert_stream = watch_object(certs, name).boxed();
    let mut req_stream = watcher::watcher(requests, watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .boxed();
    let ev_cfg = watcher::Config::default().fields(&format!(
        "involvedObject.name={name},involvedObject.kind=Certificate"
    ));
    let mut ev_stream = watcher::watcher(events, ev_cfg)
        .default_backoff()
        .applied_objects()
        .boxed();
    let started = k8s_openapi::jiff::Timestamp::now();
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut last = "no status yet".to_string();
    let mut seen_requests: std::collections::HashMap<String, String> = Default::default();
    loop {
        tokio::select! {
            _ = &mut deadline => return Ok(Outcome::TimedOut { last }),
            item = cert_stream.try_next() => {
                match item {
                    Ok(Some(Some(obj))) => {
                        let text = describe(&obj);
                        if text != last {
                            progress(format!("Certificate {ns}/{name}: {text}"));
                            last = text;
                        }
                        if let Some(outcome) = judge(&obj, old_revision) {
                            return Ok(outcome);
                        }
                    }
                    Ok(Some(None)) => anyhow::bail!("certificate {ns}/{name} was deleted while waiting"),
                    Ok(None) => anyhow::bail!("the watch on certificate {ns}/{name} ended"),
                    Err(e) => return Err(shared::Error::invalid(format!("watch certificate {ns}/{name}: {e}"), "the rotate Role needs list and watch on certificates").into()),
                }
            }
            item = req_stream.next() => {
                if let Some(Ok(cr)) = item {
                    let owner = cr.metadata.annotations.as_ref().and_then(|a| a.get("cert-manager.io/certificate-name")).map(String::as_str);
                    let rev = cr.metadata.annotations.as_ref().and_then(|a| a.get("cert-manager.io/certificate-revision")).and_then(|r| r.parse::<i64>().ok()).unwrap_or(0);
                    if owner == Some(name) && rev > old_revision {
                        let ready = condition(&cr.data, "Ready").map(|c| format!("Ready={} ({}): {}", c.status, c.reason, c.message)).unwrap_or_else(|| "pending".into());
                        let key = cr.metadata.name.clone().unwrap_or_default();
                        if seen_requests.get(&key) != Some(&ready) {
                            progress(format!("CertificateRequest {key}: {ready}"));
                            seen_requests.insert(key, ready);
                        }
                    }
                }
            }
            item = ev_stream.next() => {
                if let Some(Ok(ev)) = item {
                    let when = ev.last_timestamp.as_ref().map(|t| t.0).or(ev.event_time.as_ref().map(|t| t.0));
                    if when.is_none_or(|w| w.as_second() >= started.as_second() - 1) {
                        progress(format!("event {} {}: {}", ev.type_.unwrap_or_default(), ev.reason.unwrap_or_default(), ev.message.unwrap_or_default()));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(status: Value) -> DynamicObject {
        let mut o = DynamicObject::new("c", &certificate_resource());
        o.metadata.generation = Some(2);
        o.data = json!({ "status": status });
        o
    }

    #[test]
    fn judges_success_failure_and_waiting() {
        let ready =
            json!({"type": "Ready", "status": "True", "reason": "Ready", "observedGeneration": 2});
        assert_eq!(
            judge(&cert(json!({"revision": 3, "conditions": [ready]})), 2),
            Some(Outcome::Issued { revision: 3 })
        );
        assert_eq!(
            judge(&cert(json!({"revision": 2, "conditions": [ready]})), 2),
            None
        );
        let issuing = json!({"type": "Issuing", "status": "True", "reason": "ManuallyTriggered"});
        assert_eq!(
            judge(
                &cert(json!({"revision": 3, "conditions": [ready, issuing]})),
                2
            ),
            None
        );
        let failed =
            json!({"type": "Issuing", "status": "False", "reason": "Failed", "message": "boom"});
        assert_eq!(
            judge(
                &cert(json!({"revision": 2, "conditions": [ready, failed]})),
                2
            ),
            Some(Outcome::Failed {
                reason: "Failed".into(),
                message: "boom".into()
            })
        );
        let issued = json!({"type": "Issuing", "status": "False", "reason": "Issued"});
        assert_eq!(
            judge(
                &cert(json!({"revision": 3, "conditions": [ready, issued]})),
                2
            ),
            Some(Outcome::Issued { revision: 3 })
        );
    }
}
