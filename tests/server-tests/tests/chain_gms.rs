//! `report_chain_gms`: a chain watcher's batch of GMs and the chain's cursor, moved in one
//! transaction, on a SpacetimeDB of each test's own (the cursors are per database).

use local_spacetimedb::{CallOutcome, NewIdentity};
use onepulse_domain::Address;
use onepulse_gm_stats::GmStatsRow;
use serde_json::{Value, json};
use test_kit::{PrivateServer, today, unique_address};

const BASE: i32 = 8453;
const CELO: i32 = 42220;

/// One GM of a batch: who, which day, where on the chain.
struct Gm<'a> {
    address: &'a Address,
    day: i32,
    block: u64,
    log: u32,
}

fn tx_hash(block: u64, log: u32) -> String {
    format!("0x{block:032x}{log:032x}")
}

fn gm_json(gm: &Gm) -> Value {
    json!({
        "address": gm.address.as_str(),
        "day": gm.day,
        "tx_hash": tx_hash(gm.block, gm.log),
        "block_number": gm.block,
        "log_index": gm.log,
    })
}

fn batch(
    server: &PrivateServer,
    who: &NewIdentity,
    chain: i32,
    from: u64,
    to: u64,
    gms: &[Gm],
) -> CallOutcome {
    let gms: Vec<Value> = gms.iter().map(gm_json).collect();
    server
        .api()
        .call_reducer(
            server.database(),
            "report_chain_gms",
            &json!([chain, from, to, gms]),
            Some(&who.token),
        )
        .unwrap_or_else(|e| panic!("report_chain_gms: {e}"))
}

/// The cursor of `chain` (the first block not reported), read anonymously: the table is public.
fn cursor(server: &PrivateServer, chain: i32) -> Option<u64> {
    let query = format!("SELECT * FROM chain_cursor WHERE chain_id = {chain}");
    let results = server
        .api()
        .sql(server.database(), &query, None)
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    let result = results.into_iter().next().expect("one result");
    let row = result.rows.first()?;
    let next = result.get(row, "next_block").expect("column next_block");
    Some(
        next.as_u64()
            .unwrap_or_else(|| panic!("next_block is {next}")),
    )
}

#[track_caller]
fn failed(outcome: CallOutcome, expected: &str) -> String {
    match outcome {
        CallOutcome::Failed(message) => {
            assert!(
                message.contains(expected),
                "message {message:?} does not mention {expected:?}"
            );
            message
        }
        CallOutcome::Committed => panic!("accepted; expected a failure mentioning {expected:?}"),
    }
}

fn streaks(rows: &[GmStatsRow]) -> Vec<(i32, i32, i32, i32, i32)> {
    rows.iter()
        .map(|r| {
            (
                r.chain_id,
                r.current_streak,
                r.highest_streak,
                r.all_time_gm_count,
                r.last_gm_day,
            )
        })
        .collect()
}

#[test]
fn a_batch_applies_its_gms_in_order_and_moves_the_cursor_once() {
    let server = PrivateServer::start("chain-gms-apply");
    let watcher = server.new_reporter();
    let (ann, bob) = (unique_address(), unique_address());
    let day = today();
    assert_eq!(cursor(&server, BASE), None);

    let gms = [
        Gm {
            address: &ann,
            day: day - 1,
            block: 101,
            log: 0,
        },
        Gm {
            address: &bob,
            day,
            block: 103,
            log: 2,
        },
        Gm {
            address: &ann,
            day,
            block: 105,
            log: 0,
        },
    ];
    assert_eq!(
        batch(&server, &watcher, BASE, 100, 110, &gms),
        CallOutcome::Committed
    );
    assert_eq!(cursor(&server, BASE), Some(111));
    assert_eq!(
        cursor(&server, CELO),
        None,
        "other chains' cursors do not move"
    );
    let ann_rows = server.rows_of(&ann);
    assert_eq!(streaks(&ann_rows), [(BASE, 2, 2, 2, day)]);
    assert_eq!(ann_rows[0].last_tx_hash, Some(tx_hash(105, 0)));
    assert_eq!(streaks(&server.rows_of(&bob)), [(BASE, 1, 1, 1, day)]);

    // An empty range moves the cursor too; the next batch continues from it.
    assert_eq!(
        batch(&server, &watcher, BASE, 111, 150, &[]),
        CallOutcome::Committed
    );
    assert_eq!(cursor(&server, BASE), Some(151));

    // Chains are independent.
    let celo = [Gm {
        address: &ann,
        day,
        block: 7,
        log: 1,
    }];
    assert_eq!(
        batch(&server, &watcher, CELO, 5, 9, &celo),
        CallOutcome::Committed
    );
    assert_eq!(cursor(&server, CELO), Some(10));
    assert_eq!(cursor(&server, BASE), Some(151));
    assert_eq!(
        streaks(&server.rows_of(&ann)),
        [(BASE, 2, 2, 2, day), (CELO, 1, 1, 1, day)]
    );
}

