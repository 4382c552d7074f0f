//! The chain reader against a scripted JSON-RPC node that answers what a lagging backend behind
//! a load balancer, or a chain reorganising under the reader, answers: cases a real Hardhat
//! node cannot be made to produce. The node is a real HTTP server on loopback; only its
//! answers are scripted.

use onepulse_chain_watcher::ChainWatch;
use onepulse_chain_watcher::chain::{GmReader, ReadError};
use onepulse_domain::Chain;
use onepulse_evm::daily_gm;
use onepulse_evm::primitives::Bloom;
use onepulse_evm::rpc::DEFAULT_MAX_BODY;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CONTRACT: &str = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
/// Base's chain id, as a quantity.
const BASE: &str = "0x2105";
/// 2026-12-02T10:00:00Z: day 20 789.
const TIME: u64 = 1_796_205_600;

/// The calls the node received: (method, params).
type Calls = Arc<Mutex<Vec<(String, Value)>>>;

/// Starts a node on loopback answering each call with `answer(method, params)` (the JSON-RPC
/// result, or `Err((code, message))`); returns its URL and the calls it received.
fn node(
    answer: impl Fn(&str, &Value) -> Result<Value, (i64, String)> + Send + Sync + 'static,
) -> (String, Calls) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let calls: Calls = Arc::default();
    let seen = Arc::clone(&calls);
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let seen = Arc::clone(&seen);
            let answer = Arc::clone(&answer);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                // One request after another on a kept-alive connection, until it closes.
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let header = line.trim_end().to_ascii_lowercase();
                        if header.is_empty() {
                            break;
                        }
                        if let Some(value) = header.strip_prefix("content-length:") {
                            length = value.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let request: Value = serde_json::from_slice(&body).unwrap();
                    let one = |request: &Value| {
                        let method = request["method"].as_str().unwrap().to_owned();
                        let params = request["params"].clone();
                        seen.lock().unwrap().push((method.clone(), params.clone()));
                        match answer(&method, &params) {
                            Ok(result) => {
                                json!({"jsonrpc": "2.0", "id": request["id"], "result": result})
                            }
                            Err((code, message)) => json!({"jsonrpc": "2.0", "id": request["id"],
                                "error": {"code": code, "message": message}}),
                        }
                    };
                    // A batch is answered in reverse order: answers match calls by id.
                    let reply = match request.as_array() {
                        Some(batch) => Value::Array(batch.iter().rev().map(one).collect()),
                        None => one(&request),
                    }
                    .to_string();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        reply.len()
                    );
                    if writer.write_all(head.as_bytes()).is_err()
                        || writer.write_all(reply.as_bytes()).is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (url, calls)
}

fn reader(url: &str) -> GmReader {
    let watch = ChainWatch {
        chain: Chain::Base,
        rpc_url: url.to_owned(),
        contract: CONTRACT.parse().unwrap(),
        start_block: 0,
    };
    GmReader::new(&watch, Duration::from_secs(5), DEFAULT_MAX_BODY)
}

fn hash(n: u64) -> String {
    format!("0x{n:064x}")
}

fn header(number: u64, block_hash: &str, timestamp: u64) -> Value {
    json!({
        "number": format!("{number:#x}"),
        "hash": block_hash,
        "parentHash": hash(number + 1_000_000),
        "timestamp": format!("{timestamp:#x}"),
    })
}

/// A header whose logs bloom filter holds a `GM` of the contract.
fn header_with_gm_bloom(number: u64, block_hash: &str, timestamp: u64) -> Value {
    let mut bloom = Bloom::default();
    bloom.accrue_raw_log(CONTRACT.parse().unwrap(), &[daily_gm::gm_topic()]);
    let mut header = header(number, block_hash, timestamp);
    header["logsBloom"] = json!(bloom);
    header
}

/// A `GM` log of `user` (a small number) in `block` (hash `block_hash`) at `index`.
fn gm_log(block: u64, block_hash: &str, index: u64, user: u64) -> Value {
    json!({
        "address": CONTRACT,
        "topics": [daily_gm::gm_topic(), format!("0x{user:064x}"), hash(0)],
        "data": "0x",
        "blockNumber": format!("{block:#x}"),
        "blockHash": block_hash,
        "transactionHash": hash(block * 1000 + index),
        "logIndex": format!("{index:#x}"),
    })
}

fn block_asked(params: &Value) -> u64 {
    let text = params[0].as_str().unwrap();
    u64::from_str_radix(text.trim_start_matches("0x"), 16).unwrap()
}

