//! The browser transport: a `web-sys` WebSocket around [`ClientCore`], one per database per tab.
//!
//! - [`BrowserConnection::shared`] returns the tab's connection to a database, creating it on
//!   first use: a second socket to the same database cannot be built.
//! - The long-lived token lives in `localStorage` under [`token_key`] (server + database). It is
//!   saved after an anonymous connect, exchanged for a 60-second token before every connect,
//!   and removed (then the connection goes on anonymously) only when SpacetimeDB itself says it
//!   is not valid there; any other refusal (a proxy's or firewall's 403, a server error, no
//!   answer) keeps it and the attempt is retried.
//! - When the socket closes, the connection retries on the [`Backoff`] schedule, at once when the
//!   browser comes back `online` or the tab becomes visible, resubscribes and resyncs the cache.
//! - Listeners see every [`ConnectionStatus`] change and every [`Event`]; status changes are
//!   logged to the console. A listener that panics is removed; the others keep being called.
//! - Calls that get no answer end as [`ReducerOutcome::TimedOut`] after
//!   [`ConnectOptions::request_timeout`]: a timer wakes the core at its next deadline
//!   (`performance.now()` is its clock).
//!
//! # Panics while handling a frame
//!
//! On `wasm32-unknown-unknown` a panic aborts the call that panicked: the stack is abandoned and
//! no destructor runs, so a `RefCell` borrowed at that moment would stay borrowed for good (every
//! later call would panic with "already borrowed" and the page would be dead). So no borrow is
//! held while a frame is handled: the core is *taken out* of the connection's state, handed the
//! frame, and put back. If handling it panics (a bug, e.g. in a row type's decoding), the core
//! is simply missing afterwards. The next access — at the latest a check queued before the frame
//! was handed over, which runs once the browser's message callback has ended either way —
//! notices and rebuilds it: a blank core with the same tables and settings, every live
//! subscription restored with its handle (and sent again), calls and queries in flight ended as
//! [`ReducerOutcome::ConnectionLost`], an [`Event::FrameError`] with
//! [`FrameError::Panicked`] for the listeners. The socket is
//! closed and a new one opened on the usual schedule. The lost core's memory is not freed (its
//! destructor never ran), and nor is the stack space the panicking call used.

use crate::connect::{TokenRefusal, read_websocket_token};
use crate::frame::MESSAGE_SLACK;
use crate::waiters::{Waiters, one_off_rows};
use crate::{
    Backoff, ClientCore, ConnectOptions, ConnectionError, ConnectionStatus, Credentials, Event,
    FrameError, Identity, ReducerOutcome, Row, SUBPROTOCOL, SubscriptionId, TableCache,
};
use gloo_storage::{LocalStorage, Storage};
use gloo_timers::callback::Timeout;
use spacetimedb_lib::ser::Serialize;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

/// How to connect from the browser.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserOptions {
    /// Server and database. The long-lived token lives in `localStorage`; a `token` given here
    /// replaces the stored one when the tab's connection is created (e.g. a token issued by your
    /// backend).
    pub connect: ConnectOptions,
    /// Allow `ws://` to a host that is not loopback in a release build.
    pub allow_insecure_remote: bool,
    /// The retry schedule.
    pub backoff: Backoff,
}

impl BrowserOptions {
    /// Options for `uri` and `database` with the default schedule.
    pub fn new(uri: &str, database: &str) -> Self {
        Self {
            connect: ConnectOptions::new(uri, database),
            allow_insecure_remote: false,
            backoff: Backoff::default(),
        }
    }
}

/// Why a closed connection is closed: only [`BrowserConnection::close`] ends one for good.
const CLOSED_BY_APPLICATION: &str = "closed by the application";

/// The error of a call whose answer can no longer come.
fn closed() -> ConnectionError {
    ConnectionError::Closed(CLOSED_BY_APPLICATION.into())
}

