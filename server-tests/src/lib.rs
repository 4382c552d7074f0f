//! Helpers for tests that drive the published module of a real SpacetimeDB.
//!
//! `cargo xtask test` starts the server, publishes the module and passes its location in
//! `ONEPULSE_SPACETIMEDB_URL` and `ONEPULSE_TEST_DATABASE`.

use local_spacetimedb::{CallOutcome, HttpApi};
use onepulse_domain::{Address, GmDay};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The test database of a running server.
pub struct TestDb {
    api: HttpApi,
    database: String,
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
        }
    }

    /// Calls `report_gm` anonymously with a JSON array of its seven arguments.
    pub fn report_gm(&self, args: Value) -> CallOutcome {
        self.call("report_gm", args, None)
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
                    last_tx_hash: option(&get("last_tx_hash")).map(|v| text(&v)),
                    fid: option(&get("fid")).map(|v| int(&v)),
                    display_name: option(&get("display_name")).map(|v| text(&v)),
                    username: option(&get("username")).map(|v| text(&v)),
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
fn option(value: &Value) -> Option<Value> {
    match value {
        Value::Array(pair) if pair.len() == 2 && pair[0] == 0 => Some(pair[1].clone()),
        Value::Array(pair) if pair.len() == 2 && pair[0] == 1 => None,
        Value::Object(map) if map.contains_key("some") => map.get("some").cloned(),
        Value::Object(map) if map.contains_key("none") => None,
        other => panic!("expected an Option, got {other}"),
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
        }
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
