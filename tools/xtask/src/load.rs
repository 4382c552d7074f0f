//! `cargo xtask load [--clients N] [--rate R] [--seconds S]`: many native clients against a
//! throw-away SpacetimeDB on loopback; bounded in count and time.

use crate::throwaway::Throwaway;
use crate::{flag_value, module, paths, process, tools};
use anyhow::{Result, bail};

/// Runs the load test and writes `docs/bench-load.md`.
pub fn run(args: &[String]) -> Result<()> {
    let (mut clients, mut rate, mut seconds) = (1000u32, 50u32, 20u32);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--clients" => clients = flag_value("--clients", args.next())?,
            "--rate" => rate = flag_value("--rate", args.next())?,
            "--seconds" => seconds = flag_value("--seconds", args.next())?,
            other => {
                bail!("unexpected argument {other:?} (expected --clients N, --rate R, --seconds S)")
            }
        }
    }
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
