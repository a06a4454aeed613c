//! `kubectl rflush list`: the cache types of the configuration.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;
use shared::cli::GlobalArgs;
use shared::output::{Printable, print_list};

use crate::cli::ListArgs;

/// One cache type as printed.
#[derive(Debug, Serialize)]
pub struct CacheTypeRow {
    /// Name.
    pub name: String,
    /// Pattern.
    pub pattern: String,
    /// Backed up before flushing.
    pub backup: bool,
    /// Description.
    pub description: String,
}

impl Printable for CacheTypeRow {
    const KIND: &'static str = "CacheType";
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["name", "pattern", "backup", "description"]
    }
    fn row(&self, _wide: bool) -> Vec<String> {
        vec![
            self.name.clone(),
            self.pattern.clone(),
            if self.backup { "yes" } else { "no" }.into(),
            self.description.clone(),
        ]
    }
    fn name(&self) -> String {
        self.name.clone()
    }
}

/// Runs `list`.
pub fn run(global: &GlobalArgs, args: &ListArgs, out: &mut dyn Write) -> Result<ExitCode> {
    let loaded = global.load_config()?;
    let rows: Vec<CacheTypeRow> = loaded
        .config
        .cache_types
        .iter()
        .map(|c| CacheTypeRow {
            name: c.name.clone(),
            pattern: c.pattern.clone(),
            backup: c.backup,
            description: c.description.clone(),
        })
        .collect();
    if rows.is_empty() {
        eprintln!("No cache types configured (cache_types in the config file).");
    }
    print_list(out, args.output.output, &rows)?;
    Ok(ExitCode::SUCCESS)
}
