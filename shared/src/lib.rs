//! Common ground of the kubectl-ops plugins (`kubectl certs`, `kubectl rflush`,
//! `kubectl debugpod`).
//!
//! Every concern that more than one plugin has lives here and only here:
//! - [`cluster`]: kubectl-style cluster flags and a [`kube::Client`] built from them,
//! - [`config`]: the typed suite configuration with the runbook's defaults embedded,
//! - [`output`]: `-o table|wide|json|yaml|name` printing, kubectl-looking tables,
//! - [`color`]: one colour decision per process (`NO_COLOR`, TTY detection),
//! - [`prompt`]: confirmations that refuse to guess when stdin is not a terminal,
//! - [`error`] and [`exit`]: the error type, hints, exit codes and the binaries' edge,
//! - [`duration`] and [`suggest`]: small parsers and "did you mean" helpers,
//! - [`portforward`]: reaching a pod's port through the Kubernetes API,
//! - [`rbac`]: printing the minimal Roles each command needs,
//! - [`fleet`]: one command across several kubeconfig contexts (`--context a,b`, `--all-contexts`),
//! - [`paging`]: LISTs read in pages (`--chunk-size`), relisting once on an expired token.

// Linux and macOS only (std::os::unix, SIGWINCH): one clear message instead of errors deep
// inside the plugins. The release platforms are listed in xtask/src/dist.rs.
#[cfg(not(unix))]
compile_error!("kubectl-ops builds for Linux and macOS only; Windows is not supported");

pub mod cli;
pub mod cluster;
pub mod color;
pub mod completion;
pub mod config;
pub mod duration;
pub mod error;
pub mod exit;
pub mod fleet;
pub mod kube_client;
pub mod output;
pub mod paging;
pub mod portforward;
pub mod prompt;
pub mod rbac;
pub mod suggest;

pub use error::{Error, Result};
