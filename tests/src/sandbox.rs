//! Access to the local sandbox that `tests/sandbox/sandbox up` starts: a real one-node
//! Kubernetes 1.20 with the seeded `market-intel-brain` workload, Redis (standalone, ACL user,
//! 6-node cluster) and an OpenBao dev server, all on loopback.
//!
//! [`Sandbox::load`] reads the env file the harness writes (`$STATE_DIR/env`), so a test needs
//! no environment variables of its own. Tests that use it are marked
//! `#[ignore = "needs the sandbox: tests/sandbox/sandbox up"]`; `tests/sandbox/run-tests` runs
//! them with `--include-ignored`. When the sandbox is missing they fail, never pass.

use std::{
    collections::BTreeMap,
    future::Future,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, Result, anyhow, bail};
use kube::{
    Client, Config,
    config::{KubeConfigOptions, Kubeconfig},
};
use serde::Deserialize;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

/// The Kubernetes context name in every sandbox kubeconfig.
pub const CONTEXT: &str = "sandbox";

/// The identities the sandbox provides. Only `Admin` has any RBAC binding; the others start
/// with none, so a test binds them to the Role a plugin prints and proves it is enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum User {
    /// `sandbox-admin`, in group `system:masters`.
    Admin,
    /// `kubectl-ops-certs`, no bindings.
    Certs,
    /// `kubectl-ops-rflush`, no bindings.
    Rflush,
    /// `kubectl-ops-debugpod`, no bindings.
    Debugpod,
    /// `kubectl-ops-nobody`, no bindings, ever.
    Nobody,
}

impl User {
    /// The Kubernetes user name of this identity.
    pub fn name(self) -> &'static str {
        match self {
            User::Admin => "sandbox-admin",
            User::Certs => "kubectl-ops-certs",
            User::Rflush => "kubectl-ops-rflush",
            User::Debugpod => "kubectl-ops-debugpod",
            User::Nobody => "kubectl-ops-nobody",
        }
    }

    fn env_var(self) -> &'static str {
        match self {
            User::Admin => "KUBECONFIG",
            User::Certs => "SANDBOX_KUBECONFIG_CERTS",
            User::Rflush => "SANDBOX_KUBECONFIG_RFLUSH",
            User::Debugpod => "SANDBOX_KUBECONFIG_DEBUGPOD",
            User::Nobody => "SANDBOX_KUBECONFIG_NOBODY",
        }
    }
}

/// Key counts the harness seeded for one key pattern (from `$STATE_DIR/seed.json`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct PatternSeed {
    /// Number of keys matching the pattern.
    pub keys: u64,
    /// Number of those keys per Redis type (`string`, `hash`, `list`, `set`, `zset`, `stream`).
    pub types: BTreeMap<String, u64>,
    /// Number of those keys that have a TTL.
    pub with_ttl: u64,
}

/// What the harness seeded into each Redis (`$STATE_DIR/seed.json`).
#[derive(Clone, Debug, Deserialize)]
pub struct Seed {
    /// The eight cache-type patterns of the runbook (`market:data:*`, ...), present in every
    /// seeded Redis.
    pub patterns: BTreeMap<String, PatternSeed>,
    /// Keys outside those patterns, also in every seeded Redis (flushes must leave them).
    pub other: BTreeMap<String, PatternSeed>,
    /// Keys only in the standalone server (`tenant:a:*`, `tenant:b:*`, for the ACL user).
    pub standalone_only: BTreeMap<String, PatternSeed>,
    /// Total keys per target: `pod` (the in-cluster `redis-0`), `standalone`, `cluster`.
    pub totals: BTreeMap<String, u64>,
}

/// The running sandbox, as described by its env file.
#[derive(Clone, Debug)]
pub struct Sandbox {
    /// Path of the env file that was read.
    pub env_file: PathBuf,
    /// Every variable of the env file (`KUBECONFIG`, `SANDBOX_*`, `VAULT_*`, `BAO_*`, ...).
    pub vars: BTreeMap<String, String>,
    /// The harness's state directory (logs, kubeconfigs, pid files).
    pub state_dir: PathBuf,
    /// The namespace of the seeded workload (`market-intel-brain`).
    pub namespace: String,
    /// `redis://` URL of the standalone server (default user, no password).
    pub redis_url: String,
    /// `host:port` of the six Redis Cluster nodes.
    pub redis_cluster_nodes: Vec<String>,
    /// `redis://tenant-a:...@...` URL of the ACL user limited to `tenant:a:*`.
    pub redis_acl_url: String,
    /// OpenBao address (`http://127.0.0.1:<port>`).
    pub vault_addr: String,
    /// OpenBao root token.
    pub vault_token: String,
    /// The debug/workload image reference (`localhost/toolbox:1`).
    pub toolbox_image: String,
}

