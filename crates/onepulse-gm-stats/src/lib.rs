//! The `gm_stats_by_address` table as clients see it.
//!
//! [`GmStatsRow`] decodes from and encodes as the module's row (the same twelve columns in
//! the same order); [`stats_query`] builds the per-address subscription query from a validated
//! [`Address`] only. A `report_gm` call is [`REPORT_GM`] with the arguments of a
//! [`GmReport`](onepulse_domain::GmReport): `call_reducer(REPORT_GM, &report.args())`.
//!
//! The text columns whose form the module fixes (the key, the address, the transaction hash)
//! are kept as what they spell ([`AddressChain`], [`HexText`]): 20 or 32 bytes instead of a
//! string of 42 to 66 bytes each behind a pointer. The columns most rows leave empty (the
//! transaction hash, the three profile columns) are kept behind one pointer each
//! ([`TxHashText`], [`ProfileColumns`]), so an empty one costs 4 bytes in the browser, not a
//! fixed slot of 36 or 40. A cached row then takes less memory than its BSATN, with or without
//! a hash (`cargo xtask bench`).

mod address_chain;
pub mod fallback_api;
mod hex_text;
mod profile_columns;
mod row_encoding;
mod text_column;
mod tx_hash_text;

pub use address_chain::AddressChain;
pub use hex_text::{AddressText, HexText};
pub use profile_columns::ProfileColumns;
pub use tx_hash_text::TxHashText;

use onepulse_domain::{Address, Chain, GmDay, Streak};
use stdb_client::{Row, Timestamp};

/// The table's name in the module.
pub const TABLE: &str = "gm_stats_by_address";
/// The reducer that records a GM.
pub const REPORT_GM: &str = "report_gm";
/// The reducer that links a wallet to the caller's identity: arguments `(message,
/// signature)`, a Sign-In with Ethereum message naming the caller's identity
/// ([`onepulse_domain::SiweMessage::link`]) and the wallet's `personal_sign` of it.
pub const BIND_WALLET: &str = "bind_wallet";
/// The reducer that ends every link of a wallet: arguments `(message, signature)`, a Sign-In
/// with Ethereum revocation ([`onepulse_domain::SiweMessage::revoke_all`]) and the wallet's
/// `personal_sign` of it.
pub const REVOKE_WALLET_LINKS: &str = "revoke_wallet_links";
/// The reducer that sets a wallet's Farcaster profile, for the wallet's bound identity (or a
/// reporter): arguments `(address, fid, display_name, username)`, each optional field `None`
/// to keep the stored value.
pub const SET_PROFILE: &str = "set_profile";

/// One wallet's GM statistics on one chain. It decodes from and encodes as the module's row
/// (the same twelve columns in the same order); the three profile columns are one field here,
/// [`profile`](Self::profile).
#[derive(Debug, Clone, PartialEq)]
pub struct GmStatsRow {
    /// `"{lowercase address}:{chain_id}"`.
    pub address_chain: AddressChain,
    /// Lowercase address.
    pub address: AddressText,
    /// Chain id.
    pub chain_id: i32,
    /// Consecutive days up to `last_gm_day` (as stored).
    pub current_streak: i32,
    /// Longest streak.
    pub highest_streak: i32,
    /// Distinct GM days.
    pub all_time_gm_count: i32,
    /// UTC day number of the last GM.
    pub last_gm_day: i32,
    /// Last GM transaction.
    pub last_tx_hash: Option<TxHashText>,
    /// The `fid`, `display_name` and `username` columns, all three empty as the module always
    /// leaves them here.
    pub profile: ProfileColumns,
    /// Last change.
    pub updated_at: Timestamp,
}

