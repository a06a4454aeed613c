//! The subcommands of `kubectl rflush`, and what several of them share.

pub mod analyze;
pub mod backup;
pub mod count;
pub mod flush;
pub mod list;
pub mod rbac;
pub mod restore;
pub mod stats;
pub mod watch;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;
use shared::Error;
use shared::config::{CacheType, Config};
use shared::output::{OutputFormat, print_structured, write_str};

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut stdout = std::io::stdout().lock();
    // Commands that connect refuse a fleet themselves; these read no kubeconfig at all.
    if matches!(
        cli.command,
        Command::Config(_) | Command::Completion(_) | Command::List(_) | Command::Rbac(_)
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
        Command::List(args) => list::run(&cli.global, args, &mut stdout),
        Command::Stats(args) => stats::run(&cli.global, &cli.redis, args, &mut stdout).await,
        Command::Count(args) => count::run(&cli.global, &cli.redis, args, &mut stdout).await,
        Command::Analyze(args) => analyze::run(&cli.global, &cli.redis, args, &mut stdout).await,
        Command::Flush(args) => flush::run(&cli.global, &cli.redis, args, &mut stdout).await,
        Command::Backup(args) => backup::run(&cli.global, &cli.redis, args, &mut stdout).await,
        Command::Restore(args) => restore::run(&cli.global, &cli.redis, args, &mut stdout).await,
        Command::Rbac(args) => rbac::run(&cli.global, args, &mut stdout),
    }
}

/// What a `TYPE|PATTERN` argument names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The SCAN pattern.
    pub pattern: String,
    /// The cache type, when one was named.
    pub cache_type: Option<CacheType>,
}

impl Selection {
    /// A short name for files: the type name or a sanitised pattern.
    pub fn file_stem(&self) -> String {
        match &self.cache_type {
            Some(t) => t.name.clone(),
            None => {
                let s: String = self
                    .pattern
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let s = s.trim_matches('_').to_string();
                if s.is_empty() {
                    "all".into()
                } else {
                    s.chars().take(40).collect()
                }
            }
        }
    }
}

fn unknown_type(config: &Config, name: &str) -> Error {
    let names: Vec<&str> = config.cache_types.iter().map(|c| c.name.as_str()).collect();
    Error::NotFound {
        kind: "cache type",
        name: name.to_string(),
        namespace: None,
        suggestions: shared::suggest::close_matches(name, names.iter().copied()),
        list_hint: Some(format!(
            "known cache types: {}; or select keys by pattern with -p 'user:*'",
            names.join(", ")
        )),
    }
}

/// A cache type by name, or a pattern (anything with glob characters or a `:`).
pub fn select(config: &Config, what: &str) -> Result<Selection, Error> {
    if let Some(t) = config.cache_type(what) {
        return Ok(Selection {
            pattern: t.pattern.clone(),
            cache_type: Some(t.clone()),
        });
    }
    if what.contains(['*', '?', '[', ':']) {
        return select_pattern(what);
    }
    Err(unknown_type(config, what))
}

/// The keys a command works on, in the grammar every key-selecting command shares: a cache
/// `TYPE`, or `-p PATTERN` (clap makes them exclusive and one of them required). A glob given
/// as `TYPE` is taken as a pattern, as `count` and `backup` always did.
pub fn select_keys(
    config: &Config,
    what: Option<&str>,
    pattern: Option<&str>,
) -> Result<Selection, Error> {
    match (what, pattern) {
        (_, Some(p)) => select_pattern(p),
        (Some(w), None) => select(config, w),
        (None, None) => Err(Error::Usage {
            message: "name a cache type or give -p PATTERN".into(),
            hint: Some("see `kubectl rflush list` for the cache types".into()),
        }),
    }
}

/// `flush TYPE`: a cache type by name only. A pattern there is refused, not guessed, so a
/// typo cannot widen what is deleted; patterns take `-p`.
pub fn select_flush_type(config: &Config, name: &str) -> Result<Selection, Error> {
    if config.cache_type(name).is_none() && name.contains(['*', '?', '[', ':']) {
        return Err(Error::Usage {
            message: format!("{name:?} is not a cache type; `flush` takes a pattern only with -p"),
            hint: Some(format!("kubectl rflush flush -p {}", shell_quote(name))),
        });
    }
    select_type(config, name)
}

/// A cache type by name only.
pub fn select_type(config: &Config, name: &str) -> Result<Selection, Error> {
    config
        .cache_type(name)
        .map(|t| Selection {
            pattern: t.pattern.clone(),
            cache_type: Some(t.clone()),
        })
        .ok_or_else(|| unknown_type(config, name))
}

/// A validated pattern.
pub fn select_pattern(pattern: &str) -> Result<Selection, Error> {
    crate::glob::validate(pattern).map_err(|m| Error::Usage {
        message: m,
        hint: Some("Redis glob syntax: * ? [abc] [^a] \\x".into()),
    })?;
    Ok(Selection {
        pattern: pattern.to_string(),
        cache_type: None,
    })
}

/// `BACKUP_DIR/rflush-NAME-20261101T031500Z.rfb`.
pub fn default_backup_path(dir: &Path, stem: &str) -> PathBuf {
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    dir.join(format!("rflush-{stem}-{stamp}.rfb"))
}

/// Prints a one-line summary on stdout, or the structured form for `-o json|yaml`.
pub fn print_summary<T: Serialize>(
    out: &mut dyn std::io::Write,
    format: OutputFormat,
    line: &str,
    value: &T,
) -> Result<()> {
    if format.is_structured() {
        print_structured(out, format, value)?;
    } else {
        write_str(out, &format!("{line}\n"))?;
    }
    Ok(())
}

/// Thousands separators: 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A key for humans: printable ASCII as is, anything else escaped (`\n`, `\x00`).
pub fn show_key(key: &[u8]) -> String {
    let mut s = String::new();
    for &b in key {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// Quotes an argument for a POSIX shell.
pub fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+%".contains(&b))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Seconds as `3.2 s`.
pub fn secs(d: std::time::Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_types_and_patterns() {
        let config = Config::default();
        let s = select(&config, "market-data").unwrap();
        assert_eq!(s.pattern, "market:data:*");
        assert_eq!(s.file_stem(), "market-data");
        let s = select(&config, "user:*").unwrap();
        assert_eq!(s.cache_type, None);
        assert_eq!(s.file_stem(), "user");
        let err = select(&config, "market-dta").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("did you mean \"market-data\""), "{text}");
        assert!(
            err.hint()
                .unwrap()
                .contains("known cache types: market-data, news-data")
        );
        assert!(select(&config, "a[b").is_err());
        assert_eq!(select_pattern("*").unwrap().file_stem(), "all");
    }

    #[test]
    fn formatting_helpers() {
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(show_key(b"a b\n\"\x00\xff"), "a b\\n\\\"\\x00\\xff");
        assert_eq!(shell_quote("user:*"), "'user:*'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("--yes"), "--yes");
    }
}
