//! The app's figures for `cargo xtask bench` (feature `bench`): page load → live data on
//! screen, reducer commit → DOM latency, and the app's transfer size. Prints one
//! `BENCH {json}` line per figure.

use e2e_tests::{Chromedriver, Page, Stack};
use serde_json::json;
use std::io::Write as _;
use test_kit::{today, unique_address};

const BASE: i32 = 8453;
const LOADS: usize = 10;
const REPORTS: i64 = 200;

fn figure(name: &str, value: f64, unit: &str, target: Option<f64>) {
    let line =
        json!({ "name": format!("app: {name}"), "value": value, "unit": unit, "target": target });
    println!("BENCH {line}");
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(rank).copied().unwrap_or(f64::NAN)
}

/// Milliseconds from navigation start to the app's live-data mark, once it is set.
async fn live_mark(page: &Page) -> f64 {
    page.until("the live-data mark", || async {
        let mark = page
            .run(
                "const m = performance.getEntriesByName('onepulse:live-data-on-screen'); \
                 return m.length ? m[0].startTime : null;",
                vec![],
            )
            .await;
        mark.as_f64().ok_or_else(|| mark.to_string())
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn app_figures() {
    let stack = Stack::start("e2e-bench", true).await;
    let driver = Chromedriver::start().await;
    let address = unique_address();
    let first_day = today() - REPORTS - 10;
    stack.report(&address, BASE, first_day);
    let url = stack.page_url(&format!("address={}", address.as_str()));

    // First visit: empty cache, no stored token.
    let page = Page::open(&driver, &url).await;
    let first_visit = live_mark(&page).await;
    // Returning visits: cached app, stored token.
    let mut loads = Vec::new();
    for _ in 0..LOADS {
        page.goto(&url).await;
        loads.push(live_mark(&page).await);
    }
    loads.sort_by(f64::total_cmp);
    figure(
        "page load → live data on screen, first visit",
        first_visit,
        "ms",
        None,
    );
    figure(
        &format!("page load → live data on screen, returning visit, median of {LOADS}"),
        percentile(&loads, 0.5),
        "ms",
        Some(300.0),
    );

    page.until_card(BASE, "all-time", "1").await;
    let mut latencies = Vec::new();
    for i in 1..=REPORTS {
        page.watch_text(
            &format!("article[data-chain='{BASE}'] .all-time"),
            &(i + 1).to_string(),
        )
        .await;
        stack.report(&address, BASE, first_day + i);
        let shown = page.until_seen().await;
        latencies.push(shown - stack.updated_at_millis(&address, BASE));
    }
    latencies.sort_by(f64::total_cmp);
    figure(
        "reducer commit → DOM, p50",
        percentile(&latencies, 0.5),
        "ms",
        None,
    );
    figure(
        "reducer commit → DOM, p99",
        percentile(&latencies, 0.99),
        "ms",
        Some(5.0),
    );
    figure(
        "reducer commit → DOM, max",
        percentile(&latencies, 1.0),
        "ms",
        None,
    );
    page.close().await;

    let (raw, gzip) = app_size();
    figure("transfer size (wasm + JS + CSS), raw", raw, "kB", None);
    figure(
        "transfer size (wasm + JS + CSS), gzip",
        gzip,
        "kB",
        Some(150.0),
    );
}

/// Raw and gzip (best) sizes, in kB, of the built app's wasm, JS and CSS.
fn app_size() -> (f64, f64) {
    let dist = std::env::var("ONEPULSE_APP_DIST").expect("ONEPULSE_APP_DIST");
    let mut raw = 0usize;
    let mut gzip = 0usize;
    for entry in std::fs::read_dir(&dist).expect("the built app") {
        let path = entry.expect("a dist entry").path();
        let shipped = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("wasm" | "js" | "css")
        );
        if !shipped {
            continue;
        }
        let bytes = std::fs::read(&path).expect("a built file");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&bytes).expect("gzip");
        raw += bytes.len();
        gzip += encoder.finish().expect("gzip").len();
    }
    (raw as f64 / 1000.0, gzip as f64 / 1000.0)
}
