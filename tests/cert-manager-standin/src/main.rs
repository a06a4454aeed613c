//! `cert-manager-standin`: a small stand-in for cert-manager's issuing path, for the sandbox only.
//!
//! The real cert-manager controller cannot run in the sandbox, so this binary plays the part
//! of it that the plugins observe through the API:
//!
//! * a Certificate whose Secret does not exist yet (and that has no `Issuing` condition) gets
//!   `Issuing=True` (reason `DoesNotExist`), as cert-manager's trigger controller does;
//! * a Certificate with `Issuing=True` is issued: a CertificateRequest `<name>-<revision>` is
//!   created (Approved, then Ready), a fresh leaf certificate is signed by the Issuer's CA (a new
//!   private key unless `spec.privateKey.rotationPolicy: Never`), the Secret gets `tls.crt`,
//!   `tls.key` and `ca.crt`, `status.revision` is bumped, `Ready=True` is set and the `Issuing`
//!   condition is removed;
//! * a Certificate annotated `sandbox.kubectl-ops.dev/fail-issuance: "<message>"` fails
//!   instead: the CertificateRequest goes `Ready=False` (reason `Failed`), the Certificate gets
//!   `Issuing=False` (reason `Failed`, that message), `lastFailureTime` and
//!   `failedIssuanceAttempts`, and the Secret and `Ready` are left untouched.
//!
//! Events are recorded on the Certificate as cert-manager does (reasons `Issuing`, `Requested`,
//! `Issued`, `Failed`). Supported issuers: `Issuer`/`ClusterIssuer` of type `ca` and
//! `selfSigned`. Keys: RSA (the default, made with `openssl genpkey` because `ring` cannot
//! generate RSA keys), ECDSA P-256/P-384 and Ed25519.

use std::{collections::BTreeMap, process::Stdio, time::Duration};

use anyhow::{Context as _, Result, anyhow, bail};
use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use futures::StreamExt as _;
use k8s_openapi::{
    ByteString,
    api::core::v1::{Event, EventSource, ObjectReference, Secret},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time},
    jiff::{SignedDuration, Timestamp},
};
use kube::{
    Api, Client, ResourceExt as _,
    api::{
        ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
    },
    runtime::{WatchStreamExt as _, watcher},
};
use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use serde_json::{Value, json};
use tracing::{info, warn};

/// Annotation that makes the stand-in fail the issuance with its value as the message.
const FAIL_ANNOTATION: &str = "sandbox.kubectl-ops.dev/fail-issuance";
/// Name used as the event source and field manager.
const COMPONENT: &str = "cert-manager-standin";
/// Namespace that holds the CA Secrets of ClusterIssuers (cert-manager's
/// `--cluster-resource-namespace`).
const DEFAULT_CLUSTER_RESOURCE_NAMESPACE: &str = "cert-manager";

fn resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("cert-manager.io", "v1", kind))
}

/// Shared state of the stand-in.
struct Ctx {
    client: Client,
    certificates: ApiResource,
    requests: ApiResource,
    issuers: ApiResource,
    cluster_issuers: ApiResource,
    cluster_resource_namespace: String,
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube=warn".into()),
        )
        .with_ansi(false)
        .init();
    let cluster_resource_namespace = std::env::var("STANDIN_CLUSTER_RESOURCE_NAMESPACE")
        .unwrap_or_else(|_| DEFAULT_CLUSTER_RESOURCE_NAMESPACE.to_owned());
    let client = Client::try_default()
        .await
        .context("connecting to the cluster")?;
    let ctx = Ctx {
        client,
        certificates: resource("Certificate"),
        requests: resource("CertificateRequest"),
        issuers: resource("Issuer"),
        cluster_issuers: resource("ClusterIssuer"),
        cluster_resource_namespace,
    };
    info!(
        "cert-manager stand-in started (not the real cert-manager): watching Certificates and Issuers"
    );
    tokio::select! {
        r = watch_issuers(&ctx) => r,
        r = watch_certificates(&ctx) => r,
        _ = tokio::signal::ctrl_c() => { info!("cert-manager stand-in stopping"); Ok(()) }
    }
}

/// Keeps the `Ready` condition of CA Issuers in line with their CA Secret, as cert-manager's
/// issuer controller does.
async fn watch_issuers(ctx: &Ctx) -> Result<()> {
    let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &ctx.issuers);
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .boxed();
    while let Some(event) = stream.next().await {
        match event {
            Ok(issuer) => {
                if let Err(e) = reconcile_issuer(ctx, &issuer).await {
                    warn!(issuer = %issuer.name_any(), "stand-in could not check the issuer: {e:#}");
                }
            }
            Err(e) => warn!("stand-in issuer watch error (retrying): {e}"),
        }
    }
    Ok(())
}

