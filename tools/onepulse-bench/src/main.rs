//! `onepulse-bench`: the runtime measured natively against a real SpacetimeDB.
//!
//! Run by `cargo xtask bench`, which starts the server and publishes the module, then runs
//! `onepulse-bench seed …` (the rows every benchmark reads), the browser benchmarks, and
//! `onepulse-bench run … [--browser FILE]`, which measures natively and writes the report with
//! the browser's figures (JSON lines) included.

mod fallback;
mod initial;
mod latency;
mod load;
mod report;

use anyhow::{Context, Result, bail};
use local_spacetimedb::{CallOutcome, HttpApi};
use report::Figure;
use serde_json::json;
use std::path::PathBuf;

#[global_allocator]
static ALLOCATOR: heap_meter::Counting = heap_meter::Counting;

/// Where the benchmark runs.
pub struct Target {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The database name.
    pub database: String,
    /// The publisher's token (for the seeding and `add_reporter` reducers).
    pub owner_token: String,
}

impl Target {
    /// Inserts `count` synthetic rows from `first` on, all with last GM on `day` (and a
    /// `last_tx_hash`, as rows reported from the chain have, if `with_tx_hash`).
    pub fn seed(&self, first: u32, count: u32, day: i32, with_tx_hash: bool) -> Result<()> {
        let api = HttpApi::new(&self.url);
        match api.call_reducer(
            &self.database,
            "seed_gm_stats",
            &json!([first, count, day, with_tx_hash]),
            Some(&self.owner_token),
        )? {
            CallOutcome::Committed => Ok(()),
            CallOutcome::Failed(message) => bail!("seeding failed: {message}"),
        }
    }

    /// Lets `identity` call `report_gm` (the module refuses callers that are not reporters):
    /// `add_reporter` with the owner's token. Idempotent.
    pub fn add_reporter(&self, identity: stdb_client::Identity) -> Result<()> {
        let hex = identity.to_hex().to_ascii_lowercase();
        HttpApi::new(&self.url).add_reporter(&self.database, &self.owner_token, &hex)?;
        Ok(())
    }
}

struct Args {
    command: String,
    target: Target,
    root: PathBuf,
    browser: Option<PathBuf>,
    load: load::Load,
}

fn parse_args() -> Result<Args> {
    let mut args = std::env::args().skip(1);
    let command = args
        .next()
        .context("usage: onepulse-bench seed|run --url … --database … --owner-token … --root …")?;
    let mut url = None;
    let mut database = None;
    let mut owner_token = None;
    let mut root = None;
    let mut browser = None;
    let mut load = load::Load {
        clients: 1000,
        rate: 50,
        seconds: 20,
        server_pid: None,
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => url = Some(value),
            "--database" => database = Some(value),
            "--owner-token" => owner_token = Some(value),
            "--root" => root = Some(PathBuf::from(value)),
            "--browser" => browser = Some(PathBuf::from(value)),
            "--clients" => load.clients = value.parse().context("--clients: a number")?,
            "--rate" => load.rate = value.parse().context("--rate: a number")?,
            "--seconds" => load.seconds = value.parse().context("--seconds: a number")?,
            "--server-pid" => {
                load.server_pid = Some(value.parse().context("--server-pid: a number")?)
            }
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(Args {
        command,
        target: Target {
            url: url.context("--url is required")?,
            database: database.context("--database is required")?,
            owner_token: owner_token.context("--owner-token is required")?,
        },
        root: root.context("--root is required")?,
        browser,
        load,
    })
}

/// One figure as the browser benchmarks print it (`BENCH {…}`), one JSON object per line.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FigureLine {
    name: String,
    /// `null` when the benchmark could not measure it (JSON has no NaN): NOT MEASURED.
    #[serde(deserialize_with = "present")]
    value: Option<f64>,
    unit: String,
    /// Required, even when `null` (no target): a line that forgets it must not lose its target
    /// unseen.
    #[serde(deserialize_with = "present")]
    target: Option<f64>,
    #[serde(default)]
    floor: Option<f64>,
    #[serde(default)]
    why: Option<String>,
}

/// An `Option` whose key must be there (serde's derive lets a missing `Option` field be `None`
/// unless the field has its own deserializer).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    serde::Deserialize::deserialize(d)
}

