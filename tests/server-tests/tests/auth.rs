//! Who may do what on a real SpacetimeDB. GMs come from the chain: only reporters the owner
//! manages (`add_reporter`, `remove_reporter`) may call `report_gm`. A wallet links itself to
//! an identity with a signed Sign-In with Ethereum (EIP-4361) message (`bind_wallet`); the
//! link lets that identity set the wallet's Farcaster profile (`set_profile`) but not report,
//! and ends when it expires, when the identity unlinks (`unbind_wallet`) or when the wallet
//! revokes every link with another signed message (`revoke_wallet_links`). Everyone else is
//! refused and changes nothing.

use local_spacetimedb::{CallOutcome, NewIdentity};
use onepulse_domain::{Address, SiweMessage};
use serde_json::json;
use std::time::{Duration, Instant};
use test_kit::{
    TEST_DOMAIN, TestDb, TestWallet, identity_arg, now_secs, today, unique_address, unique_nonce,
};

const BASE: i32 = 8453;
const CELO: i32 = 42220;
/// `MAX_LINKS_PER_WALLET` in the module.
const MAX_LINKS: usize = 5;

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

/// `bind_wallet(message, signature)` as `who`.
fn bind(db: &TestDb, who: &NewIdentity, (message, signature): &(String, String)) -> CallOutcome {
    db.call("bind_wallet", json!([message, signature]), Some(&who.token))
}

/// `revoke_wallet_links(message, signature)` as `who` (anonymous when `None`).
fn revoke(
    db: &TestDb,
    who: Option<&NewIdentity>,
    (message, signature): &(String, String),
) -> CallOutcome {
    db.call(
        "revoke_wallet_links",
        json!([message, signature]),
        who.map(|w| w.token.as_str()),
    )
}

fn unbind(db: &TestDb, who: &NewIdentity, address: &Address) -> CallOutcome {
    db.call("unbind_wallet", json!([address.as_str()]), Some(&who.token))
}