/// The `localStorage` key of the long-lived token for a server and database.
pub fn token_key(options: &ConnectOptions) -> String {
    format!(
        "stdb-client.token:{}/{}",
        options.http_base(),
        options.database
    )
}

/// Identifies a listener, to remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u32);

type StatusListener = Box<dyn FnMut(&ConnectionStatus)>;
type EventListener = Box<dyn FnMut(&Event)>;

/// Listeners, each in a slot that is empty while it runs: a listener that panics (on wasm the
/// call is abandoned, so it is never put back) leaves its slot empty and is not called again.
#[derive(Default)]
struct Listeners {
    next: u32,
    status: Vec<(ListenerId, Option<StatusListener>)>,
    events: Vec<(ListenerId, Option<EventListener>)>,
}

/// Calls every listener of one kind (`slots` picks it) with `call`, each taken out of its slot
/// while it runs so that it may add or remove listeners; no borrow is held meanwhile.
fn call_listeners<L>(
    listeners: &RefCell<Listeners>,
    slots: impl Fn(&mut Listeners) -> &mut Vec<(ListenerId, Option<L>)>,
    mut call: impl FnMut(&mut L),
) {
    // A slot is empty while its listener runs (a listener may cause events itself) and for good
    // once it panicked: either way it is skipped.
    let ids: Vec<ListenerId> = slots(&mut listeners.borrow_mut())
        .iter()
        .filter(|(_, slot)| slot.is_some())
        .map(|(id, _)| *id)
        .collect();
    for id in ids {
        let taken = slots(&mut listeners.borrow_mut())
            .iter_mut()
            .find(|(i, _)| *i == id)
            .and_then(|(_, slot)| slot.take());
        let Some(mut listener) = taken else {
            continue;
        };
        call(&mut listener);
        // Removed meanwhile: dropped here.
        if let Some((_, slot)) = slots(&mut listeners.borrow_mut())
            .iter_mut()
            .find(|(i, _)| *i == id)
        {
            *slot = Some(listener);
        }
    }
}

/// An open socket and the callbacks that must live as long as it.
struct Socket {
    ws: WebSocket,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Socket {
    fn detach(&self) {
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
    }
}

struct Inner {
    options: BrowserOptions,
    /// The core. `None` while a frame is being handled, or for good if handling it panicked:
    /// see the module docs and [`Inner::core`].
    core: Option<ClientCore>,
    /// A blank core with the tables registered, to rebuild from.
    template: ClientCore,
    /// Set when the core was rebuilt; the next [`BrowserConnection::flush`] replaces the socket.
    rebuilt: bool,
    waiters: Waiters,
    status: ConnectionStatus,
    socket: Option<Socket>,
    /// A socket whose callbacks may still be running; dropped at the next attempt.
    retired: Option<Socket>,
    attempt: u32,
    outage_started_ms: Option<f64>,
    retry: Option<Timeout>,
    connecting: bool,
    closed: bool,
    page_listeners: Vec<PageListener>,
    /// Wakes the core at its next deadline (the deadline, in ms, and the timer).
    deadline: Option<(f64, Timeout)>,
}

impl Inner {
    /// The core, rebuilt first if handling a frame panicked and lost it.
    fn core(&mut self) -> &mut ClientCore {
        if self.core.is_none() {
            log::error!(
                "handling a server frame panicked; rebuilding the connection state and reconnecting"
            );
            let rebuilt = self.waiters.rebuild(
                self.template.blank(),
                FrameError::Panicked("see the panic logged before this".into()),
            );
            self.core = Some(rebuilt);
            self.rebuilt = true;
            // The server's state for this socket (subscriptions, calls) is the lost core's.
            if let Some(socket) = self.socket.take() {
                socket.detach();
                // Closing an already closing socket only fails harmlessly.
                let _ = socket.ws.close();
                self.retired = Some(socket);
            }
        }
        self.core.get_or_insert_with(|| self.template.blank())
    }

