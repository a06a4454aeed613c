//! `kubectl certs backup NAME [-f DIR]`.

use std::io::Write;
use std::process::ExitCode;

use shared::output::write_str;

use crate::backup;
use crate::cli::BackupArgs;
use crate::model;

/// Runs `backup`.
pub async fn run(
    args: &BackupArgs,
    global: &shared::cli::GlobalArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let (config, conn, scope) = super::setup(global, false).await?;
    let entry = model::resolve(
        &conn.client,
        &config.config,
        &scope,
        std::slice::from_ref(&args.name),
    )
    .await?
    .remove(0);
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| backup::default_dir(&config.config, &entry));
    let manifest = backup::write(&entry, &config.config, &dir).await?;
    for f in &manifest.files {
        eprintln!(
            "backed up {} {} -> {}",
            f.kind,
            f.name,
            dir.join(&f.file).display()
        );
    }
    eprintln!("restore with: {}", manifest.restore_command);
    write_str(out, &format!("{}\n", dir.display()))?;
    Ok(ExitCode::SUCCESS)
}
