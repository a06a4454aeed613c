//! Developer tasks for kubectl-ops (`cargo xtask ...`): release archives, krew manifests,
//! man pages and completion scripts. Library so that tests can call the same code.

pub mod dist;
pub mod docs;
pub mod krew;
