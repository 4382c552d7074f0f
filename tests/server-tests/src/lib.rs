//! Helpers for tests that drive the published module of a real SpacetimeDB.
//!
//! `cargo xtask test` starts the server, publishes the module and passes its location in
//! `ONEPULSE_SPACETIMEDB_URL` and `ONEPULSE_TEST_DATABASE`.
//!
//! Only a reporter (added by the module owner) or an identity bound to the wallet may call
//! `report_gm`: [`TestDb::report_gm`] calls as a reporter of its own, and [`TestWallet`] signs
//! wallet link messages for `bind_wallet`.

use k256::ecdsa::SigningKey;
pub use local_spacetimedb::identity_arg;
use local_spacetimedb::{CallOutcome, HttpApi, NewIdentity};
use onepulse_domain::wallet_link::address_of;
use onepulse_domain::{Address, GmDay, link_message, personal_sign_hash};
use serde_json::{Value, json};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The test database of a running server.
pub struct TestDb {
    api: HttpApi,
    database: String,
    /// A reporter identity of this `TestDb`, made on first use.
    reporter: OnceLock<NewIdentity>,
}

/// A `gm_stats_by_address` row as read back over SQL.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsRow {
    /// Primary key.
    pub address_chain: String,
    /// Lowercase address.
    pub address: String,
    /// Chain id.
    pub chain_id: i64,
    /// Current streak.
    pub current_streak: i64,
    /// Highest streak.
    pub highest_streak: i64,
    /// All-time GM count.
    pub all_time_gm_count: i64,
    /// Last GM day.
    pub last_gm_day: i64,
    /// Last transaction hash.
    pub last_tx_hash: Option<String>,
    /// Farcaster id.
    pub fid: Option<i64>,
    /// Display name.
    pub display_name: Option<String>,
    /// Username.
    pub username: Option<String>,
    /// `updated_at`, as the server printed it.
    pub updated_at: Value,
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
        add_reporter(&self.api, &self.database, &self.owner_token(), identity_hex);
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
        let results = self
            .api
            .sql(&self.database, &query, Some(&owner))
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        let result = results
            .into_iter()
            .next()
            .expect("one statement, one result");
        let mut identities: Vec<String> = result
            .rows
            .iter()
            .map(|row| {
                let identity = result
                    .get(row, "identity")
                    .unwrap_or_else(|| panic!("column identity missing"));
                identity_hex_of(identity)
            })
            .collect();
        identities.sort();
        identities
    }

    /// All rows of `address`, ordered by chain id.
    pub fn rows_of(&self, address: &Address) -> Vec<StatsRow> {
        let query = format!(
            "SELECT * FROM gm_stats_by_address WHERE address = '{}'",
            address.as_str()
        );
        let results = self
            .api
            .sql(&self.database, &query, None)
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        let result = results
            .into_iter()
            .next()
            .expect("one statement, one result");
        let mut rows: Vec<StatsRow> = result
            .rows
            .iter()
            .map(|row| {
                let get = |column: &str| {
                    result
                        .get(row, column)
                        .unwrap_or_else(|| panic!("column {column} missing"))
                        .clone()
                };
                StatsRow {
                    address_chain: text(&get("address_chain")),
                    address: text(&get("address")),
                    chain_id: int(&get("chain_id")),
                    current_streak: int(&get("current_streak")),
                    highest_streak: int(&get("highest_streak")),
                    all_time_gm_count: int(&get("all_time_gm_count")),
                    last_gm_day: int(&get("last_gm_day")),
                    last_tx_hash: sql_option(&get("last_tx_hash")).map(|v| text(&v)),
                    fid: sql_option(&get("fid")).map(|v| int(&v)),
                    display_name: sql_option(&get("display_name")).map(|v| text(&v)),
                    username: sql_option(&get("username")).map(|v| text(&v)),
                    updated_at: get("updated_at"),
                }
            })
            .collect();
        rows.sort_by_key(|r| r.chain_id);
        rows
    }
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
        .to_owned()
}

fn int(value: &Value) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("expected an integer, got {value}"))
}

/// Decodes SATS JSON of an `Option`: `[0, v]` / `[1, []]` as `/sql` prints it, or the named
/// `{"some": v}` / `{"none": []}`.
pub fn sql_option(value: &Value) -> Option<Value> {
    match value {
        Value::Array(pair) if pair.len() == 2 && pair[0] == 0 => Some(pair[1].clone()),
        Value::Array(pair) if pair.len() == 2 && pair[0] == 1 => None,
        Value::Object(map) if map.contains_key("some") => map.get("some").cloned(),
        Value::Object(map) if map.contains_key("none") => None,
        other => panic!("expected an Option, got {other}"),
    }
}

/// Has the owner (`owner_token`) make `identity_hex` a reporter of `database`; panics unless
/// it commits.
fn add_reporter(api: &HttpApi, database: &str, owner_token: &str, identity_hex: &str) {
    let outcome = api
        .call_reducer(
            database,
            "add_reporter",
            &json!([identity_arg(identity_hex)]),
            Some(owner_token),
        )
        .unwrap_or_else(|e| panic!("add_reporter {identity_hex}: {e}"));
    assert_eq!(
        outcome,
        CallOutcome::Committed,
        "add_reporter {identity_hex}"
    );
}

/// The 64 hex digits of an `Identity` as `/sql` prints it: `["0x…"]` (or the named
/// `{"__identity__": "0x…"}`).
fn identity_hex_of(value: &Value) -> String {
    let inner = match value {
        Value::Array(fields) if fields.len() == 1 => &fields[0],
        Value::Object(map) if map.contains_key("__identity__") => &map["__identity__"],
        other => panic!("expected an Identity, got {other}"),
    };
    text(inner).trim_start_matches("0x").to_owned()
}