async fn reconcile_issuer(ctx: &Ctx, issuer: &DynamicObject) -> Result<()> {
    let ns = issuer.namespace().unwrap_or_default();
    let Some(secret_name) = issuer
        .data
        .pointer("/spec/ca/secretName")
        .and_then(Value::as_str)
    else {
        return Ok(());
    };
    let (status, reason, message) = match load_ca(&ctx.client, &ns, secret_name).await {
        Ok(_) => ("True", "KeyPairVerified", "Signing CA verified".to_owned()),
        Err(e) => (
            "False",
            "ErrGetKeyPair",
            format!("Error getting keypair for CA issuer: {e:#}"),
        ),
    };
    let conditions = issuer
        .data
        .pointer("/status/conditions")
        .cloned()
        .unwrap_or(json!([]));
    if find_condition(&conditions, "Ready")
        .is_some_and(|c| c["status"] == status && c["reason"] == reason)
    {
        return Ok(());
    }
    let conditions = set_condition(
        &conditions,
        "Ready",
        status,
        reason,
        &message,
        issuer.metadata.generation,
    );
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ns, &ctx.issuers);
    api.patch_status(
        &issuer.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"conditions": conditions}})),
    )
    .await?;
    info!(issuer = %format!("{ns}/{}", issuer.name_any()), "stand-in set issuer Ready={status} ({reason})");
    Ok(())
}

async fn watch_certificates(ctx: &Ctx) -> Result<()> {
    let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &ctx.certificates);
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .boxed();
    while let Some(event) = stream.next().await {
        match event {
            Ok(cert) => {
                let key = format!(
                    "{}/{}",
                    cert.namespace().unwrap_or_default(),
                    cert.name_any()
                );
                if let Err(e) = reconcile_certificate(ctx, &cert).await {
                    warn!(certificate = %key, "stand-in reconcile failed: {e:#}");
                }
            }
            Err(e) => warn!("stand-in certificate watch error (retrying): {e}"),
        }
    }
    Ok(())
}

/// What to do with a Certificate seen on the watch.
async fn reconcile_certificate(ctx: &Ctx, cert: &DynamicObject) -> Result<()> {
    if cert.metadata.deletion_timestamp.is_some() {
        return Ok(());
    }
    let conditions = cert
        .data
        .pointer("/status/conditions")
        .cloned()
        .unwrap_or(json!([]));
    match find_condition(&conditions, "Issuing").map(|c| c["status"].as_str().unwrap_or("")) {
        Some("True") => issue(ctx, cert).await,
        // Issuing=False is a failed attempt: cert-manager backs off for an hour, the stand-in
        // waits until someone sets Issuing=True again (as `cmctl renew` or a plugin does).
        Some(_) => Ok(()),
        None => trigger_if_needed(ctx, cert, &conditions).await,
    }
}

/// cert-manager's trigger controller, reduced to the cases the sandbox needs: no Secret yet,
/// a Secret without a certificate, or a renewal time in the past.
async fn trigger_if_needed(ctx: &Ctx, cert: &DynamicObject, conditions: &Value) -> Result<()> {
    let ns = cert.namespace().unwrap_or_default();
    let secret_name = str_at(cert, "/spec/secretName")?;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let (reason, message) = match secrets.get_opt(secret_name).await? {
        None => (
            "DoesNotExist",
            "Issuing certificate as Secret does not exist".to_owned(),
        ),
        Some(s) if !s.data.as_ref().is_some_and(|d| d.contains_key("tls.crt")) => (
            "MissingData",
            "Issuing certificate as Secret does not contain a certificate".to_owned(),
        ),
        Some(_) => match cert
            .data
            .pointer("/status/renewalTime")
            .and_then(Value::as_str)
        {
            Some(t) if t.parse::<Timestamp>().is_ok_and(|t| t <= Timestamp::now()) => (
                "Renewing",
                format!("Renewing certificate as renewal was scheduled at {t}"),
            ),
            _ => return Ok(()),
        },
    };
    let mut new_conditions = set_condition(
        conditions,
        "Issuing",
        "True",
        reason,
        &message,
        cert.metadata.generation,
    );
    if find_condition(conditions, "Ready").is_none() {
        new_conditions = set_condition(
            &new_conditions,
            "Ready",
            "False",
            reason,
            &message,
            cert.metadata.generation,
        );
    }
    patch_cert_status(ctx, cert, json!({"conditions": new_conditions})).await?;
    event(ctx, cert, "Normal", "Issuing", &message).await;
    info!(certificate = %format!("{ns}/{}", cert.name_any()), "stand-in set Issuing=True ({reason})");
    Ok(())
}

