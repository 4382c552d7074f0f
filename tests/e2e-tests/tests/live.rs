//! "Live means live" (issue 14), as a user on a bad link meets it, in headless Chromium against
//! real servers: a link that stalls or crawls, a database killed at the worst moment, the
//! socket and the fallback service both down, a returning visit with the network blocked, a
//! tab hidden for minutes. Deadlines are generous; these tests check behaviour, not speed.

use e2e_tests::{Chromedriver, Gate, Mode, Page, Stack};
use onepulse_domain::Address;
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use test_kit::{today, unique_address};

const BASE: i32 = 8453;
const CELO: i32 = 42220;
const OPTIMISM: i32 = 10;

/// How long a dead link may take to be noticed and a report made meanwhile to reach the
/// screen (the heartbeat notices within 15 s; the fallback then answers).
const STALL_NOTICED: Duration = Duration::from_secs(20);
/// How long the page may take to be live again once the link is back (reconnect backoff).
const BACK_LIVE: Duration = Duration::from_secs(40);
/// How long a tab stays hidden.
const HIDDEN_FOR: Duration = Duration::from_secs(120);
/// How soon a tab shown again must be live (the issue asks for 2 s; the test allows more
/// for a loaded test machine).
const LIVE_AFTER_SHOWN: Duration = Duration::from_secs(5);
/// Where the app keeps the last live numbers (`src/store.rs`).
const SNAPSHOTS_KEY: &str = "onepulse.snapshots";

/// The time now, in Unix milliseconds.
fn unix_millis() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn address_query(address: &Address) -> String {
    format!("address={}", address.as_str())
}

/// The page's URL with the fallback service's `/api` reached through `api`.
fn url_with_api(stack: &Stack, api: &Gate, address: &Address) -> String {
    format!(
        "{}&api={}",
        stack.page_url(&address_query(address)),
        api.http_url()
    )
}

/// Waits until card `chain_id`'s `field` reads `expected` while the pill is not `live`.
async fn until_card_not_live(page: &Page, wait: Duration, chain_id: i32, expected: &str) {
    page.until_within(
        wait,
        &format!("card {chain_id} current = {expected} with the pill not live"),
        || async {
            let text = page.card(chain_id, "current").await;
            let pill = page.pill().await;
            if text.as_deref() == Some(expected) && pill != "live" {
                Ok(())
            } else {
                Err(format!("card {text:?}, pill {pill:?}"))
            }
        },
    )
    .await;
}

/// Waits until the pill is live and card `chain_id`'s current streak reads `expected`.
async fn until_live_with(page: &Page, wait: Duration, chain_id: i32, expected: &str) {
    page.until_within(
        wait,
        &format!("live with card {chain_id} current = {expected}"),
        || async {
            let text = page.card(chain_id, "current").await;
            let pill = page.pill().await;
            if text.as_deref() == Some(expected) && pill == "live" {
                Ok(())
            } else {
                Err(format!("card {text:?}, pill {pill:?}"))
            }
        },
    )
    .await;
}

