//! `cargo xtask bench`: the benchmarks, against a throw-away SpacetimeDB, release builds.

use crate::throwaway::Throwaway;
use crate::{module, paths, process, tools};
use anyhow::Result;

/// Builds and runs the benchmarks; the report lands in `target/bench/` and `docs/`.
pub fn run() -> Result<()> {
    tools::ensure_wasm_target()?;
    let wasm = module::build()?;
    process::run(process::command(
        "cargo",
        &[
            "build",
            "--locked",
            "--release",
            "--package",
            "onepulse-bench",
        ],
        &paths::root(),
    ))?;
    let db = Throwaway::start("onepulse-bench", &wasm)?;
    let bench = paths::target().join("release/onepulse-bench");
    let root = paths::root();
    let url = db.server.url().to_owned();
    let result = process::run(process::command(
        &bench.to_string_lossy(),
        &[
            "--url",
            &url,
            "--database",
            db.database,
            "--owner-token",
            &db.owner_token,
            "--root",
            &root.to_string_lossy(),
        ],
        &root,
    ));
    db.stop(result.is_ok());
    result
}
