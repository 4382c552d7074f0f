//! The core against hand-built server frames (encoded with the official message types).

use crate::{
    Cause, Change, ClientCore, ClientError, Credentials, Event, FrameError, ReducerOutcome, Row,
    SubscriptionId, SubscriptionState,
};
use bytes::Bytes;
use proptest::prelude::*;
use spacetimedb_client_api_messages::energy::EnergyQuanta;
use spacetimedb_client_api_messages::websocket::{
    BsatnFormat, BsatnRowList, ClientMessage, CompressableQueryUpdate, DatabaseUpdate,
    IdentityToken, OneOffQueryResponse, OneOffTable, QueryId, QueryUpdate, ReducerCallInfo,
    RowSizeHint, ServerMessage, SubscribeMultiApplied, SubscriptionError, TableUpdate,
    TransactionUpdate, UnsubscribeMultiApplied, UpdateStatus,
};
use spacetimedb_lib::{ConnectionId, Identity, SpacetimeType, TimeDuration, Timestamp};
use spacetimedb_primitives::TableId;
use spacetimedb_sats::bsatn;
use std::sync::Arc;

#[derive(SpacetimeType, Debug, Clone, PartialEq)]
#[sats(crate = spacetimedb_lib)]
struct Player {
    id: u32,
    name: String,
    score: i32,
}

impl Row for Player {
    const TABLE: &'static str = "player";
    type Key = u32;
    fn primary_key(&self) -> &u32 {
        &self.id
    }
}

fn player(id: u32, name: &str, score: i32) -> Player {
    Player {
        id,
        name: name.into(),
        score,
    }
}

const ME: ConnectionId = ConnectionId::from_u128(7);
const OTHER: ConnectionId = ConnectionId::from_u128(8);

fn rows(rows: &[Player]) -> BsatnRowList {
    let mut data = Vec::new();
    let mut offsets = Vec::new();
    for row in rows {
        offsets.push(data.len() as u64);
        data.extend(bsatn::to_vec(row).unwrap());
    }
    BsatnRowList::new(RowSizeHint::RowOffsets(offsets.into()), Bytes::from(data))
}

fn query_update(deletes: &[Player], inserts: &[Player]) -> CompressableQueryUpdate<BsatnFormat> {
    CompressableQueryUpdate::Uncompressed(QueryUpdate {
        deletes: rows(deletes),
        inserts: rows(inserts),
    })
}

fn update(deletes: &[Player], inserts: &[Player]) -> DatabaseUpdate<BsatnFormat> {
    table(query_update(deletes, inserts))
}

fn table(update: CompressableQueryUpdate<BsatnFormat>) -> DatabaseUpdate<BsatnFormat> {
    DatabaseUpdate {
        tables: vec![TableUpdate {
            table_id: TableId(4096),
            table_name: "player".into(),
            num_rows: 1,
            updates: [update].into(),
        }],
    }
}

fn frame(message: ServerMessage<BsatnFormat>) -> Vec<u8> {
    let mut frame = vec![0];
    frame.extend(bsatn::to_vec(&message).unwrap());
    frame
}

fn identity_frame() -> Vec<u8> {
    frame(ServerMessage::IdentityToken(IdentityToken {
        identity: Identity::ZERO,
        token: "long-lived".into(),
        connection_id: ME,
    }))
}

fn applied(query_id: u32, update: DatabaseUpdate<BsatnFormat>) -> Vec<u8> {
    frame(ServerMessage::SubscribeMultiApplied(
        SubscribeMultiApplied {
            request_id: query_id,
            total_host_execution_duration_micros: 0,
            query_id: QueryId::new(query_id),
            update,
        },
    ))
}

fn unsubscribed(query_id: u32, update: DatabaseUpdate<BsatnFormat>) -> Vec<u8> {
    frame(ServerMessage::UnsubscribeMultiApplied(
        UnsubscribeMultiApplied {
            request_id: query_id,
            total_host_execution_duration_micros: 0,
            query_id: QueryId::new(query_id),
            update,
        },
    ))
}

fn transaction(
    caller: ConnectionId,
    request_id: u32,
    status: UpdateStatus<BsatnFormat>,
) -> Vec<u8> {
    transaction_of("set_score", caller, request_id, status)
}

fn transaction_of(
    reducer: &str,
    caller: ConnectionId,
    request_id: u32,
    status: UpdateStatus<BsatnFormat>,
) -> Vec<u8> {
    frame(ServerMessage::TransactionUpdate(TransactionUpdate {
        status,
        timestamp: Timestamp::from_micros_since_unix_epoch(1_000_000),
        caller_identity: Identity::ZERO,
        caller_connection_id: caller,
        reducer_call: ReducerCallInfo {
            reducer_name: reducer.into(),
            reducer_id: 0,
            args: Box::new([]),
            request_id,
        },
        energy_quanta_used: EnergyQuanta::ZERO,
        total_host_execution_duration: TimeDuration::ZERO,
    }))
}

fn connected_core() -> ClientCore {
    let mut core = ClientCore::new(Credentials::Anonymous);
    core.register_table::<Player>();
    core.handle_frame(&identity_frame());
    drain(&mut core);
    core
}

fn drain(core: &mut ClientCore) -> Vec<Event> {
    std::iter::from_fn(|| core.poll_event()).collect()
}

fn sent(core: &mut ClientCore) -> Vec<ClientMessage<Box<[u8]>>> {
    std::iter::from_fn(|| core.poll_transmit())
        .map(|bytes| bsatn::from_slice(&bytes).unwrap())
        .collect()
}

fn changes(events: &[Event]) -> Vec<Change<Arc<Player>>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::RowsChanged(c) => Some(c.of::<Player>()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn names(changes: &[Change<Arc<Player>>]) -> Vec<String> {
    let mut names: Vec<String> = changes
        .iter()
        .map(|c| match c {
            Change::Insert(r) => format!("+{}", r.name),
            Change::Delete(r) => format!("-{}", r.name),
            Change::Update { old, new } => format!("{}>{}", old.name, new.name),
        })
        .collect();
    names.sort();
    names
}

#[test]
fn identity_token_surfaces_the_token_only_for_anonymous_connects() {
    let mut anonymous = ClientCore::new(Credentials::Anonymous);
    anonymous.handle_frame(&identity_frame());
    let mut known = ClientCore::new(Credentials::Token);
    known.handle_frame(&identity_frame());
    match (drain(&mut anonymous).pop(), drain(&mut known).pop()) {
        (
            Some(Event::Connected {
                new_token: Some(token),
                connection_id,
                ..
            }),
            Some(Event::Connected {
                new_token: None, ..
            }),
        ) => {
            assert_eq!(token, "long-lived");
            assert_eq!(connection_id, ME);
        }
        other => panic!("unexpected events {other:?}"),
    }
    assert_eq!(known.identity(), Some((Identity::ZERO, ME)));
}

#[test]
fn subscribe_sends_subscribe_multi_and_applies_rows() {
    let mut core = connected_core();
    let id = core.subscribe(["SELECT * FROM player"]).unwrap();
    match sent(&mut core).as_slice() {
        [ClientMessage::SubscribeMulti(m)] => {
            assert_eq!(&*m.query_strings[0], "SELECT * FROM player");
            assert_eq!(m.query_id, QueryId::new(0));
        }
        other => panic!("sent {} messages", other.len()),
    }
    assert_eq!(
        core.subscription_state(id),
        Some(SubscriptionState::Pending)
    );
    core.handle_frame(&applied(
        0,
        update(&[], &[player(1, "ann", 3), player(2, "bob", 5)]),
    ));
    let events = drain(&mut core);
    assert_eq!(names(&changes(&events)), ["+ann", "+bob"]);
    assert!(matches!(events.last(), Some(Event::SubscriptionApplied(i)) if *i == id));
    let cache = core.table::<Player>().unwrap();
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.get(&2).unwrap().name, "bob");
    match &events[0] {
        Event::RowsChanged(c) => assert_eq!(*c.cause, Cause::SubscriptionApplied),
        other => panic!("{other:?}"),
    }
}

#[test]
fn identical_subscriptions_share_one_query_set() {
    let mut core = connected_core();
    let a = core.subscribe(["SELECT * FROM player"]).unwrap();
    core.handle_frame(&applied(0, update(&[], &[player(1, "ann", 3)])));
    drain(&mut core);
    let b = core.subscribe(["SELECT * FROM player"]).unwrap();
    assert!(
        sent(&mut core).len() == 1,
        "only the first subscribe is sent"
    );
    assert!(matches!(drain(&mut core).as_slice(), [Event::SubscriptionApplied(i)] if *i == b));
    core.unsubscribe(a).unwrap();
    assert!(sent(&mut core).is_empty(), "b still holds the set");
    core.unsubscribe(b).unwrap();
    assert!(matches!(
        sent(&mut core).as_slice(),
        [ClientMessage::UnsubscribeMulti(_)]
    ));
}

#[test]
fn overlapping_subscriptions_keep_shared_rows() {
    let mut core = connected_core();
    let all = core.subscribe(["SELECT * FROM player"]).unwrap();
    let _top = core
        .subscribe(["SELECT * FROM player WHERE score > 4"])
        .unwrap();
    core.handle_frame(&applied(
        0,
        update(&[], &[player(1, "ann", 3), player(2, "bob", 5)]),
    ));
    core.handle_frame(&applied(1, update(&[], &[player(2, "bob", 5)])));
    assert_eq!(
        names(&changes(&drain(&mut core))),
        ["+ann", "+bob"],
        "bob once"
    );
    core.unsubscribe(all).unwrap();
    core.handle_frame(&unsubscribed(
        0,
        update(&[player(1, "ann", 3), player(2, "bob", 5)], &[]),
    ));
    let events = drain(&mut core);
    assert_eq!(names(&changes(&events)), ["-ann"]);
    let cache = core.table::<Player>().unwrap();
    assert_eq!(cache.len(), 1);
    assert!(
        cache.get(&2).is_some(),
        "bob is still held by the second subscription"
    );
}

