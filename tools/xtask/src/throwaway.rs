//! A throw-away SpacetimeDB for tests and benchmarks: in memory, on a free loopback port, with
//! the module published; stopped when dropped.

use crate::{module, paths, tools};
use anyhow::{Context, Result};
use local_spacetimedb::{ControlServer, LocalServer, ServerConfig, free_loopback_port};
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
    /// Starts the server and publishes `wasm` as `database`, accepting wallet links from this
    /// machine ([`module::after_publish`]).
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
        module::after_publish(server.api(), database, &owner.token)?;
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

/// An on-disk server behind a [`ControlServer`] (so a browser page can stop and start it), with
/// the module published.
pub struct Restartable {
    /// The control endpoint (stops the server when dropped).
    pub control: ControlServer,
    /// The database server's URL.
    pub url: String,
    /// The publisher's token.
    pub owner_token: String,
}

impl Restartable {
    /// Starts the server with a fresh data directory and publishes `wasm` as `database`,
    /// accepting wallet links from this machine.
    pub fn start(database: &'static str, wasm: &std::path::Path) -> Result<Self> {
        let dir = paths::target()
            .join("xtask-run")
            .join(format!("{}-{database}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        let config = ServerConfig {
            binary: tools::ensure_spacetimedb()?,
            data_dir: dir.join("data"),
            port: free_loopback_port()?,
            in_memory: false,
            log_file: dir.join("server.log"),
        };
        let control = ControlServer::start(config).context("starting a restartable SpacetimeDB")?;
        let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
        let (url, owner_token) = control
            .with_server(|server| {
                let owner = server.api().new_identity()?;
                server
                    .api()
                    .publish(database, &bytes, &owner.token, false)?;
                server.api().allow_loopback_links(database, &owner.token)?;
                Ok::<_, local_spacetimedb::Error>((server.url().to_owned(), owner.token))
            })
            .context("the restartable server is not running")??;
        println!(
            "xtask: restartable SpacetimeDB at {url} (control at {})",
            control.url()
        );
        // A database published moments before a hard kill may be missing after the restart.
        std::thread::sleep(Duration::from_millis(1500));
        Ok(Self {
            control,
            url,
            owner_token,
        })
    }
}

/// A fallback service process for a test run, reading `database` on `spacetimedb`; any origin
/// may call it and rate limits are out of the way. Killed when dropped.
pub struct FallbackService {
    _process: crate::process::KillOnDrop,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl FallbackService {
    /// Starts the (already built) debug binary and waits until it listens.
    pub fn start(spacetimedb: &str, database: &str) -> Result<Self> {
        let port = free_loopback_port()?;
        let mut command =
            std::process::Command::new(paths::target().join("debug/onepulse-fallback"));
        command
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--spacetimedb", spacetimedb, "--database", database])
            .args([
                "--allow-origin",
                "*",
                "--burst",
                "1000000",
                "--per-second",
                "1000000",
            ])
            .stdin(std::process::Stdio::null());
        let process =
            crate::process::KillOnDrop(command.spawn().context("starting onepulse-fallback")?);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if std::time::Instant::now() > deadline {
                anyhow::bail!("onepulse-fallback did not listen on port {port} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self {
            _process: process,
            url: format!("http://127.0.0.1:{port}"),
        })
    }
}

/// The hostile SpacetimeDB stand-in (`stdb-client`'s `hostile_server` example) for the browser
/// tests: it speaks just enough of the v1 protocol to feed malicious frames (decompression
/// bombs, row lists of one-byte rows, a row that makes a row type panic). Killed when dropped.
pub struct HostileServer {
    _process: crate::process::KillOnDrop,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl HostileServer {
    /// Starts the (already built) example and waits until it listens.
    pub fn start() -> Result<Self> {
        let port = free_loopback_port()?;
        let mut command =
            std::process::Command::new(paths::target().join("debug/examples/hostile_server"));
        command
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdin(std::process::Stdio::null());
        let process =
            crate::process::KillOnDrop(command.spawn().context("starting hostile_server")?);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if std::time::Instant::now() > deadline {
                anyhow::bail!("hostile_server did not listen on port {port} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self {
            _process: process,
            url: format!("http://127.0.0.1:{port}"),
        })
    }
}
