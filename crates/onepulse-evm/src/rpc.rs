//! A blocking Ethereum JSON-RPC client over HTTP, for the few calls the project makes.
//!
//! Every answer is untrusted: a wrong `jsonrpc`/`id`, a body that is not JSON, a result of the
//! wrong shape — each is an [`RpcError::Malformed`] naming the call, never a panic.

use alloy::primitives::{Address, B256, Bytes, U64};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
pub use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Largest answer read (an `eth_getLogs` over many blocks).
const MAX_BODY: u64 = 64 * 1024 * 1024;

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

/// `eth_getLogs`' filter: the logs of `address` with topic 0 `topic0` in blocks
/// `from_block..=to_block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogFilter {
    /// The contract.
    pub address: Address,
    /// The event signature's hash.
    pub topic0: B256,
    /// The first block.
    pub from_block: u64,
    /// The last block (included).
    pub to_block: u64,
}

/// A JSON-RPC client of one node.
#[derive(Debug)]
pub struct RpcClient {
    url: String,
    agent: ureq::Agent,
    next_id: AtomicU64,
}

#[derive(Deserialize)]
struct Answer {
    jsonrpc: Option<String>,
    id: Option<Value>,
    result: Option<Value>,
    error: Option<AnswerError>,
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
        }
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with `params` (a JSON array) and decodes its result as `R`.
    pub fn request<R: DeserializeOwned>(&self, method: &str, params: Value) -> Result<R, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let transport = |detail: String| RpcError::Transport {
            url: self.url.clone(),
            method: method.to_owned(),
            detail,
        };
        let malformed = |detail: String| RpcError::Malformed {
            method: method.to_owned(),
            detail,
        };
        let mut response = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| transport(format!("reading the answer: {e}")))?;
        if status != 200 {
            return Err(RpcError::Http {
                url: self.url.clone(),
                method: method.to_owned(),
                status,
                body: text.chars().take(300).collect(),
            });
        }
        let answer: Answer = serde_json::from_str(&text).map_err(|e| {
            malformed(format!(
                "not a JSON-RPC answer ({e}): {}",
                text.chars().take(200).collect::<String>()
            ))
        })?;
        if answer.jsonrpc.as_deref() != Some("2.0") {
            return Err(malformed(format!(
                "jsonrpc is {:?}, not \"2.0\"",
                answer.jsonrpc
            )));
        }
        if answer.id != Some(Value::from(id)) {
            return Err(malformed(format!("answers id {:?}, not {id}", answer.id)));
        }
        if let Some(error) = answer.error {
            return Err(RpcError::Rpc {
                method: method.to_owned(),
                code: error.code,
                message: error.message,
                data: error.data,
            });
        }
        let result = answer.result.unwrap_or(Value::Null);
        serde_json::from_value(result.clone()).map_err(|e| {
            malformed(format!(
                "result {} is not what {method} returns: {e}",
                truncate(&result.to_string(), 200)
            ))
        })
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
        let params = serde_json::json!([{
            "address": filter.address,
            "topics": [filter.topic0],
            "fromBlock": format!("{:#x}", filter.from_block),
            "toBlock": format!("{:#x}", filter.to_block),
        }]);
        self.request("eth_getLogs", params)
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

fn truncate(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
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
    fn an_unreachable_node_is_a_transport_error_naming_the_call() {
        // Port 9 (discard) on loopback: nothing listens there in tests.
        let client = RpcClient::new("http://127.0.0.1:9", Duration::from_secs(2));
        let error = client.block_number().unwrap_err();
        assert!(error.is_unreachable(), "{error}");
        assert!(error.to_string().contains("eth_blockNumber"), "{error}");
    }
}