impl Sandbox {
    /// Where the env file is: `$SANDBOX_ENV_FILE`, else `$SANDBOX_STATE_DIR/env`, else the
    /// harness's default state directory (`$KUBECTL_OPS_SANDBOX_DIR`, or
    /// `${KUBECTL_OPS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/kubectl-ops}/sandbox`).
    pub fn env_file_path() -> PathBuf {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        if let Some(p) = var("SANDBOX_ENV_FILE") {
            return p;
        }
        if let Some(d) = var("SANDBOX_STATE_DIR").or_else(|| var("KUBECTL_OPS_SANDBOX_DIR")) {
            return d.join("env");
        }
        let cache = var("KUBECTL_OPS_CACHE").unwrap_or_else(|| {
            var("XDG_CACHE_HOME")
                .unwrap_or_else(|| {
                    var("HOME")
                        .unwrap_or_else(|| PathBuf::from("/root"))
                        .join(".cache")
                })
                .join("kubectl-ops")
        });
        cache.join("sandbox").join("env")
    }

    /// Reads the sandbox's env file from [`Sandbox::env_file_path`].
    pub fn load() -> Result<Self> {
        Self::from_env_file(&Self::env_file_path())
    }

    /// Reads a sandbox env file (`export KEY='value'` lines).
    pub fn from_env_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading the sandbox env file {} (is it up? run: tests/sandbox/sandbox up)",
                path.display()
            )
        })?;
        let vars = parse_env(&text);
        let get = |k: &str| -> Result<String> {
            vars.get(k)
                .cloned()
                .ok_or_else(|| anyhow!("{} does not set {k}", path.display()))
        };
        Ok(Sandbox {
            env_file: path.to_owned(),
            state_dir: PathBuf::from(get("SANDBOX_STATE_DIR")?),
            namespace: get("SANDBOX_NAMESPACE")?,
            redis_url: get("SANDBOX_REDIS_URL")?,
            redis_cluster_nodes: get("SANDBOX_REDIS_CLUSTER_NODES")?
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            redis_acl_url: get("SANDBOX_REDIS_ACL_URL")?,
            vault_addr: get("VAULT_ADDR")?,
            vault_token: get("VAULT_TOKEN")?,
            toolbox_image: get("SANDBOX_TOOLBOX_IMAGE")?,
            vars,
        })
    }

    /// The kubeconfig file of a user.
    pub fn kubeconfig(&self, user: User) -> Result<PathBuf> {
        self.vars
            .get(user.env_var())
            .map(PathBuf::from)
            .ok_or_else(|| {
                anyhow!(
                    "{} does not set {}",
                    self.env_file.display(),
                    user.env_var()
                )
            })
    }

    /// A client as the admin (`system:masters`).
    pub async fn client(&self) -> Result<Client> {
        self.client_for(User::Admin).await
    }

    /// A client as the given user, from that user's kubeconfig (context `sandbox`).
    pub async fn client_for(&self, user: User) -> Result<Client> {
        let path = self.kubeconfig(user)?;
        let kubeconfig =
            Kubeconfig::read_from(&path).with_context(|| format!("reading {}", path.display()))?;
        let options = KubeConfigOptions {
            context: Some(CONTEXT.to_owned()),
            ..KubeConfigOptions::default()
        };
        let config = Config::from_custom_kubeconfig(kubeconfig, &options).await?;
        Ok(Client::try_from(config)?)
    }

    /// What the harness seeded into Redis.
    pub fn seed(&self) -> Result<Seed> {
        let path = self.state_dir.join("seed.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(serde_json::from_str(&text)?)
    }

    /// The env file's variables, to pass to a plugin process (`Command::envs`).
    pub fn envs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// One request to OpenBao's HTTP API (`path` without `/v1/`), returning the status code and
    /// the JSON body (`null` when empty).
    pub async fn vault(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value)> {
        let addr = self
            .vault_addr
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("VAULT_ADDR {} is not http://", self.vault_addr))?;
        let (status, body) = http10(
            addr,
            method,
            &format!("/v1/{path}"),
            &self.vault_token,
            body,
        )
        .await?;
        let json = if body.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&body)?
        };
        Ok((status, json))
    }
}

