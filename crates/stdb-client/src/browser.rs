//! The browser transport: a `web-sys` WebSocket around [`ClientCore`], one per database per tab.
//!
//! - [`BrowserConnection::shared`] returns the tab's connection to a database, creating it on
//!   first use: a second socket to the same database cannot be built.
//! - The long-lived token lives in `localStorage` under [`token_key`] (server + database). It is
//!   saved after an anonymous connect, exchanged for a 60-second token before every connect,
//!   and removed (then the connection goes on anonymously) when the server rejects it.
//! - When the socket closes, the connection retries on the [`Backoff`] schedule, at once when the
//!   browser comes back `online` or the tab becomes visible, resubscribes and resyncs the cache.
//! - Listeners see every [`ConnectionStatus`] change and every [`Event`]; status changes are
//!   logged to the console.

use crate::connect::{TokenRefusal, read_websocket_token};
use crate::waiters::{Waiters, one_off_rows};
use crate::{
    Backoff, ClientCore, ConnectOptions, ConnectionError, ConnectionStatus, Credentials, Event,
    Identity, ReducerOutcome, Row, SUBPROTOCOL, SubscriptionId, TableCache,
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

#[derive(Default)]
struct Listeners {
    next: u32,
    status: Vec<(ListenerId, StatusListener)>,
    events: Vec<(ListenerId, EventListener)>,
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
    core: ClientCore,
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
        let mut core = ClientCore::new(Credentials::Anonymous);
        register(&mut core);
        let connection = Self {
            inner: Rc::new(RefCell::new(Inner {
                options,
                core,
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
        self.inner
            .borrow()
            .core
            .identity()
            .map(|(identity, _)| identity)
    }

    /// Calls `listener` on every status change.
    pub fn on_status(&self, listener: impl FnMut(&ConnectionStatus) + 'static) -> ListenerId {
        let mut listeners = self.listeners.borrow_mut();
        let id = ListenerId(listeners.next);
        listeners.next += 1;
        listeners.status.push((id, Box::new(listener)));
        id
    }

    /// Calls `listener` on every event (row changes, subscription states, reducer outcomes…).
    pub fn on_event(&self, listener: impl FnMut(&Event) + 'static) -> ListenerId {
        let mut listeners = self.listeners.borrow_mut();
        let id = ListenerId(listeners.next);
        listeners.next += 1;
        listeners.events.push((id, Box::new(listener)));
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
        let id = self.inner.borrow_mut().core.subscribe(queries)?;
        self.flush();
        Ok(id)
    }

    /// Subscribes and waits until the rows are in the cache.
    pub async fn subscribe_applied<Q: Into<String>>(
        &self,
        queries: impl IntoIterator<Item = Q>,
    ) -> Result<SubscriptionId, ConnectionError> {
        let (id, applied) = {
            let inner = &mut *self.inner.borrow_mut();
            inner.waiters.subscribe(&mut inner.core, queries)?
        };
        self.flush();
        applied.await.map_err(|_| closed())??;
        Ok(id)
    }

    /// Ends a subscription.
    pub fn unsubscribe(&self, id: SubscriptionId) -> Result<(), ConnectionError> {
        self.inner.borrow_mut().core.unsubscribe(id)?;
        self.flush();
        Ok(())
    }

    /// Calls a reducer with its arguments as a tuple and waits for the outcome.
    pub async fn call_reducer<A: Serialize + ?Sized>(
        &self,
        reducer: &str,
        args: &A,
    ) -> Result<ReducerOutcome, ConnectionError> {
        let outcome = {
            let inner = &mut *self.inner.borrow_mut();
            inner.waiters.call_reducer(&mut inner.core, reducer, args)?
        };
        self.flush();
        outcome.await.map_err(|_| closed())
    }

    /// Runs a SQL `SELECT` once and decodes the rows of `T`'s table.
    pub async fn one_off_query<T: Row>(&self, sql: &str) -> Result<Vec<T>, ConnectionError> {
        let answer = {
            let inner = &mut *self.inner.borrow_mut();
            inner.waiters.one_off_query(&mut inner.core, sql)
        };
        self.flush();
        one_off_rows(answer.await.map_err(|_| closed())?)
    }

    /// Reads `T`'s cached rows (`None` if the table was not registered).
    pub fn with_table<T: Row, R>(&self, f: impl FnOnce(&TableCache<T>) -> R) -> Option<R> {
        self.inner.borrow().core.table::<T>().map(f)
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
            inner.core.connection_lost();
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
        self.inner.borrow_mut().core.set_credentials(credentials);
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
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                match event.data().dyn_into::<js_sys::ArrayBuffer>() {
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

    fn handle_frame(&self, frame: &[u8]) {
        self.inner.borrow_mut().core.handle_frame(frame);
        self.flush();
    }

    /// Sends what the core queued and hands its events to waiters and listeners.
    fn flush(&self) {
        let (events, connected) = {
            let inner = &mut *self.inner.borrow_mut();
            while let Some(frame) = inner.core.poll_transmit() {
                if let Some(socket) = &inner.socket
                    && let Err(e) = socket.ws.send_with_u8_array(&frame)
                {
                    log::warn!("could not send a frame: {e:?}");
                }
            }
            let mut events = Vec::new();
            let mut connected = None;
            while let Some(event) = inner.core.poll_event() {
                inner.waiters.dispatch(&event);
                if let Event::Connected {
                    identity,
                    new_token,
                    ..
                } = &event
                {
                    if let Some(token) = new_token
                        && let Err(e) = LocalStorage::set(token_key(&inner.options.connect), token)
                    {
                        log::warn!("could not keep the token in localStorage: {e}");
                    }
                    inner.attempt = 0;
                    inner.outage_started_ms = None;
                    connected = Some(*identity);
                }
                events.push(event);
            }
            (events, connected)
        };
        if let Some(identity) = connected {
            self.set_status(ConnectionStatus::Connected(identity));
        }
        if events.is_empty() {
            return;
        }
        let mut taken = std::mem::take(&mut self.listeners.borrow_mut().events);
        for event in &events {
            for (_, listener) in &mut taken {
                listener(event);
            }
        }
        let mut listeners = self.listeners.borrow_mut();
        taken.append(&mut listeners.events);
        listeners.events = taken;
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
        let mut taken = std::mem::take(&mut self.listeners.borrow_mut().status);
        for (_, listener) in &mut taken {
            listener(&status);
        }
        let mut listeners = self.listeners.borrow_mut();
        taken.append(&mut listeners.status);
        listeners.status = taken;
    }

    fn socket_closed(&self, reason: &str) {
        {
            let mut inner = self.inner.borrow_mut();
            // This runs inside the socket's own callback: keep its closures alive until later.
            if let Some(socket) = inner.socket.take() {
                socket.detach();
                inner.retired = Some(socket);
            }
            inner.core.connection_lost();
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
