//! A SpacetimeDB of the test's own, which it can kill and start again.

use local_spacetimedb::{HttpApi, LocalServer, NewIdentity, ServerConfig};
use onepulse_domain::Address;
use onepulse_gm_stats::GmStatsRow;
use std::path::PathBuf;
use std::time::Duration;

/// A SpacetimeDB of the test's own, on disk, with the module published, that the test stops
/// and starts (same port, same data). The binary and the module come from
/// `ONEPULSE_SPACETIMEDB_BIN` and `ONEPULSE_MODULE_WASM`, set by `cargo xtask test`.
pub struct PrivateServer {
    config: ServerConfig,
    server: Option<LocalServer>,
    api: HttpApi,
    database: String,
    owner_token: String,
}

impl PrivateServer {
    /// Starts a fresh server and publishes the module as `database`; the owner accepts wallet
    /// links from this machine (a new database accepts none).
    pub fn start(database: &str) -> Self {
        let env_path = |name: &str| {
            PathBuf::from(
                std::env::var(name)
                    .unwrap_or_else(|_| panic!("{name} is not set: run with `cargo xtask test`")),
            )
        };
        let run_dir =
            std::env::temp_dir().join(format!("onepulse-{database}-{}", std::process::id()));
        std::fs::remove_dir_all(&run_dir).ok();
        let config = ServerConfig {
            binary: env_path("ONEPULSE_SPACETIMEDB_BIN"),
            data_dir: run_dir.join("data"),
            port: local_spacetimedb::free_loopback_port().expect("a free port"),
            in_memory: false,
            log_file: run_dir.join("server.log"),
        };
        let server = LocalServer::start(&config, Duration::from_secs(60))
            .expect("the private server starts");
        let owner_token = publish(&server, database);
        let api = HttpApi::new(server.url());
        Self {
            config,
            server: Some(server),
            api,
            database: database.to_owned(),
            owner_token,
        }
    }

    /// The database comes back wiped: kills the server, deletes its data directory (its
    /// databases and its JWT signing keys, so every token it issued is refused from now on),
    /// starts it again on the same port and publishes the module again under the same name,
    /// with a new owner who accepts wallet links from this machine.
    pub fn wipe_and_republish(&mut self) {
        self.stop();
        std::fs::remove_dir_all(&self.config.data_dir).expect("the data directory is deleted");
        let server = LocalServer::start(&self.config, Duration::from_secs(60))
            .expect("the wiped server starts");
        self.owner_token = publish(&server, &self.database);
        self.server = Some(server);
    }

    /// Has the owner make `identity_hex` (64 hex digits) a reporter; panics if that fails.
    pub fn add_reporter(&self, identity_hex: &str) {
        self.api
            .add_reporter(&self.database, &self.owner_token, identity_hex)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// A fresh identity the owner made a reporter (its token authorizes `report_gm`).
    pub fn new_reporter(&self) -> NewIdentity {
        let identity = self
            .api
            .new_identity()
            .unwrap_or_else(|e| panic!("new identity: {e}"));
        self.add_reporter(&identity.identity);
        identity
    }

    /// All rows of `address`, ordered by chain id.
    pub fn rows_of(&self, address: &Address) -> Vec<GmStatsRow> {
        crate::gm_rows_of(&self.api, &self.database, address)
    }

    /// The Farcaster profile of `address` (table `wallet_profile`, read as the owner, whom
    /// row-level security does not filter).
    pub fn profile_of(&self, address: &Address) -> Option<crate::WalletProfileRow> {
        crate::profile_rows(
            &self.api,
            &self.database,
            &crate::profile_query(address),
            Some(&self.owner_token),
        )
        .pop()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        self.api.base_url()
    }

    /// The HTTP API.
    pub fn api(&self) -> &HttpApi {
        &self.api
    }

    /// The database name.
    pub fn database(&self) -> &str {
        &self.database
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
            LocalServer::start(&self.config, Duration::from_secs(60))
                .expect("the private server restarts"),
        );
    }
}

/// Publishes the module (`ONEPULSE_MODULE_WASM`) as `database` with a new owner identity, has
/// the owner accept wallet links from this machine, and returns the owner's token.
fn publish(server: &LocalServer, database: &str) -> String {
    let module = std::env::var("ONEPULSE_MODULE_WASM")
        .unwrap_or_else(|_| panic!("ONEPULSE_MODULE_WASM is not set: run with `cargo xtask test`"));
    let owner = server.api().new_identity().expect("an owner identity");
    let wasm = std::fs::read(module).expect("the module");
    server
        .api()
        .publish(database, &wasm, &owner.token, false)
        .expect("the module publishes");
    server
        .api()
        .allow_loopback_links(database, &owner.token)
        .expect("the owner accepts wallet links from this machine");
    // A database published moments before a hard kill may be missing after the restart (the
    // WebSocket upgrade then answers 404): give the server a moment to persist it.
    std::thread::sleep(Duration::from_millis(1500));
    owner.token
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(run_dir) = self.config.data_dir.parent() {
            std::fs::remove_dir_all(run_dir).ok();
        }
    }
}
