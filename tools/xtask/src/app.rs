//! The web app's release build (`trunk build --release`), as it ships: what the end-to-end
//! tests open and the benchmark weighs.

use crate::chains::LOCAL_DAILY_GM;
use crate::{npm, paths, process, tools};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The build-time variables naming `DailyGM` on Base, Celo and Optimism (what the app's
/// `gm_tx::GmContracts` reads).
pub const DAILY_GM_VARIABLES: [(u64, &str); 3] = [
    (8453, "ONEPULSE_DAILY_GM_BASE"),
    (42220, "ONEPULSE_DAILY_GM_CELO"),
    (10, "ONEPULSE_DAILY_GM_OPTIMISM"),
];

/// Builds the app into `target/app-dist` (offline: trunk uses the local wasm-bindgen, and the
/// npm-installed `wasm-opt` it finds first on its `PATH`) and returns that directory. It is the
/// build the end-to-end tests and the benchmark run, so its GMs go to `DailyGM` on the local
/// chains ([`LOCAL_DAILY_GM`]); a production build sets `ONEPULSE_DAILY_GM_*` to the real
/// deployments itself (`trunk build --release`, with `tools/wasm-opt/node_modules/.bin` first on
/// `PATH`: see `docs/app-size.md`).
pub fn build_release() -> Result<PathBuf> {
    tools::ensure_wasm_target()?;
    npm::farcaster_bridge()?;
    let trunk = tools::ensure_trunk()?;
    tools::ensure_wasm_bindgen()?;
    let wasm_opt = tools::ensure_wasm_opt()?;
    let dist = paths::target().join("app-dist");
    let dist_text = dist.to_string_lossy().into_owned();
    let trunk_text = trunk.to_string_lossy().into_owned();
    let mut build = process::command(
        &trunk_text,
        &["build", "--release", "--offline", "--dist", &dist_text],
        &paths::root(),
    );
    for (_, variable) in DAILY_GM_VARIABLES {
        build.env(variable, LOCAL_DAILY_GM);
    }
    let search = std::env::var_os("PATH").unwrap_or_default();
    let search =
        std::env::join_paths(std::iter::once(wasm_opt).chain(std::env::split_paths(&search)))
            .context("putting tools/wasm-opt on trunk's PATH")?;
    build.env("PATH", search);
    process::run(build)?;
    Ok(dist)
}

/// `cargo test --locked --package e2e-tests {args}` with what the end-to-end tests need: the
/// app built for release, the test Farcaster host, the contract build and Hardhat (local
/// chains), the chain watcher binary (built in the profile of the tests: `--release` in
/// `args` builds it for release), SpacetimeDB, the module (`wasm`) and ChromeDriver (each test
/// starts its own servers).
pub fn end_to_end_tests(args: &[&str], wasm: &Path) -> Result<Command> {
    let app_dist = build_release()?;
    let farcaster_host = npm::test_host()?;
    npm::contracts()?;
    let release = args.contains(&"--release");
    let mut watcher = vec!["build", "--locked", "--package", "onepulse-chain-watcher"];
    if release {
        watcher.push("--release");
    }
    process::run(process::command("cargo", &watcher, &paths::root()))?;
    let watcher_bin = paths::target()
        .join(if release { "release" } else { "debug" })
        .join("onepulse-chain-watcher");
    let mut command = process::command(
        "cargo",
        &["test", "--locked", "--package", "e2e-tests"],
        &paths::root(),
    );
    command
        .args(args)
        .env("ONEPULSE_APP_DIST", app_dist)
        .env("ONEPULSE_FARCASTER_HOST", farcaster_host)
        .env("ONEPULSE_CHAIN_WATCHER_BIN", watcher_bin)
        .env("ONEPULSE_SPACETIMEDB_BIN", tools::ensure_spacetimedb()?)
        .env("ONEPULSE_MODULE_WASM", wasm)
        .env("CHROMEDRIVER", tools::ensure_chromium()?);
    Ok(command)
}