/// Parses `export KEY='value'` / `KEY=value` lines (comments and blanks skipped).
pub fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (k, v) = l.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .or_else(|| v.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
                .unwrap_or(v);
            Some((k.trim().to_owned(), v.to_owned()))
        })
        .collect()
}

/// Polls `check` every 250 ms until it returns `Ok(Some(_))`, or fails after `timeout`. An
/// `Err` is retried too and the last one is reported on timeout, so a check can describe the
/// state it saw (`Err(anyhow!("2 pods, want 1"))`). Use it to wait for a condition, never a
/// fixed sleep.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(match last_error {
                Some(e) => e.context(format!("timed out after {timeout:?} waiting for {what}")),
                None => anyhow!("timed out after {timeout:?} waiting for {what}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Sends one command to a Redis server over plain RESP and returns the reply: simple strings,
/// integers and bulk strings as text; an error reply becomes an `Err`.
pub async fn redis_command(addr: &str, args: &[&str]) -> Result<String> {
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    stream.write_all(req.as_bytes()).await?;
    read_resp(&mut stream).await
}

async fn read_resp(stream: &mut TcpStream) -> Result<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(reply) = parse_resp(&buf)? {
            return Ok(reply);
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await??;
        if n == 0 {
            bail!("connection closed before a complete reply");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Parses one complete non-array RESP reply, `None` when more bytes are needed.
fn parse_resp(buf: &[u8]) -> Result<Option<String>> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line = std::str::from_utf8(&buf[1..end])?;
    match buf.first() {
        Some(b'+' | b':') => Ok(Some(line.to_owned())),
        Some(b'-') => bail!("redis error: {line}"),
        Some(b'$') => {
            let len: i64 = line.parse()?;
            if len < 0 {
                return Ok(Some(String::new()));
            }
            let start = end + 2;
            let stop = start + len as usize;
            if buf.len() < stop + 2 {
                return Ok(None);
            }
            Ok(Some(
                String::from_utf8_lossy(&buf[start..stop]).into_owned(),
            ))
        }
        _ => bail!("unexpected RESP reply: {}", String::from_utf8_lossy(buf)),
    }
}

/// A minimal HTTP/1.0 client for OpenBao on loopback (one request per connection, the body read
/// until the server closes it: HTTP/1.0 replies are never chunked).
async fn http10(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&serde_json::Value>,
) -> Result<(u16, String)> {
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nX-Vault-Token: {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
        payload.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut response)).await??;
    let response = String::from_utf8(response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("malformed HTTP response"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("malformed HTTP status line: {head}"))?;
    Ok((status, body.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_lines_are_parsed() {
        let vars = parse_env(
            "# sandbox\nexport KUBECONFIG='/x/kubeconfig'\nexport A=\"b c\"\nPLAIN=1\n\nexport EMPTY=''\n",
        );
        assert_eq!(vars["KUBECONFIG"], "/x/kubeconfig");
        assert_eq!(vars["A"], "b c");
        assert_eq!(vars["PLAIN"], "1");
        assert_eq!(vars["EMPTY"], "");
        assert_eq!(vars.len(), 4);
    }

    #[test]
    fn resp_replies_are_parsed() {
        assert_eq!(parse_resp(b"+PONG\r\n").unwrap().as_deref(), Some("PONG"));
        assert_eq!(parse_resp(b":42\r\n").unwrap().as_deref(), Some("42"));
        assert_eq!(parse_resp(b"$5\r\nhel").unwrap(), None);
        assert_eq!(
            parse_resp(b"$5\r\nhello\r\n").unwrap().as_deref(),
            Some("hello")
        );
        assert_eq!(parse_resp(b"$-1\r\n").unwrap().as_deref(), Some(""));
        assert!(parse_resp(b"-ERR nope\r\n").is_err());
        assert_eq!(parse_resp(b"+PON").unwrap(), None);
    }

    #[test]
    fn a_missing_env_file_is_an_error_that_says_how_to_start_the_sandbox() {
        let err = Sandbox::from_env_file(Path::new("/nonexistent/env")).unwrap_err();
        assert!(format!("{err:#}").contains("tests/sandbox/sandbox up"));
    }
}
