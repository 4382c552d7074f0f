//! `report_gm` on a real SpacetimeDB: the streak rule, keys, optional fields and validation.

use local_spacetimedb::CallOutcome;
use onepulse_domain::Address;
use onepulse_gm_stats::GmStatsRow;
use serde_json::{Value, json};
use test_kit::{TestDb, today, unique_address};

const BASE: i32 = 8453;
const CELO: i32 = 42220;
const OPTIMISM: i32 = 10;
const HASH: &str = "0xabcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789";

/// A report with only the required arguments.
fn report(db: &TestDb, address: &str, chain: i32, day: i32) -> CallOutcome {
    db.report_gm(test_kit::report_args(address, chain, day))
}

fn committed(db: &TestDb, address: &Address, chain: i32, day: i32) {
    assert_eq!(
        report(db, address.as_str(), chain, day),
        CallOutcome::Committed,
        "report of day {day} on chain {chain}"
    );
}

fn streak(row: &GmStatsRow) -> (i32, i32, i32, i32) {
    (
        row.current_streak,
        row.highest_streak,
        row.all_time_gm_count,
        row.last_gm_day,
    )
}

fn only_row(db: &TestDb, address: &Address) -> GmStatsRow {
    let rows = db.rows_of(address);
    assert_eq!(rows.len(), 1, "rows of {address}: {rows:?}");
    rows.into_iter().next().expect("one row")
}

#[test]
fn first_report_creates_one_one_one() {
    let db = TestDb::from_env();
    let address = unique_address();
    committed(&db, &address, BASE, 1000);
    let row = only_row(&db, &address);
    assert_eq!(streak(&row), (1, 1, 1, 1000));
    assert_eq!(row.address_chain, format!("{address}:8453"));
    assert_eq!(row.address, address.as_str());
    assert_eq!(row.chain_id, BASE);
}

#[test]
fn ac003_next_day_increments() {
    let db = TestDb::from_env();
    let address = unique_address();
    committed(&db, &address, BASE, 1000);
    committed(&db, &address, BASE, 1001);
    assert_eq!(streak(&only_row(&db, &address)), (2, 2, 2, 1001));
    committed(&db, &address, BASE, 1002);
    assert_eq!(streak(&only_row(&db, &address)), (3, 3, 3, 1002));
}

#[test]
fn ac004_gap_of_two_resets_five_to_one() {
    let db = TestDb::from_env();
    let address = unique_address();
    for day in 2000..2005 {
        committed(&db, &address, CELO, day);
    }
    assert_eq!(streak(&only_row(&db, &address)), (5, 5, 5, 2004));
    committed(&db, &address, CELO, 2006);
    assert_eq!(streak(&only_row(&db, &address)), (1, 5, 6, 2006));
}

#[test]
fn ac005_duplicate_or_older_day_changes_nothing() {
    let db = TestDb::from_env();
    let address = unique_address();
    committed(&db, &address, OPTIMISM, 3000);
    committed(&db, &address, OPTIMISM, 3001);
    let before = only_row(&db, &address);
    committed(&db, &address, OPTIMISM, 3001);
    assert_eq!(only_row(&db, &address), before, "duplicate day");
    committed(&db, &address, OPTIMISM, 2990);
    assert_eq!(only_row(&db, &address), before, "older day");
}

#[test]
fn ac007_one_address_on_three_chains_gives_three_rows() {
    let db = TestDb::from_env();
    let address = unique_address();
    for chain in [BASE, CELO, OPTIMISM] {
        committed(&db, &address, chain, 4000);
    }
    let rows = db.rows_of(&address);
    let keys: Vec<String> = rows.iter().map(|r| r.address_chain.to_string()).collect();
    assert_eq!(
        keys,
        [
            format!("{address}:10"),
            format!("{address}:8453"),
            format!("{address}:42220")
        ]
    );
    assert!(rows.iter().all(|r| streak(r) == (1, 1, 1, 4000)));
}

#[test]
fn mixed_case_addresses_share_one_lowercase_key() {
    let db = TestDb::from_env();
    let address = unique_address();
    let upper = format!("0x{}", address.as_str()[2..].to_ascii_uppercase());
    let mixed: String = address
        .as_str()
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect::<String>()
        .replacen("0X", "0x", 1);
    assert_eq!(report(&db, &upper, BASE, 5000), CallOutcome::Committed);
    assert_eq!(report(&db, &mixed, BASE, 5001), CallOutcome::Committed);
    let row = only_row(&db, &address);
    assert_eq!(row.address, address.as_str());
    assert_eq!(row.address_chain, format!("{address}:8453"));
    assert_eq!(streak(&row), (2, 2, 2, 5001));
}

