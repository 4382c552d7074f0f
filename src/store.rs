//! The GM stats store: one address, its stats per chain, where they come from, and whether they
//! are ready — a [`PageState`] behind read-only signals, kept up to date from the tab's runtime
//! connection and the fallback service.
//!
//! - One subscription per address, however many components read the store. Changing the address
//!   ends the old subscription, clears the old numbers at once and starts the new one; rows and
//!   answers are only ever taken for the current address, so a late reply for the old one cannot
//!   appear under the new one.
//! - `is_ready` is true only once live data (or fallback data) for *this* address is shown.
//! - If live data is not shown `fallback_delay` after the address is set, the fallback service
//!   is asked, then again every `fallback_refresh` while live data is not shown; live data
//!   replaces it as soon as it arrives, and fetching stops. Fallback failures are shown and
//!   never replace data.
//! - A subscription that fails (at once, or after being live) is made again on the runtime's
//!   reconnect schedule ([`Backoff`]); meanwhile the fallback service is asked (at once when
//!   live data was on screen).
//! - A connection that is lost (the runtime says it is reconnecting) ends live data the same
//!   way; the runtime subscribes again itself once it is back, and live data returns.
//! - Live data that stops stays on screen as the last known numbers, marked with their age.
//!   The last live numbers of the few addresses shown most recently are kept in
//!   `localStorage` ([`Snapshots`]) and shown at once when such an address is set again,
//!   until live or fallback data arrives: never as live, never as ready.
//!
//! Components read the store's signals; only its methods change it, so nothing can show an
//! address without what [`GmStore::set_address`] does.

use crate::farcaster::FarcasterUser;
use crate::local_storage;
use crate::model::{ChainStreaks, DataSource, read_fallback_answer, streaks_from_rows};
use crate::page_state::{AddressChange, PageState};
use crate::snapshots::{Snapshot, Snapshots};
use leptos::prelude::*;
use onepulse_domain::{Address, Chain};
use onepulse_gm_stats::{
    AddressChain, BIND_WALLET, GmStatsRow, REVOKE_WALLET_LINKS, SET_PROFILE, stats_query,
};
use std::sync::Arc;
use std::time::Duration;
use stdb_client::browser::{BrowserConnection, BrowserOptions};
use stdb_client::{
    Backoff, Change, ConnectionStatus, Event, Identity, ReducerOutcome, Serialize, SubscriptionId,
};

/// How the store reaches its data.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The database.
    pub connect: BrowserOptions,
    /// Base URL of the fallback service (empty: this page's origin).
    pub api: String,
    /// How long live data may take before the fallback service is asked.
    pub fallback_delay: Duration,
    /// How often the fallback service is asked again while live data is missing.
    pub fallback_refresh: Duration,
    /// When a failed subscription is made again.
    pub resubscribe: Backoff,
}

impl StoreConfig {
    /// The default delays (2 s, and the runtime's reconnect schedule) for a database and
    /// fallback service.
    pub fn new(connect: BrowserOptions, api: &str) -> Self {
        Self {
            connect,
            api: api.trim_end_matches('/').to_owned(),
            fallback_delay: Duration::from_secs(2),
            fallback_refresh: Duration::from_secs(2),
            resubscribe: Backoff::default(),
        }
    }
}

/// Where the last live numbers are kept between visits (the one place that reads and writes
/// them).
const SNAPSHOTS_KEY: &str = "onepulse.snapshots";

/// Failed subscriptions of the current address in a row, and since when (ms since the epoch).
#[derive(Debug, Clone, Copy, Default)]
struct Outage {
    attempts: u32,
    since_ms: Option<f64>,
}

