//! The failures that choose an exit code other than 1.

/// Bad flags or targets: exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A verdict: `get --expect` mismatch, `check` findings, a refused change: exit 3.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Verdict(pub String);

pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_VERDICT: u8 = 3;