#[test]
fn replays_change_nothing_and_the_cursor_never_moves_back() {
    let server = PrivateServer::start("chain-gms-replay");
    let watcher = server.new_reporter();
    let replica = server.new_reporter();
    let ann = unique_address();
    let day = today();
    let gms = [
        Gm {
            address: &ann,
            day: day - 1,
            block: 10,
            log: 0,
        },
        Gm {
            address: &ann,
            day,
            block: 20,
            log: 3,
        },
    ];
    assert_eq!(
        batch(&server, &watcher, BASE, 0, 30, &gms),
        CallOutcome::Committed
    );
    let after_first = server.rows_of(&ann);
    assert_eq!(streaks(&after_first), [(BASE, 2, 2, 2, day)]);

    // The same batch again (a restarted watcher, or a second replica): nothing changes.
    assert_eq!(
        batch(&server, &replica, BASE, 0, 30, &gms),
        CallOutcome::Committed
    );
    assert_eq!(server.rows_of(&ann), after_first);
    assert_eq!(cursor(&server, BASE), Some(31));

    // A shorter, older range: applied as a replay, the cursor stays where it is.
    assert_eq!(
        batch(&server, &replica, BASE, 0, 15, &gms[..1]),
        CallOutcome::Committed
    );
    assert_eq!(server.rows_of(&ann), after_first);
    assert_eq!(cursor(&server, BASE), Some(31));

    // A range overlapping the cursor: its old part replays, its new part counts.
    let bob = unique_address();
    let overlapping = [
        Gm {
            address: &ann,
            day,
            block: 20,
            log: 3,
        },
        Gm {
            address: &bob,
            day,
            block: 35,
            log: 0,
        },
    ];
    assert_eq!(
        batch(&server, &replica, BASE, 20, 40, &overlapping),
        CallOutcome::Committed
    );
    assert_eq!(server.rows_of(&ann), after_first);
    assert_eq!(streaks(&server.rows_of(&bob)), [(BASE, 1, 1, 1, day)]);
    assert_eq!(cursor(&server, BASE), Some(41));
}

#[test]
fn a_batch_that_would_leave_a_gap_is_refused_and_changes_nothing() {
    let server = PrivateServer::start("chain-gms-gap");
    let watcher = server.new_reporter();
    let ann = unique_address();
    assert_eq!(
        batch(&server, &watcher, BASE, 50, 60, &[]),
        CallOutcome::Committed
    );
    let later = [Gm {
        address: &ann,
        day: today(),
        block: 70,
        log: 0,
    }];
    let message = failed(batch(&server, &watcher, BASE, 62, 80, &later), "gap");
    assert_eq!(
        message,
        "gap: the cursor of chain 8453 is at block 61; a batch from block 62 would skip blocks \
         61..62: report from block 61"
    );
    assert!(server.rows_of(&ann).is_empty());
    assert_eq!(cursor(&server, BASE), Some(61));
    // From the cursor it goes through.
    assert_eq!(
        batch(&server, &watcher, BASE, 61, 80, &later),
        CallOutcome::Committed
    );
    assert_eq!(server.rows_of(&ann).len(), 1);
    assert_eq!(cursor(&server, BASE), Some(81));
}

