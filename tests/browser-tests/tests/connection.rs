//! The browser runtime in headless Chromium against the real server.
#![cfg(target_arch = "wasm32")]

use browser_tests::{
    StorageDenied, connected, make_reporter, options, register, today, unique_address,
};
use gloo_storage::{LocalStorage, Storage};
use onepulse_domain::{Chain, GmDay, GmReport};
use onepulse_gm_stats::{AddressChain, GmStatsRow, REPORT_GM, stats_query};
use std::cell::RefCell;
use std::rc::Rc;
use stdb_client::browser::{BrowserConnection, forget_token, token_key};
use stdb_client::{Compression, ConnectionStatus, Event, ReducerOutcome};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[global_allocator]
static ALLOCATOR: heap_meter::Counting = heap_meter::Counting;

#[wasm_bindgen_test]
async fn one_connection_per_tab_and_the_token_is_kept_and_reused() {
    let options = options();
    let key = token_key(&options.connect);
    LocalStorage::delete(&key);

    let first = BrowserConnection::shared(options.clone(), register).unwrap();
    let statuses = Rc::new(RefCell::new(Vec::new()));
    let seen = Rc::clone(&statuses);
    first.on_status(move |s| seen.borrow_mut().push(s.clone()));
    let again =
        BrowserConnection::shared(options.clone(), |_| panic!("a second connection was built"))
            .unwrap();
    connected(&first).await;
    let identity = first.identity().unwrap();
    assert_eq!(
        again.identity(),
        Some(identity),
        "the second handle is the same connection"
    );
    assert!(
        matches!(statuses.borrow().last(), Some(ConnectionStatus::Connected(i)) if *i == identity)
    );
    let token: String = LocalStorage::get(&key).expect("token saved after the anonymous connect");
    first.close();
    assert!(matches!(first.status(), ConnectionStatus::Disconnected(_)));

    let second = BrowserConnection::shared(options, register).unwrap();
    connected(&second).await;
    assert_eq!(
        second.identity(),
        Some(identity),
        "the stored token brings back the same identity"
    );
    let kept: String = LocalStorage::get(&key).unwrap();
    assert_eq!(
        kept, token,
        "the 60-second token never replaces the stored one"
    );
    second.close();
}

#[wasm_bindgen_test]
async fn subscribe_see_rows_and_reducer_outcomes() {
    let options = options();
    let connection = BrowserConnection::shared(options.clone(), register).unwrap();
    make_reporter(&options, &connection).await;
    let address = unique_address();
    let day = GmDay::from_number(today() - 3);
    for chain in [Chain::Base, Chain::Optimism] {
        let args = GmReport::new(address.clone(), chain, day).args();
        assert_eq!(
            connection.call_reducer(REPORT_GM, &args).await.unwrap(),
            ReducerOutcome::Committed
        );
    }
    let bad = (
        address.as_str().to_owned(),
        1i32,
        1i32,
        None::<String>,
        None::<i64>,
        None::<String>,
        None::<String>,
    );
    match connection.call_reducer(REPORT_GM, &bad).await.unwrap() {
        ReducerOutcome::Failed(message) => assert!(message.contains("invalid chain"), "{message}"),
        other => panic!("expected a failure, got {other:?}"),
    }

    let updates = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&updates);
    connection.on_event(move |event| {
        if let Event::RowsChanged(changes) = event {
            sink.borrow_mut().extend(changes.of::<GmStatsRow>());
        }
    });
    connection
        .subscribe_applied([stats_query(&address)])
        .await
        .unwrap();
    let mut keys = connection
        .with_table::<GmStatsRow, _>(|t| {
            t.iter()
                .map(|r| r.address_chain.to_string())
                .collect::<Vec<_>>()
        })
        .unwrap();
    keys.sort();
    assert_eq!(keys, [format!("{address}:10"), format!("{address}:8453")]);
    assert_eq!(updates.borrow().len(), 2, "two inserts");

    let next = GmReport::new(address.clone(), Chain::Base, day.next()).args();
    assert_eq!(
        connection.call_reducer(REPORT_GM, &next).await.unwrap(),
        ReducerOutcome::Committed
    );
    let row = connection
        .with_table::<GmStatsRow, _>(|t| t.get(&AddressChain::new(&address, Chain::Base)))
        .flatten()
        .unwrap();
    assert_eq!(row.current_streak, 2);
    assert!(matches!(
        updates.borrow().last(),
        Some(stdb_client::Change::Update { .. })
    ));

    let rows = connection
        .one_off_query::<GmStatsRow>(&stats_query(&address))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    connection.close();
}

#[wasm_bindgen_test]
async fn a_rejected_stored_token_is_replaced() {
    let options = options();
    let key = token_key(&options.connect);
    LocalStorage::set(&key, "not-a-token").unwrap();
    let connection = BrowserConnection::shared(options, register).unwrap();
    connected(&connection).await;
    let stored: String = LocalStorage::get(&key).expect("a new token is stored");
    assert_ne!(stored, "not-a-token");
    assert_eq!(stored.split('.').count(), 3, "a JWT");
    connection.close();
}

