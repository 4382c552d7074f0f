//! The chain side: `GM` events of a block range and the days of their blocks, over JSON-RPC.
//!
//! A GM's day is its block's timestamp / 86 400 — exactly what the contract stores in
//! `lastGMDay(user)` — read from the block's header (one `eth_getBlockByNumber` per block with
//! GMs): no call at an old block's state, so any node serves a backfill, not only archive
//! nodes.
//!
//! Every answer is checked (a log from another contract, without a block number, hash or
//! transaction hash, outside the range, twice, of another block than the node's header says,
//! a block whose hash changes while it is read), so a misbehaving or lagging node makes the
//! watcher retry, never report nonsense or skip GMs: the range's last block must be known to
//! the node (its header), and a single block is read by its hash (EIP-234), which a node
//! without that block cannot answer with an empty list.
//!
//! Behind a load balancer, the node answering `eth_getLogs` may lag the one that gave the
//! headers, and answer an empty list for blocks it does not have. So a range is read as one
//! JSON-RPC batch `[eth_chainId, eth_blockNumber, eth_getLogs]` — a load balancer sends a batch
//! to one backend — and its logs count only if that backend's chain is this chain and its head
//! is at or past the range's last block. And the range's last block's header carries the
//! bloom filter of its logs: when it may hold a `GM` of the contract but the logs answer has
//! none there, the answer is not trusted either ([`ReadError::BloomMiss`]; the caller retries,
//! and after a few tries accepts it, since a bloom filter has false positives).

use crate::config::ChainWatch;
use crate::database::ChainGm;
use onepulse_domain::Chain;
use onepulse_evm::Address;
use onepulse_evm::daily_gm;
use onepulse_evm::rpc::{BlockHeader, BlockId, LogBlocks, LogFilter, RpcClient, RpcError};
use std::collections::BTreeMap;
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
    /// `eth_getLogs` failed: maybe the range or its answer is more than the provider allows,
    /// so a smaller range is tried next.
    #[error("{chain}: {source}")]
    Logs {
        /// The chain.
        chain: &'static str,
        /// The call's error.
        source: RpcError,
    },
    /// The node does not have this block (yet): it lags behind the node that gave the head.
    #[error("{chain}: the node does not have block {block} yet")]
    NotYet {
        /// The chain.
        chain: &'static str,
        /// The block.
        block: u64,
    },
    /// The block's header says (by its logs bloom filter) it may hold a `GM` of the contract,
    /// but the logs answer has none there: the node answering the logs may lag, or the bloom
    /// filter has a false positive (then [`GmReader::read_accepting_bloom_miss`] reads it).
    #[error("{chain}: block {block}'s logs bloom may hold a GM, but the node answered none there")]
    BloomMiss {
        /// The chain.
        chain: &'static str,
        /// The block.
        block: u64,
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
    #[error(
        "{chain}: no contract at {contract} (check the --…-contract flag, or the node is still syncing)"
    )]
    NoContract {
        /// The chain.
        chain: &'static str,
        /// The address given.
        contract: Address,
    },
}