/// `set_profile(address, fid, display_name, username)` as `who`.
fn set_profile(
    db: &TestDb,
    who: &NewIdentity,
    address: &Address,
    fid: Option<i64>,
    display_name: Option<&str>,
    username: Option<&str>,
) -> CallOutcome {
    let some = |v: serde_json::Value| json!({ "some": v });
    let none = json!({ "none": [] });
    db.call(
        "set_profile",
        json!([
            address.as_str(),
            fid.map_or(none.clone(), |f| some(json!(f))),
            display_name.map_or(none.clone(), |n| some(json!(n))),
            username.map_or(none, |n| some(json!(n))),
        ]),
        Some(&who.token),
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

/// The refusal of a report by `who` (not a reporter) for `address`, with the table left as it
/// was.
#[track_caller]
fn refused_report(db: &TestDb, who: &NewIdentity, address: &Address, day: i32) {
    let before = db.rows_of(address);
    let message = failed(report_as(db, who, address, BASE, day), "not authorized");
    assert_eq!(
        message,
        format!(
            "not authorized: identity {} is not a reporter; GMs are reported from the chain",
            who.identity
        )
    );
    assert_eq!(
        db.rows_of(address),
        before,
        "a refused report changed the table"
    );
}

/// The refusal of a profile change by `who` for `address`, with the profile left as it was.
#[track_caller]
fn refused_profile(db: &TestDb, who: &NewIdentity, address: &Address) {
    let before = db.profile_of(address);
    let message = failed(
        set_profile(db, who, address, Some(666), Some("Fake"), Some("fake")),
        "not authorized",
    );
    assert_eq!(
        message,
        format!(
            "not authorized: identity {} is neither bound to wallet {address} nor a reporter",
            who.identity
        )
    );
    assert_eq!(
        db.profile_of(address),
        before,
        "a refused profile changed the profile"
    );
}

#[test]
fn a_known_key_signature_binds_and_the_bound_identity_sets_its_profile() {
    let db = TestDb::from_env();
    let wallet = TestWallet::from_key(&KNOWN_KEY);
    let address = wallet.address();
    assert_eq!(
        address.as_str(),
        "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"
    );
    let me = db.new_identity();
    let link = wallet.sign_link(&me.identity);
    assert!(
        link.0.starts_with(
            "localhost:8080 wants you to sign in with your Ethereum account:\n\
             0x2c7536E3605D9C16a7a3D7b1898e529396a65c23\n\n\
             OnePulse: link this wallet to SpacetimeDB identity "
        ),
        "{}",
        link.0
    );
    assert_eq!(bind(&db, &me, &link), CallOutcome::Committed);
    assert!(db.bindings_of(&address).contains(&me.identity));
    assert_eq!(
        set_profile(&db, &me, &address, Some(42), None, Some("known")),
        CallOutcome::Committed
    );
    // The known address is shared by every run of this test: its streak is whatever earlier
    // runs left, and a bound identity cannot change it.
    refused_report(&db, &me, &address, today());
    assert_eq!(unbind(&db, &me, &address), CallOutcome::Committed);
}

#[test]
fn a_bound_identity_cannot_report_its_own_gms() {
    let db = TestDb::from_env();
    let wallet = TestWallet::unique();
    let address = wallet.address();
    let me = db.bound_identity(&wallet);
    assert_eq!(db.bindings_of(&address), [me.identity.as_str()]);

    // Not today, not an old day to replay a streak.
    for day in [today(), today() - 1, 1000] {
        refused_report(&db, &me, &address, day);
    }
    assert!(db.rows_of(&address).is_empty());
    // Nor the batch of a chain watcher.
    let batch = db.call(
        "report_chain_gms",
        json!([BASE, 1, 0, 2, 0, [{
            "address": address.as_str(),
            "day": today(),
            "tx_hash": format!("0x{}", "ab".repeat(32)),
            "block_number": 1,
            "log_index": 0
        }], true]),
        Some(&me.token),
    );
    failed(batch, "is not a reporter");
    assert!(db.rows_of(&address).is_empty());
}

#[test]
fn the_bound_identity_sets_the_wallets_profile_and_only_its_own() {
    let db = TestDb::from_env();
    let wallet = TestWallet::unique();
    let address = wallet.address();
    let me = db.bound_identity(&wallet);
    assert_eq!(
        db.report_gm(test_kit::report_args(address.as_str(), BASE, 1000)),
        CallOutcome::Committed
    );
    assert_eq!(
        set_profile(&db, &me, &address, Some(7), Some("Ann"), Some("ann")),
        CallOutcome::Committed
    );
    let profile = db.profile_of(&address).expect("a profile");
    assert_eq!(profile.fid, Some(7));
    assert_eq!(profile.display_name.as_deref(), Some("Ann"));
    assert_eq!(profile.username.as_deref(), Some("ann"));
    // The public row keeps no personal data (SEC-005) and its streak is untouched.
    let rows = db.rows_of(&address);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].profile.fid(), rows[0].profile.username()),
        (None, None)
    );
    assert_eq!((rows[0].current_streak, rows[0].last_gm_day), (1, 1000));

    // `None` keeps a value; `Some` replaces it.
    assert_eq!(
        set_profile(&db, &me, &address, None, Some("Ann B."), None),
        CallOutcome::Committed
    );
    let profile = db.profile_of(&address).expect("a profile");
    assert_eq!(profile.fid, Some(7));
    assert_eq!(profile.display_name.as_deref(), Some("Ann B."));
    assert_eq!(profile.username.as_deref(), Some("ann"));

    // A binding is for that wallet only.
    refused_profile(&db, &me, &unique_address());
}

