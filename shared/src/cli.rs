//! What every binary's command line shares: the global flags, the `config` subcommand and
//! the async entry point.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::cluster::{ClusterArgs, Connection, NamespaceScope};
use crate::config::{ConfigArgs, DEFAULT_CONFIG_YAML, LoadedConfig};
use crate::error::Result;
use crate::output::{OutputFormat, print_structured, structured_formats, write_str};

/// The `--help` heading of the flags every command accepts (`--config` and kubectl's
/// `--kubeconfig`, `--context`, `-n`, `--as`, ...), shown after the command's own options.
pub const GLOBAL_HEADING: &str = "Global options";

/// Global flags: cluster access like kubectl, and `--config`.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// Cluster access.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Configuration file.
    #[command(flatten)]
    pub config: ConfigArgs,
}

impl GlobalArgs {
    /// Loads the suite configuration (defaults plus override file).
    pub fn load_config(&self) -> Result<LoadedConfig> {
        self.config.load()
    }

    /// Connects to the cluster.
    pub async fn connect(&self) -> Result<Connection> {
        self.cluster.connect().await
    }

    /// The namespace scope: `-A`, `-n`, the context's namespace, the config's, `default`.
    pub fn namespace_scope(
        &self,
        all_namespaces: bool,
        conn: &Connection,
        config: &LoadedConfig,
    ) -> NamespaceScope {
        self.cluster.namespace_scope(
            all_namespaces,
            Some(&conn.kubeconfig),
            Some(&config.config.namespace),
        )
    }
}

/// `config`: show the effective configuration.
#[derive(Debug, Clone, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (embedded defaults merged with the override file).
    View {
        /// Print the embedded defaults instead (as YAML with their comments, or as JSON).
        #[arg(long)]
        defaults: bool,
        /// Output format (yaml or json; `-o name|table|wide` is a usage error).
        #[arg(
            short = 'o',
            long = "output",
            value_name = "FORMAT",
            default_value = "yaml",
            value_parser = structured_formats()
        )]
        output: OutputFormat,
    },
    /// Print which override file is used, if any.
    Path,
}

impl ConfigCommand {
    /// Runs the subcommand, writing to `out`.
    pub fn run(&self, global: &GlobalArgs, out: &mut dyn Write) -> Result<ExitCode> {
        match self {
            // The defaults as written, with their comments; as JSON they are the parsed values.
            ConfigCommand::View {
                defaults: true,
                output: OutputFormat::Yaml,
            } => write_str(out, DEFAULT_CONFIG_YAML)?,
            ConfigCommand::View {
                defaults: true,
                output,
            } => print_structured(out, *output, &crate::config::Config::default())?,
            ConfigCommand::View {
                defaults: false,
                output,
            } => {
                let loaded = global.load_config()?;
                print_structured(out, *output, &loaded.config)?;
            }
            ConfigCommand::Path => {
                let loaded = global.load_config()?;
                match loaded.source {
                    Some(path) => write_str(out, &format!("{}\n", path.display()))?,
                    None => {
                        write_str(out, "")?;
                        eprintln!("no override file; using the embedded defaults");
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Runs an async command on a multi-threaded runtime and ends `main` with its result.
pub fn block_on<F, E>(future: F) -> ExitCode
where
    F: std::future::Future<Output = std::result::Result<ExitCode, E>>,
    E: AsRef<dyn std::error::Error + Send + Sync + 'static>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => return crate::exit::report(&err),
    };
    crate::exit::finish(runtime.block_on(future))
}
