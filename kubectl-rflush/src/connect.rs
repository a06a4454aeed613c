//! Reaching Redis: a direct `redis://`/`rediss://` URL, or the in-cluster target through a
//! port-forward opened by the plugin itself (no kubectl, no local listener). Finds the
//! primaries of a Redis Cluster and the master behind a Sentinel, and never lets a
//! destructive command run on a replica.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, ListParams};
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo,
};
use shared::Error;
use shared::cli::GlobalArgs;
use shared::config::LoadedConfig;
use shared::portforward::{self, Forwarded, PodPort, Target};

use crate::cluster::{self, Primary};
use crate::info::Info;

/// How to reach Redis (flattened into every command that talks to it; `--help` lists these
/// under their own heading, after the command's options).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Redis options")]
pub struct RedisArgs {
    /// Talk to Redis directly: redis://[USER:PASSWORD@]HOST:PORT[/DB] or rediss:// for TLS
    /// (add #insecure to skip certificate checks). Default: port-forward to --target.
    #[arg(
        long,
        env = "REDIS_URL",
        hide_env_values = true,
        value_name = "URL",
        global = true
    )]
    pub redis_url: Option<String>,
    /// In-cluster Redis to port-forward to: svc/NAME, statefulset/NAME or pod/NAME
    /// [default: config redis.target, statefulset/redis].
    #[arg(long, value_name = "TARGET", global = true)]
    pub target: Option<String>,
    /// Redis port on the target [default: config redis.port, 6379].
    #[arg(long = "redis-port", value_name = "PORT", global = true)]
    pub redis_port: Option<u16>,
    /// Secret holding the Redis password, NAME or NAME:KEY (key defaults to `password`)
    /// [default: config redis.password_secret].
    #[arg(long, value_name = "NAME[:KEY]", global = true)]
    pub password_secret: Option<String>,
    /// Password for the in-cluster target when no Secret is used.
    #[arg(
        long = "redis-password",
        env = "REDIS_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD",
        global = true
    )]
    pub redis_password: Option<String>,
    /// ACL user for the in-cluster target.
    #[arg(
        long = "redis-user",
        env = "REDIS_USERNAME",
        value_name = "USER",
        global = true
    )]
    pub redis_user: Option<String>,
    /// The URL points at a Sentinel: ask it for this master and talk to the master.
    #[arg(long, value_name = "MASTER", global = true)]
    pub sentinel_master: Option<String>,
    /// The Sentinel's own password, when it differs from the master's (the URL's). Without it,
    /// the URL's credentials are tried on the Sentinel, then none.
    #[arg(
        long,
        env = "REDIS_SENTINEL_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub sentinel_password: Option<String>,
    /// TLS files for rediss:// URLs.
    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
}

/// How one node was reached, so it can be reached again (the latency probe).
#[derive(Clone)]
enum Connector {
    Direct(ConnectionInfo),
    Forward {
        client: kube::Client,
        pod: PodPort,
        redis: RedisConnectionInfo,
    },
}

/// One Redis node the command works on (the server, or one cluster primary).
pub struct Node {
    /// How it is shown: `127.0.0.1:6379` or `pod/redis-0:6379`.
    pub label: String,
    /// The connection (cheap to clone; commands are multiplexed).
    pub conn: MultiplexedConnection,
    /// The slots it owns (cluster only).
    pub primary: Option<Primary>,
    connector: Connector,
    _forward: Option<Forwarded>,
}

impl Node {
    /// Opens another connection to the same node.
    pub async fn reconnect(&self) -> Result<(MultiplexedConnection, Option<Forwarded>)> {
        open(&self.connector, &self.label).await
    }
}

/// The server (or cluster) a command talks to.
pub struct Redis {
    /// The nodes to scan: one for a standalone server, every primary of a cluster.
    pub nodes: Vec<Node>,
    /// True for a Redis Cluster.
    pub cluster: bool,
    /// What the user would recognise: the URL without password, or the target.
    pub address: String,
    /// Facts from `INFO` of the first node.
    pub info: Info,
}

pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// Timeouts for every connection this crate opens.
pub(crate) fn config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
}

