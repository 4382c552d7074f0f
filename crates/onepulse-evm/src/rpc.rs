//! A blocking Ethereum JSON-RPC client over HTTP, for the few calls the project makes.
//!
//! Every answer is untrusted: a wrong `jsonrpc`/`id`, a body that is not JSON, a result of the
//! wrong shape — each is an [`RpcError::Malformed`] naming the call, never a panic.

use alloy::primitives::{Address, B256, Bloom, Bytes, U64};
use serde::de::{DeserializeOwned, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
pub use serde_json::Value;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Largest answer read by default (an `eth_getLogs` over many blocks): a larger one is refused
/// with [`RpcError::TooLarge`] (a caller reading logs then asks for fewer blocks). The answer is
/// decoded straight from these bytes into its typed result, so a call holds at most about
/// twice this much memory. See [`RpcClient::with_max_body`].
pub const DEFAULT_MAX_BODY: u64 = 16 * 1024 * 1024;

/// Why a JSON-RPC call failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// No HTTP answer (connection refused or reset, timeout).
    #[error("{method} to {url}: {detail}")]
    Transport {
        /// The node's URL.
        url: String,
        /// The JSON-RPC method.
        method: String,
        /// What went wrong.
        detail: String,
    },
    /// The answer is larger than the client reads ([`RpcClient::with_max_body`]).
    #[error("{method} to {url}: the answer is larger than {limit} bytes")]
    TooLarge {
        /// The node's URL.
        url: String,
        /// The JSON-RPC method.
        method: String,
        /// The most bytes read.
        limit: u64,
    },
    /// An HTTP answer other than 200.
    #[error("{method} to {url}: HTTP {status}: {body}")]
    Http {
        /// The node's URL.
        url: String,
        /// The JSON-RPC method.
        method: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The node answered with a JSON-RPC error (a revert, an unknown method, bad params).
    #[error("{method}: the node refused it: {message} (code {code})")]
    Rpc {
        /// The JSON-RPC method.
        method: String,
        /// The error code.
        code: i64,
        /// The error message.
        message: String,
        /// The error's `data` (for a revert: the revert data, possibly wrapped in an object).
        data: Option<Value>,
    },
    /// The answer was not what the call returns.
    #[error("{method}: unexpected answer: {detail}")]
    Malformed {
        /// The JSON-RPC method.
        method: String,
        /// What was wrong.
        detail: String,
    },
}

impl RpcError {
    /// The Solidity revert reason carried by a JSON-RPC error (`Error(string)` in its data, or
    /// Hardhat's "reverted with reason string '…'" message), if any.
    pub fn revert_reason(&self) -> Option<String> {
        let RpcError::Rpc { message, data, .. } = self else {
            return None;
        };
        let hex_data = match data {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(Value::Object(map)) => map.get("data").and_then(Value::as_str),
            _ => None,
        };
        if let Some(reason) = hex_data
            .and_then(|s| alloy::primitives::hex::decode(s).ok())
            .and_then(|bytes| crate::daily_gm::revert_reason(&bytes))
        {
            return Some(reason);
        }
        let marker = "reverted with reason string '";
        let start = message.find(marker)? + marker.len();
        let rest = message.get(start..)?;
        let end = rest.rfind('\'')?;
        rest.get(..end).map(str::to_owned)
    }

    /// Whether the node could not be reached at all (as opposed to answering badly): the
    /// error to retry after an outage.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, RpcError::Transport { .. })
    }
}

/// A block to read state at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockId {
    /// The newest block.
    Latest,
    /// A block by number.
    Number(u64),
}

impl Serialize for BlockId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            BlockId::Latest => serializer.serialize_str("latest"),
            BlockId::Number(n) => serializer.serialize_str(&format!("{n:#x}")),
        }
    }
}

