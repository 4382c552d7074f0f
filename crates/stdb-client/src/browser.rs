//! The browser transport: a `web-sys` WebSocket around [`ClientCore`], one per database per tab.
//!
//! - [`BrowserConnection::shared`] returns the tab's connection to a database, creating it on
//!   first use: a second socket to the same database cannot be built.
//! - The long-lived token lives in `localStorage` under [`token_key`] (server + database). It is
//!   saved after an anonymous connect, exchanged for a 60-second token before every connect,
//!   and removed (then the connection goes on anonymously) only when SpacetimeDB itself says it
//!   is not valid there; any other refusal (a proxy's or firewall's 403, a server error, no
//!   answer) keeps it and the attempt is retried.
//! - The lifecycle is the core's ([`ClientCore::start`]): this transport only keeps the socket,
//!   one timer (at [`ClientCore::poll_timeout`]) and the token exchange, and carries out the
//!   core's [`Action`]s. When the socket closes or stops answering (a [`crate::Heartbeat`]
//!   probe unanswered: a dead link is noticed within 15 s by default), the connection retries on
//!   the [`Backoff`] schedule, resubscribes and resyncs the cache. When the browser comes back
//!   `online` or the tab becomes visible, a waiting retry starts at once and a live socket is
//!   probed at once, its answer due within [`crate::Heartbeat::wake_timeout`] (1.5 s), so a
//!   socket that died in the background is replaced at once ([`BrowserConnection::page_visible`]).
//! - [`BrowserConnection::close`] frees everything once the handles are dropped: the socket's
//!   callbacks and the timer hold the connection weakly.
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
use crate::lifecycle::CLOSED_BY_APPLICATION;
use crate::token_storage;
use crate::waiters::{Waiters, one_off_rows};
use crate::{
    Action, Backoff, ClientCore, ConnectOptions, ConnectionError, ConnectionStatus, Credentials,
    Event, FrameError, FrameSource, Identity, ReducerOutcome, Row, SUBPROTOCOL, SubscriptionId,
    TableCache,
};
use gloo_timers::callback::Timeout;
use spacetimedb_lib::ser::Serialize;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
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

/// Forgets the long-lived token kept for a server and database (in `localStorage`, or in the
/// page's memory when storage was denied): the next socket opened for them connects
/// anonymously, as a new identity — a connection already open included, at its next
/// reconnect. Close the tab's connection first to sign out at once.
pub fn forget_token(options: &ConnectOptions) {
    token_storage::forget(&token_key(options));
}

/// A WebSocket message's bytes, left in the JS heap: the core copies what it reads
/// ([`ClientCore::handle_far_frame`]).
pub struct JsFrame(pub js_sys::Uint8Array);

impl FrameSource for JsFrame {
    fn len(&self) -> usize {
        self.0.length() as usize
    }