    /// The core after telling it the time.
    fn core_now(&mut self) -> &mut ClientCore {
        let core = self.core();
        core.handle_timeout(core_time(now_ms()));
        core
    }
}

/// The core's clock: `performance.now()` as a duration.
fn core_time(now_ms: f64) -> Duration {
    Duration::from_secs_f64((now_ms / 1000.0).max(0.0))
}

/// A listener on the window or document (`online`, `visibilitychange`), removed on close.
type PageListener = (
    web_sys::EventTarget,
    &'static str,
    Closure<dyn FnMut(web_sys::Event)>,
);

/// The tab's connection to one database. Cheap to clone: clones share the socket.
#[derive(Clone)]
pub struct BrowserConnection {
    inner: Rc<RefCell<Inner>>,
    listeners: Rc<RefCell<Listeners>>,
}

thread_local! {
    static CONNECTIONS: RefCell<HashMap<String, BrowserConnection>> = RefCell::new(HashMap::new());
}

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or_else(js_sys::Date::now)
}

impl BrowserConnection {
    /// The tab's connection to `options`' database: created (and connecting) on the first call,
    /// the same handle afterwards. `register` registers the row types on creation.
    pub fn shared(
        options: BrowserOptions,
        register: impl FnOnce(&mut ClientCore),
    ) -> Result<Self, ConnectionError> {
        let key = token_key(&options.connect);
        if let Some(existing) = CONNECTIONS.with(|c| c.borrow().get(&key).cloned()) {
            return Ok(existing);
        }
        if options.connect.is_insecure_remote()
            && !options.allow_insecure_remote
            && !cfg!(debug_assertions)
        {
            return Err(ConnectionError::InsecureRemote(options.connect.uri.clone()));
        }
        if let Some(token) = &options.connect.token
            && LocalStorage::get::<String>(&key).ok().as_ref() != Some(token)
            && let Err(e) = LocalStorage::set(&key, token)
        {
            log::warn!("could not keep the given token in localStorage: {e}");
        }
        let mut template = ClientCore::new(Credentials::Anonymous);
        template.configure(&options.connect);
        register(&mut template);
        let connection = Self {
            inner: Rc::new(RefCell::new(Inner {
                options,
                core: Some(template.blank()),
                template,
                rebuilt: false,
                waiters: Waiters::default(),
                status: ConnectionStatus::Connecting,
                socket: None,
                retired: None,
                attempt: 0,
                outage_started_ms: None,
                retry: None,
                connecting: false,
                closed: false,
                page_listeners: Vec::new(),
                deadline: None,
            })),
            listeners: Rc::default(),
        };
        connection.listen_to_page();
        CONNECTIONS.with(|c| c.borrow_mut().insert(key, connection.clone()));
        log::info!("connection status: {}", ConnectionStatus::Connecting);
        connection.start_attempt();
        Ok(connection)
    }

    /// Where the connection stands.
    pub fn status(&self) -> ConnectionStatus {
        self.inner.borrow().status.clone()
    }

    /// Our identity, once connected.
    pub fn identity(&self) -> Option<Identity> {
        let (identity, rebuilt) = {
            let mut inner = self.inner.borrow_mut();
            (inner.core().identity(), inner.rebuilt)
        };
        if rebuilt {
            self.flush();
        }
        identity.map(|(identity, _)| identity)
    }

    /// Calls `listener` on every status change.
    pub fn on_status(&self, listener: impl FnMut(&ConnectionStatus) + 'static) -> ListenerId {
        let mut listeners = self.listeners.borrow_mut();
        let id = ListenerId(listeners.next);
        listeners.next += 1;
        listeners.status.push((id, Some(Box::new(listener))));
        id
    }

