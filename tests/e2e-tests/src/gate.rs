//! A loopback TCP gate between the browser and a server (SpacetimeDB, or the fallback
//! service), in one of four [`Mode`]s: open, it forwards; closed, it hangs up on every
//! connection, new and open (a blocked or unreachable server, as on a strict network);
//! stalled, it holds
//! every byte both ways on every connection, old and new, and keeps them open (a dead mobile
//! link, a NAT that forgot the connection); slow, it forwards at a few bytes per second.
//! It counts the WebSocket connections it forwarded and the data messages clients sent on them
//! (every subscription, one-off query and reducer call is one; pings, pongs and closes are not).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Longest HTTP request head the gate reads before forwarding.
const MAX_HEAD: usize = 16 * 1024;

/// A slow link sends its bytes in this many pieces a second.
const SLOW_TICKS_PER_SECOND: u64 = 10;

/// What the gate does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwards every byte as it comes.
    Open,
    /// Hangs up on new connections at once, and on open ones.
    Closed,
    /// Accepts and keeps every connection open but holds every byte, both ways, until the
    /// mode changes.
    Stalled,
    /// Forwards at most this many bytes per second in each direction of each connection
    /// (at least one byte a tick).
    Slow {
        /// The rate.
        bytes_per_second: u64,
    },
}

#[derive(Default)]
struct Counters {
    websockets: AtomicUsize,
    client_messages: AtomicU64,
}

/// The gate; stops listening on drop.
pub struct Gate {
    port: u16,
    counters: Arc<Counters>,
    mode: watch::Sender<Mode>,
    task: JoinHandle<()>,
}

impl Gate {
    /// Starts a gate in front of `127.0.0.1:upstream_port`, open or closed.
    pub async fn start(upstream_port: u16, open: bool) -> Self {
        Self::start_in(upstream_port, if open { Mode::Open } else { Mode::Closed }).await
    }

    /// Starts a gate in front of `127.0.0.1:upstream_port` in `mode`.
    pub async fn start_in(upstream_port: u16, mode: Mode) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("a loopback port for the gate");
        let port = listener.local_addr().expect("the gate's address").port();
        let counters = Arc::new(Counters::default());
        let (sender, modes) = watch::channel(mode);
        let shared = counters.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *modes.borrow() != Mode::Closed {
                    tokio::spawn(forward(
                        client,
                        upstream_port,
                        shared.clone(),
                        modes.clone(),
                    ));
                }
                // Closed: `client` is dropped, the connection is refused after accepting.
            }
        });
        Self {
            port,
            counters,
            mode: sender,
            task,
        }
    }

    /// `ws://127.0.0.1:PORT`, for the app's `?spacetimedb=`.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`, for the app's `?api=` (a gate in front of the fallback
    /// service).
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Lets connections through from now on (and lets held bytes go).
    pub fn open(&self) {
        self.set(Mode::Open);
    }

    /// Hangs up on every connection, open and new, from now on.
    pub fn close(&self) {
        self.set(Mode::Closed);
    }

    /// Holds every byte, both ways, on every connection, keeping them open.
    pub fn stall(&self) {
        self.set(Mode::Stalled);
    }

    /// Forwards at most `bytes_per_second` in each direction of each connection.
    pub fn slow(&self, bytes_per_second: u64) {
        self.set(Mode::Slow { bytes_per_second });
    }

    /// Switches to `mode`, for open connections too.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
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

async fn forward(
    mut client: TcpStream,
    upstream_port: u16,
    counters: Arc<Counters>,
    modes: watch::Receiver<Mode>,
) {
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
    let mut up_modes = modes.clone();
    if send(&mut upstream, &buffer, &mut up_modes).await.is_err() {
        return;
    }
    let mut frames = FrameCounter::default();
    if websocket {
        counters.websockets.fetch_add(1, Ordering::SeqCst);
        let early = frames.feed(buffer.get(head_end..).unwrap_or_default());
        counters.client_messages.fetch_add(early, Ordering::SeqCst);
    }
    let (client_read, mut client_write) = client.into_split();
    let (upstream_read, mut upstream_write) = upstream.into_split();
    let down = tokio::spawn(async move {
        pump(upstream_read, &mut client_write, modes, |_| {}).await;
        client_write.shutdown().await.ok();
    });
    pump(client_read, &mut upstream_write, up_modes, |bytes| {
        if websocket {
            let data = frames.feed(bytes);
            counters.client_messages.fetch_add(data, Ordering::SeqCst);
        }
    })
    .await;
    upstream_write.shutdown().await.ok();
    down.await.ok();
}

