//! The sans-IO client: server frames in, client frames and events out.

use crate::client_cache::{AnyTable, RowBudget, TableCache};
use crate::event::{Cause, ReducerEvent, RowChanges};
use crate::far_frame::{self, FAR_FRAME_MIN, FarApplied, FarRows, FrameSource};
use crate::frame::{self, Budget, FrameCompression, FrameDecoder};
use crate::heartbeat::{Beat, Heartbeat};
use crate::lifecycle::{Action, Lifecycle};
use crate::one_off::PendingQueries;
use crate::reducer::{DEFAULT_REQUEST_TIMEOUT, PendingCalls};
use crate::row_list::{Boundaries, RowRanges};
use crate::subscription::{Send, Subscriptions};
use crate::{
    Backoff, ClientError, ConnectionStatus, Credentials, Event, FrameError, OneOffQueryId,
    OneOffTable, ReducerOutcome, RequestId, Row, SubscriptionId, SubscriptionState,
};
use rustc_hash::{FxHashMap, FxHashSet};
use spacetimedb_client_api_messages::websocket::{
    BsatnFormat, CallReducer, CallReducerFlags, ClientMessage, DatabaseUpdate, OneOffQuery,
    QueryId, ServerMessage, SubscribeMulti, UnsubscribeMulti, UpdateStatus,
};
use spacetimedb_lib::ser::Serialize;
use spacetimedb_lib::{ConnectionId, Identity};
use spacetimedb_sats::bsatn;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// Counters of what the core has seen.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Frames handled.
    pub frames: u64,
    /// Of which gzip-compressed as a whole.
    pub gzip_frames: u64,
    /// Frames that could not be used.
    pub frame_errors: u64,
    /// Frames whose rows were read where they lay, a window at a time
    /// ([`ClientCore::handle_far_frame`]).
    pub far_frames: u64,
}

/// One connection's protocol state: the client cache, subscriptions, calls in flight.
///
/// Feed it every binary frame with [`handle_frame`](Self::handle_frame), send whatever
/// [`poll_transmit`](Self::poll_transmit) returns, and act on [`poll_event`](Self::poll_event).
/// Tell it when the socket closes with [`connection_lost`](Self::connection_lost).
///
/// Time is an input too: the core has no clock. Tell it the time with
/// [`handle_timeout`](Self::handle_timeout) before making calls and whenever
/// [`poll_timeout`](Self::poll_timeout)'s deadline passes; calls without an answer by then end
/// as [`ReducerOutcome::TimedOut`]. Times are [`Duration`]s since any origin the transport
/// picks, as long as it keeps the same one.
pub struct ClientCore {
    credentials: Credentials,
    decoder: FrameDecoder,
    tables: FxHashMap<&'static str, Box<dyn AnyTable>>,
    subscriptions: Subscriptions,
    calls: PendingCalls,
    queries: PendingQueries,
    next_request_id: u32,
    connection: Option<(Identity, ConnectionId)>,
    /// The server has said who we are on the current socket: frames may be sent. Until then
    /// subscriptions wait (they are sent when the identity arrives) and calls fail at once.
    online: bool,
    /// Query sets sent again after a reconnect and not yet applied.
    resyncing: Vec<u32>,
    /// Query sets whose rows the client refused (never counted) and whose unsubscribe is not yet
    /// answered: the deletes of that answer are not theirs to take, they are ignored.
    refused: FxHashSet<u32>,
    outgoing: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    stats: Stats,
    /// The latest time [`Self::handle_timeout`] was given.
    now: Duration,
    /// How long a call or query waits for its answer.
    request_timeout: Duration,
    /// Sockets, retries, status and heartbeat, once [`Self::start`] was called.
    lifecycle: Lifecycle,
    /// Frames at least this long are read where they lie ([`Self::handle_far_frame`]).
    far_frame_min: usize,
}

