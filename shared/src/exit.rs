//! The binaries' edge: print an error once, as `error: <chain>` plus `hint: <what to do>`,
//! and map it to an exit code. A closed stdout (`| head`) is not an error.
//!
//! Exit codes shared by every plugin: 0 ok, 1 failure, 2 usage error (clap uses 2 too).
//! Commands with graded results (e.g. `certs check`) document their own codes ≥ 3.

use std::error::Error as StdError;
use std::io::Write;
use std::process::ExitCode;

use crate::color::{Stream, Tone, paint};
use crate::error::Error;

/// Exit code for a failure.
pub const FAILURE: u8 = 1;
/// Exit code for a usage error.
pub const USAGE: u8 = 2;

/// The message of one link of an error chain, with Kubernetes API errors shown as the
/// server's message rather than kube's debug dump.
fn link_message(err: &(dyn StdError + 'static)) -> String {
    if let Some(kube::Error::Api(status)) = err.downcast_ref::<kube::Error>() {
        return status.message.clone();
    }
    err.to_string()
}

/// Walks the chain: `a: b: c`, skipping a link whose text the previous one already contains.
pub fn render_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        let msg = link_message(e);
        if !msg.is_empty() && !parts.last().is_some_and(|p| p.contains(&msg)) {
            parts.push(msg);
        }
        // An API error's only source is the Status it already showed.
        if matches!(e.downcast_ref::<kube::Error>(), Some(kube::Error::Api(_))) {
            break;
        }
        next = e.source();
    }
    parts.join(": ")
}

/// The first hint found along the chain.
pub fn find_hint(err: &(dyn StdError + 'static)) -> Option<String> {
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(hint) = e.downcast_ref::<Error>().and_then(Error::hint) {
            return Some(hint);
        }
        if let Some(hint) = e
            .downcast_ref::<kube::Error>()
            .and_then(crate::error::kube_hint)
        {
            return Some(hint);
        }
        next = e.source();
    }
    None
}

/// True when the failure is only that the reader of stdout went away.
pub fn is_broken_pipe(err: &(dyn StdError + 'static)) -> bool {
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// The exit code an error maps to.
pub fn exit_code_for(err: &(dyn StdError + 'static)) -> u8 {
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(Error::Usage { .. }) = e.downcast_ref::<Error>() {
            return USAGE;
        }
        next = e.source();
    }
    FAILURE
}

/// Formats the error report (without colour): `error: ...` and maybe `hint: ...`.
pub fn format_report(err: &(dyn StdError + 'static)) -> String {
    let mut text = format!("error: {}\n", render_chain(err));
    if let Some(hint) = find_hint(err) {
        text.push_str(&format!("hint: {hint}\n"));
    }
    text
}

/// Prints the error to stderr once and returns its exit code (0 for a broken pipe).
pub fn report(err: &(dyn StdError + 'static)) -> ExitCode {
    if is_broken_pipe(err) {
        return ExitCode::SUCCESS;
    }
    let mut text = format!(
        "{} {}\n",
        paint(Stream::Stderr, Tone::Bad, "error:"),
        render_chain(err)
    );
    if let Some(hint) = find_hint(err) {
        text.push_str(&format!(
            "{} {hint}\n",
            paint(Stream::Stderr, Tone::Accent, "hint:")
        ));
    }
    let _ = std::io::stderr().write_all(text.as_bytes());
    ExitCode::from(exit_code_for(err))
}

/// Ends `main`: the command's own exit code, or the error reported once.
pub fn finish<E>(result: Result<ExitCode, E>) -> ExitCode
where
    E: AsRef<dyn StdError + Send + Sync + 'static>,
{
    match result {
        Ok(code) => code,
        Err(err) => {
            let err: &(dyn StdError + Send + Sync + 'static) = err.as_ref();
            report(err)
        }
    }
}

/// Prints a `warning:` line on stderr.
pub fn warn(message: impl std::fmt::Display) {
    eprintln!(
        "{} {message}",
        paint(Stream::Stderr, Tone::Warn, "warning:")
    );
}

/// Prints a `hint:` line on stderr.
pub fn hint(message: impl std::fmt::Display) {
    eprintln!("{} {message}", paint(Stream::Stderr, Tone::Accent, "hint:"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("flush market-data")]
    struct Outer(#[source] Error);

    #[test]
    fn chain_and_hint_print_once() {
        let err = Outer(Error::NeedsConfirmation {
            action: "flush 10 keys".into(),
        });
        let report = format_report(&err);
        assert_eq!(
            report,
            "error: flush market-data: refusing to flush 10 keys without confirmation: stdin is not a terminal\n\
             hint: re-run with --yes to confirm, or --dry-run to see what would happen\n"
        );
    }

    #[test]
    fn not_found_names_the_namespace_once_and_suggests() {
        let err = Error::NotFound {
            kind: "pod",
            name: "api-gatway".into(),
            namespace: Some("market-intel-brain".into()),
            suggestions: vec!["api-gateway".into()],
            list_hint: Some("list candidate targets with `kubectl debugpod list`".into()),
        };
        assert_eq!(
            format_report(&err),
            "error: pod \"api-gatway\" in namespace \"market-intel-brain\" not found (did you mean \"api-gateway\"?)\n\
             hint: list candidate targets with `kubectl debugpod list`\n"
        );
    }

    #[test]
    fn kube_api_errors_show_the_server_message() {
        let status = kube::core::Status::failure(
            r#"secrets is forbidden: User "bob" cannot list resource "secrets""#,
            "Forbidden",
        )
        .with_code(403);
        let err = Error::kube(
            "list secrets in namespace \"x\"",
            kube::Error::Api(Box::new(status)),
        );
        let report = format_report(&err);
        assert!(
            report.starts_with(
            "error: list secrets in namespace \"x\": secrets is forbidden: User \"bob\" cannot list resource \"secrets\"\n"
            ),
            "{report}"
        );
        assert!(
            report.contains("hint: your user lacks the permission"),
            "{report}"
        );
    }

    #[test]
    fn a_failed_step_shows_its_own_hint_else_the_one_along_its_source() {
        let cause = || -> Box<dyn StdError + Send + Sync> {
            Box::new(Error::invalid("the CA refused", "check the Issuer"))
        };
        let err = Error::failed(
            "ns/web-tls rolled back",
            Some("fix the cause and re-run".into()),
            Some(cause()),
        );
        assert_eq!(
            format_report(&err),
            "error: ns/web-tls rolled back: the CA refused\nhint: fix the cause and re-run\n"
        );
        let err = Error::failed("ns/web-tls", None, Some(cause()));
        assert_eq!(
            format_report(&err),
            "error: ns/web-tls: the CA refused\nhint: check the Issuer\n"
        );
    }

    #[test]
    fn broken_pipe_is_detected_through_the_chain() {
        let err = Error::Output(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&Error::Output(std::io::Error::other(
            "disk full"
        ))));
    }

    #[test]
    fn usage_errors_exit_2() {
        assert_eq!(
            exit_code_for(&Error::Usage {
                message: "x".into(),
                hint: None
            }),
            USAGE
        );
        assert_eq!(exit_code_for(&Error::invalid("x", "y")), FAILURE);
    }
}