    /// Calls `listener` on every event (row changes, subscription states, reducer outcomes…).
    pub fn on_event(&self, listener: impl FnMut(&Event) + 'static) -> ListenerId {
        let mut listeners = self.listeners.borrow_mut();
        let id = ListenerId(listeners.next);
        listeners.next += 1;
        listeners.events.push((id, Some(Box::new(listener))));
        id
    }

    /// Removes a listener.
    pub fn remove_listener(&self, id: ListenerId) {
        let mut listeners = self.listeners.borrow_mut();
        listeners.status.retain(|(i, _)| *i != id);
        listeners.events.retain(|(i, _)| *i != id);
    }

    /// Subscribes; [`Event::SubscriptionApplied`] or [`Event::SubscriptionFailed`] follows. Made
    /// while reconnecting, it is sent when the socket is back.
    pub fn subscribe<Q: Into<String>>(
        &self,
        queries: impl IntoIterator<Item = Q>,
    ) -> Result<SubscriptionId, ConnectionError> {
        let id = {
            let inner = &mut *self.inner.borrow_mut();
            inner.core();
            let Inner { core, waiters, .. } = inner;
            core.as_mut()
                .map(|core| waiters.subscribe_only(core, queries))
        };
        self.flush();
        Ok(id.ok_or_else(closed)??)
    }

    /// Subscribes and waits until the rows are in the cache (an error if the server refuses it,
    /// it is ended first, or the connection is closed).
    pub async fn subscribe_applied<Q: Into<String>>(
        &self,
        queries: impl IntoIterator<Item = Q>,
    ) -> Result<SubscriptionId, ConnectionError> {
        let (id, applied) = self.with_core(|core, waiters| waiters.subscribe(core, queries))??;
        self.flush();
        applied.await.map_err(|_| closed())??;
        Ok(id)
    }

    /// Ends a subscription.
    pub fn unsubscribe(&self, id: SubscriptionId) -> Result<(), ConnectionError> {
        let result = self.with_core(|core, _| core.unsubscribe(id));
        self.flush();
        result??;
        Ok(())
    }

    /// Calls a reducer with its arguments as a tuple and waits for the outcome.
    pub async fn call_reducer<A: Serialize + ?Sized>(
        &self,
        reducer: &str,
        args: &A,
    ) -> Result<ReducerOutcome, ConnectionError> {
        let outcome =
            self.with_core(|core, waiters| waiters.call_reducer(core, reducer, args))??;
        self.flush();
        outcome.await.map_err(|_| closed())
    }

    /// Runs a SQL `SELECT` once and decodes the rows of `T`'s table.
    pub async fn one_off_query<T: Row>(&self, sql: &str) -> Result<Vec<T>, ConnectionError> {
        let answer = self.with_core(|core, waiters| waiters.one_off_query(core, sql))?;
        self.flush();
        one_off_rows(answer.await.map_err(|_| closed())?)
    }

    /// Reads `T`'s cached rows (`None` if the table was not registered). `f` runs while the
    /// connection's state is borrowed: it must not call the connection, nor panic.
    pub fn with_table<T: Row, R>(&self, f: impl FnOnce(&TableCache<T>) -> R) -> Option<R> {
        let rebuilt = {
            let mut inner = self.inner.borrow_mut();
            inner.core();
            inner.rebuilt
        };
        if rebuilt {
            self.flush();
        }
        self.inner.borrow().core.as_ref()?.table::<T>().map(f)
    }

    /// Runs `f` with the core (told the time first) and the waiters; a closed error if the
    /// connection was closed.
    fn with_core<R>(
        &self,
        f: impl FnOnce(&mut ClientCore, &mut Waiters) -> R,
    ) -> Result<R, ConnectionError> {
        let inner = &mut *self.inner.borrow_mut();
        if inner.closed {
            return Err(closed());
        }
        inner.core_now();
        let Inner { core, waiters, .. } = inner;
        core.as_mut()
            .map(|core| f(core, waiters))
            .ok_or_else(closed)
    }