/// A log as `eth_getLogs` and receipts return it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcLog {
    /// The emitting contract.
    pub address: Address,
    /// Topic 0 is the event signature's hash; indexed arguments follow.
    pub topics: Vec<B256>,
    /// The non-indexed arguments.
    #[serde(default)]
    pub data: Bytes,
    /// The block's number (`None` while pending).
    pub block_number: Option<U64>,
    /// The block's hash (`None` while pending).
    pub block_hash: Option<B256>,
    /// The transaction's hash.
    pub transaction_hash: Option<B256>,
    /// The log's index in its block.
    pub log_index: Option<U64>,
    /// `true` when a reorganisation removed the log (only in filters that follow the head).
    #[serde(default)]
    pub removed: bool,
}

/// A transaction receipt, as much of it as the project reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// The transaction's hash.
    pub transaction_hash: B256,
    /// The block it was mined in.
    pub block_number: Option<U64>,
    /// `1` success, `0` reverted.
    pub status: Option<U64>,
    /// The deployed contract, for a creation.
    pub contract_address: Option<Address>,
    /// The logs it emitted.
    #[serde(default)]
    pub logs: Vec<RpcLog>,
}

impl Receipt {
    /// Whether the transaction succeeded.
    pub fn succeeded(&self) -> bool {
        self.status == Some(U64::from(1))
    }
}

/// `eth_sendTransaction`'s argument: sent from an account the node holds the key of (a local
/// development node), or one it impersonates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TransactionRequest {
    /// The sender.
    pub from: Address,
    /// The callee; `None` deploys `data`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Address>,
    /// Calldata or creation bytecode.
    pub data: Bytes,
    /// Gas limit; the node estimates it when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gas: Option<U64>,
}

/// Which blocks an `eth_getLogs` filter covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogBlocks {
    /// Blocks `from..=to` by number: whichever blocks the answering node has under those
    /// numbers (a node that lags may not have them all).
    Range {
        /// The first block.
        from: u64,
        /// The last block (included).
        to: u64,
    },
    /// The one block with this hash ([EIP-234](https://eips.ethereum.org/EIPS/eip-234)): a
    /// node that does not have it answers an error, never an empty list.
    Hash(B256),
}

/// `eth_getLogs`' filter: the logs of `address` with topic 0 `topic0` in `blocks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogFilter {
    /// The contract.
    pub address: Address,
    /// The event signature's hash.
    pub topic0: B256,
    /// The blocks.
    pub blocks: LogBlocks,
}

/// A block's header, as much of it as the project reads (`eth_getBlockByNumber`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockHeader {
    /// The block's number.
    pub number: U64,
    /// The block's hash.
    pub hash: B256,
    /// The parent block's hash.
    pub parent_hash: B256,
    /// The block's time, in seconds since the Unix epoch.
    pub timestamp: U64,
    /// The bloom filter of the block's logs (`None` if the node left it out): when it does not
    /// contain an address and topic, no log of the block has them.
    #[serde(default)]
    pub logs_bloom: Option<Bloom>,
}

/// What one batch `[eth_chainId, eth_blockNumber, eth_getLogs]` answered: a load balancer
/// sends a batch to one backend, so the head is that of the node that answered the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsAtHead {
    /// The answering node's chain id.
    pub chain_id: u64,
    /// The answering node's newest block.
    pub head: u64,
    /// The logs.
    pub logs: Vec<RpcLog>,
}

/// A JSON-RPC client of one node.
#[derive(Debug)]
pub struct RpcClient {
    url: String,
    agent: ureq::Agent,
    next_id: AtomicU64,
    max_body: u64,
}

/// A JSON-RPC answer whose result is decoded straight into `R` (no intermediate `Value`).
#[derive(Deserialize)]
#[serde(bound = "R: Deserialize<'de>")]
struct Answer<R> {
    jsonrpc: Option<String>,
    id: Option<Value>,
    #[serde(default = "none")]
    result: Option<R>,
    error: Option<AnswerError>,
}

fn none<R>() -> Option<R> {
    None
}

