//! `cargo xtask`: the project's commands (`cargo xtask --help` lists them).
//!
//! - `dev [--port N] [--clear]`: install what is missing, start SpacetimeDB with the module
//!   published, local chains with DailyGM deployed, the chain watcher, the fallback service and
//!   the app.
//! - `db [--port N] [--clear]`: just the database with the module published, in the foreground.
//! - `test`: every check and test, against a throw-away SpacetimeDB.
//! - `bench`: the benchmarks, against a throw-away SpacetimeDB.
//! - `load [--clients N] [--rate R] [--seconds S]`: many native clients and a steady reporter,
//!   against a throw-away SpacetimeDB.

mod app;
mod bench;
mod browser_temp;
mod chains;
mod database;
mod dev;
mod load;
mod module;
mod npm;
mod paths;
mod process;
mod test;
mod throwaway;
mod tools;

use anyhow::Result;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser, Subcommand};
use std::ffi::OsString;

/// The command line: `cargo xtask <COMMAND> [OPTIONS]`.
#[derive(Debug, Parser)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    about = "OnePulse Live's project commands.",
    long_about = None
)]
struct Cli {
    /// What to do; without one, the help is printed.
    #[command(subcommand)]
    command: Option<Command>,
}

/// The commands.
#[derive(Debug, PartialEq, Eq, Subcommand)]
enum Command {
    /// Install what is missing, start SpacetimeDB with the module published, local chains with
    /// DailyGM deployed and the chain watcher, the fallback service, and serve the app with
    /// trunk (http://127.0.0.1:8080).
    ///
    /// SpacetimeDB listens on 127.0.0.1 at --port (data in target/spacetimedb/data, kept across
    /// restarts; log in target/spacetimedb/server.log) with the module published as
    /// `onepulse`; Hardhat nodes for Base, Celo and Optimism on 127.0.0.1:8545-8547 (new chains
    /// every time; logs in target/local-chain); the fallback service on 127.0.0.1:8787 (trunk
    /// proxies /api to it). Ctrl-C stops everything.
    Dev(database::Options),
    /// Only the database with the module published, in the foreground.
    ///
    /// Data in target/spacetimedb/data, kept across restarts; Ctrl-C stops it.
    Db(database::Options),
    /// Formatting, clippy and every test, against a throw-away SpacetimeDB.
    Test,
    /// Benchmarks (release builds) against a throw-away SpacetimeDB.
    ///
    /// Writes target/bench/runtime.json and docs/bench-runtime.md, and appends to
    /// docs/bench-history.jsonl.
    Bench,
    /// Many native clients and a steady reporter against a throw-away SpacetimeDB.
    ///
    /// N clients each subscribed to its own address, a reporter calling report_gm at R/s for
    /// S s; prints fan-out latency, failed connects and memory, writes docs/bench-load.md.
    Load(load::Options),
}

impl Cli {
    /// Parses a command line (`args`, the program name first) as [`Parser::try_parse_from`]
    /// does, but every refusal also shows the usage of the command it concerns (clap shows it
    /// for some errors only).
    fn from_command_line<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        Self::try_parse_from(&args).map_err(|mut error| {
            let shown = matches!(
                error.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            );
            if !shown && error.get(ContextKind::Usage).is_none() {
                let mut command = Self::command();
                command.build();
                // The first word that names a command is the one the error is about.
                let sub = args
                    .iter()
                    .skip(1)
                    .filter_map(|arg| arg.to_str())
                    .find_map(|arg| command.find_subcommand(arg))
                    .cloned();
                let usage = match sub {
                    Some(mut sub) => sub.render_usage(),
                    None => command.render_usage(),
                };
                error.insert(ContextKind::Usage, ContextValue::StyledStr(usage));
            }
            error
        })
    }
}