#[test]
fn profiles_are_validated_like_reports() {
    let db = TestDb::from_env();
    let wallet = TestWallet::unique();
    let address = wallet.address();
    let me = db.bound_identity(&wallet);
    let long = "x".repeat(65);
    let cases = [
        (
            set_profile(&db, &me, &address, Some(0), None, None),
            "invalid fid 0",
        ),
        (
            set_profile(&db, &me, &address, Some(-3), None, None),
            "invalid fid -3",
        ),
        (
            set_profile(&db, &me, &address, None, Some(&long), None),
            "display_name is 65 characters long",
        ),
        (
            set_profile(&db, &me, &address, None, None, Some(&long)),
            "username is 65 characters long",
        ),
    ];
    for (outcome, expected) in cases {
        failed(outcome, expected);
    }
    // A malformed address is refused for the address, whoever asks.
    let stranger = db.new_identity();
    failed(
        db.call(
            "set_profile",
            json!(["0x12", {"some": 1}, {"none": []}, {"none": []}]),
            Some(&stranger.token),
        ),
        "invalid address",
    );
    // 64 characters are fine.
    let longest = "y".repeat(64);
    assert_eq!(
        set_profile(&db, &me, &address, Some(1), Some(&longest), Some(&longest)),
        CallOutcome::Committed
    );
}

