//! A `report_gm` on one connection → the update event on another.

use crate::Target;
use crate::report::Figure;
use anyhow::{Context, Result, bail};
use onepulse_domain::{Address, Chain, GmDay, GmReport};
use onepulse_gm_stats::{GmStatsRow, REPORT_GM, stats_query};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use stdb_client::native::NativeConnection;
use stdb_client::{ConnectOptions, Event, ReducerOutcome};
use tokio::time::timeout;

const CALLS: usize = 1000;

fn percentile(sorted: &[f64], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Now as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_now() -> String {
    let seconds = unix_seconds();
    let day = GmDay::from_unix_seconds(seconds);
    let in_day = seconds.rem_euclid(86_400);
    format!("{day} {:02}:{:02} UTC", in_day / 3600, in_day % 3600 / 60)
}

/// Measures [`CALLS`] sequential reports of one address, each watched by a subscriber.
pub async fn run(target: &Target) -> Result<Vec<Figure>> {
    let options = ConnectOptions::new(&target.url, &target.database);
    let register = |core: &mut stdb_client::ClientCore| core.register_table::<GmStatsRow>();
    let (watcher, mut events) = NativeConnection::connect(&options, register).await?;
    let (reporter, _) = NativeConnection::connect(&options, register).await?;
    target.add_reporter(reporter.identity())?;
    let address = Address::parse(&format!("0x{:040x}", u64::MAX)).context("bench address")?;
    watcher.subscribe([stats_query(&address)]).await?;
    while events.try_recv().is_ok() {}

    let today = test_kit::today();
    let mut latencies = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let day = GmDay::from_number(today - CALLS as i32 + 1 + i as i32);
        let args = GmReport::new(address.clone(), Chain::Base, day).args();
        let started = Instant::now();
        let outcome = reporter.call_reducer_later(REPORT_GM, &args)?;
        loop {
            let event = timeout(Duration::from_secs(10), events.recv())
                .await
                .context("no update within 10 s")?
                .context("watcher closed")?;
            if matches!(event, Event::RowsChanged(_)) {
                break;
            }
        }
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        if outcome.await? != ReducerOutcome::Committed {
            bail!("report {i} did not commit");
        }
    }
    latencies.sort_by(f64::total_cmp);
    let name = "native: report_gm on one connection → update event on another";
    Ok([("p50", 50, 1.0), ("p99", 99, 4.0)]
        .into_iter()
        .map(|(quantile, at, target)| {
            Figure::new(
                format!("{name}, {quantile}"),
                percentile(&latencies, at),
                "ms",
                Some(target),
            )
            .with_why(test_kit::tail(&latencies, target, "calls"))
        })
        .collect())
}