fn main() {
    // A bad command line prints a one-line error and the usage and exits with status 2;
    // `--help`/`-h` print the help and exit 0.
    let cli = Cli::from_command_line(std::env::args_os()).unwrap_or_else(|e| e.exit());
    if let Err(e) = run(cli) {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Dev(options)) => dev::run(options),
        Some(Command::Db(options)) => database::run(options),
        Some(Command::Test) => test::run(),
        Some(Command::Bench) => bench::run(),
        Some(Command::Load(options)) => load::run(options),
        None => {
            Cli::command().print_help()?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Option<Command>, clap::Error> {
        Cli::from_command_line(std::iter::once("xtask").chain(line.split_whitespace()))
            .map(|cli| cli.command)
    }

    fn refused(line: &str) -> (ErrorKind, String) {
        match parse(line) {
            Ok(command) => panic!("{line:?} was accepted: {command:?}"),
            Err(e) => (e.kind(), e.render().to_string()),
        }
    }

    const DEFAULT_DB: database::Options = database::Options {
        port: database::DEFAULT_PORT,
        clear: false,
    };

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn commands_and_their_defaults() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("dev").unwrap(), Some(Command::Dev(DEFAULT_DB)));
        assert_eq!(parse("db").unwrap(), Some(Command::Db(DEFAULT_DB)));
        assert_eq!(parse("test").unwrap(), Some(Command::Test));
        assert_eq!(parse("bench").unwrap(), Some(Command::Bench));
        assert_eq!(
            parse("load").unwrap(),
            Some(Command::Load(load::Options {
                clients: 1000,
                rate: 50,
                seconds: 20
            }))
        );
    }

    #[test]
    fn flags_are_read() {
        let db = database::Options {
            port: 3100,
            clear: true,
        };
        assert_eq!(
            parse("dev --port 3100 --clear").unwrap(),
            Some(Command::Dev(db))
        );
        assert_eq!(
            parse("db --clear --port=3100").unwrap(),
            Some(Command::Db(db))
        );
        assert_eq!(
            parse("load --clients 5000 --rate 2000 --seconds 600").unwrap(),
            Some(Command::Load(load::Options {
                clients: 5000,
                rate: 2000,
                seconds: 600
            }))
        );
    }

    #[test]
    fn bad_command_lines_are_refused_with_the_reason() {
        let cases = [
            ("deploy", ErrorKind::InvalidSubcommand, "'deploy'"),
            ("test --fast", ErrorKind::UnknownArgument, "'--fast'"),
            ("bench extra", ErrorKind::UnknownArgument, "'extra'"),
            ("db --port", ErrorKind::InvalidValue, "--port"),
            ("db --port 0", ErrorKind::ValueValidation, "--port"),
            ("dev --port 70000", ErrorKind::ValueValidation, "--port"),
            ("db --port x", ErrorKind::ValueValidation, "'x'"),
            ("dev --clients 5", ErrorKind::UnknownArgument, "'--clients'"),
            (
                "load --clients 5001",
                ErrorKind::ValueValidation,
                "--clients",
            ),
            ("load --clients 0", ErrorKind::ValueValidation, "--clients"),
            ("load --rate 2001", ErrorKind::ValueValidation, "--rate"),
            (
                "load --seconds 601",
                ErrorKind::ValueValidation,
                "--seconds",
            ),
            ("load --seconds 0", ErrorKind::ValueValidation, "--seconds"),
        ];
        for (line, kind, named) in cases {
            let (got, message) = refused(line);
            assert_eq!(got, kind, "{line}: {message}");
            let first = message.lines().next().unwrap_or_default();
            assert!(first.starts_with("error: "), "{line}: {message}");
            assert!(first.contains(named), "{line}: {message}");
            // Then the usage of the command concerned.
            let usage = match line.split_whitespace().next() {
                Some(command @ ("dev" | "db" | "test" | "bench" | "load")) => {
                    format!("Usage: cargo xtask {command}")
                }
                _ => "Usage: cargo xtask [COMMAND]".to_owned(),
            };
            let third = message.lines().nth(2).unwrap_or_default();
            assert!(third.starts_with(&usage), "{line}: {message}");
            assert_eq!(message.matches("Usage:").count(), 1, "{line}: {message}");
        }
    }

    #[test]
    fn help_lists_the_commands_and_their_flags() {
        let (kind, help) = refused("--help");
        assert_eq!(kind, ErrorKind::DisplayHelp);
        assert!(help.contains("Usage: cargo xtask"), "{help}");
        for command in ["dev", "db", "test", "bench", "load"] {
            assert!(help.contains(command), "{command} missing:\n{help}");
        }
        let (_, help) = refused("help load");
        for flag in [
            "--clients <N>",
            "--rate <R>",
            "--seconds <S>",
            "[default: 1000]",
        ] {
            assert!(help.contains(flag), "{flag} missing:\n{help}");
        }
        let (kind, help) = refused("dev -h");
        assert_eq!(kind, ErrorKind::DisplayHelp);
        for flag in ["--port <N>", "--clear", "[default: 3000]"] {
            assert!(help.contains(flag), "{flag} missing:\n{help}");
        }
    }

    #[test]
    fn every_flag_has_a_help_text() {
        for command in Cli::command().get_subcommands() {
            for arg in command.get_arguments() {
                let name = arg.get_id();
                assert!(arg.get_help().is_some(), "{} --{name}", command.get_name());
            }
        }
    }
}
