//! The GM table kept live in memory through a native runtime connection.

use onepulse_domain::{Address, Chain};
use onepulse_gm_stats::{AddressChain, GmStatsRow, TABLE};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use stdb_client::native::NativeConnection;
use stdb_client::{ConnectOptions, ConnectionStatus, Event, SubscriptionId};
use tokio::sync::{mpsc, watch};

/// What the service knows about one address.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// No data has ever arrived (the database was never reachable).
    NoData,
    /// The address's rows (none if it never said GM); `stale_for` is set while the database is
    /// away: how long the data has not been live.
    Rows {
        /// One row per chain with a GM.
        rows: Vec<Arc<GmStatsRow>>,
        /// How long since the data was last live.
        stale_for: Option<Duration>,
    },
}

#[derive(Default)]
struct State {
    connection: Option<NativeConnection>,
    /// When the data stopped being live (`None` while live).
    down_since: Option<Instant>,
}

/// The live table, shared by every request.
#[derive(Clone)]
pub struct LiveStats {
    state: Arc<RwLock<State>>,
}

impl LiveStats {
    /// Connects in the background (retrying until the database is reachable), subscribes to the
    /// whole table, and follows the connection: the data counts as live only while the
    /// connection is and the subscription is applied on it (so not while it resyncs after a
    /// reconnect); a subscription the server refuses or drops is made again after a jittered
    /// delay, the rows meanwhile served as stale.
    pub fn start(options: ConnectOptions) -> Self {
        let stats = Self {
            state: Arc::new(RwLock::new(State::default())),
        };
        let state = Arc::clone(&stats.state);
        tokio::spawn(async move {
            let register = |core: &mut stdb_client::ClientCore| core.register_table::<GmStatsRow>();
            let (connection, mut events) =
                NativeConnection::connect_retrying(&options, register).await;
            let mut status = connection.status_changes();
            let mut freshness = Freshness::default();
            loop {
                // Made while the socket is away, a subscription is sent when it is back.
                let subscribed = connection
                    .subscribe([format!("SELECT * FROM {TABLE}")])
                    .await;
                match subscribed {
                    Ok(id) => {
                        log::info!("live: subscribed to {TABLE}");
                        freshness.subscribed(id);
                        follow(
                            &state,
                            &connection,
                            &mut freshness,
                            &mut status,
                            &mut events,
                        )
                        .await;
                        if events.is_closed() {
                            break;
                        }
                    }
                    Err(e) => log::warn!("subscribing to {TABLE} failed: {e}"),
                }
                if connection.is_closed() {
                    break;
                }
                let delay = jittered(RESUBSCRIBE_AFTER);
                log::warn!("subscribing to {TABLE} again in {delay:?}");
                tokio::time::sleep(delay).await;
            }
        });
        stats
    }

    /// The rows of `address` (on `chain` only, if given).
    pub fn lookup(&self, address: &Address, chain: Option<Chain>) -> Lookup {
        let state = read(&self.state);
        let Some(connection) = &state.connection else {
            return Lookup::NoData;
        };
        let chains: Vec<Chain> = match chain {
            Some(chain) => vec![chain],
            None => Chain::ALL.to_vec(),
        };
        let rows = connection
            .with_table::<GmStatsRow, _>(|table| {
                chains
                    .iter()
                    .filter_map(|&c| table.get(&AddressChain::new(address, c)))
                    .collect()
            })
            .unwrap_or_default();
        Lookup::Rows {
            rows,
            stale_for: state.down_since.map(|since| since.elapsed()),
        }
    }

    /// Whether the data is live, and how many rows are held.
    pub fn health(&self) -> (bool, usize) {
        let state = read(&self.state);
        match &state.connection {
            None => (false, 0),
            Some(connection) => (
                state.down_since.is_none(),
                connection
                    .with_table::<GmStatsRow, _>(|t| t.len())
                    .unwrap_or_default(),
            ),
        }
    }
}

/// About how long to wait before subscribing again after the server refused or dropped the
/// subscription (e.g. the module is being published): between half and all of it, at random.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(5);

/// Follows the connection's events and status, keeping `state.down_since` up to date, until the
/// subscription fails (or the connection ends). The connection is served from once the events
/// that came before are taken into account.
async fn follow(
    state: &RwLock<State>,
    connection: &NativeConnection,
    freshness: &mut Freshness,
    status: &mut watch::Receiver<ConnectionStatus>,
    events: &mut mpsc::UnboundedReceiver<Event>,
) {
    loop {
        // The events already there first (those that came while subscribing, in order).
        while let Ok(event) = events.try_recv() {
            freshness.event(&event);
        }
        freshness.status(&status.borrow_and_update());
        mark(state, freshness.is_fresh());
        write(state)
            .connection
            .get_or_insert_with(|| connection.clone());
        if freshness.failed() {
            return;
        }
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => freshness.event(&event),
                None => return,
            },
            changed = status.changed() => if changed.is_err() {
                return;
            },
        }
    }
}

/// Records whether the data is live now.
fn mark(state: &RwLock<State>, fresh: bool) {
    let mut state = write(state);
    match (fresh, state.down_since) {
        (true, _) => state.down_since = None,
        (false, None) => state.down_since = Some(Instant::now()),
        (false, Some(_)) => {}
    }
}

