//! One colour decision per process and stream: `NO_COLOR` (non-empty) disables colour,
//! `FORCE_COLOR`/`CLICOLOR_FORCE` (non-empty, not `0`) forces it, otherwise colour only on a
//! terminal whose `TERM` is not `dumb`. Output must read the same without colour, so colour
//! only ever decorates text that already says what it means.

use std::io::IsTerminal;
use std::sync::OnceLock;

use owo_colors::OwoColorize;

/// Where text is going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Data.
    Stdout,
    /// Diagnostics.
    Stderr,
}

/// What a piece of text means; each tone has one colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Healthy / done (green).
    Good,
    /// Needs attention (yellow).
    Warn,
    /// Broken / critical (red).
    Bad,
    /// Less important (dimmed).
    Dim,
    /// Emphasis (bold).
    Strong,
    /// Headings and commands to run (cyan).
    Accent,
}

/// The environment facts the decision is made from.
#[derive(Debug, Clone, Copy, Default)]
pub struct ColorEnv<'a> {
    /// `NO_COLOR`.
    pub no_color: Option<&'a str>,
    /// `FORCE_COLOR` or `CLICOLOR_FORCE`.
    pub force_color: Option<&'a str>,
    /// `TERM`.
    pub term: Option<&'a str>,
    /// Whether the stream is a terminal.
    pub is_terminal: bool,
}

/// Decides whether to colour a stream (pure, so it can be tested).
pub fn decide(env: ColorEnv<'_>) -> bool {
    if env.no_color.is_some_and(|v| !v.is_empty()) {
        return false;
    }
    if env.force_color.is_some_and(|v| !v.is_empty() && v != "0") {
        return true;
    }
    env.is_terminal && env.term != Some("dumb")
}

static DECISION: OnceLock<(bool, bool)> = OnceLock::new();

fn decision() -> (bool, bool) {
    *DECISION.get_or_init(|| {
        let no_color = std::env::var("NO_COLOR").ok();
        let force = std::env::var("FORCE_COLOR")
            .ok()
            .or_else(|| std::env::var("CLICOLOR_FORCE").ok());
        let term = std::env::var("TERM").ok();
        let for_stream = |is_terminal| {
            decide(ColorEnv {
                no_color: no_color.as_deref(),
                force_color: force.as_deref(),
                term: term.as_deref(),
                is_terminal,
            })
        };
        (
            for_stream(std::io::stdout().is_terminal()),
            for_stream(std::io::stderr().is_terminal()),
        )
    })
}

/// Whether text written to `stream` is coloured in this process.
pub fn enabled(stream: Stream) -> bool {
    let (out, err) = decision();
    match stream {
        Stream::Stdout => out,
        Stream::Stderr => err,
    }
}

/// Colours `text` with `tone` if `stream` gets colour, else returns it unchanged.
pub fn paint(stream: Stream, tone: Tone, text: impl std::fmt::Display) -> String {
    if !enabled(stream) {
        return text.to_string();
    }
    apply(tone, text)
}

/// Colours unconditionally (for callers that made the decision already).
pub fn apply(tone: Tone, text: impl std::fmt::Display) -> String {
    match tone {
        Tone::Good => text.green().to_string(),
        Tone::Warn => text.yellow().to_string(),
        Tone::Bad => text.red().to_string(),
        Tone::Dim => text.dimmed().to_string(),
        Tone::Strong => text.bold().to_string(),
        Tone::Accent => text.cyan().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_wins_over_everything() {
        let env = ColorEnv {
            no_color: Some("1"),
            force_color: Some("1"),
            term: None,
            is_terminal: true,
        };
        assert!(!decide(env));
    }

    #[test]
    fn empty_no_color_is_ignored() {
        let env = ColorEnv {
            no_color: Some(""),
            is_terminal: true,
            ..Default::default()
        };
        assert!(decide(env));
    }

    #[test]
    fn terminal_decides_unless_forced_or_dumb() {
        assert!(!decide(ColorEnv {
            is_terminal: false,
            ..Default::default()
        }));
        assert!(decide(ColorEnv {
            force_color: Some("1"),
            ..Default::default()
        }));
        assert!(!decide(ColorEnv {
            force_color: Some("0"),
            ..Default::default()
        }));
        assert!(!decide(ColorEnv {
            term: Some("dumb"),
            is_terminal: true,
            ..Default::default()
        }));
    }

    #[test]
    fn apply_adds_ansi_and_keeps_text() {
        let s = apply(Tone::Bad, "expired");
        assert!(s.contains("\u{1b}[31m") && s.contains("expired"), "{s:?}");
    }
}