#[test]
fn an_unbound_identity_cannot_report_or_set_a_profile() {
    let db = TestDb::from_env();
    let address = unique_address();
    let stranger = db.new_identity();
    refused_report(&db, &stranger, &address, 1000);
    assert!(db.rows_of(&address).is_empty());

    // Nor for a wallet with a row and a profile already.
    assert_eq!(
        db.report_gm(test_kit::report_args(address.as_str(), BASE, 1000)),
        CallOutcome::Committed
    );
    let reporter = db.reporter();
    assert_eq!(
        set_profile(&db, reporter, &address, Some(1), Some("Real"), None),
        CallOutcome::Committed
    );
    refused_report(&db, &stranger, &address, 1001);

    // An anonymous call (a fresh identity per request) is refused too.
    let before = db.rows_of(&address);
    let anonymous = db.call(
        "report_gm",
        test_kit::report_args(address.as_str(), BASE, 1001),
        None,
    );
    failed(anonymous, "not authorized");
    assert_eq!(db.rows_of(&address), before);

    refused_profile(&db, &stranger, &address);
    assert_eq!(db.profile_of(&address).and_then(|p| p.fid), Some(1));
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

/// Every bad link message: refused with an error naming the problem, nothing bound, the profile
/// still out of reach.
#[test]
fn bad_link_messages_are_refused_with_their_reason_and_record_nothing() {
    let db = TestDb::from_env();
    let wallet = TestWallet::unique();
    let address = wallet.address();
    let me = db.new_identity();
    let someone_else = db.new_identity();
    let now = now_secs();
    let with = |change: &dyn Fn(&mut SiweMessage)| {
        let mut message = wallet.link_message(&me.identity);
        change(&mut message);
        wallet.sign(&message)
    };
    let good = wallet.sign_link(&me.identity);
    let other_wallet = TestWallet::unique();
    let cases: Vec<((String, String), String)> = vec![
        (
            with(&|m| {
                m.domain = "evil.example".into();
                m.uri = "https://evil.example/".into();
            }),
            "domain evil.example is not accepted by this database".into(),
        ),
        (
            with(&|m| m.uri = "https://evil.example/".into()),
            format!(
                "URI https://evil.example/ is not an http or https URI on the message's domain {TEST_DOMAIN}"
            ),
        ),
        (
            wallet.sign_link(&someone_else.identity),
            format!(
                "the message links SpacetimeDB identity {}, not the caller's identity {}",
                someone_else.identity, me.identity
            ),
        ),
        (
            with(&|m| {
                m.issued_at = now - 300;
                m.expiration_time = Some(now - 60);
            }),
            "the message expired at".into(),
        ),
        (
            with(&|m| m.issued_at = now + 600),
            "is in the future".into(),
        ),
        (
            with(&|m| m.issued_at = now - 3600),
            "more than 600 s before the server's time".into(),
        ),
        (
            with(&|m| m.expiration_time = None),
            "a link message must have an Expiration Time".into(),
        ),
        (
            with(&|m| m.expiration_time = Some(m.issued_at + 31 * 86_400)),
            "more than 2592000 s (30 days) after Issued At".into(),
        ),
        (
            with(&|m| m.chain_id = 1),
            "chain ID 1 is not one of OnePulse's chains".into(),
        ),
        (
            with(&|m| m.nonce = "short".into()),
            "not a Sign-In with Ethereum (EIP-4361) message".into(),
        ),
        (
            with(&|m| m.statement = "Sign in to OnePulse".into()),
            "the statement \"Sign in to OnePulse\" is not a OnePulse link".into(),
        ),
        // Changed after signing, and another wallet's signature: the signer is not the wallet.
        (
            (
                good.0.replace("Chain ID: 8453", "Chain ID: 10"),
                good.1.clone(),
            ),
            format!(", not by {address}, the wallet it names"),
        ),
        (
            (good.0.clone(), other_wallet.personal_sign(&good.0)),
            format!(
                "the message was signed by {}, not by {address}",
                other_wallet.address()
            ),
        ),
        (
            (good.0.clone(), "0x1234".into()),
            "invalid signature".into(),
        ),
        (
            (
                format!("{}\n", good.0),
                wallet.personal_sign(&format!("{}\n", good.0)),
            ),
            "not a Sign-In with Ethereum (EIP-4361) message".into(),
        ),
        (
            ("link wallet please".into(), good.1.clone()),
            "not a Sign-In with Ethereum (EIP-4361) message".into(),
        ),
        (
            wallet.sign_revoke(),
            "this message revokes the wallet's links; send it to revoke_wallet_links".into(),
        ),
    ];
    for ((message, signature), expected) in cases {
        let error = failed(bind(&db, &me, &(message.clone(), signature)), &expected);
        assert!(
            db.bindings_of(&address).is_empty(),
            "{error}: something was bound"
        );
    }
    refused_profile(&db, &me, &address);

    // The message signed for someone else binds only when they send it themselves.
    let theirs = wallet.sign_link(&someone_else.identity);
    assert_eq!(bind(&db, &someone_else, &theirs), CallOutcome::Committed);
    assert_eq!(db.bindings_of(&address), [someone_else.identity.as_str()]);
    refused_profile(&db, &me, &address);
}

#[test]
fn a_signed_link_works_once() {
    let db = TestDb::from_env();
    let wallet = TestWallet::unique();
    let address = wallet.address();
    let me = db.new_identity();
    let link = wallet.sign_link(&me.identity);
    assert_eq!(bind(&db, &me, &link), CallOutcome::Committed);
    let message = failed(bind(&db, &me, &link), "was already used");
    let nonce = link
        .0
        .lines()
        .find_map(|l| l.strip_prefix("Nonce: "))
        .expect("a nonce line");
    assert_eq!(
        message,
        format!(
            "nonce {nonce} was already used by a message of wallet {address}: a signed message \
             works once; sign a new one"
        )
    );
    // Unlinked, the same message does not link again either: the wallet must sign anew.
    assert_eq!(unbind(&db, &me, &address), CallOutcome::Committed);
    failed(bind(&db, &me, &link), "was already used");
    assert!(db.bindings_of(&address).is_empty());
    assert_eq!(
        bind(&db, &me, &wallet.sign_link(&me.identity)),
        CallOutcome::Committed
    );
}

#[test]
fn unbinding_ends_the_right_to_set_the_profile() {
    let db = TestDb::from_env();
    let wallet = TestWallet::unique();
    let address = wallet.address();
    let phone = db.bound_identity(&wallet);
    let laptop = db.bound_identity(&wallet);
    let mut both = vec![phone.identity.clone(), laptop.identity.clone()];
    both.sort();
    assert_eq!(db.bindings_of(&address), both);
    assert_eq!(
        set_profile(&db, &phone, &address, Some(1), None, None),
        CallOutcome::Committed
    );
    assert_eq!(
        set_profile(&db, &laptop, &address, Some(2), None, None),
        CallOutcome::Committed
    );
    assert_eq!(db.profile_of(&address).and_then(|p| p.fid), Some(2));

    assert_eq!(unbind(&db, &phone, &address), CallOutcome::Committed);
    assert_eq!(db.bindings_of(&address), [laptop.identity.as_str()]);
    refused_profile(&db, &phone, &address);
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
        set_profile(&db, &laptop, &address, Some(3), None, None),
        CallOutcome::Committed
    );
    assert_eq!(db.profile_of(&address).and_then(|p| p.fid), Some(3));

    assert_eq!(unbind(&db, &laptop, &address), CallOutcome::Committed);
    assert!(db.bindings_of(&address).is_empty());
    refused_profile(&db, &laptop, &address);
    failed(unbind(&db, &laptop, &address), "is not bound");
    failed(
        db.call("unbind_wallet", json!(["nope"]), Some(&laptop.token)),
        "invalid address",
    );
}

