//! Installing the tools the project needs, only when missing or at the wrong version.

use crate::{paths, process};
use anyhow::{Context, Result, bail};
use std::path::PathBuf;

/// The SpacetimeDB server version the module and the runtime target.
pub const SPACETIMEDB_VERSION: &str = "1.2.0";
/// The newest trunk that builds with this toolchain.
pub const TRUNK_VERSION: &str = "0.21.14";
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Adds the wasm32 target to the toolchain if it is missing.
pub fn ensure_wasm_target() -> Result<()> {
    let installed =
        process::output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed.lines().any(|l| l.trim() == WASM_TARGET) {
        return Ok(());
    }
    println!("xtask: installing the {WASM_TARGET} target (to build the module and the app)");
    process::run(process::command(
        "rustup",
        &["target", "add", WASM_TARGET],
        &paths::root(),
    ))
}

/// `spacetimedb-standalone` 1.2.0, the local database server.
pub fn ensure_spacetimedb() -> Result<PathBuf> {
    ensure_cargo_tool(
        "spacetimedb-standalone",
        "spacetimedb-standalone",
        SPACETIMEDB_VERSION,
        true,
        "the local SpacetimeDB server; the first build takes 20-45 minutes on 2 cores",
    )
}

/// `trunk`, which builds and serves the app.
pub fn ensure_trunk() -> Result<PathBuf> {
    ensure_cargo_tool(
        "trunk",
        "trunk",
        TRUNK_VERSION,
        true,
        "builds and serves the web app; the first build takes about 12 minutes on 2 cores",
    )
}

/// `wasm-bindgen` matching the `wasm-bindgen` crate in Cargo.lock exactly.
pub fn ensure_wasm_bindgen() -> Result<PathBuf> {
    let version = locked_version("wasm-bindgen")?;
    // Not --locked: the published lockfile pins a webpki-roots version the registry lacks.
    ensure_cargo_tool(
        "wasm-bindgen-cli",
        "wasm-bindgen",
        &version,
        false,
        "generates the app's JavaScript glue; must match Cargo.lock; about 4 minutes to build",
    )
}

/// Binaryen's `wasm-opt` from the pinned npm package in `tools/wasm-opt/`, checked to be the
/// version `Trunk.toml` names (`[tools] wasm_opt`); returns the folder to put first on trunk's
/// `PATH`. Trunk runs it on release builds (`data-wasm-opt` in `index.html`); finding another
/// version, `trunk --offline` fails instead of downloading one.
pub fn ensure_wasm_opt() -> Result<PathBuf> {
    let bin = crate::npm::wasm_opt_bin_dir()?;
    let wanted = trunk_wasm_opt_version()?;
    let program = bin.join("wasm-opt");
    let said = process::output(&program.to_string_lossy(), &["--version"]).unwrap_or_default();
    let found = wasm_opt_version(&said);
    if found.as_deref() != Some(wanted.as_str()) {
        bail!(
            "{} says {:?}, but Trunk.toml wants wasm_opt = \"{wanted}\": pin the same Binaryen \
             version in tools/wasm-opt/package.json and Trunk.toml",
            program.display(),
            said.trim()
        );
    }
    Ok(bin)
}

/// The version trunk reads from `wasm-opt --version` (`wasm-opt version 132 (version_132)`,
/// third word): `version_132`.
fn wasm_opt_version(said: &str) -> Option<String> {
    let number = said.trim().split(' ').nth(2)?;
    Some(format!("version_{number}"))
}

/// The `wasm_opt = "…"` of `Trunk.toml`.
fn trunk_wasm_opt_version() -> Result<String> {
    let path = paths::root().join("Trunk.toml");
    let trunk =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    trunk
        .lines()
        .find_map(|line| {
            let value = line
                .trim()
                .strip_prefix("wasm_opt")?
                .trim()
                .strip_prefix('=')?;
            Some(value.trim().trim_matches('"').to_owned())
        })
        .with_context(|| format!("{} names no wasm_opt version", path.display()))
}

/// The `wasm-bindgen-test-runner` that comes with [`ensure_wasm_bindgen`].
pub fn ensure_wasm_bindgen_test_runner() -> Result<PathBuf> {
    let wasm_bindgen = ensure_wasm_bindgen()?;
    Ok(wasm_bindgen.with_file_name("wasm-bindgen-test-runner"))
}

