//! Who may call `report_gm` on a real SpacetimeDB: identities a wallet bound with a signed link
//! message (`bind_wallet`, `unbind_wallet`), and reporters the owner manages (`add_reporter`,
//! `remove_reporter`). Everyone else is refused and changes nothing.

use local_spacetimedb::{CallOutcome, NewIdentity};
use onepulse_domain::{Address, GmDay, link_message};
use serde_json::json;
use test_kit::{TestDb, TestWallet, identity_arg, today, unique_address};

const BASE: i32 = 8453;
const CELO: i32 = 42220;

/// The private key of web3.js's documented `accounts.sign` example; its address is
/// 0x2c7536e3605d9c16a7a3d7b1898e529396a65c23.
const KNOWN_KEY: [u8; 32] = [
    0x4c, 0x08, 0x83, 0xa6, 0x91, 0x02, 0x93, 0x7d, 0x62, 0x31, 0x47, 0x1b, 0x5d, 0xbb, 0x62, 0x04,
    0xfe, 0x51, 0x29, 0x61, 0x70, 0x82, 0x79, 0x2a, 0xe4, 0x68, 0xd0, 0x1a, 0x3f, 0x36, 0x23, 0x18,
];

fn report_as(
    db: &TestDb,
    who: &NewIdentity,
    address: &Address,
    chain: i32,
    day: i32,
) -> CallOutcome {
    db.call(
        "report_gm",
        test_kit::report_args(address.as_str(), chain, day),
        Some(&who.token),
    )
}

fn bind(
    db: &TestDb,
    who: &NewIdentity,
    address: &Address,
    day: i32,
    signature: &str,
) -> CallOutcome {
    db.call(
        "bind_wallet",
        json!([address.as_str(), day, signature]),
        Some(&who.token),
    )
}

