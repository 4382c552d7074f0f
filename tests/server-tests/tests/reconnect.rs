//! Automatic reconnection against a real server that is killed and started again on the same
//! data directory while clients are subscribed, and a link that stalls without closing.

use onepulse_domain::{Chain, GmDay, GmReport};
use onepulse_gm_stats::{GmStatsRow, REPORT_GM, stats_query};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use stdb_client::native::NativeConnection;
use stdb_client::{Cause, Change, ConnectOptions, ConnectionStatus, Event, ReducerOutcome};
use test_kit::{PrivateServer, TestDb, today, unique_address};
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
    let subscription = watcher.subscribe([stats_query(&address)]).await.unwrap();
    // The future completed after its event was sent: the stream holds it, nothing is left over
    // to be mistaken for the resync's later.
    let before_restart: Vec<Event> = std::iter::from_fn(|| events.try_recv().ok()).collect();
    assert!(
        before_restart
            .iter()
            .any(|e| matches!(e, Event::SubscriptionApplied(id) if *id == subscription)),
        "the applied event is in the stream when subscribe returns: {before_restart:?}"
    );

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
    assert!(
        matches!(*update.cause, Cause::Reducer(_)),
        "the report's own transaction, not {:?}",
        update.cause
    );
    match update.of::<GmStatsRow>().as_slice() {
        [Change::Update { old, new }] => {
            assert_eq!((old.current_streak, new.current_streak), (1, 2))
        }
        other => panic!("expected one update, got {other:?}"),
    }

    watcher.close();
    reporter.close();
}

/// A TCP relay to a server that can stall: while stalled it holds every byte both ways and
/// keeps the connections open — a dead mobile network, a NAT that forgot the connection.
struct StallingRelay {
    url: String,
    stalled: Arc<AtomicBool>,
}

impl StallingRelay {
    fn start(target: &str) -> Self {
        let target = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let stalled = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stalled);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let (Ok(client), Ok(server)) = (client, TcpStream::connect(&target)) else {
                    continue;
                };
                let (Ok(client_out), Ok(server_out)) = (client.try_clone(), server.try_clone())
                else {
                    continue;
                };
                pipe(client, server_out, Arc::clone(&flag));
                pipe(server, client_out, Arc::clone(&flag));
            }
        });
        Self { url, stalled }
    }

    fn stall(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::SeqCst);
    }
}

/// Copies `from` to `to`, holding the bytes while `stalled`.
fn pipe(mut from: TcpStream, mut to: TcpStream, stalled: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            let hold = || {
                while stalled.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                }
            };
            hold();
            let n = match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // Read just before the stall began: held too.
            hold();
            if to.write_all(&buffer[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// The heartbeat against a real server: a link that stops carrying bytes without closing is
/// noticed (status no longer Connected) within the heartbeat's worst case, and once it carries
/// bytes again the connection is live with what happened meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_link_is_noticed_by_the_heartbeat_and_replaced_when_it_is_back() {
    let db = TestDb::from_env();
    let relay = StallingRelay::start(db.url());
    let mut options = ConnectOptions::new(&relay.url, db.database());
    options.heartbeat.idle = Duration::from_millis(300);
    options.heartbeat.timeout = Duration::from_millis(700);
    let register = |core: &mut stdb_client::ClientCore| core.register_table::<GmStatsRow>();
    let (watcher, _events) = NativeConnection::connect(&options, register).await.unwrap();
    let direct = ConnectOptions::new(db.url(), db.database());
    let (reporter, _) = NativeConnection::connect(&direct, |_| {}).await.unwrap();
    db.add_reporter(&reporter.identity().to_hex());
    let address = unique_address();
    watcher.subscribe([stats_query(&address)]).await.unwrap();
    // Live over the relay for a while: probes are answered.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(matches!(watcher.status(), ConnectionStatus::Connected(_)));

    relay.stall(true);
    let stalled_at = Instant::now();
    wait_for_status(&watcher, |s| {
        matches!(s, ConnectionStatus::Reconnecting { .. })
    })
    .await;
    let noticed = stalled_at.elapsed();
    assert!(
        noticed <= options.heartbeat.worst_case() + Duration::from_millis(500),
        "noticed after {noticed:?}"
    );
    let args = GmReport::new(
        address.clone(),
        Chain::Base,
        GmDay::from_number(today() - 1),
    )
    .args();
    assert_eq!(
        reporter.call_reducer(REPORT_GM, &args).await.unwrap(),
        ReducerOutcome::Committed
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(watcher.with_table::<GmStatsRow, _>(|t| t.len()), Some(0));

    relay.stall(false);
    wait_for_status(&watcher, |s| matches!(s, ConnectionStatus::Connected(_))).await;
    timeout(WAIT, async {
        while watcher.with_table::<GmStatsRow, _>(|t| t.len()) != Some(1) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the report made during the stall arrives after it");
    watcher.close();
    reporter.close();
}

/// A service may start before its database: `connect_retrying` retries the first connect on the
/// core's schedule (no retry loop of the caller's) and is connected soon after the server is up.
#[tokio::test(flavor = "multi_thread")]
async fn a_retrying_connect_waits_for_a_server_that_is_not_up_yet() {
    let mut server = PrivateServer::start("first-connect");
    let options = ConnectOptions::new(server.url(), "first-connect");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.stop();
    let register = |core: &mut stdb_client::ClientCore| core.register_table::<GmStatsRow>();
    let connecting = tokio::spawn({
        let options = options.clone();
        async move { NativeConnection::connect_retrying(&options, register).await }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!connecting.is_finished(), "nothing to connect to yet");
    server.restart();
    let restarted = Instant::now();
    let (connection, _) = timeout(WAIT, connecting)
        .await
        .expect("connected in time")
        .expect("the task ran");
    assert!(
        restarted.elapsed() < Duration::from_secs(10),
        "reached {:?} after the restart",
        restarted.elapsed()
    );
    assert!(matches!(
        connection.status(),
        ConnectionStatus::Connected(_)
    ));
    connection.close();
}