fn methods(calls: &Calls) -> Vec<String> {
    calls
        .lock()
        .unwrap()
        .iter()
        .map(|(m, _)| m.clone())
        .collect()
}

#[test]
fn a_node_without_the_ranges_last_block_is_not_asked_for_its_logs() {
    // A lagging backend: it has no block 100 yet, and would answer an empty log list for it.
    let (url, calls) = node(|method, _| match method {
        "eth_getBlockByNumber" => Ok(Value::Null),
        "eth_getLogs" => Ok(json!([])),
        other => Err((-32601, format!("{other} not scripted"))),
    });
    match reader(&url).read(&(90..=100)) {
        Err(ReadError::NotYet { block: 100, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(methods(&calls), ["eth_getBlockByNumber"]);
}

#[test]
fn a_single_block_is_read_by_its_hash_and_days_come_from_its_header() {
    let block_hash = hash(0xb100);
    let answer_hash = block_hash.clone();
    let (url, calls) = node(move |method, params| match method {
        "eth_getBlockByNumber" => Ok(header(block_asked(params), &answer_hash, TIME)),
        // Only an answer by hash: a node asked by number for a block it lacks says nothing.
        "eth_getLogs" if params[0]["blockHash"] == json!(answer_hash) => Ok(json!([
            gm_log(100, &answer_hash, 3, 0xa),
            gm_log(100, &answer_hash, 0, 0xb),
        ])),
        "eth_getLogs" => Err((-32000, format!("not by hash: {params}"))),
        other => Err((-32601, format!("{other} not scripted"))),
    });
    let gms = reader(&url).read(&(100..=100)).unwrap();
    let found: Vec<(u64, u32, i32, String)> = gms
        .iter()
        .map(|gm| (gm.block_number, gm.log_index, gm.day, gm.address.clone()))
        .collect();
    assert_eq!(
        found,
        [
            (100, 0, 20_789, format!("0x{:040x}", 0xb)),
            (100, 3, 20_789, format!("0x{:040x}", 0xa)),
        ]
    );
    // The header before and after the logs; no eth_call, whatever the number of GMs.
    assert_eq!(
        methods(&calls),
        [
            "eth_getBlockByNumber",
            "eth_getLogs",
            "eth_getBlockByNumber"
        ]
    );
    let logs_params = &calls.lock().unwrap()[1].1;
    assert!(logs_params[0].get("fromBlock").is_none(), "{logs_params}");
    assert_eq!(logs_params[0]["blockHash"], json!(block_hash));
}

#[test]
fn a_range_reads_one_header_per_block_with_gms() {
    // Blocks 10..=20; GMs in block 12 (three) and 15 (one, the next day).
    let (url, calls) = node(|method, params| match method {
        "eth_chainId" => Ok(json!(BASE)),
        "eth_blockNumber" => Ok(json!("0x14")),
        "eth_getBlockByNumber" => {
            let n = block_asked(params);
            let time = if n >= 15 { TIME + 86_400 } else { TIME };
            Ok(header(n, &hash(0xb000 + n), time))
        }
        "eth_getLogs" => {
            assert_eq!(params[0]["fromBlock"], "0xa");
            assert_eq!(params[0]["toBlock"], "0x14");
            Ok(json!([
                gm_log(15, &hash(0xb000 + 15), 0, 4),
                gm_log(12, &hash(0xb000 + 12), 0, 1),
                gm_log(12, &hash(0xb000 + 12), 1, 2),
                gm_log(12, &hash(0xb000 + 12), 5, 3),
            ]))
        }
        other => Err((-32601, format!("{other} not scripted"))),
    });
    let gms = reader(&url).read(&(10..=20)).unwrap();
    let days: Vec<(u64, u32, i32)> = gms
        .iter()
        .map(|gm| (gm.block_number, gm.log_index, gm.day))
        .collect();
    assert_eq!(
        days,
        [
            (12, 0, 20_789),
            (12, 1, 20_789),
            (12, 5, 20_789),
            (15, 0, 20_790)
        ]
    );
    let headers: Vec<u64> = calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(m, _)| m == "eth_getBlockByNumber")
        .map(|(_, p)| block_asked(p))
        .collect();
    assert_eq!(headers, [20, 12, 15, 20], "one header per block with GMs");
    assert!(!methods(&calls).contains(&"eth_call".to_owned()));
}

#[test]
fn a_block_that_changes_while_it_is_read_is_not_reported() {
    // The range's last block is replaced (a reorganisation) between the two header reads.
    let asked = Arc::new(Mutex::new(0u32));
    let (url, _) = node(move |method, params| match method {
        "eth_getBlockByNumber" => {
            let mut asked = asked.lock().unwrap();
            *asked += 1;
            let n = block_asked(params);
            Ok(header(n, &hash(0xb000 + n + u64::from(*asked) * 7), TIME))
        }
        "eth_chainId" => Ok(json!(BASE)),
        "eth_blockNumber" => Ok(json!("0x14")),
        "eth_getLogs" => Ok(json!([])),
        other => Err((-32601, format!("{other} not scripted"))),
    });
    match reader(&url).read(&(10..=20)) {
        Err(e @ ReadError::BadAnswer { .. }) => {
            assert!(e.to_string().contains("changed while it was read"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_log_of_another_block_than_the_nodes_is_not_reported() {
    let (url, _) = node(|method, params| match method {
        "eth_getBlockByNumber" => {
            let n = block_asked(params);
            Ok(header(n, &hash(0xb000 + n), TIME))
        }
        "eth_chainId" => Ok(json!(BASE)),
        "eth_blockNumber" => Ok(json!("0x14")),
        // Block 12's log, but from a block 12 the node's header does not know.
        "eth_getLogs" => Ok(json!([gm_log(12, &hash(0xdead), 0, 1)])),
        other => Err((-32601, format!("{other} not scripted"))),
    });
    match reader(&url).read(&(10..=20)) {
        Err(e @ ReadError::BadAnswer { .. }) => {
            assert!(e.to_string().contains("changed while it was read"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_eth_get_logs_refusal_says_so_so_the_range_shrinks() {
    let (url, _) = node(|method, params| match method {
        "eth_getBlockByNumber" => Ok(header(block_asked(params), &hash(1), TIME)),
        "eth_chainId" | "eth_blockNumber" => Ok(json!(BASE)),
        "eth_getLogs" => Err((-32005, "query returned more than 10000 results".into())),
        other => Err((-32601, format!("{other} not scripted"))),
    });
    match reader(&url).read(&(10..=20)) {
        Err(e @ ReadError::Logs { .. }) => {
            assert!(e.to_string().contains("more than 10000 results"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_header_of_another_block_or_a_day_zero_timestamp_is_refused() {
    let (url, _) = node(|method, params| match method {
        // Asked for 20, answers 19.
        "eth_getBlockByNumber" => Ok(header(block_asked(params) - 1, &hash(1), TIME)),
        other => Err((-32601, format!("{other} not scripted"))),
    });
    assert!(matches!(
        reader(&url).read(&(10..=20)),
        Err(ReadError::BadAnswer { .. })
    ));
    let (url, _) = node(|method, params| match method {
        "eth_getBlockByNumber" => Ok(header(block_asked(params), &hash(1), 5)),
        "eth_getLogs" => Ok(json!([gm_log(20, &hash(1), 0, 1)])),
        other => Err((-32601, format!("{other} not scripted"))),
    });
    match reader(&url).read(&(20..=20)) {
        Err(e @ ReadError::BadAnswer { .. }) => {
            assert!(e.to_string().contains("no day a GM can have"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_range_answered_by_a_lagging_backend_is_not_trusted() {
    // The headers come from an up-to-date backend (block 20 is there); the batch
    // [eth_chainId, eth_blockNumber, eth_getLogs] reaches a backend whose head is 15, which
    // answers an empty list for blocks 16..=20 it does not have — where the real chain has a GM.
    let (url, calls) = node(|method, params| match method {
        "eth_getBlockByNumber" => Ok(header(block_asked(params), &hash(0xb014), TIME)),
        "eth_chainId" => Ok(json!(BASE)),
        "eth_blockNumber" => Ok(json!("0xf")),
        "eth_getLogs" => Ok(json!([])),
        other => Err((-32601, format!("{other} not scripted"))),
    });
    match reader(&url).read(&(10..=20)) {
        Err(ReadError::NotYet { block: 20, .. }) => {}
        other => panic!("{other:?}"),
    }
    // The three calls went as one batch (the node saw them in one request, in this order).
    assert_eq!(
        methods(&calls),
        [
            "eth_getBlockByNumber",
            "eth_getLogs",
            "eth_blockNumber",
            "eth_chainId"
        ]
    );
}

#[test]
fn a_range_answered_by_a_node_of_another_chain_is_refused() {
    let (url, _) = node(|method, params| match method {
        "eth_getBlockByNumber" => Ok(header(block_asked(params), &hash(0xb014), TIME)),
        "eth_chainId" => Ok(json!("0x1")),
        "eth_blockNumber" => Ok(json!("0x100")),
        "eth_getLogs" => Ok(json!([])),
        other => Err((-32601, format!("{other} not scripted"))),
    });
    match reader(&url).read(&(10..=20)) {
        Err(ReadError::WrongChain { got: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_batch_answer_missing_a_call_or_of_the_wrong_shape_is_malformed() {
    // eth_blockNumber answers a list: the batch is refused, as a logs failure (the range
    // shrinks), never read as a head.
    let (url, _) = node(|method, params| match method {
        "eth_getBlockByNumber" => Ok(header(block_asked(params), &hash(0xb014), TIME)),
        "eth_chainId" => Ok(json!(BASE)),
        "eth_blockNumber" => Ok(json!([])),
        "eth_getLogs" => Ok(json!([])),
        other => Err((-32601, format!("{other} not scripted"))),
    });
    match reader(&url).read(&(10..=20)) {
        Err(e @ ReadError::Logs { .. }) => assert!(e.to_string().contains("wrong kind"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_empty_answer_for_a_block_whose_bloom_holds_a_gm_is_retried() {
    // A node that answers [] by hash (not EIP-234's error) for a block it lacks; the header,
    // from an up-to-date backend, has the contract's GM in its logs bloom.
    let (url, _) = node(|method, params| match method {
        "eth_getBlockByNumber" => Ok(header_with_gm_bloom(
            block_asked(params),
            &hash(0xb064),
            TIME,
        )),
        "eth_chainId" => Ok(json!(BASE)),
        "eth_blockNumber" => Ok(json!("0x64")),
        "eth_getLogs" => Ok(json!([])),
        other => Err((-32601, format!("{other} not scripted"))),
    });
    let reader = reader(&url);
    match reader.read(&(100..=100)) {
        Err(ReadError::BloomMiss { block: 100, .. }) => {}
        other => panic!("{other:?}"),
    }
    // The same in a range whose last block's bloom holds a GM.
    match reader.read(&(90..=100)) {
        Err(ReadError::BloomMiss { block: 100, .. }) => {}
        other => panic!("{other:?}"),
    }
    // After retries, the watcher takes it as a false positive of the bloom filter.
    assert_eq!(reader.read_accepting_bloom_miss(&(100..=100)).unwrap(), []);
}

#[test]
fn a_bloom_without_the_gm_or_a_gm_found_passes() {
    let (url, _) = node(|method, params| match method {
        // Block 100's bloom holds a GM, and the logs have it; block 99 has an empty bloom.
        "eth_getBlockByNumber" => {
            let n = block_asked(params);
            if n == 100 {
                Ok(header_with_gm_bloom(n, &hash(0xb064), TIME))
            } else {
                let mut h = header(n, &hash(0xb000 + n), TIME);
                h["logsBloom"] = json!(Bloom::default());
                Ok(h)
            }
        }
        "eth_chainId" => Ok(json!(BASE)),
        "eth_blockNumber" => Ok(json!("0x64")),
        "eth_getLogs" if params[0]["blockHash"] == json!(hash(0xb063)) => Ok(json!([])),
        "eth_getLogs" => Ok(json!([gm_log(100, &hash(0xb064), 0, 1)])),
        other => Err((-32601, format!("{other} not scripted"))),
    });
    let reader = reader(&url);
    assert_eq!(reader.read(&(99..=99)).unwrap(), []);
    assert_eq!(reader.read(&(100..=100)).unwrap().len(), 1);
}

#[test]
fn a_too_large_logs_answer_is_refused_so_the_range_shrinks() {
    // 17 MiB of logs: more than the client reads.
    let big: Vec<Value> = (0..17 * 1024)
        .map(|i| {
            let mut log = gm_log(15, &hash(0xb00f), i, 1);
            log["data"] = json!(format!("0x{}", "00".repeat(450)));
            log
        })
        .collect();
    let big = Value::Array(big);
    let (url, _) = node(move |method, params| match method {
        "eth_getBlockByNumber" => Ok(header(block_asked(params), &hash(0xb014), TIME)),
        "eth_chainId" => Ok(json!(BASE)),
        "eth_blockNumber" => Ok(json!("0x14")),
        "eth_getLogs" => Ok(big.clone()),
        other => Err((-32601, format!("{other} not scripted"))),
    });
    match reader(&url).read(&(10..=20)) {
        Err(e @ ReadError::Logs { .. }) => assert!(e.to_string().contains("larger than"), "{e}"),
        other => panic!("{other:?}"),
    }
}
