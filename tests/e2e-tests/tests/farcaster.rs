//! OnePulse inside a Farcaster host: the test host (`@farcaster/miniapp-host`, another origin)
//! embeds the app in a 424 × 695 frame and provides a user context and a wallet — Hardhat's
//! account #0, whose transactions go to local chains (`tools/local-chain`) that the real chain
//! watcher follows, reporting to the test's SpacetimeDB.

use e2e_tests::chains::{RunDir, Watcher, host_rpc_params, start_chains};
use e2e_tests::{Chromedriver, FarcasterHost, HOST_FID, HOST_USERNAME, HOST_WALLET, Page, Stack};
use local_chain::LocalChain;
use onepulse_domain::Address;
use onepulse_evm::rpc::BlockId;
use serde_json::Value;
use test_kit::today;

const BASE: i32 = 8453;
const CELO: i32 = 42220;
const OPTIMISM: i32 = 10;

/// The host page: wide enough for its 424 × 695 frame.
async fn open_host(driver: &Chromedriver, host: &FarcasterHost, stack: &Stack) -> Page {
    open_host_with(driver, host, stack, &[]).await
}

/// The host page with more host parameters (the wallet's RPC URLs, `tx=reject`).
async fn open_host_with(
    driver: &Chromedriver,
    host: &FarcasterHost,
    stack: &Stack,
    params: &[(String, String)],
) -> Page {
    let url = host.url_with(&stack.page_url(""), params);
    let page = Page::open_sized(driver, 1000, 900, &url).await;
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

/// The transactions the host's wallet was asked to send (`eth_sendTransaction` params), read
/// from the host page (call it in the host's frame).
async fn host_transactions(page: &Page) -> Vec<Value> {
    page.run("return window.__fcHost.transactions || [];", vec![])
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// How many times the host's wallet got `method`.
async fn host_calls(page: &Page, method: &str) -> u64 {
    page.run(
        "return (window.__fcHost.rpc || []).filter(r => r.method === arguments[0]).length;",
        vec![method.into()],
    )
    .await
    .as_u64()
    .unwrap_or_default()
}

/// The GM button of a chain.
fn gm_button(chain_id: i32) -> String {
    format!(".gm-buttons button[data-chain='{chain_id}']")
}

/// `lastGMDay(wallet)` on `chain`, now.
fn last_gm_day(chain: &LocalChain, wallet: &Address) -> u64 {
    let evm_wallet = wallet.as_str().parse().expect("an EVM address");
    tokio::task::block_in_place(|| chain.last_gm_day(evm_wallet, BlockId::Latest))
        .expect("lastGMDay answers")
}

#[tokio::test(flavor = "multi_thread")]
async fn in_a_host_the_wallet_says_gm_on_chain_and_the_streak_follows_live_once_a_day() {
    let dir = RunDir::new("gm-on-chain");
    let stack = Stack::start("e2e-gm", true).await;
    let chains = start_chains(&[BASE as u64], &dir);
    let base = &chains[0];
    let _watcher = Watcher::start(&stack, &[base], &dir, &[]);
    let host = FarcasterHost::start().await;
    let driver = Chromedriver::start().await;
    let wallet = Address::parse(HOST_WALLET).expect("the test wallet's address");
    // Yesterday's GM, counted before: today's on-chain GM makes the streak 2.
    stack.report(&wallet, BASE, today() - 1);

    let page = open_host_with(&driver, &host, &stack, &host_rpc_params(&chains)).await;
    page.client()
        .enter_frame(0)
        .await
        .expect("into the app's frame");
    page.until_pill("live").await;
    page.until_card(BASE, "current", "1").await;
    page.until_text("#gm-wallet", "Farcaster wallet").await;
    // A marker a reload would wipe.
    page.run("window.__sameDocument = true; return true;", vec![])
        .await;

    page.click(&gm_button(BASE)).await;
    page.until_text("#gm-outcome", "confirmed").await;
    // The watcher reports the GM; the live subscription brings it, no reload, no write by the
    // app.
    page.until_card(BASE, "current", "2").await;
    page.until_card(BASE, "all-time", "2").await;
    page.until_text("#gm-outcome", "counted").await;
    assert_eq!(
        page.run("return window.__sameDocument === true;", vec![])
            .await,
        Value::Bool(true),
        "the streak changed without a reload"
    );
    assert_eq!(
        page.run(
            "return document.getElementById('gm-outcome').dataset.state;",
            vec![]
        )
        .await,
        Value::from("confirmed")
    );
    assert_eq!(
        last_gm_day(base, &wallet),
        today() as u64,
        "the chain has today's GM"
    );
    let row = stack.row_of(&wallet, BASE).expect("the Base row");
    assert_eq!(
        (row.current_streak, row.all_time_gm_count, row.last_gm_day),
        (2, 2, today())
    );
    let reported_tx = row
        .last_tx_hash
        .as_ref()
        .map(ToString::to_string)
        .expect("the GM's transaction is stored");

    page.client()
        .enter_parent_frame()
        .await
        .expect("back to the host");
    let sent = host_transactions(&page).await;
    assert_eq!(sent.len(), 1, "one transaction: {sent:?}");
    let contract = format!("{:#x}", base.contract());
    assert_eq!(
        sent[0]["to"].as_str().map(str::to_lowercase).as_deref(),
        Some(contract.as_str()),
        "gm() goes to DailyGM: {sent:?}"
    );
    assert_eq!(
        sent[0]["data"],
        Value::from("0xc0129d43"),
        "gm()'s calldata"
    );
    let answered_hash = page
        .run(
            "return (window.__fcHost.rpc || []).filter(r => r.method === 'eth_sendTransaction')\
             .map(r => r.result)[0] || null;",
            vec![],
        )
        .await;
    assert_eq!(
        answered_hash.as_str(),
        Some(reported_tx.as_str()),
        "the watcher reported the transaction the wallet sent"
    );

    // A second GM the same day: the contract refuses before anything is sent.
    let block_before = tokio::task::block_in_place(|| base.block_number()).expect("block number");
    page.client()
        .enter_frame(0)
        .await
        .expect("into the app's frame");
    page.click(&gm_button(BASE)).await;
    let refusal = page.until_text("#gm-outcome", "Already GM'd today").await;
    assert!(refusal.contains("Base"), "{refusal}");
    assert_eq!(
        page.run(
            "return document.getElementById('gm-outcome').dataset.state;",
            vec![]
        )
        .await,
        Value::from("failed")
    );
    assert_eq!(page.card(BASE, "current").await.as_deref(), Some("2"));
    assert_eq!(page.card(BASE, "all-time").await.as_deref(), Some("2"));
    page.client()
        .enter_parent_frame()
        .await
        .expect("back to the host");
    assert_eq!(
        host_transactions(&page).await.len(),
        1,
        "nothing more was sent"
    );
    assert!(
        host_calls(&page, "eth_estimateGas").await >= 2,
        "the contract was asked"
    );
    assert_eq!(
        tokio::task::block_in_place(|| base.block_number()).expect("block number"),
        block_before,
        "no block was mined for the refused GM"
    );
    assert_eq!(
        stack.row_of(&wallet, BASE),
        Some(row),
        "the refused GM changed nothing in the database"
    );
    page.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gm_declined_in_the_wallet_says_so_and_sends_nothing() {
    let dir = RunDir::new("gm-declined");
    let stack = Stack::start("e2e-gm-declined", true).await;
    let chains = start_chains(&[OPTIMISM as u64], &dir);
    let host = FarcasterHost::start().await;
    let driver = Chromedriver::start().await;
    let wallet = Address::parse(HOST_WALLET).expect("the test wallet's address");
    let mut params = host_rpc_params(&chains);
    params.push(("tx".into(), "reject".into()));

    let page = open_host_with(&driver, &host, &stack, &params).await;
    page.client()
        .enter_frame(0)
        .await
        .expect("into the app's frame");
    page.until_pill("live").await;
    page.until_text("#gm-wallet", "Farcaster wallet").await;
    page.click(&gm_button(OPTIMISM)).await;
    page.until_text("#gm-outcome", "Declined").await;
    assert_eq!(last_gm_day(&chains[0], &wallet), 0, "no GM on chain");
    page.client()
        .enter_parent_frame()
        .await
        .expect("back to the host");
    assert_eq!(
        host_calls(&page, "wallet_switchEthereumChain").await,
        1,
        "the wallet was switched to Optimism first"
    );
    page.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn linking_saves_the_farcaster_profile_and_on_chain_gms_carry_it_across_a_reload() {
    let dir = RunDir::new("link");
    let stack = Stack::start("e2e-link", true).await;
    let chains = start_chains(&[CELO as u64, OPTIMISM as u64], &dir);
    let chain_refs: Vec<&LocalChain> = chains.iter().collect();
    let _watcher = Watcher::start(&stack, &chain_refs, &dir, &[]);
    let host = FarcasterHost::start().await;
    let driver = Chromedriver::start().await;
    let wallet = Address::parse(HOST_WALLET).expect("the test wallet's address");
    let params = host_rpc_params(&chains);

    let page = open_host_with(&driver, &host, &stack, &params).await;
    page.client()
        .enter_frame(0)
        .await
        .expect("into the app's frame");
    page.until_pill("live").await;
    page.until_text("#link-wallet", "Link wallet").await;
    page.click("#link-wallet").await;
    page.until_text("#link-state", "Linked").await;

    // The profile set at linking (set_profile) is stored for the wallet, where only its linked
    // identities can read it; the public row the on-chain GM makes carries none (SEC-005).
    page.until_text("#gm-wallet", "Farcaster wallet").await;
    page.click(&gm_button(CELO)).await;
    page.until_text("#gm-outcome", "confirmed").await;
    page.until_card(CELO, "current", "1").await;
    assert_eq!(
        stack.profile(&wallet),
        (Some(HOST_FID), Some(HOST_USERNAME.to_owned())),
        "the Farcaster user from the host's context is stored for the wallet"
    );
    let row = stack.row_of(&wallet, CELO).expect("the Celo row");
    assert_eq!(
        (row.profile.fid(), row.profile.username()),
        (None, None),
        "no personal data in public"
    );

    page.client()
        .enter_parent_frame()
        .await
        .expect("back to the host");
    assert_eq!(
        host_calls(&page, "personal_sign").await,
        1,
        "the wallet signed once"
    );
    assert_eq!(host_transactions(&page).await.len(), 1);

    // A reload keeps the stored token, so the identity and its binding.
    page.client().refresh().await.expect("reload the host");
    page.client()
        .enter_frame(0)
        .await
        .expect("into the app's frame");
    page.until_text("#link-state", "Linked").await;
    page.until_pill("live").await;
    page.until_text("#gm-wallet", "Farcaster wallet").await;
    page.click(&gm_button(OPTIMISM)).await;
    page.until_text("#gm-outcome", "confirmed").await;
    page.until_card(OPTIMISM, "current", "1").await;
    assert_eq!(
        stack.profile(&wallet),
        (Some(HOST_FID), Some(HOST_USERNAME.to_owned())),
        "the profile is still the wallet's after a reload and a GM on another chain"
    );
    assert_eq!(last_gm_day(&chains[1], &wallet), today() as u64);
    page.close().await;
}