/// Watches the pill for `span` and fails the test if it ever says `live`.
async fn never_live_for(page: &Page, span: Duration) {
    let end = Instant::now() + span;
    while Instant::now() < end {
        assert_ne!(page.pill().await, "live", "the pill said Live");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_link_is_noticed_and_a_report_made_meanwhile_reaches_the_screen() {
    let stack = Stack::start("e2e-stall", true).await;
    let driver = Chromedriver::start().await;
    let address = unique_address();
    stack.report(&address, BASE, today() - 1);

    let page = Page::open(&driver, &stack.page_url(&address_query(&address))).await;
    until_live_with(&page, BACK_LIVE, BASE, "1").await;

    // The link stops carrying bytes; the TCP connection stays open.
    stack.gate.stall();
    stack.report(&address, BASE, today());
    until_card_not_live(&page, STALL_NOTICED, BASE, "2").await;

    // The link comes back: live again, with the right numbers, and live updates flow.
    stack.gate.open();
    until_live_with(&page, BACK_LIVE, BASE, "2").await;
    stack.report(&address, OPTIMISM, today());
    page.until_card(OPTIMISM, "current", "1").await;
    assert_eq!(page.pill().await, "live");
    page.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_link_too_slow_for_a_quick_subscription_fallback_numbers_come_first_then_live() {
    let stack = Stack::start("e2e-slow-link", true).await;
    // A few hundred bytes a second: the token call, the handshake, the identity message and
    // the first rows take several seconds together (yet less than the runtime's 10 s connect
    // timeout).
    stack.gate.set(Mode::Slow {
        bytes_per_second: 600,
    });
    let driver = Chromedriver::start().await;
    let address = unique_address();
    stack.report(&address, CELO, today());

    let page = Page::open(&driver, &stack.page_url(&address_query(&address))).await;
    page.until_pill("fallback").await;
    page.until_card(CELO, "current", "1").await;

    page.until_within(BACK_LIVE, "live over the slow link", || async {
        let pill = page.pill().await;
        if pill == "live" { Ok(()) } else { Err(pill) }
    })
    .await;
    assert_eq!(page.card(CELO, "current").await.as_deref(), Some("1"));
    let live_at = page.until_mark("onepulse:live-data-on-screen").await;
    assert!(
        live_at > 2000.0,
        "the link was meant to be slow enough for the fallback first (live after {live_at} ms)"
    );
    assert!(stack.fallback_requests().await >= 1);

    // Still over the slow link: a new report reaches the screen live.
    stack.report(&address, BASE, today());
    page.until_within(BACK_LIVE, "the Base card over the slow link", || async {
        let text = page.card(BASE, "current").await;
        if text.as_deref() == Some("1") {
            Ok(())
        } else {
            Err(format!("{text:?}"))
        }
    })
    .await;
    page.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn spacetimedb_killed_during_the_initial_subscription_then_back() {
    let mut stack = Stack::start("e2e-kill-early", true).await;
    let driver = Chromedriver::start().await;
    let address = unique_address();
    stack.report(&address, BASE, today());

    // A slow link, so that the subscription is caught on its way: as soon as the gate has
    // seen the page's first message (its subscription), nothing more passes.
    stack.gate.set(Mode::Slow {
        bytes_per_second: 600,
    });
    let page = Page::open(&driver, &stack.page_url(&address_query(&address))).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while stack.gate.client_messages() == 0 {
        assert!(Instant::now() < deadline, "the page never subscribed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stack.gate.stall();
    assert_ne!(page.pill().await, "live", "caught before the rows arrived");
    stack.kill_database();
    stack.gate.open();
    never_live_for(&page, Duration::from_secs(3)).await;

    stack.restart_database();
    until_live_with(&page, BACK_LIVE, BASE, "1").await;
    stack.report(&address, OPTIMISM, today());
    page.until_card(OPTIMISM, "current", "1").await;
    page.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_socket_and_the_fallback_down_the_last_numbers_stay_with_a_problem_shown() {
    let mut stack = Stack::start("e2e-both-down", true).await;
    let api = Gate::start(stack.fallback_port(), true).await;
    let driver = Chromedriver::start().await;
    let address = unique_address();
    stack.report(&address, BASE, today() - 1);
    stack.report(&address, BASE, today());

    let page = Page::open(&driver, &url_with_api(&stack, &api, &address)).await;
    until_live_with(&page, BACK_LIVE, BASE, "2").await;

    api.close();
    stack.kill_database();
    page.until("a problem on screen", || async {
        let live = page.text("#live-error").await;
        let fallback = page.text("#fallback-error").await;
        if live.is_some() || fallback.is_some() {
            Ok(())
        } else {
            Err("no problem shown".to_owned())
        }
    })
    .await;
    assert_ne!(page.pill().await, "live");
    assert_eq!(
        page.card(BASE, "current").await.as_deref(),
        Some("2"),
        "the last numbers stay"
    );
    page.until_text("#as-of", "as of").await;
    never_live_for(&page, Duration::from_secs(3)).await;
    assert_eq!(page.card(BASE, "current").await.as_deref(), Some("2"));

    stack.restart_database();
    api.open();
    until_live_with(&page, BACK_LIVE, BASE, "2").await;
    assert_eq!(
        page.text("#as-of").await,
        None,
        "live numbers are not cached ones"
    );
    stack.report(&address, OPTIMISM, today());
    page.until_card(OPTIMISM, "current", "1").await;
    page.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_returning_visit_with_the_network_blocked_shows_the_cached_numbers_with_their_age() {
    let stack = Stack::start("e2e-returning", true).await;
    let api = Gate::start(stack.fallback_port(), true).await;
    let driver = Chromedriver::start().await;
    let address = unique_address();
    stack.report(&address, BASE, today() - 1);
    stack.report(&address, BASE, today());
    let url = url_with_api(&stack, &api, &address);

    // First visit: live.
    let page = Page::open(&driver, &url).await;
    until_live_with(&page, BACK_LIVE, BASE, "2").await;

    // Returning with SpacetimeDB and the fallback service unreachable.
    stack.gate.close();
    api.close();
    let sockets_before = stack.gate.websockets();
    page.goto(&url).await;
    page.until_card(BASE, "current", "2").await;
    let shown_at = page.until_mark("onepulse:numbers-on-screen").await;
    println!("page load → cached numbers on screen: {shown_at:.1} ms");
    page.until_text("#as-of", "as of").await;
    let cached = page
        .run(
            "return document.querySelector(\"article[data-chain='8453']\").classList.contains('cached');",
            vec![],
        )
        .await;
    assert_eq!(
        cached,
        Value::Bool(true),
        "the card says its numbers are cached"
    );
    never_live_for(&page, Duration::from_secs(3)).await;
    assert_eq!(
        stack.gate.websockets(),
        sockets_before,
        "nothing got through"
    );

    // The network comes back: live numbers replace the cached ones.
    stack.gate.open();
    api.open();
    until_live_with(&page, BACK_LIVE, BASE, "2").await;
    assert_eq!(page.text("#as-of").await, None);
    page.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_kept_numbers_are_ignored() {
    let stack = Stack::start("e2e-hostile-cache", false).await;
    let api = Gate::start(stack.fallback_port(), false).await;
    let driver = Chromedriver::start().await;
    let address = unique_address();
    let url = url_with_api(&stack, &api, &address);
    let page = Page::open(&driver, &url).await;
    let a = address.as_str();
    let hostile = [
        "not json".to_owned(),
        format!(
            r#"[{{"address":"{a}","as_of_ms":1,"stats":[{{"chain_id":8453,"current":-7,"highest":1,"all_time":1,"last_day":1}}]}}]"#
        ),
        format!(
            r#"[{{"address":"{a}","as_of_ms":1,"stats":[{{"chain_id":1,"current":1,"highest":1,"all_time":1,"last_day":1}}]}}]"#
        ),
        format!(r#"[{{"address":"{a}","as_of_ms":"soon","stats":[]}}]"#),
        format!("[{}]", "[".repeat(10_000)),
    ];
    for text in hostile {
        page.run(
            "localStorage.setItem(arguments[0], arguments[1]);",
            vec![SNAPSHOTS_KEY.into(), text.clone().into()],
        )
        .await;
        page.goto(&url).await;
        // The page runs (its pill answers) and shows no numbers, and no age.
        page.until("the pill", || async {
            let pill = page.pill().await;
            if pill.is_empty() { Err(pill) } else { Ok(()) }
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(page.card(BASE, "current").await, None, "{text:.60}");
        assert_eq!(page.text("#as-of").await, None, "{text:.60}");
        let address_shown = page
            .run(
                "const i = document.getElementById('address-input'); return i ? i.value : null;",
                vec![],
            )
            .await;
        assert!(
            address_shown.as_str().is_some(),
            "the page still renders after {text:.60}"
        );
    }
    page.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tab_hidden_for_minutes_is_live_again_soon_after_it_is_shown() {
    let stack = Stack::start("e2e-hidden", true).await;
    let driver = Chromedriver::start().await;
    let address = unique_address();
    stack.report(&address, BASE, today() - 1);

    let page = Page::open(&driver, &stack.page_url(&address_query(&address))).await;
    until_live_with(&page, BACK_LIVE, BASE, "1").await;

    page.watch_text(&format!("article[data-chain='{BASE}'] .current"), "2")
        .await;
    page.hide().await;
    stack.report(&address, BASE, today());
    tokio::time::sleep(HIDDEN_FOR).await;
    let shown = Instant::now();
    let shown_at_ms = unix_millis();
    page.show().await;
    until_live_with(&page, LIVE_AFTER_SHOWN, BASE, "2").await;
    println!("shown → live with the news: {:?}", shown.elapsed());
    // The page really was frozen: the report made while it was hidden reached the screen only
    // once it was shown (not minutes before).
    let seen_at = page.until_seen().await;
    assert!(
        seen_at >= shown_at_ms - 1000.0,
        "the news was on screen {:.0} ms before the tab was shown: it was never hidden",
        shown_at_ms - seen_at
    );
    page.close().await;
}
