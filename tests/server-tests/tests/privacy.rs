//! SEC-005: a wallet's Farcaster profile (fid, display name, username) is personal data. Only
//! the identities bound to the wallet and the module owner may read it, however a client asks:
//! `/sql`, a subscription to a whole table over the WebSocket, a one-off query, or the
//! reducer calls a full-update subscriber is told about.
//!
//! `gm_stats_by_address` (public) keeps its `fid`, `display_name` and `username` columns, always
//! empty; the profile lives in `wallet_profile`, filtered by row-level security to the wallets
//! the caller's identity is bound to (`wallet_binding`, itself filtered to the caller's own
//! bindings).

use local_spacetimedb::{CallOutcome, NewIdentity};
use onepulse_domain::{Address, Chain};
use onepulse_gm_stats::{GmStatsRow, REPORT_GM, TABLE, stats_query};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use stdb_client::native::NativeConnection;
use stdb_client::{AnyRow, Cause, Change, ConnectOptions, Event};
use test_kit::{PROFILE_TABLE, TestDb, TestWallet, WalletProfileRow, profile_query, today};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);

/// `set_profile(address, fid, display_name, username)` as `who`.
fn set_profile(
    db: &TestDb,
    who: &NewIdentity,
    address: &Address,
    fid: i64,
    display_name: &str,
    username: &str,
) {
    let outcome = db.call(
        "set_profile",
        json!([
            address.as_str(),
            {"some": fid},
            {"some": display_name},
            {"some": username}
        ]),
        Some(&who.token),
    );
    assert_eq!(outcome, CallOutcome::Committed, "set_profile");
}

/// A wallet bound to a fresh identity, with a GM on Base reported from the chain and a
/// profile set by that identity.
struct Profiled {
    wallet: TestWallet,
    me: NewIdentity,
}

impl Profiled {
    fn new(db: &TestDb, fid: i64, name: &str) -> Self {
        let wallet = TestWallet::unique();
        let me = db.bound_identity(&wallet);
        assert_eq!(
            db.report_gm(test_kit::report_args(
                wallet.address().as_str(),
                Chain::Base.id(),
                today()
            )),
            CallOutcome::Committed
        );
        set_profile(db, &me, &wallet.address(), fid, name, &name.to_lowercase());
        let stored = db
            .profile_of(&wallet.address())
            .expect("the profile is kept");
        assert_eq!(stored.fid, Some(fid), "the owner reads it");
        Self { wallet, me }
    }

    fn address(&self) -> Address {
        self.wallet.address()
    }
}

#[track_caller]
fn assert_no_personal_data(rows: &[GmStatsRow]) {
    for row in rows {
        assert_eq!(
            (
                row.fid,
                row.display_name.as_deref(),
                row.username.as_deref()
            ),
            (None, None, None),
            "{} carries personal data",
            row.address_chain
        );
    }
}

/// The rows of any table `query` returns over `/sql` to the holder of `token`.
fn sql_rows(db: &TestDb, query: &str, token: Option<&str>) -> Vec<Vec<serde_json::Value>> {
    db.api()
        .sql(db.database(), query, token)
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .into_iter()
        .next()
        .expect("one statement, one result")
        .rows
}

#[test]
fn over_sql_only_the_bound_identity_and_the_owner_read_a_profile() {
    let db = TestDb::from_env();
    let ann = Profiled::new(&db, 7, "Ann");
    let bob = Profiled::new(&db, 8, "Bob");
    let stranger = db.new_identity();
    let reporter = db.reporter().token.clone();
    let whole = format!("SELECT * FROM {PROFILE_TABLE}");

    // The public stats rows carry nothing personal.
    let rows = db.rows_of(&ann.address());
    assert_eq!(rows.len(), 1);
    assert_no_personal_data(&rows);

    // Anonymous, an unbound identity, a reporter: no profile, no binding, whatever the query.
    for token in [None, Some(stranger.token.as_str()), Some(reporter.as_str())] {
        assert_eq!(db.profiles_seen_by(&whole, token), []);
        assert_eq!(
            db.profiles_seen_by(&profile_query(&ann.address()), token),
            []
        );
        let projected = format!("SELECT address, fid, username FROM {PROFILE_TABLE}");
        assert!(sql_rows(&db, &projected, token).is_empty());
        let count = format!("SELECT COUNT(*) AS n FROM {PROFILE_TABLE}");
        assert_eq!(sql_rows(&db, &count, token), [[json!(0)]]);
        assert!(sql_rows(&db, "SELECT * FROM wallet_binding", token).is_empty());
    }

    // Each bound identity reads its own wallet's profile, and only that.
    for (who, other) in [(&ann, &bob), (&bob, &ann)] {
        let seen = db.profiles_seen_by(&whole, Some(&who.me.token));
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].address, who.address().as_str());
        assert_eq!(seen[0], db.profile_of(&who.address()).expect("stored"));
        assert_eq!(
            db.profiles_seen_by(&profile_query(&other.address()), Some(&who.me.token)),
            []
        );
        let joined = format!(
            "SELECT {PROFILE_TABLE}.* FROM {PROFILE_TABLE} JOIN wallet_binding \
             ON {PROFILE_TABLE}.address = wallet_binding.address"
        );
        assert_eq!(db.profiles_seen_by(&joined, Some(&who.me.token)), seen);
        // Its own links, and no one else's.
        let links = sql_rows(&db, "SELECT * FROM wallet_binding", Some(&who.me.token));
        assert_eq!(links.len(), 1, "{links:?}");
        assert_eq!(links[0][1], json!(who.address().as_str()));
    }
    assert_eq!(
        db.profiles_seen_by(&whole, Some(&ann.me.token))[0]
            .username
            .as_deref(),
        Some("ann")
    );

    // Unbinding ends the right to read.
    assert_eq!(
        db.call(
            "unbind_wallet",
            json!([ann.address().as_str()]),
            Some(&ann.me.token)
        ),
        CallOutcome::Committed
    );
    assert_eq!(db.profiles_seen_by(&whole, Some(&ann.me.token)), []);
    assert!(db.profile_of(&ann.address()).is_some(), "the profile stays");
}

