//! The chains OnePulse counts GMs on.

use std::fmt;

/// A chain id that is not one of OnePulse's chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown chain id {0}: expected 8453 (Base), 42220 (Celo) or 10 (Optimism)")]
pub struct ChainError(pub i64);

/// One of the chains with a `DailyGM` contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Chain {
    /// Base, chain id 8453.
    Base,
    /// Celo, chain id 42220.
    Celo,
    /// Optimism, chain id 10.
    Optimism,
}

impl Chain {
    /// Every chain, in display order.
    pub const ALL: [Chain; 3] = [Chain::Base, Chain::Celo, Chain::Optimism];

    /// The chain with this EVM chain id.
    pub fn from_id(id: i64) -> Result<Self, ChainError> {
        match id {
            8453 => Ok(Chain::Base),
            42220 => Ok(Chain::Celo),
            10 => Ok(Chain::Optimism),
            other => Err(ChainError(other)),
        }
    }

    /// The EVM chain id.
    pub fn id(self) -> i32 {
        match self {
            Chain::Base => 8453,
            Chain::Celo => 42220,
            Chain::Optimism => 10,
        }
    }

    /// The human name.
    pub fn name(self) -> &'static str {
        match self {
            Chain::Base => "Base",
            Chain::Celo => "Celo",
            Chain::Optimism => "Optimism",
        }
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_others_are_rejected() {
        for chain in Chain::ALL {
            assert_eq!(Chain::from_id(chain.id().into()), Ok(chain));
        }
        assert_eq!(Chain::from_id(1), Err(ChainError(1)));
        assert!(
            Chain::from_id(-8453)
                .unwrap_err()
                .to_string()
                .contains("-8453")
        );
    }
}
