//! A loopback TCP gate between the browser and SpacetimeDB: closed, it hangs up on every
//! connection (a blocked or unreachable database, as on a strict network); open, it forwards.
//! It counts the WebSocket connections it forwarded and the data messages clients sent on them
//! (every subscription, one-off query and reducer call is one; pings, pongs and closes are not).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Longest HTTP request head the gate reads before forwarding.
const MAX_HEAD: usize = 16 * 1024;

#[derive(Default)]
struct Counters {
    open: AtomicBool,
    websockets: AtomicUsize,
    client_messages: AtomicU64,
}

/// The gate; stops listening on drop.
pub struct Gate {
    port: u16,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl Gate {
    /// Starts a gate in front of `127.0.0.1:upstream_port`, open or closed.
    pub async fn start(upstream_port: u16, open: bool) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("a loopback port for the gate");
        let port = listener.local_addr().expect("the gate's address").port();
        let counters = Arc::new(Counters::default());
        counters.open.store(open, Ordering::SeqCst);
        let shared = counters.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if shared.open.load(Ordering::SeqCst) {
                    tokio::spawn(forward(client, upstream_port, shared.clone()));
                }
                // Closed: `client` is dropped, the connection is refused after accepting.
            }
        });
        Self {
            port,
            counters,
            task,
        }
    }

    /// `ws://127.0.0.1:PORT`, for the app's `?spacetimedb=`.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Lets connections through from now on.
    pub fn open(&self) {
        self.counters.open.store(true, Ordering::SeqCst);
    }

    /// WebSocket connections (`…/subscribe` upgrades) forwarded so far.
    pub fn websockets(&self) -> usize {
        self.counters.websockets.load(Ordering::SeqCst)
    }

    /// Data messages (text or binary frames) clients sent on WebSockets: zero means no
    /// subscription, query or reducer call was ever sent.
    pub fn client_messages(&self) -> u64 {
        self.counters.client_messages.load(Ordering::SeqCst)
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(mut client: TcpStream, upstream_port: u16, counters: Arc<Counters>) {
    let mut buffer = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 2048];
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
        if buffer.len() > MAX_HEAD {
            return;
        }
    };
    let head = String::from_utf8_lossy(buffer.get(..head_end).unwrap_or_default()).to_lowercase();
    let first_line = head.lines().next().unwrap_or_default();
    let websocket = first_line.contains("/subscribe") && head.contains("upgrade: websocket");
    let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", upstream_port)).await else {
        return;
    };
    if upstream.write_all(&buffer).await.is_err() {
        return;
    }
    let mut frames = FrameCounter::default();
    if websocket {
        counters.websockets.fetch_add(1, Ordering::SeqCst);
        let early = frames.feed(buffer.get(head_end..).unwrap_or_default());
        counters.client_messages.fetch_add(early, Ordering::SeqCst);
    }
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let down = tokio::spawn(async move {
        tokio::io::copy(&mut upstream_read, &mut client_write)
            .await
            .ok();
        client_write.shutdown().await.ok();
    });
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match client_read.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if websocket {
                    let data = frames.feed(chunk.get(..n).unwrap_or_default());
                    counters.client_messages.fetch_add(data, Ordering::SeqCst);
                }
                if upstream_write
                    .write_all(chunk.get(..n).unwrap_or_default())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    upstream_write.shutdown().await.ok();
    down.await.ok();
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Follows the frames of one client → server WebSocket stream (RFC 6455: client frames are
/// masked) and counts the data frames that start a message.
#[derive(Default)]
struct FrameCounter {
    header: Vec<u8>,
    payload_left: u64,
}

impl FrameCounter {
    /// Consumes `bytes`; returns how many text or binary frames began in them.
    fn feed(&mut self, mut bytes: &[u8]) -> u64 {
        let mut data_frames = 0;
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let skip = self.payload_left.min(bytes.len() as u64);
                self.payload_left -= skip;
                bytes = bytes.get(skip as usize..).unwrap_or_default();
                continue;
            }
            let (byte, rest) = bytes.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
            bytes = rest;
            self.header.push(byte);
            if let Some((opcode, payload)) = parse_header(&self.header) {
                if matches!(opcode, 1 | 2) {
                    data_frames += 1;
                }
                self.payload_left = payload;
                self.header.clear();
            }
        }
        data_frames
    }
}

/// A complete frame header's opcode and payload length, or `None` while it is incomplete.
fn parse_header(header: &[u8]) -> Option<(u8, u64)> {
    let (&first, &second) = (header.first()?, header.get(1)?);
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    let (length, extended) = match second & 0x7f {
        126 => (
            u64::from(u16::from_be_bytes(header.get(2..4)?.try_into().ok()?)),
            2,
        ),
        127 => (u64::from_be_bytes(header.get(2..10)?.try_into().ok()?), 8),
        short => (u64::from(short), 0),
    };
    (header.len() == 2 + extended + mask).then_some((first & 0x0f, length))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        frame.extend_from_slice(&[1, 2, 3, 4]);
        frame.extend_from_slice(payload);
        frame
    }

    #[test]
    fn counts_data_frames_but_not_control_frames_across_any_split() {
        let mut stream = masked(0xA, b""); // pong
        stream.extend(masked(2, &[7; 300])); // binary, 16-bit length
        stream.extend(masked(9, b"hi")); // ping
        stream.extend(masked(1, b"text"));
        stream.extend(masked(8, &[3, 232])); // close
        for split in 0..stream.len() {
            let mut counter = FrameCounter::default();
            let (a, b) = stream.split_at(split);
            assert_eq!(counter.feed(a) + counter.feed(b), 2, "split at {split}");
        }
        let mut one_by_one = FrameCounter::default();
        let total: u64 = stream.iter().map(|b| one_by_one.feed(&[*b])).sum();
        assert_eq!(total, 2);
    }
}