impl ReadError {
    /// Whether retrying cannot help (the configuration is wrong): the node serves another
    /// chain. No contract is retried (a syncing node answers empty code for a while).
    pub fn is_fatal(&self) -> bool {
        matches!(self, ReadError::WrongChain { .. })
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
    /// A reader of `watch`'s chain; each call gives up after `timeout`, and refuses an answer
    /// over `max_answer` bytes (as a [`ReadError::Logs`] for `eth_getLogs`: the range shrinks).
    pub fn new(watch: &ChainWatch, timeout: Duration, max_answer: u64) -> Self {
        Self {
            chain: watch.chain,
            contract: watch.contract,
            rpc: RpcClient::new(&watch.rpc_url, timeout).with_max_body(max_answer),
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

    /// An error unless `got` is this chain's id.
    fn same_chain(&self, got: u64) -> Result<(), ReadError> {
        if got == u64::from(self.chain.id().unsigned_abs()) {
            return Ok(());
        }
        Err(ReadError::WrongChain {
            chain: self.chain.name(),
            url: self.rpc.url().to_owned(),
            expected: self.chain.id(),
            got,
        })
    }

    /// Whether `header`'s logs bloom filter may hold a `GM` of the contract (`false` without a
    /// bloom filter: nothing to check against).
    fn may_hold_gm(&self, header: &BlockHeader) -> bool {
        header
            .logs_bloom
            .is_some_and(|bloom| bloom.contains_raw_log(self.contract, &[daily_gm::gm_topic()]))
    }

    /// Checks that the node serves this chain and the contract exists there.
    pub fn check(&self) -> Result<(), ReadError> {
        let got = self.rpc.chain_id().map_err(|e| self.rpc_error(e))?;
        self.same_chain(got)?;
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

    /// Block `number`'s header, checked to be that block's.
    fn header(&self, number: u64) -> Result<BlockHeader, ReadError> {
        let header = self
            .rpc
            .block_header(BlockId::Number(number))
            .map_err(|e| self.rpc_error(e))?
            .ok_or(ReadError::NotYet {
                chain: self.chain.name(),
                block: number,
            })?;
        if header.number.to::<u64>() != number {
            return Err(self.bad(format!(
                "asked for block {number}, the node answered block {}",
                header.number
            )));
        }
        Ok(header)
    }

    /// Every `GM` of `range`, ordered by block and log index, each with its block's day.
    ///
    /// The range's last block must be known to the node (its header is read first and again
    /// at the end, and must not change in between: a reorganisation while reading is an error,
    /// retried); a range of one block is read by that block's hash; a longer range in one batch
    /// with the answering node's chain id and head, which must be this chain's and at or past
    /// the range's end ([`ReadError::NotYet`] otherwise). If the last block's logs bloom may
    /// hold a `GM` but the answer has none there: [`ReadError::BloomMiss`].
    pub fn read(&self, range: &RangeInclusive<u64>) -> Result<Vec<ChainGm>, ReadError> {
        self.read_with(range, false)
    }

    /// [`GmReader::read`], but an answer without a `GM` in a block whose bloom filter may hold
    /// one is accepted (after retries: the bloom filter's false positive).
    pub fn read_accepting_bloom_miss(
        &self,
        range: &RangeInclusive<u64>,
    ) -> Result<Vec<ChainGm>, ReadError> {
        self.read_with(range, true)
    }

    fn read_with(
        &self,
        range: &RangeInclusive<u64>,
        accept_bloom_miss: bool,
    ) -> Result<Vec<ChainGm>, ReadError> {
        let (first, last) = (*range.start(), *range.end());
        let end = self.header(last)?;
        let logs_error = |source| ReadError::Logs {
            chain: self.chain.name(),
            source,
        };
        let filter = |blocks| LogFilter {
            address: self.contract,
            topic0: daily_gm::gm_topic(),
            blocks,
        };
        let logs = if first == last {
            self.rpc
                .get_logs(&filter(LogBlocks::Hash(end.hash)))
                .map_err(logs_error)?
        } else {
            let answer = self
                .rpc
                .logs_at_head(&filter(LogBlocks::Range {
                    from: first,
                    to: last,
                }))
                .map_err(logs_error)?;
            self.same_chain(answer.chain_id)?;
            if answer.head < last {
                return Err(ReadError::NotYet {
                    chain: self.chain.name(),
                    block: last,
                });
            }
            answer.logs
        };
        let events = self.events(range, logs)?;
        if !accept_bloom_miss && self.may_hold_gm(&end) && !events.iter().any(|e| e.block == last) {
            return Err(ReadError::BloomMiss {
                chain: self.chain.name(),
                block: last,
            });
        }

        let mut headers = BTreeMap::from([(last, end.clone())]);
        let mut gms = Vec::with_capacity(events.len());
        for event in events {
            let header = match headers.get(&event.block) {
                Some(header) => header.clone(),
                None => {
                    let header = self.header(event.block)?;
                    headers.insert(event.block, header.clone());
                    header
                }
            };
            if event.block_hash != header.hash {
                return Err(self.bad(format!(
                    "block {}: a GM log of block {}, but the node's block is {}: the chain \
                     changed while it was read",
                    event.block, event.block_hash, header.hash
                )));
            }
            let timestamp = header.timestamp.to::<u64>();
            let day = i32::try_from(daily_gm::day_of_timestamp(timestamp))
                .ok()
                .filter(|&day| day > 0)
                .ok_or_else(|| {
                    self.bad(format!(
                        "block {}: timestamp {timestamp} is no day a GM can have",
                        event.block
                    ))
                })?;
            gms.push(ChainGm {
                address: format!("{:#x}", event.user),
                day,
                tx_hash: format!("{:#x}", event.tx_hash),
                block_number: event.block,
                log_index: event.index,
            });
        }
        let again = self.header(last)?;
        if again.hash != end.hash {
            return Err(self.bad(format!(
                "block {last} changed while it was read ({} then {}): a reorganisation",
                end.hash, again.hash
            )));
        }
        Ok(gms)
    }

    /// The `GM` events of `logs`, checked and in order.
    fn events(
        &self,
        range: &RangeInclusive<u64>,
        logs: Vec<onepulse_evm::rpc::RpcLog>,
    ) -> Result<Vec<Event>, ReadError> {
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
            let block_hash = log
                .block_hash
                .ok_or_else(|| self.bad(at("a log without a block hash")))?;
            let event = daily_gm::decode_gm_log(&log.topics, &log.data)
                .map_err(|e| self.bad(at(&e.to_string())))?;
            events.push(Event {
                block,
                index,
                user: event.user,
                tx_hash,
                block_hash,
            });
        }
        events.sort_by_key(|event| (event.block, event.index));
        if let Some(pair) = events
            .windows(2)
            .find(|pair| matches!(pair, [a, b] if (a.block, a.index) == (b.block, b.index)))
            && let Some(event) = pair.first()
        {
            return Err(self.bad(format!(
                "block {}: eth_getLogs returned log {} twice",
                event.block, event.index
            )));
        }
        Ok(events)
    }
}

/// A `GM` log, checked.
struct Event {
    block: u64,
    index: u32,
    user: Address,
    tx_hash: onepulse_evm::primitives::B256,
    block_hash: onepulse_evm::primitives::B256,
}
