//! One integration-test binary for the whole suite (ripgrep-style): each module runs the
//! real executables. Modules named `*_e2e`/`sandbox_*` need the sandbox and are `#[ignore]`d
//! unless run with `--include-ignored` after `tests/sandbox/sandbox up`.

mod certs_e2e;
mod certs_scale_e2e;
mod certs_sources_e2e;
mod cli;
mod debugpod_cli;
mod debugpod_e2e;
mod fixtures_e2e;
mod flag_rules;
mod fleet_cli;
mod fleet_e2e;
mod krew;
mod proxy_e2e;
mod rflush;
mod rflush_analyze_watch;
mod rflush_dups;
mod rflush_e2e;
mod rflush_insight_e2e;
mod rflush_pacing;
mod rflush_pipeline;
mod rflush_spread;
mod rflush_tls;
mod sandbox_smoke;
