//! The whole system on loopback for one test: a SpacetimeDB of its own (on disk, killable)
//! with the module published, a [`Gate`] the browser reaches it through, and the fallback
//! service serving the built app and `/api`.

use crate::Gate;
use local_spacetimedb::{CallOutcome, HttpApi};
use onepulse_domain::Address;
use onepulse_fallback::Config;
use onepulse_gm_stats::GmStatsRow;
use onepulse_gm_stats::fallback_api::Health;
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use test_kit::PrivateServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::{JoinHandle, block_in_place};

/// SpacetimeDB, the gate in front of it, and the fallback service.
pub struct Stack {
    server: PrivateServer,
    reporter: Reporter,
    database: String,
    /// The browser's way to SpacetimeDB.
    pub gate: Gate,
    fallback: String,
    fallback_task: JoinHandle<std::io::Result<()>>,
}

/// The built app (`ONEPULSE_APP_DIST`, set by `cargo xtask test`).
fn app_dist() -> PathBuf {
    let dist = std::env::var("ONEPULSE_APP_DIST").unwrap_or_else(|_| {
        panic!("ONEPULSE_APP_DIST is not set: run the end-to-end tests with `cargo xtask test`")
    });
    PathBuf::from(dist)
}

impl Stack {
    /// Starts everything for `database` (unique per test); the gate starts open or closed.
    pub async fn start(database: &str, gate_open: bool) -> Self {
        let server = block_in_place(|| PrivateServer::start(database));
        let url = server.url().to_owned();
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the server URL ends with its port");
        let gate = Gate::start(port, gate_open).await;
        let config = Config {
            spacetimedb: url.clone(),
            database: database.to_owned(),
            dist: Some(app_dist()),
            allow_origins: vec!["*".into()],
            ..Config::default()
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("a loopback port for the fallback service");
        let fallback = format!(
            "http://{}",
            listener.local_addr().expect("the fallback's address")
        );
        let (_, fallback_task) = onepulse_fallback::spawn(&config, listener);
        let reporter = Reporter {
            api: HttpApi::new(&url),
            database: database.to_owned(),
            token: block_in_place(|| server.new_reporter()).token,
        };
        Self {
            server,
            reporter,
            database: database.to_owned(),
            gate,
            fallback,
            fallback_task,
        }
    }

    /// The app's URL: served by the fallback service, reaching SpacetimeDB through the gate;
    /// `query` is appended (e.g. `address=0x…`).
    pub fn page_url(&self, query: &str) -> String {
        let mut url = format!(
            "{}/?spacetimedb={}&module={}",
            self.fallback,
            self.gate.url(),
            self.database
        );
        if !query.is_empty() {
            url.push('&');
            url.push_str(query);
        }
        url
    }

    /// Calls `report_gm` over HTTP, as a reporter would; fails the test if it is refused.
    pub fn report(&self, address: &Address, chain_id: i32, day: i32) {
        block_in_place(|| self.reporter.report(address, chain_id, day));
    }

    /// A reporter to use from another thread.
    pub fn reporter(&self) -> Reporter {
        self.reporter.clone()
    }

    /// SpacetimeDB's own URL (`http://127.0.0.1:PORT`, not through the gate): for services
    /// such as the chain watcher.
    pub fn spacetimedb_url(&self) -> &str {
        self.server.url()
    }

    /// The fallback service's port: put a [`Gate`] in front of it and pass that to the app as
    /// `api=` to cut the page off from `/api` (the app itself stays served).
    pub fn fallback_port(&self) -> u16 {
        self.fallback
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the fallback URL ends with its port")
    }

    /// The database's name.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The token of a fresh identity the owner made a reporter (e.g. for a chain watcher).
    pub fn new_reporter_token(&self) -> String {
        block_in_place(|| self.server.new_reporter()).token
    }

    /// The row of `address` on `chain_id`, if there is one, read over SQL.
    pub fn row_of(&self, address: &Address, chain_id: i32) -> Option<GmStatsRow> {
        block_in_place(|| self.server.rows_of(address))
            .into_iter()
            .find(|row| row.chain_id == chain_id)
    }

    /// The next block the database's cursor of `chain_id` waits for (table `chain_cursor`),
    /// once the chain watcher has reported a range.
    pub fn cursor(&self, chain_id: u64) -> Option<u64> {
        let query = format!("SELECT * FROM chain_cursor WHERE chain_id = {chain_id}");
        let results = block_in_place(|| self.server.api().sql(&self.database, &query, None))
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        let result = results.into_iter().next()?;
        let row = result.rows.first()?;
        result.get(row, "next_block")?.as_u64()
    }

    /// The row's `updated_at` (the committing reducer's timestamp), in Unix milliseconds.
    pub fn updated_at_millis(&self, address: &Address, chain_id: i32) -> f64 {
        let micros = self
            .row(address, chain_id)
            .updated_at
            .to_micros_since_unix_epoch();
        micros as f64 / 1000.0
    }

    /// The Farcaster fid and username stored for a wallet (table `wallet_profile`, which only
    /// the wallet's linked identities and the owner can read; read as the owner).
    pub fn profile(&self, address: &Address) -> (Option<i64>, Option<String>) {
        block_in_place(|| self.server.profile_of(address))
            .map_or((None, None), |profile| (profile.fid, profile.username))
    }

    /// The row of `address` on `chain_id`, read over SQL.
    fn row(&self, address: &Address, chain_id: i32) -> GmStatsRow {
        block_in_place(|| self.server.rows_of(address))
            .into_iter()
            .find(|row| row.chain_id == chain_id)
            .unwrap_or_else(|| panic!("no row of {address} on chain {chain_id}"))
    }

    /// `/api/gm/stats` requests the fallback service has seen (its `/healthz`).
    pub async fn fallback_requests(&self) -> u64 {
        let health: Health = self.get("/healthz").await;
        health.stats_requests
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> T {
        let host = self.fallback.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(host)
            .await
            .expect("the fallback service accepts");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("request sent");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .expect("response read");
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: {e}: {response}"))
    }

    /// Kills SpacetimeDB.
    pub fn kill_database(&mut self) {
        block_in_place(|| self.server.stop());
    }

    /// Starts SpacetimeDB again, same port and data.
    pub fn restart_database(&mut self) {
        block_in_place(|| self.server.restart());
    }

    /// SpacetimeDB comes back wiped, on the same port: new JWT signing keys (every token it
    /// issued is refused), the module published again with no rows, and a new reporter.
    pub fn wipe_and_republish_database(&mut self) {
        block_in_place(|| self.server.wipe_and_republish());
        self.reporter.token = block_in_place(|| self.server.new_reporter()).token;
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.fallback_task.abort();
    }
}

/// Calls `report_gm` over HTTP, as a trusted reporter (a backend that saw the transaction)
/// would: an identity the database owner added to the reporter list.
#[derive(Clone)]
pub struct Reporter {
    api: HttpApi,
    database: String,
    token: String,
}

impl Reporter {
    /// Reports a GM; fails the test if it is refused. Blocking.
    pub fn report(&self, address: &Address, chain_id: i32, day: i32) {
        let args = test_kit::report_args(address.as_str(), chain_id, day);
        match self
            .api
            .call_reducer(&self.database, "report_gm", &args, Some(&self.token))
        {
            Ok(CallOutcome::Committed) => {}
            other => panic!("report_gm {args}: {other:?}"),
        }
    }
}
