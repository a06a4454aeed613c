//! The subcommands of `kubectl debugpod`, one module each, and what they share: the cluster
//! context ([`Ctx`]) and finding or making the session a command runs in ([`acquire`]).

pub mod capture;
pub mod cleanup;
pub mod copy;
pub mod create;
pub mod exec;
pub mod launch;
pub mod list;
pub mod next_steps;
pub mod node;
pub mod rbac;
pub mod report;
pub mod shell;

use std::process::ExitCode;

use k8s_openapi::api::core::v1::Pod;
use kube::api::DeleteParams;
use kube::{Api, Client};
use shared::Error;
use shared::config::Config;

use crate::cli::{Cli, Command, SessionArgs};
use crate::profile::Profile;
use crate::session::{Session, SessionKind};
use crate::target::{self, Target};

/// What every cluster command needs.
pub struct Ctx {
    /// The client.
    pub client: Client,
    /// The namespace in use (`-n`, context, config, `default`).
    pub namespace: String,
    /// `-A` was given (list/cleanup only).
    pub all_namespaces: bool,
    /// The suite configuration.
    pub config: Config,
    /// Who we are, for the created-by annotation (`--as`, else the kubeconfig user).
    pub user: String,
}

impl Ctx {
    async fn new(cli: &Cli, all_namespaces: bool) -> anyhow::Result<Ctx> {
        let config = cli.global.load_config()?;
        let conn = cli.global.connect().await?;
        Ok(Ctx::with_connection(cli, conn, &config, all_namespaces))
    }

    /// The context of one cluster reached through `conn` (on a fleet, one per kubeconfig
    /// context: the namespace is that context's own unless `-n` is given).
    pub fn with_connection(
        cli: &Cli,
        conn: shared::cluster::Connection,
        config: &shared::config::LoadedConfig,
        all_namespaces: bool,
    ) -> Ctx {
        let scope = cli.global.namespace_scope(false, &conn, config);
        let namespace = scope.as_option().unwrap_or("default").to_string();
        let user = cli
            .global
            .cluster
            .as_user
            .clone()
            .unwrap_or_else(|| kubeconfig_user(&conn.kubeconfig));
        Ctx {
            client: conn.client,
            namespace,
            all_namespaces,
            config: config.config.clone(),
            user,
        }
    }

    /// `namespace "x"`, or `all namespaces` with `-A`, for messages.
    pub fn scope_text(&self) -> String {
        if self.all_namespaces {
            "all namespaces".into()
        } else {
            format!("namespace {:?}", self.namespace)
        }
    }

    /// Pods in the namespace in use.
    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }
}