#[test]
fn bad_batches_are_refused_whole_with_the_reason() {
    let server = PrivateServer::start("chain-gms-bad");
    let watcher = server.new_reporter();
    let stranger = server
        .api()
        .new_identity()
        .unwrap_or_else(|e| panic!("{e}"));
    let ann = unique_address();
    let day = today();
    let good = Gm {
        address: &ann,
        day,
        block: 5,
        log: 0,
    };
    let bad_address: Address = unique_address();
    let gm = |day: i32, block: u64, log: u32| Gm {
        address: &bad_address,
        day,
        block,
        log,
    };

    let cases: Vec<(CallOutcome, &str)> = vec![
        (
            batch(&server, &stranger, BASE, 0, 10, &[gm(day, 5, 0)]),
            "not authorized",
        ),
        (batch(&server, &watcher, 1, 0, 10, &[]), "invalid chain"),
        (
            batch(&server, &watcher, BASE, 10, 9, &[]),
            "from_block 10 is after to_block 9",
        ),
        (
            batch(&server, &watcher, BASE, 0, u64::MAX, &[]),
            "to_block 18446744073709551615 is too large",
        ),
        (
            batch(&server, &watcher, BASE, 0, 10, &[good, gm(day, 11, 0)]),
            "gms[1]: block 11 is outside 0..=10",
        ),
        (
            batch(
                &server,
                &watcher,
                BASE,
                0,
                10,
                &[gm(day, 6, 0), gm(day, 5, 9)],
            ),
            "gms[1]: block 5 log 9 is not after",
        ),
        (
            batch(
                &server,
                &watcher,
                BASE,
                0,
                10,
                &[gm(day, 6, 1), gm(day, 6, 1)],
            ),
            "gms[1]: block 6 log 1 is not after",
        ),
        (
            batch(&server, &watcher, BASE, 0, 10, &[gm(day + 2, 6, 1)]),
            "gms[0]: invalid last_gm_day",
        ),
        (
            batch(&server, &watcher, BASE, 0, 10, &[gm(-1, 6, 1)]),
            "gms[0]: invalid last_gm_day",
        ),
    ];
    for (outcome, expected) in cases {
        failed(outcome, expected);
    }
    // A malformed address or hash, after a good GM: the good one is not applied either.
    let call = |gms: Value| {
        server
            .api()
            .call_reducer(
                server.database(),
                "report_chain_gms",
                &json!([BASE, 0, 10, gms]),
                Some(&watcher.token),
            )
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let good_json = gm_json(&Gm {
        address: &ann,
        day,
        block: 5,
        log: 0,
    });
    let mut bad = gm_json(&Gm {
        address: &ann,
        day,
        block: 6,
        log: 0,
    });
    bad["address"] = json!("0x12");
    failed(call(json!([good_json, bad])), "gms[1]: invalid address");
    let mut bad_hash = gm_json(&Gm {
        address: &ann,
        day,
        block: 6,
        log: 0,
    });
    bad_hash["tx_hash"] = json!("0x1234");
    failed(
        call(json!([good_json, bad_hash])),
        "gms[1]: invalid tx_hash",
    );
    let too_many: Vec<Value> = (0..5001u32)
        .map(|i| {
            gm_json(&Gm {
                address: &ann,
                day,
                block: 5,
                log: i,
            })
        })
        .collect();
    failed(call(Value::Array(too_many)), "too many GMs: 5001");

    assert!(server.rows_of(&ann).is_empty());
    assert!(server.rows_of(&bad_address).is_empty());
    assert_eq!(cursor(&server, BASE), None);
}

/// Only the owner may forget a chain's cursor (for development chains that start afresh); the
/// next batch then starts anywhere. On the shared test database: the only test that moves
/// Optimism's cursor there.
#[test]
fn only_the_owner_resets_a_chain_cursor() {
    const OPTIMISM: i32 = 10;
    let db = test_kit::TestDb::from_env();
    let owner = db.owner_token();
    let reporter = db.reporter().clone();
    let stranger = db.new_identity();
    let reset =
        |chain: i32, token: Option<&str>| db.call("reset_chain_cursor", json!([chain]), token);
    let report = |from: u64, to: u64| {
        db.call(
            "report_chain_gms",
            json!([OPTIMISM, from, to, []]),
            Some(&reporter.token),
        )
    };
    assert_eq!(reset(OPTIMISM, Some(&owner)), CallOutcome::Committed);
    assert_eq!(report(1000, 1010), CallOutcome::Committed);
    failed(
        report(2000, 2010),
        "gap: the cursor of chain 10 is at block 1011",
    );

    for token in [
        Some(reporter.token.as_str()),
        Some(stranger.token.as_str()),
        None,
    ] {
        failed(reset(OPTIMISM, token), "not authorized");
    }
    failed(report(2000, 2010), "gap");
    failed(reset(1, Some(&owner)), "invalid chain");

    assert_eq!(reset(OPTIMISM, Some(&owner)), CallOutcome::Committed);
    // Resetting a chain without a cursor is harmless.
    assert_eq!(reset(OPTIMISM, Some(&owner)), CallOutcome::Committed);
    assert_eq!(report(2000, 2010), CallOutcome::Committed);
    failed(report(3000, 3000), "is at block 2011");
}
