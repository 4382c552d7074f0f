//! `wallet_profile` rows: a wallet's Farcaster profile, which only the identities bound to the
//! wallet (and the module owner) can read.

use crate::sql_rows::{int, sql_option, sql_rows, text, timestamp};
use local_spacetimedb::HttpApi;
use onepulse_domain::Address;
use stdb_client::{Row, SpacetimeType, Timestamp};

/// The module's `wallet_profile` table.
pub const PROFILE_TABLE: &str = "wallet_profile";

/// One row of `wallet_profile`, as a client decodes it (the module's fields, in order).
#[derive(SpacetimeType, Debug, Clone, PartialEq)]
#[sats(crate = stdb_client::spacetimedb_lib)]
pub struct WalletProfileRow {
    /// Lowercase `0x…` wallet address.
    pub address: String,
    /// Farcaster id.
    pub fid: Option<i64>,
    /// Farcaster display name.
    pub display_name: Option<String>,
    /// Farcaster username.
    pub username: Option<String>,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl Row for WalletProfileRow {
    const TABLE: &'static str = PROFILE_TABLE;
    type Key = String;
    fn primary_key(&self) -> &String {
        &self.address
    }
}

/// The `wallet_profile` rows `query` returns over `/sql` to the holder of `token` (anonymous
/// when `None`): row-level security decides which rows that is.
pub fn profile_rows(
    api: &HttpApi,
    database: &str,
    query: &str,
    token: Option<&str>,
) -> Vec<WalletProfileRow> {
    sql_rows(api, database, query, token, |get| WalletProfileRow {
        address: text(&get("address")),
        fid: sql_option(&get("fid")).map(|v| int(&v)),
        display_name: sql_option(&get("display_name")).map(|v| text(&v)),
        username: sql_option(&get("username")).map(|v| text(&v)),
        updated_at: timestamp(&get("updated_at")),
    })
}

/// The query for one wallet's profile.
pub fn profile_query(address: &Address) -> String {
    // `Address` is 0x + 40 lowercase hex digits: nothing in it can end the string literal.
    format!(
        "SELECT * FROM {PROFILE_TABLE} WHERE address = '{}'",
        address.as_str()
    )
}
