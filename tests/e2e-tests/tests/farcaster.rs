//! OnePulse inside a Farcaster host: the test host (`@farcaster/miniapp-host`, another origin)
//! embeds the app in a 424 × 695 frame and provides a user context and a wallet.

use e2e_tests::{Chromedriver, FarcasterHost, HOST_FID, HOST_USERNAME, HOST_WALLET, Page, Stack};
use onepulse_domain::Address;
use serde_json::Value;
use test_kit::today;

const BASE: i32 = 8453;
const CELO: i32 = 42220;
const OPTIMISM: i32 = 10;

/// The host page: wide enough for its 424 × 695 frame.
async fn open_host(driver: &Chromedriver, host: &FarcasterHost, stack: &Stack) -> Page {
    let page = Page::open_sized(driver, 1000, 900, &host.url(&stack.page_url(""))).await;
    page.until("the host page", || async {
        let started = page
            .run("return document.body.dataset.hostStarted || '';", vec![])
            .await;
        if started == "true" {
            Ok(())
        } else {
            Err(started.to_string())
        }
    })
    .await;
    page
}

async fn host_ready_count(page: &Page) -> String {
    page.run("return document.body.dataset.readyCount || '0';", vec![])
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn in_a_host_the_app_shows_the_host_wallets_stats_and_calls_ready_once() {
    let stack = Stack::start("e2e-host", true).await;
    let host = FarcasterHost::start().await;
    let driver = Chromedriver::start().await;
    let wallet = Address::parse(HOST_WALLET).expect("the test wallet's address");
    stack.report(&wallet, BASE, today() - 1);
    stack.report(&wallet, BASE, today());

    let page = open_host(&driver, &host, &stack).await;
    page.until("ready() from the app", || async {
        let count = host_ready_count(&page).await;
        if count != "0" { Ok(()) } else { Err(count) }
    })
    .await;

    page.client()
        .enter_frame(0)
        .await
        .expect("into the app's frame");
    page.until_card(BASE, "current", "2").await;
    assert_eq!(
        page.text("#host-wallet").await.as_deref(),
        Some(HOST_WALLET)
    );
    let user = page.text("#farcaster-user").await.unwrap_or_default();
    assert!(
        user.contains(&format!("@{HOST_USERNAME}")) && user.contains(&HOST_FID.to_string()),
        "the host's user is shown: {user:?}"
    );
    assert_eq!(page.pill().await, "live");
    let layout = page
        .run(
            "return [window.innerWidth, window.innerHeight, document.documentElement.scrollWidth];",
            vec![],
        )
        .await;
    assert_eq!(layout[0], 424, "the host's frame width");
    assert_eq!(layout[1], 695, "the host's frame height");
    assert!(
        layout[2].as_i64().unwrap_or(i64::MAX) <= 424,
        "nothing overflows the frame sideways: {layout}"
    );

    page.client()
        .enter_parent_frame()
        .await
        .expect("back to the host");
    assert_eq!(host_ready_count(&page).await, "1", "ready() exactly once");
    page.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn linking_the_host_wallet_authorizes_report_gm_and_survives_a_reload() {
    let stack = Stack::start("e2e-link", true).await;
    let host = FarcasterHost::start().await;
    let driver = Chromedriver::start().await;
    let wallet = Address::parse(HOST_WALLET).expect("the test wallet's address");

    let page = open_host(&driver, &host, &stack).await;
    page.client()
        .enter_frame(0)
        .await
        .expect("into the app's frame");
    page.until_pill("live").await;
    page.until_text("#link-wallet", "Link wallet").await;

    // Not linked yet: the module refuses.
    page.click(&format!(".report-buttons button[data-chain='{CELO}']"))
        .await;
    page.until_text("#report-outcome", "not authorized").await;

    page.click("#link-wallet").await;
    page.until_text("#link-state", "Linked").await;
    page.click(&format!(".report-buttons button[data-chain='{CELO}']"))
        .await;
    page.until_text("#report-outcome", "recorded").await;
    page.until_card(CELO, "current", "1").await;
    assert_eq!(
        stack.profile(&wallet, CELO),
        (Some(HOST_FID), Some(HOST_USERNAME.to_owned())),
        "the Farcaster user from the host's context goes with the report"
    );

    page.client()
        .enter_parent_frame()
        .await
        .expect("back to the host");
    let signed = page
        .run(
            "return (window.__fcHost.rpc || []).filter(r => r.method === 'personal_sign').length;",
            vec![],
        )
        .await;
    assert_eq!(signed, Value::from(1), "the wallet signed once");

    // A reload keeps the stored token, so the identity and its binding.
    page.client().refresh().await.expect("reload the host");
    page.client()
        .enter_frame(0)
        .await
        .expect("into the app's frame");
    page.until_text("#link-state", "Linked").await;
    page.until_pill("live").await;
    page.click(&format!(".report-buttons button[data-chain='{OPTIMISM}']"))
        .await;
    page.until_text("#report-outcome", "recorded").await;
    page.until_card(OPTIMISM, "current", "1").await;
    page.close().await;
}