#[test]
fn the_tx_hash_is_replaced_by_some_and_kept_on_none() {
    let db = TestDb::from_env();
    let address = unique_address();
    let upper_hash = format!("0x{}", HASH[2..].to_ascii_uppercase());
    let outcome = db.report_gm(json!([
        address.as_str(),
        BASE,
        6000,
        {"some": upper_hash},
        null,
        null,
        null
    ]));
    assert_eq!(outcome, CallOutcome::Committed);
    let row = only_row(&db, &address);
    assert_eq!(row.last_tx_hash, Some(HASH.into()), "hash stored lowercase");

    let outcome = db.report_gm(json!([
        address.as_str(),
        BASE,
        6001,
        null,
        null,
        null,
        null
    ]));
    assert_eq!(outcome, CallOutcome::Committed);
    let row = only_row(&db, &address);
    assert_eq!(streak(&row), (2, 2, 2, 6001));
    assert_eq!(row.last_tx_hash, Some(HASH.into()));
}

/// SEC-005: the Farcaster fields are personal data, and a reducer's arguments reach every
/// subscriber of the rows it changes; `report_gm` refuses them (a wallet's bound identity sets
/// them with `set_profile`) and the row's columns stay empty.
#[test]
fn personal_fields_are_refused_and_the_row_keeps_none() {
    let db = TestDb::from_env();
    let address = unique_address();
    let a = address.as_str();
    for (args, named) in [
        (
            json!([a, BASE, 6000, null, {"some": 42}, null, null]),
            "fid",
        ),
        (
            json!([a, BASE, 6000, null, null, {"some": "Ann"}, null]),
            "display_name",
        ),
        (
            json!([a, BASE, 6000, null, null, null, {"some": "ann"}]),
            "username",
        ),
    ] {
        match db.report_gm(args) {
            CallOutcome::Failed(message) => assert!(
                message.starts_with(&format!(
                    "report_gm takes no Farcaster profile: {named} must be None"
                )),
                "{message}"
            ),
            CallOutcome::Committed => panic!("{named} was accepted"),
        }
    }
    assert!(db.rows_of(&address).is_empty(), "nothing was recorded");
    committed(&db, &address, BASE, 6000);
    let row = only_row(&db, &address);
    assert_eq!(
        (
            row.profile.fid(),
            row.profile.display_name(),
            row.profile.username()
        ),
        (None, None, None)
    );
}

#[test]
fn tomorrow_is_accepted_by_the_servers_clock() {
    let db = TestDb::from_env();
    let address = unique_address();
    committed(&db, &address, BASE, today() + 1);
    assert_eq!(only_row(&db, &address).last_gm_day, today() + 1);
}

/// Every invalid argument: HTTP 530 with a message naming it, and the stored row untouched.
#[test]
fn each_invalid_argument_is_rejected_and_changes_nothing() {
    let db = TestDb::from_env();
    let address = unique_address();
    committed(&db, &address, BASE, 7000);
    let before = db.rows_of(&address);
    let a = address.as_str();
    let long = "x".repeat(65);
    let cases: Vec<(Value, &str)> = vec![
        (
            json!([format!("{a}00"), BASE, 7001, null, null, null, null]),
            "invalid address",
        ),
        (
            json!([a.replacen("0x", "", 1), BASE, 7001, null, null, null, null]),
            "invalid address",
        ),
        (
            json!([
                a.replacen('a', "z", 1).replacen('0', "z", 2),
                BASE,
                7001,
                null,
                null,
                null,
                null
            ]),
            "invalid address",
        ),
        (
            json!([
                format!("{a}' OR '1'='1"),
                BASE,
                7001,
                null,
                null,
                null,
                null
            ]),
            "invalid address",
        ),
        (json!([a, 1, 7001, null, null, null, null]), "invalid chain"),
        (
            json!([a, -8453, 7001, null, null, null, null]),
            "invalid chain",
        ),
        (
            json!([a, BASE, -1, null, null, null, null]),
            "invalid last_gm_day",
        ),
        (
            json!([a, BASE, today() + 2, null, null, null, null]),
            "in the future",
        ),
        (
            json!([a, BASE, 7001, {"some": "0x1234"}, null, null, null]),
            "invalid tx_hash",
        ),
        (
            json!([a, BASE, 7001, {"some": HASH.replacen("0x", "", 1)}, null, null, null]),
            "invalid tx_hash",
        ),
        (
            json!([a, BASE, 7001, null, {"some": 0}, null, null]),
            "invalid fid",
        ),
        (
            json!([a, BASE, 7001, null, null, {"some": long}, null]),
            "display_name",
        ),
        (
            json!([a, BASE, 7001, null, null, null, {"some": long}]),
            "username",
        ),
    ];
    for (args, expected) in cases {
        match db.report_gm(args.clone()) {
            CallOutcome::Failed(message) => assert!(
                message.contains(expected),
                "{args}: message {message:?} does not mention {expected:?}"
            ),
            CallOutcome::Committed => panic!("{args} was accepted"),
        }
        assert_eq!(db.rows_of(&address), before, "{args} changed the table");
    }
}
