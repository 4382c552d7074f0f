//! The app as a user meets it, in headless Chromium, against real servers (see the crate docs).

use e2e_tests::{Chromedriver, Page, Stack};
use onepulse_domain::Address;
use serde_json::Value;
use std::time::Duration;
use test_kit::{today, unique_address};

const BASE: i32 = 8453;
const CELO: i32 = 42220;
const OPTIMISM: i32 = 10;

/// AC-001: the most a committed report may take to reach the DOM.
const AC_001_MILLIS: f64 = 500.0;

fn address_query(address: &Address) -> String {
    format!("address={}", address.as_str())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_by_another_client_reaches_the_open_page_within_500_ms() {
    let stack = Stack::start("e2e-flow", true).await;
    let driver = Chromedriver::start().await;
    let address = unique_address();
    stack.report(&address, BASE, today() - 1);

    let page = Page::open(&driver, &stack.page_url(&address_query(&address))).await;
    page.until_pill("live").await;
    page.until_card(BASE, "current", "1").await;
    assert_eq!(page.card(CELO, "current").await, None, "no Celo row yet");

    page.watch_text(&format!("article[data-chain='{BASE}'] .current"), "2")
        .await;
    stack.report(&address, BASE, today());
    let shown_at = page.until_seen().await;
    let committed_at = stack.updated_at_millis(&address, BASE);
    let latency = shown_at - committed_at;
    println!("reducer commit → DOM: {latency:.1} ms");
    assert!(
        latency <= AC_001_MILLIS,
        "AC-001: the update reached the DOM {latency:.1} ms after the commit (limit {AC_001_MILLIS} ms)"
    );
    assert_eq!(page.card(BASE, "all-time").await.as_deref(), Some("2"));
    assert_eq!(page.pill().await, "live");
    page.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_database_keeps_the_numbers_and_the_page_comes_back_live() {
    let mut stack = Stack::start("e2e-restart", true).await;
    let driver = Chromedriver::start().await;
    let address = unique_address();
    stack.report(&address, BASE, today() - 1);
    stack.report(&address, BASE, today());

    let page = Page::open(&driver, &stack.page_url(&address_query(&address))).await;
    page.until_pill("live").await;
    page.until_card(BASE, "current", "2").await;

    stack.kill_database();
    // The pill stops saying Live: reconnecting, or fallback once the fallback service answers.
    page.until("the pill no longer live", || async {
        let pill = page.pill().await;
        if pill == "reconnecting" || pill == "fallback" {
            Ok(())
        } else {
            Err(pill)
        }
    })
    .await;
    assert_eq!(
        page.card(BASE, "current").await.as_deref(),
        Some("2"),
        "the last data stays on screen while reconnecting"
    );

    stack.restart_database();
    page.until_pill("live").await;
    stack.report(&address, OPTIMISM, today());
    page.until_card(OPTIMISM, "current", "1").await;
    assert_eq!(page.card(BASE, "current").await.as_deref(), Some("2"));
    page.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_database_blocked_fallback_data_shows_then_live_takes_over() {
    let stack = Stack::start("e2e-fallback", false).await;
    let driver = Chromedriver::start().await;
    let address = unique_address();
    stack.report(&address, CELO, today());

    let page = Page::open(&driver, &stack.page_url(&address_query(&address))).await;
    page.until_pill("fallback").await;
    let since_navigation = page
        .run("return performance.now();", vec![])
        .await
        .as_f64()
        .unwrap_or_default();
    assert!(
        since_navigation >= 1900.0,
        "the app waits 2 s for the socket before asking the fallback (fell back after {since_navigation} ms)"
    );
    page.until_card(CELO, "current", "1").await;
    assert_eq!(
        stack.gate.websockets(),
        0,
        "the gate let nothing through yet"
    );
    assert!(stack.fallback_requests().await >= 1);

    stack.gate.open();
    page.until_pill("live").await;
    assert_eq!(page.card(CELO, "current").await.as_deref(), Some("1"));
    stack.report(&address, BASE, today());
    page.until_card(BASE, "current", "1").await;

    let after_live = stack.fallback_requests().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        stack.fallback_requests().await,
        after_live,
        "no fallback requests once live (the app refreshes every 2 s while on fallback)"
    );
    page.close().await;
}

/// Records every state of the Base card after the switch: `"numbers:…"` or `"none"`.
const SWITCH_AND_WATCH: &str = r#"
    const [next] = arguments;
    window.__baseStates = [];
    const record = () => {
        const dd = document.querySelector("article[data-chain='8453'] .all-time");
        window.__baseStates.push(dd ? "numbers:" + dd.textContent : "none");
    };
    new MutationObserver(record).observe(document.querySelector('.cards'),
        { subtree: true, childList: true, characterData: true });
    const input = document.getElementById('address-input');
    input.value = next;
    input.dispatchEvent(new Event('input', { bubbles: true }));
    input.form.requestSubmit();
    record();
"#;

#[tokio::test(flavor = "multi_thread")]
async fn after_switching_address_the_old_ones_numbers_never_appear() {
    let stack = Stack::start("e2e-switch", true).await;
    let driver = Chromedriver::start().await;
    let (old, new) = (unique_address(), unique_address());
    let first_day = today() - 400;
    stack.report(&old, BASE, first_day);
    stack.report(&new, OPTIMISM, today());

    let page = Page::open(&driver, &stack.page_url(&address_query(&old))).await;
    page.until_pill("live").await;
    page.until_card(BASE, "all-time", "1").await;

    // Updates for the old address keep coming, before, during and after the switch.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reporter = {
        let stop = stop.clone();
        let old = old.clone();
        let api = stack.reporter();
        std::thread::spawn(move || {
            let mut reports = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && reports < 300 {
                reports += 1;
                api.report(&old, BASE, first_day + reports);
                std::thread::sleep(Duration::from_millis(20));
            }
            reports
        })
    };
    page.until("an update for the old address", || async {
        let text = page.card(BASE, "all-time").await.unwrap_or_default();
        if text != "1" { Ok(()) } else { Err(text) }
    })
    .await;

    page.run(SWITCH_AND_WATCH, vec![new.as_str().into()]).await;
    page.until_card(OPTIMISM, "current", "1").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let reports = reporter.join().expect("the reporter thread");
    assert!(
        reports >= 20,
        "only {reports} reports for the old address were made"
    );

    let states = page.run("return window.__baseStates;", vec![]).await;
    let states: Vec<&str> = states
        .as_array()
        .expect("recorded states")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let cleared = states
        .iter()
        .position(|s| *s == "none")
        .unwrap_or_else(|| panic!("the old numbers were never cleared: {states:?}"));
    let leaked: Vec<&&str> = states
        .iter()
        .skip(cleared)
        .filter(|s| s.starts_with("numbers:"))
        .collect();
    assert!(
        leaked.is_empty(),
        "the old address's numbers appeared after the switch: {leaked:?} (all: {states:?})"
    );
    assert_eq!(page.card(BASE, "current").await, None);
    assert_eq!(
        page.text("article[data-chain='8453'] .empty")
            .await
            .as_deref(),
        Some("No GM yet on Base")
    );
    page.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_tabs_have_a_socket_each_and_both_update() {
    let stack = Stack::start("e2e-tabs", true).await;
    let driver = Chromedriver::start().await;
    let address = unique_address();
    stack.report(&address, BASE, today());
    let url = stack.page_url(&address_query(&address));

    let page = Page::open(&driver, &url).await;
    page.until_pill("live").await;
    let first = page.client().window().await.expect("the first tab");
    let second = page.client().new_window(true).await.expect("a second tab");
    page.client()
        .switch_to_window(second.handle)
        .await
        .expect("switch to the second tab");
    page.goto(&url).await;
    page.until_pill("live").await;
    page.until_card(BASE, "current", "1").await;
    assert_eq!(stack.gate.websockets(), 2, "one socket per tab (AC-010)");

    stack.report(&address, CELO, today());
    page.until_card(CELO, "current", "1").await;
    page.client()
        .switch_to_window(first)
        .await
        .expect("back to the first tab");
    page.until_card(CELO, "current", "1").await;
    assert_eq!(stack.gate.websockets(), 2, "still one socket per tab");
    page.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_addresses_get_a_clear_message_and_no_subscription() {
    let stack = Stack::start("e2e-bad-input", true).await;
    let driver = Chromedriver::start().await;
    let valid = unique_address();
    stack.report(&valid, BASE, today());

    let page = Page::open(&driver, &stack.page_url("address=0x12345")).await;
    let message = page
        .until("an address error", || async {
            page.text("#address-error")
                .await
                .ok_or_else(|| "none".to_owned())
        })
        .await;
    assert!(message.contains("address"), "unclear message: {message}");
    page.until_pill("live").await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    page.run(
        "const i = document.getElementById('address-input'); i.value = arguments[0]; \
         i.dispatchEvent(new Event('input', { bubbles: true })); i.form.requestSubmit();",
        vec!["<script>alert(1)</script>".into()],
    )
    .await;
    let message = page
        .until("an error for the typed text", || async {
            let text = page.text("#address-error").await.unwrap_or_default();
            if text.contains("<script>") || text.contains("0x") {
                Ok(text)
            } else {
                Err(text)
            }
        })
        .await;
    assert!(!message.is_empty());
    assert_eq!(
        page.run(
            "return document.querySelectorAll('main script').length;",
            vec![]
        )
        .await,
        Value::from(0),
        "the typed text is shown as text, never as markup"
    );
    assert_eq!(
        stack.gate.client_messages(),
        0,
        "no subscription (or anything else) was sent for an invalid address"
    );
    assert_eq!(
        stack.fallback_requests().await,
        0,
        "nor asked of the fallback service"
    );

    page.run(
        "const i = document.getElementById('address-input'); i.value = arguments[0]; \
         i.dispatchEvent(new Event('input', { bubbles: true })); i.form.requestSubmit();",
        vec![valid.as_str().to_uppercase().replace("0X", "0x").into()],
    )
    .await;
    page.until_card(BASE, "current", "1").await;
    assert_eq!(page.text("#address-error").await, None, "the error is gone");
    assert!(
        stack.gate.client_messages() > 0,
        "the valid address was subscribed"
    );
    page.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_wallet_the_page_says_how_to_get_one_instead_of_gm_buttons() {
    let stack = Stack::start("e2e-no-wallet", true).await;
    let driver = Chromedriver::start().await;
    let address = unique_address();
    stack.report(&address, BASE, today());

    // A plain browser: no Farcaster host, no wallet announcing itself (EIP-6963).
    let page = Page::open(&driver, &stack.page_url(&address_query(&address))).await;
    page.until_pill("live").await;
    let advice = page
        .until_text("#gm-no-wallet", "install a browser wallet")
        .await;
    assert!(advice.contains("Farcaster client"), "{advice}");
    let buttons = page
        .run(
            "return document.querySelectorAll('.gm-buttons button').length;",
            vec![],
        )
        .await;
    assert_eq!(buttons, Value::from(0), "no GM button that can only fail");
    page.until_card(BASE, "current", "1").await;
    page.close().await;
}
