//! What every test crate shares.
//!
//! Everywhere (natively and in the browser): [`unique_address`], [`today`], and what the
//! benchmarks say about a missed target ([`tail`], [`Restart`]). Natively also the
//! pieces that need a real SpacetimeDB: [`TestDb`] (the database `cargo xtask test` published),
//! [`PrivateServer`] (a server of the test's own that it can kill and restart), reporters
//! ([`TestDb::reporter`], [`PrivateServer::new_reporter`]), [`TestWallet`] (signs Sign-In with
//! Ethereum wallet-link messages as `personal_sign` does), the table's rows read back over SQL
//! as [`onepulse_gm_stats::GmStatsRow`], and wallet profiles ([`WalletProfileRow`]), which only
//! a wallet's linked identities and the owner can read.

mod bench_text;
mod unique;

pub use bench_text::{Restart, tail};
pub use unique::unique_address;

#[cfg(not(target_arch = "wasm32"))]
mod private_server;
#[cfg(not(target_arch = "wasm32"))]
mod profile_rows;
#[cfg(not(target_arch = "wasm32"))]
mod sql_rows;
#[cfg(not(target_arch = "wasm32"))]
mod test_db;
#[cfg(not(target_arch = "wasm32"))]
mod test_wallet;

#[cfg(not(target_arch = "wasm32"))]
pub use local_spacetimedb::identity_arg;
#[cfg(not(target_arch = "wasm32"))]
pub use private_server::PrivateServer;
#[cfg(not(target_arch = "wasm32"))]
pub use profile_rows::{PROFILE_TABLE, WalletProfileRow, profile_query, profile_rows};
#[cfg(not(target_arch = "wasm32"))]
pub use sql_rows::{gm_rows_of, sql_option};
#[cfg(not(target_arch = "wasm32"))]
pub use test_db::TestDb;
#[cfg(not(target_arch = "wasm32"))]
pub use test_wallet::{
    TEST_DOMAIN, TEST_LINK_SECS, TEST_URI, TestWallet, now_secs, test_database_resource,
    unique_nonce,
};

use onepulse_domain::GmDay;

/// Today's GM day number by this machine's clock (the server's too: it runs on loopback; in
/// the browser, the browser's clock).
pub fn today() -> i32 {
    #[cfg(target_arch = "wasm32")]
    let day = GmDay::from_unix_millis(js_sys::Date::now());
    #[cfg(not(target_arch = "wasm32"))]
    let day = GmDay::from_unix_seconds(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default(),
    );
    day.number()
}

/// The `report_gm` arguments of a report without the optional fields, as JSON for
/// `POST /v1/database/:name/call/report_gm`.
#[cfg(not(target_arch = "wasm32"))]
pub fn report_args(address: &str, chain_id: i32, day: i32) -> serde_json::Value {
    serde_json::json!([address, chain_id, day, null, null, null, null])
}
