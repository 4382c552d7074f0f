//! A TCP gate in front of a local service: forwards connections while open; while closed,
//! cuts the connections it carries and hangs up on new ones at once (an RPC outage).

use crate::Error;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the accept loop looks at the stop flag.
const POLL: Duration = Duration::from_millis(10);

#[derive(Debug, Default)]
struct State {
    open: AtomicBool,
    stopping: AtomicBool,
    next_id: AtomicU64,
    /// Both ends of every connection carried, to cut them when the gate closes; removed when
    /// the connection ends.
    live: Mutex<HashMap<u64, [TcpStream; 2]>>,
}

impl State {
    fn live(&self) -> MutexGuard<'_, HashMap<u64, [TcpStream; 2]>> {
        // Plain data: a panic elsewhere leaves nothing inconsistent behind.
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cut_all(&self) {
        for (_, streams) in self.live().drain() {
            for stream in streams {
                // Already closed is fine.
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

/// A TCP forwarder on a free `127.0.0.1` port to `target`; starts open; stops when dropped.
#[derive(Debug)]
pub struct TcpGate {
    address: SocketAddr,
    state: Arc<State>,
    acceptor: Option<JoinHandle<()>>,
}

impl TcpGate {
    /// Starts forwarding a free loopback port to `target`.
    pub fn start(target: SocketAddr) -> Result<Self, Error> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| Error::Io { what, source }
        };
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io("binding the TCP gate"))?;
        listener
            .set_nonblocking(true)
            .map_err(io("setting the TCP gate non-blocking"))?;
        let address = listener
            .local_addr()
            .map_err(io("reading the gate's address"))?;
        let state = Arc::new(State::default());
        state.open.store(true, Ordering::SeqCst);
        let acceptor = {
            let state = Arc::clone(&state);
            std::thread::Builder::new()
                .name(format!("tcp-gate {address}"))
                .spawn(move || accept_loop(&listener, target, &state))
                .map_err(io("starting the TCP gate's thread"))?
        };
        Ok(Self {
            address,
            state,
            acceptor: Some(acceptor),
        })
    }

    /// The gate's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:PORT` of the gate.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Closes the gate: connections carried are cut, new ones are hung up on at once.
    pub fn close(&self) {
        self.state.open.store(false, Ordering::SeqCst);
        self.state.cut_all();
    }

    /// Opens the gate again.
    pub fn open(&self) {
        self.state.open.store(true, Ordering::SeqCst);
    }

    /// Whether the gate is open.
    pub fn is_open(&self) -> bool {
        self.state.open.load(Ordering::SeqCst)
    }
}

impl Drop for TcpGate {
    fn drop(&mut self) {
        self.state.stopping.store(true, Ordering::SeqCst);
        self.state.cut_all();
        if let Some(acceptor) = self.acceptor.take() {
            // The loop only ends on the flag; a panic in it has nothing left to clean up.
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, target: SocketAddr, state: &Arc<State>) {
    while !state.stopping.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                if !state.open.load(Ordering::SeqCst) {
                    // Closed: hang up at once.
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                if let Err(e) = forward(client, target, state) {
                    eprintln!("tcp-gate: forwarding to {target}: {e}");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) => {
                eprintln!("tcp-gate: accept failed: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
}

fn forward(client: TcpStream, target: SocketAddr, state: &Arc<State>) -> io::Result<()> {
    client.set_nonblocking(false)?;
    let server = TcpStream::connect_timeout(&target, Duration::from_secs(5))?;
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    state
        .live()
        .insert(id, [client.try_clone()?, server.try_clone()?]);
    let (client_read, server_write) = (client.try_clone()?, server.try_clone()?);
    let upstream = Arc::clone(state);
    std::thread::spawn(move || pipe(client_read, server_write, id, &upstream));
    let downstream = Arc::clone(state);
    std::thread::spawn(move || pipe(server, client, id, &downstream));
    Ok(())
}

/// Copies `from` to `to` until either side ends, then ends both and forgets the connection.
fn pipe(mut from: TcpStream, mut to: TcpStream, id: u64, state: &State) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if buffer
                    .get(..n)
                    .is_none_or(|bytes| to.write_all(bytes).is_err())
                {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
    state.live().remove(&id);
}
