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

/// A Secret `name` of type `type_` holding `data` (key, bytes).
pub fn secret(
    name: &str,
    type_: &str,
    data: &[(&str, &[u8])],
) -> k8s_openapi::api::core::v1::Secret {
    use k8s_openapi::ByteString;
    k8s_openapi::api::core::v1::Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        type_: Some(type_.into()),
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                .collect(),
        ),
        ..Default::default()
    }
}

/// What a `kubectl certs` e2e test works in: a namespace of its own (`<prefix>-<unique>`,
/// deleted when dropped) and a temp dir for its config file, with the ways to run the plugin
/// there and to put Secrets and Services in it.
pub struct CertsNamespace {
    /// The sandbox.
    pub sb: crate::sandbox::Sandbox,
    /// A client with the sandbox admin's rights.
    pub admin: kube::Client,
    /// The namespace's name.
    pub ns: String,
    /// A temp dir of the test's own; the config file is `config.yaml` in it.
    pub dir: tempfile::TempDir,
    _namespace: crate::fixtures::TestNamespace,
}

impl CertsNamespace {
    /// Creates the namespace `<prefix>-<unique>` (waited for until it admits pods) and the temp
    /// dir; writes no config file.
    pub async fn create(prefix: &str) -> anyhow::Result<Self> {
        let sb = crate::sandbox::Sandbox::load()?;
        let admin = sb.client().await?;
        let namespace = crate::fixtures::TestNamespace::create(&sb, &admin, prefix).await?;
        Ok(CertsNamespace {
            ns: namespace.name().to_owned(),
            sb,
            admin,
            dir: tempfile::tempdir()?,
            _namespace: namespace,
        })
    }

    /// The config file every run is given (`--config`).
    pub fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("config.yaml")
    }

    /// Writes `config` (as JSON, which is YAML) to [`Self::config_path`].
    pub fn write_config(&self, config: &serde_json::Value) -> anyhow::Result<()> {
        std::fs::write(self.config_path(), serde_json::to_string(config)?)?;
        Ok(())
    }

    /// Runs `kubectl certs ARGS` with `kubeconfig` (context `sandbox`, `-n NS`, the config
    /// file) in the sandbox's environment.
    pub fn certs_with(
        &self,
        kubeconfig: &std::path::Path,
        args: &[&str],
    ) -> anyhow::Result<std::process::Output> {
        self.certs_with_env(kubeconfig, args, &[])
    }

    /// [`Self::certs_with`] with `env` added to the sandbox's environment.
    pub fn certs_with_env(
        &self,
        kubeconfig: &std::path::Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<std::process::Output> {
        let mut cmd = crate::plugin("kubectl-certs");
        cmd.envs(self.sb.envs()).env_remove("KUBECONFIG");
        cmd.envs(env.iter().copied());
        cmd.arg("--kubeconfig")
            .arg(kubeconfig)
            .args([
                "--context",
                crate::sandbox::CONTEXT,
                "-n",
                &self.ns,
                "--config",
            ])
            .arg(self.config_path());
        Ok(cmd.args(args).output()?)
    }

    /// Binds `kubectl-ops-certs` to exactly the Role `kubectl certs rbac` prints for this
    /// namespace (waited for until the authorizer agrees) and returns that user's kubeconfig.
    pub async fn bind_least_privilege(&self) -> anyhow::Result<std::path::PathBuf> {
        use crate::sandbox::User;
        let role = crate::fixtures::printed_role("kubectl-certs", &self.ns)?;
        crate::fixtures::bind_role(&self.sb, &self.admin, &role, User::Certs).await?;
        self.sb.kubeconfig(User::Certs)
    }

    /// The namespace's Secrets, as the admin.
    pub fn secrets(&self) -> kube::Api<k8s_openapi::api::core::v1::Secret> {
        kube::Api::namespaced(self.admin.clone(), &self.ns)
    }

    /// Creates `secret` in the namespace, as the admin.
    pub async fn create_secret(
        &self,
        secret: &k8s_openapi::api::core::v1::Secret,
    ) -> anyhow::Result<()> {
        self.secrets()
            .create(&kube::api::PostParams::default(), secret)
            .await?;
        Ok(())
    }

    /// A Service `app` (selector `app=<app>`, port `port` named `https` -> `target_port`, a
    /// number or a port name) in the namespace.
    pub async fn https_service(
        &self,
        app: &str,
        port: u16,
        target_port: serde_json::Value,
    ) -> anyhow::Result<()> {
        use k8s_openapi::api::core::v1::Service;
        let service: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": app},
            "spec": {"selector": {"app": app}, "ports": [{"name": "https", "port": port, "targetPort": target_port}]},
        }))?;
        kube::Api::<Service>::namespaced(self.admin.clone(), &self.ns)
            .create(&kube::api::PostParams::default(), &service)
            .await?;
        Ok(())
    }

    /// A Deployment `app` serving the TLS Secret `secret` on 8443 with the sandbox's toolbox
    /// image, waited for (see [`serve_tls_deployment`]).
    pub async fn serve_tls(&self, app: &str, secret: &str) -> anyhow::Result<()> {
        serve_tls_deployment(&self.admin, &self.ns, &self.sb.toolbox_image, app, secret).await
    }
}
