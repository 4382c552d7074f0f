//! `report_chain_gms`: a chain watcher's batch of GMs and the chain's cursor — a position,
//! (block, log index) — moved in one transaction, on a SpacetimeDB of each test's own (the
//! cursors are per database).

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

/// A position on a chain: (block, log index).
type At = (u64, u32);

/// Whole blocks `first..=last`: from `(first, 0)` up to `(last + 1, 0)`.
fn blocks(first: u64, last: u64) -> (At, At) {
    ((first, 0), (last + 1, 0))
}

/// A batch marked as starting at the chain's start block (`first`), as a watcher's first is.
fn batch(
    server: &PrivateServer,
    who: &NewIdentity,
    chain: i32,
    span: (At, At),
    gms: &[Gm],
) -> CallOutcome {
    batch_marked(server, who, chain, span, gms, true)
}

fn batch_marked(
    server: &PrivateServer,
    who: &NewIdentity,
    chain: i32,
    (from, next): (At, At),
    gms: &[Gm],
    first: bool,
) -> CallOutcome {
    let gms: Vec<Value> = gms.iter().map(gm_json).collect();
    server
        .api()
        .call_reducer(
            server.database(),
            "report_chain_gms",
            &json!([chain, from.0, from.1, next.0, next.1, gms, first]),
            Some(&who.token),
        )
        .unwrap_or_else(|e| panic!("report_chain_gms: {e}"))
}

/// The cursor of `chain` — (next block, next log index, GMs passed) — read anonymously: the
/// tables are public. `chain_cursor` (by whole blocks, the layout from before log indexes)
/// must agree with `chain_position`.
fn cursor_row(server: &PrivateServer, chain: i32) -> Option<(u64, u32, u64)> {
    let read = |table: &str, columns: &[&str]| -> Option<Vec<u64>> {
        let query = format!("SELECT * FROM {table} WHERE chain_id = {chain}");
        let results = server
            .api()
            .sql(server.database(), &query, None)
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        let result = results.into_iter().next().expect("one result");
        let row = result.rows.first()?;
        Some(
            columns
                .iter()
                .map(|column| {
                    let value = result
                        .get(row, column)
                        .unwrap_or_else(|| panic!("column {column}"));
                    value
                        .as_u64()
                        .unwrap_or_else(|| panic!("{column} is {value}"))
                })
                .collect(),
        )
    };
    let position = read(
        "chain_position",
        &["next_block", "next_log_index", "gm_count"],
    );
    let block = read("chain_cursor", &["next_block"]);
    assert_eq!(
        block.as_ref().and_then(|b| b.first().copied()),
        position.as_ref().and_then(|p| p.first().copied()),
        "chain_cursor and chain_position disagree"
    );
    let position = position?;
    match position[..] {
        [block, log, count] => Some((block, u32::try_from(log).expect("a u32"), count)),
        _ => panic!("{position:?}"),
    }
}

/// The first block not wholly reported.
fn cursor(server: &PrivateServer, chain: i32) -> Option<u64> {
    cursor_row(server, chain).map(|(block, _, _)| block)
}

/// How many GMs the cursor of `chain` has passed.
fn passed(server: &PrivateServer, chain: i32) -> u64 {
    cursor_row(server, chain).map_or(0, |(_, _, count)| count)
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
        batch(&server, &watcher, BASE, blocks(100, 110), &gms),
        CallOutcome::Committed
    );
    assert_eq!(cursor_row(&server, BASE), Some((111, 0, 3)));
    assert_eq!(
        cursor(&server, CELO),
        None,
        "other chains' cursors do not move"
    );
    let ann_rows = server.rows_of(&ann);
    assert_eq!(streaks(&ann_rows), [(BASE, 2, 2, 2, day)]);
    assert_eq!(
        ann_rows[0].last_tx_hash,
        Some(tx_hash(105, 0).as_str().into())
    );
    assert_eq!(streaks(&server.rows_of(&bob)), [(BASE, 1, 1, 1, day)]);

    // An empty range moves the cursor too; the next batch continues from it.
    assert_eq!(
        batch(&server, &watcher, BASE, blocks(111, 150), &[]),
        CallOutcome::Committed
    );
    assert_eq!(cursor_row(&server, BASE), Some((151, 0, 3)));

    // Chains are independent.
    let celo = [Gm {
        address: &ann,
        day,
        block: 7,
        log: 1,
    }];
    assert_eq!(
        batch(&server, &watcher, CELO, blocks(5, 9), &celo),
        CallOutcome::Committed
    );
    assert_eq!(cursor_row(&server, CELO), Some((10, 0, 1)));
    assert_eq!(cursor_row(&server, BASE), Some((151, 0, 3)));
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
        batch(&server, &watcher, BASE, blocks(0, 30), &gms),
        CallOutcome::Committed
    );
    let after_first = server.rows_of(&ann);
    assert_eq!(streaks(&after_first), [(BASE, 2, 2, 2, day)]);
    assert_eq!(passed(&server, BASE), 2);

    // The same batch again (a restarted watcher, or a second replica): nothing changes.
    assert_eq!(
        batch(&server, &replica, BASE, blocks(0, 30), &gms),
        CallOutcome::Committed
    );
    assert_eq!(server.rows_of(&ann), after_first);
    assert_eq!(cursor(&server, BASE), Some(31));

    // A shorter, older range: applied as a replay, the cursor stays where it is.
    assert_eq!(
        batch(&server, &replica, BASE, blocks(0, 15), &gms[..1]),
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
        batch(&server, &replica, BASE, blocks(20, 40), &overlapping),
        CallOutcome::Committed
    );
    assert_eq!(server.rows_of(&ann), after_first);
    assert_eq!(streaks(&server.rows_of(&bob)), [(BASE, 1, 1, 1, day)]);
    // Replayed GMs are not counted again: the cursor passed each GM once.
    assert_eq!(cursor_row(&server, BASE), Some((41, 0, 3)));
}