/// The units a figure may have (the report keeps them as `&'static str`).
const UNITS: [&str; 8] = ["ms", "MiB", "KiB", "kB", "rows/s", "GMs/s", "×", ""];

/// Reads figures the browser benchmark printed, one JSON object per line.
fn browser_figures(path: &std::path::Path) -> Result<Vec<Figure>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_figures(&text)
}

/// Figures from JSON lines (blank lines skipped).
fn parse_figures(text: &str) -> Result<Vec<Figure>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: FigureLine =
                serde_json::from_str(line).with_context(|| format!("bad figure {line}"))?;
            let unit = UNITS
                .into_iter()
                .find(|u| *u == f.unit)
                .with_context(|| format!("figure {} has an unknown unit {:?}", f.name, f.unit))?;
            let value = f.value.unwrap_or(f64::NAN);
            let figure = Figure::new(f.name, value, unit, f.target).with_floor(f.floor);
            Ok(match f.why {
                Some(why) => figure.with_why(why),
                None => figure,
            })
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    if args.command == "seed" {
        return initial::seed(&args.target);
    }
    if args.command == "load" {
        if !(1..=5000).contains(&args.load.clients)
            || !(1..=2000).contains(&args.load.rate)
            || args.load.seconds > 600
        {
            bail!("load is bounded: 1..=5000 clients, 1..=2000 reports/s, at most 600 s");
        }
        let figures = load::run(&args.target, &args.load).await?;
        return report::write(
            &figures,
            "load",
            &args.root.join("target/bench"),
            &args.root.join("docs"),
            &latency::utc_now(),
        );
    }
    if args.command != "run" {
        bail!("unknown command {} (seed, run or load)", args.command);
    }
    let mut figures: Vec<Figure> = Vec::new();
    figures.extend(initial::run(&args.target).await?);
    figures.extend(latency::run(&args.target).await?);
    figures.extend(fallback::run(&args.target).await?);
    if let Some(path) = &args.browser {
        figures.extend(browser_figures(path)?);
    }
    let when = latency::utc_now();
    report::write(
        &figures,
        "runtime",
        &args.root.join("target/bench"),
        &args.root.join("docs"),
        &when,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_figures_keep_their_unit_floor_and_why() {
        let figures = parse_figures(concat!(
            r#"{"name":"a","value":916,"unit":"ms","target":500,"floor":836,"why":"server"}"#,
            "\n\n",
            r#"{"name":"b","value":6884,"unit":"GMs/s","target":null}"#,
            "\n",
        ))
        .unwrap();
        assert_eq!(figures.len(), 2);
        assert_eq!(figures[0].why.as_deref(), Some("server"));
        assert_eq!(
            (figures[0].target, figures[0].floor),
            (Some(500.0), Some(836.0))
        );
        assert_eq!(
            (figures[1].unit, figures[1].why.as_deref()),
            ("GMs/s", None)
        );
        assert_eq!((figures[1].target, figures[1].floor), (None, None));
    }

    #[test]
    fn a_figure_with_an_unknown_unit_or_field_or_no_target_is_refused_by_name() {
        let error = |line: &str| format!("{:#}", parse_figures(line).err().unwrap());
        let unit = error(r#"{"name":"a","value":1,"unit":"furlongs","target":null}"#);
        assert!(
            unit.contains("figure a has an unknown unit \"furlongs\""),
            "{unit}"
        );
        let field = error(r#"{"name":"a","value":1,"unit":"ms","target":null,"note":"x"}"#);
        assert!(field.contains("unknown field `note`"), "{field}");
        let target = error(r#"{"name":"a","value":1,"unit":"ms"}"#);
        assert!(target.contains("missing field `target`"), "{target}");
        let missing = error(r#"{"name":"a","unit":"ms","target":1}"#);
        assert!(missing.contains("missing field `value`"), "{missing}");
    }

    #[test]
    fn a_figure_the_benchmark_could_not_measure_is_kept_as_not_measured() {
        let figures = parse_figures(r#"{"name":"a","value":null,"unit":"ms","target":1}"#);
        let figure = figures.unwrap().pop().unwrap();
        assert!(figure.value.is_nan());
        assert_eq!(figure.target, Some(1.0));
    }
}
