//! `capture`: tcpdump inside the target's network namespace, streamed over `pods/exec` into a
//! local pcap file (or stdout, for `wireshark -k -i -`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use shared::Error;
use tokio::io::AsyncWrite;

use super::{Ctx, acquire, with_session};
use crate::cli::SessionArgs;
use crate::profile::Profile;
use crate::session::SessionKind;
use crate::{nsenter, pcap, remote};

/// What to capture.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// Output file, `-` = stdout.
    pub file: PathBuf,
    /// tcpdump filter.
    pub filter: String,
    /// Duration.
    pub duration: Duration,
    /// Packet count limit.
    pub count: Option<u64>,
    /// Interface.
    pub interface: String,
}

/// The tcpdump command line (run inside the target's netns).
pub fn tcpdump_args(opts: &CaptureOptions) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "timeout".into(),
        opts.duration.as_secs().max(1).to_string(),
        "tcpdump".into(),
        "-i".into(),
        opts.interface.clone(),
        "-U".into(),
        "-n".into(),
        "-w".into(),
        "-".into(),
    ];
    if let Some(c) = opts.count {
        args.extend(["-c".into(), c.to_string()]);
    }
    if !opts.filter.trim().is_empty() {
        args.push(opts.filter.clone());
    }
    args
}

/// Runs `capture`.
pub async fn run(
    ctx: &Ctx,
    target: &str,
    opts: &CaptureOptions,
    args: &SessionArgs,
    keep: bool,
) -> anyhow::Result<ExitCode> {
    let auto_ttl = opts.duration + Duration::from_secs(300);
    let acquired = acquire(ctx, target, args, Profile::Netadmin, true, Some(auto_ttl)).await?;
    // A copy and a node session capture where they are: the copy's own, or the host's, netns.
    let in_place = acquired.session.kind != SessionKind::Pod;
    if !in_place
        && !acquired
            .session
            .profile
            .is_some_and(Profile::can_enter_netns)
    {
        return Err(Error::invalid(
            format!("session {} cannot enter the target's network namespace (profile {})", acquired.session.id, acquired.session.profile.map(|p| p.name()).unwrap_or("?")),
            format!("capture with `--profile netadmin` and the target's name: `kubectl debugpod capture {} --profile netadmin`", acquired.target.name),
        )
        .into());
    }
    let body = async {
        let cmd = if in_place {
            tcpdump_args(opts)
        } else {
            nsenter::in_target_netns(&acquired.target, None, &tcpdump_args(opts))
        };
        let to_stdout = opts.file.as_os_str() == "-";
        eprintln!(
            "capturing on {} in pod {}'s network namespace for {}s{} → {}",
            opts.interface,
            acquired.target.name,
            opts.duration.as_secs(),
            if opts.filter.is_empty() {
                String::new()
            } else {
                format!(" (filter: {})", opts.filter)
            },
            if to_stdout {
                "stdout".to_string()
            } else {
                opts.file.display().to_string()
            }
        );
        let mut sink: Box<dyn AsyncWrite + Unpin + Send> = if to_stdout {
            Box::new(tokio::io::stdout())
        } else {
            Box::new(
                tokio::fs::File::create(&opts.file)
                    .await
                    .with_context(|| format!("cannot create {}", opts.file.display()))?,
            )
        };
        let (bytes, code) = remote::stream_to(
            &ctx.pods(),
            &acquired.session.pod,
            &acquired.session.container,
            cmd,
            &mut sink,
        )
        .await?;
        drop(sink);
        // timeout ends tcpdump with TERM: 124/143 are the normal end of a timed capture.
        if !matches!(code, Some(0 | 124 | 143)) {
            return Err(Error::invalid(
                format!(
                    "tcpdump failed in session {} (exit {:?}) after {bytes} bytes",
                    acquired.session.id, code
                ),
                "check the filter expression, and that the debug image has tcpdump",
            )
            .into());
        }
        if !to_stdout {
            let data = tokio::fs::read(&opts.file)
                .await
                .with_context(|| format!("cannot read back {}", opts.file.display()))?;
            match pcap::summarize(&data) {
                Some(s) => eprintln!(
                    "wrote {} packets ({bytes} bytes, link type {} {}) to {}",
                    s.packets,
                    s.link_type,
                    pcap::link_name(s.link_type),
                    opts.file.display()
                ),
                None => {
                    return Err(anyhow::anyhow!(
                        "{} is not a valid pcap ({bytes} bytes received)",
                        opts.file.display()
                    ));
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    };
    with_session(ctx, &acquired, keep, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcpdump_streams_unbuffered_pcap_with_a_time_limit() {
        let opts = CaptureOptions {
            file: "x".into(),
            filter: "tcp port 8080".into(),
            duration: Duration::from_secs(30),
            count: Some(10),
            interface: "any".into(),
        };
        assert_eq!(
            tcpdump_args(&opts),
            [
                "timeout",
                "30",
                "tcpdump",
                "-i",
                "any",
                "-U",
                "-n",
                "-w",
                "-",
                "-c",
                "10",
                "tcp port 8080"
            ]
        );
    }
}