fn kubeconfig_user(k: &shared::cluster::LoadedKubeconfig) -> String {
    let ctx = k
        .context
        .as_deref()
        .and_then(|name| k.kubeconfig.contexts.iter().find(|c| c.name == name));
    ctx.and_then(|c| c.context.as_ref())
        .and_then(|c| c.user.clone())
        .unwrap_or_else(|| "unknown".into())
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout();
    // Commands that connect refuse a fleet themselves; these read no kubeconfig at all.
    if matches!(
        cli.command,
        Command::Config(_) | Command::Completion(_) | Command::Rbac { .. }
    ) {
        shared::fleet::refuse_fleet(&cli.global.cluster, "this command")?;
    }
    match &cli.command {
        Command::Config(cmd) => Ok(cmd.run(&cli.global, &mut stdout)?),
        Command::Completion(args) => {
            shared::completion::print_script(
                <crate::cli::Cli as clap::CommandFactory>::command(),
                args.shell,
                &mut stdout,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rbac { commands } => rbac::run(&cli, commands, &mut stdout),
        Command::List {
            sessions,
            all,
            output,
        } if *sessions => {
            list::run_sessions(&cli, all.all_namespaces, output.output, &mut stdout).await
        }
        Command::List { all, output, .. } => {
            shared::fleet::refuse_fleet(&cli.global.cluster, "`debugpod list` without --sessions")?;
            let ctx = Ctx::new(&cli, all.all_namespaces).await?;
            list::run(&ctx, output.output, &mut stdout).await
        }
        Command::Create {
            target,
            session,
            mode,
            container,
            yes,
            output,
            copy: true,
            any_node,
            set_image,
            command,
        } => {
            copy::check_flags(*mode, session, *yes)?;
            let ctx = Ctx::new(&cli, false).await?;
            let copy_args = copy::CopyArgs {
                container: container.clone(),
                command: command.clone(),
                set_images: set_image.clone(),
                any_node: *any_node,
            };
            copy::run(&ctx, target, session, &copy_args, *output, &mut stdout).await
        }
        Command::Create {
            target,
            session,
            mode,
            container,
            yes,
            output,
            ..
        } => {
            crate::flag_rules::check_create(*mode, session, container.as_deref())?;
            let ctx = Ctx::new(&cli, false).await?;
            create::run(
                &ctx,
                target,
                session,
                *mode,
                container.as_deref(),
                *yes,
                *output,
                &mut stdout,
            )
            .await
        }
        Command::Node {
            node: name,
            image,
            ttl,
            reason,
            timeout,
            cpu_limit,
            memory_limit,
            no_enter,
            output,
        } => {
            let ctx = Ctx::new(&cli, false).await?;
            let defaults = crate::pod_spec::Resources::default();
            let settings = node::NodeSettings {
                image: image.clone(),
                ttl: *ttl,
                reason: reason.clone().unwrap_or_default(),
                timeout: *timeout,
                resources: crate::pod_spec::Resources {
                    cpu_limit: cpu_limit.clone().unwrap_or(defaults.cpu_limit.clone()),
                    memory_limit: memory_limit
                        .clone()
                        .unwrap_or(defaults.memory_limit.clone()),
                    ..defaults
                },
                enter_host: !*no_enter,
            };
            node::run(&ctx, name, &settings, *output, &mut stdout).await
        }
        Command::Shell {
            target,
            session,
            rm,
            keep,
            shell,
        } => {
            let ctx = Ctx::new(&cli, false).await?;
            shell::run(&ctx, target, session, *rm, *keep, shell).await
        }
        Command::Exec {
            target,
            preset,
            command,
            session,
            container,
            keep,
            output,
        } => {
            if preset.is_some() {
                crate::flag_rules::check_share_netns_kept("exec PRESET", session, Some(*keep))?;
            }
            let ctx = Ctx::new(&cli, false).await?;
            let what = match preset {
                Some(p) => exec::What::Preset(*p),
                None => exec::What::Command(command.clone()),
            };
            exec::run(
                &ctx,
                target,
                &what,
                session,
                container.as_deref(),
                *keep,
                *output,
                &mut stdout,
            )
            .await
        }
        Command::Capture {
            target,
            file,
            filter,
            duration,
            count,
            interface,
            session,
            keep,
        } => {
            crate::flag_rules::check_share_netns_kept("capture", session, Some(*keep))?;
            let ctx = Ctx::new(&cli, false).await?;
            let opts = capture::CaptureOptions {
                file: file.clone(),
                filter: filter.clone(),
                duration: *duration,
                count: *count,
                interface: interface.clone(),
            };
            capture::run(&ctx, target, &opts, session, *keep).await
        }
        Command::Report {
            target,
            file,
            output,
            tail,
            no_presets,
            session,
        } => {
            crate::flag_rules::check_share_netns_kept("report", session, None)?;
            let ctx = Ctx::new(&cli, false).await?;
            report::run(
                &ctx,
                target,
                file.as_deref(),
                *output,
                *tail,
                *no_presets,
                session,
                &mut stdout,
            )
            .await
        }
        Command::Cleanup {
            sessions,
            expired,
            all,
            dry_run,
            yes,
            all_namespaces,
        } => {
            let choice = cleanup::Choice {
                names: sessions,
                expired: *expired,
                all: *all,
                dry_run: *dry_run,
                yes: *yes,
            };
            cleanup::run(&cli, all_namespaces.all_namespaces, &choice, &mut stdout).await
        }
    }
}

/// A session a command runs in, and whether the command made it (and must delete it).
pub struct Acquired {
    /// The target.
    pub target: Target,
    /// The session.
    pub session: Session,
    /// Made for this command.
    pub created: bool,
}

/// Finds the session for `arg` (a session id, a debug pod name, or a target pod), or creates
/// one with `default_profile` when the target has none that fits (`need_netns`: one that can
/// enter the target's network namespace).
pub async fn acquire(
    ctx: &Ctx,
    arg: &str,
    args: &SessionArgs,
    default_profile: Profile,
    need_netns: bool,
    auto_ttl: Option<std::time::Duration>,
) -> anyhow::Result<Acquired> {
    let debug_pods = target::list_debug_pods(&ctx.client, Some(&ctx.namespace)).await?;
    let sessions: Vec<Session> = debug_pods.iter().filter_map(Session::from_pod).collect();
    if let Some(s) = sessions.iter().find(|s| s.id == arg || s.pod == arg) {
        crate::flag_rules::check_named_session(args, s)?;
        if !s.is_running() {
            return Err(Error::invalid(
                format!(
                    "session {} (pod {}) is {}{}",
                    s.id,
                    s.pod,
                    s.phase,
                    s.reason
                        .as_ref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
                format!(
                    "start a new one with `kubectl debugpod {} -n {}`",
                    match s.kind {
                        SessionKind::Pod => format!("create {}", s.target),
                        SessionKind::Copy => format!("create {} --copy", s.target),
                        SessionKind::Node => format!("node {}", s.node),
                    },
                    s.namespace
                ),
            )
            .into());
        }
        // A copy or a node session is its own target: it outlives the pod it copies.
        if s.kind != SessionKind::Pod
            && let Some(pod) = debug_pods
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(s.pod.as_str()))
        {
            return Ok(Acquired {
                target: Target::from_pod(pod.clone()),
                session: s.clone(),
                created: false,
            });
        }
        let target = target::resolve(&ctx.client, &ctx.namespace, &s.target).await?;
        if target.uid != s.target_uid {
            return Err(Error::invalid(
                format!(
                    "the target of session {} ({}) was replaced by a new pod",
                    s.id, s.target
                ),
                format!(
                    "clean up with `kubectl debugpod cleanup {}` and debug the new pod",
                    s.id
                ),
            )
            .into());
        }
        return Ok(Acquired {
            target,
            session: s.clone(),
            created: false,
        });
    }
    if let Some(node_name) = arg.strip_prefix("node/") {
        return node::acquire(ctx, node_name, &sessions, &debug_pods, args, auto_ttl).await;
    }
    let target = match target::resolve(&ctx.client, &ctx.namespace, arg).await {
        Ok(t) => t,
        // Not a pod: a node's name gets a node session (`exec NODE system`).
        Err(err) if is_pod_not_found(&err) && node::is_node(ctx, arg, &sessions).await => {
            return node::acquire(ctx, arg, &sessions, &debug_pods, args, auto_ttl).await;
        }
        Err(err) => return Err(err),
    };
    let now = k8s_openapi::jiff::Timestamp::now();
    let mut fitting: Vec<&Session> = sessions
        .iter()
        .filter(|s| s.kind == SessionKind::Pod)
        .filter(|s| s.target_uid == target.uid && s.is_running() && !s.is_expired(now))
        .filter(|s| args.profile.is_none_or(|p| s.profile == Some(p)))
        .filter(|s| !need_netns || s.profile.is_some_and(Profile::can_enter_netns))
        .filter(|s| !args.share_netns || s.share_netns)
        .collect();
    // A session made without the settings given now would silently drop them.
    let creation_flags = args.creation_flags();
    if !creation_flags.is_empty() {
        fitting.clear();
    }
    fitting.sort_by(|a, b| b.expires_at.cmp(&a.expires_at));
    if let Some(s) = fitting.first() {
        eprintln!(
            "using session {} (pod {}, profile {})",
            s.id,
            s.pod,
            s.profile.map(|p| p.name()).unwrap_or("?")
        );
        return Ok(Acquired {
            target,
            session: (*s).clone(),
            created: false,
        });
    }
    let mut args = args.clone();
    if args.ttl.is_none() {
        args.ttl = auto_ttl;
    }
    let profile = args.profile.unwrap_or(default_profile);
    if creation_flags.is_empty() {
        eprintln!(
            "no running session for pod {}: creating one (profile {profile})",
            target.name
        );
    } else {
        eprintln!(
            "creating a session for pod {} with {} (profile {profile})",
            target.name,
            creation_flags.join(", ")
        );
    }
    let session = create::create_pod_session(ctx, &target, &args, profile).await?;
    Ok(Acquired {
        target,
        session,
        created: true,
    })
}

/// True when `err` says no pod of that name exists.
fn is_pod_not_found(err: &anyhow::Error) -> bool {
    matches!(
        err.downcast_ref::<Error>(),
        Some(Error::NotFound { kind: "pod", .. })
    )
}

/// Deletes a debug pod at once (grace period 0), ignoring "already gone".
pub async fn delete_session(pods: &Api<Pod>, name: &str) -> anyhow::Result<()> {
    match pods
        .delete(
            name,
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..DeleteParams::background()
            },
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::kube(format!("delete debug pod {name:?}"), e).into()),
    }
}

/// Runs `body` with the acquired session, deleting the session afterwards when this command
/// made it (also on failure and on Ctrl-C).
pub async fn with_session<T, F>(
    ctx: &Ctx,
    acquired: &Acquired,
    keep: bool,
    body: F,
) -> anyhow::Result<T>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    let result = tokio::select! {
        r = body => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    if acquired.created {
        if keep {
            eprintln!(
                "kept session {} (pod {}); it ends by itself at {}",
                acquired.session.id,
                acquired.session.pod,
                acquired.session.expires_at.as_deref().unwrap_or("its TTL")
            );
        } else {
            delete_session(&ctx.pods(), &acquired.session.pod).await?;
            eprintln!(
                "deleted session {} (pod {})",
                acquired.session.id, acquired.session.pod
            );
        }
    }
    result
}
