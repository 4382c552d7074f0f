//! `cargo xtask load`: many native clients, each subscribed to its own address, and a reporter
//! calling `report_gm` at a fixed rate; how long each report takes to reach its subscriber.

use crate::Target;
use crate::report::Figure;
use anyhow::Result;
use onepulse_domain::{Address, Chain, GmDay, GmReport};
use onepulse_gm_stats::{GmStatsRow, REPORT_GM, stats_query};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stdb_client::native::NativeConnection;
use stdb_client::{ConnectOptions, Event};
use tokio::sync::mpsc;

/// How a load run is shaped.
pub struct Load {
    /// Subscribed clients.
    pub clients: usize,
    /// Reports per second.
    pub rate: u32,
    /// How long the reporter runs.
    pub seconds: u64,
    /// The server's process id, for its memory.
    pub server_pid: Option<u32>,
}

fn rss_mib(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn address(i: usize) -> Result<Address> {
    Ok(Address::parse(&format!(
        "0x{:040x}",
        0xA0_0000_0000u64 + i as u64
    ))?)
}

/// Runs the load and returns its figures.
pub async fn run(target: &Target, load: &Load) -> Result<Vec<Figure>> {
    let options = ConnectOptions::new(&target.url, &target.database);
    let register = |core: &mut stdb_client::ClientCore| core.register_table::<GmStatsRow>();
    let rss_before = rss_mib("self").unwrap_or_default();
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel::<(usize, Instant)>();
    let mut connected = Vec::new();
    let mut failed = 0usize;
    for batch in (0..load.clients).collect::<Vec<_>>().chunks(50) {
        let attempts = batch.iter().map(|&i| {
            let options = options.clone();
            async move {
                let (connection, events) = NativeConnection::connect(&options, register).await?;
                connection.subscribe([stats_query(&address(i)?)]).await?;
                Ok::<_, anyhow::Error>((i, connection, events))
            }
        });
        for result in futures_util::future::join_all(attempts).await {
            match result {
                Ok((i, connection, mut events)) => {
                    let tx = arrivals_tx.clone();
                    tokio::spawn(async move {
                        while let Some(event) = events.recv().await {
                            if matches!(event, Event::RowsChanged(_))
                                && tx.send((i, Instant::now())).is_err()
                            {
                                break;
                            }
                        }
                    });
                    connected.push((i, connection));
                }
                Err(e) => {
                    failed += 1;
                    log::warn!("client failed: {e}");
                }
            }
        }
    }
    // The initial (applied) events are not reports.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while arrivals.try_recv().is_ok() {}
    let rss_clients = rss_mib("self").unwrap_or_default() - rss_before;

    let (reporter, _) = NativeConnection::connect(&options, |_| {}).await?;
    target.add_reporter(reporter.identity())?;
    let today = test_kit::today();
    let total = (u64::from(load.rate) * load.seconds) as usize;
    let per_address = total.div_ceil(connected.len().max(1));
    let first_day = today - per_address as i32;
    let sent: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; load.clients]));
    let mut latencies = Vec::with_capacity(total);
    let mut ticker =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(load.rate.max(1))));
    for k in 0..total {
        ticker.tick().await;
        let (i, _) = &connected[k % connected.len()];
        let day = GmDay::from_number(first_day + (k / connected.len()) as i32);
        let args = GmReport::new(address(*i)?, Chain::Base, day).args();
        sent.lock().unwrap_or_else(|e| e.into_inner())[*i] = Some(Instant::now());
        drop(reporter.call_reducer_later(REPORT_GM, &args)?);
        while let Ok((j, at)) = arrivals.try_recv() {
            if let Some(started) = sent.lock().unwrap_or_else(|e| e.into_inner())[j].take() {
                latencies.push(at.duration_since(started).as_secs_f64() * 1000.0);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while latencies.len() < total && Instant::now() < deadline {
        if let Ok(Some((j, at))) =
            tokio::time::timeout(Duration::from_millis(100), arrivals.recv()).await
            && let Some(started) = sent.lock().unwrap_or_else(|e| e.into_inner())[j].take()
        {
            latencies.push(at.duration_since(started).as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: usize| {
        latencies
            .get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1)))
            .copied()
    };
    let n = load.clients;
    let mut figures = vec![
        Figure::new(
            format!("load {n} clients: connected"),
            connected.len() as f64,
            "",
            None,
        ),
        Figure::new(
            format!("load {n} clients: failed connects"),
            failed as f64,
            "",
            Some(0.0),
        ),
        Figure::new(
            format!("load {n} clients: reports delivered"),
            latencies.len() as f64,
            "",
            None,
        ),
        Figure::new(
            format!("load {n} clients: reports sent"),
            total as f64,
            "",
            None,
        ),
        Figure::new(
            format!("load {n} clients: fan-out p50"),
            pct(50).unwrap_or(f64::NAN),
            "ms",
            None,
        ),
        Figure::new(
            format!("load {n} clients: fan-out p99"),
            pct(99).unwrap_or(f64::NAN),
            "ms",
            Some(50.0),
        ),
        Figure::new(
            format!("load {n} clients: fan-out max"),
            latencies.last().copied().unwrap_or(f64::NAN),
            "ms",
            None,
        ),
        Figure::new(
            format!("load {n} clients: clients' memory (RSS)"),
            rss_clients,
            "MiB",
            None,
        ),
    ];
    if let Some(server) = load.server_pid.and_then(|pid| rss_mib(&pid.to_string())) {
        figures.push(Figure::new(
            format!("load {n} clients: server memory (RSS)"),
            server,
            "MiB",
            None,
        ));
    }
    for (_, connection) in &connected {
        connection.close();
    }
    reporter.close();
    Ok(figures)
}