async fn open(
    connector: &Connector,
    label: &str,
) -> Result<(MultiplexedConnection, Option<Forwarded>)> {
    match connector {
        Connector::Direct(info) => {
            let client = redis::Client::open(info.clone()).map_err(|e| explain(e, label))?;
            let conn = client
                .get_multiplexed_async_connection_with_config(&config())
                .await
                .map_err(|e| explain(e, label))?;
            Ok((conn, None))
        }
        Connector::Forward { client, pod, redis } => {
            let mut forwarded = portforward::connect(client, pod).await?;
            let stream = std::mem::replace(&mut forwarded.stream, tokio::io::duplex(1).0);
            let (conn, driver) = MultiplexedConnection::new_with_config(redis, stream, config())
                .await
                .map_err(|e| explain(e, label))?;
            tokio::spawn(driver);
            Ok((conn, Some(forwarded)))
        }
    }
}

/// Turns a Redis error into a one-line error with a hint for the common causes.
pub fn explain(err: redis::RedisError, address: &str) -> anyhow::Error {
    let text = err.to_string();
    let lower = text.to_ascii_lowercase();
    let (message, hint) = if lower.contains("wrongpass")
        || lower.contains("authenticationfailed")
        || lower.contains("authentication failed")
        || text.contains("invalid password")
        || text.contains("invalid username-password")
    {
        (
            format!("Redis at {address} rejected the credentials"),
            "check the user and password (in the URL, REDIS_PASSWORD, or --password-secret)"
                .to_string(),
        )
    } else if lower.contains("noauth") {
        (format!("Redis at {address} requires a password"), "give one in the URL (redis://USER:PASSWORD@HOST:PORT), REDIS_PASSWORD, or --password-secret NAME[:KEY]".to_string())
    } else if lower.contains("noperm") {
        (
            format!("Redis at {address} denied it (ACL NOPERM): {}", text.split_once(": ").map_or(text.as_str(), |(_, d)| d)),
            "the ACL user may not touch these keys or run this command; flush a pattern inside its key permissions, or ask for +scan +unlink +dump +pttl +type +restore +info +dbsize +memory|usage".to_string(),
        )
    } else if lower.contains("invalid peer certificate") {
        (
            format!("Redis at {address} presented a certificate this client does not trust ({})", text.rsplit(": ").next().unwrap_or(&text)),
            "give the CA that signed it with --redis-cacert FILE (PEM); `#insecure` at the end of the URL skips the check (never in production)".to_string(),
        )
    } else if lower.contains("certificaterequired") || lower.contains("certificate required") {
        (
            format!("Redis at {address} requires a client certificate"),
            "give one with --redis-cert FILE and --redis-key FILE (PEM)".to_string(),
        )
    } else if err.is_io_error() || err.is_connection_refusal() || err.is_timeout() {
        let hung_up = ["reset by peer", "broken pipe", "eof", "closed"]
            .iter()
            .any(|s| lower.contains(s));
        let tls = if address.starts_with("redis://") && hung_up {
            "; a server that speaks TLS closes plain connections: use rediss://"
        } else {
            ""
        };
        (
            format!("cannot reach Redis at {address}: {text}"),
            format!(
                "check the address and that Redis is running; for the in-cluster default check --target and -n{tls}"
            ),
        )
    } else {
        return anyhow::Error::new(err).context(format!("Redis at {address}"));
    };
    Error::invalid(message, hint).into()
}

/// `redis://user:secret@host` → `redis://user@host`, for messages.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((auth, host)) => {
                let user = auth.split(':').next().unwrap_or_default();
                if user.is_empty() {
                    format!("{scheme}://{host}")
                } else {
                    format!("{scheme}://{user}@{host}")
                }
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

fn parse_url(url: &str) -> Result<ConnectionInfo> {
    if !(url.starts_with("redis://")
        || url.starts_with("rediss://")
        || url.starts_with("unix://")
        || url.starts_with("redis+unix://"))
    {
        return Err(Error::Usage {
            message: format!("invalid Redis URL {:?}", redact(url)),
            hint: Some("use redis://[USER:PASSWORD@]HOST:PORT[/DB] or rediss://... for TLS".into()),
        }
        .into());
    }
    url.into_connection_info().map_err(|e| {
        Error::Usage {
            message: format!("invalid Redis URL {:?}: {e}", redact(url)),
            hint: Some("use redis://[USER:PASSWORD@]HOST:PORT[/DB] or rediss://... for TLS".into()),
        }
        .into()
    })
}