/// Copies `from` into `to` as the mode allows, passing every chunk read to `seen`, until
/// either side ends or the gate closes.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    to: &mut (impl AsyncWrite + Unpin),
    mut modes: watch::Receiver<Mode>,
    mut seen: impl FnMut(&[u8]),
) {
    let mut chunk = vec![0u8; 16 * 1024];
    let mut closing = modes.clone();
    loop {
        let read = tokio::select! {
            read = from.read(&mut chunk) => read,
            _ = closing.wait_for(|mode| *mode == Mode::Closed) => return,
        };
        let n = match read {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let bytes = chunk.get(..n).unwrap_or_default();
        seen(bytes);
        if send(to, bytes, &mut modes).await.is_err() {
            return;
        }
    }
}

/// Writes `bytes` to `to` as the mode allows: held while stalled, paced while slow.
async fn send(
    to: &mut (impl AsyncWrite + Unpin),
    mut bytes: &[u8],
    modes: &mut watch::Receiver<Mode>,
) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let mode = *modes.borrow_and_update();
        match mode {
            Mode::Stalled => {
                // Held until the mode changes (or the gate is dropped: then the bytes go).
                if modes.changed().await.is_err() {
                    modes.mark_unchanged();
                    return Err(std::io::ErrorKind::BrokenPipe.into());
                }
            }
            Mode::Slow { bytes_per_second } => {
                let piece = (bytes_per_second / SLOW_TICKS_PER_SECOND).max(1);
                let (now, later) = bytes.split_at(bytes.len().min(piece as usize));
                to.write_all(now).await?;
                bytes = later;
                tokio::time::sleep(Duration::from_millis(1000 / SLOW_TICKS_PER_SECOND)).await;
            }
            Mode::Closed => return Err(std::io::ErrorKind::ConnectionAborted.into()),
            Mode::Open => {
                to.write_all(bytes).await?;
                bytes = &[];
            }
        }
    }
    to.flush().await
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
    use std::time::Instant;

    /// An upstream that echoes every byte back; returns its port.
    async fn echo_server() -> u16 {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("a port");
        let port = listener.local_addr().expect("its address").port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = socket.split();
                    tokio::io::copy(&mut read, &mut write).await.ok();
                });
            }
        });
        port
    }

    /// Connects through `gate` and sends a request head (the gate forwards after one).
    async fn connect(gate: &Gate) -> TcpStream {
        let mut stream = TcpStream::connect(("127.0.0.1", gate.port))
            .await
            .expect("the gate accepts");
        stream
            .write_all(b"GET / HTTP/1.1\r\n\r\n")
            .await
            .expect("sent");
        stream
    }

    /// Reads exactly `n` bytes, or what came within `within`.
    async fn read_for(stream: &mut TcpStream, n: usize, within: Duration) -> Vec<u8> {
        let mut got = vec![0u8; n];
        let mut filled = 0;
        let deadline = tokio::time::Instant::now() + within;
        while filled < n {
            let Some(slot) = got.get_mut(filled..) else {
                break;
            };
            match tokio::time::timeout_at(deadline, stream.read(slot)).await {
                Ok(Ok(0) | Err(_)) | Err(_) => break,
                Ok(Ok(k)) => filled += k,
            }
        }
        got.truncate(filled);
        got
    }

    const HEAD: &[u8] = b"GET / HTTP/1.1\r\n\r\n";

    #[tokio::test]
    async fn a_stalled_gate_holds_every_byte_keeps_the_connection_and_lets_go_when_opened() {
        let gate = Gate::start(echo_server().await, true).await;
        let mut stream = connect(&gate).await;
        assert_eq!(
            read_for(&mut stream, HEAD.len(), Duration::from_secs(5)).await,
            HEAD
        );

        gate.stall();
        stream
            .write_all(b"ping")
            .await
            .expect("the connection stays open");
        assert!(
            read_for(&mut stream, 4, Duration::from_millis(500))
                .await
                .is_empty(),
            "nothing passes while stalled"
        );
        // A connection made while stalled is accepted and held too.
        let mut late = connect(&gate).await;
        assert!(
            read_for(&mut late, 1, Duration::from_millis(300))
                .await
                .is_empty()
        );

        gate.open();
        assert_eq!(
            read_for(&mut stream, 4, Duration::from_secs(5)).await,
            b"ping"
        );
        assert_eq!(
            read_for(&mut late, HEAD.len(), Duration::from_secs(5)).await,
            HEAD
        );
    }

    #[tokio::test]
    async fn a_slow_gate_paces_the_bytes() {
        let gate = Gate::start_in(
            echo_server().await,
            Mode::Slow {
                bytes_per_second: 100,
            },
        )
        .await;
        let started = Instant::now();
        let mut stream = connect(&gate).await;
        let payload = [7u8; 100];
        stream.write_all(&payload).await.expect("sent");
        let want = HEAD.len() + payload.len();
        let got = read_for(&mut stream, want, Duration::from_secs(20)).await;
        assert_eq!(got.len(), want, "everything arrives");
        // ~120 bytes each way at 100 B/s: more than a second (not a measure, a floor).
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_closed_gate_hangs_up_on_new_and_open_connections() {
        let gate = Gate::start(echo_server().await, true).await;
        let mut open = connect(&gate).await;
        assert_eq!(
            read_for(&mut open, HEAD.len(), Duration::from_secs(5)).await,
            HEAD
        );
        gate.close();
        let mut refused = TcpStream::connect(("127.0.0.1", gate.port))
            .await
            .expect("accepted");
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), refused.read(&mut byte)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "hung up: {read:?}");
        let read = tokio::time::timeout(Duration::from_secs(5), open.read(&mut byte)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "cut: {read:?}");
        // Open again: new connections flow.
        gate.open();
        let mut again = connect(&gate).await;
        assert_eq!(
            read_for(&mut again, HEAD.len(), Duration::from_secs(5)).await,
            HEAD
        );
    }

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