impl<R> Answer<R> {
    /// Checks the envelope; the result (`null` or missing decoded as `null`, e.g. `None`).
    fn into_result(self, method: &str, id: u64) -> Result<R, RpcError>
    where
        R: DeserializeOwned,
    {
        let malformed = |detail: String| RpcError::Malformed {
            method: method.to_owned(),
            detail,
        };
        if self.jsonrpc.as_deref() != Some("2.0") {
            return Err(malformed(format!(
                "jsonrpc is {:?}, not \"2.0\"",
                self.jsonrpc
            )));
        }
        if self.id != Some(Value::from(id)) {
            return Err(malformed(format!("answers id {:?}, not {id}", self.id)));
        }
        if let Some(error) = self.error {
            return Err(RpcError::Rpc {
                method: method.to_owned(),
                code: error.code,
                message: error.message,
                data: error.data,
            });
        }
        match self.result {
            Some(result) => Ok(result),
            None => R::deserialize(Value::Null)
                .map_err(|e| malformed(format!("result null is not what {method} returns: {e}"))),
        }
    }
}

/// A result in the range batch: a quantity (`eth_chainId`, `eth_blockNumber`) or the logs,
/// decoded as they are read.
enum BatchResult {
    Quantity(U64),
    Logs(Vec<RpcLog>),
}

impl<'de> Deserialize<'de> for BatchResult {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Expected;
        impl<'de> Visitor<'de> for Expected {
            type Value = BatchResult;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a hex quantity or a list of logs")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<BatchResult, E> {
                U64::deserialize(serde::de::value::StrDeserializer::<E>::new(v))
                    .map(BatchResult::Quantity)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<BatchResult, A::Error> {
                Vec::<RpcLog>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(BatchResult::Logs)
            }
        }
        deserializer.deserialize_any(Expected)
    }
}

#[derive(Deserialize)]
struct AnswerError {
    code: i64,
    message: String,
    data: Option<Value>,
}

impl RpcClient {
    /// A client of the node at `url` (`http://host:port`); each call gives up after `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Self {
            url: url.to_owned(),
            agent,
            next_id: AtomicU64::new(1),
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The same client reading answers of at most `bytes` bytes (default
    /// [`DEFAULT_MAX_BODY`]); a larger answer is [`RpcError::TooLarge`].
    pub fn with_max_body(mut self, bytes: u64) -> Self {
        self.max_body = bytes;
        self
    }

    /// Posts `body` and reads the answer's bytes (at most the client's limit).
    fn post(&self, method: &str, body: String) -> Result<Vec<u8>, RpcError> {
        let transport = |detail: String| RpcError::Transport {
            url: self.url.clone(),
            method: method.to_owned(),
            detail,
        };
        let mut response = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(body)
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        let too_large = || RpcError::TooLarge {
            url: self.url.clone(),
            method: method.to_owned(),
            limit: self.max_body,
        };
        // A declared length over the limit is refused unread; one within it is reserved at
        // once, so the buffer never grows by doubling (which would hold up to 3× the answer).
        let declared = response.body().content_length();
        if declared.is_some_and(|length| length > self.max_body) {
            return Err(too_large());
        }
        let mut bytes =
            Vec::with_capacity(declared.and_then(|n| usize::try_from(n).ok()).unwrap_or(0));
        response
            .body_mut()
            .with_config()
            .limit(self.max_body)
            .reader()
            .read_to_end(&mut bytes)
            .map_err(|e| match ureq::Error::from(e) {
                ureq::Error::BodyExceedsLimit(_) => too_large(),
                e => transport(format!("reading the answer: {e}")),
            })?;
        if status != 200 {
            return Err(RpcError::Http {
                url: self.url.clone(),
                method: method.to_owned(),
                status,
                body: snippet(&bytes, 300),
            });
        }
        Ok(bytes)
    }

    /// Calls `method` with `params` (a JSON array) and decodes its result as `R`.
    pub fn request<R: DeserializeOwned>(&self, method: &str, params: Value) -> Result<R, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let bytes = self.post(method, body.to_string())?;
        let answer: Answer<R> =
            serde_json::from_slice(&bytes).map_err(|e| RpcError::Malformed {
                method: method.to_owned(),
                detail: format!(
                    "not a JSON-RPC answer with what {method} returns ({e}): {}",
                    snippet(&bytes, 200)
                ),
            })?;
        answer.into_result(method, id)
    }