/// A wallet with a private key of the test's own, signing as `personal_sign` does.
pub struct TestWallet {
    key: SigningKey,
}

impl TestWallet {
    /// The wallet of a known private key (32 bytes).
    pub fn from_key(bytes: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_slice(bytes).expect("a valid secp256k1 private key"),
        }
    }

    /// A wallet (and so an address) no other test uses.
    pub fn unique() -> Self {
        loop {
            let seed = unique_address();
            let mut state = u64::from_str_radix(&seed.as_str()[2..18], 16).unwrap_or(1);
            let mut bytes = [0u8; 32];
            for chunk in bytes.chunks_exact_mut(8) {
                chunk.copy_from_slice(&splitmix64(&mut state).to_be_bytes());
            }
            if let Ok(key) = SigningKey::from_slice(&bytes) {
                return Self { key };
            }
        }
    }

    /// The wallet's address.
    pub fn address(&self) -> Address {
        address_of(self.key.verifying_key())
    }

    /// What a wallet's `personal_sign(message)` returns: `0x` + r ‖ s ‖ v (v = 27 or 28).
    pub fn personal_sign(&self, message: &str) -> String {
        let (signature, recovery) = self
            .key
            .sign_prehash_recoverable(&personal_sign_hash(message))
            .expect("signing works");
        let hex: String = signature
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("0x{hex}{:02x}", 27 + recovery.to_byte())
    }

    /// The signed link of this wallet to `identity_hex` on `day`, as `bind_wallet` expects it.
    pub fn sign_link(&self, identity_hex: &str, day: i64) -> String {
        let day = GmDay::from_number(i32::try_from(day).expect("a day number fits in i32"));
        self.personal_sign(&link_message(&self.address(), identity_hex, day))
    }
}

/// A wallet address no other test uses.
pub fn unique_address() -> Address {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let mut state =
        nanos ^ (u64::from(std::process::id()) << 32) ^ COUNTER.fetch_add(1, Ordering::Relaxed);
    let hex: String = (0..3)
        .map(|_| format!("{:016x}", splitmix64(&mut state)))
        .collect();
    Address::parse(&format!("0x{}", &hex[..40])).expect("40 hex digits make an address")
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Today's GM day by this machine's clock (the server's too: it runs on loopback).
pub fn today() -> i64 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    i64::from(GmDay::from_unix_seconds(seconds).number())
}

/// A SpacetimeDB of the test's own, on disk, with the module published, that the test stops
/// and starts (same port, same data). The binary and the module come from
/// `ONEPULSE_SPACETIMEDB_BIN` and `ONEPULSE_MODULE_WASM`, set by `cargo xtask test`.
pub struct PrivateServer {
    config: local_spacetimedb::ServerConfig,
    server: Option<local_spacetimedb::LocalServer>,
    url: String,
    database: String,
    owner_token: String,
}

impl PrivateServer {
    /// Starts a fresh server and publishes the module as `database`.
    pub fn start(database: &str) -> Self {
        let env_path = |name: &str| {
            std::path::PathBuf::from(
                std::env::var(name)
                    .unwrap_or_else(|_| panic!("{name} is not set: run with `cargo xtask test`")),
            )
        };
        let run_dir =
            std::env::temp_dir().join(format!("onepulse-{database}-{}", std::process::id()));
        std::fs::remove_dir_all(&run_dir).ok();
        let config = local_spacetimedb::ServerConfig {
            binary: env_path("ONEPULSE_SPACETIMEDB_BIN"),
            data_dir: run_dir.join("data"),
            port: local_spacetimedb::free_loopback_port().expect("a free port"),
            in_memory: false,
            log_file: run_dir.join("server.log"),
        };
        let server =
            local_spacetimedb::LocalServer::start(&config, std::time::Duration::from_secs(60))
                .expect("the private server starts");
        let owner = server.api().new_identity().expect("an owner identity");
        let wasm = std::fs::read(env_path("ONEPULSE_MODULE_WASM")).expect("the module");
        server
            .api()
            .publish(database, &wasm, &owner.token, false)
            .expect("the module publishes");
        // A database published moments before a hard kill may be missing after the restart
        // (the WebSocket upgrade then answers 404): give the server a moment to persist it.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let url = server.url().to_owned();
        Self {
            config,
            server: Some(server),
            url,
            database: database.to_owned(),
            owner_token: owner.token,
        }
    }

    /// Has the owner make `identity_hex` (64 hex digits) a reporter; panics if that fails.
    pub fn add_reporter(&self, identity_hex: &str) {
        add_reporter(
            &HttpApi::new(&self.url),
            &self.database,
            &self.owner_token,
            identity_hex,
        );
    }

    /// A fresh identity the owner made a reporter (its token authorizes `report_gm`).
    pub fn new_reporter(&self) -> NewIdentity {
        let identity = HttpApi::new(&self.url)
            .new_identity()
            .unwrap_or_else(|e| panic!("new identity: {e}"));
        self.add_reporter(&identity.identity);
        identity
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Kills the server.
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
    }

    /// Starts it again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.server = Some(
            local_spacetimedb::LocalServer::start(&self.config, std::time::Duration::from_secs(60))
                .expect("the private server restarts"),
        );
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(run_dir) = self.config.data_dir.parent() {
            std::fs::remove_dir_all(run_dir).ok();
        }
    }
}