/// The issuing path: CertificateRequest, signature, Secret, status.
async fn issue(ctx: &Ctx, cert: &DynamicObject) -> Result<()> {
    let ns = cert.namespace().unwrap_or_default();
    let name = cert.name_any();
    let key = format!("{ns}/{name}");
    let revision = cert
        .data
        .pointer("/status/revision")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let next = revision + 1;
    let request_name = format!("{name}-{next}");
    let secret_name = str_at(cert, "/spec/secretName")?.to_owned();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let existing = secrets.get_opt(&secret_name).await?;

    info!(certificate = %key, revision = next, "stand-in issuing certificate");
    event(
        ctx,
        cert,
        "Normal",
        "Issuing",
        "Issuing certificate (cert-manager stand-in)",
    )
    .await;

    // The private key: reused only for rotationPolicy Never with an existing key.
    let rotation = cert
        .data
        .pointer("/spec/privateKey/rotationPolicy")
        .and_then(Value::as_str);
    let reused_key = match (rotation, &existing) {
        (Some("Never"), Some(s)) => s
            .data
            .as_ref()
            .and_then(|d| d.get("tls.key"))
            .and_then(|k| String::from_utf8(k.0.clone()).ok()),
        _ => None,
    };
    let key_pem = match reused_key {
        Some(k) => k,
        None => generate_key(cert).await?,
    };
    let key_pair = KeyPair::from_pem(&key_pem).context("parsing the private key")?;

    let params = leaf_params(cert)?;
    let csr_pem = params
        .serialize_request(&key_pair)
        .context("building the CSR")?
        .pem()?;
    let issuer_ref = cert
        .data
        .pointer("/spec/issuerRef")
        .cloned()
        .unwrap_or(json!({}));
    let requests: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ns, &ctx.requests);
    let request =
        create_request(cert, &requests, &request_name, &csr_pem, &issuer_ref, next).await?;
    event(
        ctx,
        cert,
        "Normal",
        "Requested",
        &format!("Created new CertificateRequest resource \"{request_name}\""),
    )
    .await;

    if let Some(message) = cert.annotations().get(FAIL_ANNOTATION) {
        return fail(ctx, cert, &requests, &request, message).await;
    }

    // Sign with the issuer, like cert-manager's CA issuer signs the CertificateRequest.
    let signed = match sign(ctx, cert, &ns, &issuer_ref, &csr_pem, &key_pair).await {
        Ok(s) => s,
        Err(Pending(message)) => {
            // cert-manager leaves the request pending and Issuing=True until the issuer is usable.
            set_request_status(
                &requests,
                &request_name,
                json!({"conditions": request_conditions(
                &request, "False", "Pending", &message)}),
            )
            .await?;
            warn!(certificate = %key, "stand-in left the request pending: {message}");
            return Ok(());
        }
    };
    set_request_status(
        &requests,
        &request_name,
        json!({
            "conditions": request_conditions(&request, "True", "Issued", "Certificate fetched from issuer successfully"),
            "certificate": B64.encode(&signed.cert_pem),
            "ca": B64.encode(&signed.ca_pem),
        }),
    )
    .await?;

    write_secret(
        &secrets,
        cert,
        &secret_name,
        existing.as_ref(),
        &signed,
        &key_pem,
        &issuer_ref,
    )
    .await?;

    let renew_before = cert
        .data
        .pointer("/spec/renewBefore")
        .and_then(Value::as_str)
        .map(parse_go_duration)
        .transpose()?;
    let lifetime = signed.not_after.duration_since(signed.not_before);
    let renewal = match renew_before {
        Some(rb) if rb < lifetime => signed.not_after - rb,
        // cert-manager's default: renew at 2/3 of the lifetime.
        _ => signed.not_before + lifetime * 2 / 3,
    };
    let conditions = cert
        .data
        .pointer("/status/conditions")
        .cloned()
        .unwrap_or(json!([]));
    let conditions = remove_condition(&conditions, "Issuing");
    let conditions = set_condition(
        &conditions,
        "Ready",
        "True",
        "Ready",
        "Certificate is up to date and has not expired",
        cert.metadata.generation,
    );
    patch_cert_status(
        ctx,
        cert,
        json!({
            "conditions": conditions,
            "revision": next,
            "notBefore": rfc3339(signed.not_before),
            "notAfter": rfc3339(signed.not_after),
            "renewalTime": rfc3339(renewal),
            "lastFailureTime": null,
            "failedIssuanceAttempts": null,
            "nextPrivateKeySecretName": null,
        }),
    )
    .await?;
    event(
        ctx,
        cert,
        "Normal",
        "Issued",
        "The certificate has been successfully issued",
    )
    .await;
    info!(certificate = %key, revision = next, not_after = %rfc3339(signed.not_after), "stand-in issued certificate");
    Ok(())
}

