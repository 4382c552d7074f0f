//! The local development database: `cargo xtask db`, and the first half of `cargo xtask dev`.

use crate::{module, paths, tools};
use anyhow::{Context, Result, bail};
use local_spacetimedb::{LocalServer, ServerConfig};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

/// The database name the app connects to.
pub const DATABASE: &str = "onepulse";
/// The default port of the development database.
pub const DEFAULT_PORT: u16 = 3000;

/// Options shared by `db` and `dev`: `[--port N] [--clear]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct Options {
    /// Loopback port of SpacetimeDB.
    #[arg(
        long,
        value_name = "N",
        default_value_t = DEFAULT_PORT,
        value_parser = clap::value_parser!(u16).range(1..)
    )]
    pub port: u16,
    /// Wipe the local database's data before publishing (needed when the table layout changed
    /// in a way SpacetimeDB cannot migrate).
    #[arg(long)]
    pub clear: bool,
}

/// `target/spacetimedb`: data, keys, owner token and log of the development database.
fn home() -> PathBuf {
    paths::target().join("spacetimedb")
}

/// Starts the development database (data kept under `target/spacetimedb/data`) and publishes
/// the module as [`DATABASE`], owned by the token kept in `target/spacetimedb/owner-token`;
/// then, as the owner, runs pending migrations and accepts wallet links from this machine
/// ([`module::after_publish`]).
pub fn start(options: Options) -> Result<LocalServer> {
    tools::ensure_wasm_target()?;
    let binary = tools::ensure_spacetimedb()?;
    let wasm = module::build()?;
    let config = ServerConfig {
        binary,
        data_dir: home().join("data"),
        port: options.port,
        in_memory: false,
        log_file: home().join("server.log"),
    };
    let server = LocalServer::start(&config, Duration::from_secs(60))
        .with_context(|| format!("starting SpacetimeDB on 127.0.0.1:{}", options.port))?;
    println!(
        "xtask: SpacetimeDB is up at {} (data in {}, log in {})",
        server.url(),
        config.data_dir.display(),
        config.log_file.display()
    );
    let token = owner_token(&server)?;
    module::publish(server.api(), DATABASE, &wasm, &token, options.clear)?;
    module::after_publish(server.api(), DATABASE, &token)?;
    Ok(server)
}

/// The chain watcher's identity (created on first use, kept beside the data), made a reporter
/// by the owner; returns the file holding its token alone (what `--token-file` reads).
///
/// The local chains are new every time (Hardhat keeps them in memory) while the database is
/// kept, so the owner also forgets every chain's cursor: the watcher starts again from the
/// new chains' deployment blocks.
pub fn watcher_token_file(server: &LocalServer, chain_ids: &[u64]) -> Result<PathBuf> {
    let (identity, token) = saved_identity(server, "watcher-identity")?;
    let owner = owner_token(server)?;
    server
        .api()
        .add_reporter(DATABASE, &owner, &identity)
        .context("making the chain watcher's identity a reporter")?;
    for &chain_id in chain_ids {
        let args = serde_json::json!([chain_id]);
        match server
            .api()
            .call_reducer(DATABASE, "reset_chain_cursor", &args, Some(&owner))?
        {
            local_spacetimedb::CallOutcome::Committed => {}
            local_spacetimedb::CallOutcome::Failed(message) => {
                bail!("resetting the cursor of chain {chain_id}: {message}")
            }
        }
    }
    let path = home().join("watcher-token");
    std::fs::write(&path, &token).with_context(|| format!("writing {}", path.display()))?;
    println!("xtask: the chain watcher reports as identity {identity}, a reporter");
    Ok(path)
}

/// An identity and its token kept in `file` beside the data; created on first use.
fn saved_identity(server: &LocalServer, file: &str) -> Result<(String, String)> {
    let path = home().join(file);
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Some((identity, token)) = text.trim().split_once(' ')
    {
        return Ok((identity.to_owned(), token.to_owned()));
    }
    let created = server.api().new_identity()?;
    std::fs::write(&path, format!("{} {}", created.identity, created.token))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok((created.identity, created.token))
}

/// The owner's token, created on first use and kept beside the data.
fn owner_token(server: &LocalServer) -> Result<String> {
    let path = home().join("owner-token");
    if let Ok(token) = std::fs::read_to_string(&path) {
        let token = token.trim().to_owned();
        if !token.is_empty() {
            return Ok(token);
        }
    }
    let identity = server.api().new_identity()?;
    std::fs::write(&path, &identity.token)
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "xtask: created the database owner identity {} ({})",
        identity.identity,
        path.display()
    );
    Ok(identity.token)
}

/// A channel that receives a message on Ctrl-C (or SIGTERM).
pub fn interrupts() -> Result<mpsc::Receiver<()>> {
    let (sender, receiver) = mpsc::channel();
    ctrlc::set_handler(move || {
        // The receiver only goes away when xtask is exiting anyway.
        let _ = sender.send(());
    })
    .context("installing the Ctrl-C handler")?;
    Ok(receiver)
}

/// `cargo xtask db`: the database in the foreground until Ctrl-C.
pub fn run(options: Options) -> Result<()> {
    let interrupts = interrupts()?;
    let mut server = start(options)?;
    println!(
        "xtask: database {DATABASE} ready at {}; Ctrl-C stops it",
        server.url()
    );
    loop {
        if interrupts.recv_timeout(Duration::from_millis(250)).is_ok() {
            println!("xtask: stopping SpacetimeDB");
            server.stop();
            return Ok(());
        }
        if !server.is_running() {
            bail!(
                "SpacetimeDB exited; see {}",
                home().join("server.log").display()
            );
        }
    }
}