#[test]
fn delete_and_insert_of_one_key_is_an_update_caused_by_the_reducer() {
    let mut core = connected_core();
    core.subscribe(["SELECT * FROM player"]).unwrap();
    core.handle_frame(&applied(
        0,
        update(&[], &[player(1, "ann", 3), player(2, "bob", 5)]),
    ));
    drain(&mut core);
    let request = core.call_reducer("set_score", &(1u32, 4i32)).unwrap();
    core.handle_frame(&transaction(
        ME,
        request.0,
        UpdateStatus::Committed(update(&[player(1, "ann", 3)], &[player(1, "ann2", 4)])),
    ));
    let events = drain(&mut core);
    let changed = changes(&events);
    match changed.as_slice() {
        [Change::Update { old, new }] => assert_eq!((old.score, new.score), (3, 4)),
        other => panic!("{other:?}"),
    }
    let Some(Event::RowsChanged(rows)) = events.first() else {
        panic!("rows first");
    };
    match &*rows.cause {
        Cause::Reducer(e) => {
            assert_eq!(e.reducer, "set_score");
            assert_eq!(e.request_id, Some(request));
            assert_eq!(e.outcome, ReducerOutcome::Committed);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        events.last(),
        Some(Event::ReducerDone { request_id, outcome: ReducerOutcome::Committed, .. }) if *request_id == request
    ));
    // The snapshot taken before the update is unchanged.
    let before = match &changed[0] {
        Change::Update { old, .. } => Arc::clone(old),
        _ => unreachable!(),
    };
    assert_eq!(before.score, 3);
    assert_eq!(core.table::<Player>().unwrap().get(&1).unwrap().score, 4);
}

#[test]
fn a_row_deleted_and_inserted_unchanged_makes_no_event() {
    let mut core = connected_core();
    core.subscribe(["SELECT * FROM player"]).unwrap();
    core.handle_frame(&applied(0, update(&[], &[player(1, "ann", 3)])));
    drain(&mut core);
    core.handle_frame(&transaction(
        OTHER,
        1,
        UpdateStatus::Committed(update(&[player(1, "ann", 3)], &[player(1, "ann", 3)])),
    ));
    assert!(changes(&drain(&mut core)).is_empty());
    assert_eq!(core.table::<Player>().unwrap().len(), 1);
}

#[test]
fn reducer_failures_reach_the_caller_and_only_the_caller() {
    let mut core = connected_core();
    let request = core.call_reducer("set_score", &(1u32, -1i32)).unwrap();
    // Another connection's call with the same request id is not ours.
    core.handle_frame(&transaction(
        OTHER,
        request.0,
        UpdateStatus::Failed("theirs".into()),
    ));
    assert!(drain(&mut core).is_empty());
    core.handle_frame(&transaction(
        ME,
        request.0,
        UpdateStatus::Failed("score must be positive".into()),
    ));
    match drain(&mut core).as_slice() {
        [
            Event::ReducerDone {
                outcome, reducer, ..
            },
        ] => {
            assert_eq!(
                *outcome,
                ReducerOutcome::Failed("score must be positive".into())
            );
            assert_eq!(reducer, "set_score");
        }
        other => panic!("{other:?}"),
    }
    let request = core.call_reducer("set_score", &(1u32, 1i32)).unwrap();
    core.handle_frame(&transaction(ME, request.0, UpdateStatus::OutOfEnergy));
    assert!(matches!(
        drain(&mut core).as_slice(),
        [Event::ReducerDone {
            outcome: ReducerOutcome::OutOfEnergy,
            ..
        }]
    ));
}

/// SpacetimeDB 1.2 answers a failed subscription or one-off query with a failed transaction
/// named `<none>` and request id 0: it is no reducer's, and must not steal a call's result.
#[test]
fn a_failure_named_none_goes_to_no_call() {
    let mut core = connected_core();
    let link = core.call_reducer("link_wallet", &(1u32,)).unwrap();
    let score = core.call_reducer("set_score", &(1u32, 2i32)).unwrap();
    core.handle_frame(&transaction_of(
        "<none>",
        ME,
        0,
        UpdateStatus::Failed("invalid query".into()),
    ));
    match drain(&mut core).as_slice() {
        [Event::UnattributedFailure { reducer, outcome }] => {
            assert_eq!(reducer, "<none>");
            assert_eq!(*outcome, ReducerOutcome::Failed("invalid query".into()));
        }
        other => panic!("{other:?}"),
    }
    // The calls' own answers still reach them.
    core.handle_frame(&transaction_of(
        "link_wallet",
        ME,
        link.0,
        UpdateStatus::Committed(DatabaseUpdate { tables: vec![] }),
    ));
    core.handle_frame(&transaction(ME, 0, UpdateStatus::Failed("negative".into())));
    let done: Vec<_> = drain(&mut core)
        .into_iter()
        .filter_map(|e| match e {
            Event::ReducerDone {
                request_id,
                outcome,
                ..
            } => Some((request_id, outcome)),
            _ => None,
        })
        .collect();
    assert_eq!(
        done,
        [
            (link, ReducerOutcome::Committed),
            (score, ReducerOutcome::Failed("negative".into()))
        ]
    );
}

/// With two calls of one reducer pending, a failure with request id 0 could be either's.
#[test]
fn an_unnumbered_failure_with_two_candidates_is_not_guessed() {
    let mut core = connected_core();
    let first = core.call_reducer("set_score", &(1u32, 2i32)).unwrap();
    let second = core.call_reducer("set_score", &(1u32, -2i32)).unwrap();
    core.handle_frame(&transaction(ME, 0, UpdateStatus::Failed("negative".into())));
    assert!(matches!(
        drain(&mut core).as_slice(),
        [Event::UnattributedFailure { reducer, .. }] if reducer == "set_score"
    ));
    core.handle_frame(&transaction(
        ME,
        first.0,
        UpdateStatus::Committed(DatabaseUpdate { tables: vec![] }),
    ));
    assert!(matches!(
        drain(&mut core).as_slice(),
        [Event::ReducerDone { request_id, outcome: ReducerOutcome::Committed, .. }] if *request_id == first
    ));
    // The other one ends by its timeout.
    core.handle_timeout(crate::DEFAULT_REQUEST_TIMEOUT);
    assert!(matches!(
        drain(&mut core).as_slice(),
        [Event::ReducerDone { request_id, outcome: ReducerOutcome::TimedOut, .. }] if *request_id == second
    ));
}

/// SpacetimeDB 1.2 sends a failed call's result with request id 0. A call that timed out may
/// still get that late failure: it must not be pinned on the next call of the same reducer (whose
/// own result would then be dropped). On the core's clock: the late failure is unattributed, the
/// next call gets its real result; once the timed-out call is long forgotten, a failure with
/// request id 0 is the only pending call's again.
#[test]
fn a_late_failure_of_a_timed_out_call_is_not_pinned_on_the_next_call() {
    use std::time::Duration;
    let secs = Duration::from_secs;
    let mut core = connected_core();
    core.set_request_timeout(secs(10));
    core.handle_timeout(secs(100));
    let slow = core.call_reducer("set_score", &(1u32, 2i32)).unwrap();
    core.handle_timeout(secs(110));
    assert!(matches!(
        drain(&mut core).as_slice(),
        [Event::ReducerDone { request_id, outcome: ReducerOutcome::TimedOut, .. }] if *request_id == slow
    ));
    let next = core.call_reducer("set_score", &(1u32, 3i32)).unwrap();
    // The slow call's late failure arrives: it could be either call's.
    core.handle_frame(&transaction(ME, 0, UpdateStatus::Failed("too slow".into())));
    match drain(&mut core).as_slice() {
        [Event::UnattributedFailure { reducer, outcome }] => {
            assert_eq!(reducer, "set_score");
            assert_eq!(*outcome, ReducerOutcome::Failed("too slow".into()));
        }
        other => panic!("{other:?}"),
    }
    // The next call's own result still reaches it.
    core.handle_frame(&transaction(
        ME,
        next.0,
        UpdateStatus::Committed(DatabaseUpdate { tables: vec![] }),
    ));
    assert!(matches!(
        drain(&mut core).as_slice(),
        [Event::ReducerDone { request_id, outcome: ReducerOutcome::Committed, .. }] if *request_id == next
    ));
    // Much later, the timed-out call is forgotten: a failure with request id 0 is the only
    // pending call's again.
    core.handle_timeout(secs(110) + crate::reducer::TOMBSTONE_LIFETIME);
    let last = core.call_reducer("set_score", &(1u32, -1i32)).unwrap();
    core.handle_frame(&transaction(ME, 0, UpdateStatus::Failed("negative".into())));
    assert!(matches!(
        drain(&mut core).as_slice(),
        [Event::ReducerDone { request_id, outcome: ReducerOutcome::Failed(_), .. }] if *request_id == last
    ));
}

/// A table with a primary key holds at most one row per key. A hostile update inserting a
/// thousand rows with one key (their bytes differ) used to leave `len() == 1000` while `get`
/// found one; it is refused as a whole, naming the table, and so is a row whose key another
/// cached row keeps. A delete and an insert of one key stay an update, and one row delivered
/// twice (overlapping queries) is no duplicate.
#[test]
fn a_table_holds_at_most_one_row_per_primary_key() {
    let mut core = connected_core();
    let committed = |deletes: &[Player], inserts: &[Player]| {
        transaction(OTHER, 0, UpdateStatus::Committed(update(deletes, inserts)))
    };
    let same_key: Vec<Player> = (0..1000).map(|i| player(7, "p", i)).collect();
    core.handle_frame(&committed(&[], &same_key));
    let duplicate = |events: &[Event]| match events {
        [Event::FrameError(error @ FrameError::DuplicateKey { table, key, .. })] => {
            assert_eq!((table.as_str(), key.as_str()), ("player", "7"));
            error.to_string()
        }
        other => panic!("{other:?}"),
    };
    let message = duplicate(&drain(&mut core));
    assert!(
        message.starts_with("table player would hold two rows with primary key 7"),
        "{message}"
    );
    let cache = |core: &ClientCore| core.table::<Player>().map(|t| (t.len(), t.get(&7)));
    assert_eq!(cache(&core), Some((0, None)));

    core.handle_frame(&committed(&[], &[player(7, "ann", 1), player(7, "ann", 1)]));
    assert_eq!(names(&changes(&drain(&mut core))), ["+ann"]);
    core.handle_frame(&committed(&[], &[player(7, "bob", 2)]));
    duplicate(&drain(&mut core));
    let (len, row) = cache(&core).unwrap();
    assert_eq!((len, row.map(|r| r.name.clone())), (1, Some("ann".into())));
    // Deleted once of twice, the row stays: the key is still taken.
    core.handle_frame(&committed(&[player(7, "ann", 1)], &[player(7, "bob", 2)]));
    duplicate(&drain(&mut core));
    core.handle_frame(&committed(
        &[player(7, "ann", 1), player(7, "ann", 1)],
        &[player(7, "bob", 2)],
    ));
    assert_eq!(names(&changes(&drain(&mut core))), ["ann>bob"]);
    assert_eq!(core.table::<Player>().map(|t| t.len()), Some(1));

    // A subscription whose rows hold one key twice fails.
    let id = core.subscribe(["SELECT * FROM player"]).unwrap();
    sent(&mut core);
    core.handle_frame(&applied(
        0,
        update(&[], &[player(9, "x", 1), player(9, "y", 1)]),
    ));
    let events = drain(&mut core);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::FrameError(FrameError::DuplicateKey { .. }))),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::SubscriptionFailed { id: failed, .. } if *failed == id)),
        "{events:?}"
    );
}

