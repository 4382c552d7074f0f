//! `cargo xtask test`: formatting, clippy, builds, and every test against a throw-away
//! SpacetimeDB with the module published.

use crate::browser_temp::BrowserTemp;
use crate::throwaway::{FallbackService, HostileServer, Restartable, Throwaway};
use crate::{app, module, npm, paths, process, tools};
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest `cargo test` may run against the server.
const TEST_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The database name the tests publish the module under.
pub const TEST_DATABASE: &str = "onepulse-test";
/// The database on the server the browser tests stop and start.
const RESTART_DATABASE: &str = "onepulse-restart";

/// Runs every check; fails on the first failing step, after running all tests of that step.
pub fn run() -> Result<()> {
    tools::ensure_wasm_target()?;
    // The app imports the Farcaster bridge at compile time (clippy for wasm32 needs it too).
    npm::farcaster_bridge()?;
    // The chain crates compile the DailyGM contract's ABI and bytecode in (clippy needs it).
    npm::contracts()?;
    tools::ensure_spacetimedb()?;
    let server_manifest = paths::module().join("Cargo.toml");
    let server_manifest = server_manifest.to_string_lossy();

    process::run(cargo(&["fmt", "--all", "--check"]))?;
    process::run(cargo(&[
        "fmt",
        "--check",
        "--manifest-path",
        &server_manifest,
    ]))?;
    process::run(cargo(&[
        "clippy",
        "--locked",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    process::run(cargo(&[
        "clippy",
        "--locked",
        "--target",
        "wasm32-unknown-unknown",
        "--manifest-path",
        &server_manifest,
        "--",
        "-D",
        "warnings",
    ]))?;
    // The runtime as the app builds it: without gzip frames (feature unification turns them
    // on for every other build here).
    process::run(cargo(&[
        "clippy",
        "--locked",
        "--package",
        "stdb-client",
        "--no-default-features",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The browser crates, compiled for the browser (the runtime's dev-dependencies are native).
    process::run(cargo(&[
        "clippy",
        "--locked",
        "--target",
        "wasm32-unknown-unknown",
        "--package",
        "stdb-client",
        "--features",
        "browser",
        "--",
        "-D",
        "warnings",
    ]))?;
    process::run(cargo(&[
        "clippy",
        "--locked",
        "--target",
        "wasm32-unknown-unknown",
        "--all-targets",
        "--package",
        "onepulse",
        "--package",
        "browser-tests",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The upgrade test's fixture (an older module's rows), then the module.
    let legacy_wasm = module::build_legacy_fixture()?;
    let wasm = module::build()?;
    // The built app in headless Chromium over WebDriver; each test starts its own servers.
    // One at a time: each runs a browser and a database on the machine's two cores.
    let browser_temp = BrowserTemp::new()?;
    let mut end_to_end =
        app::end_to_end_tests(&["--no-fail-fast", "--", "--test-threads=1"], &wasm)?;
    browser_temp.apply(&mut end_to_end);

    // Built before the server starts, so the server does not idle through compilation.
    process::run(cargo(&["test", "--locked", "--workspace", "--no-run"]))?;
    process::run(cargo(&[
        "build",
        "--locked",
        "--package",
        "onepulse-fallback",
    ]))?;
    // The hostile SpacetimeDB stand-in the browser tests feed malicious frames from.
    process::run(cargo(&[
        "build",
        "--locked",
        "--package",
        "stdb-client",
        "--features",
        "native",
        "--example",
        "hostile_server",
    ]))?;

    let chromedriver = tools::ensure_chromium()?;
    let runner = tools::ensure_wasm_bindgen_test_runner()?;
    let db = Throwaway::start(TEST_DATABASE, &wasm)?;
    // A second server, on disk, that the browser tests stop and start through a control endpoint.
    let restartable = Restartable::start(RESTART_DATABASE, &wasm)?;
    let fallback = FallbackService::start(db.server.url(), TEST_DATABASE)?;
    let restart_fallback = FallbackService::start(&restartable.url, RESTART_DATABASE)?;
    let hostile = HostileServer::start()?;
    let spacetimedb = tools::ensure_spacetimedb()?;
    let mut native = cargo(&[
        "test",
        "--locked",
        "--workspace",
        "--exclude",
        "e2e-tests",
        "--no-fail-fast",
    ]);
    native
        .env("ONEPULSE_SPACETIMEDB_URL", db.server.url())
        .env("ONEPULSE_TEST_DATABASE", db.database)
        .env("ONEPULSE_OWNER_TOKEN", &db.owner_token)
        .env("ONEPULSE_SPACETIMEDB_BIN", &spacetimedb)
        .env("ONEPULSE_MODULE_WASM", &wasm)
        .env("ONEPULSE_LEGACY_MODULE_WASM", &legacy_wasm);
    // wasm-bindgen tests in headless Chromium; the server's address is compiled in.
    let mut browser = cargo(&[
        "test",
        "--locked",
        "--no-fail-fast",
        "--package",
        "browser-tests",
        "--target",
        "wasm32-unknown-unknown",
    ]);
    browser
        .env("ONEPULSE_SPACETIMEDB_URL", db.server.url())
        .env("ONEPULSE_TEST_DATABASE", db.database)
        .env("ONEPULSE_RESTART_SPACETIMEDB_URL", &restartable.url)
        .env("ONEPULSE_RESTART_DATABASE", RESTART_DATABASE)
        .env("ONEPULSE_OWNER_TOKEN", &db.owner_token)
        .env("ONEPULSE_RESTART_OWNER_TOKEN", &restartable.owner_token)
        .env("ONEPULSE_CONTROL_URL", restartable.control.url())
        .env("ONEPULSE_FALLBACK_URL", &fallback.url)
        .env("ONEPULSE_RESTART_FALLBACK_URL", &restart_fallback.url)
        .env("ONEPULSE_HOSTILE_URL", &hostile.url)
        .env("CHROMEDRIVER", &chromedriver)
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", &runner)
        .env("WASM_BINDGEN_TEST_TIMEOUT", "120")
        // ChromeDriver gets 5 s to bind its port by default: too little on a busy 2-core machine.
        .env("WASM_BINDGEN_TEST_DRIVER_TIMEOUT", "60");
    browser_temp.apply(&mut browser);
    // The runtime's unit tests without gzip frames, as the app builds it.
    let no_gzip = cargo(&[
        "test",
        "--locked",
        "--no-fail-fast",
        "--package",
        "stdb-client",
        "--no-default-features",
        "--lib",
    ]);
    // The app's own unit tests again in wasm (Node.js): there its JSON goes through the
    // browser's `JSON` (src/model.rs, src/snapshots.rs), not serde_json.
    let mut app_wasm = cargo(&[
        "test",
        "--locked",
        "--no-fail-fast",
        "--package",
        "onepulse",
        "--lib",
        "--target",
        "wasm32-unknown-unknown",
    ]);
    app_wasm.env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", &runner);
    let outcome = [native, no_gzip, browser, app_wasm, end_to_end]
        .into_iter()
        .try_fold(
            Counts {
                passed: 0,
                failed: 0,
                success: true,
            },
            |total, command| {
                let counts = run_counting(command)?;
                Ok::<_, anyhow::Error>(Counts {
                    passed: total.passed + counts.passed,
                    failed: total.failed + counts.failed,
                    success: total.success && counts.success,
                })
            },
        );
    drop((fallback, restart_fallback, restartable, hostile));
    let log_file = db.log_file();
    let passed = outcome.as_ref().is_ok_and(|c| c.failed == 0 && c.success);
    db.stop(passed);
    let counts = outcome?;
    println!("{} passed, {} failed", counts.passed, counts.failed);
    if counts.failed > 0 || !counts.success {
        bail!("tests failed; the server log is in {}", log_file.display());
    }
    Ok(())
}

fn cargo(args: &[&str]) -> Command {
    process::command("cargo", args, &paths::root())
}

/// Totals read from `cargo test`'s "test result:" lines.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    passed: u64,
    failed: u64,
    success: bool,
}

/// Runs `cargo test`, echoing its output and adding up its results; kills it when it runs
/// longer than [`TEST_TIMEOUT`] (a hung test must not eat CI's whole budget).
fn run_counting(mut command: Command) -> Result<Counts> {
    let shown = process::show(&command);
    println!("xtask: $ {shown}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start `{shown}`"))?;
    let (lines_tx, lines) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let deadline = Instant::now() + TEST_TIMEOUT;
    let mut counts = Counts::default();
    loop {
        match lines.recv_timeout(Duration::from_millis(500)) {
            Ok(line) => {
                println!("{line}");
                add_result_line(&mut counts, &line);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if Instant::now() > deadline {
            // Killing fails only if it already exited.
            let _ = child.kill();
            counts.failed += 1;
            println!("xtask: cargo test ran longer than {TEST_TIMEOUT:?} and was stopped");
            break;
        }
    }
    counts.success = child.wait().context("waiting for cargo test")?.success();
    Ok(counts)
}

/// Adds `test result: ok. 3 passed; 1 failed; ...` to the totals; other lines are ignored.
fn add_result_line(counts: &mut Counts, line: &str) {
    let Some(rest) = line.trim().strip_prefix("test result: ") else {
        return;
    };
    for part in rest.split(';') {
        let mut words = part.split_whitespace().rev();
        let (Some(label), Some(number)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = number.parse::<u64>() else {
            continue;
        };
        match label {
            "passed" => counts.passed += n,
            "failed" => counts.failed += n,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_up_result_lines() {
        let mut counts = Counts::default();
        add_result_line(
            &mut counts,
            "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s",
        );
        add_result_line(
            &mut counts,
            "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        add_result_line(&mut counts, "test passed something else");
        assert_eq!(counts.passed, 15);
        assert_eq!(counts.failed, 2);
    }
}