    /// Closes the socket for good and forgets this connection: the next
    /// [`shared`](Self::shared) call builds a new one.
    pub fn close(&self) {
        let key = {
            let mut inner = self.inner.borrow_mut();
            inner.closed = true;
            inner.retry = None;
            if let Some(socket) = inner.socket.take() {
                socket.detach();
                // Closing an already closing socket only fails harmlessly.
                let _ = socket.ws.close();
                inner.retired = Some(socket);
            }
            inner.core().connection_lost();
            inner.rebuilt = false;
            inner.deadline = None;
            inner
                .page_listeners
                .iter()
                .for_each(|(target, name, callback)| {
                    let _ = target.remove_event_listener_with_callback(
                        name,
                        callback.as_ref().unchecked_ref(),
                    );
                });
            token_key(&inner.options.connect)
        };
        CONNECTIONS.with(|c| c.borrow_mut().remove(&key));
        self.flush();
        // Subscriptions still waiting to apply never will.
        self.inner.borrow_mut().waiters.close();
        self.set_status(ConnectionStatus::Disconnected(CLOSED_BY_APPLICATION.into()));
    }

    /// Retries at once when the browser is back online or the tab becomes visible.
    fn listen_to_page(&self) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let mut registered = Vec::new();
        let weak = Rc::downgrade(&self.inner);
        let listeners = Rc::downgrade(&self.listeners);
        let retry_now = move |_: web_sys::Event| {
            let (Some(inner), Some(listeners)) = (weak.upgrade(), listeners.upgrade()) else {
                return;
            };
            let connection = BrowserConnection { inner, listeners };
            let visible = web_sys::window()
                .and_then(|w| w.document())
                .is_none_or(|d| d.visibility_state() == web_sys::VisibilityState::Visible);
            let dead = {
                let inner = connection.inner.borrow();
                !inner.closed && inner.socket.is_none() && !inner.connecting
            };
            if visible && dead {
                log::info!("page is back: reconnecting now");
                connection.start_attempt();
            }
        };
        let targets: [(web_sys::EventTarget, &'static str); 2] = [
            (window.clone().into(), "online"),
            (
                window
                    .document()
                    .map(Into::into)
                    .unwrap_or_else(|| window.clone().into()),
                "visibilitychange",
            ),
        ];
        for (target, name) in targets {
            let callback = Closure::<dyn FnMut(web_sys::Event)>::new(retry_now.clone());
            if target
                .add_event_listener_with_callback(name, callback.as_ref().unchecked_ref())
                .is_ok()
            {
                registered.push((target, name, callback));
            }
        }
        self.inner.borrow_mut().page_listeners = registered;
    }

