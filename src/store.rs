//! The GM stats store: one address, its stats per chain, where they come from, and whether they
//! are ready — as Leptos signals over the tab's runtime connection.
//!
//! - One subscription per address, however many components read the store. Changing the address
//!   ends the old subscription, clears the old numbers at once and starts the new one; rows and
//!   answers are only ever taken for the current address, so a late reply for the old one cannot
//!   appear under the new one.
//! - `is_ready` is true only once live data (or fallback data) for *this* address is shown.
//! - If live data is not ready `fallback_delay` after the address is set, the fallback service
//!   is asked, then again every `fallback_refresh` while still not live; live data replaces it as
//!   soon as it arrives, and fetching stops. Fallback failures are shown and never replace data.

use crate::farcaster::FarcasterUser;
use crate::model::{ChainStreaks, DataSource, streaks_from_fallback, streaks_from_rows};
use leptos::prelude::*;
use onepulse_domain::{Address, Chain, GmDay, address_chain_key};
use onepulse_gm_stats::{BIND_WALLET, GmStatsRow, REPORT_GM, ReportGm, stats_query};
use std::sync::Arc;
use std::time::Duration;
use stdb_client::browser::{BrowserConnection, BrowserOptions};
use stdb_client::{
    Change, ConnectionStatus, Event, Identity, ReducerOutcome, Serialize, SubscriptionId,
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
}

impl StoreConfig {
    /// The default delays (2 s) for a database and fallback service.
    pub fn new(connect: BrowserOptions, api: &str) -> Self {
        Self {
            connect,
            api: api.trim_end_matches('/').to_owned(),
            fallback_delay: Duration::from_secs(2),
            fallback_refresh: Duration::from_secs(2),
        }
    }
}

/// The store. `Copy`: every field is a signal or a stored value.
#[derive(Clone, Copy)]
pub struct GmStore {
    /// The address shown (`None` until a valid one is set).
    pub address: RwSignal<Option<Address>>,
    /// Why the last address input was refused.
    pub address_error: RwSignal<Option<String>>,
    /// Stats per chain for `address` (chains without a GM are absent).
    pub streaks: RwSignal<ChainStreaks>,
    /// Where `streaks` come from.
    pub source: RwSignal<DataSource>,
    /// Whether `streaks` are this address's data (live, or from the fallback service).
    pub is_ready: RwSignal<bool>,
    /// The connection's state.
    pub status: RwSignal<ConnectionStatus>,
    /// A subscription error for this address (live data is then not ready).
    pub live_error: RwSignal<Option<String>>,
    /// The last fallback failure, while the fallback is in use.
    pub fallback_error: RwSignal<Option<String>>,
    /// How many fallback requests were made (for the UI's diagnostics and tests).
    pub fallback_requests: RwSignal<u32>,
    connection: StoredValue<BrowserConnection, LocalStorage>,
    config: StoredValue<StoreConfig>,
    subscription: StoredValue<Option<SubscriptionId>>,
    /// Bumped on every address change: work started for an older address checks it and stops.
    generation: StoredValue<u64>,
}

impl GmStore {
    /// A store over the tab's connection to `config.connect`.
    pub fn new(config: StoreConfig) -> Result<Self, String> {
        let connection = BrowserConnection::shared(config.connect.clone(), |core| {
            core.register_table::<GmStatsRow>()
        })
        .map_err(|e| e.to_string())?;
        let store = Self {
            address: RwSignal::new(None),
            address_error: RwSignal::new(None),
            streaks: RwSignal::new(ChainStreaks::new()),
            source: RwSignal::new(DataSource::None),
            is_ready: RwSignal::new(false),
            status: RwSignal::new(connection.status()),
            live_error: RwSignal::new(None),
            fallback_error: RwSignal::new(None),
            fallback_requests: RwSignal::new(0),
            connection: StoredValue::new_local(connection.clone()),
            config: StoredValue::new(config),
            subscription: StoredValue::new(None),
            generation: StoredValue::new(0),
        };
        connection.on_status(move |status| store.status.set(status.clone()));
        connection.on_event(move |event| store.on_event(event));
        Ok(store)
    }

    /// Shows `input`'s stats: validates it, ends the old subscription, clears the old numbers
    /// and starts the new subscription (and the fallback timer). Invalid input shows a message
    /// and subscribes to nothing.
    pub fn set_address(&self, input: &str) {
        let parsed = Address::parse(input);
        if let Ok(address) = &parsed
            && self.address.get_untracked().as_ref() == Some(address)
        {
            return;
        }
        let generation = self.generation.get_value() + 1;
        self.generation.set_value(generation);
        self.end_subscription();
        self.streaks.set(ChainStreaks::new());
        self.source.set(DataSource::None);
        self.is_ready.set(false);
        self.live_error.set(None);
        self.fallback_error.set(None);
        match parsed {
            Err(e) => {
                self.address.set(None);
                self.address_error.set(Some(e.to_string()));
            }
            Ok(address) => {
                self.address_error.set(None);
                self.address.set(Some(address.clone()));
                let connection = self.connection.get_value();
                match connection.subscribe([stats_query(&address)]) {
                    Ok(id) => self.subscription.set_value(Some(id)),
                    Err(e) => self.live_error.set(Some(e.to_string())),
                }
                self.start_fallback(generation, address);
            }
        }
    }

