//! The binary's command line, run for real.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onepulse-chain-watcher"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running the watcher: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_every_flag_and_exits_0() {
    let out = run(&["--help"]);
    assert!(out.status.success(), "{out:?}");
    let help = text(&out.stdout);
    for flag in [
        "--base-rpc",
        "--base-contract",
        "--base-start-block",
        "--celo-rpc",
        "--celo-contract",
        "--celo-start-block",
        "--optimism-rpc",
        "--optimism-contract",
        "--optimism-start-block",
        "--confirmations",
        "--poll-interval-ms",
        "--max-blocks",
        "--max-gms",
        "--rpc-timeout-ms",
        "--max-answer-mib",
        "--spacetimedb",
        "--database",
        "--token-file",
    ] {
        assert!(help.contains(flag), "{flag} missing:\n{help}");
    }
    // What several watchers at once must share, and that a refused batch holds its chain.
    let words: String = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for said in [
        "must share each chain's start block and --confirmations",
        "A refused batch holds its chain back",
    ] {
        assert!(words.contains(said), "{said:?} missing:\n{help}");
    }
}

#[test]
fn a_bad_command_line_exits_2_naming_the_problem() {
    for (args, named) in [
        (&["--token-file", "t"][..], "no chain to watch"),
        (
            &["--token-file", "t", "--base-rpc", "http://127.0.0.1:1"][..],
            "--base-contract",
        ),
        (
            &["--base-rpc", "nope", "--token-file", "t"][..],
            "--base-rpc",
        ),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let message = text(&out.stderr);
        assert!(message.starts_with("error: "), "{args:?}: {message}");
        assert!(message.contains(named), "{args:?}: {message}");
    }
}

#[test]
fn a_missing_token_file_exits_1_naming_it() {
    let out = run(&[
        "--base-rpc",
        "http://127.0.0.1:1",
        "--base-contract",
        "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "--token-file",
        "/nonexistent/onepulse-token",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let message = text(&out.stderr);
    assert!(
        message.contains("reading the token file /nonexistent/onepulse-token"),
        "{message}"
    );
}