    /// One batch `[eth_chainId, eth_blockNumber, eth_getLogs(filter)]`, answered by one node
    /// even behind a load balancer: the logs with the chain and head of the node that answered
    /// them. Errors name `eth_getLogs` unless one of the other two calls failed.
    pub fn logs_at_head(&self, filter: &LogFilter) -> Result<LogsAtHead, RpcError> {
        const METHODS: [&str; 3] = ["eth_chainId", "eth_blockNumber", "eth_getLogs"];
        let first = self.next_id.fetch_add(3, Ordering::Relaxed);
        let calls: Vec<Value> = METHODS
            .iter()
            .zip(first..)
            .map(|(method, id)| {
                let params = if *method == "eth_getLogs" {
                    logs_params(filter)
                } else {
                    Value::Array(vec![])
                };
                serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
            })
            .collect();
        let bytes = self.post("eth_getLogs", Value::Array(calls).to_string())?;
        let malformed = |detail: String| RpcError::Malformed {
            method: "eth_getLogs (batch)".to_owned(),
            detail,
        };
        let answers: Vec<Answer<BatchResult>> = serde_json::from_slice(&bytes).map_err(|e| {
            malformed(format!(
                "not a JSON-RPC batch answer ({e}): {}",
                snippet(&bytes, 200)
            ))
        })?;
        if answers.len() != METHODS.len() {
            return Err(malformed(format!(
                "{} answers to {} calls",
                answers.len(),
                METHODS.len()
            )));
        }
        let (mut chain_id, mut head, mut logs) = (None, None, None);
        for answer in answers {
            let at = answer
                .id
                .as_ref()
                .and_then(Value::as_u64)
                .and_then(|id| id.checked_sub(first))
                .and_then(|i| usize::try_from(i).ok())
                .filter(|&i| i < METHODS.len())
                .ok_or_else(|| malformed(format!("an answer with id {:?}", answer.id)))?;
            let method = METHODS.get(at).copied().unwrap_or("eth_getLogs");
            let id = first.saturating_add(at as u64);
            let result = answer.into_result(method, id)?;
            let wrong = || malformed(format!("{method} answered the wrong kind of result"));
            match (at, result) {
                (0, BatchResult::Quantity(n)) if chain_id.is_none() => chain_id = Some(n),
                (1, BatchResult::Quantity(n)) if head.is_none() => head = Some(n),
                (2, BatchResult::Logs(found)) if logs.is_none() => logs = Some(found),
                _ => return Err(wrong()),
            }
        }
        match (chain_id, head, logs) {
            (Some(chain_id), Some(head), Some(logs)) => Ok(LogsAtHead {
                chain_id: chain_id.to::<u64>(),
                head: head.to::<u64>(),
                logs,
            }),
            _ => Err(malformed("an answer is missing".into())),
        }
    }

    /// `eth_chainId`.
    pub fn chain_id(&self) -> Result<u64, RpcError> {
        self.request::<U64>("eth_chainId", Value::Array(vec![]))
            .map(|n| n.to::<u64>())
    }

    /// `eth_blockNumber`: the newest block's number.
    pub fn block_number(&self) -> Result<u64, RpcError> {
        self.request::<U64>("eth_blockNumber", Value::Array(vec![]))
            .map(|n| n.to::<u64>())
    }

    /// `eth_getLogs` for `filter`.
    pub fn get_logs(&self, filter: &LogFilter) -> Result<Vec<RpcLog>, RpcError> {
        self.request("eth_getLogs", logs_params(filter))
    }

    /// `eth_getBlockByNumber` without transactions: the block's header, `None` when the node
    /// does not have that block.
    pub fn block_header(&self, block: BlockId) -> Result<Option<BlockHeader>, RpcError> {
        self.request("eth_getBlockByNumber", serde_json::json!([block, false]))
    }

