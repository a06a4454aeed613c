//! Certificates for tests: a CA (root or intermediate) and leaves signed by it, made with rcgen,
//! so a test states the validity window and names it needs instead of shipping PEM files.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// A CA that can sign: its issuer (parameters and key) and its certificate as PEM.
pub struct Ca {
    /// Signs certificates.
    pub issuer: Issuer<'static, KeyPair>,
    /// The CA certificate (PEM).
    pub pem: String,
}

/// The current time (UTC).
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn ca_params(name: &str, valid_days: i64) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("empty SAN list");
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = now() - Duration::days(1);
    p.not_after = now() + Duration::days(valid_days);
    p
}

/// A self-signed root CA valid from yesterday for ten years.
pub fn make_ca(name: &str) -> Ca {
    make_ca_valid_for(name, 3650)
}

/// A self-signed root CA valid from yesterday for `valid_days` (a CA about to expire).
pub fn make_ca_valid_for(name: &str, valid_days: i64) -> Ca {
    let p = ca_params(name, valid_days);
    let key = KeyPair::generate().expect("generating a key");
    let pem = p.self_signed(&key).expect("self-signing").pem();
    Ca {
        issuer: Issuer::new(p, key),
        pem,
    }
}

/// An intermediate CA signed by `root`, valid from yesterday for 1000 days.
pub fn make_intermediate(root: &Ca, name: &str) -> Ca {
    let p = ca_params(name, 1000);
    let key = KeyPair::generate().expect("generating a key");
    let pem = p.signed_by(&key, &root.issuer).expect("signing").pem();
    Ca {
        issuer: Issuer::new(p, key),
        pem,
    }
}

/// A serverAuth leaf for `sans` (the first is also the CN), valid `from`..`to`, signed by `ca`:
/// (certificate PEM, private key PEM).
pub fn make_leaf(
    ca: &Ca,
    sans: &[&str],
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> (String, String) {
    let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("SANs");
    p.distinguished_name.push(DnType::CommonName, sans[0]);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.not_before = from;
    p.not_after = to;
    let key = KeyPair::generate().expect("generating a key");
    (
        p.signed_by(&key, &ca.issuer).expect("signing").pem(),
        key.serialize_pem(),
    )
}

/// Creates a Deployment `app` (label `app=<app>`, one replica) that serves the TLS Secret
/// `secret` with `openssl s_server` on container port 8443 (named `https`), and waits until it
/// is available. The caller puts the Service it needs in front of it.
pub async fn serve_tls_deployment(
    admin: &kube::Client,
    namespace: &str,
    image: &str,
    app: &str,
    secret: &str,
) -> anyhow::Result<()> {
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::api::{Api, PostParams};

    let deployment: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": app},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": app, "image": image, "imagePullPolicy": "IfNotPresent",
                        "command": ["/bin/sh", "-c", "exec openssl s_server -quiet -accept 8443 -cert /etc/tls/tls.crt -key /etc/tls/tls.key -www"],
                        "ports": [{"name": "https", "containerPort": 8443}],
                        "readinessProbe": {"tcpSocket": {"port": 8443}, "periodSeconds": 1},
                        "volumeMounts": [{"name": "tls", "mountPath": "/etc/tls", "readOnly": true}],
                    }],
                    "volumes": [{"name": "tls", "secret": {"secretName": secret}}],
                },
            },
        },
    }))?;
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), namespace);
    deployments
        .create(&PostParams::default(), &deployment)
        .await?;
    crate::sandbox::eventually(
        &format!("deployment {app} to be available"),
        std::time::Duration::from_secs(120),
        || async {
            let d = deployments.get(app).await?;
            Ok(d.status
                .and_then(|s| s.available_replicas)
                .is_some_and(|n| n == 1)
                .then_some(()))
        },
    )
    .await
}