/// The store. `Copy`: every field is a signal or a stored value. The public fields are
/// read-only views of the private [`PageState`].
#[derive(Clone, Copy)]
pub struct GmStore {
    /// The address shown (`None` until a valid one is set).
    pub address: Memo<Option<Address>>,
    /// Why the last address input was refused.
    pub address_error: Memo<Option<String>>,
    /// Stats per chain for `address` (chains without a GM are absent; empty until ready).
    pub streaks: Memo<ChainStreaks>,
    /// Where `streaks` come from.
    pub source: Memo<DataSource>,
    /// Whether `streaks` are this address's data (live, or from the fallback service).
    pub is_ready: Memo<bool>,
    /// Whether numbers are on screen: this address's data, or its last known numbers.
    pub shows_numbers: Memo<bool>,
    /// When the numbers on screen were last live (Unix milliseconds), while they are cached
    /// ones rather than current data.
    pub cached_as_of: Memo<Option<i64>>,
    /// The connection's state.
    pub status: ReadSignal<ConnectionStatus>,
    /// Why live data is unavailable for this address (the subscription failed).
    pub live_error: Memo<Option<String>>,
    /// The last fallback failure, while the fallback is in use.
    pub fallback_error: Memo<Option<String>>,
    state: RwSignal<PageState>,
    connection: StoredValue<BrowserConnection, LocalStorage>,
    config: StoredValue<StoreConfig>,
    subscription: StoredValue<Option<SubscriptionId>>,
    /// Bumped on every address change: work started for an older address checks it and stops.
    generation: StoredValue<u64>,
    /// The fallback polling that runs, if any, as (generation, task number): at most one at a
    /// time; a newer task makes an older one stop.
    polling: StoredValue<Option<(u64, u64)>>,
    outage: StoredValue<Outage>,
}

impl GmStore {
    /// A store over the tab's connection to `config.connect`.
    pub fn new(config: StoreConfig) -> Result<Self, String> {
        let connection = BrowserConnection::shared(config.connect.clone(), |core| {
            core.register_table::<GmStatsRow>()
        })
        .map_err(|e| e.to_string())?;
        let state = RwSignal::new(PageState::default());
        let (status, set_status) = signal(connection.status());
        let store = Self {
            address: Memo::new(move |_| state.with(|s| s.address().cloned())),
            address_error: Memo::new(move |_| state.with(|s| s.address_error().map(str::to_owned))),
            streaks: Memo::new(move |_| state.with(|s| s.streaks().clone())),
            source: Memo::new(move |_| state.with(PageState::source)),
            is_ready: Memo::new(move |_| state.with(PageState::is_ready)),
            shows_numbers: Memo::new(move |_| state.with(PageState::shows_numbers)),
            cached_as_of: Memo::new(move |_| state.with(PageState::cached_as_of)),
            status,
            live_error: Memo::new(move |_| state.with(|s| s.live_error().map(str::to_owned))),
            fallback_error: Memo::new(move |_| {
                state.with(|s| s.fallback_error().map(str::to_owned))
            }),
            state,
            connection: StoredValue::new_local(connection.clone()),
            config: StoredValue::new(config),
            subscription: StoredValue::new(None),
            generation: StoredValue::new(0),
            polling: StoredValue::new(None),
            outage: StoredValue::new(Outage::default()),
        };
        connection.on_status(move |status| {
            set_status.set(status.clone());
            store.on_status(status);
        });
        connection.on_event(move |event| store.on_event(event));
        // Leaving the page (or hiding it, which may be the last chance on a phone): keep the
        // live numbers' time up to date.
        for event in ["pagehide", "visibilitychange"] {
            let handle = window_event_listener_untyped(event, move |_| store.remember_live());
            on_cleanup(move || handle.remove());
        }
        Ok(store)
    }