    /// `eth_call` of `data` on `to` at `block`; the returned bytes.
    pub fn call(&self, to: Address, data: &[u8], block: BlockId) -> Result<Bytes, RpcError> {
        let params = serde_json::json!([
            {"to": to, "data": Bytes::copy_from_slice(data)},
            block
        ]);
        self.request("eth_call", params)
    }

    /// `eth_sendTransaction`: the transaction's hash. A development node signs it with the
    /// sender's key (or impersonates the sender).
    pub fn send_transaction(&self, tx: &TransactionRequest) -> Result<B256, RpcError> {
        self.request("eth_sendTransaction", serde_json::json!([tx]))
    }

    /// `eth_getCode`: the contract code at `address` (empty when there is none).
    pub fn code(&self, address: Address, block: BlockId) -> Result<Bytes, RpcError> {
        self.request("eth_getCode", serde_json::json!([address, block]))
    }

    /// `eth_getTransactionReceipt`: `None` while the transaction is not mined.
    pub fn transaction_receipt(&self, hash: B256) -> Result<Option<Receipt>, RpcError> {
        self.request("eth_getTransactionReceipt", serde_json::json!([hash]))
    }
}

/// `eth_getLogs`' params for `filter`.
fn logs_params(filter: &LogFilter) -> Value {
    match filter.blocks {
        LogBlocks::Range { from, to } => serde_json::json!([{
            "address": filter.address,
            "topics": [filter.topic0],
            "fromBlock": format!("{from:#x}"),
            "toBlock": format!("{to:#x}"),
        }]),
        LogBlocks::Hash(hash) => serde_json::json!([{
            "address": filter.address,
            "topics": [filter.topic0],
            "blockHash": hash,
        }]),
    }
}

