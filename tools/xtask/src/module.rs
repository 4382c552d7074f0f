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
