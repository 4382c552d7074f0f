//! `cargo xtask dev`: the database, the fallback service and `trunk serve`, stopped together by
//! Ctrl-C.

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
    let trunk = tools::ensure_trunk()?;
    tools::ensure_wasm_bindgen()?;
    let mut server = database::start(options)?;
    let dev_token = database::dev_reporter_token(&server)?;

    process::run(process::command(
        "cargo",
        &["build", "--locked", "--package", "onepulse-fallback"],
        &paths::root(),
    ))?;
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
        .env("SPACETIMEDB_MODULE", DATABASE)
        .env("ONEPULSE_DEV_TOKEN", &dev_token);
    println!("xtask: $ {}", process::show(&command));
    let mut trunk = KillOnDrop(command.spawn().context("starting trunk serve")?);
    println!(
        "xtask: the app will be at http://127.0.0.1:{APP_PORT}/ once trunk has built it; Ctrl-C stops everything"
    );

    loop {
        if interrupts.recv_timeout(Duration::from_millis(250)).is_ok() {
            println!("xtask: stopping trunk, the fallback service and SpacetimeDB");
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
    }
}
