//! The `onepulse-fallback` binary's command line, run as a process: help, and refusals that are
//! one line of error plus the usage (never a panic or a backtrace). Needs no database: every
//! case ends before the service starts.

use std::process::{Command, Output};

/// Runs the binary with `args`, with backtraces on so one would show if anything panicked or
/// an error was reported through `anyhow`.
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onepulse-fallback"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .unwrap_or_else(|e| panic!("running onepulse-fallback {args:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_is_printed_on_stdout_and_exits_0() {
    for flag in ["--help", "-h"] {
        let output = run(&[flag]);
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        assert_eq!(output.status.code(), Some(0), "{flag}: {stdout}{stderr}");
        assert!(
            stdout.contains("Usage: onepulse-fallback [OPTIONS]"),
            "{flag}: {stdout}"
        );
        for documented in [
            "--listen <ADDR>",
            "--spacetimedb <URL>",
            "--database <NAME>",
            "--dist <DIR>",
            "--allow-origin <ORIGIN>",
            "--burst <N>",
            "--per-second <R>",
            "--trusted-proxy <CIDR>",
            "--max-tracked-clients <N>",
            "[default: 100000]",
            "--max-in-flight <N>",
            "--max-connections <N>",
            "--public-url <URL>",
            "--farcaster-account-association <FILE>",
            "[default: 127.0.0.1:8787]",
            "[default: http://127.0.0.1:3000]",
            "[default: onepulse]",
            "[default: 30]",
            "[default: 5]",
            "[default: 512]",
            "[default: 1024]",
        ] {
            assert!(
                stdout.contains(documented),
                "{flag}: no {documented}: {stdout}"
            );
        }
        assert!(stderr.is_empty(), "{flag}: {stderr}");
    }
}

/// Checks a refused command line: a failure status, nothing on stdout, and on stderr one line
/// of error naming `named`, then the usage, and no sign of a panic or a backtrace.
fn assert_refused(args: &[&str], named: &str) {
    let output = run(args);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stdout.is_empty(), "{args:?}: {stdout}");
    let mut lines = stderr.lines();
    let first = lines.next().unwrap_or_default();
    assert!(first.starts_with("error: "), "{args:?}: {stderr}");
    assert!(first.contains(named), "{args:?}: {stderr}");
    assert_eq!(
        lines.next(),
        Some(""),
        "{args:?}: the error is one line: {stderr}"
    );
    assert_eq!(
        lines.next(),
        Some("Usage: onepulse-fallback [OPTIONS]"),
        "{args:?}: {stderr}"
    );
    for sign in ["backtrace", "panicked", "Stack", "Caused by"] {
        assert!(!stderr.contains(sign), "{args:?}: {sign:?} in {stderr}");
    }
}

#[test]
fn an_unknown_flag_is_one_line_and_the_usage() {
    assert_refused(&["--what"], "'--what'");
    assert_refused(&["--listen", "127.0.0.1:1", "stray"], "'stray'");
}

#[test]
fn a_bad_value_is_one_line_naming_the_flag_and_the_usage() {
    assert_refused(&["--burst", "0"], "--burst");
    assert_refused(&["--listen", "nowhere"], "--listen");
    assert_refused(&["--max-connections", "0"], "--max-connections");
    assert_refused(&["--trusted-proxy", "10.0.0.1/8"], "--trusted-proxy");
    assert_refused(&["--trusted-proxy", "0.0.0.0/0"], "--trusted-proxy");
    assert_refused(&["--trusted-proxy", "proxy.example"], "--trusted-proxy");
    assert_refused(&["--public-url", "http://x.example"], "https://");
    assert_refused(
        &[
            "--farcaster-account-association",
            "/nonexistent/onepulse-association.json",
        ],
        "/nonexistent/onepulse-association.json",
    );
}

#[test]
fn a_flag_without_its_value_is_refused() {
    assert_refused(&["--dist"], "--dist");
}

#[test]
fn a_failure_to_start_is_one_line_without_a_backtrace() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let address = taken.local_addr().expect("its address").to_string();
    let output = run(&["--listen", &address]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "onepulse-fallback: error: listening on {address}: "
        )),
        "{stderr}"
    );
    for sign in ["backtrace", "panicked"] {
        assert!(!stderr.contains(sign), "{sign:?} in {stderr}");
    }
}
