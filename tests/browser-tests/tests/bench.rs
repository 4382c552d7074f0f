//! The browser benchmarks, run by `cargo xtask bench` (feature `bench`) against a server holding
//! the rows `onepulse-bench seed` wrote. Prints one `BENCH {json}` line per figure.
#![cfg(all(target_arch = "wasm32", feature = "bench"))]

use browser_tests::{
    connected, eventually, make_reporter, register, restartable_options, today, try_control,
    try_eventually, unique_address,
};
use onepulse_domain::{Chain, GmDay, GmReport};
use onepulse_gm_stats::{GmStatsRow, REPORT_GM, stats_query};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use stdb_client::browser::{BrowserConnection, BrowserOptions};
use stdb_client::{
    Backoff, ClientCore, Compression, ConnectionStatus, Credentials, Event, SUBPROTOCOL,
};
use test_kit::{Restart, tail};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{BinaryType, MessageEvent, WebSocket};

wasm_bindgen_test_configure!(run_in_browser);

#[global_allocator]
static ALLOCATOR: heap_meter::Counting = heap_meter::Counting;

/// The days `onepulse-bench seed` gives its 10 000, 100 000 and 100 000 rows with hashes.
const SMALL_DAY: i32 = 1_000;
const LARGE_DAY: i32 = 1_001;
const FILLED_DAY: i32 = 1_002;
const LATENCY_CALLS: usize = 1000;

fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or_default()
}

fn figure(name: &str, value: f64, unit: &str, target: Option<f64>) {
    figure_line(name, value, unit, target, None, None);
}

/// A figure with the floor measured beside it (see `onepulse-bench`'s report).
fn figure_with_floor(name: &str, value: f64, unit: &str, target: Option<f64>, floor: Option<f64>) {
    figure_line(name, value, unit, target, floor, None);
}

/// A figure with what the run measured that explains it (printed when its target is missed).
fn figure_with_why(name: &str, value: f64, unit: &str, target: Option<f64>, why: &str) {
    figure_line(name, value, unit, target, None, Some(why));
}

/// Prints one `BENCH {json}` line (`onepulse-bench`'s `FigureLine`).
fn figure_line(
    name: &str,
    value: f64,
    unit: &str,
    target: Option<f64>,
    floor: Option<f64>,
    why: Option<&str>,
) {
    let line = serde_json::json!({
        "name": format!("browser: {name}"), "value": value, "unit": unit,
        "target": target, "floor": floor, "why": why,
    });
    console_log!("BENCH {line}");
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Subscribes over a raw socket; returns the frame that applied the subscription.
async fn capture(query: &str) -> Vec<u8> {
    let (_, frame) = raw_subscribe(query, Compression::None)
        .await
        .expect("the subscription over a raw socket");
    frame
}

/// The wasm instance's memory, in bytes (it only ever grows).
fn wasm_memory() -> f64 {
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .map(|m| {
            f64::from(
                m.buffer()
                    .unchecked_into::<js_sys::ArrayBuffer>()
                    .byte_length(),
            )
        })
        .unwrap_or_default()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The floor: a raw WebSocket sends the subscription and times the whole answer's arrival,
/// nothing decoded, nothing copied into wasm memory. Returns the time and the frame's size.
async fn raw_frame_arrival(query: &str, compression: Compression) -> (f64, f64) {
    let mut options = restartable_options().connect;
    options.compression = compression;
    let ws = WebSocket::new_with_str(&options.subscribe_url(None), SUBPROTOCOL).unwrap();
    ws.set_binary_type(BinaryType::Arraybuffer);
    let arrivals: Rc<RefCell<Vec<(f64, f64)>>> = Rc::default();
    let identity: Rc<RefCell<Option<Vec<u8>>>> = Rc::default();
    let (sink, first) = (Rc::clone(&arrivals), Rc::clone(&identity));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let at = now();
        if let Ok(buffer) = event.data().dyn_into::<js_sys::ArrayBuffer>() {
            // Only the identity (small) is copied into wasm memory, for the core below.
            let mut first = first.borrow_mut();
            if first.is_none() {
                *first = Some(js_sys::Uint8Array::new(&buffer).to_vec());
            }
            sink.borrow_mut()
                .push((at, f64::from(buffer.byte_length())));
        }
    });
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    eventually("the identity", || !arrivals.borrow().is_empty()).await;
    // The subscribe message, as the runtime sends it once connected.
    let mut core = ClientCore::new(Credentials::Anonymous);
    core.subscribe([query]).unwrap();
    core.handle_frame(identity.borrow().as_deref().unwrap_or_default());
    let started = now();
    while let Some(out) = core.poll_transmit() {
        ws.send_with_u8_array(&out).unwrap();
    }
    eventually("the answer", || arrivals.borrow().len() >= 2).await;
    ws.set_onmessage(None);
    let _ = ws.close();
    let (at, size) = arrivals.borrow()[1];
    (at - started, size)
}

