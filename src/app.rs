//! The page.

use crate::components::{
    AddressForm, AsOf, ChainCards, Clock, Countdown, Problems, SayGm, StatusPill, TotalsView,
    WalletLink,
};
use crate::config::AppConfig;
use crate::local_storage;
use crate::mini_app::MiniApp;
use crate::model::DataSource;
use crate::store::{GmStore, StoreConfig};
use leptos::prelude::*;
use stdb_client::browser::BrowserOptions;

/// Where the address shown is remembered between visits (the one place that reads and writes
/// it).
const ADDRESS_KEY: &str = "onepulse.address";

/// The whole page: configuration from the build and the URL, the store, the components.
#[component]
pub fn App() -> impl IntoView {
    let query = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    let config = AppConfig::from_build_and_query(&query);
    let options = BrowserOptions::new(&config.spacetimedb, &config.module);
    let store = GmStore::new(StoreConfig::new(options, &config.api));
    match store {
        Ok(store) => {
            provide_context(MiniApp::start(store));
            // The URL's address, else the one shown last time.
            let initial = config
                .address
                .or_else(|| local_storage::get_string(ADDRESS_KEY));
            if let Some(address) = initial {
                store.set_address(&address);
            }
            remember_address(store);
            view! { <Page store=store /> }.into_any()
        }
        Err(error) => view! {
            <main class="app">
                <h1>"OnePulse"</h1>
                <p class="error" role="alert">"Cannot start: " {error}</p>
            </main>
        }
        .into_any(),
    }
}

/// Remembers every valid address the page shows (from the URL, the field or the host wallet)
/// in `localStorage` for the next visit.
fn remember_address(store: GmStore) {
    Effect::new(move |_| {
        if let Some(address) = store.address.get()
            && let Err(e) = local_storage::set_string(ADDRESS_KEY, address.as_str())
        {
            log::warn!("could not remember the address: {e}");
        }
    });
}

/// The page for a store (also mounted on its own by component tests): provides the store and
/// the countdown [`Clock`] to its components.
#[component]
pub fn Page(store: GmStore) -> impl IntoView {
    provide_context(store);
    provide_context(Clock::start());
    mark_first_live_data(store);
    mark_first_numbers(store);
    view! {
        <main class="app">
            <header class="top">
                <h1>"OnePulse"</h1>
                <StatusPill />
            </header>
            <AddressForm />
            <Problems />
            <AsOf />
            <Countdown />
            <TotalsView />
            <ChainCards />
            <WalletLink />
            <SayGm />
        </main>
    }
}

/// The performance mark set once live data is first on screen: the page-load → live figure
/// (`performance.getEntriesByName(LIVE_MARK)`), read by the end-to-end benchmark and available
/// to any real-user monitoring.
pub const LIVE_MARK: &str = "onepulse:live-data-on-screen";

/// Sets [`LIVE_MARK`] after the first render that shows live data.
fn mark_first_live_data(store: GmStore) {
    Effect::new(move |marked: Option<bool>| {
        if marked == Some(true) {
            return true;
        }
        let live = store.is_ready.get() && store.source.get() == DataSource::Live;
        if live
            && let Some(performance) = web_sys::window().and_then(|w| w.performance())
            && let Err(e) = performance.mark(LIVE_MARK)
        {
            log::warn!("could not set the {LIVE_MARK} mark: {e:?}");
        }
        live
    });
}

/// The performance mark set once numbers (live, fallback or cached from an earlier visit) are
/// first on screen: the page-load → numbers figure, which a returning visit with the network
/// blocked reaches from the cached numbers alone.
pub const NUMBERS_MARK: &str = "onepulse:numbers-on-screen";

/// Sets [`NUMBERS_MARK`] after the first render that shows numbers.
fn mark_first_numbers(store: GmStore) {
    Effect::new(move |marked: Option<bool>| {
        if marked == Some(true) {
            return true;
        }
        let shown = store.shows_numbers.get();
        if shown
            && let Some(performance) = web_sys::window().and_then(|w| w.performance())
            && let Err(e) = performance.mark(NUMBERS_MARK)
        {
            log::warn!("could not set the {NUMBERS_MARK} mark: {e:?}");
        }
        shown
    });
}