/// A lost device: the wallet signs a revocation, anyone sends it, every link ends; messages
/// signed before it link nothing, new ones do.
#[test]
fn the_wallet_revokes_every_link_with_a_signed_message() {
    let db = TestDb::from_env();
    let wallet = TestWallet::unique();
    let address = wallet.address();
    let lost_phone = db.bound_identity(&wallet);
    let laptop = db.bound_identity(&wallet);
    assert_eq!(db.bindings_of(&address).len(), 2);
    // Signed while the phone was still around, not sent yet.
    let pending = wallet.sign_link(&lost_phone.identity);
    // A link message is not a revocation.
    failed(
        revoke(&db, None, &wallet.sign_link(&laptop.identity)),
        "this message links an identity; send it to bind_wallet",
    );
    // Another wallet cannot revoke this one's links (its signature names itself).
    let other = TestWallet::unique();
    let mut forged = other.revoke_message();
    forged.address = address.clone();
    let (text, _) = other.sign(&forged);
    failed(
        revoke(&db, None, &(text.clone(), other.personal_sign(&text))),
        &format!("the message was signed by {}", other.address()),
    );
    assert_eq!(db.bindings_of(&address).len(), 2);

    // Sent from a new device (a fresh, anonymous identity).
    let revocation = wallet.sign_revoke();
    assert_eq!(revoke(&db, None, &revocation), CallOutcome::Committed);
    assert!(db.bindings_of(&address).is_empty());
    for who in [&lost_phone, &laptop] {
        refused_profile(&db, who, &address);
    }
    // Replayed: refused (and harmless).
    failed(revoke(&db, None, &revocation), "was already used");

    // The message signed before the revocation links nothing.
    let message = failed(bind(&db, &lost_phone, &pending), "revoked its links at");
    assert!(
        message.starts_with("the message was issued at ")
            && message.ends_with(": sign a new message"),
        "{message}"
    );
    assert!(db.bindings_of(&address).is_empty());
    // A message signed after it does (Issued At counts whole seconds: one later than the
    // revocation's).
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        bind(&db, &laptop, &wallet.sign_link(&laptop.identity)),
        CallOutcome::Committed
    );
    assert_eq!(db.bindings_of(&address), [laptop.identity.as_str()]);
}

#[test]
fn a_wallet_has_at_most_five_links() {
    let db = TestDb::from_env();
    let wallet = TestWallet::unique();
    let address = wallet.address();
    let devices: Vec<NewIdentity> = (0..MAX_LINKS).map(|_| db.bound_identity(&wallet)).collect();
    assert_eq!(db.bindings_of(&address).len(), MAX_LINKS);

    let sixth = db.new_identity();
    let message = failed(
        bind(&db, &sixth, &wallet.sign_link(&sixth.identity)),
        "already has 5 links",
    );
    assert_eq!(
        message,
        format!(
            "wallet {address} already has 5 links, the most allowed (5): unlink one from its \
             device (unbind_wallet) or have the wallet revoke them all (revoke_wallet_links), \
             then link again"
        )
    );
    assert_eq!(db.bindings_of(&address).len(), MAX_LINKS, "none dropped");
    assert!(!db.bindings_of(&address).contains(&sixth.identity));

    // A linked device renewing its link does not count twice.
    assert_eq!(
        bind(&db, &devices[0], &wallet.sign_link(&devices[0].identity)),
        CallOutcome::Committed
    );
    assert_eq!(db.bindings_of(&address).len(), MAX_LINKS);

    // Room made by unlinking one: the new device links.
    assert_eq!(unbind(&db, &devices[1], &address), CallOutcome::Committed);
    assert_eq!(
        bind(&db, &sixth, &wallet.sign_link(&sixth.identity)),
        CallOutcome::Committed
    );
    assert!(db.bindings_of(&address).contains(&sixth.identity));
}

