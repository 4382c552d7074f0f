//! The connection's lifecycle, sans-IO: when to open a socket, when one counts as lost, when to
//! try again, and what the UI shows meanwhile.
//!
//! It lives in [`ClientCore`](crate::ClientCore) (see [`ClientCore::start`](crate::ClientCore::start)):
//! the transport passes the time in and carries out the [`Action`]s the core asks for; the core
//! owns the attempt count, the outage start, the backoff (with jitter drawn from a seed the
//! transport supplies), the [`ConnectionStatus`], the token-refusal policy and the heartbeat.

use crate::heartbeat::{Beat, Heartbeat, Pulse};
use crate::{Backoff, ConnectionStatus, Identity};
use std::collections::VecDeque;
use std::time::Duration;

/// What the core asks its transport to do (see [`ClientCore::poll_action`](crate::ClientCore::poll_action)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Open a socket (after the token exchange, if a token is kept). Replaces any socket still
    /// open. Tell the core how it went: frames through
    /// [`handle_frame`](crate::ClientCore::handle_frame) (the first one says who we are), or
    /// [`connect_failed`](crate::ClientCore::connect_failed) /
    /// [`token_refused`](crate::ClientCore::token_refused) /
    /// [`connection_lost`](crate::ClientCore::connection_lost).
    Connect,
    /// Close the current socket and ignore anything more from it: the core already counts it as
    /// lost (no identity in time, or a heartbeat probe unanswered) and has scheduled the next
    /// attempt. From then on the core ignores every frame handed to it until the next
    /// [`Action::Connect`]: a frame of the dropped socket that the transport still had in hand
    /// (it told the core the time just before handing it over) changes nothing.
    Disconnect,
}

/// How long a socket may take to say who we are (token exchange, handshake and the identity
/// message together) before the attempt counts as failed.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a socket must stay live before it counts as proven and the backoff starts afresh.
/// A server that says who we are and then closes (or a socket dropped again at once) is backed
/// off like one refusing connections, instead of being retried within ~100 ms each time.
pub(crate) const PROVEN_AFTER: Duration = Duration::from_secs(30);

/// A wake (the page became visible, the network came back) starts a waiting attempt early at
/// most once per this long: a flapping network or a user switching tabs must not undo the
/// backoff.
pub(crate) const WAKE_GAP: Duration = Duration::from_secs(5);

/// The shortest idle, timeout and wake timeout a heartbeat may use (0 would probe in a loop).
pub(crate) const MIN_HEARTBEAT_STEP: Duration = Duration::from_millis(100);

/// Why the status says disconnected after [`ClientCore::close`](crate::ClientCore::close).
pub(crate) const CLOSED_BY_APPLICATION: &str = "closed by the application";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Not managed: the transport drives the socket itself (or nothing does).
    Dormant,
    /// Waiting for the next attempt.
    Waiting { until: Duration },
    /// A socket is being opened; it must say who we are by `deadline`.
    Opening { deadline: Duration },
    /// The socket said who we are.
    Live,
    /// Closed for good.
    Closed,
}

/// The lifecycle state machine. All times are the core's clock.
#[derive(Debug, Clone)]
pub(crate) struct Lifecycle {
    phase: Phase,
    status: ConnectionStatus,
    /// Lost attempts and sockets since the last proven socket (live for [`PROVEN_AFTER`]).
    attempt: u32,
    /// When the current socket said who we are.
    live_since: Duration,
    /// When the current outage started.
    outage_since: Option<Duration>,
    backoff: Backoff,
    heartbeat: Heartbeat,
    connect_timeout: Duration,
    /// The jitter generator's state (SplitMix64), seeded by the transport.
    random: u64,
    pulse: Pulse,
    actions: VecDeque<Action>,
    /// When a wake last started an attempt early (at most one per [`WAKE_GAP`]).
    woke_at: Option<Duration>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            phase: Phase::Dormant,
            status: ConnectionStatus::Connecting,
            attempt: 0,
            live_since: Duration::ZERO,
            outage_since: None,
            backoff: Backoff::default(),
            heartbeat: Heartbeat::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            random: 0,
            pulse: Pulse::default(),
            actions: VecDeque::new(),
            woke_at: None,
        }
    }
}

impl Lifecycle {
    pub fn set_backoff(&mut self, backoff: Backoff) {
        self.backoff = backoff;
    }

    pub fn set_heartbeat(&mut self, heartbeat: Heartbeat) {
        self.heartbeat = Heartbeat {
            idle: heartbeat.idle.max(MIN_HEARTBEAT_STEP),
            timeout: heartbeat.timeout.max(MIN_HEARTBEAT_STEP),
            wake_timeout: heartbeat.wake_timeout.max(MIN_HEARTBEAT_STEP),
            ..heartbeat
        };
    }