fn with_host(info: &ConnectionInfo, host: &str, port: u16) -> ConnectionInfo {
    let addr = match info.addr() {
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => ConnectionAddr::TcpTls {
            host: host.to_string(),
            port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        },
        _ => ConnectionAddr::Tcp(host.to_string(), port),
    };
    info.clone().set_addr(addr)
}

async fn first_node(connector: Connector, label: String) -> Result<Node> {
    let (conn, forward) = open(&connector, &label).await?;
    Ok(Node {
        label,
        conn,
        primary: None,
        connector,
        _forward: forward,
    })
}

/// Reads the password from a Secret (`NAME` or `NAME:KEY`).
async fn secret_password(client: &kube::Client, namespace: &str, spec: &str) -> Result<String> {
    let (name, key) = match spec.split_once(':') {
        Some((n, k)) => (n, Some(k)),
        None => (spec, None),
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api
        .get(name)
        .await
        .map_err(|e| Error::kube(format!("get secret {name} in namespace {namespace}"), e))?;
    let data = secret.data.unwrap_or_default();
    let value = match key {
        Some(k) => data.get(k),
        None => data
            .get("password")
            .or_else(|| data.get("redis-password"))
            .or_else(|| (data.len() == 1).then(|| data.values().next()).flatten()),
    };
    let value = value.ok_or_else(|| {
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        Error::invalid(
            format!("secret {name} has no key {:?}", key.unwrap_or("password")),
            format!(
                "name the key: --password-secret {name}:KEY (keys: {})",
                keys.join(", ")
            ),
        )
    })?;
    String::from_utf8(value.0.clone()).context("the Redis password in the Secret is not UTF-8")
}

/// The Redis URL in use (`--redis-url`, `REDIS_URL`, the config's `redis.url`) and where it
/// came from; `None` for the port-forward to the in-cluster target.
fn url_in_use(args: &RedisArgs, loaded: &LoadedConfig) -> Option<(String, &'static str)> {
    let url = args
        .redis_url
        .clone()
        .or_else(|| loaded.config.redis.url.clone())
        .filter(|u| !u.is_empty())?;
    let source = match args.redis_url.as_deref().filter(|u| !u.is_empty()) {
        Some(u) if std::env::var("REDIS_URL").ok().as_deref() == Some(u) => "REDIS_URL",
        Some(_) => "--redis-url",
        None => "the config's redis.url",
    };
    Some((url, source))
}

/// Checks the connection flags against the way Redis is reached (see [`crate::unused_flags`]),
/// before anything connects: with a URL, `--context` (one or several) is a usage error.
pub fn check_flags(global: &GlobalArgs, args: &RedisArgs, loaded: &LoadedConfig) -> Result<()> {
    let url = url_in_use(args, loaded);
    crate::unused_flags::check(global, args, url.as_ref().map(|(_, source)| *source))?;
    Ok(())
}

/// Connects as the flags and config say, discovering cluster primaries or the Sentinel master.
/// `write` refuses replicas.
pub async fn connect(
    global: &GlobalArgs,
    args: &RedisArgs,
    loaded: &LoadedConfig,
    write: bool,
) -> Result<Redis> {
    connect_with(global, args, loaded, write, None).await
}

/// [`connect`], port-forwarding through `kube` when given (one context of a fleet) instead of
/// connecting to the context the flags name.
pub async fn connect_with(
    global: &GlobalArgs,
    args: &RedisArgs,
    loaded: &LoadedConfig,
    write: bool,
    kube: Option<shared::cluster::Connection>,
) -> Result<Redis> {
    check_flags(global, args, loaded)?;
    let cfg = &loaded.config.redis;
    let url = url_in_use(args, loaded).map(|(url, _)| url);
    let (first, forward_ctx) = if let Some(url) = url {
        let mut info = args.tls.apply(parse_url(&url)?)?;
        let mut label = redact(&url);
        if let Some(master) = &args.sentinel_master {
            let (host, port) = crate::sentinel::master_address(
                &info,
                args.sentinel_password.as_deref(),
                master,
                &label,
            )
            .await?;
            info = with_host(&info, &host, port);
            label = format!("{host}:{port} (master {master:?} via Sentinel {label})");
        }
        (first_node(Connector::Direct(info), label).await?, None)
    } else {
        if !args.tls.is_empty() {
            return Err(Error::Usage {
                message: "--redis-cacert, --redis-cert and --redis-key apply to a rediss:// URL; the in-cluster port-forward speaks plain Redis".into(),
                hint: Some("give the URL with --redis-url rediss://HOST:PORT, or drop the TLS files".into()),
            }
            .into());
        }
        let conn = match kube {
            Some(conn) => conn,
            None => global.connect().await?,
        };
        let namespace = global
            .namespace_scope(false, &conn, loaded)
            .as_option()
            .map(str::to_string)
            .unwrap_or_else(|| loaded.config.namespace.clone());
        let target_text = args.target.clone().unwrap_or_else(|| cfg.target.clone());
        let target: Target = target_text.parse()?;
        let port = args.redis_port.unwrap_or(cfg.port);
        let pod = portforward::resolve(&conn.client, &namespace, &target, port).await?;
        let mut redis = RedisConnectionInfo::default();
        let secret = args
            .password_secret
            .clone()
            .or_else(|| cfg.password_secret.clone());
        let password = match secret {
            Some(spec) => Some(secret_password(&conn.client, &namespace, &spec).await?),
            None => args.redis_password.clone(),
        };
        if let Some(p) = password {
            redis = redis.set_password(p);
        }
        if let Some(u) = &args.redis_user {
            redis = redis.set_username(u);
        }
        let label = format!("{target} (pod/{}:{} in {namespace})", pod.pod, pod.port);
        let connector = Connector::Forward {
            client: conn.client.clone(),
            pod,
            redis: redis.clone(),
        };
        (
            first_node(connector, label).await?,
            Some((conn.client, namespace, redis)),
        )
    };
    let address = first.label.clone();
    let mut c = first.conn.clone();
    let info = crate::info::fetch(&mut c)
        .await
        .map_err(|e| explain(e, &address))?;
    if info.mode != "cluster" {
        if write && info.role != "master" {
            return Err(Error::invalid(
                format!("{address} is a replica ({}); keys are only deleted or restored on the primary", info.role),
                "point --redis-url/--target at the primary, or use --sentinel-master NAME with the Sentinel's URL",
            )
            .into());
        }
        return Ok(Redis {
            nodes: vec![first],
            cluster: false,
            address,
            info,
        });
    }
    let nodes_text: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut c)
        .await
        .map_err(|e| explain(e, &address))?;
    let primaries =
        cluster::parse_primaries(&nodes_text).map_err(|e| anyhow::anyhow!("{address}: {e}"))?;
    let mut nodes = Vec::new();
    for primary in primaries {
        let node = match (&first.connector, &forward_ctx) {
            (Connector::Direct(info), _) => {
                let label = format!("{}:{}", primary.host, primary.port);
                first_node(
                    Connector::Direct(with_host(info, &primary.host, primary.port)),
                    label,
                )
                .await?
            }
            (Connector::Forward { .. }, Some((client, namespace, redis))) => {
                let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
                let list = pods
                    .list(&ListParams::default())
                    .await
                    .map_err(|e| Error::kube(format!("list pods in {namespace}"), e))?;
                let pod = list
                    .items
                    .into_iter()
                    .find(|p| {
                        p.status.as_ref().and_then(|s| s.pod_ip.as_deref())
                            == Some(primary.host.as_str())
                    })
                    .and_then(|p| p.metadata.name)
                    .ok_or_else(|| {
                        Error::invalid(
                            format!(
                                "no pod in {namespace} has the cluster node's IP {}",
                                primary.host
                            ),
                            "the cluster's nodes must run in the target's namespace",
                        )
                    })?;
                let pp = PodPort {
                    namespace: namespace.clone(),
                    pod: pod.clone(),
                    port: primary.port,
                };
                let label = format!("pod/{pod}:{}", primary.port);
                first_node(
                    Connector::Forward {
                        client: client.clone(),
                        pod: pp,
                        redis: redis.clone(),
                    },
                    label,
                )
                .await?
            }
            _ => unreachable!("a port-forward connector always has its context"),
        };
        nodes.push(Node {
            primary: Some(primary),
            ..node
        });
    }
    Ok(Redis {
        nodes,
        cluster: true,
        address,
        info,
    })
}