/// A link ends at its message's Expiration Time: it no longer authorizes at once, and the
/// module deletes it then (so its identity no longer reads the profile).
#[test]
fn links_expire() {
    let db = TestDb::from_env();
    let wallet = TestWallet::unique();
    let address = wallet.address();
    let me = db.new_identity();
    let mut message = wallet.link_message(&me.identity);
    let lifetime = 4;
    message.expiration_time = Some(message.issued_at + lifetime);
    assert_eq!(
        bind(&db, &me, &wallet.sign(&message)),
        CallOutcome::Committed
    );
    assert_eq!(
        set_profile(&db, &me, &address, Some(5), Some("Soon"), None),
        CallOutcome::Committed
    );
    let own_profile = format!("SELECT * FROM wallet_profile WHERE address = '{address}'");
    assert_eq!(db.profiles_seen_by(&own_profile, Some(&me.token)).len(), 1);

    let deadline = Instant::now() + Duration::from_secs(lifetime as u64 + 15);
    while !db.bindings_of(&address).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the link was not deleted when it expired"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    refused_profile(&db, &me, &address);
    assert_eq!(db.profiles_seen_by(&own_profile, Some(&me.token)), []);
    assert!(db.profile_of(&address).is_some(), "the profile stays");
}

#[test]
fn the_owner_manages_the_accepted_domains() {
    let db = TestDb::from_env();
    let owner = db.owner_token();
    let wallet = TestWallet::unique();
    let me = db.new_identity();
    let domain = format!(
        "app-{}.onepulse.example",
        unique_nonce().to_ascii_lowercase()
    );
    let from_domain = |wallet: &TestWallet| {
        let mut message = wallet.link_message(&me.identity);
        message.domain = domain.clone();
        message.uri = format!("https://{domain}/");
        message.nonce = unique_nonce();
        wallet.sign(&message)
    };
    failed(
        bind(&db, &me, &from_domain(&wallet)),
        "is not accepted by this database",
    );

    // Nobody but the owner.
    for token in [Some(me.token.as_str()), None] {
        for reducer in ["add_link_domain", "remove_link_domain"] {
            failed(db.call(reducer, json!([domain]), token), "not authorized");
        }
    }
    failed(
        db.call(
            "add_link_domain",
            json!(["https://x.example"]),
            Some(&owner),
        ),
        "invalid link domain",
    );
    assert_eq!(
        db.call(
            "add_link_domain",
            json!([domain.to_ascii_uppercase()]),
            Some(&owner)
        ),
        CallOutcome::Committed
    );
    assert_eq!(
        bind(&db, &me, &from_domain(&wallet)),
        CallOutcome::Committed
    );

    assert_eq!(
        db.call("remove_link_domain", json!([domain]), Some(&owner)),
        CallOutcome::Committed
    );
    failed(
        db.call("remove_link_domain", json!([domain]), Some(&owner)),
        "is not accepted; nothing to remove",
    );
    let other = TestWallet::unique();
    failed(
        bind(&db, &me, &from_domain(&other)),
        "is not accepted by this database",
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
    // A reporter may also set any wallet's profile (a backend that knows it).
    assert_eq!(
        set_profile(&db, &candidate, &address, Some(9), None, None),
        CallOutcome::Committed
    );
    assert_eq!(db.profile_of(&address).and_then(|p| p.fid), Some(9));
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

/// A page pointed at another server (a link's `?spacetimedb=`), which may claim any identity,
/// collects a signature naming that server: this database refuses it (and any message not
/// naming exactly this database once), whoever sends it. The app's message names it: accepted.
#[test]
fn a_link_naming_another_database_is_refused() {
    let db = TestDb::from_env();
    let wallet = TestWallet::unique();
    let me = db.new_identity();
    let port = db.url().rsplit(':').next().expect("a port").to_owned();
    let name = db.database().to_owned();
    let right = test_kit::test_database_resource();
    assert_eq!(right, format!("spacetimedb://127.0.0.1:{port}/{name}"));
    let naming = |resources: &[String]| {
        let mut message = wallet.link_message(&me.identity);
        message.resources = resources.to_vec();
        wallet.sign(&message)
    };
    for resources in [
        vec![format!("spacetimedb://evil.example/{name}")],
        vec![format!("spacetimedb://evil.example:{port}/{name}")],
        vec![format!("spacetimedb://127.0.0.1:{port}/{name}-preview")],
        vec![format!("spacetimedb://127.0.0.1:{port}/other")],
        vec![format!("wss://127.0.0.1:{port}/{name}")],
        vec![],
        vec![right.clone(), format!("spacetimedb://evil.example/{name}")],
    ] {
        failed(
            bind(&db, &me, &naming(&resources)),
            "must name this database as its one resource",
        );
    }
    assert!(db.bindings_of(&wallet.address()).is_empty());
    let mut elsewhere = wallet.revoke_message();
    elsewhere.resources = vec![format!("spacetimedb://evil.example/{name}")];
    failed(
        revoke(&db, None, &wallet.sign(&elsewhere)),
        "must name this database",
    );

    let link = wallet.sign_link(&me.identity);
    assert!(
        link.0.ends_with(&format!("\nResources:\n- {right}")),
        "{}",
        link.0
    );
    assert_eq!(bind(&db, &me, &link), CallOutcome::Committed);
    assert_eq!(db.bindings_of(&wallet.address()), [me.identity.as_str()]);
}

/// A new database accepts no link domain and no address of its own: a link from `localhost`
/// (what every development page is) is refused until the owner adds both, and only the owner
/// may. `cargo xtask dev` and the test setups add them explicitly after publishing.
#[test]
fn a_fresh_database_refuses_a_localhost_link_until_the_owner_adds_it() {
    let db = TestDb::from_env();
    let path = std::env::var("ONEPULSE_MODULE_WASM")
        .expect("ONEPULSE_MODULE_WASM is set by cargo xtask test");
    let wasm = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let name = format!("fresh-{}", unique_nonce().to_ascii_lowercase());
    let owner = db.new_identity();
    db.api()
        .publish(&name, &wasm, &owner.token, false)
        .unwrap_or_else(|e| panic!("publishing {name}: {e}"));
    let call = |reducer: &str, args: serde_json::Value, token: &str| {
        db.api()
            .call_reducer(&name, reducer, &args, Some(token))
            .unwrap_or_else(|e| panic!("{reducer}: {e}"))
    };
    let wallet = TestWallet::unique().for_database(db.url(), &name);
    let me = db.new_identity();
    let link = || {
        let (message, signature) = wallet.sign_link(&me.identity);
        call("bind_wallet", json!([message, signature]), &me.token)
    };
    failed(
        link(),
        "domain localhost:8080 is not accepted by this database (accepted: none yet",
    );

    for reducer in ["add_link_domain", "add_link_server"] {
        failed(
            call(reducer, json!([format!("localhost/{name}")]), &me.token),
            "not authorized",
        );
    }
    assert_eq!(
        call("add_link_domain", json!(["localhost"]), &owner.token),
        CallOutcome::Committed
    );
    failed(
        link(),
        "accepted: none yet: the owner adds one with add_link_server",
    );
    failed(
        call("add_link_server", json!(["127.0.0.1"]), &owner.token),
        "invalid link server",
    );
    assert_eq!(
        call(
            "add_link_server",
            json!([format!("127.0.0.1/{name}")]),
            &owner.token
        ),
        CallOutcome::Committed
    );
    assert_eq!(link(), CallOutcome::Committed);

    assert_eq!(
        call(
            "remove_link_server",
            json!([format!("127.0.0.1/{name}")]),
            &owner.token
        ),
        CallOutcome::Committed
    );
    failed(link(), "must name this database");
}