/// The failure-injection path.
async fn fail(
    ctx: &Ctx,
    cert: &DynamicObject,
    requests: &Api<DynamicObject>,
    request: &DynamicObject,
    message: &str,
) -> Result<()> {
    set_request_status(
        requests,
        &request.name_any(),
        json!({
            "conditions": request_conditions(request, "False", "Failed", message),
            "failureTime": rfc3339(Timestamp::now()),
        }),
    )
    .await?;
    let attempts = cert
        .data
        .pointer("/status/failedIssuanceAttempts")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        + 1;
    let conditions = cert
        .data
        .pointer("/status/conditions")
        .cloned()
        .unwrap_or(json!([]));
    let conditions = set_condition(
        &conditions,
        "Issuing",
        "False",
        "Failed",
        message,
        cert.metadata.generation,
    );
    patch_cert_status(
        ctx,
        cert,
        json!({
            "conditions": conditions,
            "lastFailureTime": rfc3339(Timestamp::now()),
            "failedIssuanceAttempts": attempts,
        }),
    )
    .await?;
    event(
        ctx,
        cert,
        "Warning",
        "Failed",
        &format!("The certificate request has failed to complete and will be retried: {message}"),
    )
    .await;
    warn!(
        certificate = %format!("{}/{}", cert.namespace().unwrap_or_default(), cert.name_any()),
        attempts, "stand-in failed the issuance on request (annotation {FAIL_ANNOTATION}): {message}"
    );
    Ok(())
}

async fn create_request(
    cert: &DynamicObject,
    requests: &Api<DynamicObject>,
    name: &str,
    csr_pem: &str,
    issuer_ref: &Value,
    revision: i64,
) -> Result<DynamicObject> {
    // A request left over from an earlier attempt at the same revision is replaced.
    if requests.get_opt(name).await?.is_some() {
        requests.delete(name, &DeleteParams::background()).await?;
        wait_gone(requests, name).await?;
    }
    let owner = json!({
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate", "name": cert.name_any(),
        "uid": cert.uid().unwrap_or_default(), "controller": true, "blockOwnerDeletion": true,
    });
    let mut spec = json!({
        "request": B64.encode(csr_pem),
        "issuerRef": issuer_ref,
        "isCA": cert.data.pointer("/spec/isCA").and_then(Value::as_bool).unwrap_or(false),
    });
    if let Some(d) = cert.data.pointer("/spec/duration") {
        spec["duration"] = d.clone();
    }
    if let Some(u) = cert.data.pointer("/spec/usages") {
        spec["usages"] = u.clone();
    }
    let body = json!({
        "apiVersion": "cert-manager.io/v1",
        "kind": "CertificateRequest",
        "metadata": {
            "name": name,
            "namespace": cert.namespace(),
            "annotations": {
                "cert-manager.io/certificate-name": cert.name_any(),
                "cert-manager.io/certificate-revision": revision.to_string(),
                "cert-manager.io/private-key-secret-name": cert.data.pointer("/spec/secretName"),
                "sandbox.kubectl-ops.dev/issued-by": COMPONENT,
            },
            "ownerReferences": [owner],
        },
        "spec": spec,
    });
    let obj: DynamicObject = serde_json::from_value(body)?;
    let created = requests.create(&PostParams::default(), &obj).await?;
    // Approval, as cert-manager's built-in approver does.
    set_request_status(
        requests,
        name,
        json!({"conditions": [
            condition("Approved", "True", "cert-manager.io", "Certificate request has been approved by cert-manager.io", None),
        ]}),
    )
    .await?;
    requests.get(&created.name_any()).await.map_err(Into::into)
}