    /// Whether an identity message may be taken now: while a socket is being opened, or when
    /// the transport drives the socket itself (never started). A second identity on a live
    /// socket is not.
    pub fn takes_identity(&self) -> bool {
        matches!(self.phase, Phase::Opening { .. } | Phase::Dormant)
    }

    /// Whether a socket is live (it said who we are).
    pub fn is_live(&self) -> bool {
        self.phase == Phase::Live
    }

    pub fn heartbeat(&self) -> &Heartbeat {
        &self.heartbeat
    }

    pub fn set_connect_timeout(&mut self, timeout: Duration) {
        self.connect_timeout = timeout;
    }

    pub fn status(&self) -> &ConnectionStatus {
        &self.status
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Starts managing the connection: the first socket is asked for at once.
    pub fn start(&mut self, now: Duration, seed: u64) {
        if self.phase != Phase::Dormant {
            return;
        }
        self.random = seed;
        self.status = ConnectionStatus::Connecting;
        self.open(now);
    }

    fn open(&mut self, now: Duration) {
        self.phase = Phase::Opening {
            deadline: now.saturating_add(self.connect_timeout),
        };
        self.actions.push_back(Action::Connect);
    }

    /// Whether a frame handed in now belongs to a socket the core still counts: not once it
    /// asked for the socket to be dropped (or it was lost, or closed), until the next
    /// [`Action::Connect`]. A core never started takes every frame.
    pub fn accepts_frames(&self) -> bool {
        !matches!(self.phase, Phase::Waiting { .. } | Phase::Closed)
    }

    /// The socket said who we are. The attempt count and outage are kept until the socket has
    /// been live for [`PROVEN_AFTER`] (see [`lost`](Self::lost)).
    pub fn connected(&mut self, now: Duration, identity: Identity) {
        if !matches!(self.phase, Phase::Opening { .. }) {
            return;
        }
        self.phase = Phase::Live;
        self.live_since = now;
        self.pulse.reset(now);
        self.status = ConnectionStatus::Connected(identity);
    }

    /// The socket (or the attempt to open one) is gone: schedules the next attempt.
    pub fn lost(&mut self, now: Duration) {
        if !matches!(self.phase, Phase::Opening { .. } | Phase::Live) {
            return;
        }
        if self.phase == Phase::Live && now.saturating_sub(self.live_since) >= PROVEN_AFTER {
            // A socket that proved itself: this is a new outage.
            self.attempt = 0;
            self.outage_since = None;
        }
        self.attempt = self.attempt.saturating_add(1);
        let since = *self.outage_since.get_or_insert(now);
        let random = self.next_random();
        let delay = self
            .backoff
            .delay(self.attempt, now.saturating_sub(since), random);
        let until = now.saturating_add(delay);
        self.phase = Phase::Waiting { until };
        self.status = ConnectionStatus::Reconnecting {
            attempt: self.attempt,
            next_try_at_ms: until.as_secs_f64() * 1000.0,
        };
    }

    /// Time passed: what the heartbeat wants, if the socket is live. Attempts whose time came
    /// are asked for, attempts that took too long are ended.
    pub fn handle_timeout(&mut self, now: Duration) -> Beat {
        match self.phase {
            Phase::Waiting { until } if now >= until => self.open(now),
            Phase::Opening { deadline } if now >= deadline => {
                log::warn!(
                    "no identity within {:?}: trying again",
                    self.connect_timeout
                );
                self.actions.push_back(Action::Disconnect);
                self.lost(now);
            }
            Phase::Live => match self.pulse.check(now, &self.heartbeat) {
                Beat::Dead => {
                    log::warn!(
                        "heartbeat probe unanswered within {:?}: the socket counts as lost",
                        self.heartbeat.timeout
                    );
                    self.actions.push_back(Action::Disconnect);
                    return Beat::Dead;
                }
                beat => return beat,
            },
            _ => {}
        }
        Beat::Quiet
    }

    /// When [`handle_timeout`](Self::handle_timeout) has something to do next.
    pub fn poll_timeout(&self) -> Option<Duration> {
        match self.phase {
            Phase::Waiting { until } => Some(until),
            Phase::Opening { deadline } => Some(deadline),
            Phase::Live => Some(self.pulse.next_deadline(&self.heartbeat)),
            Phase::Dormant | Phase::Closed => None,
        }
    }

    /// Something arrived on the socket.
    pub fn heard(&mut self, now: Duration) {
        self.pulse.heard(now);
    }

    /// A probe with query id `id` was sent; `woken`: because the page became visible (answer due
    /// within [`Heartbeat::wake_timeout`]).
    pub fn probe_sent(&mut self, id: u32, now: Duration, woken: bool) {
        let timeout = if woken {
            self.heartbeat.wake_timeout
        } else {
            self.heartbeat.timeout
        };
        self.pulse.sent(id, now, timeout);
    }

    /// Whether a one-off answer is the probe's.
    pub fn probe_answered(&mut self, id: u32) -> bool {
        self.phase == Phase::Live && self.pulse.answered(id)
    }

    /// The page became visible (or the network came back): an attempt waiting for its time
    /// starts now; a live socket is probed now (`true`) unless a probe is already in flight,
    /// whose answer is then due within [`Heartbeat::wake_timeout`] too.
    pub fn wake(&mut self, now: Duration) -> bool {
        match self.phase {
            Phase::Waiting { .. } => {
                let early_again = self
                    .woke_at
                    .is_some_and(|at| now < at.saturating_add(WAKE_GAP));
                if !early_again {
                    self.woke_at = Some(now);
                    self.open(now);
                }
                false
            }
            Phase::Live if self.pulse.probing() => {
                self.pulse
                    .hurry(now.saturating_add(self.heartbeat.wake_timeout));
                false
            }
            Phase::Live => true,
            _ => false,
        }
    }

    /// Closed for good by the application.
    pub fn close(&mut self) {
        self.phase = Phase::Closed;
        self.actions.clear();
        self.status = ConnectionStatus::Disconnected(CLOSED_BY_APPLICATION.into());
    }

    /// The next jitter value in `[0, 1)` (SplitMix64 over the transport's seed).
    fn next_random(&mut self) -> f64 {
        self.random = self.random.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.random;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top 53 bits, as a fraction.
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The lifecycle through the core, with a simulated clock: no sockets, no sleeps.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::SubscriptionState;
    use crate::{ClientCore, Credentials, DEFAULT_PROBE_QUERY, Event, Heartbeat, ReducerOutcome};
    use spacetimedb_client_api_messages::websocket::{
        BsatnFormat, ClientMessage, DatabaseUpdate, IdentityToken, OneOffQueryResponse, QueryId,
        ServerMessage, SubscribeMultiApplied,
    };
    use spacetimedb_lib::{ConnectionId, TimeDuration};
    use spacetimedb_sats::bsatn;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn frame(message: ServerMessage<BsatnFormat>) -> Vec<u8> {
        let mut frame = vec![0];
        frame.extend(bsatn::to_vec(&message).expect("encodes"));
        frame
    }

    fn identity_frame() -> Vec<u8> {
        frame(ServerMessage::IdentityToken(IdentityToken {
            identity: Identity::ZERO,
            token: "minted".into(),
            connection_id: ConnectionId::ZERO,
        }))
    }

    fn one_off_answer(message_id: &[u8], error: Option<&str>) -> Vec<u8> {
        frame(ServerMessage::OneOffQueryResponse(OneOffQueryResponse {
            message_id: message_id.into(),
            error: error.map(Into::into),
            tables: Box::new([]),
            total_host_execution_duration: TimeDuration::ZERO,
        }))
    }

    fn applied_frame(query_id: u32) -> Vec<u8> {
        frame(ServerMessage::SubscribeMultiApplied(
            SubscribeMultiApplied {
                request_id: 0,
                total_host_execution_duration_micros: 0,
                query_id: QueryId { id: query_id },
                update: DatabaseUpdate { tables: vec![] },
            },
        ))
    }

    /// The query ids of the subscriptions among `messages`.
    fn subscribed(messages: &[ClientMessage<Box<[u8]>>]) -> Vec<u32> {
        messages
            .iter()
            .filter_map(|m| match m {
                ClientMessage::SubscribeMulti(s) => Some(s.query_id.id),
                _ => None,
            })
            .collect()
    }

    fn sent(core: &mut ClientCore) -> Vec<ClientMessage<Box<[u8]>>> {
        std::iter::from_fn(|| core.poll_transmit())
            .map(|bytes| bsatn::from_slice(&bytes).expect("a client message"))
            .collect()
    }

    fn events(core: &mut ClientCore) -> Vec<Event> {
        std::iter::from_fn(|| core.poll_event()).collect()
    }

    fn actions(core: &mut ClientCore) -> Vec<Action> {
        std::iter::from_fn(|| core.poll_action()).collect()
    }

    /// The probes among `messages`: their message ids.
    fn probes(messages: &[ClientMessage<Box<[u8]>>]) -> Vec<Box<[u8]>> {
        messages
            .iter()
            .filter_map(|m| match m {
                ClientMessage::OneOffQuery(q) if &*q.query_string == DEFAULT_PROBE_QUERY => {
                    Some(q.message_id.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// A started core whose first socket said who we are at `at`.
    fn live_core(at: Duration) -> ClientCore {
        let mut core = ClientCore::new(Credentials::Anonymous);
        core.handle_timeout(at);
        core.start(42);
        assert_eq!(actions(&mut core), [Action::Connect]);
        assert_eq!(core.status(), &ConnectionStatus::Connecting);
        core.handle_frame(&identity_frame());
        assert_eq!(core.status(), &ConnectionStatus::Connected(Identity::ZERO));
        events(&mut core);
        core
    }

    fn reconnecting(core: &ClientCore) -> Option<(u32, f64)> {
        match core.status() {
            ConnectionStatus::Reconnecting {
                attempt,
                next_try_at_ms,
            } => Some((*attempt, *next_try_at_ms)),
            _ => None,
        }
    }

    /// Fails every attempt from `t0` on and returns the delays the core waited before each.
    fn schedule(seed: u64, attempts: u32) -> Vec<Duration> {
        let mut core = ClientCore::new(Credentials::Token);
        core.start(seed);
        assert_eq!(actions(&mut core), [Action::Connect]);
        let mut now = Duration::ZERO;
        let mut delays = Vec::new();
        for attempt in 1..=attempts {
            core.connect_failed("refused");
            let (n, at_ms) = reconnecting(&core).expect("reconnecting");
            assert_eq!(n, attempt);
            let at = core.poll_timeout().expect("a retry is scheduled");
            assert_eq!(at.as_secs_f64() * 1000.0, at_ms);
            // Nothing before its time.
            core.handle_timeout(at.saturating_sub(ms(1)).max(now));
            assert!(actions(&mut core).is_empty(), "attempt {attempt} too early");
            core.handle_timeout(at);
            assert_eq!(actions(&mut core), [Action::Connect], "attempt {attempt}");
            delays.push(at - now);
            now = at;
        }
        delays
    }

    #[test]
    fn failed_attempts_follow_the_backoff_schedule_with_the_supplied_jitter() {
        let delays = schedule(7, 8);
        let nominal = [100, 200, 400, 800, 1600, 3200, 4000, 4000].map(ms);
        for (attempt, (delay, nominal)) in delays.iter().zip(nominal).enumerate() {
            assert!(
                *delay <= nominal && *delay >= nominal.mul_f64(0.75),
                "attempt {}: {delay:?} for {nominal:?}",
                attempt + 1
            );
        }
        // The jitter comes from the seed only: the same seed, the same schedule.
        assert_eq!(schedule(7, 8), delays);
        assert_ne!(schedule(8, 8), delays, "another seed spreads clients apart");
    }

    #[test]
    fn an_outage_longer_than_a_minute_backs_off_to_thirty_seconds_and_never_gives_up() {
        let mut core = ClientCore::new(Credentials::Token);
        core.start(1);
        let mut longest = Duration::ZERO;
        let mut now = Duration::ZERO;
        for _ in 0..200 {
            actions(&mut core);
            core.connect_failed("down");
            let at = core.poll_timeout().expect("always retries");
            longest = longest.max(at - now);
            now = at;
            core.handle_timeout(now);
        }
        assert!(
            longest <= Backoff::CAP && longest > Backoff::OUTAGE_CAP,
            "{longest:?}"
        );
        assert_eq!(actions(&mut core), [Action::Connect]);
    }

    #[test]
    fn a_proven_socket_resets_the_attempt_count() {
        let mut core = live_core(secs(0));
        core.handle_timeout(PROVEN_AFTER);
        core.connection_lost();
        assert_eq!(reconnecting(&core).map(|(n, _)| n), Some(1));
        let at = core.poll_timeout().expect("retry");
        assert!(at <= PROVEN_AFTER + ms(100), "{at:?}");
        core.handle_timeout(at);
        assert_eq!(actions(&mut core), [Action::Connect]);
        core.connect_failed("still down");
        assert_eq!(reconnecting(&core).map(|(n, _)| n), Some(2));
        core.handle_timeout(core.poll_timeout().expect("retry"));
        actions(&mut core);
        core.handle_frame(&identity_frame());
        assert_eq!(core.status(), &ConnectionStatus::Connected(Identity::ZERO));
        let live_at = core.poll_timeout().expect("heartbeat") - Heartbeat::default().idle;
        // Lost a moment before it proved itself: still the same outage.
        core.handle_timeout(live_at + PROVEN_AFTER - ms(1));
        core.connection_lost();
        assert_eq!(reconnecting(&core).map(|(n, _)| n), Some(3), "not proven");
        let live_at = core.poll_timeout().expect("retry");
        core.handle_timeout(live_at);
        actions(&mut core);
        core.handle_frame(&identity_frame());
        core.handle_timeout(live_at + PROVEN_AFTER);
        core.connection_lost();
        assert_eq!(
            reconnecting(&core).map(|(n, _)| n),
            Some(1),
            "counted afresh"
        );
    }

    /// F3: a server that says who we are and closes at once is backed off like one refusing
    /// connections, not retried every ~100 ms.
    #[test]
    fn a_server_that_closes_right_after_saying_who_we_are_is_backed_off() {
        let mut core = ClientCore::new(Credentials::Anonymous);
        core.start(1);
        let mut now = Duration::ZERO;
        let mut connects = 0;
        while now < secs(60) {
            for action in actions(&mut core) {
                if action == Action::Connect {
                    connects += 1;
                    core.handle_frame(&identity_frame());
                    core.connection_lost();
                }
            }
            now = core.poll_timeout().expect("always retries");
            core.handle_timeout(now);
        }
        // The refusing server's schedule: 100 ms doubling to 4 s, so about 20 in a minute.
        assert!(connects <= 25, "{connects} sockets in a minute");
        assert!(reconnecting(&core).is_some_and(|(n, _)| n >= 10));
    }

    /// F1: the transport tells the core the time just before handing it a frame; when that
    /// time is past the probe's due time, the socket is dropped first, and the frame (of the
    /// dropped socket) must change nothing: no subscription applied while offline.
    #[test]
    fn a_frame_of_a_socket_dropped_by_the_heartbeat_is_ignored() {
        let mut core = live_core(secs(0));
        let sub = core
            .subscribe(["SELECT * FROM gm_stats"])
            .expect("subscribes");
        let query_id = *subscribed(&sent(&mut core)).first().expect("sent");
        events(&mut core);
        core.handle_timeout(secs(10));
        assert_eq!(probes(&sent(&mut core)).len(), 1);
        // The answer to the subscription lands at 15.2 s, after the probe's due time.
        core.handle_timeout(ms(15_200));
        core.handle_frame(&applied_frame(query_id));
        core.handle_frame(&identity_frame());
        assert!(
            events(&mut core)
                .iter()
                .all(|e| matches!(e, Event::ReducerDone { .. } | Event::OneOffDone { .. }))
        );
        assert_eq!(
            core.subscription_state(sub),
            Some(SubscriptionState::Pending)
        );
        assert!(reconnecting(&core).is_some(), "{:?}", core.status());
        assert!(!core.is_online());
        assert_eq!(actions(&mut core), [Action::Disconnect]);
        // The next socket is heard, and its answer applies the subscription.
        core.handle_timeout(core.poll_timeout().expect("retry"));
        assert_eq!(actions(&mut core), [Action::Connect]);
        core.handle_frame(&identity_frame());
        let query_id = *subscribed(&sent(&mut core)).first().expect("sent again");
        core.handle_frame(&applied_frame(query_id));
        assert!(
            events(&mut core)
                .iter()
                .any(|e| matches!(e, Event::SubscriptionApplied(id) if *id == sub))
        );
        assert_eq!(
            core.subscription_state(sub),
            Some(SubscriptionState::Applied)
        );
    }

    /// F2: the identity of a socket given up for its connect timeout, handed in just after the
    /// core gave it up, does not make the core live: the retry stays scheduled.
    #[test]
    fn an_identity_just_after_the_connect_timeout_is_ignored() {
        let mut core = ClientCore::new(Credentials::Anonymous);
        core.start(1);
        assert_eq!(actions(&mut core), [Action::Connect]);
        core.handle_timeout(DEFAULT_CONNECT_TIMEOUT + ms(50));
        core.handle_frame(&identity_frame());
        assert_eq!(actions(&mut core), [Action::Disconnect]);
        assert_eq!(reconnecting(&core).map(|(n, _)| n), Some(1));
        assert!(!core.is_online());
        assert!(events(&mut core).is_empty(), "no Connected event");
        let retry = core.poll_timeout().expect("the retry is still scheduled");
        core.handle_timeout(retry);
        assert_eq!(actions(&mut core), [Action::Connect]);
        core.handle_frame(&identity_frame());
        assert_eq!(core.status(), &ConnectionStatus::Connected(Identity::ZERO));
    }

    /// A socket closed by the application hears nothing more either.
    #[test]
    fn a_frame_after_close_is_ignored() {
        let mut core = live_core(secs(0));
        core.close();
        core.handle_frame(&identity_frame());
        assert!(events(&mut core).is_empty());
        assert!(!core.is_online());
        assert!(matches!(core.status(), ConnectionStatus::Disconnected(_)));
    }

    /// F9: a socket that died while the tab was hidden is replaced within 2 s of the page
    /// becoming visible.
    #[test]
    fn a_dead_socket_is_replaced_within_two_seconds_of_becoming_visible() {
        let visible_at = secs(5);
        let mut core = live_core(secs(0));
        core.handle_timeout(visible_at);
        core.page_visible();
        assert_eq!(probes(&sent(&mut core)).len(), 1);
        let mut connect_at = None;
        while connect_at.is_none() {
            let now = core.poll_timeout().expect("a deadline");
            core.handle_timeout(now);
            if actions(&mut core).contains(&Action::Connect) {
                connect_at = Some(now);
            }
        }
        let took = connect_at.expect("reconnected") - visible_at;
        assert!(
            took <= secs(2),
            "new socket asked for {took:?} after visible"
        );

        // A probe already in flight when the page becomes visible is hurried too.
        let mut core = live_core(secs(0));
        core.handle_timeout(secs(10));
        assert_eq!(probes(&sent(&mut core)).len(), 1, "due at 14 s");
        core.handle_timeout(secs(11));
        core.page_visible();
        assert!(sent(&mut core).is_empty(), "one probe at a time");
        assert_eq!(core.poll_timeout(), Some(ms(12_500)));
        core.handle_timeout(ms(12_500));
        assert_eq!(actions(&mut core), [Action::Disconnect]);
    }

    #[test]
    fn a_silent_socket_is_probed_once_per_idle_period() {
        let mut core = live_core(secs(100));
        assert_eq!(core.poll_timeout(), Some(secs(110)));
        core.handle_timeout(secs(110) - ms(1));
        assert!(sent(&mut core).is_empty());
        core.handle_timeout(secs(110));
        let first = sent(&mut core);
        assert_eq!(first.len(), 1);
        assert_eq!(probes(&first).len(), 1);
        // One probe in flight at a time.
        core.handle_timeout(secs(113));
        assert!(sent(&mut core).is_empty());
        assert!(actions(&mut core).is_empty());
    }

    #[test]
    fn traffic_postpones_the_probe() {
        let mut core = live_core(secs(0));
        core.handle_timeout(secs(8));
        core.handle_frame(&one_off_answer(&[9, 9, 9, 9], None));
        core.handle_timeout(secs(17));
        assert!(sent(&mut core).is_empty(), "heard from 9 s ago only");
        core.handle_timeout(secs(18));
        assert_eq!(probes(&sent(&mut core)).len(), 1);
    }

    #[test]
    fn an_answered_probe_keeps_the_socket_live_without_events() {
        let mut core = live_core(secs(0));
        core.handle_timeout(secs(10));
        let probe = probes(&sent(&mut core)).pop().expect("a probe");
        core.handle_timeout(secs(12));
        core.handle_frame(&one_off_answer(&probe, None));
        assert!(events(&mut core).is_empty(), "a probe is not an event");
        assert_eq!(core.status(), &ConnectionStatus::Connected(Identity::ZERO));
        core.handle_timeout(secs(21));
        assert!(actions(&mut core).is_empty());
        assert!(
            sent(&mut core).is_empty(),
            "next probe 10 s after the answer"
        );
        core.handle_timeout(secs(22));
        let probe = probes(&sent(&mut core)).pop().expect("the next probe");
        // A server refusing the probe's query has still answered.
        core.handle_frame(&one_off_answer(&probe, Some("no such table")));
        assert!(events(&mut core).is_empty());
        core.handle_timeout(secs(40));
        assert!(actions(&mut core).is_empty());
        assert_eq!(core.status(), &ConnectionStatus::Connected(Identity::ZERO));
    }

    #[test]
    fn an_unanswered_probe_loses_the_socket_and_a_new_one_is_asked_for() {
        let mut core = live_core(secs(0));
        let call = core.call_reducer("report", &(1u32,)).expect("encodes");
        core.handle_timeout(secs(10));
        let probe = probes(&sent(&mut core)).pop().expect("a probe");
        core.handle_timeout(secs(14) - ms(1));
        assert!(actions(&mut core).is_empty());
        core.handle_timeout(secs(14));
        assert_eq!(actions(&mut core), [Action::Disconnect]);
        let (attempt, _) = reconnecting(&core).expect("reconnecting");
        assert_eq!(attempt, 1);
        assert!(!core.is_online());
        assert!(events(&mut core).iter().any(|e| matches!(
            e,
            Event::ReducerDone { request_id, outcome: ReducerOutcome::ConnectionLost, .. }
                if *request_id == call
        )));
        let retry = core.poll_timeout().expect("a retry");
        assert!(retry <= secs(14) + ms(100), "{retry:?}");
        core.handle_timeout(retry);
        assert_eq!(actions(&mut core), [Action::Connect]);
        // A late answer from the old socket is nobody's: no event, no harm.
        core.handle_frame(&one_off_answer(&probe, None));
        assert!(events(&mut core).is_empty());
        core.handle_frame(&identity_frame());
        assert_eq!(core.status(), &ConnectionStatus::Connected(Identity::ZERO));
    }

    #[test]
    fn a_dead_link_is_noticed_within_fifteen_seconds_whenever_it_dies() {
        for died_after_ms in (0..30_000).step_by(700) {
            let mut core = live_core(secs(0));
            let died = ms(died_after_ms);
            let mut now;
            loop {
                now = core
                    .poll_timeout()
                    .expect("the heartbeat always has a deadline");
                core.handle_timeout(now);
                for probe in probes(&sent(&mut core)) {
                    if now < died {
                        core.handle_frame(&one_off_answer(&probe, None));
                    }
                }
                if actions(&mut core).contains(&Action::Disconnect) {
                    break;
                }
            }
            assert!(
                now - died <= secs(14),
                "died at {died:?}, noticed at {now:?}"
            );
        }
    }

    #[test]
    fn a_visible_page_probes_at_once_and_retries_at_once() {
        let mut core = live_core(secs(0));
        core.handle_timeout(secs(2));
        core.page_visible();
        assert_eq!(probes(&sent(&mut core)).len(), 1, "probed at once");
        core.page_visible();
        assert!(sent(&mut core).is_empty(), "not while one is in flight");
        core.handle_timeout(ms(3_500));
        assert_eq!(actions(&mut core), [Action::Disconnect], "due 1.5 s after");
        // Waiting for a retry: becoming visible tries now.
        for _ in 0..6 {
            core.handle_timeout(core.poll_timeout().expect("retry"));
            assert_eq!(actions(&mut core), [Action::Connect]);
            core.connect_failed("down");
        }
        let scheduled = core.poll_timeout().expect("retry");
        assert!(scheduled > secs(8));
        core.page_visible();
        assert_eq!(actions(&mut core), [Action::Connect]);
    }

    #[test]
    fn a_socket_that_never_says_who_we_are_is_given_up_after_the_connect_timeout() {
        let mut core = ClientCore::new(Credentials::Anonymous);
        core.set_connect_timeout(secs(3));
        core.start(5);
        assert_eq!(actions(&mut core), [Action::Connect]);
        core.handle_timeout(secs(3));
        assert_eq!(actions(&mut core), [Action::Disconnect]);
        assert_eq!(reconnecting(&core).map(|(n, _)| n), Some(1));
    }

    #[test]
    fn only_spacetimedbs_own_refusal_forgets_the_token() {
        let mut core = ClientCore::new(Credentials::Token);
        core.start(3);
        actions(&mut core);
        for (status, body) in [
            (403, "<html>Forbidden</html>"),
            (403, "TokenError(Error(InvalidSignature))"),
            (401, "Authorization required"),
            (503, ""),
        ] {
            assert!(!core.token_refused(status, body), "{status} {body}");
            assert!(reconnecting(&core).is_some(), "{status}: retried later");
            core.handle_timeout(core.poll_timeout().expect("retry"));
            assert_eq!(actions(&mut core), [Action::Connect]);
        }
        // The identity that then comes is not a new one: no token to keep.
        let mut kept = core.blank();
        kept.handle_frame(&identity_frame());
        assert!(matches!(
            events(&mut kept).first(),
            Some(Event::Connected {
                new_token: None,
                ..
            })
        ));

        let attempt_deadline = core.poll_timeout();
        assert!(core.token_refused(401, "TokenError(Error(InvalidSignature))"));
        assert_eq!(
            core.poll_timeout(),
            attempt_deadline,
            "the same attempt goes on anonymously, no retry scheduled"
        );
        assert!(actions(&mut core).is_empty());
        core.handle_frame(&identity_frame());
        assert!(matches!(
            events(&mut core).first(),
            Some(Event::Connected { new_token: Some(token), .. }) if token == "minted"
        ));
    }

    #[test]
    fn close_ends_everything_for_good() {
        let mut core = live_core(secs(0));
        core.close();
        assert!(matches!(core.status(), ConnectionStatus::Disconnected(_)));
        assert_eq!(core.poll_timeout(), None);
        core.handle_timeout(secs(1000));
        core.page_visible();
        core.connection_lost();
        assert!(actions(&mut core).is_empty());
        assert!(sent(&mut core).is_empty());
        assert!(matches!(core.status(), ConnectionStatus::Disconnected(_)));
    }

    #[test]
    fn a_core_never_started_asks_for_nothing_and_never_probes() {
        let mut core = ClientCore::new(Credentials::Anonymous);
        core.handle_frame(&identity_frame());
        core.handle_timeout(secs(3600));
        core.connection_lost();
        assert!(actions(&mut core).is_empty());
        assert!(sent(&mut core).is_empty());
        assert_eq!(core.poll_timeout(), None);
    }

    #[test]
    fn hostile_one_off_answers_are_not_taken_for_the_probe() {
        let mut core = live_core(secs(0));
        core.set_heartbeat(Heartbeat {
            query: "SELECT 1".into(),
            ..Heartbeat::default()
        });
        core.handle_timeout(secs(10));
        let sent = sent(&mut core);
        let probe = match sent.as_slice() {
            [ClientMessage::OneOffQuery(q)] if &*q.query_string == "SELECT 1" => {
                q.message_id.clone()
            }
            other => panic!("{} frames, not the probe", other.len()),
        };
        let mut longer = probe.to_vec();
        longer.push(0);
        for id in [&[][..], &probe[..3], &longer[..], &[0xff; 4][..]] {
            core.handle_frame(&one_off_answer(id, None));
        }
        core.handle_timeout(secs(15));
        assert_eq!(actions(&mut core), [Action::Disconnect]);
        assert!(
            !events(&mut core)
                .iter()
                .any(|e| matches!(e, Event::OneOffDone { .. })),
            "answers to no query are dropped"
        );
    }

    #[test]
    fn a_second_identity_on_a_live_socket_is_ignored() {
        let mut core = live_core(secs(0));
        let before = core.identity();
        core.handle_frame(&frame(ServerMessage::IdentityToken(IdentityToken {
            identity: Identity::from_byte_array([9; 32]),
            token: "other".into(),
            connection_id: ConnectionId::ZERO,
        })));
        assert!(events(&mut core).is_empty(), "no second Connected");
        assert_eq!(core.identity(), before);
        assert_eq!(core.status(), &ConnectionStatus::Connected(Identity::ZERO));
    }

    #[test]
    fn a_failure_reported_for_a_live_socket_changes_nothing() {
        let mut core = live_core(secs(0));
        core.connect_failed("late");
        assert!(!core.token_refused(403, "proxy"));
        assert_eq!(core.status(), &ConnectionStatus::Connected(Identity::ZERO));
        assert!(core.is_online());
        assert!(actions(&mut core).is_empty());
    }

    #[test]
    fn waking_starts_an_early_attempt_at_most_once_per_gap() {
        // Attempts in a minute of failures, with the page woken every 500 ms or never.
        let connects = |wake: bool| {
            let mut core = live_core(secs(0));
            // Lose the socket (probe at 10 s, unanswered at 14 s), then fail every attempt.
            core.handle_timeout(secs(10));
            core.handle_timeout(secs(14));
            assert_eq!(actions(&mut core), [Action::Disconnect]);
            let mut connects = 0;
            let mut now = secs(14);
            while now < secs(74) {
                now += ms(500);
                core.handle_timeout(now);
                if wake {
                    core.page_visible();
                }
                for action in actions(&mut core) {
                    if action == Action::Connect {
                        connects += 1;
                        core.connect_failed("down");
                    }
                }
            }
            connects
        };
        let (woken, backoff_only) = (connects(true), connects(false));
        // At most one early attempt per 5 s on top of the backoff's own (120 without the gap).
        assert!(
            woken <= backoff_only + 12,
            "{woken} connects woken, {backoff_only} without"
        );
    }

    #[test]
    fn a_zero_heartbeat_does_not_spin_and_far_times_do_not_overflow() {
        let mut core = live_core(secs(0));
        core.set_heartbeat(Heartbeat {
            idle: Duration::ZERO,
            timeout: Duration::ZERO,
            wake_timeout: Duration::ZERO,
            query: crate::DEFAULT_PROBE_QUERY.to_owned(),
        });
        let mut probes_sent = 0;
        for _ in 0..1000 {
            core.handle_timeout(secs(1));
            probes_sent += probes(&sent(&mut core)).len();
        }
        assert!(probes_sent <= 1, "{probes_sent} probes at one instant");
        let mut core = live_core(secs(0));
        core.set_request_timeout(Duration::MAX);
        core.handle_timeout(Duration::MAX - secs(1));
        let _ = core.call_reducer("report", &(1u32,));
        let _ = core.one_off_query("SELECT * FROM t");
    }
}
