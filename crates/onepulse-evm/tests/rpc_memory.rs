//! Memory per JSON-RPC answer: an answer is decoded straight from its bytes into its typed
//! result (no `serde_json::Value` of it, no copy), so a call holds about twice the answer's size
//! at most; an answer over the client's limit is refused before it is all read. A counting
//! global allocator measures the peak heap use of one `eth_getLogs` against a loopback node.

use onepulse_evm::daily_gm;
use onepulse_evm::rpc::{LogBlocks, LogFilter, RpcClient, RpcError};
use onepulse_evm::{Address, B256};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The system allocator, counting the bytes in use and their peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System::alloc`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is `System::dealloc`'s.
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CONTRACT: &str = "0x5fbdb2315678afecb367f032d93f642f64180aa3";

/// `count` GM logs as one JSON array, about 600 bytes each.
fn logs_json(count: u64) -> Vec<u8> {
    let word = |n: u64| format!("0x{n:064x}");
    let topic = daily_gm::gm_topic();
    let logs: Vec<String> = (0..count)
        .map(|i| {
            format!(
                r#"{{"address":"{CONTRACT}","topics":["{topic}","{}","{}"],"data":"0x","blockNumber":"0x5","blockHash":"{}","transactionHash":"{}","logIndex":"{i:#x}","transactionIndex":"0x0","removed":false}}"#,
                word(i + 1),
                word(0),
                word(0xb005),
                word(i + 0x5000)
            )
        })
        .collect();
    format!("[{}]", logs.join(",")).into_bytes()
}

/// A node on loopback answering every call with `result` (written as it is, never copied into
/// one reply buffer: the node's own allocations stay small).
fn node(result: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            loop {
                let mut length = 0usize;
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let header = line.trim_end().to_ascii_lowercase();
                    if header.is_empty() {
                        break;
                    }
                    if let Some(value) = header.strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap();
                    }
                }
                if length == 0 {
                    break;
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let start = format!(r#"{{"jsonrpc":"2.0","id":{},"result":"#, request["id"]);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    start.len() + result.len() + 1
                );
                let sent = writer
                    .write_all(head.as_bytes())
                    .and_then(|()| writer.write_all(start.as_bytes()))
                    .and_then(|()| writer.write_all(result))
                    .and_then(|()| writer.write_all(b"}"));
                if sent.is_err() {
                    break;
                }
            }
        }
    });
    url
}

fn filter() -> LogFilter {
    LogFilter {
        address: CONTRACT.parse::<Address>().unwrap(),
        topic0: daily_gm::gm_topic(),
        blocks: LogBlocks::Hash(B256::repeat_byte(5)),
    }
}

#[test]
fn a_logs_answer_costs_at_most_about_twice_its_size_and_too_large_is_refused() {
    let body: &'static [u8] = logs_json(16_000).leak();
    let size = body.len();
    assert!(size > 8 * 1024 * 1024, "{size}");
    let url = node(body);
    let client = RpcClient::new(&url, Duration::from_secs(30));

    let before = IN_USE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let logs = client.get_logs(&filter()).unwrap();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    assert_eq!(logs.len(), 16_000);
    eprintln!("peak {peak} bytes for a {size}-byte answer");
    assert!(
        peak <= size * 5 / 2,
        "peak {peak} bytes for a {size}-byte answer ({:.2}×)",
        peak as f64 / size as f64
    );
    drop(logs);
    // The node serves one connection at a time: close this client's.
    drop(client);

    // Over the limit: refused, naming the limit, without reading it all.
    let small = RpcClient::new(&url, Duration::from_secs(30)).with_max_body(1024 * 1024);
    let before = IN_USE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    match small.get_logs(&filter()) {
        Err(
            e @ RpcError::TooLarge {
                limit: 1_048_576, ..
            },
        ) => {
            assert!(e.to_string().contains("larger than 1048576 bytes"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    assert!(
        peak <= 3 * 1024 * 1024,
        "peak {peak} bytes reading 1 MiB at most"
    );
}
