//! Throughput and latency of the fallback service's `/api/gm/stats` on loopback.

use crate::Target;
use crate::report::Figure;
use anyhow::{Context, Result, bail};
use onepulse_fallback::{Config, spawn};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Connections used for the throughput run.
const CONCURRENCY: usize = 16;
/// Requests per connection in the throughput run.
const REQUESTS_PER_CONNECTION: usize = 2_000;
/// The fixed rate of the latency run, and how long it lasts.
const RATE_PER_SECOND: u64 = 500;
const RATE_SECONDS: u64 = 5;
/// Lookups go to the first 10 000 seeded addresses.
const ADDRESSES: u64 = 10_000;

/// One keep-alive HTTP/1.1 connection.
struct Client {
    stream: BufReader<TcpStream>,
}

impl Client {
    async fn connect(base: &str) -> Result<Self> {
        let stream = TcpStream::connect(base).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
        })
    }

    /// GETs the stats of seeded address `i`; returns the status.
    async fn stats(&mut self, i: u64) -> Result<u16> {
        let request =
            format!("GET /api/gm/stats?address=0x{i:040x} HTTP/1.1\r\nHost: bench\r\n\r\n");
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("status line")?;
        let mut length = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse()?;
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok(status)
    }
}

fn percentile(sorted: &[f64], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// Runs the service in-process against the benchmark database and loads it.
pub async fn run(target: &Target) -> Result<Vec<Figure>> {
    let config = Config {
        spacetimedb: target.url.clone(),
        database: target.database.clone(),
        // The benchmark is one client on loopback: no rate limit, no shedding.
        burst: 1e12,
        per_second: 1e12,
        max_in_flight: 10_000,
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = listener.local_addr()?.to_string();
    let (stats, _task) = spawn(&config, listener);
    let deadline = Instant::now() + Duration::from_secs(60);
    while stats.health().1 < ADDRESSES as usize {
        if Instant::now() > deadline {
            bail!("the fallback service did not load the table within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Throughput: every connection sends as fast as it gets answers.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CONCURRENCY {
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(&base).await?;
            let mut latencies = Vec::with_capacity(REQUESTS_PER_CONNECTION);
            for r in 0..REQUESTS_PER_CONNECTION {
                let sent = Instant::now();
                let status = client
                    .stats(((c * REQUESTS_PER_CONNECTION + r) as u64 * 7919) % ADDRESSES)
                    .await?;
                if status != 200 {
                    bail!("status {status}");
                }
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let throughput = latencies.len() as f64 / elapsed;

    // Fixed rate: one request every 2 ms over one connection.
    let mut client = Client::connect(&base).await?;
    let interval = Duration::from_micros(1_000_000 / RATE_PER_SECOND);
    let mut ticker = tokio::time::interval(interval);
    let mut paced = Vec::new();
    for i in 0..RATE_PER_SECOND * RATE_SECONDS {
        ticker.tick().await;
        let sent = Instant::now();
        let status = client.stats((i * 104_729) % ADDRESSES).await?;
        if status != 200 {
            bail!("status {status}");
        }
        paced.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    paced.sort_by(f64::total_cmp);

    Ok(vec![
        Figure::new(
            format!("fallback /api/gm/stats: throughput at {CONCURRENCY} connections"),
            throughput,
            "req/s",
            None,
        ),
        Figure::new(
            format!("fallback /api/gm/stats: p50 at {CONCURRENCY} connections"),
            percentile(&latencies, 50),
            "ms",
            None,
        ),
        Figure::new(
            format!("fallback /api/gm/stats: p99 at {CONCURRENCY} connections"),
            percentile(&latencies, 99),
            "ms",
            None,
        ),
        Figure::new(
            format!("fallback /api/gm/stats: p50 at {RATE_PER_SECOND} req/s"),
            percentile(&paced, 50),
            "ms",
            None,
        ),
        Figure::new(
            format!("fallback /api/gm/stats: p99 at {RATE_PER_SECOND} req/s"),
            percentile(&paced, 99),
            "ms",
            Some(5.0),
        )
        .with_why(test_kit::tail(&paced, 5.0, "requests")),
    ])
}
