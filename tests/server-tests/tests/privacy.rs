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
                row.profile.fid(),
                row.profile.display_name(),
                row.profile.username()
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

/// Publishes `wasm` as `name` (a new database, or an update of it) as the holder of `token`.
fn publish(db: &TestDb, name: &str, wasm: &[u8], token: &str) {
    db.api()
        .publish(name, wasm, token, false)
        .unwrap_or_else(|e| panic!("publishing {name}: {e}"));
}

fn module_file(variable: &str) -> Vec<u8> {
    let path = std::env::var(variable)
        .unwrap_or_else(|_| panic!("{variable} is not set: run with `cargo xtask test`"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A database as a module before the migrations left it, named `upgrade-…`: published from the
/// fixture (`ONEPULSE_LEGACY_MODULE_WASM`: this module with feature `legacy-fixture`, whose
/// `init` seeds the old loopback link domains and records no migration, and which has no
/// `client_connected` hook) by a new owner, with one Base row whose profile columns are set
/// as the old `report_gm` set them, and two link domains the owner added (which no migration
/// may remove).
struct LegacyDatabase {
    name: String,
    owner: NewIdentity,
    address: Address,
    before: GmStatsRow,
}

/// The link domains the owner added to every [`LegacyDatabase`].
const OWNER_DOMAINS: [&str; 2] = ["localhost:8080", "onepulse.example"];

/// The link domains `init` of modules before the migrations seeded in every new database.
const OLD_DEFAULT_DOMAINS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

impl LegacyDatabase {
    fn publish(db: &TestDb) -> Self {
        let name = format!("upgrade-{}", test_kit::unique_nonce().to_ascii_lowercase());
        let owner = db.new_identity();
        publish(
            db,
            &name,
            &module_file("ONEPULSE_LEGACY_MODULE_WASM"),
            &owner.token,
        );
        db.api()
            .add_reporter(&name, &owner.token, &owner.identity)
            .expect("the owner is a reporter");
        let address = test_kit::unique_address();
        let key = format!("{}:{}", address.as_str(), Chain::Base.id());
        let owner_calls = |reducer: &str, args: serde_json::Value| {
            db.api()
                .call_as_owner(&name, &owner.token, reducer, &args)
                .unwrap_or_else(|e| panic!("{reducer}: {e}"));
        };
        owner_calls(
            REPORT_GM,
            test_kit::report_args(address.as_str(), Chain::Base.id(), today()),
        );
        owner_calls(
            "legacy_write_public_profile",
            json!([key, {"some": 4242}, {"some": "Old Name"}, {"some": "oldname"}]),
        );
        for rule in OWNER_DOMAINS {
            owner_calls("add_link_domain", json!([rule]));
        }
        let before = test_kit::gm_rows_of(db.api(), &name, &address).remove(0);
        assert_eq!(
            (before.profile.fid(), before.profile.username()),
            (Some(4242), Some("oldname")),
            "the fixture leaves the row as an older module did: names in the public table"
        );
        let legacy = Self {
            name,
            owner,
            address,
            before,
        };
        let mut seeded = OLD_DEFAULT_DOMAINS.to_vec();
        seeded.extend(OWNER_DOMAINS);
        seeded.sort_unstable();
        assert_eq!(
            legacy.link_domains(db),
            seeded,
            "the fixture's init seeded the old defaults"
        );
        legacy
    }

    fn call(&self, reducer: &str, args: serde_json::Value, token: Option<&str>) -> CallOutcome {
        TestDb::from_env()
            .api()
            .call_reducer(&self.name, reducer, &args, token)
            .unwrap_or_else(|e| panic!("{reducer}: {e}"))
    }

    fn owner_calls(&self, reducer: &str, args: serde_json::Value) {
        assert_eq!(
            self.call(reducer, args, Some(&self.owner.token)),
            CallOutcome::Committed,
            "{reducer} as the owner"
        );
    }

    /// The row, read anonymously over `/sql` (which runs no hook).
    fn rows(&self, db: &TestDb) -> Vec<GmStatsRow> {
        test_kit::gm_rows_of(db.api(), &self.name, &self.address)
    }

    /// The accepted link domain rules, sorted (private: read as the owner).
    fn link_domains(&self, db: &TestDb) -> Vec<String> {
        let results = db
            .api()
            .sql(
                &self.name,
                "SELECT rule FROM link_domain",
                Some(&self.owner.token),
            )
            .unwrap_or_else(|e| panic!("reading link_domain: {e}"));
        let mut rules: Vec<String> = results
            .iter()
            .flat_map(|r| &r.rows)
            .map(|row| match row.as_slice() {
                [serde_json::Value::String(rule)] => rule.clone(),
                other => panic!("a link_domain row: {other:?}"),
            })
            .collect();
        rules.sort_unstable();
        rules
    }

    /// The database as this module's migrations leave it: no personal data in the public
    /// table (the streak unchanged), the old default link domains gone, the owner's kept.
    fn assert_migrated(&self, db: &TestDb) {
        let after = self.rows(db);
        assert_no_personal_data(&after);
        assert_eq!(after.len(), 1);
        assert_eq!(
            (after[0].current_streak, after[0].all_time_gm_count),
            (self.before.current_streak, self.before.all_time_gm_count),
            "only the personal data changed"
        );
        let anonymous = sql_rows_of(db, &self.name, &format!("SELECT * FROM {TABLE}"));
        assert!(
            !anonymous.contains("oldname") && !anonymous.contains("Old Name"),
            "{anonymous}"
        );
        assert_eq!(self.link_domains(db), OWNER_DOMAINS);
    }

    /// The migrations ran once: a loopback domain the owner adds afterwards stays, whatever
    /// connects or migrates next.
    fn assert_migrations_run_once(&self, db: &TestDb) {
        self.owner_calls("add_link_domain", json!(["localhost"]));
        self.owner_calls("migrate", json!([]));
        let mut expected = vec!["localhost".to_owned()];
        expected.extend(OWNER_DOMAINS.map(str::to_owned));
        expected.sort_unstable();
        assert_eq!(self.link_domains(db), expected);
    }
}

/// The `migrate` reducer on its own: on the fixture, which has the real `migrate` but no
/// `client_connected` hook, so nothing else migrates it. A stranger's call is refused and
/// changes nothing; the owner's cleans the public table of the names an older module wrote
/// (SEC-005) and removes the link domains older modules seeded, keeping the owner's; calling
/// it again changes nothing.
#[test]
fn the_owner_s_migrate_cleans_what_older_modules_left() {
    let db = TestDb::from_env();
    let legacy = LegacyDatabase::publish(&db);
    let stranger = db.new_identity();
    assert!(matches!(
        legacy.call("migrate", json!([]), Some(&stranger.token)),
        CallOutcome::Failed(message) if message.contains("not authorized")
    ));
    assert_eq!(
        legacy.rows(&db)[0].profile.fid(),
        Some(4242),
        "a refused migrate changes nothing"
    );
    assert_eq!(legacy.link_domains(&db).len(), 5);
    for _ in 0..2 {
        legacy.owner_calls("migrate", json!([]));
        legacy.assert_migrated(&db);
    }
    legacy.assert_migrations_run_once(&db);
}

/// SEC-005 on upgrade: this module published over a database an older module wrote (the
/// fixture) migrates it at the first client connection, before the call that connected:
/// here an anonymous HTTP reducer call that is itself refused, or the owner re-adding a
/// loopback link domain (what the test setups do after publishing), which the migration then
/// does not remove. `cargo xtask db`/`dev` call `migrate` right after publishing as well, so
/// that `/sql` readers (no hook) never wait for a connection.
#[test]
fn publishing_this_module_over_an_older_one_migrates_at_the_first_connection() {
    let db = TestDb::from_env();
    for owner_connects_first in [false, true] {
        let legacy = LegacyDatabase::publish(&db);
        publish(
            &db,
            &legacy.name,
            &module_file("ONEPULSE_MODULE_WASM"),
            &legacy.owner.token,
        );
        if owner_connects_first {
            legacy.owner_calls("add_link_domain", json!(["127.0.0.1"]));
            let mut expected = vec!["127.0.0.1".to_owned()];
            expected.extend(OWNER_DOMAINS.map(str::to_owned));
            assert_eq!(
                legacy.link_domains(&db),
                expected,
                "migrated before the call: the owner's rule stays"
            );
            legacy.owner_calls("remove_link_domain", json!(["127.0.0.1"]));
        } else {
            assert!(matches!(
                legacy.call("unbind_wallet", json!([legacy.address.as_str()]), None),
                CallOutcome::Failed(_)
            ));
        }
        legacy.assert_migrated(&db);
        legacy.assert_migrations_run_once(&db);
    }
}

/// Every row of `query` on database `name`, read anonymously, as JSON text.
fn sql_rows_of(db: &TestDb, name: &str, query: &str) -> String {
    let results = db
        .api()
        .sql(name, query, None)
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    serde_json::to_string(&results.iter().map(|r| &r.rows).collect::<Vec<_>>())
        .expect("rows are JSON")
}