async fn wait_gone(api: &Api<DynamicObject>, name: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while api.get_opt(name).await?.is_some() {
        if tokio::time::Instant::now() > deadline {
            bail!("old CertificateRequest {name} was not deleted within 20s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

fn request_conditions(request: &DynamicObject, status: &str, reason: &str, message: &str) -> Value {
    let current = request
        .data
        .pointer("/status/conditions")
        .cloned()
        .unwrap_or(json!([]));
    set_condition(&current, "Ready", status, reason, message, None)
}

async fn set_request_status(
    requests: &Api<DynamicObject>,
    name: &str,
    status: Value,
) -> Result<()> {
    requests
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await?;
    Ok(())
}

async fn patch_cert_status(ctx: &Ctx, cert: &DynamicObject, status: Value) -> Result<()> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        ctx.client.clone(),
        &cert.namespace().unwrap_or_default(),
        &ctx.certificates,
    );
    api.patch_status(
        &cert.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await?;
    Ok(())
}

/// A signed leaf and the CA that signed it.
struct Signed {
    cert_pem: String,
    ca_pem: String,
    not_before: Timestamp,
    not_after: Timestamp,
}

/// Why a request cannot be signed yet (the issuer is missing or not usable).
struct Pending(String);

async fn sign(
    ctx: &Ctx,
    cert: &DynamicObject,
    ns: &str,
    issuer_ref: &Value,
    csr_pem: &str,
    leaf_key: &KeyPair,
) -> std::result::Result<Signed, Pending> {
    let issuer_name = issuer_ref["name"].as_str().unwrap_or_default();
    let kind = issuer_ref["kind"].as_str().unwrap_or("Issuer");
    let (issuer_obj, secret_ns) = match kind {
        "ClusterIssuer" => {
            let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &ctx.cluster_issuers);
            (
                api.get_opt(issuer_name).await,
                ctx.cluster_resource_namespace.as_str(),
            )
        }
        "Issuer" => {
            let api: Api<DynamicObject> =
                Api::namespaced_with(ctx.client.clone(), ns, &ctx.issuers);
            (api.get_opt(issuer_name).await, ns)
        }
        other => {
            return Err(Pending(format!(
                "Referenced issuer kind {other:?} is not supported by the stand-in"
            )));
        }
    };
    let issuer_obj = match issuer_obj {
        Ok(Some(i)) => i,
        Ok(None) => {
            return Err(Pending(format!(
                "Referenced \"{kind}\" not found: {issuer_name}"
            )));
        }
        Err(e) => return Err(Pending(format!("Getting {kind} {issuer_name}: {e}"))),
    };
    let now = Timestamp::now();
    let duration = match cert
        .data
        .pointer("/spec/duration")
        .and_then(Value::as_str)
        .map(parse_go_duration)
    {
        Some(Ok(d)) => d,
        Some(Err(e)) => return Err(Pending(format!("invalid spec.duration: {e:#}"))),
        None => SignedDuration::from_hours(2160),
    };
    // cert-manager back-dates notBefore slightly less than this; the stand-in does the same so
    // a freshly issued certificate is valid at once on every client.
    let not_before = now - SignedDuration::from_secs(1);
    let not_after = not_before + duration;
    let mut csr = CertificateSigningRequestParams::from_pem(csr_pem)
        .map_err(|e| Pending(format!("parsing the CSR: {e}")))?;
    csr.params.not_before = to_offset(not_before);
    csr.params.not_after = to_offset(not_after);
    csr.params.serial_number = Some(random_serial());
    csr.params.use_authority_key_identifier_extension = true;
    let template = leaf_params(cert).map_err(|e| Pending(format!("{e:#}")))?;
    csr.params.is_ca = template.is_ca;
    csr.params.key_usages = template.key_usages;
    csr.params.extended_key_usages = template.extended_key_usages;

    if let Some(secret_name) = issuer_obj
        .data
        .pointer("/spec/ca/secretName")
        .and_then(Value::as_str)
    {
        let (ca_pem, ca_key_pem) = load_ca(&ctx.client, secret_ns, secret_name)
            .await
            .map_err(|e| Pending(format!("Error getting keypair for CA issuer: {e:#}")))?;
        let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(|e| Pending(format!("CA key: {e}")))?;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key)
            .map_err(|e| Pending(format!("CA certificate: {e}")))?;
        let leaf = csr
            .signed_by(&issuer)
            .map_err(|e| Pending(format!("signing: {e}")))?;
        Ok(Signed {
            cert_pem: leaf.pem(),
            ca_pem,
            not_before,
            not_after,
        })
    } else if issuer_obj.data.pointer("/spec/selfSigned").is_some() {
        let leaf = csr
            .params
            .self_signed(leaf_key)
            .map_err(|e| Pending(format!("self-signing: {e}")))?;
        let pem = leaf.pem();
        Ok(Signed {
            cert_pem: pem.clone(),
            ca_pem: pem,
            not_before,
            not_after,
        })
    } else {
        Err(Pending(format!(
            "{kind} {issuer_name} is neither a CA nor a SelfSigned issuer: the stand-in cannot sign for it"
        )))
    }
}

/// Reads `tls.crt` and `tls.key` of a CA Secret.
async fn load_ca(client: &Client, ns: &str, name: &str) -> Result<(String, String)> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let secret = secrets
        .get_opt(name)
        .await?
        .ok_or_else(|| anyhow!("secret \"{ns}/{name}\" not found"))?;
    let data = secret.data.unwrap_or_default();
    let get = |k: &str| -> Result<String> {
        let v = data
            .get(k)
            .ok_or_else(|| anyhow!("secret \"{ns}/{name}\" has no {k}"))?;
        Ok(String::from_utf8(v.0.clone())?)
    };
    let (crt, key) = (get("tls.crt")?, get("tls.key")?);
    KeyPair::from_pem(&key).map_err(|e| anyhow!("secret \"{ns}/{name}\": tls.key: {e}"))?;
    Ok((crt, key))
}

