//! The native transport: tokio + tokio-tungstenite around [`ClientCore`].
//!
//! For tests, tools and services. One task owns the socket; every call locks the core briefly,
//! queues the frames it produced, and waits (when it returns a future) for the matching event.
//!
//! The core's clock is the time since the connection was made: calls tell it the time before
//! they are made, and the socket task wakes at the core's next deadline
//! ([`ClientCore::poll_timeout`]) so that unanswered calls end as
//! [`ReducerOutcome::TimedOut`].
//!
//! A panic while handling a frame (a bug, e.g. in a row type) is caught: the core is rebuilt
//! from a blank copy (same tables and settings; subscriptions restored with the same handles,
//! calls in flight ended as [`ReducerOutcome::ConnectionLost`]), an
//! [`Event::FrameError`] with [`FrameError::Panicked`] is sent,
//! and the socket is replaced by a new one, where the subscriptions apply again.

use crate::connect::{TokenRefusal, read_websocket_token};
use crate::frame::MESSAGE_SLACK;
use crate::waiters::{Waiters, one_off_rows};
use crate::{
    Backoff, ClientCore, ConnectOptions, ConnectionError, ConnectionId, ConnectionStatus,
    Credentials, Event, FrameError, Identity, ReducerOutcome, Row, SUBPROTOCOL, SubscriptionId,
    TableCache,
};
use futures_channel::oneshot;
use futures_util::{SinkExt, StreamExt};
use spacetimedb_lib::ser::Serialize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Longest a connection attempt (token exchange + WebSocket handshake) may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

struct Shared {
    core: ClientCore,
    waiters: Waiters,
    events: mpsc::UnboundedSender<Event>,
    outgoing: mpsc::UnboundedSender<Vec<u8>>,
    shutdown: Option<oneshot::Sender<()>>,
    closed: Option<String>,
    /// The origin of the core's clock.
    origin: Instant,
    /// Wakes the socket task when a call may have brought the next deadline closer.
    timer: Arc<Notify>,
}

impl Shared {
    /// Tells the core the time.
    fn tick(&mut self) {
        let now = self.origin.elapsed();
        self.core.handle_timeout(now);
    }

    /// Queues the core's frames for the socket and hands its events out.
    fn flush(&mut self) {
        while let Some(frame) = self.core.poll_transmit() {
            // The receiver lives as long as the socket task; after it, `closed` is set.
            let _ = self.outgoing.send(frame);
        }
        while let Some(event) = self.core.poll_event() {
            self.waiters.dispatch(&event);
            // Nobody listening to events is fine.
            let _ = self.events.send(event);
        }
    }
}

/// A live connection to a database.
#[derive(Clone)]
pub struct NativeConnection {
    shared: Arc<Mutex<Shared>>,
    identity: Identity,
    connection_id: ConnectionId,
    new_token: Option<String>,
    status: watch::Receiver<ConnectionStatus>,
}

impl std::fmt::Debug for NativeConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeConnection")
            .field("identity", &self.identity.to_hex().to_string())
            .finish_non_exhaustive()
    }
}

/// Exchanges a long-lived token for a 60-second WebSocket token.
pub async fn websocket_token(
    options: &ConnectOptions,
    token: &str,
) -> Result<String, ConnectionError> {
    let url = options.websocket_token_url();
    let bearer = format!("Bearer {token}");
    let answer = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(CONNECT_TIMEOUT))
            .build()
            .into();
        let mut response = agent
            .post(&url)
            .header("Authorization", &bearer)
            .send_empty()
            .map_err(|e| ConnectionError::Connect(format!("{url}: {e}")))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| ConnectionError::Connect(format!("{url}: {e}")))?;
        Ok::<_, ConnectionError>((status, body))
    })
    .await
    .map_err(|e| ConnectionError::Connect(e.to_string()))??;
    let (status, body) = answer;
    read_websocket_token(status, &body).map_err(|refusal| match refusal {
        TokenRefusal::Rejected(message) => ConnectionError::TokenRejected(message),
        TokenRefusal::Unusable(message) => ConnectionError::Connect(message),
    })
}

/// The raw WebSocket of a native connection.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the WebSocket to `options`' database with the v1 subprotocol, as the holder of `token`
/// (a short-lived one from [`websocket_token`], or none for an anonymous connect). For tools
/// that drive a [`ClientCore`] themselves.
pub async fn open_socket(
    options: &ConnectOptions,
    token: Option<&str>,
) -> Result<Socket, ConnectionError> {
    let url = options.subscribe_url(token);
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| ConnectionError::Connect(format!("{url}: {e}")))?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    // Larger messages close the socket (which then reconnects); smaller ones over the limit
    // are refused by the core with an event.
    let limit = options.max_frame_bytes.saturating_add(MESSAGE_SLACK);
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let (socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
        .await
        .map_err(|e| ConnectionError::Connect(format!("{}: {e}", options.uri)))?;
    Ok(socket)
}