impl ClientCore {
    /// A core for a connection made with `credentials`: [`Credentials::Anonymous`] (the server
    /// will mint an identity whose token must be kept) or [`Credentials::Token`].
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            decoder: FrameDecoder::default(),
            tables: FxHashMap::default(),
            subscriptions: Subscriptions::default(),
            calls: PendingCalls::default(),
            queries: PendingQueries::default(),
            next_request_id: 1,
            connection: None,
            online: false,
            resyncing: Vec::new(),
            refused: FxHashSet::default(),
            far_frame_min: FAR_FRAME_MIN,
            outgoing: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            now: Duration::ZERO,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            lifecycle: Lifecycle::default(),
        }
    }

    /// A core with the same registered tables, settings, credentials and connection lifecycle
    /// (status, attempt count) as this one, and nothing else: no rows, subscriptions, calls or
    /// time. A transport rebuilds from it when handling a frame panicked (see
    /// [`FrameError::Panicked`]).
    pub fn blank(&self) -> ClientCore {
        let mut core = ClientCore::new(self.credentials);
        core.tables = self
            .tables
            .iter()
            .map(|(&name, table)| (name, table.empty()))
            .collect();
        core.decoder = self.decoder.clone();
        core.request_timeout = self.request_timeout;
        core.far_frame_min = self.far_frame_min;
        core.lifecycle = self.lifecycle.clone();
        core
    }

    /// Applies the settings of `options` that concern the protocol:
    /// [`max_frame_bytes`](crate::ConnectOptions::max_frame_bytes),
    /// [`request_timeout`](crate::ConnectOptions::request_timeout) and
    /// [`heartbeat`](crate::ConnectOptions::heartbeat).
    pub fn configure(&mut self, options: &crate::ConnectOptions) {
        self.set_max_frame_bytes(options.max_frame_bytes);
        self.set_max_cache_bytes(options.max_cache_bytes);
        self.set_request_timeout(options.request_timeout);
        self.lifecycle.set_heartbeat(options.heartbeat.clone());
    }

    /// The retry schedule after a socket is lost (default [`Backoff::default`]).
    pub fn set_backoff(&mut self, backoff: Backoff) {
        self.lifecycle.set_backoff(backoff);
    }

    /// When a silent socket is probed, and how long the answer may take (default
    /// [`Heartbeat::default`]: a dead link is noticed within 15 s).
    pub fn set_heartbeat(&mut self, heartbeat: Heartbeat) {
        self.lifecycle.set_heartbeat(heartbeat);
    }

    /// How long an attempt may take from [`Action::Connect`] to the identity message
    /// (default [`crate::DEFAULT_CONNECT_TIMEOUT`]) before it counts as failed.
    pub fn set_connect_timeout(&mut self, timeout: Duration) {
        self.lifecycle.set_connect_timeout(timeout);
    }

    /// Hands the connection's lifecycle to the core, at the time last given to
    /// [`handle_timeout`](Self::handle_timeout): from now on it asks for sockets
    /// ([`poll_action`](Self::poll_action)), retries lost ones on the [`Backoff`] schedule (jitter
    /// drawn from `seed`: give each client a different one), keeps the
    /// [`status`](Self::status) and probes silent sockets ([`Heartbeat`]). The first
    /// [`Action::Connect`] is queued at once. A core never started does none of this.
    pub fn start(&mut self, seed: u64) {
        self.lifecycle.start(self.now, seed);
    }

    /// The next thing the transport must do with its socket, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.lifecycle.poll_action()
    }

    /// Where the connection stands, for the UI (meaningful once [`started`](Self::start)).
    pub fn status(&self) -> &ConnectionStatus {
        self.lifecycle.status()
    }

    /// The attempt asked for by [`Action::Connect`] failed before the socket said who we are
    /// (no answer, refused, closed): the next one is scheduled.
    pub fn connect_failed(&mut self, reason: &str) {
        if self.lifecycle.is_live() {
            // Not an attempt's failure: a live socket is lost through `connection_lost`.
            log::warn!("ignored a connect failure reported for a live socket: {reason}");
            return;
        }
        log::warn!("connection attempt failed: {reason}");
        self.lifecycle.lost(self.now);
    }

    /// The token exchange (`POST /v1/identity/websocket-token`) answered `status` with `body`
    /// instead of a token. Returns whether to forget the stored token: only when SpacetimeDB
    /// itself says it is not valid there; then the attempt goes on anonymously (a new identity,
    /// whose token comes with [`Event::Connected`]). Any other refusal (a proxy's or firewall's,
    /// a server error) keeps the token: the attempt counts as failed and the next one is
    /// scheduled.
    pub fn token_refused(&mut self, status: u16, body: &str) -> bool {
        if self.lifecycle.is_live() {
            log::warn!("ignored a token refusal (HTTP {status}) reported for a live socket");
            return false;
        }
        if crate::connect::says_token_is_invalid(status, body) {
            log::warn!(
                "the stored token was rejected (HTTP {status}: {}); connecting anonymously",
                body.trim()
            );
            self.credentials = Credentials::Anonymous;
            true
        } else {
            self.connect_failed(&format!("websocket-token: HTTP {status}"));
            false
        }
    }

    /// The page became visible or the network came back: a live socket is probed now (unless a
    /// probe is in flight), and an attempt waiting for its time starts now.
    pub fn page_visible(&mut self) {
        if self.lifecycle.wake(self.now) {
            self.send_probe(true);
        }
    }

    /// Closes the connection for good: calls in flight end as lost, no more actions are asked
    /// for, the status says disconnected. The transport closes its socket itself.
    pub fn close(&mut self) {
        self.lifecycle.close();
        self.connection_lost();
    }

    /// Sends a heartbeat probe on the live socket (`woken`: the page just became visible).
    fn send_probe(&mut self, woken: bool) {
        if !self.online {
            return;
        }
        let id = self.request_id();
        self.outgoing
            .push_back(frame::encode(&ClientMessage::OneOffQuery(OneOffQuery {
                message_id: id.to_le_bytes().into(),
                query_string: self.lifecycle.heartbeat().query.as_str().into(),
            })));
        self.lifecycle.probe_sent(id, self.now, woken);
    }

    /// The most bytes one server frame may take once inflated, the frame and every query update
    /// compressed in it together (default [`crate::DEFAULT_MAX_FRAME_BYTES`]). A frame beyond
    /// it becomes an [`Event::FrameError`] and is dropped.
    pub fn set_max_frame_bytes(&mut self, bytes: usize) {
        self.decoder.set_max_frame_bytes(bytes);
    }

    /// The most memory the client cache may take, all tables together, as charged per row
    /// (default [`crate::DEFAULT_MAX_CACHE_BYTES`]). An update beyond it becomes an
    /// [`Event::FrameError`] (and fails the subscription it applies) and is dropped as a whole.
    pub fn set_max_cache_bytes(&mut self, bytes: usize) {
        self.decoder.set_max_cache_bytes(bytes);
    }

    /// How long a reducer call or one-off query made from now on waits for its answer (default
    /// [`crate::DEFAULT_REQUEST_TIMEOUT`]).
    pub fn set_request_timeout(&mut self, timeout: Duration) {
        self.request_timeout = timeout;
    }

    /// Tells the core the time: calls and queries whose deadline is `now` or earlier end, as
    /// [`ReducerOutcome::TimedOut`] and an `Err` answer. Later calls' deadlines count from the
    /// latest `now` given (time never goes back: an earlier `now` is ignored).
    pub fn handle_timeout(&mut self, now: Duration) {
        self.now = self.now.max(now);
        for (request_id, reducer) in self.calls.expire(self.now) {
            log::warn!(
                "reducer call {} ({reducer}) got no answer within {:?}",
                request_id.0,
                self.request_timeout
            );
            self.events.push_back(Event::ReducerDone {
                request_id,
                reducer,
                outcome: ReducerOutcome::TimedOut,
            });
        }
        for id in self.queries.expire(self.now) {
            self.events.push_back(Event::OneOffDone {
                id,
                result: Err(format!("no answer within {:?}", self.request_timeout)),
            });
        }
        match self.lifecycle.handle_timeout(self.now) {
            Beat::Probe => self.send_probe(false),
            Beat::Dead => self.connection_lost(),
            Beat::Quiet => {}
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next: the earliest
    /// deadline of a call or query in flight, a retry, or the heartbeat, if any.
    pub fn poll_timeout(&self) -> Option<Duration> {
        [
            self.calls.next_deadline(),
            self.queries.next_deadline(),
            self.lifecycle.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// What the next socket connects with: [`Credentials::Anonymous`] when no token is stored or
    /// the stored one was rejected (then the identity the server mints comes with a token to
    /// keep); with [`Credentials::Token`] the echoed (possibly 60-second) token is never offered
    /// for keeping.
    pub fn set_credentials(&mut self, credentials: Credentials) {
        self.credentials = credentials;
    }

    /// Caches rows of `T`'s table. Rows of tables not registered are ignored.
    pub fn register_table<T: Row>(&mut self) {
        self.tables
            .entry(T::TABLE)
            .or_insert_with(|| Box::new(TableCache::<T>::default()));
    }

    /// The cached rows of `T`'s table, if registered.
    pub fn table<T: Row>(&self) -> Option<&TableCache<T>> {
        self.tables.get(T::TABLE)?.as_any().downcast_ref()
    }

    /// Our identity and connection id, once the server has said them.
    pub fn identity(&self) -> Option<(Identity, ConnectionId)> {
        self.connection
    }

    /// What the core has seen so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The next frame to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.outgoing.pop_front()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Subscribes to a set of SQL queries. An identical live set is shared, not sent again.
    pub fn subscribe<Q: Into<String>>(
        &mut self,
        queries: impl IntoIterator<Item = Q>,
    ) -> Result<SubscriptionId, ClientError> {
        let queries: Vec<String> = queries.into_iter().map(Into::into).collect();
        let (handle, send) = self.subscriptions.subscribe(queries)?;
        match send {
            Some(send) => self.send_subscription(send),
            None if self.subscriptions.state(handle) == Some(SubscriptionState::Applied) => {
                self.events.push_back(Event::SubscriptionApplied(handle));
            }
            None => {}
        }
        Ok(handle)
    }

    /// Ends a subscription; its rows leave the cache once no other subscription holds them.
    pub fn unsubscribe(&mut self, id: SubscriptionId) -> Result<(), ClientError> {
        match self.subscriptions.unsubscribe(id)? {
            Some(Send::Unsubscribe { query_id }) if !self.online => {
                // No server to confirm: the set is simply not restored on reconnect.
                self.subscriptions.ended(query_id);
                self.resync_progress(query_id);
            }
            Some(send) => self.send_subscription(send),
            None => {}
        }
        self.events.push_back(Event::SubscriptionEnded(id));
        Ok(())
    }

    /// Gives a subscription handle of a lost core back to this (blank) one; see
    /// [`crate::waiters::Waiters::rebuild`]. It is sent with the next socket.
    #[cfg_attr(
        not(any(feature = "native", all(feature = "browser", target_arch = "wasm32"))),
        allow(dead_code)
    )]
    pub(crate) fn restore_subscription(
        &mut self,
        id: SubscriptionId,
        queries: Vec<String>,
    ) -> Result<(), ClientError> {
        self.subscriptions.restore(id, queries)
    }

    /// Reports a frame that could not be used (or whose handling failed outside the core).
    #[cfg_attr(
        not(any(feature = "native", all(feature = "browser", target_arch = "wasm32"))),
        allow(dead_code)
    )]
    pub(crate) fn report_frame_error(&mut self, error: FrameError) {
        self.stats.frames += 1;
        self.frame_error(error);
    }

    /// Number of distinct query sets live on the server (at most [`crate::MAX_SUBSCRIPTIONS`]).
    pub fn live_subscriptions(&self) -> usize {
        self.subscriptions.live_sets()
    }

    /// A subscription's state (`None` for a handle never issued).
    pub fn subscription_state(&self, id: SubscriptionId) -> Option<SubscriptionState> {
        self.subscriptions.state(id)
    }

    fn send_subscription(&mut self, send: Send) {
        if !self.online {
            // Sent with every other set when the next socket opens.
            return;
        }
        // Subscription messages use the query id as request id, so errors map back to the set.
        let message = match send {
            Send::Subscribe { query_id, queries } => {
                ClientMessage::SubscribeMulti(SubscribeMulti {
                    query_strings: queries.into_iter().map(Into::into).collect(),
                    request_id: query_id,
                    query_id: QueryId::new(query_id),
                })
            }
            Send::Unsubscribe { query_id } => ClientMessage::UnsubscribeMulti(UnsubscribeMulti {
                request_id: query_id,
                query_id: QueryId::new(query_id),
            }),
        };
        self.outgoing.push_back(frame::encode(&message));
    }

    fn request_id(&mut self) -> u32 {
        let id = self.next_request_id;
        self.next_request_id = self.next_request_id.wrapping_add(1).max(1);
        id
    }

    /// Calls a reducer with its arguments as a tuple (or any BSATN product), e.g.
    /// `("0xab…", 8453, 20000)`. The outcome arrives as [`Event::ReducerDone`].
    pub fn call_reducer<A: Serialize + ?Sized>(
        &mut self,
        reducer: &str,
        args: &A,
    ) -> Result<RequestId, ClientError> {
        let args = bsatn::to_vec(args).map_err(|e| ClientError::Encode {
            reducer: reducer.to_owned(),
            message: e.to_string(),
        })?;
        let request_id = RequestId(self.request_id());
        if !self.online {
            self.events.push_back(Event::ReducerDone {
                request_id,
                reducer: reducer.to_owned(),
                outcome: ReducerOutcome::ConnectionLost,
            });
            return Ok(request_id);
        }
        self.calls.insert(
            request_id,
            reducer,
            self.now.saturating_add(self.request_timeout),
        );
        self.outgoing
            .push_back(frame::encode(&ClientMessage::CallReducer(CallReducer {
                reducer: reducer.into(),
                args: args.into_boxed_slice(),
                request_id: request_id.0,
                flags: CallReducerFlags::FullUpdate,
            })));
        Ok(request_id)
    }

    /// Runs a SQL `SELECT` once; the rows arrive as [`Event::OneOffDone`].
    pub fn one_off_query(&mut self, sql: &str) -> OneOffQueryId {
        let id = OneOffQueryId(self.request_id());
        if !self.online {
            self.events.push_back(Event::OneOffDone {
                id,
                result: Err("not connected".into()),
            });
            return id;
        }
        self.queries
            .insert(id, self.now.saturating_add(self.request_timeout));
        self.outgoing
            .push_back(frame::encode(&ClientMessage::OneOffQuery(OneOffQuery {
                message_id: id.0.to_le_bytes().into(),
                query_string: sql.into(),
            })));
        id
    }

    /// The socket closed: calls and queries in flight end with [`ReducerOutcome::ConnectionLost`]
    /// and an error; frames not yet sent are dropped. The cache and the subscriptions stay: when
    /// the next socket says who we are, every subscription is sent again and the cache resynced.
    /// Until then reducer calls and queries fail at once.
    ///
    /// Once [`started`](Self::start), the next attempt is scheduled.
    pub fn connection_lost(&mut self) {
        self.lifecycle.lost(self.now);
        self.connection = None;
        self.online = false;
        self.resyncing.clear();
        self.refused.clear();
        self.subscriptions.connection_lost();
        self.outgoing.clear();
        for (request_id, reducer) in self.calls.drain() {
            self.events.push_back(Event::ReducerDone {
                request_id,
                reducer,
                outcome: ReducerOutcome::ConnectionLost,
            });
        }
        for id in self.queries.drain() {
            self.events.push_back(Event::OneOffDone {
                id,
                result: Err("connection lost".into()),
            });
        }
    }

    /// Handles one binary frame from the server. A frame that cannot be used becomes an
    /// [`Event::FrameError`]; nothing panics. Once [`started`](Self::start), a frame handed in
    /// after the core counted the socket as lost ([`Action::Disconnect`], a lost connection or
    /// [`close`](Self::close)) and before the next [`Action::Connect`] is ignored: it belongs to
    /// a socket that is gone.
    pub fn handle_frame(&mut self, frame: &[u8]) {
        self.handle_owned_frame(frame);
    }

    /// [`Self::handle_frame`] for a frame the caller gives away: it is dropped once decoded,
    /// before its rows are applied, so the frame and the cache's new rows are not held at once
    /// (a transport that copied the frame in saves its size from the peak).
    pub fn handle_owned_frame(&mut self, frame: impl AsRef<[u8]>) {
        if !self.lifecycle.accepts_frames() {
            log::debug!("ignored a frame of a socket already dropped");
            return;
        }
        self.stats.frames += 1;
        self.lifecycle.heard(self.now);
        let decoded = self.decoder.decode(frame.as_ref());
        drop(frame);
        match decoded {
            Ok((message, compression, mut budget)) => {
                if compression == FrameCompression::Gzip {
                    self.stats.gzip_frames += 1;
                }
                self.handle_message(message, &mut budget);
            }
            Err(error) => self.frame_error(error),
        }
    }

    /// Reads frames of any length where they lie (tests of [`Self::handle_far_frame`]).
    #[cfg(test)]
    pub(crate) fn read_every_frame_far(&mut self) {
        self.far_frame_min = 0;
    }

    /// [`Self::handle_frame`] for a frame in memory the client does not own (in the browser,
    /// the WebSocket's `ArrayBuffer`). A subscription's initial rows (an uncompressed
    /// `SubscribeMultiApplied` of at least [`FAR_FRAME_MIN`] bytes, for one registered table
    /// still empty) are decoded straight from it, a window at a time: the frame is never copied
    /// in whole, so it does not sit in memory beside the rows decoded from it. Any other frame
    /// is copied in and handled as [`Self::handle_owned_frame`] handles it — a table holding
    /// rows too, so the subscriptions re-applied after a reconnect (whose table holds the stale
    /// rows) take the whole-frame path; either way the outcome is the same. The envelope is
    /// read through a buffer of 64 KiB and its table and query updates are weighed as they are
    /// read, as the whole-frame decoder weighs them.
    pub fn handle_far_frame(&mut self, source: &dyn FrameSource) {
        if !self.lifecycle.accepts_frames() {
            log::debug!("ignored a frame of a socket already dropped");
            return;
        }
        if source.len() >= self.far_frame_min
            && source.len() <= self.decoder.max_frame_bytes().saturating_add(1)
            && let Some(applied) = far_frame::subscribe_applied(source)
            && let Some((table, lists)) = self.far_rows(&applied)
        {
            self.stats.frames += 1;
            self.stats.far_frames += 1;
            self.lifecycle.heard(self.now);
            let result = self.fill_far(table, &lists, source);
            self.subscribe_applied(applied.query_id, result);
            return;
        }
        let mut frame = vec![0u8; source.len()];
        source.read(0, &mut frame);
        self.handle_owned_frame(frame);
    }

    /// The one registered table an initial subscription brings rows to, and its row lists, if
    /// it can be filled where the rows lie: the table is empty, nothing is deleted, every list
    /// fits its data and no other registered table is named.
    fn far_rows(&self, applied: &FarApplied) -> Option<(&'static str, Vec<FarRows>)> {
        let mut found: Option<(&'static str, Vec<FarRows>)> = None;
        for table in &applied.tables {
            let Some(cache) = self.tables.get(table.name.as_str()) else {
                continue;
            };
            let name = cache.name();
            match &found {
                Some((other, _)) if *other != name => return None,
                _ => {}
            }
            if !cache.is_empty() {
                return None;
            }
            let lists = &mut found.get_or_insert_with(|| (name, Vec::new())).1;
            for (deletes, inserts) in &table.updates {
                // Nothing deleted: no data, and no row (a row of zero bytes is one).
                let no_deletes = deletes.len == 0
                    && Boundaries::new(deletes.hint.clone(), 0, name).is_ok_and(|b| b.len() == 0);
                if !no_deletes {
                    return None;
                }
                let boundaries = Boundaries::new(inserts.hint.clone(), inserts.len, name).ok()?;
                lists.push(FarRows {
                    boundaries,
                    at: inserts.at,
                });
            }
        }
        found
    }

    /// Fills `table` from row lists left in `source` (see [`Self::handle_far_frame`]).
    fn fill_far(
        &mut self,
        table: &'static str,
        lists: &[FarRows],
        source: &dyn FrameSource,
    ) -> Result<(), FrameError> {
        let mut room = self.room();
        let Some(cache) = self.tables.get_mut(table) else {
            return Ok(());
        };
        let changes = cache.fill_far(lists, source, &mut room)?;
        if !changes.is_empty() {
            self.events.push_back(Event::RowsChanged(RowChanges {
                table,
                cause: Arc::new(Cause::SubscriptionApplied),
                changes,
            }));
        }
        Ok(())
    }

    /// A subscription's initial rows applied (`result`), or refused.
    fn subscribe_applied(&mut self, query_id: u32, result: Result<(), FrameError>) {
        match result {
            Ok(()) => {
                for handle in self.subscriptions.applied(query_id) {
                    self.events.push_back(Event::SubscriptionApplied(handle));
                }
            }
            Err(error) => {
                // Refused here, the set stays live on the server: end it there, so
                // later transactions stop carrying its rows. Rows they bring until
                // then stay cached until the next reconnect's resync: the answer's
                // deletes are ignored, since they may be another live set's (a known
                // limit, see the README).
                let live = self.subscriptions.is_live(query_id);
                if self.subscriptions.is_known(query_id) {
                    // Its unsubscribe answer (ours or the app's) lists rows never
                    // counted: they may be another live set's.
                    self.refused.insert(query_id);
                }
                let message = error.to_string();
                self.frame_error(error);
                self.fail_set(query_id, &message);
                if live {
                    self.send_subscription(Send::Unsubscribe { query_id });
                }
            }
        }
        self.resync_progress(query_id);
    }

    /// What the cache may still take: `max_cache_bytes` less what every table is charged.
    fn room(&self) -> RowBudget {
        let cache_limit = self.decoder.max_cache_bytes();
        let held: usize = self.tables.values().map(|t| t.charged_bytes()).sum();
        RowBudget {
            cache: cache_limit.saturating_sub(held),
            cache_limit,
        }
    }

    fn frame_error(&mut self, error: FrameError) {
        log::warn!("dropped a server frame: {error}");
        self.stats.frame_errors += 1;
        self.events.push_back(Event::FrameError(error));
    }

    fn handle_message(&mut self, message: ServerMessage<BsatnFormat>, budget: &mut Budget) {
        match message {
            ServerMessage::IdentityToken(token) => {
                if !self.lifecycle.takes_identity() {
                    log::warn!("ignored a second identity message on a live socket");
                    return;
                }
                self.connection = Some((token.identity, token.connection_id));
                self.lifecycle.connected(self.now, token.identity);
                // A core that lost its socket resends its subscriptions on the new one.
                let reconnected = !std::mem::replace(&mut self.online, true);
                self.events.push_back(Event::Connected {
                    identity: token.identity,
                    connection_id: token.connection_id,
                    new_token: (self.credentials == Credentials::Anonymous)
                        .then(|| token.token.into()),
                });
                // Later sockets connect with the token kept from this one.
                self.credentials = Credentials::Token;
                if reconnected {
                    self.begin_resync();
                }
            }
            ServerMessage::SubscribeMultiApplied(applied) => {
                let result = self.apply(applied.update, Cause::SubscriptionApplied, budget);
                self.subscribe_applied(applied.query_id.id, result);
            }
            ServerMessage::UnsubscribeMultiApplied(applied) => {
                if self.refused.remove(&applied.query_id.id) {
                    log::debug!("ignored the deletes of a refused set's unsubscribe answer");
                } else if let Err(error) =
                    self.apply(applied.update, Cause::SubscriptionEnded, budget)
                {
                    self.frame_error(error);
                }
                self.subscriptions.ended(applied.query_id.id);
            }
            ServerMessage::SubscriptionError(error) => {
                let set = error.query_id.or_else(|| {
                    error
                        .request_id
                        .and_then(|r| self.subscriptions.query_id_of_request(RequestId(r)))
                });
                match (set, error.request_id) {
                    (Some(query_id), _) => self.fail_set(query_id, &error.error),
                    (None, Some(request_id)) => {
                        log::warn!(
                            "subscription error for unknown request {request_id}: {}",
                            error.error
                        );
                    }
                    (None, None) => self.drop_all_subscriptions(&error.error),
                }
            }
            ServerMessage::TransactionUpdate(update) => self.handle_transaction(update, budget),
            ServerMessage::TransactionUpdateLight(light) => {
                if let Err(error) = self.apply(light.update, Cause::LightUpdate, budget) {
                    self.frame_error(error);
                }
            }
            ServerMessage::OneOffQueryResponse(response) => {
                let probe = <[u8; 4]>::try_from(&*response.message_id)
                    .is_ok_and(|id| self.lifecycle.probe_answered(u32::from_le_bytes(id)));
                if probe {
                    // The link is alive; the answer itself means nothing.
                    return;
                }
                let Some(id) = self.queries.finish(&response.message_id) else {
                    log::warn!("answer to an unknown one-off query");
                    return;
                };
                let result = match response.error {
                    Some(error) => Err(error.into()),
                    None => response
                        .tables
                        .into_vec()
                        .into_iter()
                        .map(|t| {
                            let rows =
                                RowRanges::new(t.rows, &t.table_name).map_err(|e| e.to_string())?;
                            Ok(OneOffTable {
                                table: t.table_name.into(),
                                rows,
                            })
                        })
                        .collect(),
                };
                self.events.push_back(Event::OneOffDone { id, result });
            }
            ServerMessage::InitialSubscription(_)
            | ServerMessage::SubscribeApplied(_)
            | ServerMessage::UnsubscribeApplied(_)
            | ServerMessage::ProcedureResult(_) => {
                log::debug!("ignoring a message for requests this client never makes");
            }
        }
    }

    fn handle_transaction(
        &mut self,
        update: spacetimedb_client_api_messages::websocket::TransactionUpdate<BsatnFormat>,
        budget: &mut Budget,
    ) {
        let request = update.reducer_call.request_id;
        let ours = self.connection.map(|(_, c)| c) == Some(update.caller_connection_id);
        let (outcome, rows) = match update.status {
            UpdateStatus::Committed(rows) => (ReducerOutcome::Committed, Some(rows)),
            UpdateStatus::Failed(message) => (ReducerOutcome::Failed(message.into()), None),
            UpdateStatus::OutOfEnergy => (ReducerOutcome::OutOfEnergy, None),
        };
        let pending_reducer = match (ours, request) {
            (false, _) => None,
            (true, 0) => {
                let call = self
                    .calls
                    .finish_unnumbered(&update.reducer_call.reducer_name);
                if call.is_none() {
                    log::warn!(
                        "a failure for no one call ({}: {outcome:?})",
                        update.reducer_call.reducer_name
                    );
                    self.events.push_back(Event::UnattributedFailure {
                        reducer: update.reducer_call.reducer_name.to_string(),
                        outcome: outcome.clone(),
                    });
                }
                call
            }
            (true, id) => self.calls.finish(id).map(|name| (RequestId(id), name)),
        };
        let reducer: String = update.reducer_call.reducer_name.into();
        if let Some(rows) = rows {
            let event = ReducerEvent {
                reducer: reducer.clone(),
                caller_identity: update.caller_identity,
                caller_connection_id: update.caller_connection_id,
                timestamp: update.timestamp,
                request_id: pending_reducer.as_ref().map(|(id, _)| *id),
                outcome: outcome.clone(),
            };
            if let Err(error) = self.apply(rows, Cause::Reducer(event), budget) {
                self.frame_error(error);
            }
        }
        if let Some((request_id, called)) = pending_reducer {
            self.events.push_back(Event::ReducerDone {
                request_id,
                reducer: called,
                outcome,
            });
        }
    }

    /// Marks every row stale and sends every subscription again (after a reconnect).
    fn begin_resync(&mut self) {
        for cache in self.tables.values_mut() {
            cache.begin_resync();
        }
        let sends = self.subscriptions.resubscribe();
        self.resyncing = sends
            .iter()
            .map(|s| match s {
                Send::Subscribe { query_id, .. } | Send::Unsubscribe { query_id } => *query_id,
            })
            .collect();
        for send in sends {
            self.send_subscription(send);
        }
        if self.resyncing.is_empty() {
            self.finish_resync();
        }
    }

    /// A set re-applied (or failed or ended) during a resync; the last one finishes it.
    fn resync_progress(&mut self, query_id: u32) {
        let before = self.resyncing.len();
        self.resyncing.retain(|id| *id != query_id);
        if before > 0 && self.resyncing.is_empty() {
            self.finish_resync();
        }
    }

    /// Deletes the rows no re-applied subscription delivered again.
    fn finish_resync(&mut self) {
        let cause = Arc::new(Cause::Resync);
        for cache in self.tables.values_mut() {
            let changes = cache.finish_resync();
            if !changes.is_empty() {
                self.events.push_back(Event::RowsChanged(RowChanges {
                    table: cache.name(),
                    cause: Arc::clone(&cause),
                    changes,
                }));
            }
        }
    }

    /// Whether a socket is open (or opening) for this core.
    pub fn is_online(&self) -> bool {
        self.online
    }

    fn fail_set(&mut self, query_id: u32, error: &str) {
        self.resync_progress(query_id);
        for id in self.subscriptions.failed(query_id, error) {
            self.events.push_back(Event::SubscriptionFailed {
                id,
                error: error.to_owned(),
            });
        }
    }

    fn drop_all_subscriptions(&mut self, error: &str) {
        self.resyncing.clear();
        self.refused.clear();
        for id in self.subscriptions.all_failed(error) {
            self.events.push_back(Event::SubscriptionFailed {
                id,
                error: error.to_owned(),
            });
        }
        let cause = Arc::new(Cause::SubscriptionsDropped);
        for (&table, cache) in &mut self.tables {
            let changes = cache.clear();
            if !changes.is_empty() {
                self.events.push_back(Event::RowsChanged(RowChanges {
                    table,
                    cause: Arc::clone(&cause),
                    changes,
                }));
            }
        }
    }

    /// Applies a database update to the cache, one event per changed table, all or nothing:
    /// the query updates of each registered table are gathered (a table listed twice counts
    /// once), every table is checked first (rows decode, one row per primary key, the new rows
    /// fit in the cache), and only when all pass is any applied. Query updates of registered
    /// tables are inflated against the frame's `budget`; those of other tables are not even
    /// looked at.
    ///
    /// With several tables, the check decodes each table's new rows and drops them before the
    /// next table, so such an update decodes its new rows twice; its transient memory stays one
    /// table's new rows (bounded by what is left of `max_cache_bytes`).
    fn apply(
        &mut self,
        update: DatabaseUpdate<BsatnFormat>,
        cause: Cause,
        budget: &mut Budget,
    ) -> Result<(), FrameError> {
        type Lists = (Vec<RowRanges>, Vec<RowRanges>);
        let mut gathered: Vec<(&'static str, Lists)> = Vec::new();
        for table_update in update.tables {
            let Some(cache) = self.tables.get(&*table_update.table_name) else {
                log::debug!("rows for unregistered table {}", table_update.table_name);
                continue;
            };
            let table = cache.name();
            let at = match gathered.iter().position(|(name, _)| *name == table) {
                Some(at) => at,
                None => {
                    gathered.push((table, (Vec::new(), Vec::new())));
                    gathered.len() - 1
                }
            };
            for update in table_update.updates {
                let update = self.decoder.query_update(update, budget)?;
                let deletes = RowRanges::new(update.deletes, table)?;
                let inserts = RowRanges::new(update.inserts, table)?;
                if let Some((_, (all_deletes, all_inserts))) = gathered.get_mut(at) {
                    all_deletes.push(deletes);
                    all_inserts.push(inserts);
                }
            }
        }
        let mut room = self.room();
        // One table applies all or nothing on its own; several are checked first.
        if gathered.len() > 1 {
            for (table, (deletes, inserts)) in &gathered {
                if let Some(cache) = self.tables.get(table) {
                    cache.check(deletes, inserts, &mut room)?;
                }
            }
            room.cache = usize::MAX;
        }
        let cause = Arc::new(cause);
        let mut first_error = None;
        for (table, (deletes, inserts)) in gathered {
            let Some(cache) = self.tables.get_mut(table) else {
                continue;
            };
            match cache.apply(&deletes, &inserts, &mut room) {
                Ok(changes) if changes.is_empty() => {}
                Ok(changes) => self.events.push_back(Event::RowsChanged(RowChanges {
                    table,
                    cause: Arc::clone(&cause),
                    changes,
                })),
                // Checked above; kept as an error rather than a panic all the same.
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