impl Row for GmStatsRow {
    const TABLE: &'static str = TABLE;
    type Key = AddressChain;
    fn primary_key(&self) -> &AddressChain {
        &self.address_chain
    }
    /// The boxed transaction hash and profile columns, each with up to 16 bytes of allocator
    /// header and rounding (their strings are paid for by their BSATN bytes).
    const BOXED_HEAP: usize = TxHashText::BOXED + ProfileColumns::BOXED + 2 * 16;
}

impl GmStatsRow {
    /// The chain, if the id is one of OnePulse's.
    pub fn chain(&self) -> Option<Chain> {
        Chain::from_id(self.chain_id.into()).ok()
    }

    /// The stored streak.
    pub fn streak(&self) -> Streak {
        Streak {
            current: self.current_streak,
            highest: self.highest_streak,
            all_time: self.all_time_gm_count,
            last_day: GmDay::from_number(self.last_gm_day),
        }
    }
}

/// The subscription query for every chain of one wallet.
pub fn stats_query(address: &Address) -> String {
    // `Address` is 0x + 40 lowercase hex digits: nothing in it can end the string literal.
    format!(
        "SELECT * FROM {TABLE} WHERE address = '{}'",
        address.as_str()
    )
}

/// The query for one wallet on one chain.
pub fn stats_query_on(address: &Address, chain: Chain) -> String {
    format!(
        "SELECT * FROM {TABLE} WHERE address = '{}' AND chain_id = {}",
        address.as_str(),
        chain.id()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use stdb_client::bsatn;

    #[test]
    fn queries_are_built_from_validated_addresses() {
        let address = Address::parse("0xABCDEF0123456789abcdef0123456789abcdef01").unwrap();
        assert_eq!(
            stats_query(&address),
            "SELECT * FROM gm_stats_by_address WHERE address = '0xabcdef0123456789abcdef0123456789abcdef01'"
        );
        assert!(stats_query_on(&address, Chain::Celo).ends_with("AND chain_id = 42220"));
    }

    #[test]
    fn rows_round_trip_through_bsatn() {
        let row = GmStatsRow {
            address_chain: "0xab:10".into(),
            address: "0xab".into(),
            chain_id: 10,
            current_streak: 2,
            highest_streak: 5,
            all_time_gm_count: 9,
            last_gm_day: 20_000,
            last_tx_hash: None,
            profile: ProfileColumns::new(Some(3), Some("Ann".into()), None),
            updated_at: Timestamp::from_micros_since_unix_epoch(5),
        };
        let bytes = bsatn::to_vec(&row).unwrap();
        let back = stdb_client::decode_row::<GmStatsRow>(&bytes).unwrap();
        assert_eq!(back, row);
        assert_eq!(back.chain(), Some(Chain::Optimism));
        assert_eq!(back.streak().highest, 5);
        assert_eq!(back.primary_key(), "0xab:10");
        assert_eq!(
            (
                back.profile.fid(),
                back.profile.display_name(),
                back.profile.username()
            ),
            (Some(3), Some("Ann"), None)
        );
        assert_eq!(bsatn::to_vec(&back).unwrap(), bytes);
    }

    #[test]
    fn every_column_is_read_in_the_modules_order() {
        // Each column of the module's row with its own value, as the module encodes them.
        let mut bytes = Vec::new();
        bytes.extend(bsatn::to_vec(&"0xab:10".to_owned()).unwrap());
        bytes.extend(bsatn::to_vec(&"0xab".to_owned()).unwrap());
        for int in [10, 1, 2, 3, 4_i32] {
            bytes.extend(bsatn::to_vec(&int).unwrap());
        }
        bytes.extend(bsatn::to_vec(&Some("0xcd".to_owned())).unwrap());
        bytes.extend(bsatn::to_vec(&Some(5_i64)).unwrap());
        bytes.extend(bsatn::to_vec(&Some("Ann".to_owned())).unwrap());
        bytes.extend(bsatn::to_vec(&Some("ann".to_owned())).unwrap());
        bytes.extend(bsatn::to_vec(&6_i64).unwrap());

        let row = stdb_client::decode_row::<GmStatsRow>(&bytes).unwrap();
        assert_eq!(
            (row.chain_id, row.current_streak, row.highest_streak),
            (10, 1, 2)
        );
        assert_eq!((row.all_time_gm_count, row.last_gm_day), (3, 4));
        assert!(row.last_tx_hash.as_ref().is_some_and(|h| *h == "0xcd"));
        assert_eq!(
            (
                row.profile.fid(),
                row.profile.display_name(),
                row.profile.username()
            ),
            (Some(5), Some("Ann"), Some("ann"))
        );
        assert_eq!(row.updated_at, Timestamp::from_micros_since_unix_epoch(6));
        assert_eq!(bsatn::to_vec(&row).unwrap(), bytes);

        // A row one column short is refused, and so is a row whose `fid` is not an option.
        assert!(stdb_client::decode_row::<GmStatsRow>(&bytes[..bytes.len() - 8]).is_err());
        // From the end: updated_at (8), username and display_name (tag, length, 3 bytes each)
        // and fid's 8 bytes, then fid's tag (0, `some`).
        let fid_at = bytes.len() - 8 - 8 - 8 - 8 - 1;
        assert_eq!(bytes[fid_at..fid_at + 9], [0, 5, 0, 0, 0, 0, 0, 0, 0]);
        let mut bad = bytes.clone();
        bad[fid_at] = 7;
        assert!(stdb_client::decode_row::<GmStatsRow>(&bad).is_err());
    }

    #[test]
    fn the_rarely_filled_columns_cost_a_pointer_when_empty() {
        assert_eq!(size_of::<ProfileColumns>(), size_of::<usize>());
        assert_eq!(size_of::<Option<TxHashText>>(), size_of::<usize>());
    }

    #[test]
    fn the_modules_rows_are_kept_compact_and_encode_back_to_their_bytes() {
        let address = Address::parse("0xABCDEF0123456789abcdef0123456789abcdef01").unwrap();
        let hash = format!("0x{}", "0f".repeat(32));
        let row = GmStatsRow {
            address_chain: AddressChain::new(&address, Chain::Base),
            address: AddressText::from(&address),
            chain_id: 8453,
            current_streak: 1,
            highest_streak: 1,
            all_time_gm_count: 1,
            last_gm_day: 20_000,
            last_tx_hash: Some(hash.as_str().into()),
            profile: ProfileColumns::default(),
            updated_at: Timestamp::from_micros_since_unix_epoch(5),
        };
        // The bytes the module sends: the same columns, as strings.
        let mut module_bytes = Vec::new();
        let key = format!("{}:8453", address.as_str());
        module_bytes.extend(bsatn::to_vec(&key).unwrap());
        module_bytes.extend(bsatn::to_vec(&address.as_str().to_owned()).unwrap());
        for int in [8453, 1, 1, 1, 20_000_i32] {
            module_bytes.extend(bsatn::to_vec(&int).unwrap());
        }
        module_bytes.extend(bsatn::to_vec(&Some(hash)).unwrap());
        module_bytes.extend(bsatn::to_vec(&None::<i64>).unwrap());
        module_bytes.extend(bsatn::to_vec(&None::<String>).unwrap());
        module_bytes.extend(bsatn::to_vec(&None::<String>).unwrap());
        module_bytes.extend(bsatn::to_vec(&5_i64).unwrap());

        let back = stdb_client::decode_row::<GmStatsRow>(&module_bytes).unwrap();
        assert_eq!(back, row);
        assert!(back.profile.is_empty());
        assert_eq!(bsatn::to_vec(&back).unwrap(), module_bytes);
        assert!(
            back.address.bytes().is_some(),
            "the address is kept as bytes"
        );
        assert!(back.address_chain == key.as_str());
        assert_eq!(
            back.last_tx_hash.and_then(|h| h.bytes().copied()),
            Some([0x0f; 32])
        );
    }
}