#[test]
fn report_gm_refuses_personal_data() {
    let db = TestDb::from_env();
    let address = test_kit::unique_address();
    let outcome = db.report_gm(json!([
        address.as_str(),
        Chain::Base.id(),
        today(),
        null,
        {"some": 42},
        {"none": []},
        {"some": "ann"}
    ]));
    match outcome {
        CallOutcome::Failed(message) => assert_eq!(
            message,
            "report_gm takes no Farcaster profile: fid, username must be None (a reducer's \
             arguments reach every subscriber of the rows it changes); the wallet's bound \
             identity sets the profile with set_profile"
        ),
        CallOutcome::Committed => panic!("a report with personal data was accepted"),
    }
    assert!(db.rows_of(&address).is_empty());
    assert!(db.profile_of(&address).is_none());
}

fn options(db: &TestDb, token: Option<&str>) -> ConnectOptions {
    let mut options = ConnectOptions::new(db.url(), db.database());
    options.token = token.map(str::to_owned);
    options
}

/// A connection (anonymous when `token` is `None`) that knows both tables' rows.
async fn connect(db: &TestDb, token: Option<&str>) -> (NativeConnection, UnboundedReceiver<Event>) {
    timeout(
        WAIT,
        NativeConnection::connect(&options(db, token), |core| {
            core.register_table::<GmStatsRow>();
            core.register_table::<WalletProfileRow>();
        }),
    )
    .await
    .expect("connected in time")
    .expect("connect")
}

fn cached_profiles(connection: &NativeConnection) -> Vec<WalletProfileRow> {
    connection
        .with_table::<WalletProfileRow, _>(|t| t.iter().map(|r| (**r).clone()).collect())
        .expect("registered")
}

fn cached_stats(connection: &NativeConnection) -> Vec<GmStatsRow> {
    connection
        .with_table::<GmStatsRow, _>(|t| t.iter().map(|r| (**r).clone()).collect())
        .expect("registered")
}

