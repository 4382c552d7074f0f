//! Building and publishing the SpacetimeDB module.

use crate::{paths, process};
use anyhow::{Context, Result};
use local_spacetimedb::HttpApi;
use std::path::{Path, PathBuf};

/// Builds the module for wasm32 (release) and returns the `.wasm` file.
pub fn build() -> Result<PathBuf> {
    let manifest = paths::module().join("Cargo.toml");
    let manifest = manifest.to_string_lossy();
    process::run(process::command(
        "cargo",
        &[
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-unknown-unknown",
            "--manifest-path",
            &manifest,
        ],
        &paths::module(),
    ))?;
    Ok(paths::module().join("target/wasm32-unknown-unknown/release/spacetimedb_module.wasm"))
}

/// Builds the upgrade-test fixture: the module with feature `legacy-fixture` (a reducer that
/// leaves rows as modules before the SEC-005 fix did), copied to
/// `target/legacy-fixture.wasm`; then builds the real module again, so that
/// [`build`]'s file is never the fixture. Returns the fixture's file.
pub fn build_legacy_fixture() -> Result<PathBuf> {
    let manifest = paths::module().join("Cargo.toml");
    let manifest = manifest.to_string_lossy();
    process::run(process::command(
        "cargo",
        &[
            "build",
            "--release",
            "--locked",
            "--features",
            "legacy-fixture",
            "--target",
            "wasm32-unknown-unknown",
            "--manifest-path",
            &manifest,
        ],
        &paths::module(),
    ))?;
    let built =
        paths::module().join("target/wasm32-unknown-unknown/release/spacetimedb_module.wasm");
    let fixture = paths::module().join("target/legacy-fixture.wasm");
    std::fs::copy(&built, &fixture)
        .with_context(|| format!("copying {} to {}", built.display(), fixture.display()))?;
    build()?;
    Ok(fixture)
}

/// What the owner does after publishing to a development or test database: runs pending
/// migrations (`migrate`: an update over an existing database keeps what older modules wrote)
/// and accepts wallet-link messages from this machine (a new database accepts none; see
/// [`HttpApi::allow_loopback_links`]).
pub fn after_publish(api: &HttpApi, database: &str, owner_token: &str) -> Result<()> {
    api.migrate(database, owner_token)
        .with_context(|| format!("running the migrations of {database}"))?;
    api.allow_loopback_links(database, owner_token)
        .with_context(|| format!("accepting wallet links from this machine in {database}"))
}

/// Publishes the module as `database`, owned by the identity of `token`.
pub fn publish(api: &HttpApi, database: &str, wasm: &Path, token: &str, clear: bool) -> Result<()> {
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let reply = api
        .publish(database, &bytes, token, clear)
        .with_context(|| {
            format!(
                "publishing {database} to {} (if the table layout changed incompatibly, \
                 start again with --clear)",
                api.base_url()
            )
        })?;
    println!("xtask: published {database} to {}: {reply}", api.base_url());
    Ok(())
}
