//! The web app's release build (`trunk build --release`), as it ships: what the end-to-end
//! tests open and the benchmark weighs.

use crate::{npm, paths, process, tools};
use anyhow::Result;
use std::path::PathBuf;

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
