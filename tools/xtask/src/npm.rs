//! What is built from pinned npm packages (never fetched from a CDN, no compiler downloaded):
//! the Farcaster mini app SDK bridge the app imports (`farcaster/`), the test Farcaster host the
//! end-to-end tests embed the app in (`tests/e2e-tests/farcaster-host/`), both bundled by
//! esbuild, the DailyGM contract compiled by solc-js with Hardhat for the local chains
//! (`contracts/`), and Binaryen's `wasm-opt` for trunk's release builds (`tools/wasm-opt/`).

use crate::{paths, process};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Builds `farcaster/dist/onepulse-farcaster.js` if it is missing or older than its sources.
pub fn farcaster_bridge() -> Result<PathBuf> {
    let dir = paths::root().join("farcaster");
    build(&dir, &dir.join("dist/onepulse-farcaster.js"))
}

/// Builds the test host, `tests/e2e-tests/farcaster-host/dist/host.js`; returns the host's directory.
pub fn test_host() -> Result<PathBuf> {
    let dir = paths::root().join("tests/e2e-tests/farcaster-host");
    build(&dir, &dir.join("dist/host.js"))?;
    Ok(dir)
}

/// Installs `contracts/`' npm packages (solc-js, Hardhat) and compiles the DailyGM contract into
/// `contracts/build/DailyGM.json`, whose ABI and bytecode the Rust crates compile in: so this
/// runs before anything that builds them (e.g. clippy on the whole workspace).
pub fn contracts() -> Result<PathBuf> {
    let dir = paths::root().join("contracts");
    build(&dir, &dir.join("build/DailyGM.json"))
}

/// Installs `tools/wasm-opt/`'s pinned `binaryen` (Binaryen built to JavaScript and wasm: no
/// download, runs on Node.js 20) and returns the folder holding its `wasm-opt`, which trunk
/// finds on its `PATH`.
pub fn wasm_opt_bin_dir() -> Result<PathBuf> {
    let dir = paths::root().join("tools/wasm-opt");
    install(&which_npm()?, &dir)?;
    let bin = dir.join("node_modules/.bin");
    if !bin.join("wasm-opt").is_file() {
        bail!(
            "npm ci in {} did not install {}",
            dir.display(),
            bin.join("wasm-opt").display()
        );
    }
    Ok(bin)
}

/// `npm ci` in `dir` when its `node_modules` is older than the lockfile.
fn install(npm: &str, dir: &Path) -> Result<()> {
    let lock = dir.join("package-lock.json");
    let installed = dir.join("node_modules/.package-lock.json");
    if modified(&installed) < modified(&lock) {
        println!(
            "xtask: installing the pinned npm packages of {}",
            dir.display()
        );
        process::run(process::command(
            npm,
            &["ci", "--no-audit", "--no-fund"],
            dir,
        ))?;
    }
    Ok(())
}

/// [`install`], then `npm run build` when `output` is older than the lockfile or any source
/// file next to `package.json` or under `src/` or `scripts/`.
fn build(dir: &Path, output: &Path) -> Result<PathBuf> {
    let npm = which_npm()?;
    let lock = dir.join("package-lock.json");
    install(&npm, dir)?;
    let newest_source = sources(dir)?
        .iter()
        .map(|p| modified(p))
        .chain([modified(&lock)])
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    if modified(output) < newest_source {
        process::run(process::command(&npm, &["run", "build"], dir))?;
    }
    if !output.is_file() {
        bail!(
            "npm run build in {} did not write {}",
            dir.display(),
            output.display()
        );
    }
    Ok(output.to_path_buf())
}

fn which_npm() -> Result<String> {
    match std::process::Command::new("npm").arg("--version").output() {
        Ok(out) if out.status.success() => Ok("npm".into()),
        _ => bail!(
            "npm is missing: install Node.js 20 or newer with npm (Debian: apt-get install nodejs npm)"
        ),
    }
}

/// JavaScript, HTML, Solidity and package files in `dir`, `dir/src` and `dir/scripts`.
fn sources(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for folder in [dir.to_path_buf(), dir.join("src"), dir.join("scripts")] {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry
                .with_context(|| format!("listing {}", folder.display()))?
                .path();
            let source = matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("js" | "mjs" | "html" | "json" | "sol")
            );
            if source && path.is_file() {
                files.push(path);
            }
        }
    }
    Ok(files)
}

/// When `path` last changed; the epoch if it does not exist.
fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}