/// The start of an answer, as text, for an error message.
fn snippet(bytes: &[u8], chars: usize) -> String {
    String::from_utf8_lossy(bytes.get(..chars.saturating_mul(4)).unwrap_or(bytes))
        .chars()
        .take(chars)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpc_error(message: &str, data: Option<Value>) -> RpcError {
        RpcError::Rpc {
            method: "eth_sendTransaction".into(),
            code: -32603,
            message: message.into(),
            data,
        }
    }

    #[test]
    fn revert_reasons_come_from_the_data_or_the_message() {
        let encoded = alloy::sol_types::SolError::abi_encode(&alloy::sol_types::Revert::from(
            "Already GMed today",
        ));
        let hex = format!("0x{}", alloy::primitives::hex::encode(encoded));
        assert_eq!(
            rpc_error("x", Some(Value::String(hex.clone()))).revert_reason(),
            Some("Already GMed today".into())
        );
        assert_eq!(
            rpc_error("x", Some(serde_json::json!({"message": "m", "data": hex}))).revert_reason(),
            Some("Already GMed today".into())
        );
        assert_eq!(
            rpc_error(
                "Error: VM Exception while processing transaction: reverted with reason string 'Cannot GM to yourself'",
                None
            )
            .revert_reason(),
            Some("Cannot GM to yourself".into())
        );
        assert_eq!(
            rpc_error("nonce too low", Some(Value::from(3))).revert_reason(),
            None
        );
    }

    #[test]
    fn answers_decode_straight_into_their_result() {
        let decode = |text: &str| -> Result<Option<BlockHeader>, RpcError> {
            serde_json::from_str::<Answer<Option<BlockHeader>>>(text)
                .map_err(|e| RpcError::Malformed {
                    method: "m".into(),
                    detail: e.to_string(),
                })?
                .into_result("eth_getBlockByNumber", 7)
        };
        // null and a missing result are both "no block".
        assert_eq!(
            decode(r#"{"jsonrpc":"2.0","id":7,"result":null}"#).unwrap(),
            None
        );
        assert_eq!(decode(r#"{"jsonrpc":"2.0","id":7}"#).unwrap(), None);
        // A wrong id, version or result shape is malformed; an error is the node's refusal.
        for bad in [
            r#"{"jsonrpc":"2.0","id":8,"result":null}"#,
            r#"{"jsonrpc":"1.0","id":7,"result":null}"#,
            r#"{"jsonrpc":"2.0","id":7,"result":{"number":"ten"}}"#,
        ] {
            assert!(
                matches!(decode(bad), Err(RpcError::Malformed { .. })),
                "{bad}"
            );
        }
        let refused = decode(r#"{"jsonrpc":"2.0","id":7,"error":{"code":-1,"message":"no"}}"#);
        assert!(matches!(refused, Err(RpcError::Rpc { code: -1, .. })));
        // A quantity result may not be null.
        let quantity = serde_json::from_str::<Answer<U64>>(r#"{"jsonrpc":"2.0","id":1}"#)
            .unwrap()
            .into_result("eth_blockNumber", 1);
        assert!(matches!(quantity, Err(RpcError::Malformed { .. })));
    }

    #[test]
    fn block_ids_are_hex_quantities() {
        assert_eq!(serde_json::to_value(BlockId::Number(255)).unwrap(), "0xff");
        assert_eq!(serde_json::to_value(BlockId::Latest).unwrap(), "latest");
    }

    #[test]
    fn logs_decode_from_node_json() {
        let log: RpcLog = serde_json::from_value(serde_json::json!({
            "address": "0x5fbdb2315678afecb367f032d93f642f64180aa3",
            "topics": ["0x0000000000000000000000000000000000000000000000000000000000000001"],
            "data": "0x",
            "blockNumber": "0x2",
            "blockHash": "0x0000000000000000000000000000000000000000000000000000000000000002",
            "transactionHash": "0x0000000000000000000000000000000000000000000000000000000000000003",
            "logIndex": "0x0",
            "transactionIndex": "0x0"
        }))
        .unwrap();
        assert_eq!(log.block_number, Some(U64::from(2)));
        assert!(!log.removed);
        let bad = serde_json::from_value::<RpcLog>(serde_json::json!({"address": "0x12"}));
        assert!(bad.is_err());
    }

    #[test]
    fn headers_decode_from_node_json_and_refuse_missing_fields() {
        let word = |n: u8| format!("0x{}", format!("{n:02x}").repeat(32));
        let header: BlockHeader = serde_json::from_value(serde_json::json!({
            "number": "0x10",
            "hash": word(1),
            "parentHash": word(2),
            "timestamp": "0x6553f100",
            "transactions": [],
            "logsBloom": format!("0x{}", "00".repeat(256))
        }))
        .unwrap();
        assert_eq!(header.logs_bloom, Some(Bloom::default()));
        assert_eq!(header.number, U64::from(16));
        assert_eq!(header.timestamp, U64::from(0x6553_f100u64));
        assert_eq!(header.hash, B256::repeat_byte(1));
        for bad in [
            serde_json::json!({"number": "0x10", "hash": word(1), "parentHash": word(2)}),
            serde_json::json!({"number": "0x10", "hash": "0x12", "parentHash": word(2), "timestamp": "0x1"}),
            serde_json::json!({"number": "ten", "hash": word(1), "parentHash": word(2), "timestamp": "0x1"}),
            // A bloom filter is 256 bytes.
            serde_json::json!({"number": "0x10", "hash": word(1), "parentHash": word(2), "timestamp": "0x1", "logsBloom": "0x00"}),
        ] {
            assert!(
                serde_json::from_value::<BlockHeader>(bad.clone()).is_err(),
                "{bad}"
            );
        }
        // A node without the block answers null.
        assert_eq!(
            serde_json::from_value::<Option<BlockHeader>>(Value::Null).unwrap(),
            None
        );
    }

    #[test]
    fn an_unreachable_node_is_a_transport_error_naming_the_call() {
        // Port 9 (discard) on loopback: nothing listens there in tests.
        let client = RpcClient::new("http://127.0.0.1:9", Duration::from_secs(2));
        let error = client.block_number().unwrap_err();
        assert!(error.is_unreachable(), "{error}");
        assert!(error.to_string().contains("eth_blockNumber"), "{error}");
    }
}
