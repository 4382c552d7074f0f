//! The chain side: `GM` events of a block range and `lastGMDay` at their blocks, over JSON-RPC.
//!
//! Every answer is checked (a log from another contract, without a block number or transaction
//! hash, outside the range, twice, or a day of 0 at a GM's block is an error naming the chain
//! and the block), so a misbehaving node makes the watcher retry, never report nonsense.

use crate::config::ChainWatch;
use crate::database::ChainGm;
use onepulse_domain::Chain;
use onepulse_evm::Address;
use onepulse_evm::daily_gm;
use onepulse_evm::rpc::{BlockId, LogFilter, RpcClient, RpcError};
use std::ops::RangeInclusive;
use std::time::Duration;

/// Why reading a chain failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A JSON-RPC call failed (the node is down, slow, or refused it).
    #[error("{chain}: {source}")]
    Rpc {
        /// The chain.
        chain: &'static str,
        /// The call's error.
        source: RpcError,
    },
    /// The node answered something a correct node does not.
    #[error("{chain}: {detail}")]
    BadAnswer {
        /// The chain.
        chain: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The URL given for the chain serves another chain.
    #[error("{chain}: the node at {url} serves chain id {got}, not {expected}")]
    WrongChain {
        /// The chain.
        chain: &'static str,
        /// The node's URL.
        url: String,
        /// The chain id expected.
        expected: i32,
        /// The chain id the node answered.
        got: u64,
    },
    /// No contract at the configured address.
    #[error("{chain}: no contract at {contract} (check the --…-contract flag)")]
    NoContract {
        /// The chain.
        chain: &'static str,
        /// The address given.
        contract: Address,
    },
}

impl ReadError {
    /// Whether retrying cannot help (the configuration is wrong).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            ReadError::WrongChain { .. } | ReadError::NoContract { .. }
        )
    }
}

/// Reads one chain's `DailyGM` contract.
#[derive(Debug)]
pub struct GmReader {
    chain: Chain,
    contract: Address,
    rpc: RpcClient,
}

impl GmReader {
    /// A reader of `watch`'s chain; each call gives up after `timeout`.
    pub fn new(watch: &ChainWatch, timeout: Duration) -> Self {
        Self {
            chain: watch.chain,
            contract: watch.contract,
            rpc: RpcClient::new(&watch.rpc_url, timeout),
        }
    }

    /// The chain.
    pub fn chain(&self) -> Chain {
        self.chain
    }

    fn rpc_error(&self, source: RpcError) -> ReadError {
        ReadError::Rpc {
            chain: self.chain.name(),
            source,
        }
    }

    fn bad(&self, detail: String) -> ReadError {
        ReadError::BadAnswer {
            chain: self.chain.name(),
            detail,
        }
    }

    /// Checks that the node serves this chain and the contract exists there.
    pub fn check(&self) -> Result<(), ReadError> {
        let got = self.rpc.chain_id().map_err(|e| self.rpc_error(e))?;
        if got != u64::from(self.chain.id().unsigned_abs()) {
            return Err(ReadError::WrongChain {
                chain: self.chain.name(),
                url: self.rpc.url().to_owned(),
                expected: self.chain.id(),
                got,
            });
        }
        let code = self
            .rpc
            .code(self.contract, BlockId::Latest)
            .map_err(|e| self.rpc_error(e))?;
        if code.is_empty() {
            return Err(ReadError::NoContract {
                chain: self.chain.name(),
                contract: self.contract,
            });
        }
        Ok(())
    }

    /// The newest block's number.
    pub fn head(&self) -> Result<u64, ReadError> {
        self.rpc.block_number().map_err(|e| self.rpc_error(e))
    }

    /// Every `GM` of `range`, ordered by block and log index, each with `lastGMDay(user)` read
    /// at its block.
    pub fn read(&self, range: &RangeInclusive<u64>) -> Result<Vec<ChainGm>, ReadError> {
        let logs = self
            .rpc
            .get_logs(&LogFilter {
                address: self.contract,
                topic0: daily_gm::gm_topic(),
                from_block: *range.start(),
                to_block: *range.end(),
            })
            .map_err(|e| self.rpc_error(e))?;
        let mut events = Vec::with_capacity(logs.len());
        for log in logs {
            let Some(block) = log.block_number.map(|n| n.to::<u64>()) else {
                return Err(self.bad("eth_getLogs returned a log without a block number".into()));
            };
            let at = |what: &str| format!("block {block}: {what}");
            if log.removed {
                return Err(self.bad(at("eth_getLogs returned a removed log")));
            }
            if log.address != self.contract {
                return Err(self.bad(at(&format!(
                    "eth_getLogs returned a log of {}, not of {}",
                    log.address, self.contract
                ))));
            }
            if !range.contains(&block) {
                return Err(self.bad(at(&format!(
                    "eth_getLogs returned a log outside {}..={}",
                    range.start(),
                    range.end()
                ))));
            }
            let index = log
                .log_index
                .and_then(|i| u32::try_from(i.to::<u64>()).ok())
                .ok_or_else(|| self.bad(at("a log without a usable log index")))?;
            let tx_hash = log
                .transaction_hash
                .ok_or_else(|| self.bad(at("a log without a transaction hash")))?;
            let event = daily_gm::decode_gm_log(&log.topics, &log.data)
                .map_err(|e| self.bad(at(&e.to_string())))?;
            events.push((block, index, event.user, tx_hash));
        }
        events.sort_by_key(|&(block, index, _, _)| (block, index));
        if let Some(pair) = events
            .windows(2)
            .find(|pair| matches!(pair, [a, b] if (a.0, a.1) == (b.0, b.1)))
            && let Some(&(block, index, _, _)) = pair.first()
        {
            return Err(self.bad(format!(
                "block {block}: eth_getLogs returned log {index} twice"
            )));
        }

        let mut gms = Vec::with_capacity(events.len());
        for (block, index, user, tx_hash) in events {
            let answer = self
                .rpc
                .call(
                    self.contract,
                    &daily_gm::last_gm_day_calldata(user),
                    BlockId::Number(block),
                )
                .map_err(|e| self.rpc_error(e))?;
            let day = daily_gm::decode_last_gm_day(&answer)
                .map_err(|e| self.bad(format!("block {block}: {e}")))?;
            let day = i32::try_from(day)
                .ok()
                .filter(|&day| day > 0)
                .ok_or_else(|| {
                    self.bad(format!(
                        "block {block}: lastGMDay({user}) is {day} right after a GM"
                    ))
                })?;
            gms.push(ChainGm {
                address: format!("{user:#x}"),
                day,
                tx_hash: format!("{tx_hash:#x}"),
                block_number: block,
                log_index: index,
            });
        }
        Ok(gms)
    }
}