/// Whether the rows are live: the connection is, and the subscription applied on its current
/// socket. Fed the connection's status and events in order.
#[derive(Debug, Default)]
struct Freshness {
    /// The subscription being followed.
    ours: Option<SubscriptionId>,
    /// The status says connected.
    connected: bool,
    /// The subscription applied on the current socket.
    applied: bool,
    /// The server refused or dropped the subscription: it must be made again.
    failed: bool,
}

impl Freshness {
    /// A new subscription `id` was made; its applied event is still to come in the event order.
    fn subscribed(&mut self, id: SubscriptionId) {
        self.ours = Some(id);
        self.applied = false;
        self.failed = false;
    }

    fn status(&mut self, status: &ConnectionStatus) {
        self.connected = matches!(status, ConnectionStatus::Connected(_));
        if !self.connected {
            self.applied = false;
        }
    }

    fn event(&mut self, event: &Event) {
        match event {
            // A new socket: the subscription is being sent again, the rows resynced.
            Event::Connected { .. } => self.applied = false,
            Event::SubscriptionApplied(id) if Some(*id) == self.ours => self.applied = true,
            Event::SubscriptionFailed { id, error } if Some(*id) == self.ours => {
                log::warn!("the subscription to {TABLE} failed: {error}");
                self.applied = false;
                self.failed = true;
            }
            _ => {}
        }
    }

    fn is_fresh(&self) -> bool {
        self.connected && self.applied && !self.failed
    }

    fn failed(&self) -> bool {
        self.failed
    }
}

/// Between half and all of `delay`, at random (so many services do not come back at once).
fn jittered(delay: Duration) -> Duration {
    let random = RandomState::new().hash_one(Instant::now());
    delay.mul_f64(0.5 + (random >> 11) as f64 / (1u64 << 54) as f64)
}

fn read(state: &RwLock<State>) -> std::sync::RwLockReadGuard<'_, State> {
    state.read().unwrap_or_else(|e| e.into_inner())
}

fn write(state: &RwLock<State>) -> std::sync::RwLockWriteGuard<'_, State> {
    state.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use stdb_client::{ConnectionId, Identity};

    fn connected() -> ConnectionStatus {
        ConnectionStatus::Connected(Identity::ZERO)
    }

    fn reconnecting() -> ConnectionStatus {
        ConnectionStatus::Reconnecting {
            attempt: 1,
            next_try_at_ms: 0.0,
        }
    }

    fn new_socket() -> Event {
        Event::Connected {
            identity: Identity::ZERO,
            connection_id: ConnectionId::ZERO,
            new_token: None,
        }
    }

    /// A follower of subscription `ours`, applied on a live connection.
    fn fresh(ours: SubscriptionId) -> Freshness {
        let mut f = Freshness::default();
        f.status(&connected());
        f.subscribed(ours);
        assert!(!f.is_fresh(), "not before it applied");
        f.event(&Event::SubscriptionApplied(ours));
        assert!(f.is_fresh());
        f
    }

    fn ids() -> (SubscriptionId, SubscriptionId) {
        let mut core = stdb_client::ClientCore::new(stdb_client::Credentials::Anonymous);
        let a = core.subscribe(["SELECT * FROM a"]).expect("subscribes");
        let b = core.subscribe(["SELECT * FROM b"]).expect("subscribes");
        (a, b)
    }

    #[test]
    fn a_reconnect_is_stale_until_the_subscription_applies_again() {
        let (ours, _) = ids();
        let mut f = fresh(ours);
        f.status(&reconnecting());
        assert!(!f.is_fresh());
        // The new socket says who we are: connected, but the rows are still being resynced.
        f.event(&new_socket());
        f.status(&connected());
        assert!(!f.is_fresh(), "resyncing rows are not fresh");
        f.event(&Event::SubscriptionApplied(ours));
        assert!(f.is_fresh());
    }

    #[test]
    fn a_reconnect_missed_by_the_status_is_seen_in_the_events() {
        let (ours, _) = ids();
        let mut f = fresh(ours);
        // The status went Reconnecting and back to Connected between two looks.
        f.event(&new_socket());
        f.status(&connected());
        assert!(!f.is_fresh());
    }

    #[test]
    fn a_failed_subscription_is_stale_and_asks_to_subscribe_again() {
        let (ours, other) = ids();
        let mut f = fresh(ours);
        f.event(&Event::SubscriptionFailed {
            id: other,
            error: "not ours".into(),
        });
        assert!(
            f.is_fresh() && !f.failed(),
            "another subscription's failure"
        );
        f.event(&Event::SubscriptionApplied(other));
        f.event(&Event::SubscriptionFailed {
            id: ours,
            error: "module republished".into(),
        });
        assert!(!f.is_fresh());
        assert!(f.failed());
        // The next subscription is fresh once it applied.
        f.subscribed(other);
        assert!(!f.failed() && !f.is_fresh());
        f.event(&Event::SubscriptionApplied(other));
        assert!(f.is_fresh());
    }

    #[test]
    fn the_jitter_stays_within_half_and_all_of_the_delay() {
        for _ in 0..1000 {
            let d = jittered(RESUBSCRIBE_AFTER);
            assert!(
                d >= RESUBSCRIBE_AFTER / 2 && d <= RESUBSCRIBE_AFTER,
                "{d:?}"
            );
        }
    }
}
