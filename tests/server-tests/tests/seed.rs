//! `seed_gm_stats`: the owner's benchmark seeding reducer.

use local_spacetimedb::CallOutcome;
use onepulse_domain::Address;
use serde_json::json;
use test_kit::TestDb;

#[test]
fn only_the_owner_may_seed_and_rows_appear() {
    let db = TestDb::from_env();
    let anonymous = db.call(
        "seed_gm_stats",
        json!([900_000_000u32, 3u32, 77, false]),
        None,
    );
    match anonymous {
        CallOutcome::Failed(message) => assert!(message.contains("not authorized"), "{message}"),
        CallOutcome::Committed => panic!("an anonymous caller seeded rows"),
    }
    let first = Address::parse(&format!("0x{:040x}", 900_000_000u32)).unwrap();
    assert!(db.rows_of(&first).is_empty(), "the refused call left rows");

    let owner = db.owner_token();
    let outcome = db.call(
        "seed_gm_stats",
        json!([900_000_000u32, 3u32, 77, true]),
        Some(&owner),
    );
    assert_eq!(outcome, CallOutcome::Committed);
    for i in 0..3u32 {
        let address = Address::parse(&format!("0x{:040x}", 900_000_000 + i)).unwrap();
        let rows = db.rows_of(&address);
        assert_eq!(rows.len(), 1, "{address}");
        assert_eq!(rows[0].chain_id, 8453);
        assert_eq!(rows[0].last_gm_day, 77);
        let hash = format!("0x{:064x}", 900_000_000 + i);
        assert_eq!(rows[0].last_tx_hash, Some(hash.as_str().into()));
    }
    let too_many = db.call(
        "seed_gm_stats",
        json!([0u32, 100_001u32, 77, false]),
        Some(&owner),
    );
    assert!(matches!(too_many, CallOutcome::Failed(m) if m.contains("over the limit")));
    let negative = db.call(
        "seed_gm_stats",
        json!([0u32, 1u32, -1, false]),
        Some(&owner),
    );
    assert!(matches!(negative, CallOutcome::Failed(m) if m.contains("negative")));
}