async fn write_secret(
    secrets: &Api<Secret>,
    cert: &DynamicObject,
    name: &str,
    existing: Option<&Secret>,
    signed: &Signed,
    key_pem: &str,
    issuer_ref: &Value,
) -> Result<()> {
    let dns: Vec<String> = string_list(cert, "/spec/dnsNames");
    let ips: Vec<String> = string_list(cert, "/spec/ipAddresses");
    let uris: Vec<String> = string_list(cert, "/spec/uris");
    let annotations: BTreeMap<String, String> = [
        ("cert-manager.io/alt-names", dns.join(",")),
        ("cert-manager.io/ip-sans", ips.join(",")),
        ("cert-manager.io/uri-sans", uris.join(",")),
        ("cert-manager.io/certificate-name", cert.name_any()),
        (
            "cert-manager.io/common-name",
            cert.data
                .pointer("/spec/commonName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ),
        (
            "cert-manager.io/issuer-name",
            issuer_ref["name"].as_str().unwrap_or_default().to_owned(),
        ),
        (
            "cert-manager.io/issuer-kind",
            issuer_ref["kind"].as_str().unwrap_or("Issuer").to_owned(),
        ),
        (
            "cert-manager.io/issuer-group",
            issuer_ref["group"]
                .as_str()
                .unwrap_or("cert-manager.io")
                .to_owned(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let data: BTreeMap<String, ByteString> = [
        ("tls.crt", signed.cert_pem.as_bytes()),
        ("tls.key", key_pem.as_bytes()),
        ("ca.crt", signed.ca_pem.as_bytes()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), ByteString(v.to_vec())))
    .collect();
    let labels = BTreeMap::from([(
        "controller.cert-manager.io/fao".to_owned(),
        "true".to_owned(),
    )]);
    match existing {
        Some(_) => {
            let patch = json!({
                "metadata": {"annotations": annotations, "labels": labels},
                "data": data,
            });
            secrets
                .patch(name, &PatchParams::default(), &Patch::Merge(patch))
                .await?;
        }
        None => {
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(name.to_owned()),
                    annotations: Some(annotations),
                    labels: Some(labels),
                    ..ObjectMeta::default()
                },
                type_: Some("kubernetes.io/tls".to_owned()),
                data: Some(data),
                ..Secret::default()
            };
            secrets.create(&PostParams::default(), &secret).await?;
        }
    }
    Ok(())
}

/// Certificate parameters from the Certificate's spec.
fn leaf_params(cert: &DynamicObject) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    if let Some(cn) = cert
        .data
        .pointer("/spec/commonName")
        .and_then(Value::as_str)
    {
        dn.push(DnType::CommonName, cn);
    }
    for org in string_list(cert, "/spec/subject/organizations") {
        dn.push(DnType::OrganizationName, org);
    }
    params.distinguished_name = dn;
    for d in string_list(cert, "/spec/dnsNames") {
        params
            .subject_alt_names
            .push(SanType::DnsName(d.try_into()?));
    }
    for ip in string_list(cert, "/spec/ipAddresses") {
        params
            .subject_alt_names
            .push(SanType::IpAddress(ip.parse().context("spec.ipAddresses")?));
    }
    for uri in string_list(cert, "/spec/uris") {
        params.subject_alt_names.push(SanType::URI(uri.try_into()?));
    }
    for email in string_list(cert, "/spec/emailAddresses") {
        params
            .subject_alt_names
            .push(SanType::Rfc822Name(email.try_into()?));
    }
    let is_ca = cert
        .data
        .pointer("/spec/isCA")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if is_ca {
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    let mut usages = string_list(cert, "/spec/usages");
    if usages.is_empty() {
        usages = vec!["digital signature".into(), "key encipherment".into()];
    }
    if is_ca && !usages.iter().any(|u| u == "cert sign") {
        usages.push("cert sign".into());
    }
    for u in usages {
        match u.as_str() {
            "digital signature" => params.key_usages.push(KeyUsagePurpose::DigitalSignature),
            "key encipherment" => params.key_usages.push(KeyUsagePurpose::KeyEncipherment),
            "cert sign" => params.key_usages.push(KeyUsagePurpose::KeyCertSign),
            "crl sign" => params.key_usages.push(KeyUsagePurpose::CrlSign),
            "server auth" => params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth),
            "client auth" => params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ClientAuth),
            other => bail!("usage {other:?} is not supported by the stand-in"),
        }
    }
    Ok(params)
}