    /// Shows `input`'s stats: validates it, ends the old subscription, clears the old numbers
    /// and starts the new subscription (and the fallback timer). Invalid input shows a message
    /// and subscribes to nothing. The same address again changes nothing.
    pub fn set_address(&self, input: &str) {
        let change = self
            .state
            .try_maybe_update(|state| {
                let change = state.set_address(input);
                (change != AddressChange::Unchanged, change)
            })
            .unwrap_or(AddressChange::Unchanged);
        if change == AddressChange::Unchanged {
            return;
        }
        let generation = self.generation.get_value() + 1;
        self.generation.set_value(generation);
        self.outage.set_value(Outage::default());
        self.end_subscription();
        if let AddressChange::Load(address) = change {
            self.show_snapshot(&address);
            self.poll_fallback(
                generation,
                address.clone(),
                self.config.get_value().fallback_delay,
            );
            self.subscribe(generation, address);
        }
    }

    /// Sets `wallet`'s Farcaster profile to `user`'s fid and names (reducer `set_profile`;
    /// allowed for the wallet's bound identity, so after [`bind_wallet`](Self::bind_wallet)).
    /// GMs themselves come from the chain: the app never reports one.
    pub async fn set_profile(&self, wallet: &Address, user: &FarcasterUser) -> Result<(), String> {
        let args = (
            wallet.as_str().to_owned(),
            Some(user.fid),
            user.display_name.clone(),
            user.username.clone(),
        );
        self.call(SET_PROFILE, &args).await
    }

    /// Links the wallet that signed `message` (a Sign-In with Ethereum link message naming
    /// this connection's identity, [`onepulse_domain::SiweMessage::link`]) to this identity;
    /// `signature` is the wallet's `personal_sign` of it (reducer `bind_wallet`).
    pub async fn bind_wallet(&self, message: String, signature: String) -> Result<(), String> {
        self.call(BIND_WALLET, &(message, signature)).await
    }

    /// Ends every link of the wallet that signed `message` (a Sign-In with Ethereum revocation,
    /// [`onepulse_domain::SiweMessage::revoke_all`]) with `signature`, its `personal_sign`
    /// (reducer `revoke_wallet_links`).
    pub async fn revoke_wallet_links(
        &self,
        message: String,
        signature: String,
    ) -> Result<(), String> {
        self.call(REVOKE_WALLET_LINKS, &(message, signature)).await
    }

    /// The identity of the tab's connection, once connected.
    pub fn identity(&self) -> Option<Identity> {
        self.connection.get_value().identity()
    }

    /// The server URL and database name the store connects to (its configuration, not
    /// anything the server said): what a wallet-link message must name.
    pub fn database(&self) -> (String, String) {
        let config = self.config.get_value();
        (config.connect.connect.uri, config.connect.connect.database)
    }

