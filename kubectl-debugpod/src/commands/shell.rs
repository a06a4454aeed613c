//! `shell` (alias `interactive`): a TTY shell in a session through `pods/exec`, raw mode,
//! following terminal resizes; offers to delete the session on exit.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context as _;
use futures::SinkExt;
use kube::api::{AttachParams, TerminalSize};
use shared::prompt::{Answer, can_prompt, confirm};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Ctx, acquire, delete_session};
use crate::cli::SessionArgs;
use crate::nsenter;
use crate::profile::Profile;
use crate::session::CONTAINER;

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

/// Copies our stdin to the remote until the remote ends. On a terminal, stdin is read only when
/// it is readable (tokio `AsyncFd`), so no thread is left blocked on it afterwards — the
/// delete prompt gets every keystroke.
async fn pump_stdin(mut remote: impl AsyncWrite + Unpin) {
    let stdin = std::io::stdin();
    // `AsyncFd::new` is deprecated for I/O safety (the fd could be closed while registered);
    // fd 0 is owned by `Stdin`, which never closes it, and `register` would need `unsafe`.
    #[allow(deprecated)]
    let fd = if stdin.is_terminal() {
        tokio::io::unix::AsyncFd::new(stdin).ok()
    } else {
        None
    };
    if let Some(fd) = fd {
        let mut buf = [0u8; 4096];
        loop {
            let Ok(mut guard) = fd.readable().await else {
                return;
            };
            match guard.try_io(|inner| std::io::Read::read(&mut inner.get_ref().lock(), &mut buf)) {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(n)) => {
                    if remote.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                    let _ = remote.flush().await;
                }
                Err(_would_block) => continue,
            }
        }
    }
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 || remote.write_all(&buf[..n]).await.is_err() {
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
    } else {
        vec![shell.to_string()]
    };
    let tty = std::io::stdin().is_terminal();
    let params = AttachParams::default()
        .container(CONTAINER)
        .stdin(true)
        .stdout(true)
        .stderr(!tty)
        .tty(tty);
    eprintln!(
        "shell in session {} (pod {}, profile {}{}); exit to leave",
        s.id,
        s.pod,
        s.profile.map(|p| p.name()).unwrap_or("?"),
        if s.share_netns {
            ", in the target's network namespace"
        } else {
            ""
        }
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
    let input = tokio::spawn(pump_stdin(remote_in));
    let mut stdout = tokio::io::stdout();
    let _ = tokio::io::copy(&mut remote_out, &mut stdout).await;
    let _ = stdout.flush().await;
    input.abort();
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
