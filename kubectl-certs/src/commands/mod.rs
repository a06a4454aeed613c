//! The subcommands of `kubectl certs`.

pub mod backup;
pub mod check;
pub mod list;
pub mod rbac;
pub mod restore;
pub mod rotate;
pub mod validate;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use shared::cluster::{Connection, NamespaceScope};
use shared::config::LoadedConfig;

use crate::chain::Cert;
use crate::cli::{Cli, Command, SourceArgs};
use crate::model::{Entry, Origin};
use crate::scan::{self, Rows, Scanned};
use crate::sources;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    let g = &cli.global;
    // Commands that connect refuse a fleet themselves; these read no kubeconfig at all.
    if matches!(
        cli.command,
        Command::Config(_) | Command::Completion(_) | Command::Rbac(_)
    ) {
        shared::fleet::refuse_fleet(&g.cluster, "this command")?;
    }
    match &cli.command {
        Command::Config(cmd) => Ok(cmd.run(g, &mut stdout)?),
        Command::Completion(args) => {
            shared::completion::print_script(
                <crate::cli::Cli as clap::CommandFactory>::command(),
                args.shell,
                &mut stdout,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rbac(args) => rbac::run(args, g, &mut stdout),
        Command::List(args) => list::run(args, g, &mut stdout).await,
        Command::Check(args) => check::run(args, g, &mut stdout).await,
        Command::Validate(args) => validate::run(args, g, &mut stdout).await,
        Command::Backup(args) => backup::run(args, g, &mut stdout).await,
        Command::Restore(args) => restore::run(args, g, &mut stdout).await,
        Command::Rotate(args) => rotate::run(args, g, &mut stdout).await,
    }
}

/// Config, connection and namespace scope, the start of every cluster command.
pub async fn setup(
    global: &shared::cli::GlobalArgs,
    all_namespaces: bool,
) -> anyhow::Result<(LoadedConfig, Connection, NamespaceScope)> {
    let config = global.load_config()?;
    let conn = global.connect().await?;
    let scope = global.namespace_scope(all_namespaces, &conn, &config);
    Ok((config, conn, scope))
}

/// Reads `--ca-file` as trust anchors.
pub fn load_ca_file(path: Option<&Path>) -> anyhow::Result<Vec<Cert>> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read --ca-file {}", path.display()))?;
    let (certs, problems) = crate::findings::parse_certs(&bytes);
    if certs.is_empty() || !problems.is_empty() {
        return Err(shared::Error::invalid(
            format!(
                "--ca-file {}: {}",
                path.display(),
                problems
                    .first()
                    .map(String::as_str)
                    .unwrap_or("no certificate")
            ),
            "pass a PEM file of CA certificates",
        )
        .into());
    }
    Ok(certs)
}

/// Requires a single namespace for commands that take names.
pub fn one_namespace(scope: &NamespaceScope, what: &str) -> anyhow::Result<String> {
    match scope {
        NamespaceScope::One(ns) => Ok(ns.clone()),
        NamespaceScope::All => Err(shared::Error::Usage {
            message: format!(
                "{what} takes names in one namespace; -A cannot be combined with names"
            ),
            hint: Some("pick the namespace with -n NAMESPACE".into()),
        }
        .into()),
    }
}

/// Every certificate in `scope` that `--source`/`--include-opaque` ask for, each made into a row
/// by `grade` as soon as it is read, the rows `list` and `check` print: the inventory
/// (Certificates, then TLS Secrets page by page, see [`scan`]; without a selector also the
/// config's named certificates whose Secret is missing), kept where the selection wants the
/// row's source, then the other sources. The two commands differ only in the row.
#[allow(clippy::too_many_arguments)]
pub async fn graded_rows<R, F>(
    global: &shared::cli::GlobalArgs,
    conn: &Connection,
    config: &shared::config::Config,
    scope: &NamespaceScope,
    selector: Option<&str>,
    source_args: &SourceArgs,
    chunk_size: u32,
    grade: F,
    source_of: impl Fn(&R) -> Origin,
) -> anyhow::Result<(Vec<R>, Scanned)>
where
    R: Send,
    F: Fn(&Entry) -> R + Sync,
{
    let selection = sources::Selection::new(
        &source_args.sources,
        source_args.include_opaque,
        scope,
        selector,
    )?;
    let mut rows = Rows::new(&grade);
    let mut scanned = Scanned::default();
    if selection.wants_inventory() {
        scanned = scan::scan(
            &conn.client,
            scope,
            selector,
            config,
            selector.is_none(),
            chunk_size,
            &mut rows,
        )
        .await?;
    }
    let mut rows = rows.finish();
    rows.retain(|r| selection.wants(source_of(r)));
    let others = sources::collect_for(global, conn, scope, selector, &selection).await;
    rows.extend(others.iter().map(&grade));
    Ok((rows, scanned))
}
