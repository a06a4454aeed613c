//! Integration and end-to-end tests of kubectl-ops, and the helpers they share.

pub mod bins;
pub mod certs;
pub mod fixtures;
pub mod fleet;
pub mod proxy;
pub mod sandbox;

pub use bins::{bin_path, output_text, plugin};
