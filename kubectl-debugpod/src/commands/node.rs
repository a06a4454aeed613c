//! `node NODE`: a node session (see [`crate::node`]), and finding or making one for `shell`
//! and `exec` when they are given a node's name.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use shared::Error;

use super::next_steps::{self, Step};
use super::{Acquired, Ctx, launch};
use crate::admission::{self, Rejection};
use crate::cli::{ResultFormat, SessionArgs};
use crate::node::{self, NodeOptions};
use crate::pod_spec::Resources;
use crate::profile::Profile;
use crate::session::{self, CONTAINER, Session, SessionKind};
use crate::target::Target;

/// How a node session is made.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// Image [default: debug_image from the config].
    pub image: Option<String>,
    /// Lifetime [default: debug_ttl from the config].
    pub ttl: Option<Duration>,
    /// Why.
    pub reason: String,
    /// How long to wait for the pod to run.
    pub timeout: Duration,
    /// Requests and limits.
    pub resources: Resources,
    /// Shells and commands enter the host's namespaces.
    pub enter_host: bool,
}

impl NodeSettings {
    /// The settings of a session that `shell`/`exec NODE` make on the fly. `--profile` other
    /// than sysadmin and `--share-netns` are usage errors: a node session is always sysadmin
    /// and always in the host's network namespace.
    pub fn from_session_args(
        args: &SessionArgs,
        auto_ttl: Option<Duration>,
    ) -> Result<NodeSettings, Error> {
        if let Some(p) = args.profile.filter(|p| *p != Profile::Sysadmin) {
            return Err(Error::Usage {
                message: format!(
                    "--profile {p} does not apply to a node: node sessions are always sysadmin (privileged, host namespaces)"
                ),
                hint: Some("drop --profile".into()),
            });
        }
        if args.share_netns {
            return Err(Error::Usage {
                message: "--share-netns does not apply to a node: node sessions already run in the host's network namespace".into(),
                hint: Some("drop --share-netns".into()),
            });
        }
        Ok(NodeSettings {
            image: args.image.clone(),
            ttl: args.ttl.or(auto_ttl),
            reason: args.reason_text(),
            timeout: args.timeout,
            resources: args.resources(),
            enter_host: true,
        })
    }
}

/// Makes a node session on `node_name` in the namespace in use and waits until it runs. A
/// namespace whose admission refuses it (PodSecurity, a PodSecurityPolicy, a policy webhook,
/// quota) is explained with another namespace whose dry-run accepts it.
pub async fn create_node_session(
    ctx: &Ctx,
    node_name: &str,
    settings: &NodeSettings,
) -> anyhow::Result<Session> {
    let node = node::find(&ctx.client, node_name).await?;
    let opts = NodeOptions {
        session: session::new_id(),
        namespace: ctx.namespace.clone(),
        image: settings
            .image
            .clone()
            .unwrap_or_else(|| ctx.config.debug_image.clone()),
        ttl: settings.ttl.unwrap_or(ctx.config.debug_ttl),
        enter_host: settings.enter_host,
        created_by: ctx.user.clone(),
        reason: settings.reason.clone(),
        resources: settings.resources.clone(),
        now: k8s_openapi::jiff::Timestamp::now(),
    };
    let pod = node::build(&node, &opts);
    match launch::dry_run(ctx, &pod).await? {
        None => {}
        Some(Rejection::Rbac(msg)) => {
            return Err(Error::invalid(
                format!("not allowed to create the node pod: {msg}"),
                format!(
                    "ask for the Role and ClusterRole printed by `kubectl debugpod rbac node -n {}`",
                    ctx.namespace
                ),
            )
            .into());
        }
        Some(rejection) => {
            let search = admission::namespace_that_accepts(&ctx.client, &pod, &ctx.namespace).await;
            return Err(admission::explain_elsewhere(
                "node pod",
                &rejection,
                &ctx.namespace,
                &search,
                &format!("kubectl debugpod node {node_name}"),
            )
            .into());
        }
    }
    let running = launch::create_and_wait(ctx, &pod, CONTAINER, settings.timeout).await?;
    Ok(Session::from_pod(&running).expect("the node pod carries the session labels"))
}

/// The running, unexpired node session on `node_name`, if any.
pub fn running_on<'a>(sessions: &'a [Session], node_name: &str) -> Option<&'a Session> {
    let now = k8s_openapi::jiff::Timestamp::now();
    sessions
        .iter()
        .filter(|s| s.kind == SessionKind::Node && s.node == node_name)
        .filter(|s| s.is_running() && !s.is_expired(now))
        // Prefer one that enters the host (`--no-enter` is the exception), then the latest expiry.
        .max_by(|a, b| (a.enter_host, &a.expires_at).cmp(&(b.enter_host, &b.expires_at)))
}

/// True when `name` is a node: a node session on it exists, or the API has the node (a user
/// who may not read nodes gets false, and the pod's "not found" stands).
pub async fn is_node(ctx: &Ctx, name: &str, sessions: &[Session]) -> bool {
    if sessions
        .iter()
        .any(|s| s.kind == SessionKind::Node && s.node == name)
    {
        return true;
    }
    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(ctx.client.clone());
    matches!(nodes.get_opt(name).await, Ok(Some(_)))
}

/// A node session for `shell`/`exec NODE`: the running one on that node, else a new one.
pub async fn acquire(
    ctx: &Ctx,
    node_name: &str,
    sessions: &[Session],
    debug_pods: &[k8s_openapi::api::core::v1::Pod],
    args: &SessionArgs,
    auto_ttl: Option<Duration>,
) -> anyhow::Result<Acquired> {
    let settings = NodeSettings::from_session_args(args, auto_ttl)?;
    if args.creation_flags().is_empty()
        && let Some(s) = running_on(sessions, node_name)
        && let Some(pod) = debug_pods
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(&s.pod))
    {
        eprintln!("using node session {} (pod {})", s.id, s.pod);
        return Ok(Acquired {
            target: Target::from_pod(pod.clone()),
            session: s.clone(),
            created: false,
        });
    }
    eprintln!("no running session on node {node_name}: creating one (profile sysadmin)");
    let session = create_node_session(ctx, node_name, &settings).await?;
    let pod = ctx
        .pods()
        .get(&session.pod)
        .await
        .map_err(|e| Error::kube(format!("get pod {}", session.pod), e))?;
    Ok(Acquired {
        target: Target::from_pod(pod),
        session,
        created: true,
    })
}

/// Runs `node NODE`.
pub async fn run(
    ctx: &Ctx,
    node_name: &str,
    settings: &NodeSettings,
    output: ResultFormat,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let session = create_node_session(ctx, node_name, settings).await?;
    match output {
        ResultFormat::Json => {
            shared::output::print_structured(out, shared::output::OutputFormat::Json, &session)?
        }
        ResultFormat::Text => {
            let ns = &session.namespace;
            writeln!(
                out,
                "node session {} ready: pod/{} on node {} (sysadmin: hostPID, hostNetwork, node / at /host), expires {}",
                session.id,
                session.pod,
                session.node,
                session.expires_at.as_deref().unwrap_or("?")
            )?;
            let shell_note = if session.enter_host {
                "nsenter -t 1 -m -u -i -n: the node's own shell and files"
            } else {
                "the debug image's shell; the node's files at /host"
            };
            next_steps::print(
                out,
                10,
                &session.id,
                ns,
                &[
                    Step::new("shell", "shell").with_note(shell_note),
                    Step::exec("system", "system"),
                    Step::exec("network", "network"),
                    Step::new("delete", "cleanup"),
                ],
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
