//! The three mTLS modes a workload port can end up with.
//!
//! A policy may also leave a level UNSET; that is modelled as `Option<Mode>`
//! (`None` = UNSET) rather than a fourth variant, so that the effective mode of a
//! port — which is never UNSET — cannot be confused with a policy's setting.

use std::fmt;
use std::str::FromStr;

/// An mTLS mode, as Istio's `PeerAuthentication.MutualTLS.Mode` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// Plaintext only: the sidecar accepts no mTLS.
    Disable,
    /// mTLS and plaintext are both accepted.
    Permissive,
    /// Only mTLS is accepted.
    Strict,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Strict, Mode::Permissive, Mode::Disable];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Disable => "DISABLE",
            Mode::Permissive => "PERMISSIVE",
            Mode::Strict => "STRICT",
        }
    }

    /// How much the mode demands of a peer: DISABLE < PERMISSIVE < STRICT. A change
    /// to a lower strength weakens security.
    pub fn strength(self) -> u8 {
        match self {
            Mode::Disable => 0,
            Mode::Permissive => 1,
            Mode::Strict => 2,
        }
    }

    /// Parses a policy's `mode` field: `Ok(None)` is UNSET. Istio's decoder takes the
    /// enum names exactly as written (upper case).
    pub fn parse_policy_mode(s: &str) -> Result<Option<Mode>, UnknownMode> {
        match s {
            "UNSET" => Ok(None),
            other => other.parse().map(Some),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A mode string that is none of Istio's enum names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mTLS mode {0:?} (expected UNSET, DISABLE, PERMISSIVE or STRICT)")]
pub struct UnknownMode(pub String);

impl FromStr for Mode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "STRICT" => Ok(Mode::Strict),
            "PERMISSIVE" => Ok(Mode::Permissive),
            "DISABLE" => Ok(Mode::Disable),
            other => Err(UnknownMode(other.to_string())),
        }
    }
}

impl serde::Serialize for Mode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The mode traffic meets at a workload port: what its proxy enforces, or
/// `None` when nothing does (no proxy, a port the proxy does not capture, UDP).
/// Ordered by strength: NONE < DISABLE < PERMISSIVE < STRICT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Enforced {
    /// Nothing enforces mTLS: plaintext reaches the application.
    None,
    Disable,
    Permissive,
    Strict,
}

impl Enforced {
    pub const ALL: [Enforced; 4] = [
        Enforced::Strict,
        Enforced::Permissive,
        Enforced::Disable,
        Enforced::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Enforced::None => "NONE",
            Enforced::Disable => "DISABLE",
            Enforced::Permissive => "PERMISSIVE",
            Enforced::Strict => "STRICT",
        }
    }
}

impl From<Mode> for Enforced {
    fn from(mode: Mode) -> Enforced {
        match mode {
            Mode::Disable => Enforced::Disable,
            Mode::Permissive => Enforced::Permissive,
            Mode::Strict => Enforced::Strict,
        }
    }
}

impl fmt::Display for Enforced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Enforced {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "NONE" => Ok(Enforced::None),
            other => other.parse::<Mode>().map(Enforced::from),
        }
    }
}

impl serde::Serialize for Enforced {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_round_trips_through_its_name() {
        for mode in Mode::ALL {
            assert_eq!(mode.as_str().parse::<Mode>(), Ok(mode));
            assert_eq!(Mode::parse_policy_mode(mode.as_str()), Ok(Some(mode)));
        }
    }

    #[test]
    fn unset_is_no_mode_and_other_spellings_are_rejected() {
        assert_eq!(Mode::parse_policy_mode("UNSET"), Ok(None));
        for bad in ["strict", "Strict", "", "MUTUAL", "UNSET "] {
            assert_eq!(
                Mode::parse_policy_mode(bad),
                Err(UnknownMode(bad.to_string()))
            );
        }
    }

    #[test]
    fn enforced_orders_none_below_every_mode_and_round_trips() {
        let mut sorted = Enforced::ALL;
        sorted.sort();
        assert_eq!(
            sorted,
            [
                Enforced::None,
                Enforced::Disable,
                Enforced::Permissive,
                Enforced::Strict
            ]
        );
        for e in Enforced::ALL {
            assert_eq!(e.as_str().parse::<Enforced>(), Ok(e));
        }
        for mode in Mode::ALL {
            assert_eq!(Enforced::from(mode).as_str(), mode.as_str());
        }
    }

    #[test]
    fn strength_orders_disable_permissive_strict() {
        assert!(Mode::Disable.strength() < Mode::Permissive.strength());
        assert!(Mode::Permissive.strength() < Mode::Strict.strength());
    }
}
