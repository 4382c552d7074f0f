//! The runtime (`stdb-client`, native transport) against a real SpacetimeDB with the module.

use onepulse_domain::{Address, Chain, GmDay, GmReport};
use onepulse_gm_stats::{AddressChain, GmStatsRow, REPORT_GM, stats_query, stats_query_on};
use std::time::Duration;
use stdb_client::native::NativeConnection;
use stdb_client::{
    Cause, Change, Compression, ConnectOptions, ConnectionError, Event, ReducerOutcome,
};
use test_kit::{TestDb, today, unique_address};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);

fn options(db: &TestDb) -> ConnectOptions {
    ConnectOptions::new(db.url(), db.database())
}

async fn connect(options: &ConnectOptions) -> (NativeConnection, UnboundedReceiver<Event>) {
    within(NativeConnection::connect(options, |core| {
        core.register_table::<GmStatsRow>()
    }))
    .await
    .expect("connect")
}

/// A connection whose (fresh, anonymous) identity the owner made a reporter, so that its
/// `report_gm` calls are authorized.
async fn connect_reporter(
    db: &TestDb,
    options: &ConnectOptions,
) -> (NativeConnection, UnboundedReceiver<Event>) {
    let (connection, events) = connect(options).await;
    db.add_reporter(&connection.identity().to_hex());
    (connection, events)
}

/// Awaits `future`, failing the test instead of hanging when it takes too long.
async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    timeout(WAIT, future).await.expect("answered in time")
}

async fn report(
    connection: &NativeConnection,
    address: &Address,
    chain: Chain,
    day: i32,
) -> ReducerOutcome {
    let report = GmReport::new(address.clone(), chain, GmDay::from_number(day));
    within(connection.call_reducer(REPORT_GM, &report.args()))
        .await
        .expect("call report_gm")
}

/// Waits for the next row changes of the GM table.
async fn next_changes(
    events: &mut UnboundedReceiver<Event>,
) -> (Vec<Change<std::sync::Arc<GmStatsRow>>>, Cause) {
    loop {
        let event = timeout(WAIT, events.recv())
            .await
            .expect("an event in time")
            .expect("events open");
        if let Event::RowsChanged(changes) = event {
            return (changes.of::<GmStatsRow>(), (*changes.cause).clone());
        }
    }
}

fn cached_keys(connection: &NativeConnection) -> Vec<String> {
    let mut keys = connection
        .with_table::<GmStatsRow, _>(|t| {
            t.iter()
                .map(|r| r.address_chain.to_string())
                .collect::<Vec<_>>()
        })
        .expect("table registered");
    keys.sort();
    keys
}

#[tokio::test]
async fn anonymous_connect_gives_a_token_that_reconnects_as_the_same_identity() {
    let db = TestDb::from_env();
    let (first, _) = connect(&options(&db)).await;
    let token = first
        .new_token()
        .expect("an anonymous connect yields a token")
        .to_owned();
    let mut with_token = options(&db);
    with_token.token = Some(token);
    let (second, mut events) = connect(&with_token).await;
    assert_eq!(second.identity(), first.identity());
    assert_ne!(second.connection_id(), first.connection_id());
    assert_eq!(
        second.new_token(),
        None,
        "the echoed 60-second token is not offered for keeping"
    );
    assert!(matches!(
        events.recv().await,
        Some(Event::Connected {
            new_token: None,
            ..
        })
    ));
}

#[tokio::test]
async fn a_rejected_token_is_reported_as_such() {
    let db = TestDb::from_env();
    let mut bad = options(&db);
    bad.token = Some("not-a-jwt".into());
    let error = NativeConnection::connect(&bad, |_| {}).await.unwrap_err();
    assert!(
        matches!(error, ConnectionError::TokenRejected(_)),
        "{error}"
    );
}