/// The client cache's limit: the update that would pass it is refused as a whole, and fails
/// the subscription whose initial rows it carries.
#[test]
fn an_update_past_the_cache_limit_is_refused_as_a_whole() {
    let mut core = connected_core();
    let rows: Vec<Player> = (0..10).map(|i| player(i, "p", 0)).collect();
    let per_row = crate::ROW_OVERHEAD;
    core.set_max_cache_bytes(8 * per_row);
    core.handle_frame(&transaction(
        OTHER,
        0,
        UpdateStatus::Committed(update(&[], &rows[..5])),
    ));
    assert_eq!(changes(&drain(&mut core)).len(), 5);
    let id = core.subscribe(["SELECT * FROM player"]).unwrap();
    sent(&mut core);
    core.handle_frame(&applied(0, update(&[], &rows)));
    let events = drain(&mut core);
    let refused = events.iter().find_map(|e| match e {
        Event::FrameError(FrameError::Limit {
            what: "rows",
            message,
        }) => Some(message),
        _ => None,
    });
    assert!(
        refused.is_some_and(|m| m.contains("table player") && m.contains("max_cache_bytes")),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::SubscriptionFailed { id: failed, .. } if *failed == id)),
        "{events:?}"
    );
    assert_eq!(core.table::<Player>().map(|t| t.len()), Some(5));
    // Deleting rows makes room: an update that deletes as much as it adds fits.
    core.handle_frame(&transaction(
        OTHER,
        0,
        UpdateStatus::Committed(update(&rows[..5], &rows[5..])),
    ));
    assert_eq!(changes(&drain(&mut core)).len(), 10);
    assert_eq!(core.table::<Player>().map(|t| t.len()), Some(5));
}

