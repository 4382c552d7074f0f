//! `cargo xtask dev`: the database, local chains with DailyGM and the chain watcher, the
//! fallback service and `trunk serve`, stopped together by Ctrl-C.

use crate::chains::{self, LocalChains};
use crate::database::{self, DATABASE, Options};
use crate::process::KillOnDrop;
use crate::{paths, process, tools};
use anyhow::{Context, Result, bail};
use std::process::Command;
use std::time::Duration;

/// The port `trunk serve` listens on.
pub const APP_PORT: u16 = 8080;
/// The port of the fallback service (`/api`, proxied by trunk).
pub const FALLBACK_PORT: u16 = 8787;

/// Runs the development loop.
pub fn run(options: Options) -> Result<()> {
    let interrupts = database::interrupts()?;
    tools::ensure_wasm_target()?;
    crate::npm::farcaster_bridge()?;
    crate::npm::contracts()?;
    let trunk = tools::ensure_trunk()?;
    tools::ensure_wasm_bindgen()?;
    let mut server = database::start(options)?;

    process::run(process::command(
        "cargo",
        &[
            "build",
            "--locked",
            "--package",
            "onepulse-fallback",
            "--package",
            "local-chain",
            "--package",
            "onepulse-chain-watcher",
        ],
        &paths::root(),
    ))?;
    let mut local_chains = LocalChains::start(&paths::target().join("local-chain"))?;
    for chain in &local_chains.chains {
        println!(
            "xtask: {} (chain {}) at {}, DailyGM at {}",
            chain.name(),
            chain.chain_id,
            chain.rpc_url,
            chain.contract
        );
    }
    println!(
        "xtask: the local test wallet is Hardhat's publicly known account #0, \
         0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 (never use its key elsewhere)"
    );
    let chain_ids: Vec<u64> = local_chains.chains.iter().map(|c| c.chain_id).collect();
    let watcher_token = database::watcher_token_file(&server, &chain_ids)?;
    let mut watcher = chains::start_watcher(
        &local_chains.chains,
        &format!("http://127.0.0.1:{}", options.port),
        DATABASE,
        &watcher_token,
    )?;
    let mut fallback_command = Command::new(paths::target().join("debug/onepulse-fallback"));
    fallback_command
        .args(["--listen", &format!("127.0.0.1:{FALLBACK_PORT}")])
        .args([
            "--spacetimedb",
            &format!("http://127.0.0.1:{}", options.port),
        ])
        .args(["--database", DATABASE])
        .args(["--allow-origin", &format!("http://127.0.0.1:{APP_PORT}")])
        .args(["--allow-origin", &format!("http://localhost:{APP_PORT}")])
        .current_dir(paths::root());
    println!("xtask: $ {}", process::show(&fallback_command));
    let mut fallback = KillOnDrop(
        fallback_command
            .spawn()
            .context("starting the fallback service")?,
    );

    let mut command = Command::new(&trunk);
    command
        .args(["serve", "--offline", "--address", "127.0.0.1", "--port"])
        .arg(APP_PORT.to_string())
        .current_dir(paths::root())
        .env(
            "SPACETIMEDB_HOST",
            format!("ws://127.0.0.1:{}", options.port),
        )
        .env("SPACETIMEDB_MODULE", DATABASE);
    // The app's GM buttons send to DailyGM on these chains (a wallet on 127.0.0.1:8545–8547,
    // e.g. Hardhat's account #0 imported into a browser wallet, can say GM).
    for chain in &local_chains.chains {
        if let Some((_, variable)) = crate::app::DAILY_GM_VARIABLES
            .iter()
            .find(|(id, _)| *id == chain.chain_id)
        {
            command.env(variable, &chain.contract);
        }
    }
    println!("xtask: $ {}", process::show(&command));
    let mut trunk = KillOnDrop(command.spawn().context("starting trunk serve")?);
    println!(
        "xtask: the app will be at http://127.0.0.1:{APP_PORT}/ once trunk has built it; Ctrl-C stops everything"
    );

    loop {
        if interrupts.recv_timeout(Duration::from_millis(250)).is_ok() {
            println!(
                "xtask: stopping trunk, the fallback service, the chain watcher, the local chains \
                 and SpacetimeDB"
            );
            return Ok(());
        }
        if let Ok(Some(status)) = trunk.0.try_wait() {
            bail!("trunk serve exited ({status})");
        }
        if !server.is_running() {
            bail!("SpacetimeDB exited; see target/spacetimedb/server.log");
        }
        if let Ok(Some(status)) = fallback.0.try_wait() {
            bail!("the fallback service exited ({status})");
        }
        if let Ok(Some(status)) = watcher.0.try_wait() {
            bail!("the chain watcher exited ({status})");
        }
        if !local_chains.is_running() {
            bail!("the local chains stopped; see target/local-chain");
        }
    }
}