/// The runtime, cold: a new connection subscribes; the time from `subscribe` to the rows in its
/// cache, the heap the cache keeps and how much the wasm memory grew.
async fn runtime_subscribe(query: &str, compression: Compression, rows: usize) -> (f64, f64, f64) {
    let mut options = restartable_options();
    options.connect.compression = compression;
    let connection = BrowserConnection::shared(options, register).unwrap();
    connected(&connection).await;
    let (heap_before, memory_before) = (heap_meter::live(), wasm_memory());
    let started = now();
    connection.subscribe_applied([query]).await.unwrap();
    let elapsed = now() - started;
    let kept = heap_meter::live().saturating_sub(heap_before) as f64;
    let grown = wasm_memory() - memory_before;
    assert_eq!(
        connection.with_table::<GmStatsRow, _>(|t| t.len()),
        Some(rows)
    );
    connection.close();
    drop(connection);
    gloo_timers::future::sleep(std::time::Duration::from_millis(200)).await;
    (elapsed, kept, grown)
}

/// One seeded set: the floor, the runtime end to end (uncompressed and gzip), and decode +
/// apply of the captured frame alone, with the memory figures targets.md asks for.
async fn initial(rows: usize, day: i32, label: &str, first_in_page: bool) {
    let query = format!("SELECT * FROM gm_stats_by_address WHERE last_gm_day = {day}");
    let big = rows == 100_000;
    const REPEAT: usize = 5;

    // First, while the page's memory is still small: the wasm memory growth of a cold
    // subscription (memory never shrinks, so only the first big one in a page shows it).
    let mut growth = Vec::new();
    let mut kept = 0.0;
    for compression in [Compression::None, Compression::Gzip] {
        let mut floors = Vec::new();
        let mut frame_size = 0.0;
        let mut times = Vec::new();
        for _ in 0..REPEAT {
            let (floor, size) = raw_frame_arrival(&query, compression).await;
            floors.push(floor);
            frame_size = size;
            let (time, heap, grown) = runtime_subscribe(&query, compression, rows).await;
            times.push(time);
            growth.push(grown);
            kept = heap;
        }
        let (floor, time) = (median(floors), median(times));
        let how = match compression {
            Compression::None => "",
            Compression::Gzip => ", gzip",
        };
        figure_with_floor(
            &format!(
                "initial subscription {label}{how}: subscribe → rows in cache, new connection"
            ),
            time,
            "ms",
            big.then_some(floor + 120.0),
            Some(floor),
        );
        figure(
            &format!("initial subscription {label}{how}: frame size"),
            frame_size / 1024.0,
            "KiB",
            None,
        );
        // Memory never shrinks: only the page's first big subscription shows its growth.
        if compression == Compression::None && first_in_page {
            figure(
                &format!(
                    "initial subscription {label}: wasm memory growth ÷ frame size, first big subscription in the page"
                ),
                growth.first().copied().unwrap_or_default() / frame_size,
                "×",
                big.then_some(1.5),
            );
        }
        if compression == Compression::None {
            figure(
                &format!("initial subscription {label}: cache size (wasm heap kept) ÷ frame size"),
                kept / frame_size,
                "×",
                big.then_some(1.0),
            );
        }
    }

    // As the browser shell hands it over: the frame left in a JS buffer, read where it lies
    // (`handle_far_frame`), not copied into wasm memory first.
    let frame = stdb_client::browser::JsFrame(js_sys::Uint8Array::from(&capture(&query).await[..]));
    let mut times = Vec::new();
    let mut retained = 0;
    let mut peak = 0;
    for _ in 0..REPEAT {
        let mut core = ClientCore::new(Credentials::Anonymous);
        register(&mut core);
        let before = heap_meter::live();
        heap_meter::reset_peak();
        let started = now();
        core.handle_far_frame(&frame);
        times.push(now() - started);
        retained = heap_meter::live() - before;
        peak = heap_meter::peak() - before;
        assert_eq!(core.table::<GmStatsRow>().map(|t| t.len()), Some(rows));
    }
    figure(
        &format!("initial subscription {label}: decode + apply (client only)"),
        median(times),
        "ms",
        big.then_some(100.0),
    );
    figure(
        &format!("initial subscription {label}: cache size (wasm heap kept)"),
        mib(retained),
        "MiB",
        None,
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
    // The rows with hashes first: the heaviest, measured while the page's memory is fresh.
    initial(100_000, FILLED_DAY, "100k rows with hashes", true).await;
    initial(100_000, LARGE_DAY, "100k rows", false).await;
    initial(10_000, SMALL_DAY, "10k rows", false).await;
}

#[wasm_bindgen_test]
async fn bench_update_latency_and_reconnect() {
    let options = restartable_options();
    let backoff = options.backoff;
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
    let connected_at = Rc::new(Cell::new(0.0));
    let (change, applied, connect) = (
        Rc::clone(&last_change),
        Rc::clone(&applied_at),
        Rc::clone(&connected_at),
    );
    watcher.on_event(move |event| match event {
        Event::RowsChanged(_) => change.set(now()),
        Event::SubscriptionApplied(_) => applied.set(now()),
        Event::Connected { .. } => connect.set(now()),
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
    let name = "report_gm on one connection → update event on another";
    for (quantile, at, target) in [
        ("p50", LATENCY_CALLS / 2, 1.0),
        ("p99", LATENCY_CALLS * 99 / 100, 4.0),
    ] {
        figure_with_why(
            &format!("{name}, {quantile}"),
            latencies[at],
            "ms",
            Some(target),
            &format!(
                "{} The same exchange natively is the native figure above.",
                tail(&latencies, target, "calls")
            ),
        );
    }

    // The reconnect: the server stopped and started again, RESTARTS times, with the watcher
    // alone on it (as the floor below is).
    reporter.close();
    let mut restarts = Vec::with_capacity(RESTARTS);
    for _ in 0..RESTARTS {
        match reconnect_once(&watcher, &applied_at, &connected_at).await {
            Ok(restart) => restarts.push(restart),
            Err(error) => {
                watcher.close();
                let why = format!(
                    "restart {} of {RESTARTS} failed: {error}.",
                    restarts.len() + 1
                );
                figure_line(
                    RECONNECT,
                    f64::NAN,
                    "ms",
                    Some(RECONNECT_TARGET),
                    None,
                    Some(&why),
                );
                return;
            }
        }
    }
    watcher.close();
    restarts.sort_by(|a, b| a.applied.total_cmp(&b.applied));
    let middle = &restarts[RESTARTS / 2];

    // The floor: RESTARTS further restarts, a raw socket (anonymous, no token exchange)
    // subscribing to the same row as soon as the server answers its ping again. What the
    // server still does for its first connection after a start, it does for both. A failed
    // restart or socket leaves the figure without a floor, never without the figure.
    let mut floors = Vec::with_capacity(RESTARTS);
    let mut floor_failure = None;
    for restart in 1..=RESTARTS {
        if let Err(error) = restart_server().await {
            floor_failure = Some(format!("restart {restart} of {RESTARTS} failed: {error}"));
            break;
        }
        let accepting = now();
        match raw_subscribe(&stats_query(&address), Compression::default()).await {
            Some((answered, _)) => floors.push(answered - accepting),
            None => {
                floor_failure = Some(format!(
                    "the raw socket after restart {restart} of {RESTARTS} failed or had no \
                     answer within 20 s"
                ));
                break;
            }
        }
    }
    let floor = floor_failure.is_none().then(|| median(floors));
    let floor_text = match (floor, floor_failure) {
        (Some(floor), _) => {
            let versus = if floor > RECONNECT_TARGET {
                "alone over the target"
            } else {
                "under the target"
            };
            format!(
                "The floor, a raw socket subscribing after each of {RESTARTS} further \
                 restarts, took {floor:.0} ms (median): {versus}."
            )
        }
        (None, failure) => format!("No floor: {}.", failure.unwrap_or_default()),
    };
    let schedule = format!(
        "{} ms, doubling with jitter, at most {} s apart in an outage's first {} s",
        backoff.first.as_millis(),
        backoff.outage_cap.as_secs_f64(),
        Backoff::SHORT_OUTAGE.as_secs()
    );
    figure_line(
        RECONNECT,
        middle.applied,
        "ms",
        Some(RECONNECT_TARGET),
        floor,
        Some(&format!(
            "the median of {RESTARTS} restarts: {} {floor_text}",
            middle.breakdown(&schedule)
        )),
    );
}

/// The reconnect figure's name and target (targets.md: a server accepting again → every
/// subscription applied).
const RECONNECT: &str = "server accepting again → subscription applied";
const RECONNECT_TARGET: f64 = 500.0;
/// How many times the reconnect and its floor are measured.
const RESTARTS: usize = 3;

/// Stops and starts the server, then times the watcher's way back to its subscription applied.
async fn reconnect_once(
    watcher: &BrowserConnection,
    applied_at: &Cell<f64>,
    connected_at: &Cell<f64>,
) -> Result<Restart, String> {
    try_control("stop").await?;
    try_eventually("reconnecting", || {
        matches!(watcher.status(), ConnectionStatus::Reconnecting { .. })
    })
    .await?;
    try_control("start").await?;
    let accepting = now();
    // The last retry the backoff scheduled before the socket is back is the one that got
    // through; the count first seen tells how many failed after `accepting`.
    let first_count = Cell::new(None);
    let last = Cell::new((0, accepting));
    try_eventually("the subscription applied again", || {
        if let ConnectionStatus::Reconnecting {
            attempt,
            next_try_at_ms,
        } = watcher.status()
        {
            first_count.set(first_count.get().or(Some(attempt)));
            last.set((attempt, next_try_at_ms));
        }
        applied_at.get() >= accepting
    })
    .await?;
    let retry = first_count.get().map(|first| {
        let (retry, due_at) = last.get();
        (first, retry, due_at - accepting)
    });
    Ok(Restart {
        applied: applied_at.get() - accepting,
        connected: connected_at.get() - accepting,
        retry: retry.map(|(_, retry, due)| (retry, due)),
        failed_after: retry.map_or(0, |(first, retry, _)| retry.saturating_sub(first)),
    })
}

/// Stops and starts the restartable server.
async fn restart_server() -> Result<(), String> {
    try_control("stop").await?;
    try_control("start").await
}

/// When the frame that applied a subscription arrived (`now()`), and that frame.
type Answer = (f64, Vec<u8>);

/// A raw socket subscribes to `query`: when the frame that applied it arrived (`now()` in the
/// frame's handler, before anything is decoded) and that frame, or `None` if the socket failed
/// or no answer came within 20 s. The subscription goes out from the identity frame's handler,
/// not after a poll.
async fn raw_subscribe(query: &str, compression: Compression) -> Option<Answer> {
    let mut options = restartable_options().connect;
    options.compression = compression;
    let ws = WebSocket::new_with_str(&options.subscribe_url(None), SUBPROTOCOL).ok()?;
    ws.set_binary_type(BinaryType::Arraybuffer);
    // No table registered: only the subscription applied is looked for.
    let mut core = ClientCore::new(Credentials::Anonymous);
    core.subscribe([query]).ok()?;
    let core = RefCell::new(core);
    let answered: Rc<RefCell<Option<Answer>>> = Rc::default();
    let failed = Rc::new(Cell::new(false));
    let (socket, sink) = (ws.clone(), Rc::clone(&answered));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let at = now();
        let Ok(buffer) = event.data().dyn_into::<js_sys::ArrayBuffer>() else {
            return;
        };
        let frame = js_sys::Uint8Array::new(&buffer).to_vec();
        let mut core = core.borrow_mut();
        core.handle_frame(&frame);
        while let Some(out) = core.poll_transmit() {
            let _ = socket.send_with_u8_array(&out);
        }
        let mut applied = false;
        while let Some(event) = core.poll_event() {
            applied |= matches!(event, Event::SubscriptionApplied(_));
        }
        if applied {
            *sink.borrow_mut() = Some((at, frame));
        }
    });
    let fail = Rc::clone(&failed);
    let on_failure = Closure::<dyn FnMut()>::new(move || fail.set(true));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onerror(Some(on_failure.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_failure.as_ref().unchecked_ref()));
    for _ in 0..1000 {
        if answered.borrow().is_some() || failed.get() {
            break;
        }
        gloo_timers::future::sleep(std::time::Duration::from_millis(20)).await;
    }
    ws.set_onmessage(None);
    ws.set_onerror(None);
    ws.set_onclose(None);
    let _ = ws.close();
    answered.take()
}
