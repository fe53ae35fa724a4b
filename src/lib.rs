//! `mtls` as a library: the pure core (targets, modes, Istio's resolution, change
//! planning, checks), where snapshots come from, and the commands. The `mtls`
//! binary is a thin `main` over it; benchmarks use the core directly.

pub mod check;
pub mod cli;
pub mod cmd;
pub mod complete;
pub mod error;
pub mod mode;
pub mod policy;
pub mod progress;
pub mod render;
pub mod source;
pub mod target;
