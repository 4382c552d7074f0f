//! The app's store and page against the real server and fallback service, in headless Chromium.
#![cfg(target_arch = "wasm32")]

use browser_tests::{
    control, eventually, fallback_url, options, other_device, report, restart_fallback_url,
    restartable_options, today, unique_address,
};
use leptos::prelude::*;
use onepulse::Page;
use onepulse::model::DataSource;
use onepulse::store::{GmStore, StoreConfig};
use onepulse_domain::Chain;
use onepulse_gm_stats::fallback_api::Health;
use std::time::Duration;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// A store on the test database whose fallback waits a minute (so only live data shows).
fn live_only_store() -> GmStore {
    let mut config = StoreConfig::new(options(), fallback_url());
    config.fallback_delay = Duration::from_secs(60);
    GmStore::new(config).unwrap()
}

#[wasm_bindgen_test]
async fn changing_the_address_clears_at_once_and_never_shows_the_old_one() {
    let device = other_device(&options()).await;
    let (a, b) = (unique_address(), unique_address());
    report(&device, &a, Chain::Base, today() - 1).await;
    report(&device, &b, Chain::Celo, today() - 1).await;

    let store = live_only_store();
    store.set_address(a.as_str());
    assert!(
        !store.is_ready.get_untracked(),
        "not ready before live data for a"
    );
    eventually("a's live data", || store.is_ready.get_untracked()).await;
    assert_eq!(store.source.get_untracked(), DataSource::Live);
    assert_eq!(
        store
            .streaks
            .get_untracked()
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [Chain::Base]
    );

    store.set_address(&b.as_str().to_ascii_uppercase());
    assert!(
        store.streaks.get_untracked().is_empty(),
        "a's numbers are cleared at once"
    );
    assert!(!store.is_ready.get_untracked(), "b is not ready yet");
    assert_eq!(store.address.get_untracked(), Some(b.clone()));
    // a keeps changing meanwhile: none of it may show under b.
    report(&device, &a, Chain::Base, today()).await;
    eventually("b's live data", || {
        assert!(
            !store.streaks.get_untracked().contains_key(&Chain::Base),
            "a's Base row appeared under b"
        );
        store.is_ready.get_untracked()
    })
    .await;
    assert_eq!(
        store
            .streaks
            .get_untracked()
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [Chain::Celo]
    );

    // A new GM for b arrives live.
    report(&device, &b, Chain::Celo, today()).await;
    eventually("b's update", || {
        store
            .streaks
            .get_untracked()
            .get(&Chain::Celo)
            .is_some_and(|s| s.current == 2)
    })
    .await;
}

#[wasm_bindgen_test]
async fn an_invalid_address_shows_a_message_and_subscribes_to_nothing() {
    let store = live_only_store();
    store.set_address(unique_address().as_str());
    eventually("ready", || store.is_ready.get_untracked()).await;
    store.set_address("0x12345");
    assert_eq!(store.address.get_untracked(), None);
    let message = store
        .address_error
        .get_untracked()
        .expect("an error message");
    assert!(message.contains("40 hex digits"), "{message}");
    assert!(store.streaks.get_untracked().is_empty());
    assert!(!store.is_ready.get_untracked());
}

#[wasm_bindgen_test]
async fn fallback_data_while_the_database_is_unreachable_then_live_replaces_it() {
    let device = other_device(&restartable_options()).await;
    let address = unique_address();
    report(&device, &address, Chain::Optimism, today()).await;
    // The fallback service has the row before the database goes away.
    let probe = format!("{}/api/gm/stats?address={address}", restart_fallback_url());
    let mut seen = false;
    for _ in 0..200 {
        let text = gloo_net::http::Request::get(&probe)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("\"10\"") {
            seen = true;
            break;
        }
        gloo_timers::future::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "the fallback service never saw the row");
    control("stop").await;

    let store = GmStore::new(StoreConfig::new(
        restartable_options(),
        restart_fallback_url(),
    ))
    .unwrap();
    store.set_address(address.as_str());
    eventually("fallback data", || {
        store.source.get_untracked() == DataSource::Fallback
    })
    .await;
    assert!(store.is_ready.get_untracked());
    assert_eq!(
        store
            .streaks
            .get_untracked()
            .get(&Chain::Optimism)
            .map(|s| s.current),
        Some(1)
    );

    control("start").await;
    eventually("live data", || {
        store.source.get_untracked() == DataSource::Live
    })
    .await;
    assert!(store.is_ready.get_untracked());
    assert_eq!(
        store
            .streaks
            .get_untracked()
            .get(&Chain::Optimism)
            .map(|s| s.current),
        Some(1)
    );
    let requests = stats_requests(restart_fallback_url()).await;
    gloo_timers::future::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        stats_requests(restart_fallback_url()).await,
        requests,
        "fallback fetching stopped (the store asks every 2 s while not live)"
    );
    assert_eq!(
        store.source.get_untracked(),
        DataSource::Live,
        "fallback never replaces live data"
    );
}

/// The `/api/gm/stats` requests the fallback service at `base` has seen (its `/healthz`).
async fn stats_requests(base: &str) -> u64 {
    let url = format!("{base}/healthz");
    let text = gloo_net::http::Request::get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("reading GET {url}: {e}"));
    let health: Health =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url} answered {text:?}: {e}"));
    health.stats_requests
}

fn text_of(selector: &str) -> Option<String> {
    let document = web_sys::window()?.document()?;
    document.query_selector(selector).ok()??.text_content()
}