#[tokio::test]
async fn subscription_sees_exactly_its_rows_updates_and_leaves_on_unsubscribe() {
    let db = TestDb::from_env();
    let mine = unique_address();
    let other = unique_address();
    let (reporter, _) = connect_reporter(&db, &options(&db)).await;
    let day = today() - 10;
    for (address, chain) in [
        (&mine, Chain::Base),
        (&mine, Chain::Celo),
        (&other, Chain::Base),
    ] {
        assert_eq!(
            report(&reporter, address, chain, day).await,
            ReducerOutcome::Committed
        );
    }

    let (watcher, mut events) = connect(&options(&db)).await;
    let subscription = watcher
        .subscribe([stats_query(&mine)])
        .await
        .expect("subscribe");
    assert_eq!(
        cached_keys(&watcher),
        [format!("{mine}:42220"), format!("{mine}:8453")]
    );
    let (initial, cause) = next_changes(&mut events).await;
    assert_eq!(initial.len(), 2);
    assert_eq!(cause, Cause::SubscriptionApplied);

    assert_eq!(
        report(&reporter, &mine, Chain::Base, day + 1).await,
        ReducerOutcome::Committed
    );
    let (changes, cause) = next_changes(&mut events).await;
    match changes.as_slice() {
        [Change::Update { old, new }] => {
            assert_eq!((old.current_streak, old.last_gm_day), (1, day as i32));
            assert_eq!((new.current_streak, new.last_gm_day), (2, day as i32 + 1));
        }
        other => panic!("expected one update, got {other:?}"),
    }
    match cause {
        Cause::Reducer(event) => {
            assert_eq!(event.reducer, REPORT_GM);
            assert_eq!(event.caller_identity, reporter.identity());
            assert_eq!(event.request_id, None, "the watcher did not make the call");
        }
        other => panic!("{other:?}"),
    }

    watcher.unsubscribe(subscription).expect("unsubscribe");
    let (gone, cause) = next_changes(&mut events).await;
    assert_eq!(cause, Cause::SubscriptionEnded);
    assert_eq!(
        gone.iter()
            .filter(|c| matches!(c, Change::Delete(_)))
            .count(),
        2
    );
    assert!(cached_keys(&watcher).is_empty());
}