/// A page denied storage still connects, calls and queries, without a panic: the token the
/// server gives its anonymous connect is kept in memory, so the next socket is the same
/// identity, and a token given in the options is the identity it connects as. Nothing is
/// written to storage meanwhile.
#[wasm_bindgen_test]
async fn a_page_denied_storage_keeps_its_tokens_in_memory() {
    let options = options();
    let key = token_key(&options.connect);
    // A known identity and its token, with storage allowed.
    LocalStorage::delete(&key);
    let known = BrowserConnection::shared(options.clone(), register).unwrap();
    connected(&known).await;
    let known_identity = known.identity().unwrap();
    let known_token: String = LocalStorage::get(&key).unwrap();
    known.close();
    LocalStorage::delete(&key);

    let denied = StorageDenied::deny();
    let first = BrowserConnection::shared(options.clone(), register).unwrap();
    connected(&first).await;
    let anonymous = first.identity().unwrap();
    assert_ne!(
        anonymous, known_identity,
        "no token to read: a new identity"
    );
    let rows = first
        .one_off_query::<GmStatsRow>(&stats_query(&unique_address()))
        .await
        .expect("a one-off query while storage is denied");
    assert!(rows.is_empty());
    first.close();
    let again = BrowserConnection::shared(options.clone(), register).unwrap();
    connected(&again).await;
    assert_eq!(
        again.identity(),
        Some(anonymous),
        "the token kept in memory brings the same identity back"
    );
    again.close();

    let mut given = options.clone();
    given.connect.token = Some(known_token);
    let as_known = BrowserConnection::shared(given, register).unwrap();
    connected(&as_known).await;
    assert_eq!(
        as_known.identity(),
        Some(known_identity),
        "the given token is the identity"
    );
    as_known.close();
    drop(denied);
    assert!(
        LocalStorage::get::<String>(&key).is_err(),
        "nothing was written while storage was denied"
    );
    forget_token(&options.connect);
    let fresh = BrowserConnection::shared(options, register).unwrap();
    connected(&fresh).await;
    let fresh_identity = fresh.identity().unwrap();
    assert!(
        fresh_identity != known_identity && fresh_identity != anonymous,
        "a forgotten token is not used again"
    );
    fresh.close();
}

/// Inserts `count` synthetic rows from `first` on with last GM on `day` (`seed_gm_stats`, as the
/// database owner).
async fn seed(first: u32, count: u32, day: i32) {
    let options = options();
    let Some(owner) = option_env!("ONEPULSE_OWNER_TOKEN") else {
        panic!("built without ONEPULSE_OWNER_TOKEN: run `cargo xtask test`");
    };
    let url = format!(
        "{}/v1/database/{}/call/seed_gm_stats",
        options.connect.http_base(),
        options.connect.database
    );
    let response = gloo_net::http::Request::post(&url)
        .header("Authorization", &format!("Bearer {owner}"))
        .header("Content-Type", "application/json")
        .body(format!("[{first}, {count}, {day}, false]"))
        .expect("the seed request")
        .send()
        .await
        .expect("seeded");
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

/// `close()` frees: a connection holding 20 000 rows (read where they lay in the WebSocket's
/// buffer; about 4 MiB of cache), closed and with every handle dropped, leaves the heap within
/// 1 MiB of where it was (its socket's callbacks and its timer hold it only weakly).
#[wasm_bindgen_test]
async fn a_closed_connection_and_its_cache_are_freed() {
    // Enough rows to weigh several MiB: the check below is that they are freed to within 1 MiB.
    const ROWS: usize = 40_000;
    const DAY: i32 = 2_000;
    seed(500_000, ROWS as u32, DAY).await;
    // A connection a previous test left open would be handed out (and freed) instead.
    BrowserConnection::shared(options(), register)
        .unwrap()
        .close();
    gloo_timers::future::sleep(std::time::Duration::from_millis(200)).await;
    let before = heap_meter::live();

    // Uncompressed, as the app asks (it is built without gzip): a gzip frame is inflated, not
    // read where it lies.
    let mut uncompressed = options();
    uncompressed.connect.compression = Compression::None;
    let connection = BrowserConnection::shared(uncompressed, register).unwrap();
    connected(&connection).await;
    connection
        .subscribe_applied([format!(
            "SELECT * FROM gm_stats_by_address WHERE last_gm_day = {DAY}"
        )])
        .await
        .unwrap();
    assert_eq!(
        connection.with_table::<GmStatsRow, _>(|t| t.len()),
        Some(ROWS)
    );
    // 40 000 rows are a 5.4 MB frame: read from the WebSocket's buffer, not copied in whole.
    assert_eq!(connection.stats().far_frames, 1);
    let held = heap_meter::live().saturating_sub(before);
    assert!(held > 3 << 20, "the cache holds the rows: {held} bytes");
    let again = connection.clone();
    connection.close();
    drop(connection);
    drop(again);
    // Let the socket's close and any callback already queued run.
    gloo_timers::future::sleep(std::time::Duration::from_millis(500)).await;

    let kept = heap_meter::live().saturating_sub(before);
    assert!(
        kept < 1 << 20,
        "{kept} bytes still held after close (the cache held {held})"
    );
}
