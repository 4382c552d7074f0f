//! The browser runtime in headless Chromium against the real server.
#![cfg(target_arch = "wasm32")]

use browser_tests::{connected, make_reporter, options, register, today, unique_address};
use gloo_storage::{LocalStorage, Storage};
use onepulse_domain::{Chain, GmDay, GmReport};
use onepulse_gm_stats::{GmStatsRow, REPORT_GM, stats_query};
use std::cell::RefCell;
use std::rc::Rc;
use stdb_client::browser::{BrowserConnection, token_key};
use stdb_client::{ConnectionStatus, Event, ReducerOutcome};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

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
                .map(|r| r.address_chain.clone())
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
        .with_table::<GmStatsRow, _>(|t| t.get(&format!("{address}:8453")))
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
