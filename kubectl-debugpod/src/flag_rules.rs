//! Flags a command parses but would not use in some mode are usage errors (exit 2) naming the
//! flag and the mode, never silently dropped. The rules clap can express (`conflicts_with`)
//! live in `cli.rs`; these depend on a flag's value (`--mode`) or on the session a command
//! finds, so they are checked here.

use shared::Error;

use crate::cli::{Mode, SessionArgs};
use crate::session::Session;

fn usage(message: String, hint: impl Into<String>) -> Error {
    Error::Usage {
        message,
        hint: Some(hint.into()),
    }
}

/// `create`: `--mode ephemeral` adds a container to the target pod, which always shares the
/// pod's network namespace and takes no resources of its own; `-c` only picks the process
/// namespace of an ephemeral container.
pub fn check_create(mode: Mode, args: &SessionArgs, container: Option<&str>) -> Result<(), Error> {
    if mode == Mode::Ephemeral {
        if args.share_netns {
            return Err(usage(
                "--share-netns does nothing with --mode ephemeral: an ephemeral container always runs in the target pod's network namespace".into(),
                "drop --share-netns",
            ));
        }
        for (given, flag) in [
            (args.cpu_limit.is_some(), "--cpu-limit"),
            (args.memory_limit.is_some(), "--memory-limit"),
        ] {
            if given {
                return Err(usage(
                    format!(
                        "{flag} cannot apply with --mode ephemeral: Kubernetes gives an ephemeral container no resources of its own (it shares the pod's)"
                    ),
                    format!(
                        "drop {flag}, or use --mode pod (the default) for a debug pod with its own limits"
                    ),
                ));
            }
        }
    }
    if mode == Mode::Pod && container.is_some() {
        return Err(usage(
            "-c/--container is for --mode ephemeral (the target container whose processes it sees); a debug pod does not use it".into(),
            "drop -c, or pass it to `kubectl debugpod exec SESSION -c CONTAINER ...` for the PID view",
        ));
    }
    Ok(())
}

/// `capture`, `report` and `exec PRESET` always run in the target's network namespace;
/// `--share-netns` only marks the session for later shells and `exec -- CMD`, so it needs a
/// session that outlives the command (`--keep`; `report` never keeps one).
pub fn check_share_netns_kept(
    command: &str,
    args: &SessionArgs,
    keep: Option<bool>,
) -> Result<(), Error> {
    if !args.share_netns || keep == Some(true) {
        return Ok(());
    }
    let hint = match keep {
        Some(_) => {
            "drop --share-netns, or add --keep to keep the session for shells in the target's network namespace"
        }
        None => "drop --share-netns (report's session is deleted when the report is written)",
    };
    Err(usage(
        format!(
            "--share-netns does nothing for `{command}`: it always runs in the target's network namespace, and the session it makes is deleted afterwards"
        ),
        hint,
    ))
}

/// A session named by id or pod name is used as it is, so settings for a new session cannot
/// apply to it: `--image`, `--ttl`, `--reason`, `--cpu-limit`, `--memory-limit`, a different
/// `--profile`, or `--share-netns` on a session made without it.
pub fn check_named_session(args: &SessionArgs, session: &Session) -> Result<(), Error> {
    let mut ignored: Vec<String> = args
        .creation_flags()
        .into_iter()
        .map(String::from)
        .collect();
    if let Some(p) = args.profile
        && session.profile != Some(p)
    {
        ignored.push(format!("--profile {p}"));
    }
    if args.share_netns && !session.share_netns {
        ignored.push("--share-netns".into());
    }
    if ignored.is_empty() {
        return Ok(());
    }
    Err(usage(
        format!(
            "{} cannot apply to session {}: it is already running (profile {}{})",
            ignored.join(", "),
            session.id,
            session.profile.map(|p| p.name()).unwrap_or("?"),
            if session.share_netns {
                ", shares the target's network namespace"
            } else {
                ""
            }
        ),
        format!(
            "drop them to use session {}, or name the target pod ({}) to create a session with them",
            session.id, session.target
        ),
    ))
}

