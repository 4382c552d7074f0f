//! The browser benchmarks, run by `cargo xtask bench` (feature `bench`) against a server holding
//! the rows `onepulse-bench seed` wrote. Prints one `BENCH {json}` line per figure.
#![cfg(all(target_arch = "wasm32", feature = "bench"))]

use browser_tests::{
    connected, control, eventually, make_reporter, register, restartable_options, today,
    unique_address,
};
use onepulse_domain::{Chain, GmDay, GmReport};
use onepulse_gm_stats::{GmStatsRow, REPORT_GM, stats_query};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use stdb_client::browser::{BrowserConnection, BrowserOptions};
use stdb_client::{ClientCore, Compression, ConnectionStatus, Credentials, Event, SUBPROTOCOL};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{BinaryType, MessageEvent, WebSocket};

wasm_bindgen_test_configure!(run_in_browser);

#[global_allocator]
static ALLOCATOR: heap_meter::Counting = heap_meter::Counting;

/// The days `onepulse-bench seed` gives its 10 000 and 100 000 rows.
const SMALL_DAY: i32 = 1_000;
const LARGE_DAY: i32 = 1_001;
const LATENCY_CALLS: usize = 1000;

fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or_default()
}

fn figure(name: &str, value: f64, unit: &str, target: Option<f64>) {
    let target = target.map_or("null".to_owned(), |t| t.to_string());
    console_log!(
        r#"BENCH {{"name":"browser: {name}","value":{value},"unit":"{unit}","target":{target}}}"#
    );
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Subscribes over a raw socket; returns the applied frame and the time from sending the
/// subscription to having applied it (server and transfer included).
async fn capture(query: &str) -> (Vec<u8>, f64) {
    let mut options = restartable_options().connect;
    options.compression = Compression::None;
    let ws = WebSocket::new_with_str(&options.subscribe_url(None), SUBPROTOCOL).unwrap();
    ws.set_binary_type(BinaryType::Arraybuffer);
    let frames: Rc<RefCell<VecDeque<Vec<u8>>>> = Rc::default();
    let sink = Rc::clone(&frames);
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        if let Ok(buffer) = event.data().dyn_into::<js_sys::ArrayBuffer>() {
            sink.borrow_mut()
                .push_back(js_sys::Uint8Array::new(&buffer).to_vec());
        }
    });
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // No table registered: the capture only needs to see the subscription applied.
    let mut core = ClientCore::new(Credentials::Anonymous);
    core.subscribe([query]).unwrap();
    eventually("the identity", || !frames.borrow().is_empty()).await;
    let identity = frames.borrow_mut().pop_front().unwrap();
    core.handle_frame(&identity);
    let started = now();
    while let Some(out) = core.poll_transmit() {
        ws.send_with_u8_array(&out).unwrap();
    }
    loop {
        eventually("a frame", || !frames.borrow().is_empty()).await;
        let frame = frames.borrow_mut().pop_front().unwrap();
        core.handle_frame(&frame);
        while let Some(event) = core.poll_event() {
            if let Event::SubscriptionApplied(_) = event {
                let elapsed = now() - started;
                ws.set_onmessage(None);
                let _ = ws.close();
                return (frame, elapsed);
            }
        }
    }
}

async fn initial(rows: usize, day: i32, label: &str) {
    let (frame, end_to_end) = capture(&format!(
        "SELECT * FROM gm_stats_by_address WHERE last_gm_day = {day}"
    ))
    .await;
    let mut times = Vec::new();
    let mut retained = 0;
    let mut peak = 0;
    for _ in 0..5 {
        let mut core = ClientCore::new(Credentials::Anonymous);
        register(&mut core);
        let before = heap_meter::live();
        heap_meter::reset_peak();
        let started = now();
        core.handle_frame(&frame);
        times.push(now() - started);
        retained = heap_meter::live() - before;
        peak = heap_meter::peak() - before;
        assert_eq!(core.table::<GmStatsRow>().map(|t| t.len()), Some(rows));
    }
    times.sort_by(f64::total_cmp);
    let big = rows == 100_000;
    figure(
        &format!("initial subscription {label}: decode + apply (client only)"),
        times[times.len() / 2],
        "ms",
        big.then_some(150.0),
    );
    figure(
        &format!("initial subscription {label}: subscribe → applied (server included)"),
        end_to_end,
        "ms",
        big.then_some(700.0),
    );
    figure(
        &format!("initial subscription {label}: cache size (wasm heap kept)"),
        mib(retained),
        "MiB",
        big.then_some(30.0),
    );
    figure(
        &format!("initial subscription {label}: peak wasm heap during apply"),
        mib(peak),
        "MiB",
        None,
    );
}

#[wasm_bindgen_test]
async fn bench_initial_subscriptions() {
    initial(100_000, LARGE_DAY, "100k rows").await;
    initial(10_000, SMALL_DAY, "10k rows").await;
}

#[wasm_bindgen_test]
async fn bench_update_latency_and_reconnect() {
    let options = restartable_options();
    let watcher = BrowserConnection::shared(options.clone(), register).unwrap();
    let other_uri = options.connect.uri.replace("127.0.0.1", "localhost");
    let reporter_options = BrowserOptions::new(&other_uri, &options.connect.database);
    let reporter = BrowserConnection::shared(reporter_options.clone(), register).unwrap();
    connected(&watcher).await;
    make_reporter(&reporter_options, &reporter).await;
    let address = unique_address();
    watcher
        .subscribe_applied([stats_query(&address)])
        .await
        .unwrap();
    let last_change = Rc::new(Cell::new(0.0));
    let applied_at = Rc::new(Cell::new(0.0));
    let (change, applied) = (Rc::clone(&last_change), Rc::clone(&applied_at));
    watcher.on_event(move |event| match event {
        Event::RowsChanged(_) => change.set(now()),
        Event::SubscriptionApplied(_) => applied.set(now()),
        _ => {}
    });

    let mut latencies = Vec::with_capacity(LATENCY_CALLS);
    for i in 0..LATENCY_CALLS {
        let day = GmDay::from_number(today() - LATENCY_CALLS as i32 + 1 + i as i32);
        let args = GmReport::new(address.clone(), Chain::Base, day).args();
        let started = now();
        reporter.call_reducer(REPORT_GM, &args).await.unwrap();
        eventually("the update", || last_change.get() >= started).await;
        latencies.push(last_change.get() - started);
    }
    latencies.sort_by(f64::total_cmp);
    figure(
        "report_gm on one connection → update event on another, p50",
        latencies[LATENCY_CALLS / 2],
        "ms",
        Some(1.0),
    );
    figure(
        "report_gm on one connection → update event on another, p99",
        latencies[LATENCY_CALLS * 99 / 100],
        "ms",
        Some(4.0),
    );

    control("stop").await;
    eventually("reconnecting", || {
        matches!(watcher.status(), ConnectionStatus::Reconnecting { .. })
    })
    .await;
    control("start").await;
    let accepting = now();
    eventually("the subscription applied again", || {
        applied_at.get() >= accepting
    })
    .await;
    figure(
        "server accepting again → subscription applied",
        applied_at.get() - accepting,
        "ms",
        Some(500.0),
    );
    watcher.close();
    reporter.close();
}
