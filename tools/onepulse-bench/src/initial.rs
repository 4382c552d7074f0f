//! Decode + apply of an initial subscription in the client core, measured on the real frame.

use crate::Target;
use crate::report::Figure;
use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use heap_meter as alloc;
use onepulse_gm_stats::GmStatsRow;
use std::time::{Duration, Instant};
use stdb_client::native::open_socket;
use stdb_client::{ClientCore, Compression, ConnectOptions, Credentials, Event};
use tokio_tungstenite::tungstenite::Message;

/// Timed repetitions of decode + apply per size.
const REPEAT: usize = 7;

/// Subscribes over a raw socket and returns the frame that applied the subscription, with the
/// time from sending the subscribe to having applied it.
async fn capture(
    target: &Target,
    compression: Compression,
    query: &str,
) -> Result<(Vec<u8>, Duration)> {
    let mut options = ConnectOptions::new(&target.url, &target.database);
    options.compression = compression;
    let mut socket = open_socket(&options, None).await?;
    let mut core = ClientCore::new(Credentials::Anonymous);
    core.register_table::<GmStatsRow>();
    core.subscribe([query])?;
    let mut started = Instant::now();
    let mut sent = false;
    while let Some(message) = socket.next().await {
        let Message::Binary(frame) = message? else {
            continue;
        };
        core.handle_frame(&frame);
        if !sent {
            // The identity arrived: the socket is open, send the subscription now.
            while let Some(out) = core.poll_transmit() {
                socket.send(Message::Binary(out.into())).await?;
            }
            started = Instant::now();
            sent = true;
        }
        while let Some(event) = core.poll_event() {
            match event {
                Event::SubscriptionApplied(_) => return Ok((frame.to_vec(), started.elapsed())),
                Event::SubscriptionFailed { error, .. } => bail!("subscription failed: {error}"),
                Event::FrameError(error) => bail!("frame error: {error}"),
                _ => {}
            }
        }
    }
    bail!("the socket closed before the subscription applied")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn measure(
    target: &Target,
    rows: u32,
    day: i32,
    compression: Compression,
    label: &str,
) -> Result<Vec<Figure>> {
    let query = format!("SELECT * FROM gm_stats_by_address WHERE last_gm_day = {day}");
    let (frame, end_to_end) = capture(target, compression, &query).await?;
    let mut times = Vec::with_capacity(REPEAT);
    let mut peak = 0;
    let mut retained = 0;
    for _ in 0..REPEAT {
        let mut core = ClientCore::new(Credentials::Anonymous);
        core.register_table::<GmStatsRow>();
        let before = alloc::live();
        alloc::reset_peak();
        let started = Instant::now();
        core.handle_frame(&frame);
        let elapsed = started.elapsed();
        peak = alloc::peak() - before;
        retained = alloc::live() - before;
        let cached = core
            .table::<GmStatsRow>()
            .map(|t| t.len())
            .unwrap_or_default();
        if cached != rows as usize {
            bail!("{label}: expected {rows} cached rows, got {cached}");
        }
        times.push(elapsed.as_secs_f64() * 1000.0);
    }
    let ms = median(times);
    let mib = |bytes: usize| bytes as f64 / (1024.0 * 1024.0);
    let mut figures = vec![
        Figure::new(
            format!("native: initial subscription {label}: decode + apply (client only)"),
            ms,
            "ms",
            (rows == 100_000).then_some(60.0),
        ),
        Figure::new(
            format!("native: initial subscription {label}: rows per second"),
            f64::from(rows) / (ms / 1000.0),
            "rows/s",
            None,
        ),
        Figure::new(
            format!("native: initial subscription {label}: peak heap during apply"),
            mib(peak),
            "MiB",
            None,
        ),
        Figure::new(
            format!("native: initial subscription {label}: cache size"),
            mib(retained),
            "MiB",
            None,
        ),
        Figure::new(
            format!("native: initial subscription {label}: subscribe → applied (server included)"),
            end_to_end.as_secs_f64() * 1000.0,
            "ms",
            None,
        ),
    ];
    if compression == Compression::None {
        // Shown without targets: targets.md's memory targets (heap kept ≤ 1×, growth ≤ 1.5× the
        // uncompressed frame) are for wasm memory, measured by the browser benchmark. Natively
        // pointers and lengths take twice the bytes, and the decoded message keeps the rows'
        // bytes (about 1× the frame) until they are applied.
        let of_frame = |bytes: usize| bytes as f64 / frame.len() as f64;
        figures.push(Figure::new(
            format!("native: initial subscription {label}: cache size ÷ frame size"),
            of_frame(retained),
            "×",
            None,
        ));
        figures.push(Figure::new(
            format!("native: initial subscription {label}: peak heap during apply ÷ frame size"),
            of_frame(peak),
            "×",
            None,
        ));
    }
    figures.push(Figure::new(
        format!("native: initial subscription {label}: frame size"),
        frame.len() as f64 / 1024.0,
        "KiB",
        None,
    ));
    Ok(figures)
}

/// The day of the 10 000 seeded rows (the browser bench uses the same days).
pub const SMALL_DAY: i32 = 1_000;
/// The day of the 100 000 seeded rows.
pub const LARGE_DAY: i32 = 1_001;
/// The day of 100 000 more rows, each with its last transaction's hash as rows reported from
/// the chain have (the heaviest rows the module stores: the profile columns stay empty).
pub const FILLED_DAY: i32 = 1_002;

/// Seeds 10 000 rows on [`SMALL_DAY`], 100 000 on [`LARGE_DAY`] and 100 000 with hashes on
/// [`FILLED_DAY`].
pub fn seed(target: &Target) -> Result<()> {
    target
        .seed(0, 10_000, SMALL_DAY, false)
        .context("seeding 10 000 rows")?;
    target
        .seed(10_000, 100_000, LARGE_DAY, false)
        .context("seeding 100 000 rows")?;
    target
        .seed(110_000, 100_000, FILLED_DAY, true)
        .context("seeding 100 000 rows with hashes")
}

/// Measures the seeded subscriptions, uncompressed and gzip.
pub async fn run(target: &Target) -> Result<Vec<Figure>> {
    let mut figures = Vec::new();
    figures.extend(measure(target, 10_000, SMALL_DAY, Compression::None, "10k rows").await?);
    figures.extend(measure(target, 100_000, LARGE_DAY, Compression::None, "100k rows").await?);
    figures.extend(
        measure(
            target,
            100_000,
            FILLED_DAY,
            Compression::None,
            "100k rows with hashes",
        )
        .await?,
    );
    figures.extend(
        measure(
            target,
            100_000,
            LARGE_DAY,
            Compression::Gzip,
            "100k rows gzip",
        )
        .await?,
    );
    Ok(figures)
}