    /// Calls `report_gm` for the current address on `chain` with today's day, with the
    /// Farcaster user's fid and names when the app runs in a Farcaster host.
    pub async fn report_gm(
        &self,
        chain: Chain,
        today: GmDay,
        user: Option<FarcasterUser>,
    ) -> Result<(), String> {
        let address = self
            .address
            .get_untracked()
            .ok_or("enter a wallet address first")?;
        let mut report = ReportGm::new(address, chain, today);
        if let Some(user) = user {
            report.fid = Some(user.fid);
            report.username = user.username;
            report.display_name = user.display_name;
        }
        self.call(REPORT_GM, &report.args()).await
    }

    /// Binds `wallet` to this connection's identity with the wallet's `personal_sign`
    /// `signature` of [`onepulse_domain::link_message`] for `day` (reducer `bind_wallet`).
    pub async fn bind_wallet(
        &self,
        wallet: &Address,
        day: GmDay,
        signature: String,
    ) -> Result<(), String> {
        let args = (wallet.as_str().to_owned(), day.number(), signature);
        self.call(BIND_WALLET, &args).await
    }

    /// The identity of the tab's connection, once connected.
    pub fn identity(&self) -> Option<Identity> {
        self.connection.get_value().identity()
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
            Err(e) => Err(e.to_string()),
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
        match event {
            Event::SubscriptionApplied(id) if Some(*id) == current => self.show_live(),
            Event::SubscriptionFailed { id, error } if Some(*id) == current => {
                self.subscription.set_value(None);
                self.live_error.set(Some(error.clone()));
                if self.source.get_untracked() == DataSource::Live {
                    self.is_ready.set(false);
                }
            }
            Event::RowsChanged(changes) if self.source.get_untracked() == DataSource::Live => {
                let Some(address) = self.address.get_untracked() else {
                    return;
                };
                if changes
                    .of::<GmStatsRow>()
                    .iter()
                    .any(|c| touches(c, &address))
                {
                    self.show_live();
                }
            }
            _ => {}
        }
    }

    /// Shows the cached rows of the current address: live data.
    fn show_live(&self) {
        let Some(address) = self.address.get_untracked() else {
            return;
        };
        let connection = self.connection.get_value();
        let rows: Vec<GmStatsRow> = connection
            .with_table::<GmStatsRow, _>(|table| {
                Chain::ALL
                    .iter()
                    .filter_map(|&chain| table.get(&address_chain_key(&address, chain)))
                    .map(|row| (*row).clone())
                    .collect()
            })
            .unwrap_or_default();
        self.streaks.set(streaks_from_rows(&rows));
        self.source.set(DataSource::Live);
        self.live_error.set(None);
        self.fallback_error.set(None);
        self.is_ready.set(true);
    }

    fn start_fallback(&self, generation: u64, address: Address) {
        let store = *self;
        let config = self.config.get_value();
        wasm_bindgen_futures::spawn_local(async move {
            gloo_timers::future::sleep(config.fallback_delay).await;
            while store.generation.get_value() == generation
                && store.source.get_untracked() != DataSource::Live
            {
                store.fallback_requests.update(|n| *n += 1);
                let answer = fetch_stats(&config.api, &address).await;
                // The address may have changed, or live data arrived, while the request ran.
                if store.generation.get_value() != generation
                    || store.source.get_untracked() == DataSource::Live
                {
                    return;
                }
                match answer {
                    Ok(streaks) => {
                        store.streaks.set(streaks);
                        store.source.set(DataSource::Fallback);
                        store.fallback_error.set(None);
                        store.is_ready.set(true);
                    }
                    Err(message) => {
                        log::warn!("fallback: {message}");
                        store.fallback_error.set(Some(message));
                    }
                }
                gloo_timers::future::sleep(config.fallback_refresh).await;
            }
        });
    }
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
    let body: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("the fallback service answered HTTP {status} without JSON: {e}"))?;
    if status != 200 {
        let message = body
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or("no message");
        return Err(format!(
            "the fallback service answered HTTP {status}: {message}"
        ));
    }
    if body.get("address").and_then(|a| a.as_str()) != Some(address.as_str()) {
        return Err("the fallback service answered for another address".into());
    }
    streaks_from_fallback(&body)
}