    async fn call<A: Serialize>(&self, reducer: &str, args: &A) -> Result<(), String> {
        let connection = self.connection.get_value();
        match connection.call_reducer(reducer, args).await {
            Ok(ReducerOutcome::Committed) => Ok(()),
            Ok(ReducerOutcome::Failed(message)) => Err(message),
            Ok(ReducerOutcome::OutOfEnergy) => Err("the database is out of energy".into()),
            Ok(ReducerOutcome::ConnectionLost) => {
                Err("not connected: try again when the pill says Live".into())
            }
            Ok(ReducerOutcome::TimedOut) => {
                Err("no answer from the database in time: it may or may not have been saved".into())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// The current address, read without tracking.
    fn current_address(&self) -> Option<Address> {
        self.state.with_untracked(|s| s.address().cloned())
    }

    /// Subscribes to `address`'s rows (for the address of `generation`).
    fn subscribe(&self, generation: u64, address: Address) {
        match self
            .connection
            .get_value()
            .subscribe([stats_query(&address)])
        {
            Ok(id) => self.subscription.set_value(Some(id)),
            Err(e) => self.live_failed(generation, address, &e.to_string()),
        }
    }

    fn end_subscription(&self) {
        if let Some(id) = self.subscription.get_value() {
            self.subscription.set_value(None);
            if let Err(e) = self.connection.get_value().unsubscribe(id) {
                log::debug!("unsubscribe: {e}");
            }
        }
    }

    fn on_event(&self, event: &Event) {
        let current = self.subscription.get_value();
        let Some(address) = self.current_address() else {
            return;
        };
        match event {
            Event::SubscriptionApplied(id) if Some(*id) == current => {
                self.outage.set_value(Outage::default());
                let rows = self.live_rows(&address);
                self.state
                    .maybe_update(|s| s.subscription_applied(&address, rows));
                self.remember_live();
            }
            Event::SubscriptionFailed { id, error } if Some(*id) == current => {
                self.subscription.set_value(None);
                self.live_failed(self.generation.get_value(), address, error);
            }
            Event::RowsChanged(changes)
                if self.state.with_untracked(PageState::is_live)
                    && changes
                        .of::<GmStatsRow>()
                        .iter()
                        .any(|c| touches(c, &address)) =>
            {
                let rows = self.live_rows(&address);
                self.state
                    .maybe_update(|s| s.live_rows_changed(&address, rows));
                self.remember_live();
            }
            _ => {}
        }
    }

    /// The cached rows of `address`, as streaks.
    fn live_rows(&self, address: &Address) -> ChainStreaks {
        let rows: Vec<GmStatsRow> = self
            .connection
            .get_value()
            .with_table::<GmStatsRow, _>(|table| {
                Chain::ALL
                    .iter()
                    .filter_map(|&chain| table.get(&AddressChain::new(address, chain)))
                    .map(|row| (*row).clone())
                    .collect()
            })
            .unwrap_or_default();
        streaks_from_rows(&rows)
    }

    /// `address`'s subscription failed (or could not be made): shows why, lets the fallback
    /// service take over (at once if live data was on screen) and subscribes again on the
    /// reconnect schedule.
    fn live_failed(&self, generation: u64, address: Address, error: &str) {
        log::warn!("live data for {address} unavailable: {error}");
        let was_live = self.state.with_untracked(PageState::is_live);
        self.remember_live();
        let stopped_at = now_ms();
        self.state
            .maybe_update(|s| s.subscription_failed(&address, error, stopped_at));
        if was_live {
            self.poll_fallback(generation, address.clone(), Duration::ZERO);
        }
        let outage = self.outage.get_value();
        let now = js_sys::Date::now();
        let since = outage.since_ms.unwrap_or(now);
        let attempts = outage.attempts.saturating_add(1);
        self.outage.set_value(Outage {
            attempts,
            since_ms: Some(since),
        });
        let elapsed = Duration::from_millis((now - since).max(0.0) as u64);
        let delay =
            self.config
                .get_value()
                .resubscribe
                .delay(attempts, elapsed, js_sys::Math::random());
        let store = *self;
        wasm_bindgen_futures::spawn_local(async move {
            gloo_timers::future::sleep(delay).await;
            if store.generation.get_value() == generation
                && store.subscription.get_value().is_none()
            {
                log::info!("subscribing again to {address} (attempt {attempts})");
                store.subscribe(generation, address);
            }
        });
    }

    /// The connection's status changed: a lost connection ends live data (the last numbers
    /// stay, cached) and the fallback service is asked at once. The runtime subscribes again
    /// itself when it is back, and the subscription's rows make the page live again.
    fn on_status(&self, status: &ConnectionStatus) {
        let lost = matches!(
            status,
            ConnectionStatus::Reconnecting { .. } | ConnectionStatus::Disconnected(_)
        );
        if !lost || !self.state.with_untracked(PageState::is_live) {
            return;
        }
        let Some(address) = self.current_address() else {
            return;
        };
        self.remember_live();
        let error = match status {
            ConnectionStatus::Disconnected(reason) => {
                format!("the connection to the database ended: {reason}")
            }
            _ => "the connection to the database was lost; reconnecting".to_owned(),
        };
        log::warn!("live data for {address} unavailable: {error}");
        let now = now_ms();
        self.state
            .maybe_update(|s| s.subscription_failed(&address, &error, now));
        self.poll_fallback(self.generation.get_value(), address, Duration::ZERO);
    }

    /// Shows `address`'s last live numbers kept from an earlier visit, if any.
    fn show_snapshot(&self, address: &Address) {
        if let Some(snapshot) = read_snapshots().get(address) {
            let (streaks, as_of) = (snapshot.streaks.clone(), snapshot.as_of_ms);
            self.state
                .maybe_update(|s| s.cached_snapshot(address, streaks, as_of));
        }
    }

    /// Keeps the live numbers on screen, if there are, for the next visit (as of now).
    fn remember_live(&self) {
        let Some((address, streaks)) = self.state.with_untracked(|s| {
            s.is_live()
                .then(|| s.address().cloned().map(|a| (a, s.streaks().clone())))
                .flatten()
        }) else {
            return;
        };
        let mut snapshots = read_snapshots();
        snapshots.remember(Snapshot {
            address,
            streaks,
            as_of_ms: now_ms(),
        });
        if let Err(e) = local_storage::set_text(SNAPSHOTS_KEY, &snapshots.to_json()) {
            log::warn!("could not keep the last numbers: {e}");
        }
    }

    /// Asks the fallback service for `address` after `delay`, then every `fallback_refresh`,
    /// while live data is not shown and the address is that of `generation`. Does nothing if
    /// that polling already runs, unless `delay` is zero: then a new polling starts at once and
    /// the older one (maybe still in its first delay) stops.
    fn poll_fallback(&self, generation: u64, address: Address, delay: Duration) {
        let running = self.polling.get_value();
        if running.is_some_and(|(g, _)| g == generation) && !delay.is_zero() {
            return;
        }
        let task = running.map_or(0, |(_, task)| task.wrapping_add(1));
        self.polling.set_value(Some((generation, task)));
        let store = *self;
        let config = self.config.get_value();
        wasm_bindgen_futures::spawn_local(async move {
            gloo_timers::future::sleep(delay).await;
            while store.generation.get_value() == generation
                && store.polling.get_value() == Some((generation, task))
                && store.state.with_untracked(PageState::wants_fallback)
            {
                let answer = fetch_stats(&config.api, &address).await;
                if store.generation.get_value() != generation
                    || store.polling.get_value() != Some((generation, task))
                {
                    break;
                }
                // A late answer (live data arrived meanwhile) changes nothing.
                match answer {
                    Ok(streaks) => {
                        store
                            .state
                            .maybe_update(|s| s.fallback_answer(&address, streaks));
                    }
                    Err(message) => {
                        log::warn!("fallback: {message}");
                        store
                            .state
                            .maybe_update(|s| s.fallback_failed(&address, &message));
                    }
                }
                gloo_timers::future::sleep(config.fallback_refresh).await;
            }
            if store.polling.get_value() == Some((generation, task)) {
                store.polling.set_value(None);
            }
        });
    }
}

/// The kept snapshots (none if there are none or they cannot be read).
fn read_snapshots() -> Snapshots {
    match local_storage::get_text(SNAPSHOTS_KEY) {
        Some(text) => Snapshots::parse(&text, now_ms()),
        None => Snapshots::default(),
    }
}

/// The time now, in Unix milliseconds.
fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// Whether a change involves `address` (before or after).
fn touches(change: &Change<Arc<GmStatsRow>>, address: &Address) -> bool {
    let before = match change {
        Change::Update { old, .. } | Change::Delete(old) => Some(old),
        Change::Insert(_) => None,
    };
    [change.current(), before]
        .into_iter()
        .flatten()
        .any(|row| row.address == address.as_str())
}

/// `GET {api}/api/gm/stats?address=…`.
async fn fetch_stats(api: &str, address: &Address) -> Result<ChainStreaks, String> {
    let url = format!("{api}/api/gm/stats?address={}", address.as_str());
    let response = gloo_net::http::Request::get(&url)
        .send()
        .await
        .map_err(|e| format!("the fallback service is unreachable: {e}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| format!("reading the fallback answer: {e}"))?;
    read_fallback_answer(status, &text, address)
}