/// Debian's Chromium and ChromeDriver (same version), for the browser tests.
pub fn ensure_chromium() -> Result<PathBuf> {
    let driver = PathBuf::from("/usr/bin/chromedriver");
    if driver.exists() && std::path::Path::new("/usr/bin/chromium").exists() {
        return Ok(driver);
    }
    println!(
        "xtask: installing Debian's chromium and chromium-driver (headless browser tests; a few minutes)"
    );
    let root = paths::root();
    process::run(process::command("apt-get", &["update"], &root))?;
    let mut install = process::command(
        "apt-get",
        &["install", "-y", "chromium", "chromium-driver"],
        &root,
    );
    install.env("DEBIAN_FRONTEND", "noninteractive");
    process::run(install)?;
    if !driver.exists() {
        bail!(
            "chromium-driver was installed but {} is missing",
            driver.display()
        );
    }
    Ok(driver)
}

/// The version of `package` in the workspace's Cargo.lock.
pub fn locked_version(package: &str) -> Result<String> {
    let path = paths::root().join("Cargo.lock");
    let lock =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let needle = format!("name = \"{package}\"\nversion = \"");
    let start = lock
        .find(&needle)
        .with_context(|| format!("{package} is not in Cargo.lock"))?
        + needle.len();
    let version = lock[start..].split('"').next().unwrap_or_default();
    Ok(version.to_owned())
}

fn ensure_cargo_tool(
    crate_name: &str,
    binary: &str,
    version: &str,
    locked: bool,
    why: &str,
) -> Result<PathBuf> {
    let path = cargo_bin_dir().join(binary);
    if installed_version(crate_name).as_deref() == Some(version) && path.exists() {
        return Ok(path);
    }
    println!("xtask: installing {crate_name} {version} ({why})");
    let mut args = vec!["install", crate_name, "--version", version];
    if locked {
        args.push("--locked");
    }
    process::run(process::command("cargo", &args, &std::env::temp_dir()))?;
    if !path.exists() {
        bail!(
            "{crate_name} was installed but {} is missing",
            path.display()
        );
    }
    Ok(path)
}

/// The version of a crate installed with `cargo install`, from `cargo install --list`.
fn installed_version(crate_name: &str) -> Option<String> {
    let list = process::output("cargo", &["install", "--list"])?;
    let prefix = format!("{crate_name} v");
    list.lines().find_map(|line| {
        let rest = line.strip_prefix(&prefix)?;
        Some(rest.split([':', ' ']).next()?.to_owned())
    })
}

fn cargo_bin_dir() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"));
    home.join("bin")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trunk must be told the exact wasm-bindgen of Cargo.lock, or it tries to download one.
    #[test]
    fn trunk_toml_names_the_locked_wasm_bindgen() {
        let locked = locked_version("wasm-bindgen").unwrap();
        let trunk = std::fs::read_to_string(paths::root().join("Trunk.toml")).unwrap();
        assert!(
            trunk.contains(&format!("wasm_bindgen = \"{locked}\"")),
            "Trunk.toml must pin wasm_bindgen = \"{locked}\""
        );
    }

    /// Trunk must be told the wasm-opt that `tools/wasm-opt/` installs, or `trunk --offline`
    /// refuses it (another version) or a plain `trunk build --release` downloads one.
    #[test]
    fn trunk_toml_names_the_pinned_binaryen() {
        let package =
            std::fs::read_to_string(paths::root().join("tools/wasm-opt/package.json")).unwrap();
        let pinned = package
            .split("\"binaryen\": \"")
            .nth(1)
            .and_then(|rest| rest.split('.').next())
            .unwrap();
        assert_eq!(
            trunk_wasm_opt_version().unwrap(),
            format!("version_{pinned}")
        );
    }

    /// What trunk reads from `wasm-opt --version`, and nothing from an unexpected answer.
    #[test]
    fn wasm_opt_version_is_the_third_word() {
        assert_eq!(
            wasm_opt_version("wasm-opt version 132 (version_132)\n").as_deref(),
            Some("version_132")
        );
        assert_eq!(wasm_opt_version(""), None);
        assert_eq!(wasm_opt_version("wasm-opt 132"), None);
    }
}