    fn read(&self, at: usize, into: &mut [u8]) {
        // Callers stay within the frame, and a message is under 4 GiB (`max_frame_bytes`).
        let end = at.saturating_add(into.len());
        if end <= self.len() {
            self.0.subarray(at as u32, end as u32).copy_to(into);
        }
    }
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

/// An open socket and the callbacks that must live as long as it. The callbacks hold the
/// connection weakly: a closed connection whose handles are dropped is freed.
struct Socket {
    ws: WebSocket,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Socket {
    /// Stops its callbacks and closes it.
    fn shut(&self) {
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        // Closing an already closing socket only fails harmlessly.
        let _ = self.ws.close();
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
    /// The status last published to listeners.
    status: ConnectionStatus,
    socket: Option<Socket>,
    /// A socket whose callbacks may still be running; dropped at the next attempt.
    retired: Option<Socket>,
    /// Counts attempts: an attempt or socket of an older generation is ignored.
    generation: u64,
    closed: bool,
    page_listeners: Vec<PageListener>,
    /// Wakes the core at its next deadline (the deadline, in ms, and the timer).
    timer: Option<(f64, Timeout)>,
}

impl Inner {
    /// The core, rebuilt first if handling a frame panicked and lost it.
    fn core(&mut self) -> &mut ClientCore {
        if self.core.is_none() {
            log::error!(
                "handling a server frame panicked; rebuilding the connection state and reconnecting"
            );
            let mut blank = self.template.blank();
            blank.handle_timeout(core_time(now_ms()));
            blank.start(seed());
            // Its socket is the lost core's: the new core starts as if it had lost it.
            let _ = blank.poll_action();
            blank.connection_lost();
            let rebuilt = self.waiters.rebuild(
                blank,
                FrameError::Panicked("see the panic logged before this".into()),
            );
            self.core = Some(rebuilt);
            self.rebuilt = true;
            // The server's state for this socket (subscriptions, calls) is the lost core's.
            self.drop_socket();
        }
        self.core.get_or_insert_with(|| self.template.blank())
    }

    /// The core after telling it the time.
    fn core_now(&mut self) -> &mut ClientCore {
        let core = self.core();
        core.handle_timeout(core_time(now_ms()));
        core
    }

    /// Closes the socket (if any) and ignores anything more from it or from an attempt under
    /// way. Its callbacks may be running: they are kept until the next attempt.
    fn drop_socket(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if let Some(socket) = self.socket.take() {
            socket.shut();
            self.retired = Some(socket);
        }
    }
}

/// The core's clock: `performance.now()` as a duration.
fn core_time(now_ms: f64) -> Duration {
    Duration::from_secs_f64((now_ms / 1000.0).max(0.0))
}

/// A jitter seed for the core's backoff: differs between tabs.
fn seed() -> u64 {
    (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64
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

/// A connection held weakly, by callbacks that must not keep it alive.
#[derive(Clone)]
struct WeakConnection {
    inner: Weak<RefCell<Inner>>,
    listeners: Weak<RefCell<Listeners>>,
}

impl WeakConnection {
    fn upgrade(&self) -> Option<BrowserConnection> {
        Some(BrowserConnection {
            inner: self.inner.upgrade()?,
            listeners: self.listeners.upgrade()?,
        })
    }
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
            && let Err(e) = token_storage::write(&key, token)
        {
            log::warn!("kept the given token in memory only: {e}");
        }
        let mut template = ClientCore::new(Credentials::Anonymous);
        template.configure(&options.connect);
        template.set_backoff(options.backoff);
        register(&mut template);
        let mut core = template.blank();
        core.handle_timeout(core_time(now_ms()));
        core.start(seed());
        let connection = Self {
            inner: Rc::new(RefCell::new(Inner {
                options,
                core: Some(core),
                template,
                rebuilt: false,
                waiters: Waiters::default(),
                status: ConnectionStatus::Connecting,
                socket: None,
                retired: None,
                generation: 0,
                closed: false,
                page_listeners: Vec::new(),
                timer: None,
            })),
            listeners: Rc::default(),
        };
        connection.listen_to_page();
        CONNECTIONS.with(|c| c.borrow_mut().insert(key, connection.clone()));
        log::info!("connection status: {}", ConnectionStatus::Connecting);
        connection.flush();
        Ok(connection)
    }

    fn downgrade(&self) -> WeakConnection {
        WeakConnection {
            inner: Rc::downgrade(&self.inner),
            listeners: Rc::downgrade(&self.listeners),
        }
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

    /// What the core has seen so far (frames handled, heartbeat answers included).
    pub fn stats(&self) -> crate::Stats {
        self.inner
            .borrow()
            .core
            .as_ref()
            .map(ClientCore::stats)
            .unwrap_or_default()
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
    /// [`shared`](Self::shared) call builds a new one. Once every handle is dropped, the
    /// connection and its cache are freed.
    pub fn close(&self) {
        let key = {
            let mut inner = self.inner.borrow_mut();
            inner.closed = true;
            inner.drop_socket();
            inner.core_now().close();
            inner.rebuilt = false;
            inner.timer = None;
            // Removed, not dropped: close() may run inside one of them (through a listener).
            for (target, name, callback) in &inner.page_listeners {
                let _ = target
                    .remove_event_listener_with_callback(name, callback.as_ref().unchecked_ref());
            }
            token_key(&inner.options.connect)
        };
        CONNECTIONS.with(|c| c.borrow_mut().remove(&key));
        self.flush();
        // Subscriptions still waiting to apply never will.
        self.inner.borrow_mut().waiters.close();
        self.publish_status();
    }

    /// Tells the connection the page is back (the tab became visible, or the browser came back
    /// online): a live socket is probed at once — a background tab's timers are throttled, so
    /// its heartbeat may be late — with the shorter [`crate::Heartbeat::wake_timeout`], and a
    /// waiting retry starts at once. Called by the connection
    /// itself on `visibilitychange` and `online`.
    pub fn page_visible(&self) {
        {
            let mut inner = self.inner.borrow_mut();
            if inner.closed {
                return;
            }
            inner.core_now().page_visible();
        }
        self.flush();
    }

    /// Calls [`page_visible`](Self::page_visible) when the browser is back online or the tab
    /// becomes visible.
    fn listen_to_page(&self) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let mut registered = Vec::new();
        let weak = self.downgrade();
        let page_back = move |_: web_sys::Event| {
            let Some(connection) = weak.upgrade() else {
                return;
            };
            let visible = web_sys::window()
                .and_then(|w| w.document())
                .is_none_or(|d| d.visibility_state() == web_sys::VisibilityState::Visible);
            if visible {
                log::info!("page is back: checking the connection now");
                connection.page_visible();
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
            let callback = Closure::<dyn FnMut(web_sys::Event)>::new(page_back.clone());
            if target
                .add_event_listener_with_callback(name, callback.as_ref().unchecked_ref())
                .is_ok()
            {
                registered.push((target, name, callback));
            }
        }
        self.inner.borrow_mut().page_listeners = registered;
    }

    /// Carries out the core's actions.
    fn act(&self, action: Action) {
        match action {
            Action::Connect => {
                let generation = {
                    let mut inner = self.inner.borrow_mut();
                    if inner.closed {
                        return;
                    }
                    inner.drop_socket();
                    inner.retired = None;
                    inner.generation
                };
                let weak = self.downgrade();
                wasm_bindgen_futures::spawn_local(attempt(weak, generation));
            }
            Action::Disconnect => self.inner.borrow_mut().drop_socket(),
        }
    }

    /// Opens the socket of attempt `generation` with `short_token` (none: anonymously).
    fn open(&self, generation: u64, short_token: Option<&str>) -> Result<(), String> {
        let (url, limit) = {
            let inner = self.inner.borrow();
            if inner.closed || inner.generation != generation {
                return Ok(());
            }
            let options = &inner.options.connect;
            (
                options.subscribe_url(short_token),
                // A message this large would be refused anyway: not even copied into wasm memory.
                options.max_frame_bytes.saturating_add(MESSAGE_SLACK),
            )
        };
        let ws = WebSocket::new_with_str(&url, SUBPROTOCOL).map_err(|e| format!("{e:?}"))?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let on_message = {
            let weak = self.downgrade();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let Some(this) = weak.upgrade() else {
                    return;
                };
                if this.inner.borrow().generation != generation {
                    return;
                }
                match event.data().dyn_into::<js_sys::ArrayBuffer>() {
                    Ok(buffer) if buffer.byte_length() as usize > limit => {
                        this.oversized_frame(buffer.byte_length() as usize, limit)
                    }
                    Ok(buffer) => this.handle_frame(&JsFrame(js_sys::Uint8Array::new(&buffer))),
                    Err(_) => log::warn!("ignoring a text frame"),
                }
            })
        };
        let on_close = {
            let weak = self.downgrade();
            Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
                if let Some(this) = weak.upgrade() {
                    this.socket_closed(
                        generation,
                        &format!("code {} {}", event.code(), event.reason()),
                    );
                }
            })
        };
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        self.inner.borrow_mut().socket = Some(Socket {
            ws,
            _on_message: on_message,
            _on_close: on_close,
        });
        Ok(())
    }

    /// The attempt failed before its socket opened.
    fn attempt_failed(&self, generation: u64, reason: &str) {
        {
            let mut inner = self.inner.borrow_mut();
            if inner.closed || inner.generation != generation {
                return;
            }
            inner.core_now().connect_failed(reason);
        }
        self.flush();
    }

    /// Hands a frame to the core, taken out of the connection's state meanwhile (see the module
    /// docs: a panic then leaves no borrow behind, only a missing core that is rebuilt). The
    /// time goes first; if it makes the core drop the socket, the core ignores the frame.
    fn handle_frame(&self, frame: &JsFrame) {
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
        let weak = self.downgrade();
        wasm_bindgen_futures::spawn_local(async move {
            if let Some(this) = weak.upgrade() {
                this.flush();
            }
        });
        // Read where it lies (a subscription's initial rows), or copied in whole and dropped
        // once decoded, before the rows are applied.
        core.handle_far_frame(frame);
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

    /// Sends what the core queued, hands its events to waiters and listeners, carries out its
    /// actions, publishes its status and sets the timer for its next deadline.
    fn flush(&self) {
        loop {
            let (events, actions) = {
                let inner = &mut *self.inner.borrow_mut();
                inner.core();
                inner.rebuilt = false;
                let Inner {
                    core: Some(core),
                    socket,
                    waiters,
                    options,
                    ..
                } = inner
                else {
                    return;
                };
                while let Some(frame) = core.poll_transmit() {
                    if let Some(socket) = socket
                        && let Err(e) = socket.ws.send_with_u8_array(&frame)
                    {
                        log::warn!("could not send a frame: {e:?}");
                    }
                }
                let mut events = Vec::new();
                while let Some(event) = core.poll_event() {
                    waiters.dispatch(&event);
                    if let Event::Connected {
                        new_token: Some(token),
                        ..
                    } = &event
                        && let Err(e) = token_storage::write(&token_key(&options.connect), token)
                    {
                        log::warn!("kept the token in memory only: {e}");
                    }
                    events.push(event);
                }
                let actions: Vec<Action> = std::iter::from_fn(|| core.poll_action()).collect();
                (events, actions)
            };
            self.publish_status();
            for event in &events {
                call_listeners(
                    &self.listeners,
                    |l| &mut l.events,
                    |listener| listener(event),
                );
            }
            if actions.is_empty() {
                break;
            }
            for action in actions {
                self.act(action);
            }
        }
        self.set_timer();
    }

    /// Sets (or clears) the timer that wakes the core at its next deadline.
    fn set_timer(&self) {
        let mut inner = self.inner.borrow_mut();
        let next = match inner.core.as_ref().and_then(ClientCore::poll_timeout) {
            Some(at) if !inner.closed => at.as_secs_f64() * 1000.0,
            _ => {
                inner.timer = None;
                return;
            }
        };
        if inner.timer.as_ref().is_some_and(|(at, _)| *at == next) {
            return;
        }
        let weak = self.downgrade();
        let delay = (next - now_ms()).clamp(0.0, f64::from(u32::MAX));
        let timer = Timeout::new(delay.ceil() as u32, move || {
            let Some(this) = weak.upgrade() else {
                return;
            };
            {
                let mut inner = this.inner.borrow_mut();
                inner.timer = None;
                inner.core_now();
            }
            this.flush();
        });
        inner.timer = Some((next, timer));
    }

    /// Tells the listeners the core's status, if it changed.
    fn publish_status(&self) {
        let status = {
            let mut inner = self.inner.borrow_mut();
            let Some(status) = inner.core.as_ref().map(|core| core.status().clone()) else {
                return;
            };
            if inner.status == status {
                return;
            }
            inner.status = status.clone();
            status
        };
        log::info!("connection status: {status}");
        call_listeners(
            &self.listeners,
            |l| &mut l.status,
            |listener| listener(&status),
        );
    }

    fn socket_closed(&self, generation: u64, reason: &str) {
        {
            let mut inner = self.inner.borrow_mut();
            if inner.closed || inner.generation != generation {
                return;
            }
            // This runs inside the socket's own callback: its closures are kept until later.
            inner.drop_socket();
            inner.core_now().connection_lost();
        }
        log::warn!("socket closed: {reason}");
        self.flush();
    }
}

/// One connection attempt: the token exchange (if a token is kept), then the socket. Holds the
/// connection only weakly while waiting for the exchange.
async fn attempt(weak: WeakConnection, generation: u64) {
    let Some((options, key)) = weak.upgrade().map(|this| {
        let inner = this.inner.borrow();
        (
            inner.options.connect.clone(),
            token_key(&inner.options.connect),
        )
    }) else {
        return;
    };
    let stored = token_storage::read(&key);
    let exchanged = match &stored {
        Some(token) => Some(websocket_token(&options, token).await),
        None => None,
    };
    let Some(this) = weak.upgrade() else {
        return;
    };
    let short_token = match exchanged {
        None => {
            this.with_current(generation, |core| {
                core.set_credentials(Credentials::Anonymous)
            });
            None
        }
        Some(Ok(short)) => {
            this.with_current(generation, |core| core.set_credentials(Credentials::Token));
            Some(short)
        }
        Some(Err(Exchange::Answered(status, body))) => {
            let forget = this.with_current(generation, |core| core.token_refused(status, &body));
            match forget {
                Some(true) => {
                    if let Some(refused) = &stored {
                        token_storage::forget_if(&key, refused);
                    }
                    None
                }
                // The core counted the failure (or the attempt is no longer current).
                Some(false) | None => return this.flush(),
            }
        }
        Some(Err(Exchange::Failed(message))) => return this.attempt_failed(generation, &message),
    };
    if let Err(reason) = this.open(generation, short_token.as_deref()) {
        this.attempt_failed(generation, &reason);
    }
}

impl BrowserConnection {
    /// Runs `f` on the core if attempt `generation` is still the current one.
    fn with_current<R>(&self, generation: u64, f: impl FnOnce(&mut ClientCore) -> R) -> Option<R> {
        let mut inner = self.inner.borrow_mut();
        if inner.closed || inner.generation != generation {
            return None;
        }
        Some(f(inner.core_now()))
    }
}

/// Why the token exchange gave no token.
enum Exchange {
    /// The server answered this status and body.
    Answered(u16, String),
    /// No usable answer (network error, timeout, a 200 without a token).
    Failed(String),
}

/// Longest the token exchange may take before the attempt counts as failed.
const TOKEN_TIMEOUT_MS: u32 = 10_000;

/// Exchanges the long-lived token for a 60-second one.
async fn websocket_token(options: &ConnectOptions, token: &str) -> Result<String, Exchange> {
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
        .map_err(|e| Exchange::Failed(format!("{url}: {e}")))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    match read_websocket_token(status, &body) {
        Ok(token) => Ok(token),
        Err(TokenRefusal::Unusable(message)) if status == 200 => Err(Exchange::Failed(message)),
        Err(_) => Err(Exchange::Answered(status, body)),
    }
}
