//! The native transport: tokio + tokio-tungstenite around [`ClientCore`].
//!
//! For tests, tools and services. One task owns the socket; every call locks the core briefly,
//! queues the frames it produced, and waits (when it returns a future) for the matching event.
//!
//! The connection's lifecycle is the core's ([`ClientCore::start`]): the socket task carries out
//! its [`Action`]s (open a socket, drop this one), tells it what happened, and wakes at its next
//! deadline ([`ClientCore::poll_timeout`]) — unanswered calls end as
//! [`ReducerOutcome::TimedOut`], retries start, silent sockets are probed (see
//! [`crate::Heartbeat`]). The core's clock is the time since the connection was made.
//!
//! A panic while handling a frame (a bug, e.g. in a row type) is caught: the core is rebuilt
//! from a blank copy (same tables and settings; subscriptions restored with the same handles,
//! calls in flight ended as [`ReducerOutcome::ConnectionLost`]), an
//! [`Event::FrameError`] with [`FrameError::Panicked`] is sent,
//! and the socket is replaced by a new one, where the subscriptions apply again.

use crate::connect::read_websocket_token;
use crate::frame::MESSAGE_SLACK;
use crate::waiters::{Waiters, one_off_rows};
use crate::{
    Action, ClientCore, ConnectOptions, ConnectionError, ConnectionId, ConnectionStatus,
    Credentials, Event, FrameError, Identity, ReducerOutcome, Row, SUBPROTOCOL, SubscriptionId,
    TableCache,
};
use futures_channel::oneshot;
use futures_util::{SinkExt, StreamExt};
use spacetimedb_lib::ser::Serialize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Longest a connection attempt (token exchange + WebSocket handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest sending one frame may take before the socket counts as lost (a stalled link).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection closed by [`NativeConnection::close`] is closed.
const CLOSED_BY_CLIENT: &str = "closed by the client";

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
    status: watch::Sender<ConnectionStatus>,
    /// The long-lived token the next socket connects with: the given one, or the one minted for
    /// an anonymous connect; forgotten when SpacetimeDB says it is not valid.
    token: Option<String>,
    /// The latest identity the server said, and the token minted with it (anonymous connects).
    identity: Option<(Identity, ConnectionId, Option<String>)>,
}

impl Shared {
    /// Tells the core the time.
    fn tick(&mut self) {
        let now = self.origin.elapsed();
        self.core.handle_timeout(now);
    }

