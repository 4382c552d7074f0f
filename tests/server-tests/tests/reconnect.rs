//! Automatic reconnection against a real server that is killed and started again on the same
//! data directory while clients are subscribed.

use onepulse_domain::{Chain, GmDay, GmReport};
use onepulse_gm_stats::{GmStatsRow, REPORT_GM, stats_query};
use std::time::Duration;
use stdb_client::native::NativeConnection;
use stdb_client::{Cause, Change, ConnectOptions, ConnectionStatus, Event, ReducerOutcome};
use test_kit::{PrivateServer, today, unique_address};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(30);

async fn wait_for_status(
    connection: &NativeConnection,
    wanted: impl Fn(&ConnectionStatus) -> bool,
) {
    let mut changes = connection.status_changes();
    timeout(WAIT, changes.wait_for(|s| wanted(s)))
        .await
        .expect("status reached in time")
        .expect("status channel open");
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_reconnect_after_a_server_restart_and_resync_without_flicker() {
    let mut server = PrivateServer::start("reconnect");
    let options = ConnectOptions::new(server.url(), "reconnect");
    let register = |core: &mut stdb_client::ClientCore| core.register_table::<GmStatsRow>();
    let (reporter, _) = NativeConnection::connect(&options, register).await.unwrap();
    server.add_reporter(&reporter.identity().to_hex());
    let (watcher, mut events) = NativeConnection::connect(&options, register).await.unwrap();
    let address = unique_address();
    let day = today() - 5;
    for chain in [Chain::Base, Chain::Celo] {
        let args = GmReport::new(address.clone(), chain, GmDay::from_number(day as i32)).args();
        assert_eq!(
            reporter.call_reducer(REPORT_GM, &args).await.unwrap(),
            ReducerOutcome::Committed
        );
    }
    watcher.subscribe([stats_query(&address)]).await.unwrap();
    while events.try_recv().is_ok() {}

    // SpacetimeDB 1.2 acknowledges commits before they are durable: a kill -9 right after may
    // lose them (seen here: both rows gone after the restart). This test is about the client,
    // so give the server a moment to persist them first.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.stop();
    wait_for_status(&watcher, |s| {
        matches!(s, ConnectionStatus::Reconnecting { .. })
    })
    .await;
    assert_eq!(
        watcher.with_table::<GmStatsRow, _>(|t| t.len()),
        Some(2),
        "last data kept while down"
    );

    server.restart();
    wait_for_status(&watcher, |s| matches!(s, ConnectionStatus::Connected(_))).await;
    assert!(
        matches!(watcher.status(), ConnectionStatus::Connected(identity) if identity == watcher.identity()),
        "same identity after the reconnect"
    );

    // Every subscription is applied again, and unchanged rows produce no events.
    let mut row_events = Vec::new();
    timeout(WAIT, async {
        loop {
            match events.recv().await.expect("events open") {
                Event::SubscriptionApplied(_) => break,
                Event::RowsChanged(changes) => row_events.push(changes),
                _ => {}
            }
        }
    })
    .await
    .expect("the subscription is applied again");
    assert!(
        row_events.is_empty(),
        "unchanged rows made events: {row_events:?}"
    );
    assert_eq!(watcher.with_table::<GmStatsRow, _>(|t| t.len()), Some(2));

    // A report made after the restart reaches the watcher.
    wait_for_status(&reporter, |s| matches!(s, ConnectionStatus::Connected(_))).await;
    let args = GmReport::new(
        address.clone(),
        Chain::Base,
        GmDay::from_number(day as i32 + 1),
    )
    .args();
    let outcome = timeout(WAIT, async {
        loop {
            // The reporter's socket may still be resyncing: retry a call that found it offline.
            match reporter.call_reducer(REPORT_GM, &args).await.unwrap() {
                ReducerOutcome::ConnectionLost => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                other => break other,
            }
        }
    })
    .await
    .expect("report in time");
    assert_eq!(outcome, ReducerOutcome::Committed);
    let update = timeout(WAIT, async {
        loop {
            if let Event::RowsChanged(changes) = events.recv().await.expect("events open") {
                break changes;
            }
        }
    })
    .await
    .expect("the update arrives");
    assert!(matches!(*update.cause, Cause::Reducer(_)));
    match update.of::<GmStatsRow>().as_slice() {
        [Change::Update { old, new }] => {
            assert_eq!((old.current_streak, new.current_streak), (1, 2))
        }
        other => panic!("expected one update, got {other:?}"),
    }

    watcher.close();
    reporter.close();
}
