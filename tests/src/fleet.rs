//! A kubeconfig with several contexts for the fleet tests (`--context a,b`, `--all-contexts`):
//! the sandbox as the admin ([`ADMIN`]), the same sandbox as a least-privilege user
//! ([`LIMITED`], two "clusters" that answer differently), a server where nothing listens
//! ([`UNREACHABLE`]: the connection is refused at once) and a server that accepts the
//! connection and never says a word ([`SILENT`]: only a timeout ends the wait).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use crate::sandbox::{Sandbox, User};

/// The sandbox as `sandbox-admin`.
pub const ADMIN: &str = "admin";
/// The sandbox as a user bound to one plugin's printed Role.
pub const LIMITED: &str = "limited";
/// `https://127.0.0.1:1`: connection refused.
pub const UNREACHABLE: &str = "unreachable";
/// A loopback port that completes the TCP handshake and then stays silent.
pub const SILENT: &str = "silent";

/// A kubeconfig file with the contexts [`ADMIN`], [`LIMITED`], [`UNREACHABLE`] and [`SILENT`]
/// (in that order; `current-context` is [`ADMIN`]). The silent server lives as long as this.
pub struct FleetKubeconfig {
    /// The file.
    pub path: PathBuf,
    _dir: tempfile::TempDir,
    _silent: TcpListener,
}

/// Reads a kubeconfig file as JSON.
fn read_kubeconfig(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_saphyr::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The first entry of a kubeconfig list (`clusters`, `users`), renamed to `name`.
fn first_named(config: &Value, list: &str, name: &str) -> Result<Value> {
    let mut entry = config[list]
        .get(0)
        .cloned()
        .with_context(|| format!("the kubeconfig has no {list}"))?;
    entry["name"] = json!(name);
    Ok(entry)
}

impl FleetKubeconfig {
    /// Writes the kubeconfig: [`LIMITED`] authenticates as `limited` (bind it to a Role first).
    pub fn write(sb: &Sandbox, limited: User) -> Result<Self> {
        let admin = read_kubeconfig(&sb.kubeconfig(User::Admin)?)?;
        let user = read_kubeconfig(&sb.kubeconfig(limited)?)?;
        // The kernel completes the handshake into the backlog; nobody ever reads or writes.
        let silent = TcpListener::bind("127.0.0.1:0")?;
        let silent_port = silent.local_addr()?.port();
        let context = |name: &str, cluster: &str, user: &str| json!({"name": name, "context": {"cluster": cluster, "user": user}});
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": ADMIN,
            "clusters": [
                first_named(&admin, "clusters", "sandbox")?,
                {"name": "nowhere", "cluster": {"server": "https://127.0.0.1:1"}},
                {"name": "mute", "cluster": {"server": format!("https://127.0.0.1:{silent_port}")}},
            ],
            "users": [
                first_named(&admin, "users", "admin")?,
                first_named(&user, "users", "limited")?,
            ],
            "contexts": [
                context(ADMIN, "sandbox", "admin"),
                context(LIMITED, "sandbox", "limited"),
                context(UNREACHABLE, "nowhere", "admin"),
                context(SILENT, "mute", "admin"),
            ],
        });
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("kubeconfig");
        // JSON is YAML: kubectl and kube read it as is.
        std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
        Ok(FleetKubeconfig {
            path,
            _dir: dir,
            _silent: silent,
        })
    }
}

/// Runs `cmd` and waits at most `limit` for it to end (then kills it and fails): a command that
/// hangs on an unreachable context fails the test instead of hanging it. Returns the output
/// and how long the command took.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Result<(Output, Duration)> {
    use std::io::Read as _;
    let start = Instant::now();
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    // Drained while the command runs, so a full pipe never blocks it.
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().context("stdout")?));
    let stderr = drain(Box::new(child.stderr.take().context("stderr")?));
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = start.elapsed();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    match status {
        Some(status) => Ok((
            Output {
                status,
                stdout,
                stderr,
            },
            elapsed,
        )),
        None => bail!(
            "still running after {limit:?}, killed\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ),
    }
}