    /// Queues the core's frames for the socket, hands its events out and publishes its status.
    fn flush(&mut self) {
        while let Some(frame) = self.core.poll_transmit() {
            // The receiver lives as long as the socket task; after it, `closed` is set.
            let _ = self.outgoing.send(frame);
        }
        while let Some(event) = self.core.poll_event() {
            // The future an event answers completes after the event is sent: whoever awaited
            // it finds the event already in the stream.
            let settle = self.waiters.settle(&event);
            if let Event::Connected {
                identity,
                connection_id,
                new_token,
            } = &event
            {
                if new_token.is_some() {
                    self.token.clone_from(new_token);
                }
                self.identity = Some((*identity, *connection_id, new_token.clone()));
            }
            // Nobody listening to events is fine.
            let _ = self.events.send(event);
            if let Some(settle) = settle {
                settle.complete();
            }
        }
        let status = self.core.status();
        if *self.status.borrow() != *status {
            log::info!("connection status: {status}");
            self.status.send_replace(status.clone());
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

/// Asks `POST /v1/identity/websocket-token` for a 60-second token: the answer's status and body.
async fn fetch_websocket_token(
    options: &ConnectOptions,
    token: &str,
) -> Result<(u16, String), ConnectionError> {
    let url = options.websocket_token_url();
    let bearer = format!("Bearer {token}");
    tokio::task::spawn_blocking(move || {
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
    .map_err(|e| ConnectionError::Connect(e.to_string()))?
}

/// Exchanges a long-lived token for a 60-second WebSocket token.
pub async fn websocket_token(
    options: &ConnectOptions,
    token: &str,
) -> Result<String, ConnectionError> {
    let (status, body) = fetch_websocket_token(options, token).await?;
    read_websocket_token(status, &body).map_err(Into::into)
}

impl From<crate::connect::TokenRefusal> for ConnectionError {
    fn from(refusal: crate::connect::TokenRefusal) -> Self {
        match refusal {
            crate::connect::TokenRefusal::Rejected(message) => {
                ConnectionError::TokenRejected(message)
            }
            crate::connect::TokenRefusal::Unusable(message) => ConnectionError::Connect(message),
        }
    }
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
    /// Connects, registers tables with `register`, and waits for the server's identity; the
    /// first attempt's failure is returned (a rejected token as
    /// [`ConnectionError::TokenRejected`]).
    ///
    /// With `options.token` set, the token is first exchanged for a 60-second one (the same flow
    /// a browser must use). Returns the connection and the stream of every [`Event`]. When the
    /// socket closes later (or stops answering, see [`crate::Heartbeat`]), the connection
    /// reconnects by itself on the [`Backoff`](crate::Backoff) schedule with the same identity,
    /// sends every subscription again and resyncs the cache. Should SpacetimeDB later say the
    /// token is not valid (e.g. the database was wiped), it is forgotten and the connection goes
    /// on anonymously, as the browser transport does: the new identity and its token come with
    /// [`Event::Connected`].
    ///
    /// Events come in the core's order, and the future of a call completes only after the
    /// event answering it is in the stream: once `subscribe(..).await` returns, the stream
    /// already holds its [`Event::SubscriptionApplied`] and the rows' changes before it.
    pub async fn connect(
        options: &ConnectOptions,
        register: impl FnOnce(&mut ClientCore),
    ) -> Result<(Self, mpsc::UnboundedReceiver<Event>), ConnectionError> {
        Self::establish(options, register, false).await
    }

    /// Like [`connect`](Self::connect), but a failed first attempt is retried on the backoff
    /// schedule too: waits until the database is reachable, however long that takes. For
    /// services that start before (or without) their database.
    pub async fn connect_retrying(
        options: &ConnectOptions,
        register: impl Fn(&mut ClientCore),
    ) -> (Self, mpsc::UnboundedReceiver<Event>) {
        loop {
            match Self::establish(options, register_once(&register), true).await {
                Ok(connected) => return connected,
                // Only if the socket task itself ended (a runtime shutting down): start over.
                Err(e) => log::warn!("connecting to {} failed: {e}", options.uri),
            }
        }
    }

    async fn establish(
        options: &ConnectOptions,
        register: impl FnOnce(&mut ClientCore),
        retry_first: bool,
    ) -> Result<(Self, mpsc::UnboundedReceiver<Event>), ConnectionError> {
        let mut core = ClientCore::new(match options.token {
            Some(_) => Credentials::Token,
            None => Credentials::Anonymous,
        });
        core.configure(options);
        register(&mut core);
        core.start(seed());

        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (out_tx, out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let (status_tx, status_rx) = watch::channel(core.status().clone());
        let (first_tx, first_rx) = oneshot::channel();
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
            status: status_tx,
            token: options.token.clone(),
            identity: None,
        }));
        let pump = Pump {
            shared: Arc::clone(&shared),
            outgoing: out_rx,
            shutdown: shutdown_rx,
            options: options.clone(),
            timer,
            first: Some(first_tx),
            retry_first,
        };
        tokio::spawn(pump.run());
        first_rx
            .await
            .map_err(|_| ConnectionError::Closed("the socket task ended".into()))??;
        let (identity, connection_id, new_token) = lock(&shared)
            .identity
            .clone()
            .ok_or_else(|| ConnectionError::Connect("no identity".into()))?;
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

    /// Our identity, as the first socket said it (see [`Event::Connected`] for later ones).
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

/// Hands `register` to one attempt at a time (a `FnOnce` used again after a failed attempt).
fn register_once<'a>(register: &'a impl Fn(&mut ClientCore)) -> impl FnOnce(&mut ClientCore) + 'a {
    move |core| register(core)
}

/// A jitter seed that differs between clients: the clock's nanoseconds, the process and a
/// per-process counter.
fn seed() -> u64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    nanos ^ (u64::from(std::process::id()) << 32) ^ count.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// How an attempt to open a socket ended without one.
struct AttemptFailed {
    error: ConnectionError,
    /// The core was already told (a refused token exchange it judged).
    counted: bool,
}

/// Opens a socket for `options` as the holder of `token`, exchanging it for a 60-second one
/// first. A refused exchange goes to the core's token policy ([`ClientCore::token_refused`])
/// unless `strict` (the first attempt of [`NativeConnection::connect`], whose caller gets the
/// refusal as an error); a forgotten token is removed from `shared` and the socket opens
/// anonymously.
async fn open(
    options: &ConnectOptions,
    shared: &Mutex<Shared>,
    strict: bool,
) -> Result<Socket, AttemptFailed> {
    let failed = |error| AttemptFailed {
        error,
        counted: false,
    };
    let token = lock(shared).token.clone();
    let short_token = match token {
        None => None,
        Some(token) => {
            let (status, body) = fetch_websocket_token(options, &token)
                .await
                .map_err(failed)?;
            match read_websocket_token(status, &body) {
                Ok(short) => Some(short),
                Err(refusal) if strict || status == 200 => return Err(failed(refusal.into())),
                Err(refusal) => {
                    let mut shared = lock(shared);
                    if !shared.core.token_refused(status, &body) {
                        return Err(AttemptFailed {
                            error: refusal.into(),
                            counted: true,
                        });
                    }
                    shared.token = None;
                    None
                }
            }
        }
    };
    open_socket(options, short_token.as_deref())
        .await
        .map_err(failed)
}

/// The task that owns the socket: carries out the core's actions and moves frames both ways.
struct Pump {
    shared: Arc<Mutex<Shared>>,
    outgoing: mpsc::UnboundedReceiver<Vec<u8>>,
    shutdown: oneshot::Receiver<()>,
    options: ConnectOptions,
    timer: Arc<Notify>,
    /// Told when the first socket has said who we are (or, unless `retry_first`, why not).
    first: Option<oneshot::Sender<Result<(), ConnectionError>>>,
    retry_first: bool,
}

/// Hands `frame` to `core`, catching a panic (whose message is returned). After a panic the
/// core may be half-way through a change: rebuild it (see [`Waiters::rebuild`]).
fn handle_frame(core: &mut ClientCore, frame: impl AsRef<[u8]>) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(|| core.handle_owned_frame(frame))).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

/// What one wait of the socket task ended with.
enum Step {
    /// Something was handled; look at the core's actions again.
    Go,
    /// The socket is gone.
    Lost(String),
    /// The client closed the connection.
    Shutdown,
}

impl Pump {
    async fn run(mut self) {
        let mut socket: Option<Socket> = None;
        loop {
            let action = {
                let mut shared = lock(&self.shared);
                shared.tick();
                let action = shared.core.poll_action();
                shared.flush();
                if shared.identity.is_some()
                    && let Some(first) = self.first.take()
                {
                    let _ = first.send(Ok(()));
                }
                action
            };
            match action {
                Some(Action::Connect) => {
                    // Replaces any socket still open.
                    socket = None;
                    let strict = self.first.is_some() && !self.retry_first;
                    let attempt = tokio::time::timeout(
                        CONNECT_TIMEOUT,
                        open(&self.options, &self.shared, strict),
                    );
                    let outcome = tokio::select! {
                        outcome = attempt => outcome,
                        _ = &mut self.shutdown => return self.finish(),
                    };
                    let failed = match outcome {
                        Ok(Ok(opened)) => {
                            socket = Some(opened);
                            continue;
                        }
                        Ok(Err(failed)) => failed,
                        Err(_) => AttemptFailed {
                            error: ConnectionError::Connect(format!(
                                "{}: no answer within {CONNECT_TIMEOUT:?}",
                                self.options.uri
                            )),
                            counted: false,
                        },
                    };
                    if self.give_up(&failed.error) {
                        return self.finish();
                    }
                    if !failed.counted {
                        lock(&self.shared)
                            .core
                            .connect_failed(&failed.error.to_string());
                    }
                    continue;
                }
                Some(Action::Disconnect) => {
                    // Dropped, not closed: a stalled link would never finish a close handshake.
                    socket = None;
                    let error = ConnectionError::Connect("no identity in time".into());
                    if self.give_up(&error) {
                        return self.finish();
                    }
                    continue;
                }
                None => {}
            }
            match self.wait(socket.as_mut()).await {
                Step::Go => {}
                Step::Shutdown => return self.finish(),
                Step::Lost(reason) => {
                    socket = None;
                    log::warn!("connection lost: {reason}");
                    if self.give_up(&ConnectionError::Connect(reason)) {
                        return self.finish();
                    }
                    let mut shared = lock(&self.shared);
                    shared.core.connection_lost();
                    shared.flush();
                    // Frames queued for the old socket belong to calls that already ended.
                    while self.outgoing.try_recv().is_ok() {}
                }
            }
        }
    }

    /// Whether a failure ends the connection: only before the first identity of
    /// [`NativeConnection::connect`], whose caller then gets `error`.
    fn give_up(&mut self, error: &ConnectionError) -> bool {
        if self.retry_first {
            return false;
        }
        match self.first.take() {
            Some(first) => {
                let _ = first.send(Err(error.clone()));
                true
            }
            None => false,
        }
    }

    /// Ends the connection for good.
    fn finish(&mut self) {
        let mut shared = lock(&self.shared);
        shared.closed = Some(CLOSED_BY_CLIENT.into());
        shared.core.close();
        shared.flush();
        // Subscriptions still waiting to apply never will.
        shared.waiters.close();
    }

    /// Waits for one thing to happen: a frame (handled), a frame to send (sent), the core's next
    /// deadline (told), a call made, or the client closing.
    async fn wait(&mut self, socket: Option<&mut Socket>) -> Step {
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
        let Some(socket) = socket else {
            return tokio::select! {
                frame = self.outgoing.recv() => match frame {
                    // No socket: the frame's call already ended as lost.
                    Some(_) => Step::Go,
                    None => Step::Shutdown,
                },
                _ = &mut self.shutdown => Step::Shutdown,
                _ = timeout => Step::Go,
                _ = self.timer.notified() => Step::Go,
            };
        };
        tokio::select! {
            message = socket.next() => match message {
                Some(Ok(Message::Binary(frame))) => {
                    let mut shared = lock(&self.shared);
                    let shared = &mut *shared;
                    // The time first: if it makes the core drop this socket (a probe overdue),
                    // the core ignores the frame; its `Action::Disconnect` drops the socket on
                    // the next turn.
                    shared.tick();
                    if let Err(panic) = handle_frame(&mut shared.core, frame) {
                        log::error!("handling a frame panicked: {panic}; rebuilding the connection state");
                        let blank = shared.core.blank();
                        shared.core = shared
                            .waiters
                            .rebuild(blank, FrameError::Panicked(panic));
                        shared.flush();
                        return Step::Lost("handling a frame panicked".into());
                    }
                    shared.flush();
                    Step::Go
                }
                Some(Ok(Message::Close(close))) => Step::Lost(format!("closed by the server: {close:?}")),
                Some(Ok(_)) => Step::Go,
                Some(Err(e)) => Step::Lost(e.to_string()),
                None => Step::Lost("socket ended".into()),
            },
            frame = self.outgoing.recv() => match frame {
                Some(frame) => {
                    match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Binary(frame.into()))).await {
                        Ok(Ok(())) => Step::Go,
                        Ok(Err(e)) => Step::Lost(e.to_string()),
                        Err(_) => Step::Lost(format!("a frame not sent within {SEND_TIMEOUT:?}")),
                    }
                }
                None => Step::Shutdown,
            },
            _ = &mut self.shutdown => Step::Shutdown,
            _ = timeout => {
                let mut shared = lock(&self.shared);
                shared.tick();
                shared.flush();
                Step::Go
            }
            // A call was made: its deadline may come before the one slept on.
            _ = self.timer.notified() => Step::Go,
        }
    }
}
