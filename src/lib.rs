//! `mtls` as a library: the pure core (targets, modes, Istio's resolution, change
//! planning), the findings of `check`, where snapshots come from (a cluster,
//! manifests) and how results are rendered. The command line — clap's
//! definitions and one module per command — is the `mtls` binary's; benchmarks
//! and fuzz targets use the library directly. ARCHITECTURE.md has the layers.

pub mod check;
pub mod explain;
pub mod mode;
pub mod policy;
pub mod progress;
pub mod render;
pub mod source;
pub mod target;
pub mod text;
pub mod traffic;
