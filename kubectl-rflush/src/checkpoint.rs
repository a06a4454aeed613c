//! The resume checkpoint of a flush: pattern, backup file and each node's SCAN cursor,
//! rewritten atomically while the flush runs and removed when it completes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::engine::NodeCursor;

/// What `flush --resume FILE` needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Always `kubectl-rflush-checkpoint/v1`.
    pub kind: String,
    /// The SCAN pattern.
    pub pattern: String,
    /// The cache type, if one was named.
    pub cache_type: Option<String>,
    /// The backup file being appended to, if any.
    pub backup_file: Option<PathBuf>,
    /// Where the flush ran.
    pub address: String,
    /// Keys deleted before this checkpoint (all runs).
    pub deleted: u64,
    /// Per node cursors.
    pub nodes: Vec<NodeCursor>,
    /// For a spread flush (`--spread`): the window end, kept when resuming, and its counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<crate::spread::Saved>,
}

/// The kind string.
pub const KIND: &str = "kubectl-rflush-checkpoint/v1";

impl Checkpoint {
    /// Writes atomically (temp file + rename), mode 0600.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_vec_pretty(self)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options
            .open(&tmp)
            .with_context(|| format!("write checkpoint {}", tmp.display()))?;
        std::io::Write::write_all(&mut f, &text)?;
        f.sync_data()?;
        std::fs::rename(&tmp, path).with_context(|| format!("write checkpoint {}", path.display()))
    }

    /// Reads and checks a checkpoint file.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read(path).with_context(|| format!("read checkpoint {}", path.display()))?;
        let cp: Checkpoint = serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a kubectl-rflush checkpoint", path.display()))?;
        if cp.kind != KIND {
            anyhow::bail!("{} is a {:?} file, not {KIND}", path.display(), cp.kind);
        }
        Ok(cp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let cp = Checkpoint {
            kind: KIND.into(),
            pattern: "a:*".into(),
            cache_type: None,
            backup_file: Some("b.rfb".into()),
            address: "redis://x".into(),
            deleted: 5,
            nodes: vec![NodeCursor {
                node: "n".into(),
                cursor: 12345,
                done: false,
                run_id: "r".into(),
            }],
            spread: Some(crate::spread::Saved {
                deadline_ms: 1_800_000_000_000,
                window_ms: 600_000,
                expiring: 5,
                kept: 1,
            }),
        };
        cp.save(&path).unwrap();
        assert_eq!(Checkpoint::load(&path).unwrap(), cp);
        // A checkpoint of a plain flush (written before --spread existed) still loads.
        let plain = Checkpoint { spread: None, ..cp };
        plain.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("spread"), "{text}");
        assert_eq!(Checkpoint::load(&path).unwrap(), plain);
        std::fs::write(&path, "{}").unwrap();
        assert!(Checkpoint::load(&path).is_err());
    }
}