/// The next row changes of `table`, with their cause.
async fn next_changes_of(
    events: &mut UnboundedReceiver<Event>,
    table: &str,
) -> (Vec<Change<AnyRow>>, Cause) {
    loop {
        let event = timeout(WAIT, events.recv())
            .await
            .expect("an event in time")
            .expect("events open");
        if let Event::RowsChanged(changes) = event
            && changes.table == table
        {
            return (changes.changes, (*changes.cause).clone());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_anonymous_subscriber_to_whole_tables_gets_no_profile() {
    let db = TestDb::from_env();
    let ann = tokio::task::block_in_place(|| Profiled::new(&db, 11, "Ann"));
    let (anonymous, mut events) = connect(&db, None).await;
    for table in [TABLE, PROFILE_TABLE] {
        timeout(
            WAIT,
            anonymous.subscribe([format!("SELECT * FROM {table}")]),
        )
        .await
        .expect("in time")
        .unwrap_or_else(|e| panic!("subscribed to the whole {table}: {e}"));
        if table == TABLE {
            let (_, cause) = next_changes_of(&mut events, TABLE).await;
            assert_eq!(cause, Cause::SubscriptionApplied);
            let stats = cached_stats(&anonymous);
            assert!(
                stats.iter().any(|r| r.address == ann.address().as_str()),
                "the whole table is there"
            );
            assert_no_personal_data(&stats);
        }
    }
    assert_eq!(cached_profiles(&anonymous), []);

    // One-off queries: the same.
    let one_off: Vec<WalletProfileRow> = timeout(
        WAIT,
        anonymous.one_off_query(&format!("SELECT * FROM {PROFILE_TABLE}")),
    )
    .await
    .expect("in time")
    .expect("one-off query");
    assert_eq!(one_off, []);
    let rows: Vec<GmStatsRow> =
        timeout(WAIT, anonymous.one_off_query(&stats_query(&ann.address())))
            .await
            .expect("in time")
            .expect("one-off query");
    assert_eq!(rows.len(), 1);
    assert_no_personal_data(&rows);

    // A profile change is not even announced to it (a full update would carry the call's
    // arguments): the next transaction it hears of is the next GM.
    tokio::task::block_in_place(|| {
        set_profile(&db, &ann.me, &ann.address(), 12, "Ann B.", "annb");
        assert_eq!(
            db.report_gm(test_kit::report_args(
                ann.address().as_str(),
                Chain::Base.id(),
                today() + 1
            )),
            CallOutcome::Committed
        );
    });
    let (changes, cause) = next_changes_of(&mut events, TABLE).await;
    match cause {
        Cause::Reducer(event) => assert_eq!(event.reducer, REPORT_GM),
        other => panic!("expected the GM, got {other:?}"),
    }
    for change in &changes {
        if let Some(row) = change
            .downcast::<GmStatsRow>()
            .and_then(|c| c.current().cloned())
        {
            assert_no_personal_data(&[Arc::unwrap_or_clone(row)]);
        }
    }
    assert_eq!(cached_profiles(&anonymous), []);
    assert_no_personal_data(&cached_stats(&anonymous));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bound_identity_subscribes_to_its_own_profile_and_sees_no_other() {
    let db = TestDb::from_env();
    let (ann, bob) = tokio::task::block_in_place(|| {
        (Profiled::new(&db, 21, "Ann"), Profiled::new(&db, 22, "Bob"))
    });
    let (ann_connection, mut ann_events) = connect(&db, Some(&ann.me.token)).await;
    let (bob_connection, _) = connect(&db, Some(&bob.me.token)).await;
    for connection in [&ann_connection, &bob_connection] {
        timeout(
            WAIT,
            connection.subscribe([format!("SELECT * FROM {PROFILE_TABLE}")]),
        )
        .await
        .expect("in time")
        .expect("subscribed to the whole table");
    }
    let ann_sees = cached_profiles(&ann_connection);
    assert_eq!(ann_sees.len(), 1, "{ann_sees:?}");
    assert_eq!(
        (ann_sees[0].address.as_str(), ann_sees[0].fid),
        (ann.address().as_str(), Some(21))
    );
    let bob_sees = cached_profiles(&bob_connection);
    assert_eq!(bob_sees.len(), 1, "{bob_sees:?}");
    assert_eq!(bob_sees[0].address, bob.address().as_str());

    // One-off query for someone else's profile: nothing.
    let others: Vec<WalletProfileRow> = timeout(
        WAIT,
        ann_connection.one_off_query(&profile_query(&bob.address())),
    )
    .await
    .expect("in time")
    .expect("one-off query");
    assert_eq!(others, []);

    // Its own change arrives live; the other identity's view stays as it was.
    let _ = next_changes_of(&mut ann_events, PROFILE_TABLE).await; // the initial rows
    tokio::task::block_in_place(|| set_profile(&db, &ann.me, &ann.address(), 23, "Ann", "ann"));
    let (changes, _) = next_changes_of(&mut ann_events, PROFILE_TABLE).await;
    match changes.as_slice() {
        [change] => {
            let row = change
                .downcast::<WalletProfileRow>()
                .and_then(|c| c.current().cloned())
                .expect("an update of the profile");
            assert_eq!(row.fid, Some(23));
        }
        other => panic!("expected one change, got {other:?}"),
    }
    assert_eq!(cached_profiles(&bob_connection), bob_sees);

    // Unbinding takes the profile out of its view at once.
    tokio::task::block_in_place(|| {
        assert_eq!(
            db.call(
                "unbind_wallet",
                json!([ann.address().as_str()]),
                Some(&ann.me.token)
            ),
            CallOutcome::Committed
        );
    });
    let (changes, _) = next_changes_of(&mut ann_events, PROFILE_TABLE).await;
    assert!(
        matches!(changes.as_slice(), [Change::Delete(_)]),
        "{changes:?}"
    );
    assert_eq!(cached_profiles(&ann_connection), []);
}
