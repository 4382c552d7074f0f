//! `onepulse-bench`: the runtime measured natively against a real SpacetimeDB.
//!
//! Run by `cargo xtask bench`, which starts the server, publishes the module and passes
//! `--url URL --database NAME --owner-token TOKEN --root DIR`.

mod alloc;
mod initial;
mod latency;
mod report;

use anyhow::{Context, Result, bail};
use local_spacetimedb::{CallOutcome, HttpApi};
use report::Figure;
use serde_json::json;
use std::path::PathBuf;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// Where the benchmark runs.
pub struct Target {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The database name.
    pub database: String,
    /// The publisher's token (for the seeding reducer).
    pub owner_token: String,
}

impl Target {
    /// Inserts `count` synthetic rows from `first` on, all with last GM on `day`.
    pub fn seed(&self, first: u32, count: u32, day: i32) -> Result<()> {
        let api = HttpApi::new(&self.url);
        match api.call_reducer(
            &self.database,
            "seed_gm_stats",
            &json!([first, count, day]),
            Some(&self.owner_token),
        )? {
            CallOutcome::Committed => Ok(()),
            CallOutcome::Failed(message) => bail!("seeding failed: {message}"),
        }
    }
}

struct Args {
    target: Target,
    root: PathBuf,
}

fn parse_args() -> Result<Args> {
    let mut url = None;
    let mut database = None;
    let mut owner_token = None;
    let mut root = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => url = Some(value),
            "--database" => database = Some(value),
            "--owner-token" => owner_token = Some(value),
            "--root" => root = Some(PathBuf::from(value)),
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(Args {
        target: Target {
            url: url.context("--url is required")?,
            database: database.context("--database is required")?,
            owner_token: owner_token.context("--owner-token is required")?,
        },
        root: root.context("--root is required")?,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let mut figures: Vec<Figure> = Vec::new();
    figures.extend(initial::run(&args.target).await?);
    figures.extend(latency::run(&args.target).await?);
    let when = latency::utc_now();
    report::write(
        &figures,
        "native",
        &args.root.join("target/bench"),
        &args.root.join("docs"),
        &when,
    )
}