impl NativeConnection {
    /// Connects, registers tables with `register`, and waits for the server's identity.
    ///
    /// With `options.token` set, the token is first exchanged for a 60-second one (the same flow
    /// a browser must use). Returns the connection and the stream of every [`Event`]. When the
    /// socket closes later, the connection reconnects by itself (see [`Backoff`]) with the same
    /// identity, sends every subscription again and resyncs the cache.
    pub async fn connect(
        options: &ConnectOptions,
        register: impl FnOnce(&mut ClientCore),
    ) -> Result<(Self, mpsc::UnboundedReceiver<Event>), ConnectionError> {
        let mut socket = open(options).await?;
        let mut core = ClientCore::new(match options.token {
            Some(_) => Credentials::Token,
            None => Credentials::Anonymous,
        });
        core.configure(options);
        register(&mut core);
        let (identity, connection_id, new_token) = handshake(&mut socket, &mut core).await?;

        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (out_tx, out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let (status_tx, status_rx) = watch::channel(ConnectionStatus::Connected(identity));
        let _ = events_tx.send(Event::Connected {
            identity,
            connection_id,
            new_token: new_token.clone(),
        });
        let timer = Arc::new(Notify::new());
        let shared = Arc::new(Mutex::new(Shared {
            core,
            waiters: Waiters::default(),
            events: events_tx,
            outgoing: out_tx,
            shutdown: Some(shutdown_tx),
            closed: None,
            origin: Instant::now(),
            timer: Arc::clone(&timer),
        }));
        // Reconnects use the long-lived token, so they come back as the same identity.
        let reconnect_options = ConnectOptions {
            token: options.token.clone().or_else(|| new_token.clone()),
            ..options.clone()
        };
        let pump = Pump {
            shared: Arc::clone(&shared),
            outgoing: out_rx,
            shutdown: shutdown_rx,
            status: status_tx,
            options: reconnect_options,
            timer,
        };
        tokio::spawn(pump.run(socket));

        let connection = Self {
            shared,
            identity,
            connection_id,
            new_token,
            status: status_rx,
        };
        Ok((connection, events_rx))
    }

    /// Where the connection stands now.
    pub fn status(&self) -> ConnectionStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change.
    pub fn status_changes(&self) -> watch::Receiver<ConnectionStatus> {
        self.status.clone()
    }

    /// Our identity.
    pub fn identity(&self) -> Identity {
        self.identity
    }

    /// This connection's id.
    pub fn connection_id(&self) -> ConnectionId {
        self.connection_id
    }

    /// The long-lived token minted for an anonymous connect (keep it to be the same identity
    /// next time); `None` when connected with a token.
    pub fn new_token(&self) -> Option<&str> {
        self.new_token.as_deref()
    }

    /// Runs `f` on the core, then sends what it produced.
    fn with_core<R>(
        &self,
        f: impl FnOnce(&mut ClientCore, &mut Waiters) -> R,
    ) -> Result<R, ConnectionError> {
        let mut shared = lock(&self.shared);
        if let Some(reason) = &shared.closed {
            return Err(ConnectionError::Closed(reason.clone()));
        }
        let shared = &mut *shared;
        shared.tick();
        let result = f(&mut shared.core, &mut shared.waiters);
        shared.flush();
        // The call may have set the earliest deadline.
        shared.timer.notify_one();
        Ok(result)
    }

    /// Subscribes and waits until the rows are in the cache (or the server refuses, or the
    /// subscription is ended first).
    pub async fn subscribe<Q: Into<String>>(
        &self,
        queries: impl IntoIterator<Item = Q>,
    ) -> Result<SubscriptionId, ConnectionError> {
        let (id, rx) = self.with_core(|core, waiters| waiters.subscribe(core, queries))??;
        rx.await.map_err(|_| self.closed_error())??;
        Ok(id)
    }

    /// Ends a subscription.
    pub fn unsubscribe(&self, id: SubscriptionId) -> Result<(), ConnectionError> {
        self.with_core(|core, _| core.unsubscribe(id))??;
        Ok(())
    }

    /// Calls a reducer with its arguments as a tuple and waits for the outcome.
    pub async fn call_reducer<A: Serialize + ?Sized>(
        &self,
        reducer: &str,
        args: &A,
    ) -> Result<ReducerOutcome, ConnectionError> {
        let rx = self.call_reducer_later(reducer, args)?;
        rx.await.map_err(|_| self.closed_error())
    }

    /// Calls a reducer and returns at once; the receiver gets the outcome.
    pub fn call_reducer_later<A: Serialize + ?Sized>(
        &self,
        reducer: &str,
        args: &A,
    ) -> Result<oneshot::Receiver<ReducerOutcome>, ConnectionError> {
        let rx = self.with_core(|core, waiters| waiters.call_reducer(core, reducer, args))??;
        Ok(rx)
    }

    /// Runs a SQL `SELECT` once and decodes the rows of `T`'s table.
    pub async fn one_off_query<T: Row>(&self, sql: &str) -> Result<Vec<T>, ConnectionError> {
        let rx = self.with_core(|core, waiters| waiters.one_off_query(core, sql))?;
        one_off_rows(rx.await.map_err(|_| self.closed_error())?)
    }

    /// Reads `T`'s cached rows (`None` if the table was not registered).
    pub fn with_table<T: Row, R>(&self, f: impl FnOnce(&TableCache<T>) -> R) -> Option<R> {
        lock(&self.shared).core.table::<T>().map(f)
    }

    /// Runs `f` with the core (statistics, subscription states).
    pub fn inspect<R>(&self, f: impl FnOnce(&ClientCore) -> R) -> R {
        f(&lock(&self.shared).core)
    }

    /// Closes the socket; calls in flight end with [`ReducerOutcome::ConnectionLost`].
    pub fn close(&self) {
        if let Some(shutdown) = lock(&self.shared).shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Whether the socket has closed.
    pub fn is_closed(&self) -> bool {
        lock(&self.shared).closed.is_some()
    }

    fn closed_error(&self) -> ConnectionError {
        ConnectionError::Closed(
            lock(&self.shared)
                .closed
                .clone()
                .unwrap_or_else(|| "closed".into()),
        )
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic while holding the lock leaves consistent data behind (no partial updates are
    // visible to other callers), so poisoning is not a reason to fail.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// Opens a socket for `options`, exchanging its token for a 60-second one first; gives up after
/// [`CONNECT_TIMEOUT`] (a server that accepts but never answers must not stall reconnection).
async fn open(options: &ConnectOptions) -> Result<Socket, ConnectionError> {
    let attempt = async {
        let short_token = match &options.token {
            Some(token) => Some(websocket_token(options, token).await?),
            None => None,
        };
        open_socket(options, short_token.as_deref()).await
    };
    tokio::time::timeout(CONNECT_TIMEOUT, attempt)
        .await
        .map_err(|_| {
            ConnectionError::Connect(format!(
                "{}: no answer within {CONNECT_TIMEOUT:?}",
                options.uri
            ))
        })?
}

/// Reads the first frame, which must be the identity, into `core`.
async fn handshake(
    socket: &mut Socket,
    core: &mut ClientCore,
) -> Result<(Identity, ConnectionId, Option<String>), ConnectionError> {
    let first = loop {
        match socket.next().await {
            Some(Ok(Message::Binary(frame))) => break frame,
            Some(Ok(Message::Close(close))) => {
                return Err(ConnectionError::Connect(format!(
                    "closed before identity: {close:?}"
                )));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(ConnectionError::Connect(e.to_string())),
            None => return Err(ConnectionError::Connect("closed before identity".into())),
        }
    };
    handle_frame(core, &first).map_err(|panic| {
        ConnectionError::Connect(format!("handling the identity frame panicked: {panic}"))
    })?;
    match core.poll_event() {
        Some(Event::Connected {
            identity,
            connection_id,
            new_token,
        }) => Ok((identity, connection_id, new_token)),
        _ => Err(ConnectionError::Connect(
            "the first message was not an identity".into(),
        )),
    }
}

/// The task that owns the socket: moves frames both ways and reconnects when it closes.
struct Pump {
    shared: Arc<Mutex<Shared>>,
    outgoing: mpsc::UnboundedReceiver<Vec<u8>>,
    shutdown: oneshot::Receiver<()>,
    status: watch::Sender<ConnectionStatus>,
    options: ConnectOptions,
    timer: Arc<Notify>,
}

/// Hands `frame` to `core`, catching a panic (whose message is returned). After a panic the
/// core may be half-way through a change: rebuild it (see [`Waiters::rebuild`]).
fn handle_frame(core: &mut ClientCore, frame: &[u8]) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(|| core.handle_frame(frame))).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

/// Why a socket stopped.
enum Stop {
    Lost(String),
    ClosedByClient,
}

impl Pump {
    async fn run(mut self, mut socket: Socket) {
        let started = Instant::now();
        loop {
            let stop = self.carry(&mut socket).await;
            let _ = socket.close(None).await;
            {
                let mut shared = lock(&self.shared);
                shared.core.connection_lost();
                shared.flush();
                // Frames queued for the old socket belong to calls that already ended.
                while self.outgoing.try_recv().is_ok() {}
                if let Stop::ClosedByClient = stop {
                    shared.closed = Some("closed by the client".into());
                    // Subscriptions still waiting to apply never will.
                    shared.waiters.close();
                }
            }
            let reason = match stop {
                Stop::ClosedByClient => {
                    return self.set_status(ConnectionStatus::Disconnected(
                        "closed by the client".into(),
                    ));
                }
                Stop::Lost(reason) => reason,
            };
            log::warn!("connection lost: {reason}; reconnecting");
            match self.reconnect(started).await {
                Some(new_socket) => socket = new_socket,
                None => {
                    let mut shared = lock(&self.shared);
                    shared.closed = Some("closed by the client".into());
                    shared.waiters.close();
                    drop(shared);
                    return self.set_status(ConnectionStatus::Disconnected(
                        "closed by the client".into(),
                    ));
                }
            }
        }
    }

    fn set_status(&self, status: ConnectionStatus) {
        log::info!("connection status: {status}");
        self.status.send_replace(status);
    }

    /// Moves frames until the socket closes or the client closes it; ends calls at their
    /// deadline.
    async fn carry(&mut self, socket: &mut Socket) -> Stop {
        loop {
            let deadline = {
                let shared = lock(&self.shared);
                shared
                    .core
                    .poll_timeout()
                    .map(|at| tokio::time::Instant::from_std(shared.origin + at))
            };
            let timeout = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                message = socket.next() => match message {
                    Some(Ok(Message::Binary(frame))) => {
                        let mut shared = lock(&self.shared);
                        let shared_ref = &mut *shared;
                        shared_ref.tick();
                        if let Err(panic) = handle_frame(&mut shared_ref.core, &frame) {
                            log::error!("handling a frame panicked: {panic}; rebuilding the connection state");
                            let blank = shared_ref.core.blank();
                            shared_ref.core = shared_ref
                                .waiters
                                .rebuild(blank, FrameError::Panicked(panic));
                            shared_ref.flush();
                            return Stop::Lost("handling a frame panicked".into());
                        }
                        shared.flush();
                        if let Some((identity, _)) = shared.core.identity()
                            && !matches!(*self.status.borrow(), ConnectionStatus::Connected(_))
                        {
                            drop(shared);
                            self.set_status(ConnectionStatus::Connected(identity));
                        }
                    }
                    Some(Ok(Message::Close(close))) => return Stop::Lost(format!("closed by the server: {close:?}")),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Stop::Lost(e.to_string()),
                    None => return Stop::Lost("socket ended".into()),
                },
                frame = self.outgoing.recv() => match frame {
                    Some(frame) => {
                        if let Err(e) = socket.send(Message::Binary(frame.into())).await {
                            return Stop::Lost(e.to_string());
                        }
                    }
                    None => return Stop::ClosedByClient,
                },
                _ = &mut self.shutdown => return Stop::ClosedByClient,
                _ = timeout => {
                    let mut shared = lock(&self.shared);
                    shared.tick();
                    shared.flush();
                }
                // A call was made: its deadline may come before the one slept on.
                _ = self.timer.notified() => {}
            }
        }
    }

    /// Tries again on the backoff schedule until a socket opens (or the client closes).
    async fn reconnect(&mut self, started: Instant) -> Option<Socket> {
        let outage = Instant::now();
        let backoff = Backoff::default();
        for attempt in 1.. {
            let delay = backoff.delay(attempt, outage.elapsed(), jitter());
            self.set_status(ConnectionStatus::Reconnecting {
                attempt,
                next_try_at_ms: (started.elapsed() + delay).as_secs_f64() * 1000.0,
            });
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = &mut self.shutdown => return None,
            }
            match open(&self.options).await {
                Ok(socket) => return Some(socket),
                Err(e) => log::info!("reconnect attempt {attempt} failed: {e}"),
            }
        }
        None
    }
}

/// A number in `[0, 1)` that differs between clients and attempts.
fn jitter() -> f64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    f64::from(nanos % 1_000_000) / 1_000_000.0
}