#[tokio::test]
async fn overlapping_subscriptions_keep_shared_rows_after_one_ends() {
    let db = TestDb::from_env();
    let address = unique_address();
    let (connection, _) = connect_reporter(&db, &options(&db)).await;
    for chain in [Chain::Base, Chain::Optimism] {
        assert_eq!(
            report(&connection, &address, chain, today()).await,
            ReducerOutcome::Committed
        );
    }
    let all = within(connection.subscribe([stats_query(&address)]))
        .await
        .unwrap();
    let base = connection
        .subscribe([stats_query_on(&address, Chain::Base)])
        .await
        .unwrap();
    assert_eq!(cached_keys(&connection).len(), 2);
    connection.unsubscribe(all).unwrap();
    // Wait for the server to confirm: the Optimism row leaves, the Base row stays.
    for _ in 0..200 {
        if cached_keys(&connection).len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(cached_keys(&connection), [format!("{address}:8453")]);
    connection.unsubscribe(base).unwrap();
}

#[tokio::test]
async fn a_failing_report_carries_the_reducers_message() {
    let db = TestDb::from_env();
    let (connection, _) = connect(&options(&db)).await;
    let args = (
        unique_address().as_str().to_owned(),
        1i32,
        1i32,
        None::<String>,
        None::<i64>,
        None::<String>,
        None::<String>,
    );
    match within(connection.call_reducer(REPORT_GM, &args))
        .await
        .unwrap()
    {
        ReducerOutcome::Failed(message) => assert!(message.contains("invalid chain"), "{message}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn one_off_query_returns_the_same_rows_as_sql_over_http() {
    let db = TestDb::from_env();
    let address = unique_address();
    let (connection, _) = connect_reporter(&db, &options(&db)).await;
    for (chain, day) in [
        (Chain::Base, 100),
        (Chain::Celo, 200),
        (Chain::Optimism, 300),
    ] {
        assert_eq!(
            report(&connection, &address, chain, day).await,
            ReducerOutcome::Committed
        );
    }
    let mut rows = connection
        .one_off_query::<GmStatsRow>(&stats_query(&address))
        .await
        .unwrap();
    rows.sort_by_key(|r| r.chain_id);
    let http = db.rows_of(&address);
    assert_eq!(rows.len(), 3);
    // The same row type over the WebSocket and over SQL: every field agrees.
    assert_eq!(rows, http);
    let error = connection
        .one_off_query::<GmStatsRow>("SELECT * FROM no_such_table")
        .await
        .unwrap_err();
    assert!(matches!(error, ConnectionError::Query(_)), "{error}");
}

#[tokio::test]
async fn gzip_compressed_subscription_of_thousands_of_rows_decodes() {
    let db = TestDb::from_env();
    const ROWS: usize = 3000;
    const DAY: i64 = 4321;
    let (reporter, _) = connect_reporter(&db, &options(&db)).await;
    let mut pending = Vec::with_capacity(ROWS);
    let mut addresses = Vec::with_capacity(ROWS);
    for _ in 0..ROWS {
        let address = unique_address();
        let args =
            GmReport::new(address.clone(), Chain::Base, GmDay::from_number(DAY as i32)).args();
        pending.push(reporter.call_reducer_later(REPORT_GM, &args).unwrap());
        addresses.push(address);
    }
    for outcome in pending {
        assert_eq!(within(outcome).await.unwrap(), ReducerOutcome::Committed);
    }
    let mut gzip = options(&db);
    gzip.compression = Compression::Gzip;
    let (watcher, _) = connect(&gzip).await;
    watcher
        .subscribe([format!(
            "SELECT * FROM gm_stats_by_address WHERE last_gm_day = {DAY}"
        )])
        .await
        .unwrap();
    let cached = watcher.with_table::<GmStatsRow, _>(|t| t.len()).unwrap();
    assert_eq!(cached, ROWS);
    assert!(
        watcher.inspect(|core| core.stats().gzip_frames) > 0,
        "the big frame came gzip-compressed"
    );
    let sample = &addresses[ROWS / 2];
    let row = watcher
        .with_table::<GmStatsRow, _>(|t| {
            t.get(&AddressChain::from(format!("{sample}:8453").as_str()))
        })
        .flatten()
        .expect("a seeded row is cached");
    assert_eq!(row.last_gm_day, DAY as i32);

    let mut plain = options(&db);
    plain.compression = Compression::None;
    let (uncompressed, _) = connect(&plain).await;
    uncompressed
        .subscribe([format!(
            "SELECT * FROM gm_stats_by_address WHERE last_gm_day = {DAY}"
        )])
        .await
        .unwrap();
    assert_eq!(
        uncompressed.with_table::<GmStatsRow, _>(|t| t.len()),
        Some(ROWS)
    );
    assert_eq!(uncompressed.inspect(|core| core.stats().gzip_frames), 0);
}

#[tokio::test]
async fn a_bad_query_fails_the_subscription_with_the_servers_message() {
    let db = TestDb::from_env();
    let (connection, _) = connect(&options(&db)).await;
    let error = connection
        .subscribe(["SELECT * FROM no_such_table"])
        .await
        .unwrap_err();
    match error {
        ConnectionError::Subscription(message) => assert!(!message.is_empty()),
        other => panic!("{other}"),
    }
    connection.close();
    for _ in 0..200 {
        if connection.is_closed() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let closed = connection
        .call_reducer(
            REPORT_GM,
            &GmReport::new(unique_address(), Chain::Base, GmDay::from_number(1)).args(),
        )
        .await;
    assert!(
        matches!(closed, Err(ConnectionError::Closed(_))),
        "{closed:?}"
    );
}

/// Heartbeat probes over a real socket: answered by SpacetimeDB, so the connection stays live,
/// and invisible — no event, no change to the cache.
#[tokio::test]
async fn heartbeat_probes_are_answered_and_leave_no_trace() {
    let db = TestDb::from_env();
    let mut options = options(&db);
    options.heartbeat.idle = Duration::from_millis(100);
    options.heartbeat.timeout = Duration::from_secs(3);
    let (connection, mut events) = connect(&options).await;
    let mut status = connection.status_changes();
    status.borrow_and_update();
    let address = unique_address();
    within(connection.subscribe([stats_query(&address)]))
        .await
        .expect("subscribed");
    while events.try_recv().is_ok() {}
    let frames_before = connection.inspect(|core| core.stats().frames);

    tokio::time::sleep(Duration::from_millis(1500)).await;

    let frames = connection.inspect(|core| core.stats().frames) - frames_before;
    assert!(
        (5..=20).contains(&frames),
        "about one probe answered per 100 ms of silence, got {frames}"
    );
    assert!(
        !status.has_changed().expect("status open"),
        "live all along: {:?}",
        connection.status()
    );
    assert!(events.try_recv().is_err(), "probes are not events");
    assert_eq!(cached_keys(&connection), Vec::<String>::new());
    connection.close();
}