/// `exec -c CONTAINER -- CMD`: the container picks whose network namespace to enter, which
/// only a `--share-netns` session does (presets always use it for the PID view).
pub fn check_exec_container(container: Option<&str>, session: &Session) -> Result<(), Error> {
    match container {
        Some(c) if !session.share_netns => Err(usage(
            format!(
                "-c {c} does nothing for `exec -- CMD` in session {}: the command runs in the debug pod's own namespaces (the session was made without --share-netns)",
                session.id
            ),
            "drop -c, or use a session made with --share-netns (`kubectl debugpod exec TARGET --share-netns -c CONTAINER -- CMD`)",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;

    fn args() -> SessionArgs {
        SessionArgs::defaults()
    }

    fn session(profile: Profile, share_netns: bool) -> Session {
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "debugpod-t-abc123", "namespace": "ns",
                "labels": {"app.kubernetes.io/managed-by": "kubectl-debugpod",
                           crate::session::LABEL_SESSION: "abc123"},
                "annotations": {crate::session::ANN_PROFILE: profile.name(),
                                crate::session::ANN_TARGET: "t",
                                crate::session::ANN_SHARE_NETNS: share_netns.to_string()}},
            "status": {"phase": "Running"}
        }))
        .unwrap();
        Session::from_pod(&pod).unwrap()
    }

    fn message(r: Result<(), Error>) -> String {
        match r {
            Err(Error::Usage { message, .. }) => message,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn ephemeral_mode_refuses_what_it_cannot_apply() {
        let mut a = args();
        a.share_netns = true;
        assert!(message(check_create(Mode::Ephemeral, &a, None)).contains("--share-netns"));
        let mut a = args();
        a.memory_limit = Some("1Gi".into());
        assert!(message(check_create(Mode::Ephemeral, &a, None)).contains("--memory-limit"));
        let mut a = args();
        a.reason = Some("INC-1".into());
        a.image = Some("busybox".into());
        assert!(check_create(Mode::Ephemeral, &a, Some("app")).is_ok());
        assert!(check_create(Mode::Pod, &a, None).is_ok());
        assert!(message(check_create(Mode::Pod, &args(), Some("app"))).contains("-c/--container"));
    }

    #[test]
    fn share_netns_needs_a_kept_session() {
        let mut a = args();
        assert!(check_share_netns_kept("capture", &a, Some(false)).is_ok());
        a.share_netns = true;
        assert!(message(check_share_netns_kept("capture", &a, Some(false))).contains("capture"));
        assert!(check_share_netns_kept("capture", &a, Some(true)).is_ok());
        assert!(check_share_netns_kept("report", &a, None).is_err());
    }

    #[test]
    fn a_named_session_takes_no_new_settings() {
        let s = session(Profile::Netadmin, false);
        assert!(check_named_session(&args(), &s).is_ok());
        let mut a = args();
        a.profile = Some(Profile::Netadmin);
        assert!(
            check_named_session(&a, &s).is_ok(),
            "the same profile is fine"
        );
        a.profile = Some(Profile::Sysadmin);
        a.image = Some("busybox".into());
        a.share_netns = true;
        let m = message(check_named_session(&a, &s));
        for flag in ["--image", "--profile sysadmin", "--share-netns", "abc123"] {
            assert!(m.contains(flag), "{m}");
        }
        let mut a = args();
        a.share_netns = true;
        assert!(check_named_session(&a, &session(Profile::Netadmin, true)).is_ok());
    }

    #[test]
    fn exec_container_needs_a_session_in_the_targets_netns() {
        let plain = session(Profile::Netadmin, false);
        assert!(message(check_exec_container(Some("app"), &plain)).contains("-c app"));
        assert!(check_exec_container(None, &plain).is_ok());
        assert!(check_exec_container(Some("app"), &session(Profile::Netadmin, true)).is_ok());
    }
}
