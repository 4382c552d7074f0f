//! The web app's release build (`trunk build --release`), as it ships: what the end-to-end
//! tests open and the benchmark weighs.

use crate::{npm, paths, process, tools};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the app into `target/app-dist` (offline: trunk uses the local wasm-bindgen) and
/// returns that directory.
pub fn build_release() -> Result<PathBuf> {
    tools::ensure_wasm_target()?;
    npm::farcaster_bridge()?;
    let trunk = tools::ensure_trunk()?;
    tools::ensure_wasm_bindgen()?;
    let dist = paths::target().join("app-dist");
    let dist_text = dist.to_string_lossy().into_owned();
    let trunk_text = trunk.to_string_lossy().into_owned();
    process::run(process::command(
        &trunk_text,
        &["build", "--release", "--offline", "--dist", &dist_text],
        &paths::root(),
    ))?;
    Ok(dist)
}

/// `cargo test --locked --package e2e-tests {args}` with what the end-to-end tests need: the
/// app built for release, the test Farcaster host, SpacetimeDB, the module (`wasm`) and
/// ChromeDriver (each test starts its own servers).
pub fn end_to_end_tests(args: &[&str], wasm: &Path) -> Result<Command> {
    let app_dist = build_release()?;
    let farcaster_host = npm::test_host()?;
    let mut command = process::command(
        "cargo",
        &["test", "--locked", "--package", "e2e-tests"],
        &paths::root(),
    );
    command
        .args(args)
        .env("ONEPULSE_APP_DIST", app_dist)
        .env("ONEPULSE_FARCASTER_HOST", farcaster_host)
        .env("ONEPULSE_SPACETIMEDB_BIN", tools::ensure_spacetimedb()?)
        .env("ONEPULSE_MODULE_WASM", wasm)
        .env("CHROMEDRIVER", tools::ensure_chromium()?);
    Ok(command)
}
