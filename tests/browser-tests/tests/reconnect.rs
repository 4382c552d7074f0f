//! The browser runtime reconnects by itself when the database goes away and comes back, and
//! probes a silent socket (the heartbeat) without anything showing.
#![cfg(target_arch = "wasm32")]

use browser_tests::{
    connected, control, eventually, make_reporter, options, register, restartable_options, today,
    unique_address,
};
use onepulse_domain::{Chain, GmDay, GmReport};
use onepulse_gm_stats::{AddressChain, GmStatsRow, REPORT_GM, stats_query};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use stdb_client::browser::BrowserConnection;
use stdb_client::{Change, ConnectionStatus, Event, ReducerOutcome};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[derive(Default)]
struct Seen {
    statuses: Vec<ConnectionStatus>,
    row_changes: usize,
    updates: usize,
    applied: usize,
}

#[wasm_bindgen_test]
async fn reconnects_after_a_restart_resubscribes_and_resyncs_quietly() {
    let options = restartable_options();
    let connection = BrowserConnection::shared(options.clone(), register).unwrap();
    make_reporter(&options, &connection).await;
    let address = unique_address();
    let day = GmDay::from_number(today() - 4);
    for chain in [Chain::Base, Chain::Celo] {
        let args = GmReport::new(address.clone(), chain, day).args();
        assert_eq!(
            connection.call_reducer(REPORT_GM, &args).await.unwrap(),
            ReducerOutcome::Committed
        );
    }
    connection
        .subscribe_applied([stats_query(&address)])
        .await
        .unwrap();

    let seen = Rc::new(RefCell::new(Seen::default()));
    let sink = Rc::clone(&seen);
    connection.on_status(move |s| sink.borrow_mut().statuses.push(s.clone()));
    let sink = Rc::clone(&seen);
    connection.on_event(move |event| match event {
        Event::SubscriptionApplied(_) => sink.borrow_mut().applied += 1,
        Event::RowsChanged(changes) => {
            let changes = changes.of::<GmStatsRow>();
            let mut seen = sink.borrow_mut();
            seen.row_changes += changes.len();
            seen.updates += changes
                .iter()
                .filter(|c| matches!(c, Change::Update { .. }))
                .count();
        }
        _ => {}
    });

    control("stop").await;
    eventually("reconnecting", || {
        matches!(connection.status(), ConnectionStatus::Reconnecting { .. })
    })
    .await;
    assert_eq!(
        connection.with_table::<GmStatsRow, _>(|t| t.len()),
        Some(2),
        "last data kept"
    );
    control("start").await;
    connected(&connection).await;
    eventually("the subscription applied again", || {
        seen.borrow().applied >= 1
    })
    .await;
    assert_eq!(seen.borrow().row_changes, 0, "unchanged rows made events");
    assert!(
        seen.borrow()
            .statuses
            .iter()
            .any(|s| matches!(s, ConnectionStatus::Reconnecting { .. })),
        "the UI was told about the outage"
    );

    let args = GmReport::new(address.clone(), Chain::Base, day.next()).args();
    assert_eq!(
        connection.call_reducer(REPORT_GM, &args).await.unwrap(),
        ReducerOutcome::Committed
    );
    eventually("the update after the restart", || {
        seen.borrow().updates == 1
    })
    .await;
    let row = connection
        .with_table::<GmStatsRow, _>(|t| t.get(&AddressChain::new(&address, Chain::Base)))
        .flatten()
        .unwrap();
    assert_eq!(row.current_streak, 2);
    connection.close();
}

/// Heartbeat probes over a real socket in Chromium: answered (the frame count grows), so the
/// socket stays live, and invisible — no status change, no event, nothing in the cache.
#[wasm_bindgen_test]
async fn heartbeat_probes_keep_a_live_socket_live_and_leave_no_trace() {
    let mut options = options();
    options.connect.heartbeat.idle = Duration::from_millis(100);
    options.connect.heartbeat.timeout = Duration::from_secs(3);
    let connection = BrowserConnection::shared(options, register).unwrap();
    connected(&connection).await;
    connection
        .subscribe_applied([stats_query(&unique_address())])
        .await
        .unwrap();
    let seen = Rc::new(RefCell::new((0usize, 0usize)));
    let sink = Rc::clone(&seen);
    connection.on_status(move |_| sink.borrow_mut().0 += 1);
    let sink = Rc::clone(&seen);
    connection.on_event(move |_| sink.borrow_mut().1 += 1);
    let before = connection.stats().frames;

    gloo_timers::future::sleep(Duration::from_millis(1500)).await;

    let answered = connection.stats().frames - before;
    assert!(
        (5..=20).contains(&answered),
        "about one probe answered per 100 ms of silence, got {answered}"
    );
    assert_eq!(*seen.borrow(), (0, 0), "no status change, no event");
    assert!(matches!(
        connection.status(),
        ConnectionStatus::Connected(_)
    ));
    assert_eq!(connection.with_table::<GmStatsRow, _>(|t| t.len()), Some(0));
    connection.close();
}

/// A tab that becomes visible probes at once instead of waiting for its (throttled) timer.
#[wasm_bindgen_test]
async fn a_visible_page_probes_at_once() {
    let mut options = options();
    options.connect.heartbeat.idle = Duration::from_secs(60);
    let connection = BrowserConnection::shared(options, register).unwrap();
    connected(&connection).await;
    gloo_timers::future::sleep(Duration::from_millis(200)).await;
    let before = connection.stats().frames;
    connection.page_visible();
    eventually("the probe's answer", || {
        connection.stats().frames == before + 1
    })
    .await;
    assert!(matches!(
        connection.status(),
        ConnectionStatus::Connected(_)
    ));
    connection.close();
}
