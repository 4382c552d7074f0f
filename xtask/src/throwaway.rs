//! A throw-away SpacetimeDB for tests and benchmarks: in memory, on a free loopback port, with
//! the module published; stopped when dropped.

use crate::{module, paths, tools};
use anyhow::{Context, Result};
use local_spacetimedb::{LocalServer, ServerConfig, free_loopback_port};
use std::path::PathBuf;
use std::time::Duration;

/// A running throw-away server with the module published.
pub struct Throwaway {
    /// The server (stopped on drop).
    pub server: LocalServer,
    /// The database name the module is published under.
    pub database: &'static str,
    /// The publisher's token.
    pub owner_token: String,
    /// Where its log lives.
    pub run_dir: PathBuf,
}

impl Throwaway {
    /// Starts the server and publishes `wasm` as `database`.
    pub fn start(database: &'static str, wasm: &std::path::Path) -> Result<Self> {
        let run_dir = paths::target()
            .join("xtask-run")
            .join(std::process::id().to_string());
        let config = ServerConfig {
            binary: tools::ensure_spacetimedb()?,
            data_dir: run_dir.join("data"),
            port: free_loopback_port()?,
            in_memory: true,
            log_file: run_dir.join("server.log"),
        };
        let server = LocalServer::start(&config, Duration::from_secs(60))
            .context("starting a throw-away SpacetimeDB")?;
        println!(
            "xtask: throw-away SpacetimeDB at {} (log in {})",
            server.url(),
            config.log_file.display()
        );
        let owner = server.api().new_identity()?;
        module::publish(server.api(), database, wasm, &owner.token, false)?;
        Ok(Self {
            server,
            database,
            owner_token: owner.token,
            run_dir,
        })
    }

    /// The server log.
    pub fn log_file(&self) -> PathBuf {
        self.run_dir.join("server.log")
    }

    /// Stops the server; removes its files when `clean` (keep them to read the log after a failure).
    pub fn stop(self, clean: bool) {
        self.server.stop();
        if clean {
            std::fs::remove_dir_all(&self.run_dir).ok();
        }
    }
}