/// A new private key as PKCS#8 PEM, following `spec.privateKey`.
async fn generate_key(cert: &DynamicObject) -> Result<String> {
    let algorithm = cert
        .data
        .pointer("/spec/privateKey/algorithm")
        .and_then(Value::as_str)
        .unwrap_or("RSA");
    let size = cert
        .data
        .pointer("/spec/privateKey/size")
        .and_then(Value::as_u64);
    let pair = match (algorithm, size) {
        ("ECDSA", None | Some(256)) => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
        ("ECDSA", Some(384)) => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)?,
        ("Ed25519", _) => KeyPair::generate_for(&rcgen::PKCS_ED25519)?,
        ("RSA", size) => return generate_rsa(size.unwrap_or(2048)).await,
        (alg, size) => bail!("private key {alg} {size:?} is not supported by the stand-in"),
    };
    Ok(pair.serialize_pem())
}

/// `ring` cannot generate RSA keys: ask openssl for one (PKCS#8 PEM on stdout).
async fn generate_rsa(bits: u64) -> Result<String> {
    let out = tokio::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            &format!("rsa_keygen_bits:{bits}"),
        ])
        .stdin(Stdio::null())
        .output()
        .await
        .context("running openssl genpkey")?;
    if !out.status.success() {
        bail!(
            "openssl genpkey failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

async fn event(ctx: &Ctx, cert: &DynamicObject, type_: &str, reason: &str, message: &str) {
    let ns = cert.namespace().unwrap_or_default();
    let now = Timestamp::now();
    let ev = Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}.", cert.name_any())),
            namespace: Some(ns.clone()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("cert-manager.io/v1".into()),
            kind: Some("Certificate".into()),
            name: Some(cert.name_any()),
            namespace: Some(ns.clone()),
            uid: cert.uid(),
            resource_version: cert.resource_version(),
            ..ObjectReference::default()
        },
        reason: Some(reason.into()),
        message: Some(message.into()),
        type_: Some(type_.into()),
        source: Some(EventSource {
            component: Some(COMPONENT.into()),
            host: None,
        }),
        reporting_component: Some(COMPONENT.into()),
        reporting_instance: Some(COMPONENT.into()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        action: Some(reason.into()),
        count: Some(1),
        ..Event::default()
    };
    let api: Api<Event> = Api::namespaced(ctx.client.clone(), &ns);
    if let Err(e) = api.create(&PostParams::default(), &ev).await {
        warn!("stand-in could not record event {reason}: {e}");
    }
}

fn find_condition<'a>(conditions: &'a Value, type_: &str) -> Option<&'a Value> {
    conditions.as_array()?.iter().find(|c| c["type"] == type_)
}

fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Value {
    let mut c = json!({
        "type": type_, "status": status, "reason": reason, "message": message,
        "lastTransitionTime": rfc3339(Timestamp::now()),
    });
    if let Some(g) = generation {
        c["observedGeneration"] = json!(g);
    }
    c
}

