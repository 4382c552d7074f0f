//! The whole system on loopback for one test: a SpacetimeDB of its own (on disk, killable)
//! with the module published, a [`Gate`] the browser reaches it through, and the fallback
//! service serving the built app and `/api`.

use crate::Gate;
use local_spacetimedb::{CallOutcome, HttpApi};
use onepulse_domain::Address;
use onepulse_fallback::Config;
use server_tests::{PrivateServer, sql_option};
use serde_json::{Value, json};
use std::path::PathBuf;
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
    pub fn report(&self, address: &Address, chain_id: i32, day: i64) {
        block_in_place(|| self.reporter.report(address, chain_id, day));
    }

    /// A reporter to use from another thread.
    pub fn reporter(&self) -> Reporter {
        self.reporter.clone()
    }

    /// The row's `updated_at` (the committing reducer's timestamp), in Unix milliseconds.
    pub fn updated_at_millis(&self, address: &Address, chain_id: i32) -> f64 {
        let value = self
            .row("updated_at", address, chain_id)
            .into_iter()
            .next()
            .unwrap_or(Value::Null);
        // A timestamp prints as a one-field product: `[micros]`.
        let micros = value
            .as_i64()
            .or_else(|| value.get(0).and_then(Value::as_i64))
            .unwrap_or_else(|| panic!("no updated_at in {value}"));
        micros as f64 / 1000.0
    }

    /// The Farcaster fid and username stored with a row.
    pub fn profile(&self, address: &Address, chain_id: i32) -> (Option<i64>, Option<String>) {
        let row = self.row("fid, username", address, chain_id);
        let some = |i: usize| row.get(i).and_then(sql_option);
        (
            some(0).and_then(|v| v.as_i64()),
            some(1).and_then(|v| v.as_str().map(str::to_owned)),
        )
    }

    /// `columns` of the row of `address` on `chain_id`, as `/sql` prints them.
    fn row(&self, columns: &str, address: &Address, chain_id: i32) -> Vec<Value> {
        let query = format!(
            "SELECT {columns} FROM gm_stats_by_address WHERE address_chain = '{}:{chain_id}'",
            address.as_str()
        );
        let results = block_in_place(|| self.reporter.api.sql(&self.database, &query, None))
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        results
            .into_iter()
            .next()
            .and_then(|r| r.rows.into_iter().next())
            .unwrap_or_else(|| panic!("no row for {query}"))
    }

    /// `/api/gm/stats` requests the fallback service has seen (its `/healthz`).
    pub async fn fallback_requests(&self) -> u64 {
        let health = self.get("/healthz").await;
        health["statsRequests"]
            .as_u64()
            .unwrap_or_else(|| panic!("no statsRequests in {health}"))
    }

    async fn get(&self, path: &str) -> Value {
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
    pub fn report(&self, address: &Address, chain_id: i32, day: i64) {
        let args = json!([address.as_str(), chain_id, day, null, null, null, null]);
        match self
            .api
            .call_reducer(&self.database, "report_gm", &args, Some(&self.token))
        {
            Ok(CallOutcome::Committed) => {}
            other => panic!("report_gm {args}: {other:?}"),
        }
    }
}