fn unbind(db: &TestDb, who: &NewIdentity, address: &Address) -> CallOutcome {
    db.call("unbind_wallet", json!([address.as_str()]), Some(&who.token))
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

/// The refusal of a report by `who` for `address`, with the table left as it was.
#[track_caller]
fn refused_report(db: &TestDb, who: &NewIdentity, address: &Address, day: i32) {
    let before = db.rows_of(address);
    let message = failed(report_as(db, who, address, BASE, day), "not authorized");
    assert_eq!(
        message,
        format!(
            "not authorized: identity {} is neither bound to wallet {address} nor a reporter",
            who.identity
        )
    );
    assert_eq!(
        db.rows_of(address),
        before,
        "a refused report changed the table"
    );
}

#[test]
fn a_known_key_signature_binds_and_the_bound_identity_reports() {
    let db = TestDb::from_env();
    let wallet = TestWallet::from_key(&KNOWN_KEY);
    let address = wallet.address();
    assert_eq!(
        address.as_str(),
        "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"
    );
    let me = db.new_identity();
    let signature = wallet.sign_link(&me.identity, today());
    assert_eq!(
        bind(&db, &me, &address, today(), &signature),
        CallOutcome::Committed
    );
    assert!(db.bindings_of(&address).contains(&me.identity));
    // Binding again with the same signature is harmless.
    assert_eq!(
        bind(&db, &me, &address, today(), &signature),
        CallOutcome::Committed
    );

    // The known address is shared by every run of this test: report today, which is the latest
    // day any run can have stored.
    assert_eq!(
        report_as(&db, &me, &address, CELO, today()),
        CallOutcome::Committed
    );
    let rows = db.rows_of(&address);
    let celo = rows
        .iter()
        .find(|r| r.chain_id == CELO)
        .expect("a Celo row");
    assert_eq!(celo.last_gm_day, today());
}

#[test]
fn the_bound_identitys_reports_count_and_carry_farcaster_fields() {
    let db = TestDb::from_env();
    let wallet = TestWallet::unique();
    let address = wallet.address();
    let me = db.new_identity();
    // Signed yesterday (just before midnight, say): still accepted.
    let yesterday = today() - 1;
    let signature = wallet.sign_link(&me.identity, yesterday);
    assert_eq!(
        bind(&db, &me, &address, yesterday, &signature),
        CallOutcome::Committed
    );
    assert_eq!(db.bindings_of(&address), [me.identity.as_str()]);

    assert_eq!(
        report_as(&db, &me, &address, BASE, 1000),
        CallOutcome::Committed
    );
    assert_eq!(
        report_as(&db, &me, &address, BASE, 1001),
        CallOutcome::Committed
    );
    let outcome = db.call(
        "report_gm",
        json!([address.as_str(), BASE, 1002, null, {"some": 7}, {"some": "Ann"}, {"some": "ann"}]),
        Some(&me.token),
    );
    assert_eq!(outcome, CallOutcome::Committed);
    let rows = db.rows_of(&address);
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(
        (row.current_streak, row.all_time_gm_count, row.last_gm_day),
        (3, 3, 1002)
    );
    assert_eq!(row.fid, Some(7));
    assert_eq!(row.display_name.as_deref(), Some("Ann"));
    assert_eq!(row.username.as_deref(), Some("ann"));

    // A binding is for that wallet only.
    let other = unique_address();
    refused_report(&db, &me, &other, 1000);
    assert!(db.rows_of(&other).is_empty());
}

#[test]
fn an_unbound_identity_cannot_report_and_changes_nothing() {
    let db = TestDb::from_env();
    let address = unique_address();
    let stranger = db.new_identity();
    refused_report(&db, &stranger, &address, 1000);
    assert!(db.rows_of(&address).is_empty());

    // Nor for a wallet with a row already, nor with Farcaster fields.
    assert_eq!(
        db.report_gm(
            json!([address.as_str(), BASE, 1000, null, {"some": 1}, {"some": "Real"}, null])
        ),
        CallOutcome::Committed
    );
    refused_report(&db, &stranger, &address, 1001);
    let before = db.rows_of(&address);
    let outcome = db.call(
        "report_gm",
        json!([address.as_str(), BASE, 1001, null, {"some": 666}, {"some": "Fake"}, {"some": "fake"}]),
        Some(&stranger.token),
    );
    failed(outcome, "not authorized");
    assert_eq!(db.rows_of(&address), before);
    assert_eq!(before[0].fid, Some(1));

    // An anonymous call (a fresh identity per request) is refused too.
    let anonymous = db.call(
        "report_gm",
        test_kit::report_args(address.as_str(), BASE, 1001),
        None,
    );
    failed(anonymous, "not authorized");
    assert_eq!(db.rows_of(&address), before);
}

#[test]
fn invalid_arguments_are_reported_before_authorization() {
    let db = TestDb::from_env();
    let stranger = db.new_identity();
    let outcome = db.call(
        "report_gm",
        test_kit::report_args(unique_address().as_str(), 1, 1000),
        Some(&stranger.token),
    );
    failed(outcome, "invalid chain");
}

/// Every bad binding: refused with its reason, nothing bound, reports still refused.
#[test]
fn bad_bindings_are_refused_and_record_nothing() {
    let db = TestDb::from_env();
    let wallet = TestWallet::unique();
    let address = wallet.address();
    let me = db.new_identity();
    let someone_else = db.new_identity();
    let today = today();
    let day = GmDay::from_number;

    let by_other_key = TestWallet::unique().sign_link(&me.identity, today);
    let tampered = wallet
        .personal_sign(&link_message(&address, &me.identity, day(today)).replace("link", "1ink"));
    let for_other_identity = wallet.sign_link(&someone_else.identity, today);
    let cases: Vec<(i32, String, &str)> = vec![
        (today, by_other_key, "signed by 0x"),
        (today, tampered, "signed by 0x"),
        (today, for_other_identity, "signed by 0x"),
        // Signed for today, claimed for yesterday: the rebuilt message differs.
        (
            today - 1,
            wallet.sign_link(&me.identity, today),
            "signed by 0x",
        ),
        (
            today - 2,
            wallet.sign_link(&me.identity, today - 2),
            "not recent",
        ),
        (
            today + 1,
            wallet.sign_link(&me.identity, today + 1),
            "not recent",
        ),
        (0, wallet.sign_link(&me.identity, 0), "not recent"),
        (today, "0x1234".into(), "invalid signature"),
        (today, "not a signature".into(), "invalid signature"),
        (
            today,
            format!("{}1d", &wallet.sign_link(&me.identity, today)[..130]),
            "invalid signature",
        ),
    ];
    for (day, signature, expected) in cases {
        let message = failed(bind(&db, &me, &address, day, &signature), expected);
        if expected == "signed by 0x" {
            assert!(message.ends_with(&format!(", not {address}")), "{message}");
            assert!(!message.contains(&format!("by {address}")), "{message}");
        }
        if expected == "not recent" {
            assert!(
                message.contains(&day.to_string()) && message.contains(&today.to_string()),
                "{message} names the day and today"
            );
        }
        assert!(
            db.bindings_of(&address).is_empty(),
            "{message}: something was bound"
        );
    }
    failed(
        bind(
            &db,
            &me,
            &unique_address(),
            today,
            &wallet.sign_link(&me.identity, today),
        ),
        "signed by 0x",
    );
    failed(
        db.call("bind_wallet", json!(["0x12", today, "0x"]), Some(&me.token)),
        "invalid address",
    );
    refused_report(&db, &me, &address, 1000);
    assert!(db.rows_of(&address).is_empty());

    // The message signed for someone else binds only when they send it themselves.
    let theirs = wallet.sign_link(&someone_else.identity, today);
    assert_eq!(
        bind(&db, &someone_else, &address, today, &theirs),
        CallOutcome::Committed
    );
    assert_eq!(db.bindings_of(&address), [someone_else.identity.as_str()]);
    refused_report(&db, &me, &address, 1000);
}

#[test]
fn unbinding_ends_the_right_to_report() {
    let db = TestDb::from_env();
    let wallet = TestWallet::unique();
    let address = wallet.address();
    let phone = db.new_identity();
    let laptop = db.new_identity();
    for who in [&phone, &laptop] {
        let signature = wallet.sign_link(&who.identity, today());
        assert_eq!(
            bind(&db, who, &address, today(), &signature),
            CallOutcome::Committed
        );
    }
    let mut both = vec![phone.identity.clone(), laptop.identity.clone()];
    both.sort();
    assert_eq!(db.bindings_of(&address), both);
    assert_eq!(
        report_as(&db, &phone, &address, BASE, 2000),
        CallOutcome::Committed
    );
    assert_eq!(
        report_as(&db, &laptop, &address, BASE, 2001),
        CallOutcome::Committed
    );

    assert_eq!(unbind(&db, &phone, &address), CallOutcome::Committed);
    assert_eq!(db.bindings_of(&address), [laptop.identity.as_str()]);
    refused_report(&db, &phone, &address, 2002);
    let message = failed(unbind(&db, &phone, &address), "is not bound");
    assert_eq!(
        message,
        format!(
            "identity {} is not bound to wallet {address}",
            phone.identity
        )
    );
    // The other identity keeps its binding.
    assert_eq!(
        report_as(&db, &laptop, &address, BASE, 2002),
        CallOutcome::Committed
    );
    assert_eq!(db.rows_of(&address)[0].current_streak, 3);

    assert_eq!(unbind(&db, &laptop, &address), CallOutcome::Committed);
    assert!(db.bindings_of(&address).is_empty());
    refused_report(&db, &laptop, &address, 2003);
    failed(unbind(&db, &laptop, &address), "is not bound");
    failed(
        db.call("unbind_wallet", json!(["nope"]), Some(&laptop.token)),
        "invalid address",
    );
}

#[test]
fn reporters_are_added_and_removed_by_the_owner_only() {
    let db = TestDb::from_env();
    let owner = db.owner_token();
    let candidate = db.new_identity();
    let outsider = db.new_identity();
    let address = unique_address();
    let arg = json!([identity_arg(&candidate.identity)]);

    // Nobody but the owner: not the candidate itself, not another identity, not anonymous.
    for token in [
        Some(candidate.token.as_str()),
        Some(outsider.token.as_str()),
        None,
    ] {
        for reducer in ["add_reporter", "remove_reporter"] {
            failed(db.call(reducer, arg.clone(), token), "not authorized");
        }
    }
    refused_report(&db, &candidate, &address, 3000);

    assert_eq!(
        db.call("add_reporter", arg.clone(), Some(&owner)),
        CallOutcome::Committed
    );
    // Adding twice is harmless.
    assert_eq!(
        db.call("add_reporter", arg.clone(), Some(&owner)),
        CallOutcome::Committed
    );
    // A reporter reports for any wallet, but cannot manage reporters.
    assert_eq!(
        report_as(&db, &candidate, &address, BASE, 3000),
        CallOutcome::Committed
    );
    assert_eq!(
        report_as(&db, &candidate, &unique_address(), CELO, 3000),
        CallOutcome::Committed
    );
    failed(
        db.call(
            "add_reporter",
            json!([identity_arg(&outsider.identity)]),
            Some(&candidate.token),
        ),
        "not authorized",
    );
    refused_report(&db, &outsider, &address, 3001);

    assert_eq!(
        db.call("remove_reporter", arg.clone(), Some(&owner)),
        CallOutcome::Committed
    );
    refused_report(&db, &candidate, &address, 3001);
    assert_eq!(db.rows_of(&address)[0].last_gm_day, 3000);
    let message = failed(
        db.call("remove_reporter", arg, Some(&owner)),
        "is not a reporter",
    );
    assert_eq!(
        message,
        format!("identity {} is not a reporter", candidate.identity)
    );
}