/// Sets a condition, keeping `lastTransitionTime` when the status does not change (as
/// cert-manager's apiutil.SetCertificateCondition does).
fn set_condition(
    conditions: &Value,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Value {
    let mut list: Vec<Value> = conditions.as_array().cloned().unwrap_or_default();
    let mut new = condition(type_, status, reason, message, generation);
    if let Some(old) = list.iter_mut().find(|c| c["type"] == type_) {
        if old["status"] == status {
            new["lastTransitionTime"] = old["lastTransitionTime"].clone();
        }
        *old = new;
    } else {
        list.push(new);
    }
    Value::Array(list)
}

fn remove_condition(conditions: &Value, type_: &str) -> Value {
    let list: Vec<Value> = conditions.as_array().cloned().unwrap_or_default();
    Value::Array(list.into_iter().filter(|c| c["type"] != type_).collect())
}

fn str_at<'a>(obj: &'a DynamicObject, pointer: &str) -> Result<&'a str> {
    obj.data
        .pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("{} has no {pointer}", obj.name_any()))
}

fn string_list(obj: &DynamicObject, pointer: &str) -> Vec<String> {
    obj.data
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Parses a Go `time.Duration` string as cert-manager accepts it (`2160h`, `360h0m0s`, `90m`).
fn parse_go_duration(s: &str) -> Result<SignedDuration> {
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        bail!("empty duration");
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            bail!("invalid duration {s:?}");
        }
        let n: f64 = rest[..num_len]
            .parse()
            .with_context(|| format!("invalid duration {s:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            u => bail!("invalid unit {u:?} in duration {s:?}"),
        };
        total += n * factor;
        rest = &rest[unit_len..];
    }
    Ok(SignedDuration::from_secs_f64(total))
}

fn rfc3339(t: Timestamp) -> String {
    // Kubernetes' metav1.Time has second precision.
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn to_offset(t: Timestamp) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t.as_second())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// A positive random 16-byte serial number, read from the kernel's random source.
fn random_serial() -> SerialNumber {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_err()
    {
        bytes = Timestamp::now().as_nanosecond().to_be_bytes();
    }
    // Positive (top bit clear) and never starting with a zero byte, so the DER stays 16 bytes.
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(
            parse_go_duration("2160h").unwrap(),
            SignedDuration::from_hours(2160)
        );
        assert_eq!(
            parse_go_duration("360h0m0s").unwrap(),
            SignedDuration::from_hours(360)
        );
        assert_eq!(
            parse_go_duration("1h30m").unwrap(),
            SignedDuration::from_mins(90)
        );
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("10d").is_err());
        assert!(parse_go_duration("h").is_err());
    }

    #[test]
    fn conditions_keep_transition_time_when_status_is_unchanged() {
        let old = json!([{"type": "Ready", "status": "True", "reason": "Ready", "message": "m",
                          "lastTransitionTime": "2020-01-01T00:00:00Z"}]);
        let same = set_condition(&old, "Ready", "True", "Ready", "m2", Some(3));
        assert_eq!(same[0]["lastTransitionTime"], "2020-01-01T00:00:00Z");
        assert_eq!(same[0]["observedGeneration"], 3);
        let changed = set_condition(&old, "Ready", "False", "Failed", "x", None);
        assert_ne!(changed[0]["lastTransitionTime"], "2020-01-01T00:00:00Z");
        let added = set_condition(&old, "Issuing", "True", "DoesNotExist", "x", None);
        assert_eq!(added.as_array().unwrap().len(), 2);
        assert_eq!(remove_condition(&added, "Issuing"), old);
    }

    #[test]
    fn leaf_params_follow_the_spec() {
        let cert: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "c", "namespace": "n"},
            "spec": {"secretName": "c", "commonName": "a.example", "dnsNames": ["a.example", "b.example"],
                     "usages": ["server auth", "digital signature"], "issuerRef": {"name": "ca"}}
        }))
        .unwrap();
        let p = leaf_params(&cert).unwrap();
        assert_eq!(p.subject_alt_names.len(), 2);
        assert_eq!(
            p.extended_key_usages,
            vec![ExtendedKeyUsagePurpose::ServerAuth]
        );
        assert_eq!(p.key_usages, vec![KeyUsagePurpose::DigitalSignature]);
        assert!(matches!(p.is_ca, IsCa::NoCa));
    }
}
