//! `cargo xtask bench`: the benchmarks, natively and in headless Chromium (the runtime alone,
//! then the built app end to end), against an on-disk SpacetimeDB that the browser benchmark
//! restarts (reconnect time). Release builds.

use crate::browser_temp::BrowserTemp;
use crate::throwaway::Restartable;
use crate::{app, module, paths, process, tools};
use anyhow::{Context, Result};

const DATABASE: &str = "onepulse-bench";

/// Builds the benchmark binary (release) and returns its path.
pub fn build_bench() -> Result<std::path::PathBuf> {
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
    Ok(paths::target().join("release/onepulse-bench"))
}

/// Builds and runs the benchmarks; the report lands in `target/bench/` and `docs/`.
pub fn run() -> Result<()> {
    tools::ensure_wasm_target()?;
    crate::npm::farcaster_bridge()?;
    // The chain figures run local chains (Hardhat, the DailyGM build).
    crate::npm::contracts()?;
    let chromedriver = tools::ensure_chromium()?;
    let runner = tools::ensure_wasm_bindgen_test_runner()?;
    let wasm = module::build()?;
    let root = paths::root();
    let bench = build_bench()?;
    let db = Restartable::start(DATABASE, &wasm)?;
    let bench = bench.to_string_lossy();
    let root_text = root.to_string_lossy();
    let target_args = [
        "--url",
        db.url.as_str(),
        "--database",
        DATABASE,
        "--owner-token",
        db.owner_token.as_str(),
        "--root",
        &root_text,
    ];
    let with = |command: &str, extra: &[&str]| {
        let mut args = vec![command];
        args.extend_from_slice(&target_args);
        args.extend_from_slice(extra);
        process::command(&bench, &args, &root)
    };
    process::run(with("seed", &[]))?;

    let mut browser = process::command(
        "cargo",
        &[
            "test",
            "--locked",
            "--release",
            "--package",
            "browser-tests",
            "--features",
            "bench",
            "--test",
            "bench",
            "--target",
            "wasm32-unknown-unknown",
            "--",
            "--nocapture",
        ],
        &root,
    );
    browser
        .env("ONEPULSE_RESTART_SPACETIMEDB_URL", &db.url)
        .env("ONEPULSE_RESTART_DATABASE", DATABASE)
        .env("ONEPULSE_RESTART_OWNER_TOKEN", &db.owner_token)
        .env("ONEPULSE_CONTROL_URL", db.control.url())
        .env("CHROMEDRIVER", &chromedriver)
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", &runner)
        .env("WASM_BINDGEN_TEST_TIMEOUT", "600")
        // ChromeDriver gets 5 s to bind its port by default: too little on a busy 2-core machine.
        .env("WASM_BINDGEN_TEST_DRIVER_TIMEOUT", "60");
    let browser_temp = BrowserTemp::new()?;
    browser_temp.apply(&mut browser);
    let mut output = process::run_capturing(browser)?;

    // The built app in headless Chromium: page load → live, reducer → DOM, transfer size; then
    // GM mined → streak on screen and the chain watcher's throughput. One at a time, so they
    // do not share the two cores.
    let mut end_to_end = app::end_to_end_tests(
        &[
            "--release",
            "--features",
            "bench",
            "--test",
            "bench",
            "--",
            "--nocapture",
            "--test-threads=1",
        ],
        &wasm,
    )?;
    browser_temp.apply(&mut end_to_end);
    output.push_str(&process::run_capturing(end_to_end)?);

    let figures = figure_lines(&output);
    let browser_file = paths::target().join("bench/browser.jsonl");
    std::fs::create_dir_all(paths::target().join("bench")).context("creating target/bench")?;
    std::fs::write(&browser_file, figures)
        .with_context(|| format!("writing {}", browser_file.display()))?;

    process::run(with("run", &["--browser", &browser_file.to_string_lossy()]))
}

/// The `BENCH {json}` figures in the benchmarks' output, one JSON object per line. A figure may
/// follow other text on its line: with `--nocapture`, libtest prints `test NAME ... ` and the
/// test's first output on the same line.
fn figure_lines(output: &str) -> String {
    output
        .lines()
        .filter_map(|line| {
            line.split_once("BENCH {")
                .map(|(_, json)| format!("{{{json}\n"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::figure_lines;

    #[test]
    fn figures_are_found_after_libtests_test_name() {
        let output = "running 2 tests\n\
                      test app_figures ... BENCH {\"name\":\"a\"}\n\
                      BENCH {\"name\":\"b\"}\n\
                      ok\n  BENCH {\"name\":\"c\"}\nBENCH without json\n";
        assert_eq!(
            figure_lines(output),
            "{\"name\":\"a\"}\n{\"name\":\"b\"}\n{\"name\":\"c\"}\n"
        );
    }
}
