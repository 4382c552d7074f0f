//! `cargo xtask`: the project's commands.
//!
//! - `dev`: install what is missing, start SpacetimeDB with the module published, serve the app.
//! - `db [--port N] [--clear]`: just the database with the module published, in the foreground.
//! - `test`: every check and test, against a throw-away SpacetimeDB.
//! - `bench`: the benchmarks, against a throw-away SpacetimeDB.
//! - `load`: many native clients and a steady reporter, against a throw-away SpacetimeDB.

mod app;
mod bench;
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

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  dev  [--port N] [--clear]   install what is missing, start SpacetimeDB (port 3000) with the module
                              published, and serve the app with trunk (http://127.0.0.1:8080)
  db   [--port N] [--clear]   only the database with the module published, in the foreground
  test                        formatting, clippy and every test, against a throw-away SpacetimeDB
  bench                       benchmarks (release builds) against a throw-away SpacetimeDB; writes
                              target/bench/*.json and docs/bench-*.md
  load [--clients N] [--rate R] [--seconds S]
                              N native clients (default 1000) each subscribed to its own address,
                              reports at R/s (50) for S s (20): fan-out latency, failures, memory

--clear wipes the local database's data before publishing.";

fn main() {
    if let Err(e) = run() {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "dev" => dev::run(database::Options::parse(&rest)?),
        "db" => database::run(database::Options::parse(&rest)?),
        "test" => {
            no_arguments(&rest)?;
            test::run()
        }
        "bench" => {
            no_arguments(&rest)?;
            bench::run()
        }
        "load" => load::run(&rest),
        "" | "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}

fn no_arguments(rest: &[String]) -> Result<()> {
    match rest.first() {
        Some(arg) => bail!("unexpected argument {arg:?}\n\n{USAGE}"),
        None => Ok(()),
    }
}

/// Parses the value following a flag.
fn flag_value<T: std::str::FromStr>(flag: &str, value: Option<&String>) -> Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let value = value.with_context(|| format!("{flag} needs a value"))?;
    value
        .parse()
        .with_context(|| format!("{flag}: invalid value {value:?}"))
}