#[wasm_bindgen_test]
async fn the_page_shows_a_known_address_and_refuses_a_bad_one() {
    let device = other_device(&options()).await;
    let address = unique_address();
    report(&device, &address, Chain::Base, today() - 1).await;
    report(&device, &address, Chain::Base, today()).await;

    let store = live_only_store();
    let root = web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .create_element("div")
        .unwrap();
    web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .body()
        .unwrap()
        .append_child(&root)
        .unwrap();
    let root: web_sys::HtmlElement = root.dyn_into().unwrap();
    let _mounted = leptos::mount::mount_to(root, move || view! { <Page store=store /> });
    assert!(
        text_of("[data-chain='8453']").unwrap().contains("Loading"),
        "a skeleton before any address"
    );

    store.set_address(address.as_str());
    eventually("the store", || store.is_ready.get_untracked()).await;
    for _ in 0..100 {
        if text_of("[data-chain='8453'] .current").is_some() {
            break;
        }
        gloo_timers::future::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        text_of("[data-chain='8453'] .current").is_some(),
        "the Base card never showed numbers: {:?}",
        web_sys::window()
            .unwrap()
            .document()
            .unwrap()
            .body()
            .unwrap()
            .inner_html()
    );
    assert_eq!(
        text_of("[data-chain='8453'] .current").as_deref(),
        Some("2")
    );
    assert_eq!(
        text_of("[data-chain='8453'] .highest").as_deref(),
        Some("2")
    );
    assert_eq!(
        text_of("[data-chain='8453'] .all-time").as_deref(),
        Some("2")
    );
    assert!(
        text_of("[data-chain='8453'] .today")
            .unwrap()
            .contains("GM'd today")
    );
    assert!(
        text_of("[data-chain='42220']")
            .unwrap()
            .contains("No GM yet on Celo")
    );
    assert!(text_of("#totals .all-time").is_some_and(|t| t == "2"));
    assert!(text_of("#status-pill").unwrap().contains("Live"));
    assert!(text_of("#countdown").is_some_and(|t| t.len() == 8));

    let input: web_sys::HtmlInputElement = web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .get_element_by_id("address-input")
        .unwrap()
        .dyn_into()
        .unwrap();
    input.set_value("not an address");
    input
        .dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
    let form = input.form().unwrap();
    form.request_submit().unwrap();
    eventually("the address error", || text_of("#address-error").is_some()).await;
    assert!(text_of("#address-error").unwrap().contains("0x"));
    assert!(
        text_of("[data-chain='8453']").unwrap().contains("Loading"),
        "no stale numbers after a bad address"
    );
}

/// A store whose database and fallback service cannot be reached (nothing listens on port 9).
fn unreachable_store() -> GmStore {
    let options = stdb_client::browser::BrowserOptions::new("ws://127.0.0.1:9", "nowhere");
    let mut config = StoreConfig::new(options, "http://127.0.0.1:9");
    config.fallback_delay = Duration::from_millis(50);
    GmStore::new(config).unwrap()
}

#[wasm_bindgen_test]
async fn the_last_live_numbers_show_at_once_on_the_next_visit_cached_and_never_ready() {
    let device = other_device(&options()).await;
    let address = unique_address();
    report(&device, &address, Chain::Base, today() - 1).await;
    report(&device, &address, Chain::Base, today()).await;
    let live = live_only_store();
    live.set_address(address.as_str());
    eventually("live data", || live.is_ready.get_untracked()).await;
    let numbers = live.streaks.get_untracked();
    assert_eq!(numbers.get(&Chain::Base).map(|s| s.current), Some(2));
    let before = js_sys::Date::now() as i64;

    // The next visit cannot reach anything: the kept numbers are on screen at once.
    let offline = unreachable_store();
    offline.set_address(address.as_str());
    assert_eq!(offline.streaks.get_untracked(), numbers);
    assert!(offline.shows_numbers.get_untracked());
    assert_eq!(offline.source.get_untracked(), DataSource::Cached);
    assert!(
        !offline.is_ready.get_untracked(),
        "cached numbers are never ready"
    );
    let as_of = offline.cached_as_of.get_untracked().expect("their age");
    assert!(
        as_of <= before + 1000,
        "as of when they were live: {as_of} vs {before}"
    );
    // The socket and the fallback fail: the numbers stay, never live, never ready.
    eventually("a fallback failure", || {
        offline.fallback_error.get_untracked().is_some()
    })
    .await;
    assert_eq!(offline.streaks.get_untracked(), numbers);
    assert_eq!(offline.source.get_untracked(), DataSource::Cached);
    assert!(!offline.is_ready.get_untracked());

    // Another address has no kept numbers.
    let other = unreachable_store();
    other.set_address(unique_address().as_str());
    assert!(!other.shows_numbers.get_untracked());
}

#[wasm_bindgen_test]
async fn hostile_kept_numbers_are_ignored_without_a_panic() {
    use gloo_storage::Storage;
    let address = unique_address();
    let a = address.as_str();
    let hostile = [
        "{".to_owned(),
        "null".to_owned(),
        format!(r#"[{{"address":"{a}","as_of_ms":-1,"stats":[]}}]"#),
        format!(
            r#"[{{"address":"{a}","as_of_ms":5,"stats":[{{"chain_id":8453,"current":3,"highest":2,"all_time":9,"last_day":1}}]}}]"#
        ),
        format!("[{}]", "{\"a\":".repeat(5000)),
    ];
    for text in hostile {
        gloo_storage::LocalStorage::raw()
            .set_item("onepulse.snapshots", &text)
            .unwrap();
        let store = unreachable_store();
        store.set_address(a);
        assert!(!store.shows_numbers.get_untracked(), "{text:.60}");
        assert_eq!(store.cached_as_of.get_untracked(), None);
    }
}
