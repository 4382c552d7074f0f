//! Local EVM chains for development and tests.
//!
//! [`LocalChain`] runs a Hardhat 2 node (from `contracts/node_modules`, installed by `cargo
//! xtask`) for one chain id on a free `127.0.0.1` port — never Hardhat's default `0.0.0.0` —
//! waits until its RPC answers, deploys `DailyGM` (the solc-js build in `contracts/build`) from
//! Hardhat's publicly known account #0, and kills the node when stopped or dropped. It also
//! sends transactions as development wallets ([`LocalChain::new_wallet`], [`LocalChain::gm`]),
//! mines blocks and moves the chain's clock. [`start_chains`] starts one per chain id at once.
//!
//! A Hardhat node keeps its chain in memory: stopping and starting one makes a *new* chain. To
//! take a node's RPC away for a while and bring the same chain back, put a [`TcpGate`] in front
//! of it and close the gate.
//!
//! The binary `local-chain` runs chains in the foreground for `cargo xtask dev` (which must
//! not link this library: its ABI comes from the contract build that xtask itself runs): it
//! prints one JSON line per chain (`{"chain_id":…,"rpc_url":…,"contract":…,"deploy_block":…}`),
//! then `ready`, and stops the nodes when its standard input closes or on Ctrl-C.

mod chain;
mod gate;

pub use chain::{
    ChainConfig, DEV_ACCOUNT_0, DEV_ACCOUNT_0_PRIVATE_KEY, LocalChain, default_contracts_dir,
    start_all, start_chains,
};
pub use gate::TcpGate;
pub use onepulse_evm::rpc::{Receipt, RpcClient, RpcError};

/// The chain ids OnePulse runs on: Base, Celo, Optimism.
pub const CHAIN_IDS: [u64; 3] = [8453, 42220, 10];

/// What went wrong running a local chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Hardhat node could not be started, or stopped answering.
    #[error("hardhat node (chain {chain_id}): {detail}")]
    Node {
        /// The chain id it was started for.
        chain_id: u64,
        /// What happened.
        detail: String,
    },
    /// A file, socket or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// The operation.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A JSON-RPC call failed.
    #[error("{what}: {source}")]
    Rpc {
        /// What the call was for.
        what: String,
        /// The call's error.
        source: RpcError,
    },
    /// A transaction reverted; `reason` is its revert reason (e.g. "Already GMed today").
    #[error("{what} reverted: {reason}")]
    Reverted {
        /// The transaction.
        what: String,
        /// The revert reason, or the node's message when it gave none.
        reason: String,
    },
    /// Contract data did not decode.
    #[error("{what}: {source}")]
    Contract {
        /// What was read.
        what: String,
        /// The decoding error.
        source: onepulse_evm::ContractError,
    },
}

impl Error {
    /// The revert reason, when a transaction reverted.
    pub fn revert_reason(&self) -> Option<&str> {
        match self {
            Error::Reverted { reason, .. } => Some(reason),
            _ => None,
        }
    }
}