#[test]
fn a_batch_that_would_leave_a_gap_is_refused_and_changes_nothing() {
    let server = PrivateServer::start("chain-gms-gap");
    let watcher = server.new_reporter();
    let ann = unique_address();
    assert_eq!(
        batch(&server, &watcher, BASE, blocks(50, 60), &[]),
        CallOutcome::Committed
    );
    let later = [Gm {
        address: &ann,
        day: today(),
        block: 70,
        log: 0,
    }];
    let message = failed(
        batch(&server, &watcher, BASE, blocks(62, 80), &later),
        "gap",
    );
    assert_eq!(
        message,
        "gap: the cursor of chain 8453 is at block 61 log 0; a batch from block 62 log 0 would \
         skip the GMs in between: report from block 61 log 0"
    );
    assert!(server.rows_of(&ann).is_empty());
    assert_eq!(cursor(&server, BASE), Some(61));
    // From the cursor it goes through.
    assert_eq!(
        batch(&server, &watcher, BASE, blocks(61, 80), &later),
        CallOutcome::Committed
    );
    assert_eq!(server.rows_of(&ann).len(), 1);
    assert_eq!(cursor(&server, BASE), Some(81));
}

/// Without a cursor (never reported, reset, or lost in a crash while a batch was on its way),
/// only a batch marked as starting at the chain's start block may set it: an in-flight batch
/// from further on would otherwise skip the GMs between the start block and it.
#[test]
fn without_a_cursor_only_a_batch_from_the_start_is_taken() {
    let server = PrivateServer::start("chain-gms-first");
    let watcher = server.new_reporter();
    let ann = unique_address();
    let gm = [Gm {
        address: &ann,
        day: today(),
        block: 70,
        log: 0,
    }];
    let message = failed(
        batch_marked(&server, &watcher, BASE, blocks(62, 80), &gm, false),
        "gap",
    );
    assert!(message.contains("chain 8453 has no cursor"), "{message}");
    assert!(server.rows_of(&ann).is_empty());
    assert_eq!(cursor(&server, BASE), None);
    // Marked first: it sets the cursor; later batches need no mark.
    assert_eq!(
        batch(&server, &watcher, BASE, blocks(10, 61), &[]),
        CallOutcome::Committed
    );
    assert_eq!(
        batch_marked(&server, &watcher, BASE, blocks(62, 80), &gm, false),
        CallOutcome::Committed
    );
    assert_eq!(server.rows_of(&ann).len(), 1);
    assert_eq!(cursor(&server, BASE), Some(81));
}