    /// Starts a connection attempt unless one is running or the socket is open.
    fn start_attempt(&self) {
        {
            let mut inner = self.inner.borrow_mut();
            if inner.closed || inner.connecting || inner.socket.is_some() {
                return;
            }
            inner.retry = None;
            inner.retired = None;
            inner.connecting = true;
        }
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move { this.attempt().await });
    }

    async fn attempt(&self) {
        let (options, key) = {
            let inner = self.inner.borrow();
            (
                inner.options.connect.clone(),
                token_key(&inner.options.connect),
            )
        };
        let stored: Option<String> = LocalStorage::get(&key).ok();
        let (short_token, credentials) = match stored {
            Some(token) => match websocket_token(&options, &token).await {
                Ok(short) => (Some(short), Credentials::Token),
                Err(TokenRefusal::Rejected(message)) => {
                    log::warn!(
                        "the stored token was rejected ({message}); removed it, connecting anonymously"
                    );
                    LocalStorage::delete(&key);
                    (None, Credentials::Anonymous)
                }
                Err(TokenRefusal::Unusable(message)) => return self.attempt_failed(&message),
            },
            None => (None, Credentials::Anonymous),
        };
        self.inner.borrow_mut().core().set_credentials(credentials);
        if self.inner.borrow().closed {
            return;
        }
        let url = options.subscribe_url(short_token.as_deref());
        let ws = match WebSocket::new_with_str(&url, SUBPROTOCOL) {
            Ok(ws) => ws,
            Err(e) => return self.attempt_failed(&format!("{e:?}")),
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        let on_message = {
            let this = self.clone();
            // A message this large would be refused anyway: not even copied into wasm memory.
            let limit = options.max_frame_bytes.saturating_add(MESSAGE_SLACK);
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                match event.data().dyn_into::<js_sys::ArrayBuffer>() {
                    Ok(buffer) if buffer.byte_length() as usize > limit => {
                        this.oversized_frame(buffer.byte_length() as usize, limit)
                    }
                    Ok(buffer) => this.handle_frame(&js_sys::Uint8Array::new(&buffer).to_vec()),
                    Err(_) => log::warn!("ignoring a text frame"),
                }
            })
        };
        let on_close = {
            let this = self.clone();
            Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
                this.socket_closed(&format!("code {} {}", event.code(), event.reason()));
            })
        };
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let mut inner = self.inner.borrow_mut();
        inner.connecting = false;
        inner.socket = Some(Socket {
            ws,
            _on_message: on_message,
            _on_close: on_close,
        });
    }

    /// Hands a frame to the core, taken out of the connection's state meanwhile (see the module
    /// docs: a panic then leaves no borrow behind, only a missing core that is rebuilt).
    fn handle_frame(&self, frame: &[u8]) {
        let core = {
            let mut inner = self.inner.borrow_mut();
            inner.core_now();
            inner.core.take()
        };
        let Some(mut core) = core else {
            return;
        };
        // Runs once this message callback has ended, whether or not handling the frame panicked:
        // a lost core is then rebuilt (and the socket replaced) without waiting for another call.
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move { this.flush() });
        core.handle_frame(frame);
        self.inner.borrow_mut().core = Some(core);
        self.flush();
    }

    /// A message larger than the frame limit allows: refused without copying it.
    fn oversized_frame(&self, len: usize, limit: usize) {
        self.inner
            .borrow_mut()
            .core()
            .report_frame_error(FrameError::Limit {
                what: "frame",
                message: format!(
                    "{len} bytes received, more than the {limit} that max_frame_bytes allows"
                ),
            });
        self.flush();
    }

    /// Sends what the core queued and hands its events to waiters and listeners; replaces the
    /// socket after the core was rebuilt; sets the timer for the core's next deadline.
    fn flush(&self) {
        let (events, connected, rebuilt) = {
            let inner = &mut *self.inner.borrow_mut();
            inner.core();
            let rebuilt = std::mem::take(&mut inner.rebuilt);
            let Inner {
                core: Some(core),
                socket,
                waiters,
                options,
                attempt,
                outage_started_ms,
                ..
            } = inner
            else {
                return;
            };
            if rebuilt {
                // The old socket is closed: calls fail at once until the new one is up.
                core.connection_lost();
            }
            while let Some(frame) = core.poll_transmit() {
                if let Some(socket) = socket
                    && let Err(e) = socket.ws.send_with_u8_array(&frame)
                {
                    log::warn!("could not send a frame: {e:?}");
                }
            }
            let mut events = Vec::new();
            let mut connected = None;
            while let Some(event) = core.poll_event() {
                waiters.dispatch(&event);
                if let Event::Connected {
                    identity,
                    new_token,
                    ..
                } = &event
                {
                    if let Some(token) = new_token
                        && let Err(e) = LocalStorage::set(token_key(&options.connect), token)
                    {
                        log::warn!("could not keep the token in localStorage: {e}");
                    }
                    *attempt = 0;
                    *outage_started_ms = None;
                    connected = Some(*identity);
                }
                events.push(event);
            }
            (events, connected, rebuilt)
        };
        self.set_deadline();
        if let Some(identity) = connected {
            self.set_status(ConnectionStatus::Connected(identity));
        }
        for event in &events {
            call_listeners(
                &self.listeners,
                |l| &mut l.events,
                |listener| listener(event),
            );
        }
        if rebuilt {
            self.schedule_retry();
        }
    }

    /// Sets (or clears) the timer that wakes the core at its next deadline.
    fn set_deadline(&self) {
        let mut inner = self.inner.borrow_mut();
        let next = match inner.core.as_ref().and_then(ClientCore::poll_timeout) {
            Some(at) => at.as_secs_f64() * 1000.0,
            None => {
                inner.deadline = None;
                return;
            }
        };
        if inner.deadline.as_ref().is_some_and(|(at, _)| *at == next) {
            return;
        }
        let this = self.clone();
        let delay = (next - now_ms()).clamp(0.0, f64::from(u32::MAX));
        let timer = Timeout::new(delay.ceil() as u32, move || {
            {
                let mut inner = this.inner.borrow_mut();
                inner.deadline = None;
                inner.core_now();
            }
            this.flush();
        });
        inner.deadline = Some((next, timer));
    }

    fn set_status(&self, status: ConnectionStatus) {
        {
            let mut inner = self.inner.borrow_mut();
            if inner.status == status {
                return;
            }
            inner.status = status.clone();
        }
        log::info!("connection status: {status}");
        call_listeners(
            &self.listeners,
            |l| &mut l.status,
            |listener| listener(&status),
        );
    }

    fn socket_closed(&self, reason: &str) {
        {
            let mut inner = self.inner.borrow_mut();
            // This runs inside the socket's own callback: keep its closures alive until later.
            if let Some(socket) = inner.socket.take() {
                socket.detach();
                inner.retired = Some(socket);
            }
            inner.core().connection_lost();
        }
        log::warn!("socket closed: {reason}");
        self.flush();
        self.schedule_retry();
    }

    fn attempt_failed(&self, reason: &str) {
        log::warn!("connection attempt failed: {reason}");
        self.inner.borrow_mut().connecting = false;
        self.schedule_retry();
    }

    fn schedule_retry(&self) {
        let (attempt, delay, at) = {
            let mut inner = self.inner.borrow_mut();
            if inner.closed {
                return;
            }
            let now = now_ms();
            let started = *inner.outage_started_ms.get_or_insert(now);
            inner.attempt = inner.attempt.saturating_add(1);
            let outage = Duration::from_secs_f64(((now - started) / 1000.0).max(0.0));
            let delay = inner
                .options
                .backoff
                .delay(inner.attempt, outage, js_sys::Math::random());
            (inner.attempt, delay, now + delay.as_secs_f64() * 1000.0)
        };
        self.set_status(ConnectionStatus::Reconnecting {
            attempt,
            next_try_at_ms: at,
        });
        let this = self.clone();
        let timer = Timeout::new(
            delay.as_millis().min(u128::from(u32::MAX)) as u32,
            move || this.start_attempt(),
        );
        self.inner.borrow_mut().retry = Some(timer);
    }
}

/// Longest the token exchange may take before the attempt counts as failed.
const TOKEN_TIMEOUT_MS: u32 = 10_000;

/// Exchanges the long-lived token for a 60-second one.
async fn websocket_token(options: &ConnectOptions, token: &str) -> Result<String, TokenRefusal> {
    let url = options.websocket_token_url();
    // A server that accepts but never answers must not stall reconnection.
    let abort = web_sys::AbortController::new().ok();
    let signal = abort.as_ref().map(|a| a.signal());
    let _deadline = abort.map(|abort| Timeout::new(TOKEN_TIMEOUT_MS, move || abort.abort()));
    let response = gloo_net::http::Request::post(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .abort_signal(signal.as_ref())
        .send()
        .await
        .map_err(|e| TokenRefusal::Unusable(format!("{url}: {e}")))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    read_websocket_token(status, &body)
}