/// An out-of-energy call gets no answer at all: it ends at its deadline, on the core's clock.
#[test]
fn calls_and_queries_without_an_answer_time_out() {
    use std::time::Duration;
    let secs = Duration::from_secs;
    let mut core = connected_core();
    core.set_request_timeout(secs(10));
    core.handle_timeout(secs(100));
    assert_eq!(core.poll_timeout(), None);
    let call = core.call_reducer("set_score", &(1u32, 2i32)).unwrap();
    core.handle_timeout(secs(105));
    let query = core.one_off_query("SELECT * FROM player");
    assert_eq!(core.poll_timeout(), Some(secs(110)));
    // Time never goes back.
    core.handle_timeout(secs(1));
    core.handle_timeout(secs(110) - Duration::from_millis(1));
    assert!(drain(&mut core).is_empty());
    core.handle_timeout(secs(110));
    assert!(matches!(
        drain(&mut core).as_slice(),
        [Event::ReducerDone { request_id, outcome: ReducerOutcome::TimedOut, .. }] if *request_id == call
    ));
    assert_eq!(core.poll_timeout(), Some(secs(115)));
    core.handle_timeout(secs(120));
    match drain(&mut core).as_slice() {
        [
            Event::OneOffDone {
                id,
                result: Err(message),
            },
        ] => {
            assert_eq!(*id, query);
            assert!(message.contains("no answer within 10s"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(core.poll_timeout(), None);
    // A late answer belongs to no call any more.
    core.handle_frame(&transaction(ME, call.0, UpdateStatus::OutOfEnergy));
    assert!(drain(&mut core).is_empty());
}

#[test]
fn reducer_arguments_are_bsatn_of_the_tuple() {
    let mut core = connected_core();
    core.call_reducer("report", &("0xab".to_string(), 8453i32, Some(5i64)))
        .unwrap();
    match sent(&mut core).as_slice() {
        [ClientMessage::CallReducer(call)] => {
            assert_eq!(&*call.reducer, "report");
            let (a, b, c): (String, i32, Option<i64>) = bsatn::from_slice(&call.args).unwrap();
            assert_eq!((a.as_str(), b, c), ("0xab", 8453, Some(5)));
        }
        other => panic!("sent {} messages", other.len()),
    }
}

#[test]
fn connection_lost_ends_calls_and_queries() {
    let mut core = connected_core();
    let call = core.call_reducer("set_score", &(1u32, 1i32)).unwrap();
    let query = core.one_off_query("SELECT * FROM player");
    core.connection_lost();
    let events = drain(&mut core);
    assert!(events.iter().any(|e| matches!(e,
        Event::ReducerDone { request_id, outcome: ReducerOutcome::ConnectionLost, .. } if *request_id == call)));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::OneOffDone { id, result: Err(_) } if *id == query))
    );
    assert!(core.poll_transmit().is_none());
    assert_eq!(core.identity(), None);
}

#[test]
fn subscription_error_with_an_id_fails_that_subscription() {
    let mut core = connected_core();
    let bad = core.subscribe(["SELECT * FROM nope"]).unwrap();
    let good = core.subscribe(["SELECT * FROM player"]).unwrap();
    core.handle_frame(&frame(ServerMessage::SubscriptionError(
        SubscriptionError {
            total_host_execution_duration_micros: 0,
            request_id: Some(0),
            query_id: Some(0),
            table_id: None,
            error: "no such table nope".into(),
        },
    )));
    assert!(matches!(drain(&mut core).as_slice(),
        [Event::SubscriptionFailed { id, error }] if *id == bad && error == "no such table nope"));
    assert_eq!(
        core.subscription_state(good),
        Some(SubscriptionState::Pending)
    );
}

#[test]
fn subscription_error_without_request_id_ends_everything() {
    let mut core = connected_core();
    let a = core.subscribe(["SELECT * FROM player"]).unwrap();
    let b = core
        .subscribe(["SELECT * FROM player WHERE id = 1"])
        .unwrap();
    core.handle_frame(&applied(0, update(&[], &[player(1, "ann", 3)])));
    drain(&mut core);
    core.handle_frame(&frame(ServerMessage::SubscriptionError(
        SubscriptionError {
            total_host_execution_duration_micros: 0,
            request_id: None,
            query_id: None,
            table_id: None,
            error: "server dropped you".into(),
        },
    )));
    let events = drain(&mut core);
    let failed: Vec<SubscriptionId> = events
        .iter()
        .filter_map(|e| match e {
            Event::SubscriptionFailed { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(failed, [a, b]);
    assert_eq!(names(&changes(&events)), ["-ann"]);
    assert!(core.table::<Player>().unwrap().is_empty());
    assert_eq!(core.live_subscriptions(), 0);
}

#[test]
fn at_most_ten_subscriptions() {
    let mut core = connected_core();
    for i in 0..10 {
        core.subscribe([format!("SELECT * FROM player WHERE id = {i}")])
            .unwrap();
    }
    assert_eq!(
        core.subscribe(["SELECT * FROM player"]).unwrap_err(),
        ClientError::TooManySubscriptions { max: 10 }
    );
}

#[test]
fn a_bad_row_is_an_error_and_changes_nothing() {
    let mut core = connected_core();
    core.subscribe(["SELECT * FROM player"]).unwrap();
    core.handle_frame(&applied(0, update(&[], &[player(1, "ann", 3)])));
    drain(&mut core);
    // Twelve bytes (a `Player`'s smallest size) whose name claims four billion bytes.
    let garbage = BsatnRowList::new(
        RowSizeHint::FixedSize(12),
        Bytes::from_static(&[1, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0]),
    );
    let bad = DatabaseUpdate {
        tables: vec![TableUpdate {
            table_id: TableId(4096),
            table_name: "player".into(),
            num_rows: 2,
            updates: [CompressableQueryUpdate::Uncompressed(QueryUpdate {
                deletes: rows(&[player(1, "ann", 3)]),
                inserts: garbage,
            })]
            .into(),
        }],
    };
    core.handle_frame(&transaction(OTHER, 1, UpdateStatus::Committed(bad)));
    match drain(&mut core).as_slice() {
        [Event::FrameError(FrameError::Row { table, .. })] => assert_eq!(table, "player"),
        other => panic!("{other:?}"),
    }
    assert_eq!(core.table::<Player>().unwrap().get(&1).unwrap().name, "ann");
}

#[cfg(feature = "gzip")]
#[test]
fn gzip_frames_and_gzip_query_updates_decode() {
    let mut core = connected_core();
    core.subscribe(["SELECT * FROM player"]).unwrap();
    let inner = bsatn::to_vec(&QueryUpdate::<BsatnFormat> {
        deletes: rows(&[]),
        inserts: rows(&[player(1, "ann", 3)]),
    })
    .unwrap();
    let zipped_update = table(CompressableQueryUpdate::Gzip(
        crate::frame::tests::gzip(&inner).into(),
    ));
    let plain = applied(0, zipped_update);
    let mut whole = vec![2];
    whole.extend(crate::frame::tests::gzip(&plain[1..]));
    core.handle_frame(&whole);
    assert_eq!(names(&changes(&drain(&mut core))), ["+ann"]);
    assert_eq!(core.stats().gzip_frames, 1);
}

/// Every byte of a row list hinted `FixedSize(1)` would be a row; a `Player` takes at least 12.
#[test]
fn a_size_hint_too_small_for_the_row_type_is_refused() {
    let mut core = connected_core();
    core.subscribe(["SELECT * FROM player"]).unwrap();
    let ones = BsatnRowList::new(RowSizeHint::FixedSize(1), Bytes::from(vec![0u8; 4096]));
    core.handle_frame(&applied(
        0,
        table(CompressableQueryUpdate::Uncompressed(QueryUpdate {
            deletes: rows(&[]),
            inserts: ones,
        })),
    ));
    match drain(&mut core).as_slice() {
        [
            Event::FrameError(FrameError::RowList { table, message }),
            Event::SubscriptionFailed { .. },
        ] => {
            assert_eq!(table, "player");
            assert!(message.contains("at least 12 bytes"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(core.table::<Player>().unwrap().len(), 0);
}

#[test]
fn a_one_off_answer_with_a_size_hint_too_small_does_not_decode() {
    let mut core = connected_core();
    let id = core.one_off_query("SELECT * FROM player");
    core.handle_frame(&frame(ServerMessage::OneOffQueryResponse(
        OneOffQueryResponse {
            message_id: id.0.to_le_bytes().into(),
            error: None,
            tables: vec![OneOffTable {
                table_name: "player".into(),
                rows: BsatnRowList::new(RowSizeHint::FixedSize(1), Bytes::from(vec![0u8; 4096])),
            }]
            .into(),
            total_host_execution_duration: TimeDuration::ZERO,
        },
    )));
    match drain(&mut core).as_slice() {
        [
            Event::OneOffDone {
                result: Ok(tables), ..
            },
        ] => {
            assert_eq!(tables[0].len(), 4096);
            let err = tables[0].decode::<Player>().unwrap_err();
            assert!(err.to_string().contains("at least 12 bytes"), "{err}");
        }
        other => panic!("{other:?}"),
    }
}

#[cfg(feature = "gzip")]
fn gzip_of(bytes: &[u8]) -> Vec<u8> {
    crate::frame::tests::gzip(bytes)
}

/// One budget per frame covers the frame and every compressed query update in it together.
#[cfg(feature = "gzip")]
#[test]
fn one_inflate_budget_covers_a_frame_and_its_query_updates() {
    let mut core = connected_core();
    core.set_max_frame_bytes(1 << 20);
    core.subscribe(["SELECT * FROM player"]).unwrap();
    // Each update alone fits (about 400 KiB), three together do not.
    let inner = bsatn::to_vec(&QueryUpdate::<BsatnFormat> {
        deletes: rows(&[]),
        inserts: BsatnRowList::new(
            RowSizeHint::FixedSize(12),
            Bytes::from(vec![0u8; 12 * 34_000]),
        ),
    })
    .unwrap();
    let zipped = CompressableQueryUpdate::<BsatnFormat>::Gzip(gzip_of(&inner).into());
    let nested = DatabaseUpdate {
        tables: vec![TableUpdate {
            table_id: TableId(4096),
            table_name: "player".into(),
            num_rows: 0,
            updates: vec![zipped.clone(), zipped.clone(), zipped].into(),
        }],
    };
    core.handle_frame(&applied(0, nested));
    match drain(&mut core).as_slice() {
        [Event::FrameError(FrameError::Limit { what, message }), ..] => {
            assert_eq!(*what, "query update");
            assert!(message.contains("more than 1048576 bytes"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // A whole frame inflating past the budget, and a plain one larger than it.
    let bomb_body = vec![0u8; 2 << 20];
    let mut bomb = vec![2];
    bomb.extend(gzip_of(&bomb_body));
    let mut plain = vec![0];
    plain.extend(&bomb_body);
    for frame in [bomb, plain] {
        core.handle_frame(&frame);
        assert!(
            matches!(
                drain(&mut core).as_slice(),
                [Event::FrameError(FrameError::Limit { what: "frame", .. })]
            ),
            "{} bytes",
            frame.len()
        );
    }
    assert_eq!(core.stats().frame_errors, 3);
}

#[test]
fn brotli_query_updates_are_a_clear_error() {
    let mut core = connected_core();
    core.subscribe(["SELECT * FROM player"]).unwrap();
    core.handle_frame(&applied(
        0,
        table(CompressableQueryUpdate::Brotli(Bytes::from_static(&[1, 2]))),
    ));
    let events = drain(&mut core);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::FrameError(FrameError::Brotli("query update"))))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::SubscriptionFailed { .. }))
    );
}

#[test]
fn one_off_queries_return_rows() {
    let mut core = connected_core();
    let id = core.one_off_query("SELECT * FROM player WHERE id = 2");
    let message_id = match sent(&mut core).as_slice() {
        [ClientMessage::OneOffQuery(q)] => q.message_id.clone(),
        _ => panic!("one message"),
    };
    core.handle_frame(&frame(ServerMessage::OneOffQueryResponse(
        OneOffQueryResponse {
            message_id,
            error: None,
            tables: vec![OneOffTable {
                table_name: "player".into(),
                rows: rows(&[player(2, "bob", 5)]),
            }]
            .into(),
            total_host_execution_duration: TimeDuration::ZERO,
        },
    )));
    match drain(&mut core).as_slice() {
        [
            Event::OneOffDone {
                id: done,
                result: Ok(tables),
            },
        ] => {
            assert_eq!(*done, id);
            assert_eq!(tables[0].decode::<Player>().unwrap(), [player(2, "bob", 5)]);
        }
        other => panic!("{other:?}"),
    }
}

fn valid_frames() -> Vec<Vec<u8>> {
    vec![
        identity_frame(),
        applied(0, update(&[], &[player(1, "ann", 3), player(2, "bob", 5)])),
        transaction(
            ME,
            1,
            UpdateStatus::Committed(update(&[player(1, "ann", 3)], &[player(1, "ann", 4)])),
        ),
        transaction(ME, 2, UpdateStatus::Failed("nope".into())),
        unsubscribed(0, update(&[player(2, "bob", 5)], &[])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Random bytes never panic the core; they become frame errors.
    #[test]
    fn random_frames_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut core = connected_core();
        core.subscribe(["SELECT * FROM player"]).unwrap();
        core.handle_frame(&frame);
        drain(&mut core);
    }

    /// Valid frames with bytes flipped, cut short or extended never panic the core.
    #[test]
    fn mutated_frames_never_panic(
        which in 0usize..5,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let mut frame = valid_frames()[which].clone();
        for (at, byte) in flips {
            let len = frame.len();
            frame[1 + at % (len - 1)] = byte;
        }
        if let Some(cut) = cut {
            frame.truncate(1 + cut % frame.len());
        }
        let mut core = connected_core();
        core.subscribe(["SELECT * FROM player"]).unwrap();
        core.handle_frame(&applied(0, update(&[], &[player(1, "ann", 3), player(2, "bob", 5)])));
        core.handle_frame(&frame);
        drain(&mut core);
    }
}

mod reconnect {
    use super::*;

    fn identity_frame_as(connection_id: ConnectionId) -> Vec<u8> {
        frame(ServerMessage::IdentityToken(IdentityToken {
            identity: Identity::ZERO,
            token: "short-lived".into(),
            connection_id,
        }))
    }

    /// Subscribed to two sets with ann, bob and cat; the socket then closes.
    fn disconnected_core() -> ClientCore {
        let mut core = connected_core();
        core.subscribe(["SELECT * FROM player"]).unwrap();
        core.subscribe(["SELECT * FROM player WHERE score > 4"])
            .unwrap();
        core.handle_frame(&applied(
            0,
            update(
                &[],
                &[
                    player(1, "ann", 3),
                    player(2, "bob", 5),
                    player(3, "cat", 1),
                ],
            ),
        ));
        core.handle_frame(&applied(1, update(&[], &[player(2, "bob", 5)])));
        drain(&mut core);
        sent(&mut core);
        core.connection_lost();
        drain(&mut core);
        core
    }

    #[test]
    fn while_offline_the_cache_stays_and_calls_fail_at_once() {
        let mut core = disconnected_core();
        assert!(!core.is_online());
        assert_eq!(
            core.table::<Player>().unwrap().len(),
            3,
            "last data is kept"
        );
        let call = core.call_reducer("set_score", &(1u32, 1i32)).unwrap();
        assert!(matches!(drain(&mut core).as_slice(),
            [Event::ReducerDone { request_id, outcome: ReducerOutcome::ConnectionLost, .. }] if *request_id == call));
        assert!(sent(&mut core).is_empty());
    }

    #[test]
    fn a_new_socket_gets_every_subscription_and_a_quiet_resync() {
        let mut core = disconnected_core();
        core.handle_frame(&identity_frame_as(OTHER));
        let resent = sent(&mut core);
        assert_eq!(resent.len(), 2, "both sets are sent again");
        assert!(matches!(
            drain(&mut core).as_slice(),
            [Event::Connected {
                new_token: None,
                ..
            }]
        ));
        // Meanwhile: ann's score changed, cat was deleted, bob is unchanged.
        core.handle_frame(&applied(
            0,
            update(&[], &[player(1, "ann", 9), player(2, "bob", 5)]),
        ));
        let events = drain(&mut core);
        assert_eq!(
            names(&changes(&events)),
            ["ann>ann"],
            "ann changed; bob makes no event"
        );
        assert_eq!(
            core.table::<Player>().unwrap().len(),
            3,
            "cat stays until the resync ends"
        );
        core.handle_frame(&applied(1, update(&[], &[player(2, "bob", 5)])));
        let events = drain(&mut core);
        assert_eq!(names(&changes(&events)), ["-cat"]);
        let resync = events.iter().find_map(|e| match e {
            Event::RowsChanged(c) => Some(c.cause.clone()),
            _ => None,
        });
        assert_eq!(resync.as_deref(), Some(&Cause::Resync));
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, Event::SubscriptionApplied(_)))
                .count(),
            1
        );
        let cache = core.table::<Player>().unwrap();
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&1).unwrap().score, 9);
        // Bob survived and shared rows still count twice: leaving one set keeps him.
        core.handle_frame(&unsubscribed(1, update(&[player(2, "bob", 5)], &[])));
        assert!(core.table::<Player>().unwrap().get(&2).is_some());
    }

    #[test]
    fn subscriptions_made_or_ended_while_offline_take_effect_on_the_new_socket() {
        let mut core = disconnected_core();
        let late = core
            .subscribe(["SELECT * FROM player WHERE id = 7"])
            .unwrap();
        assert!(sent(&mut core).is_empty(), "nothing is sent while offline");
        assert_eq!(
            core.subscription_state(late),
            Some(SubscriptionState::Pending)
        );
        core.handle_frame(&identity_frame_as(OTHER));
        let queries: Vec<String> = sent(&mut core)
            .into_iter()
            .filter_map(|m| match m {
                ClientMessage::SubscribeMulti(m) => Some(m.query_strings[0].to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(queries.len(), 3);
        assert!(queries.contains(&"SELECT * FROM player WHERE id = 7".to_string()));
    }

    #[test]
    fn a_resync_with_no_subscriptions_empties_the_cache() {
        let mut core = connected_core();
        let id = core.subscribe(["SELECT * FROM player"]).unwrap();
        core.handle_frame(&applied(0, update(&[], &[player(1, "ann", 3)])));
        core.connection_lost();
        core.unsubscribe(id).unwrap();
        drain(&mut core);
        core.handle_frame(&identity_frame_as(OTHER));
        assert_eq!(names(&changes(&drain(&mut core))), ["-ann"]);
        assert!(core.table::<Player>().unwrap().is_empty());
    }
}

#[test]
fn subscriptions_made_before_the_identity_are_sent_when_it_arrives() {
    let mut core = ClientCore::new(Credentials::Anonymous);
    core.register_table::<Player>();
    let early = core.subscribe(["SELECT * FROM player"]).unwrap();
    assert!(
        core.poll_transmit().is_none(),
        "nothing is sent before the server says who we are"
    );
    let call = core.call_reducer("set_score", &(1u32, 1i32)).unwrap();
    assert!(matches!(drain(&mut core).as_slice(),
        [Event::ReducerDone { request_id, outcome: ReducerOutcome::ConnectionLost, .. }] if *request_id == call));
    core.handle_frame(&identity_frame());
    assert!(matches!(
        sent(&mut core).as_slice(),
        [ClientMessage::SubscribeMulti(_)]
    ));
    core.handle_frame(&applied(0, update(&[], &[player(1, "ann", 3)])));
    assert!(
        drain(&mut core)
            .iter()
            .any(|e| matches!(e, Event::SubscriptionApplied(id) if *id == early))
    );
}

mod cache_model {
    use super::*;
    use crate::TableCache;
    use crate::client_cache::RowBudget;
    use crate::row_list::RowRanges;
    use std::collections::BTreeMap;

    fn bytes_of(row: &Player) -> Bytes {
        Bytes::from(bsatn::to_vec(row).unwrap())
    }

    /// What the changes say happened, as (id, old score, new score), sorted.
    fn summary(changes: &[Change<Arc<Player>>]) -> Vec<(u32, Option<i32>, Option<i32>)> {
        let mut summary: Vec<_> = changes
            .iter()
            .map(|c| match c {
                Change::Insert(r) => (r.id, None, Some(r.score)),
                Change::Delete(r) => (r.id, Some(r.score), None),
                Change::Update { old, new } => {
                    assert_eq!(old.id, new.id, "an update keeps its key");
                    (new.id, Some(old.score), Some(new.score))
                }
            })
            .collect();
        summary.sort();
        summary
    }

    /// What should be reported going from `before` to `after`.
    fn diff(
        before: &BTreeMap<u32, i32>,
        after: &BTreeMap<u32, i32>,
    ) -> Vec<(u32, Option<i32>, Option<i32>)> {
        let mut ids: Vec<u32> = before.keys().chain(after.keys()).copied().collect();
        ids.sort();
        ids.dedup();
        ids.into_iter()
            .map(|id| (id, before.get(&id).copied(), after.get(&id).copied()))
            .filter(|(_, old, new)| old != new)
            .collect()
    }

    fn assert_matches(cache: &TableCache<Player>, model: &BTreeMap<u32, i32>) {
        assert_eq!(cache.len(), model.len());
        for (id, score) in model {
            let row = cache
                .get(id)
                .expect("every key of the model is in the cache");
            assert_eq!((row.id, row.score), (*id, *score));
        }
        for id in 0..8 {
            assert_eq!(
                cache.get(&id).is_some(),
                model.contains_key(&id),
                "key {id}"
            );
        }
    }

    fn apply(
        cache: &mut TableCache<Player>,
        deletes: &[&Player],
        inserts: &[&Player],
        budget: &mut RowBudget,
    ) -> Result<Vec<Change<Arc<Player>>>, FrameError> {
        let list = |rows: &[&Player]| {
            let rows: Vec<Bytes> = rows.iter().map(|row| bytes_of(row)).collect();
            RowRanges::from_rows(&rows)
        };
        cache.apply_rows(&[list(deletes)], &[list(inserts)], budget)
    }

    /// The cache keeps decoded rows, not bytes: a delete is the cached row only if it decodes to
    /// that very row; another row with the same key is an unknown delete (ignored), and the
    /// key stays taken.
    #[test]
    fn a_delete_of_another_row_with_the_key_is_ignored() {
        let mut cache = TableCache::<Player>::default();
        let budget = &mut RowBudget::unlimited();
        let (ann, changed, bob) = (
            player(7, "ann", 1),
            player(7, "ann", 2),
            player(7, "bob", 3),
        );
        assert_eq!(apply(&mut cache, &[], &[&ann], budget).unwrap().len(), 1);
        assert!(
            apply(&mut cache, &[&changed], &[], budget)
                .unwrap()
                .is_empty()
        );
        assert_eq!(cache.get(&7).as_deref(), Some(&ann));
        let refused = apply(&mut cache, &[&changed], &[&bob], budget);
        assert!(
            matches!(refused, Err(FrameError::DuplicateKey { .. })),
            "{refused:?}"
        );
        assert_eq!((cache.len(), cache.get(&7).as_deref()), (1, Some(&ann)));
        let changes = apply(&mut cache, &[&ann], &[&bob], budget).unwrap();
        assert_eq!(names(&changes), ["ann>bob"]);
    }

    /// A row delivered again unchanged (deleted and inserted in one update, or stale after a
    /// reconnect) keeps its `Arc` and makes no change: readers holding it see the same row.
    #[test]
    fn a_row_delivered_again_keeps_its_arc() {
        let mut cache = TableCache::<Player>::default();
        let budget = &mut RowBudget::unlimited();
        let ann = player(7, "ann", 1);
        apply(&mut cache, &[], &[&ann], budget).unwrap();
        let first = cache.get(&7).unwrap();
        assert!(
            apply(&mut cache, &[&ann], &[&ann], budget)
                .unwrap()
                .is_empty()
        );
        assert!(Arc::ptr_eq(&first, &cache.get(&7).unwrap()));
        cache.begin_resync();
        assert!(apply(&mut cache, &[], &[&ann], budget).unwrap().is_empty());
        assert!(cache.finish_resync().is_empty());
        assert!(Arc::ptr_eq(&first, &cache.get(&7).unwrap()));
        cache.assert_stale_held();
    }

    /// Rows already cached are not charged: an overlapping subscription delivers them again
    /// when the cache has no room left (they are decoded to be recognised, not kept). A new row
    /// is still refused.
    #[test]
    fn rows_already_cached_apply_with_no_room_left() {
        let mut cache = TableCache::<Player>::default();
        let rows: Vec<Player> = (0..10).map(|id| player(id, "p", 0)).collect();
        let rows: Vec<&Player> = rows.iter().collect();
        apply(&mut cache, &[], &rows, &mut RowBudget::unlimited()).unwrap();
        let mut full = RowBudget {
            cache: 0,
            cache_limit: cache.charged_bytes(),
        };
        assert!(apply(&mut cache, &[], &rows, &mut full).unwrap().is_empty());
        let new = player(10, "p", 0);
        let refused = apply(&mut cache, &[], &[&new], &mut full);
        assert!(
            matches!(refused, Err(FrameError::Limit { what: "rows", .. })),
            "{refused:?}"
        );
        // Held twice: the first delete of each leaves them, the second removes them.
        let unlimited = &mut RowBudget::unlimited();
        assert!(apply(&mut cache, &rows, &[], unlimited).unwrap().is_empty());
        assert_eq!(apply(&mut cache, &rows, &[], unlimited).unwrap().len(), 10);
        assert!(cache.is_empty());
    }

    /// New rows are charged before they are decoded: an update over its budget stops at the
    /// first row past it, not after decoding them all.
    #[test]
    fn an_update_over_its_budget_stops_at_the_first_row_past_it() {
        let mut cache = TableCache::<Player>::default();
        apply(
            &mut cache,
            &[],
            &[&player(5000, "p", 0)],
            &mut RowBudget::unlimited(),
        )
        .unwrap();
        let per_row = cache.charged_bytes();
        let rows: Vec<Player> = (0..1000).map(|id| player(id, "p", 0)).collect();
        let rows: Vec<&Player> = rows.iter().collect();
        let mut budget = RowBudget {
            cache: 2 * per_row + per_row / 2,
            cache_limit: usize::MAX,
        };
        let before = cache.charges_computed();
        let refused = apply(&mut cache, &[], &rows, &mut budget);
        assert!(
            matches!(refused, Err(FrameError::Limit { what: "rows", .. })),
            "{refused:?}"
        );
        let work = cache.charges_computed() - before;
        assert!(work <= 3, "{work} row charges for a refused update");
        assert_eq!(cache.len(), 1);
    }

    /// During a resync of many stale rows, a small update computes a few row charges, not one per
    /// stale row (every update used to sum every stale row's charge: 123× slower per small
    /// transaction with 100 000 stale rows).
    #[test]
    fn a_small_update_during_a_resync_does_not_walk_the_stale_rows() {
        const STALE: u32 = 10_000;
        let mut cache = TableCache::<Player>::default();
        let all: Vec<Bytes> = (0..STALE).map(|id| bytes_of(&player(id, "p", 0))).collect();
        cache
            .apply_rows(
                &[],
                &[RowRanges::from_rows(&all)],
                &mut RowBudget::unlimited(),
            )
            .unwrap();
        cache.begin_resync();
        let before = cache.charges_computed();
        for id in 0..100 {
            let row = [bytes_of(&player(STALE + id, "new", 1))];
            cache
                .apply_rows(
                    &[],
                    &[RowRanges::from_rows(&row)],
                    &mut RowBudget::unlimited(),
                )
                .unwrap();
        }
        let work = cache.charges_computed() - before;
        assert!(
            work <= 100 * 4,
            "{work} row charges for 100 one-row updates"
        );
        cache.assert_stale_held();
        assert_eq!(cache.finish_resync().len(), STALE as usize);
        cache.assert_stale_held();
    }

    /// A row holding a float: a NaN is not `==` to itself, and `0.0 == -0.0`.
    #[derive(SpacetimeType, Debug, Clone, PartialEq)]
    #[sats(crate = spacetimedb_lib)]
    struct Reading {
        id: u32,
        value: f64,
    }

    impl Row for Reading {
        const TABLE: &'static str = "reading";
        type Key = u32;
        fn primary_key(&self) -> &u32 {
            &self.id
        }
    }

    /// Applies rows given as their BSATN bytes.
    fn apply_bytes<T: Row>(
        cache: &mut TableCache<T>,
        deletes: &[Bytes],
        inserts: &[Bytes],
        budget: &mut RowBudget,
    ) -> Result<Vec<Change<Arc<T>>>, FrameError> {
        let deletes = [RowRanges::from_rows(deletes)];
        cache.apply_rows(&deletes, &[RowRanges::from_rows(inserts)], budget)
    }

    fn reading(value: f64) -> Bytes {
        Bytes::from(bsatn::to_vec(&Reading { id: 1, value }).unwrap())
    }

    /// What changes say, as (old value, new value) bits, so NaN and -0.0 compare exactly.
    fn float_changes(changes: &[Change<Arc<Reading>>]) -> Vec<(Option<u64>, Option<u64>)> {
        let bits = |row: &Arc<Reading>| Some(row.value.to_bits());
        changes
            .iter()
            .map(|c| match c {
                Change::Insert(new) => (None, bits(new)),
                Change::Delete(old) => (bits(old), None),
                Change::Update { old, new } => (bits(old), bits(new)),
            })
            .collect()
    }

    /// A row holding a NaN is itself (by its bytes): delivered twice it is held twice, and its
    /// deletes take it (with `==` the second delivery was refused as a second row with its key,
    /// and its delete ignored forever).
    #[test]
    fn a_nan_row_is_the_same_row_again() {
        let mut cache = TableCache::<Reading>::default();
        let budget = &mut RowBudget::unlimited();
        let nan = [reading(f64::NAN)];
        assert_eq!(apply_bytes(&mut cache, &[], &nan, budget).unwrap().len(), 1);
        let charged = cache.charged_bytes();
        assert!(
            apply_bytes(&mut cache, &[], &nan, budget)
                .unwrap()
                .is_empty()
        );
        assert_eq!((cache.len(), cache.charged_bytes()), (1, charged));
        assert!(
            apply_bytes(&mut cache, &nan, &[], budget)
                .unwrap()
                .is_empty()
        );
        assert_eq!(cache.len(), 1, "held once more");
        let changes = apply_bytes(&mut cache, &nan, &[], budget).unwrap();
        assert_eq!(float_changes(&changes), [(Some(f64::NAN.to_bits()), None)]);
        assert!(cache.is_empty());
        assert_eq!(cache.charged_bytes(), 0);
    }

    /// NaN → 1.0 and 0.0 → -0.0 are updates (`==` refused the first and hid the second).
    #[test]
    fn float_changes_the_same_under_eq_are_updates() {
        let budget = &mut RowBudget::unlimited();
        let bits = |v: f64| Some(v.to_bits());
        for (old, new) in [(f64::NAN, 1.0), (0.0, -0.0), (-0.0, 0.0)] {
            let mut cache = TableCache::<Reading>::default();
            apply_bytes(&mut cache, &[], &[reading(old)], budget).unwrap();
            let changes = apply_bytes(&mut cache, &[reading(old)], &[reading(new)], budget);
            assert_eq!(
                float_changes(&changes.unwrap()),
                [(bits(old), bits(new))],
                "{old} to {new}"
            );
            let value = cache.get(&1).map(|row| row.value.to_bits());
            assert_eq!(value, bits(new));
        }
    }

    /// A NaN row delivered again by a resync comes back quietly, same `Arc`, same charge.
    #[test]
    fn a_resync_of_a_nan_row_says_nothing() {
        let mut cache = TableCache::<Reading>::default();
        let budget = &mut RowBudget::unlimited();
        let nan = [reading(f64::NAN)];
        apply_bytes(&mut cache, &[], &nan, budget).unwrap();
        let (first, charged) = (cache.get(&1).unwrap(), cache.charged_bytes());
        cache.begin_resync();
        assert!(
            apply_bytes(&mut cache, &[], &nan, budget)
                .unwrap()
                .is_empty()
        );
        assert!(cache.finish_resync().is_empty());
        assert!(Arc::ptr_eq(&first, &cache.get(&1).unwrap()));
        assert_eq!(cache.charged_bytes(), charged);
        cache.assert_stale_held();
    }

    /// Bytes past the end of a row (junk, or a column the client's row type lacks: a module
    /// changed under an old client) are refused with a message naming the mismatch: the cache
    /// tells rows apart by their bytes, so it cannot keep rows it reads only in part. Nothing
    /// changes, a delete of such bytes is ignored, and a resync with them is refused too.
    #[test]
    fn bytes_past_the_end_of_a_row_are_refused_and_change_nothing() {
        let mut cache = TableCache::<Player>::default();
        let ann = bytes_of(&player(7, "ann", 1));
        let mut junk = ann.to_vec();
        junk.extend([0xAB; 100]);
        let junk = Bytes::from(junk);
        apply_bytes(
            &mut cache,
            &[],
            std::slice::from_ref(&ann),
            &mut RowBudget::unlimited(),
        )
        .unwrap();
        let charged = cache.charged_bytes();
        let budget = &mut RowBudget::unlimited();
        let deleted = apply_bytes(&mut cache, std::slice::from_ref(&junk), &[], budget).unwrap();
        assert!(deleted.is_empty());
        let refused = apply_bytes(&mut cache, &[], std::slice::from_ref(&junk), budget);
        let message = refused.expect_err("bytes past a row").to_string();
        assert!(
            message.contains("100 bytes past the end of a")
                && message.contains("row type match the module's table"),
            "{message}"
        );
        assert_eq!((cache.len(), cache.charged_bytes()), (1, charged));

        cache.begin_resync();
        let refused = apply_bytes(&mut cache, &[], &[ann.clone(), junk], budget);
        assert!(
            matches!(refused, Err(FrameError::Row { .. })),
            "{refused:?}"
        );
        assert_eq!((cache.len(), cache.charged_bytes()), (1, charged));
        let again = apply_bytes(&mut cache, &[], &[ann], budget).unwrap();
        assert!(
            again.is_empty(),
            "the row delivered again exactly: {again:?}"
        );
        assert!(cache.finish_resync().is_empty());
        cache.assert_stale_held();
    }

    /// A hostile server deleting (or inserting) small rows with the key of a huge cached row:
    /// the cached row is encoded again only for bytes of its own length, so the work per row is
    /// bounded by the row's own bytes, not by the cached row (400 small deletes encoded a 4 MB
    /// row 400 times).
    #[test]
    fn small_rows_with_a_huge_rows_key_never_encode_it_again() {
        #[derive(SpacetimeType, Debug, Clone)]
        #[sats(crate = spacetimedb_lib)]
        struct Big {
            id: u64,
            data: Vec<u32>,
        }
        impl Row for Big {
            const TABLE: &'static str = "big";
            type Key = u64;
            fn primary_key(&self) -> &u64 {
                &self.id
            }
        }
        let encoded = |row: &Big| Bytes::from(bsatn::to_vec(row).unwrap());
        let mut cache = TableCache::<Big>::default();
        let budget = &mut RowBudget::unlimited();
        let huge = encoded(&Big {
            id: 1,
            data: vec![7; 1_000_000],
        });
        let small: Vec<Bytes> = (0..400u32)
            .map(|i| {
                encoded(&Big {
                    id: 1,
                    data: vec![0; (i % 2) as usize],
                })
            })
            .collect();
        apply_bytes(&mut cache, &[], std::slice::from_ref(&huge), budget).unwrap();
        let before = crate::row::ENCODED.with(|n| n.get());
        let deleted = apply_bytes(&mut cache, &small, &[], budget).unwrap();
        assert!(deleted.is_empty());
        let refused = apply_bytes(&mut cache, &[], &small[..1], budget);
        assert!(
            matches!(refused, Err(FrameError::DuplicateKey { .. })),
            "{refused:?}"
        );
        assert_eq!(
            crate::row::ENCODED.with(|n| n.get()) - before,
            0,
            "the huge row was encoded again for rows of another length"
        );
        let deleted = apply_bytes(&mut cache, &[huge], &[], budget).unwrap();
        assert_eq!(deleted.len(), 1, "its own bytes still delete it");
        assert_eq!(crate::row::ENCODED.with(|n| n.get()) - before, 1);
    }

    /// A row type whose `PartialEq` compares ids only: the cache does not use it, so a change is
    /// an update, not a row delivered again (it was silently lost).
    #[test]
    fn a_hand_written_partial_eq_does_not_hide_changes() {
        #[derive(SpacetimeType, Debug, Clone)]
        #[sats(crate = spacetimedb_lib)]
        struct Named {
            id: u32,
            name: String,
        }
        impl PartialEq for Named {
            fn eq(&self, other: &Self) -> bool {
                self.id == other.id
            }
        }
        impl Row for Named {
            const TABLE: &'static str = "named";
            type Key = u32;
            fn primary_key(&self) -> &u32 {
                &self.id
            }
        }
        let named = |name: &str| {
            let row = Named {
                id: 1,
                name: name.into(),
            };
            Bytes::from(bsatn::to_vec(&row).unwrap())
        };
        let mut cache = TableCache::<Named>::default();
        let budget = &mut RowBudget::unlimited();
        apply_bytes(&mut cache, &[], &[named("ann")], budget).unwrap();
        let refused = apply_bytes(&mut cache, &[], &[named("bob")], budget);
        assert!(
            matches!(refused, Err(FrameError::DuplicateKey { .. })),
            "{refused:?}"
        );
        let changes = apply_bytes(&mut cache, &[named("ann")], &[named("bob")], budget).unwrap();
        assert!(matches!(changes.as_slice(), [Change::Update { .. }]));
        assert_eq!(
            cache.get(&1).map(|row| row.name.clone()),
            Some("bob".into())
        );
    }

    proptest! {
        /// An empty table's first update (a subscription's initial rows) takes a path of its
        /// own, in one pass: whatever the rows — listed twice, two rows with one key, more than
        /// the budget holds — it ends as the general path ends: the same changes in the same
        /// order, or refused with the table left empty, and the same rows, counts, charge and
        /// budget left.
        #[test]
        fn filling_an_empty_table_ends_as_the_general_path(
            lists in proptest::collection::vec(
                proptest::collection::vec((0u32..6, 0usize..3, 0i32..2), 0..8),
                0..3,
            ),
            rows_in_budget in 0usize..8,
            junk_at in proptest::option::of(0usize..8),
            empty_deletes in any::<bool>(),
        ) {
            let names = ["a", "bb", "a-much-longer-name"];
            let lists: Vec<RowRanges> = lists
                .iter()
                .enumerate()
                .map(|(n, list)| {
                    let mut rows: Vec<Bytes> = list
                        .iter()
                        .map(|&(id, name, score)| bytes_of(&player(id, names[name], score)))
                        .collect();
                    // A row that does not decode (a name past its bytes), in the first list.
                    if let Some(at) = junk_at.filter(|_| n == 0) {
                        rows.insert(at.min(rows.len()), Bytes::from_static(&[1, 0, 0, 0, 9, 0, 0, 0, 0]));
                    }
                    RowRanges::from_rows(&rows)
                })
                .collect();
            // Deletes given as empty lists take the same path as none.
            let deletes = if empty_deletes { vec![RowRanges::from_rows(&[])] } else { Vec::new() };
            let per_row = crate::ROW_OVERHEAD + size_of::<Player>() + 32;
            let limit = rows_in_budget * per_row;
            let start = RowBudget { cache: limit, cache_limit: limit };
            let (mut filled, mut planned) = (TableCache::<Player>::default(), TableCache::<Player>::default());
            let (mut fill_budget, mut plan_budget) = (start, start);
            let by_fill = filled.apply_rows(&deletes, &lists, &mut fill_budget);
            let by_plan = planned.apply_rows_planned(&lists, &mut plan_budget);
            let outcome = |result: Result<Vec<Change<Arc<Player>>>, crate::FrameError>| {
                result.map(|changes| {
                    changes
                        .iter()
                        .map(|c| match c {
                            Change::Insert(r) => ("insert", (**r).clone()),
                            Change::Delete(r) => ("delete", (**r).clone()),
                            Change::Update { new, .. } => ("update", (**new).clone()),
                        })
                        .collect::<Vec<_>>()
                })
                .map_err(|e| e.to_string())
            };
            match (outcome(by_fill), outcome(by_plan)) {
                // Refused both ways (with two faults, each path may name another first): the
                // table stays empty and the budget whole.
                (Err(_), Err(_)) => {
                    prop_assert!(filled.is_empty());
                    prop_assert_eq!(fill_budget, start);
                }
                (by_fill, by_plan) => prop_assert_eq!(by_fill, by_plan),
            }
            prop_assert_eq!(filled.holdings(), planned.holdings());
            prop_assert_eq!(filled.longest_row(), planned.longest_row());
            prop_assert_eq!(filled.charged_bytes(), planned.charged_bytes());
            prop_assert_eq!(fill_budget, plan_budget);
        }

        /// Server-consistent updates (a changed row is deleted and inserted in one update) and
        /// resyncs leave the cache equal to the server's rows, findable by key, and report each
        /// key's change once, as an insert, update or delete.
        #[test]
        fn the_cache_follows_the_server(
            steps in proptest::collection::vec(
                (proptest::collection::btree_map(0u32..8, proptest::option::of(0i32..3), 0..5), any::<bool>()),
                1..24,
            ),
        ) {
            let mut cache = TableCache::<Player>::default();
            let mut model: BTreeMap<u32, i32> = BTreeMap::new();
            for (ops, resync) in steps {
                let before = model.clone();
                let (mut deletes, mut inserts) = (Vec::new(), Vec::new());
                for (id, score) in ops {
                    if let Some(old) = model.remove(&id) {
                        deletes.push(bytes_of(&player(id, "p", old)));
                    }
                    if let Some(score) = score {
                        model.insert(id, score);
                        inserts.push(bytes_of(&player(id, "p", score)));
                    }
                }
                let changes = if resync {
                    // The socket closed meanwhile: the re-applied subscription delivers it all.
                    cache.begin_resync();
                    let all = model.iter().map(|(id, score)| bytes_of(&player(*id, "p", *score)));
                    let all: Vec<Bytes> = all.collect();
                    cache.assert_stale_held();
                    // Delivered again in two updates, so the total is checked halfway too.
                    let (first, second) = all.split_at(all.len() / 2);
                    let mut changes = cache.apply_rows(&[], &[RowRanges::from_rows(first)], &mut RowBudget::unlimited()).unwrap();
                    cache.assert_stale_held();
                    changes.extend(cache.apply_rows(&[], &[RowRanges::from_rows(second)], &mut RowBudget::unlimited()).unwrap());
                    cache.assert_stale_held();
                    changes.extend(cache.finish_resync());
                    changes
                } else {
                    cache
                        .apply_rows(&[RowRanges::from_rows(&deletes)], &[RowRanges::from_rows(&inserts)], &mut RowBudget::unlimited())
                        .unwrap()
                };
                prop_assert_eq!(summary(&changes), diff(&before, &model));
                assert_matches(&cache, &model);
                cache.assert_stale_held();
            }
        }
    }
}

/// A hostile server's primary keys crafted to collide in an unkeyed hash (FxHash).
mod colliding_keys {
    use super::*;
    use crate::TableCache;
    use crate::client_cache::RowBudget;
    use crate::row_list::RowRanges;
    use std::cell::Cell;

    thread_local! {
        /// How many times two keys were compared.
        static COMPARED: Cell<u64> = const { Cell::new(0) };
    }

    /// A `u64` key (hashed as one) that counts its comparisons.
    #[derive(SpacetimeType, Debug, Clone)]
    #[sats(crate = spacetimedb_lib)]
    struct CountedKey {
        id: u64,
    }

    impl std::hash::Hash for CountedKey {
        fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
            self.id.hash(state);
        }
    }

    impl PartialEq for CountedKey {
        fn eq(&self, other: &Self) -> bool {
            COMPARED.with(|n| n.set(n.get() + 1));
            self.id == other.id
        }
    }

    impl Eq for CountedKey {}

    #[derive(SpacetimeType, Debug, Clone)]
    #[sats(crate = spacetimedb_lib)]
    struct Keyed {
        key: CountedKey,
    }

    impl Row for Keyed {
        const TABLE: &'static str = "keyed";
        type Key = CountedKey;
        fn primary_key(&self) -> &CountedKey {
            &self.key
        }
    }

    /// Ids whose `FxHasher` hashes (`rotate_left(id × K, 26)`, rustc-hash 2) all have the same
    /// low 20 bits (one bucket, for tables up to 2^20 buckets) and the same top 7 bits (one
    /// control byte): `id = rotate_right(h, 26) × K⁻¹`.
    fn colliding_ids(count: u64) -> Vec<u64> {
        const K: u64 = 0xf1357aea2e62a9c5;
        let mut inverse = K;
        for _ in 0..6 {
            inverse = inverse.wrapping_mul(2u64.wrapping_sub(K.wrapping_mul(inverse)));
        }
        assert_eq!(K.wrapping_mul(inverse), 1);
        (1..=count)
            .map(|j| (j << 20).rotate_right(26).wrapping_mul(inverse))
            .collect()
    }

    /// Key comparisons filling an empty table with rows of these ids.
    fn comparisons(ids: &[u64]) -> u64 {
        let rows: Vec<Bytes> = ids
            .iter()
            .map(|&id| {
                Bytes::from(
                    bsatn::to_vec(&Keyed {
                        key: CountedKey { id },
                    })
                    .unwrap(),
                )
            })
            .collect();
        let list = RowRanges::from_rows(&rows);
        let mut table = TableCache::<Keyed>::default();
        COMPARED.with(|n| n.set(0));
        let changes = table
            .apply_rows(&[], &[list], &mut RowBudget::unlimited())
            .unwrap();
        assert_eq!(changes.len(), ids.len());
        COMPARED.with(Cell::get)
    }

    /// Each table hashes with its own secret: keys that collide in one table's map (found by
    /// a server that saw it slow down) are spread out in the next one's.
    #[test]
    fn each_table_hashes_with_its_own_secret() {
        let tables: Vec<TableCache<Keyed>> = (0..4).map(|_| TableCache::default()).collect();
        let key = CountedKey { id: 7 };
        let hashes: std::collections::BTreeSet<u64> =
            tables.iter().map(|table| table.hash_of(&key)).collect();
        assert_eq!(hashes.len(), tables.len(), "{hashes:?}");
    }

    /// Keys chosen to fall in one probe sequence of an unkeyed `FxHashMap` cost no more than
    /// others: with FxHash each insert compared its key with every row so far, n²/2 in all
    /// (900 000 rows, what the default cache holds of small rows: about 4 × 10^11 comparisons,
    /// the tab frozen).
    #[test]
    fn keys_chosen_to_collide_cost_no_more_than_other_keys() {
        const N: u64 = 4_000;
        let plain = comparisons(&(0..N).collect::<Vec<_>>());
        let colliding = comparisons(&colliding_ids(N));
        assert!(
            colliding <= 4 * N.max(plain),
            "{N} rows: {colliding} key comparisons with colliding ids, {plain} with 0..{N}"
        );
    }
}

/// Frames read where they lie (`handle_far_frame`) end as the same frames handled whole.
mod far_frames {
    use super::*;
    use crate::TableCache;

    /// One table's rows in a generated `SubscribeMultiApplied`: whether it is the registered
    /// table, and its query updates (deleted ids, inserted rows, whether the hint is a fixed size,
    /// where a row that does not decode goes).
    type Table = (
        bool,
        Vec<(Vec<u32>, Vec<(u32, usize, i32)>, bool, Option<usize>)>,
    );

    fn row_list(rows: &[Player], fixed: bool, junk_at: Option<usize>) -> BsatnRowList {
        let mut encoded: Vec<Vec<u8>> = rows.iter().map(|r| bsatn::to_vec(r).unwrap()).collect();
        if let Some(at) = junk_at.filter(|_| !fixed) {
            encoded.insert(at.min(encoded.len()), vec![1, 0, 0, 0, 9, 0, 0, 0, 0]);
        }
        let data: Vec<u8> = encoded.concat();
        let hint = match (fixed, encoded.first()) {
            (true, Some(first)) => RowSizeHint::FixedSize(first.len() as u16),
            (true, None) => RowSizeHint::FixedSize(1),
            (false, _) => {
                let mut offsets = Vec::new();
                let mut at = 0u64;
                for row in &encoded {
                    offsets.push(at);
                    at += row.len() as u64;
                }
                RowSizeHint::RowOffsets(offsets.into())
            }
        };
        BsatnRowList::new(hint, Bytes::from(data))
    }

    fn applied_frame(query_id: u32, tables: &[Table]) -> Vec<u8> {
        // Names of one length, so a fixed size hint fits every row.
        let names = ["aa", "bb", "cc"];
        let tables = tables
            .iter()
            .map(|(registered, updates)| TableUpdate {
                table_id: TableId(4096),
                table_name: if *registered { "player" } else { "other" }.into(),
                num_rows: 0,
                updates: updates
                    .iter()
                    .map(|(deletes, inserts, fixed, junk_at)| {
                        let deletes: Vec<Player> =
                            deletes.iter().map(|&id| player(id, "aa", 0)).collect();
                        let inserts: Vec<Player> = inserts
                            .iter()
                            .map(|&(id, name, score)| player(id, names[name], score))
                            .collect();
                        CompressableQueryUpdate::Uncompressed(QueryUpdate {
                            deletes: row_list(&deletes, *fixed, None),
                            inserts: row_list(&inserts, *fixed, *junk_at),
                        })
                    })
                    .collect(),
            })
            .collect();
        applied(query_id, DatabaseUpdate { tables })
    }

    /// What a core did with a frame: its events, what it sent, its table (key, count, length)
    /// and how many frames it could not use.
    type Outcome = (Vec<String>, Vec<String>, Vec<(u32, u32, u32)>, u64);

    /// What a core did with a frame (see [`Outcome`]).
    fn outcome(core: &mut ClientCore) -> Outcome {
        let events = drain(core)
            .iter()
            .map(|event| match event {
                Event::RowsChanged(rows) => {
                    format!("{} {:?} {:?}", rows.table, rows.cause, rows.of::<Player>())
                }
                other => format!("{other:?}"),
            })
            // Which of two colliding keys is named depends on the order of a map seeded at
            // random (each table hashes with its own secret): the refusal is what must agree.
            .map(|event: String| match event.find("primary key ") {
                Some(at) => format!("{} <a duplicate key>", &event[..at]),
                None if event.contains("DuplicateKey") => "DuplicateKey".to_owned(),
                None => event,
            })
            .collect();
        let sent = std::iter::from_fn(|| core.poll_transmit())
            .map(|bytes| format!("{bytes:?}"))
            .collect();
        let table = core
            .table::<Player>()
            .map(TableCache::holdings)
            .unwrap_or_default();
        (events, sent, table, core.stats().frame_errors)
    }

    /// Two cores subscribed alike (one with a row cached already when `prefilled`), one handed
    /// `frame` whole, the other where it lies.
    fn both(frame: &[u8], prefilled: bool, cache_rows: usize) -> (ClientCore, ClientCore, bool) {
        let start = || {
            let mut core = connected_core();
            core.set_max_cache_bytes(cache_rows * (crate::ROW_OVERHEAD + 64));
            core.subscribe(["SELECT * FROM player"]).unwrap();
            if prefilled {
                core.subscribe(["SELECT * FROM player WHERE id = 1"])
                    .unwrap();
                core.handle_frame(&applied(2, update(&[], &[player(1, "aa", 5)])));
            }
            drain(&mut core);
            sent(&mut core);
            core
        };
        let (mut whole, mut far) = (start(), start());
        let empty = whole.table::<Player>().is_some_and(|t| t.is_empty());
        far.read_every_frame_far();
        whole.handle_frame(frame);
        far.handle_far_frame(&frame);
        (whole, far, empty)
    }

    fn tables() -> impl Strategy<Value = Vec<Table>> {
        proptest::collection::vec(
            (
                any::<bool>(),
                proptest::collection::vec(
                    (
                        proptest::collection::vec(0u32..4, 0..2),
                        proptest::collection::vec((0u32..6, 0usize..3, 0i32..2), 0..6),
                        any::<bool>(),
                        proptest::option::of(0usize..6),
                    ),
                    0..3,
                ),
            ),
            0..3,
        )
    }

    proptest! {
        /// Whatever the rows — repeated, two with one key, one that does not decode, a fixed
        /// size hint, more than the cache holds, another table's, deletes, a table holding
        /// rows — reading the frame where it lies ends as handling it whole; and it is read
        /// there exactly when it lists the registered table, empty, and deletes none of it.
        #[test]
        fn a_far_frame_ends_as_the_whole_frame(
            tables in tables(),
            prefilled in any::<bool>(),
            cache_rows in 0usize..8,
        ) {
            let frame = applied_frame(1, &tables);
            let (mut whole, mut far, empty) = both(&frame, prefilled, cache_rows);
            let deletes = tables
                .iter()
                .filter(|(registered, _)| *registered)
                .flat_map(|(_, updates)| updates)
                .any(|(deletes, ..)| !deletes.is_empty());
            let listed = tables.iter().any(|(registered, _)| *registered);
            prop_assert_eq!(far.stats().far_frames, u64::from(listed && empty && !deletes));
            prop_assert_eq!(far.stats().frames, whole.stats().frames);
            prop_assert_eq!(outcome(&mut far), outcome(&mut whole));
        }

        /// A frame cut short, grown or with a byte changed anywhere ends as it does whole (a
        /// frame error, a refused subscription, or rows): the envelope is read as strictly.
        #[test]
        fn a_damaged_far_frame_ends_as_the_whole_frame(
            tables in tables(),
            cut in proptest::option::of(0usize..400),
            change in proptest::option::of((0usize..400, any::<u8>())),
            extra in proptest::collection::vec(any::<u8>(), 0..3),
        ) {
            let mut frame = applied_frame(1, &tables);
            if let Some((at, byte)) = change {
                let at = at % frame.len();
                frame[at] = byte;
            }
            if let Some(cut) = cut {
                frame.truncate(cut);
            }
            frame.extend(extra);
            let (mut whole, mut far, _) = both(&frame, false, 8);
            prop_assert_eq!(outcome(&mut far), outcome(&mut whole));
        }
    }

    /// A frame over the size the core reads where it lies by default is read there, in
    /// windows, and a row straddling two windows decodes whole.
    #[test]
    fn a_large_initial_subscription_is_read_in_windows() {
        let rows: Vec<Player> = (0..40_000)
            .map(|id| player(id, &"n".repeat(id as usize % 50), id as i32))
            .collect();
        let frame = applied(1, update(&[], &rows));
        assert!(frame.len() > crate::FAR_FRAME_MIN);
        let mut core = connected_core();
        core.subscribe(["SELECT * FROM player"]).unwrap();
        drain(&mut core);
        core.handle_far_frame(&frame);
        assert_eq!(core.stats().far_frames, 1);
        let events = drain(&mut core);
        assert_eq!(changes(&events).len(), rows.len());
        let table = core.table::<Player>().unwrap();
        for row in &rows {
            assert_eq!(table.get(&row.id).as_deref(), Some(row));
        }
    }
}

/// What a hostile server's frame costs the far reader before it is refused (review of
/// "wip: far frames").
mod far_frame_costs {
    use super::*;
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    /// The system allocator, noting the largest single request made on a thread that asked.
    struct Largest;

    thread_local! {
        /// The largest request since [`watch`] on this thread (`None`: not watched).
        static LARGEST: Cell<Option<usize>> = const { Cell::new(None) };
    }

    fn note(size: usize) {
        let _ = LARGEST.try_with(|largest| {
            if let Some(seen) = largest.get() {
                largest.set(Some(seen.max(size)));
            }
        });
    }

    // SAFETY: every call is forwarded unchanged to the system allocator.
    unsafe impl GlobalAlloc for Largest {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            note(new_size);
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Largest = Largest;

    /// The largest single allocation `run` makes on this thread.
    fn largest_allocation(run: impl FnOnce()) -> usize {
        LARGEST.with(|largest| largest.set(Some(0)));
        run();
        LARGEST.with(|largest| largest.replace(None)).unwrap_or(0)
    }

    /// An uncompressed `SubscribeMultiApplied` header followed by `body`.
    fn applied_header(body: &[u8]) -> Vec<u8> {
        let mut frame = vec![0, 8];
        frame.extend(1u32.to_le_bytes()); // request id
        frame.extend(0u64.to_le_bytes()); // duration
        frame.extend(1u32.to_le_bytes()); // query id
        frame.extend(body);
        frame
    }

    /// A 1 MiB frame claiming as many tables (or one table claiming as many query updates) as
    /// it has bytes left is refused by the whole-frame path's shape walk without allocating;
    /// the far reader reserved a `Vec` of that many decoded elements (48 or more bytes each)
    /// before weighing them: 48 MiB and more for a 1 MiB frame, over 1.5 GiB for one within
    /// the default 32 MiB `max_frame_bytes` (a trap or memory kept for good in wasm). The
    /// whole-frame path documents about `6 n + 64 KiB` for all of a frame's memory; weighing
    /// the elements as they are read keeps the largest allocation well under `4 n`.
    #[test]
    fn a_claimed_count_reserves_no_more_than_the_frame() {
        let len = crate::FAR_FRAME_MIN + 64;
        let mut many_tables = applied_header(&((len - 22) as u32).to_le_bytes());
        many_tables.resize(len, 0);
        let mut many_updates = applied_header(&1u32.to_le_bytes());
        many_updates.extend(4096u32.to_le_bytes()); // table id
        many_updates.extend(6u32.to_le_bytes());
        many_updates.extend(b"player");
        many_updates.extend(0u64.to_le_bytes()); // num rows
        many_updates.extend(((len - many_updates.len() - 4) as u32).to_le_bytes());
        many_updates.resize(len, 0);
        for frame in [many_tables, many_updates] {
            let start = || {
                let mut core = connected_core();
                core.subscribe(["SELECT * FROM player"]).unwrap();
                core
            };
            let (mut whole, mut far) = (start(), start());
            whole.handle_frame(&frame);
            let largest = largest_allocation(|| far.handle_far_frame(&frame));
            assert_eq!(far.stats().frame_errors, 1);
            assert_eq!(whole.stats().frame_errors, 1);
            assert!(
                largest <= 4 * frame.len(),
                "one allocation of {largest} bytes for a frame of {}",
                frame.len()
            );
        }
    }

    /// A frame source counting its reads: in the browser each is a `subarray` and a copy
    /// across the JS boundary (and `len` one more call), not a memory access.
    struct Counted<'a>(&'a [u8], Cell<usize>);

    impl crate::FrameSource for Counted<'_> {
        fn len(&self) -> usize {
            self.1.set(self.1.get() + 1);
            self.0.len()
        }

        fn read(&self, at: usize, into: &mut [u8]) {
            self.1.set(self.1.get() + 1);
            into.copy_from_slice(&self.0[at..at + into.len()]);
        }
    }

    /// A large initial subscription is read in windows, but its envelope a field at a time:
    /// one JS round trip per row offset (8 bytes), a 32 MiB frame of offsets four million of
    /// them, and as many again for frames that then fall back to the whole-frame path.
    #[test]
    fn a_far_frame_is_read_in_few_calls() {
        let rows: Vec<Player> = (0..40_000)
            .map(|id| player(id, &"n".repeat(id as usize % 50), id as i32))
            .collect();
        let frame = applied(1, update(&[], &rows));
        let mut core = connected_core();
        core.subscribe(["SELECT * FROM player"]).unwrap();
        let source = Counted(&frame, Cell::new(0));
        core.handle_far_frame(&source);
        assert_eq!(core.stats().far_frames, 1);
        let calls = source.1.get();
        assert!(
            calls <= 4 * frame.len().div_ceil(64 << 10) + 64,
            "{calls} reads of a {}-byte frame",
            frame.len()
        );
    }
}
