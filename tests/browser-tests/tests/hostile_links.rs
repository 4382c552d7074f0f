//! Hostile `?spacetimedb=` / `?api=` links through the browser's own URL parser
//! (`web_sys::Url`): the app's override check and the runtime's `is_insecure_remote` decide as
//! the native unit tests (the `url` crate) do, on the same cases. Needs no server.
#![cfg(target_arch = "wasm32")]

use onepulse::config::{AppConfig, LOOPBACK_CASES, is_loopback, parse_url};
use stdb_client::ConnectOptions;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

fn query(key: &str, value: &str) -> String {
    let mut query = String::from("?");
    query.push_str(key);
    query.push('=');
    query.push_str(&String::from(js_sys::encode_uri_component(value)));
    query
}

#[wasm_bindgen_test]
fn the_browser_decides_loopback_as_the_native_tests_do() {
    let mut wrong = Vec::new();
    for (url, loopback) in LOOPBACK_CASES {
        if is_loopback(url) != *loopback {
            wrong.push(format!(
                "{url:?}: expected {loopback}, parsed {:?}",
                parse_url(url)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[wasm_bindgen_test]
fn the_runtime_refuses_plain_text_to_any_host_but_loopback() {
    for (url, loopback) in LOOPBACK_CASES {
        assert_eq!(
            ConnectOptions::new(url, "x").is_insecure_remote(),
            !loopback,
            "{url:?}"
        );
    }
    for secure in [
        "wss://db.example",
        "https://db.example:443",
        "WSS://db.example",
    ] {
        assert!(
            !ConnectOptions::new(secure, "x").is_insecure_remote(),
            "{secure}"
        );
    }
}

#[wasm_bindgen_test]
fn release_overrides_keep_only_what_the_browser_connects_to_on_loopback() {
    let defaults = AppConfig::from_build();
    for (url, loopback) in LOOPBACK_CASES {
        let config = defaults
            .clone()
            .with_overrides(&query("spacetimedb", url), true);
        if *loopback {
            let kept = parse_url(&config.spacetimedb).unwrap_or_else(|e| panic!("{url:?}: {e}"));
            assert!(kept.is_loopback(), "{url:?} → {}", config.spacetimedb);
            assert!(
                !kept.has_credentials && !kept.has_query_or_fragment,
                "{url:?}"
            );
        } else {
            assert_eq!(config.spacetimedb, defaults.spacetimedb, "{url:?}");
        }
    }
    for hostile in [
        "wss://localhost:1@evil.example",
        "ws://[::1]:3000@evil.example",
        "ws://localhost:@evil.example",
    ] {
        let config = defaults
            .clone()
            .with_overrides(&query("spacetimedb", hostile), true);
        assert_eq!(config.spacetimedb, defaults.spacetimedb, "{hostile}");
        let debug = defaults
            .clone()
            .with_overrides(&query("spacetimedb", hostile), false);
        assert_eq!(
            debug.spacetimedb, defaults.spacetimedb,
            "{hostile}: user info is refused in debug builds too"
        );
    }
    let numeric = defaults.clone().with_overrides(
        "?spacetimedb=WS://0x7f.1:3000/&api=http://LOCALHOST:1/",
        true,
    );
    assert_eq!(numeric.spacetimedb, "ws://127.0.0.1:3000");
    assert_eq!(numeric.api, "http://localhost:1");
}

#[wasm_bindgen_test]
fn debug_overrides_keep_what_the_browser_will_connect_to() {
    let defaults = AppConfig::from_build();
    let linked = defaults
        .clone()
        .with_overrides(&query("spacetimedb", "wss://evil.example"), false);
    assert_eq!(linked.spacetimedb, "wss://evil.example");
    assert!(!onepulse::config::is_loopback(&linked.spacetimedb));
    let local = defaults.with_overrides(&query("spacetimedb", "ws://127.0.0.1:3001"), false);
    assert!(onepulse::config::is_loopback(&local.spacetimedb));
}