/// A block with more GMs than one batch may carry is reported over several batches: the cursor
/// is a position (block, log index), and a batch may end in the middle of a block.
#[test]
fn a_block_spans_batches_and_the_cursor_keeps_its_log_index() {
    let server = PrivateServer::start("chain-gms-span");
    let watcher = server.new_reporter();
    let day = today();
    let wallets: Vec<Address> = (0..7).map(|_| unique_address()).collect();
    // Block 7 has 7 GMs at logs 0, 2, 4, … 12 (other contracts' logs in between).
    let gms: Vec<Gm> = wallets
        .iter()
        .zip(0u32..)
        .map(|(address, i)| Gm {
            address,
            day,
            block: 7,
            log: i * 2,
        })
        .collect();
    assert_eq!(
        batch(&server, &watcher, BASE, ((7, 0), (7, 5)), &gms[..3]),
        CallOutcome::Committed
    );
    assert_eq!(cursor_row(&server, BASE), Some((7, 5, 3)));
    // Starting after the cursor, even inside the block, would skip log 5 onwards: refused.
    let message = failed(
        batch(&server, &watcher, BASE, ((7, 6), (8, 0)), &gms[3..]),
        "gap",
    );
    assert!(message.contains("is at block 7 log 5"), "{message}");
    assert!(server.rows_of(&wallets[3]).is_empty());
    // A replay of the first part changes nothing and counts nothing.
    assert_eq!(
        batch(&server, &watcher, BASE, ((7, 0), (7, 5)), &gms[..3]),
        CallOutcome::Committed
    );
    assert_eq!(cursor_row(&server, BASE), Some((7, 5, 3)));
    // The rest of the block from the cursor.
    assert_eq!(
        batch(&server, &watcher, BASE, ((7, 5), (8, 0)), &gms[3..]),
        CallOutcome::Committed
    );
    assert_eq!(cursor_row(&server, BASE), Some((8, 0, 7)));
    for wallet in &wallets {
        assert_eq!(streaks(&server.rows_of(wallet)), [(BASE, 1, 1, 1, day)]);
    }

    // 5 001 GMs in one block — more than one batch may carry — in two batches.
    let many: Vec<Address> = (0..5001).map(|_| unique_address()).collect();
    let block: Vec<Gm> = many
        .iter()
        .zip(0u32..)
        .map(|(address, log)| Gm {
            address,
            day,
            block: 9,
            log,
        })
        .collect();
    assert_eq!(
        batch(&server, &watcher, BASE, ((8, 0), (9, 5000)), &block[..5000]),
        CallOutcome::Committed
    );
    assert_eq!(cursor_row(&server, BASE), Some((9, 5000, 5007)));
    assert_eq!(
        batch(
            &server,
            &watcher,
            BASE,
            ((9, 5000), (10, 0)),
            &block[5000..]
        ),
        CallOutcome::Committed
    );
    assert_eq!(cursor_row(&server, BASE), Some((10, 0, 5008)));
    for wallet in [&many[0], &many[4999], &many[5000]] {
        assert_eq!(streaks(&server.rows_of(wallet)), [(BASE, 1, 1, 1, day)]);
    }
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
            batch(&server, &stranger, BASE, blocks(0, 10), &[gm(day, 5, 0)]),
            "not authorized",
        ),
        (
            batch(&server, &watcher, 1, blocks(0, 10), &[]),
            "invalid chain",
        ),
        (
            batch(&server, &watcher, BASE, ((10, 0), (9, 7)), &[]),
            "from block 10 log 0 is after next block 9 log 7",
        ),
        (
            batch(&server, &watcher, BASE, ((10, 5), (10, 4)), &[]),
            "from block 10 log 5 is after next block 10 log 4",
        ),
        (
            batch(
                &server,
                &watcher,
                BASE,
                blocks(0, 10),
                &[good, gm(day, 11, 0)],
            ),
            "gms[1]: block 11 log 0 is outside the batch (from block 0 log 0 up to block 11 log 0)",
        ),
        (
            batch(&server, &watcher, BASE, ((5, 3), (9, 0)), &[gm(day, 5, 2)]),
            "gms[0]: block 5 log 2 is outside the batch",
        ),
        (
            batch(&server, &watcher, BASE, ((5, 0), (6, 2)), &[gm(day, 6, 2)]),
            "gms[0]: block 6 log 2 is outside the batch",
        ),
        (
            batch(
                &server,
                &watcher,
                BASE,
                blocks(0, 10),
                &[gm(day, 6, 0), gm(day, 5, 9)],
            ),
            "gms[1]: block 5 log 9 is not after",
        ),
        (
            batch(
                &server,
                &watcher,
                BASE,
                blocks(0, 10),
                &[gm(day, 6, 1), gm(day, 6, 1)],
            ),
            "gms[1]: block 6 log 1 is not after",
        ),
        (
            batch(&server, &watcher, BASE, blocks(0, 10), &[gm(day + 2, 6, 1)]),
            "gms[0]: invalid last_gm_day",
        ),
        (
            batch(&server, &watcher, BASE, blocks(0, 10), &[gm(-1, 6, 1)]),
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
                &json!([BASE, 0, 0, 11, 0, gms, true]),
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
            json!([OPTIMISM, from, 0, to + 1, 0, [], true]),
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
