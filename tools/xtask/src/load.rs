//! `cargo xtask load [--clients N] [--rate R] [--seconds S]`: many native clients against a
//! throw-away SpacetimeDB on loopback; bounded in count and time.

use crate::throwaway::Throwaway;
use crate::{module, paths, process, tools};
use anyhow::Result;

/// `cargo xtask load`'s flags. The bounds are the ones `onepulse-bench load` enforces, checked
/// here too so a bad value is refused before anything is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct Options {
    /// Native clients, each subscribed to its own address (1 to 5000).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u32).range(1..=5000)
    )]
    pub clients: u32,
    /// Reports per second made by the reporter (1 to 2000).
    #[arg(
        long,
        value_name = "R",
        default_value_t = 50,
        value_parser = clap::value_parser!(u32).range(1..=2000)
    )]
    pub rate: u32,
    /// How long the reporter runs, in seconds (1 to 600).
    #[arg(
        long,
        value_name = "S",
        default_value_t = 20,
        value_parser = clap::value_parser!(u32).range(1..=600)
    )]
    pub seconds: u32,
}

/// Runs the load test and writes `docs/bench-load.md`.
pub fn run(options: Options) -> Result<()> {
    let Options {
        clients,
        rate,
        seconds,
    } = options;
    tools::ensure_wasm_target()?;
    let wasm = module::build()?;
    let root = paths::root();
    let bench = crate::bench::build_bench()?;
    let db = Throwaway::start("onepulse-load", &wasm)?;
    let (clients, rate, seconds, pid) = (
        clients.to_string(),
        rate.to_string(),
        seconds.to_string(),
        db.server.pid().to_string(),
    );
    let root_text = root.to_string_lossy();
    let url = db.server.url().to_owned();
    let result = process::run(process::command(
        &bench.to_string_lossy(),
        &[
            "load",
            "--url",
            &url,
            "--database",
            db.database,
            "--owner-token",
            &db.owner_token,
            "--root",
            &root_text,
            "--clients",
            &clients,
            "--rate",
            &rate,
            "--seconds",
            &seconds,
            "--server-pid",
            &pid,
        ],
        &root,
    ));
    db.stop(result.is_ok());
    result
}
