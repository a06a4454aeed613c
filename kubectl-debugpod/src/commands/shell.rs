//! `shell` (alias `interactive`): a TTY shell in a session through `pods/exec`, raw mode,
//! following terminal resizes; offers to delete the session on exit.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context as _;
use futures::SinkExt;
use kube::api::{AttachParams, TerminalSize};
use shared::prompt::{Answer, can_prompt, confirm};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{Ctx, acquire, delete_session};
use crate::cli::SessionArgs;
use crate::nsenter;
use crate::profile::Profile;
use crate::session::SessionKind;

/// Restores the terminal when dropped.
struct RawMode(bool);

impl RawMode {
    fn enable() -> RawMode {
        RawMode(std::io::stdin().is_terminal() && crossterm::terminal::enable_raw_mode().is_ok())
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if self.0 {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
}

fn terminal_size() -> Option<TerminalSize> {
    crossterm::terminal::size()
        .ok()
        .map(|(width, height)| TerminalSize { width, height })
}

/// How often the stdin reader looks at whether the session ended.
const STDIN_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// Reads our stdin on a thread of its own and hands the bytes over, until `stop` is set or
/// stdin ends. It waits with `poll(2)` and a short timeout instead of a blocking read, so it
/// is never left holding the terminal after the remote ends (the delete prompt gets every
/// keystroke), and it never blocks a runtime worker (a blocking read there starves the task
/// that writes to the remote). The terminal stays in blocking mode, as the parent shell
/// expects it.
fn spawn_stdin_reader(
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (
    tokio::sync::mpsc::Receiver<Vec<u8>>,
    std::thread::JoinHandle<()>,
) {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    use std::sync::atomic::Ordering;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let reader = std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let timeout = Timespec::try_from(STDIN_POLL).expect("a small timeout");
        let mut buf = [0u8; 4096];
        while !stop.load(Ordering::Relaxed) {
            let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return,
            }
            // Readable (or hung up): this read returns at once.
            match rustix::io::read(&stdin, &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    (rx, reader)
}

/// Copies our stdin to the remote until stdin ends or the remote stops taking it.
async fn pump_stdin(
    mut remote: impl AsyncWrite + Unpin,
    mut input: tokio::sync::mpsc::Receiver<Vec<u8>>,
) {
    while let Some(bytes) = input.recv().await {
        if remote.write_all(&bytes).await.is_err() || remote.flush().await.is_err() {
            return;
        }
    }
}

/// Runs `shell`.
pub async fn run(
    ctx: &Ctx,
    target: &str,
    args: &SessionArgs,
    rm: bool,
    keep: bool,
    shell: &str,
) -> anyhow::Result<ExitCode> {
    let acquired = acquire(ctx, target, args, Profile::General, args.share_netns, None).await?;
    let s = &acquired.session;
    let cmd = if s.share_netns {
        nsenter::in_target_netns(&acquired.target, None, &[shell.to_string()])
    } else if s.enter_host {
        crate::node::in_host(&[shell.to_string()])
    } else {
        vec![shell.to_string()]
    };
    let tty = std::io::stdin().is_terminal();
    let params = AttachParams::default()
        .container(&s.container)
        .stdin(true)
        .stdout(true)
        .stderr(!tty)
        .tty(tty);
    let where_ = match s.kind {
        SessionKind::Copy => format!(
            "copy of {}, container {}{}",
            s.target,
            s.container,
            if s.entrypoint.is_some() {
                "; its command: eval \"$DEBUGPOD_ENTRYPOINT\""
            } else {
                ""
            }
        ),
        SessionKind::Node if s.enter_host => {
            format!("node {}, in the host's namespaces", s.node)
        }
        SessionKind::Node => format!("node {}, its / at /host", s.node),
        SessionKind::Pod => format!(
            "profile {}{}",
            s.profile.map(|p| p.name()).unwrap_or("?"),
            if s.share_netns {
                ", in the target's network namespace"
            } else {
                ""
            }
        ),
    };
    eprintln!(
        "shell in session {} (pod {}, {where_}); exit to leave",
        s.id, s.pod
    );
    let mut proc = ctx
        .pods()
        .exec(&s.pod, cmd, &params)
        .await
        .map_err(|e| shared::Error::kube(format!("exec a shell in {}", s.pod), e))?;
    let status = proc.take_status();
    let remote_in = proc.stdin().context("no stdin")?;
    let mut remote_out = proc.stdout().context("no stdout")?;
    let remote_err = proc.stderr();
    let mut resize = proc.terminal_size();
    let raw = RawMode::enable();
    if let (Some(tx), Some(size)) = (resize.as_mut(), terminal_size()) {
        let _ = tx.send(size).await;
    }
    let resizer = tokio::spawn(async move {
        let Some(mut tx) = resize else { return };
        let Ok(mut winch) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while winch.recv().await.is_some() {
            if let Some(size) = terminal_size()
                && tx.send(size).await.is_err()
            {
                return;
            }
        }
    });
    let errs = tokio::spawn(async move {
        if let Some(mut e) = remote_err {
            let _ = tokio::io::copy(&mut e, &mut tokio::io::stderr()).await;
        }
    });
    let stop_input = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (keys, reader) = spawn_stdin_reader(stop_input.clone());
    let input = tokio::spawn(pump_stdin(remote_in, keys));
    let mut stdout = tokio::io::stdout();
    let _ = tokio::io::copy(&mut remote_out, &mut stdout).await;
    let _ = stdout.flush().await;
    stop_input.store(true, std::sync::atomic::Ordering::Relaxed);
    input.abort();
    // The reader lets go of the terminal within one poll interval; the prompt below reads it.
    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    resizer.abort();
    let _ = errs.await;
    drop(raw);
    let code = match status {
        Some(st) => crate::remote::exit_code(st.await.as_ref()).unwrap_or(0),
        None => 0,
    };
    let delete = if rm {
        true
    } else if keep || !can_prompt() {
        false
    } else {
        confirm(
            Answer::Ask,
            "delete the session",
            &format!("Delete session {} (pod {})?", s.id, s.pod),
        )
        .is_ok()
    };
    if delete {
        delete_session(&ctx.pods(), &s.pod).await?;
        eprintln!("deleted session {} (pod {})", s.id, s.pod);
    } else {
        eprintln!(
            "session {} kept; it ends by itself at {} (or: kubectl debugpod cleanup {} -n {})",
            s.id,
            s.expires_at.as_deref().unwrap_or("its TTL"),
            s.id,
            s.namespace
        );
    }
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
