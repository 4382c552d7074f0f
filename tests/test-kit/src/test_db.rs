//! The test database a running server holds, published by `cargo xtask test`.

use crate::{TestWallet, WalletProfileRow};
use local_spacetimedb::{CallOutcome, HttpApi, NewIdentity};
use onepulse_domain::Address;
use onepulse_gm_stats::GmStatsRow;
use serde_json::Value;
use std::sync::OnceLock;

/// The test database of a running server. `cargo xtask test` starts the server, publishes the
/// module and passes its location in `ONEPULSE_SPACETIMEDB_URL` and `ONEPULSE_TEST_DATABASE`
/// (and the publisher's token in `ONEPULSE_OWNER_TOKEN`).
///
/// Only a reporter (added by the module owner) may call `report_gm`: [`TestDb::report_gm`]
/// calls as a reporter of its own.
pub struct TestDb {
    api: HttpApi,
    database: String,
    /// A reporter identity of this `TestDb`, made on first use.
    reporter: OnceLock<NewIdentity>,
}

impl TestDb {
    /// The database `cargo xtask test` published. Panics with instructions when run otherwise.
    pub fn from_env() -> Self {
        let (Ok(url), Ok(database)) = (
            std::env::var("ONEPULSE_SPACETIMEDB_URL"),
            std::env::var("ONEPULSE_TEST_DATABASE"),
        ) else {
            panic!(
                "ONEPULSE_SPACETIMEDB_URL and ONEPULSE_TEST_DATABASE are not set: these tests need a \
                 real SpacetimeDB; run them with `cargo xtask test`"
            );
        };
        Self {
            api: HttpApi::new(&url),
            database,
            reporter: OnceLock::new(),
        }
    }

    /// Calls `report_gm` as this `TestDb`'s reporter with a JSON array of its seven arguments.
    pub fn report_gm(&self, args: Value) -> CallOutcome {
        let token = self.reporter().token.clone();
        self.call("report_gm", args, Some(&token))
    }

    /// A reporter identity of this `TestDb` (a fresh identity the owner added, made once).
    pub fn reporter(&self) -> &NewIdentity {
        self.reporter.get_or_init(|| self.new_reporter())
    }

    /// A fresh anonymous identity and its token.
    pub fn new_identity(&self) -> NewIdentity {
        self.api
            .new_identity()
            .unwrap_or_else(|e| panic!("new identity: {e}"))
    }

    /// A fresh identity that the owner made a reporter.
    pub fn new_reporter(&self) -> NewIdentity {
        let identity = self.new_identity();
        self.add_reporter(&identity.identity);
        identity
    }

    /// Has the owner make `identity_hex` (64 hex digits) a reporter; panics if that fails.
    pub fn add_reporter(&self, identity_hex: &str) {
        self.api
            .add_reporter(&self.database, &self.owner_token(), identity_hex)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Calls a reducer with a JSON array of arguments, as the holder of `token` if given.
    pub fn call(&self, reducer: &str, args: Value, token: Option<&str>) -> CallOutcome {
        self.api
            .call_reducer(&self.database, reducer, &args, token)
            .unwrap_or_else(|e| panic!("{reducer} {args}: {e}"))
    }

    /// The token of the identity that published the module (`ONEPULSE_OWNER_TOKEN`).
    pub fn owner_token(&self) -> String {
        std::env::var("ONEPULSE_OWNER_TOKEN")
            .expect("ONEPULSE_OWNER_TOKEN is set by cargo xtask test")
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        self.api.base_url()
    }

    /// The database name.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The HTTP API.
    pub fn api(&self) -> &HttpApi {
        &self.api
    }

    /// The identities bound to `address` (the private `wallet_binding` table, read as the
    /// owner), sorted.
    pub fn bindings_of(&self, address: &Address) -> Vec<String> {
        let query = format!(
            "SELECT * FROM wallet_binding WHERE address = '{}'",
            address.as_str()
        );
        let owner = self.owner_token();
        let mut identities =
            crate::sql_rows::sql_rows(&self.api, &self.database, &query, Some(&owner), |get| {
                identity_hex_of(&get("identity"))
            });
        identities.sort();
        identities
    }

    /// All rows of `address`, ordered by chain id (read anonymously, as anyone can).
    pub fn rows_of(&self, address: &Address) -> Vec<GmStatsRow> {
        crate::gm_rows_of(&self.api, &self.database, address)
    }

    /// The Farcaster profile of `address` (table `wallet_profile`, read as the owner, whom
    /// row-level security does not filter).
    pub fn profile_of(&self, address: &Address) -> Option<WalletProfileRow> {
        let owner = self.owner_token();
        crate::profile_rows(
            &self.api,
            &self.database,
            &crate::profile_query(address),
            Some(&owner),
        )
        .pop()
    }

    /// The `wallet_profile` rows `query` returns over `/sql` to the holder of `token`
    /// (anonymous when `None`).
    pub fn profiles_seen_by(&self, query: &str, token: Option<&str>) -> Vec<WalletProfileRow> {
        crate::profile_rows(&self.api, &self.database, query, token)
    }

    /// A fresh identity that `wallet` linked to itself with a signed Sign-In with Ethereum
    /// message (`bind_wallet`); panics if the module refuses it.
    pub fn bound_identity(&self, wallet: &TestWallet) -> NewIdentity {
        let me = self.new_identity();
        let (message, signature) = wallet.sign_link(&me.identity);
        let outcome = self.call(
            "bind_wallet",
            serde_json::json!([message, signature]),
            Some(&me.token),
        );
        assert_eq!(outcome, CallOutcome::Committed, "bind_wallet");
        me
    }
}

/// The 64 hex digits of an `Identity` as `/sql` prints it: `["0x…"]` (or the named
/// `{"__identity__": "0x…"}`).
fn identity_hex_of(value: &Value) -> String {
    let inner = match value {
        Value::Array(fields) if fields.len() == 1 => &fields[0],
        Value::Object(map) if map.contains_key("__identity__") => &map["__identity__"],
        other => panic!("expected an Identity, got {other}"),
    };
    inner
        .as_str()
        .unwrap_or_else(|| panic!("expected a hex string, got {inner}"))
        .trim_start_matches("0x")
        .to_owned()
}
