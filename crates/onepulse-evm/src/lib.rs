//! The `DailyGM` contract as Rust sees it, and a small Ethereum JSON-RPC client.
//!
//! [`daily_gm`]: the contract's ABI and creation bytecode, read at compile time from
//! `contracts/build/DailyGM.json` (the solc-js build `cargo xtask` runs; see `contracts/`), with
//! helpers to encode its calls and decode its `GM` event and `lastGMDay` answer — untrusted bytes
//! give errors, never panics. Compiles for wasm32 too (`default-features = false`).
//!
//! [`rpc`] (feature `rpc`, on by default): a blocking JSON-RPC client over HTTP for the few calls
//! the project makes (`eth_blockNumber`, `eth_getLogs`, `eth_call`, `eth_sendTransaction`, …).
//! Every answer is checked; a malformed one is an error naming the call.

pub mod daily_gm;
#[cfg(feature = "rpc")]
pub mod rpc;

pub use alloy::primitives::{self, Address, B256, Bytes, U256};
pub use daily_gm::{ContractError, GmEvent};
