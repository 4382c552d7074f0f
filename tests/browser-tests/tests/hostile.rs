//! The browser runtime against a hostile server (`cargo xtask test` runs `stdb-client`'s
//! `hostile_server` example and compiles its URL in as `ONEPULSE_HOSTILE_URL`): malicious frames
//! end as error events in bounded memory, and a panic while handling a frame leaves the page's
//! connection usable.
#![cfg(target_arch = "wasm32")]

use browser_tests::{connected, options, register, unique_address};
use onepulse_gm_stats::stats_query;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use stdb_client::browser::{BrowserConnection, BrowserOptions};
use stdb_client::{ClientCore, ConnectionStatus, Event, FrameError, Row, SpacetimeType};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[global_allocator]
static ALLOCATOR: heap_meter::Counting = heap_meter::Counting;

const MIB: usize = 1 << 20;

/// The hostile server's table (see `crates/stdb-client/tests/support/hostile_server.rs`).
#[derive(SpacetimeType, Debug, Clone, PartialEq)]
#[sats(crate = stdb_client::spacetimedb_lib)]
struct HostileRow {
    id: u64,
    name: String,
    score: i64,
}

impl Row for HostileRow {
    const TABLE: &'static str = "hostile";
    type Key = u64;
    fn primary_key(&self) -> &u64 {
        &self.id
    }
}

/// A row type with a bug: its primary key panics for the id the hostile server sends.
#[derive(SpacetimeType, Debug, Clone, PartialEq)]
#[sats(crate = stdb_client::spacetimedb_lib)]
struct PoisonRow {
    id: u64,
}

impl Row for PoisonRow {
    const TABLE: &'static str = "poison";
    type Key = u64;
    fn primary_key(&self) -> &u64 {
        assert_ne!(self.id, 0xDEAD, "a poisoned row");
        &self.id
    }
}

fn register_hostile(core: &mut ClientCore) {
    core.register_table::<HostileRow>();
    core.register_table::<PoisonRow>();
}

/// Options for the hostile server's scenario `database`.
fn hostile_options(database: &str) -> BrowserOptions {
    let Some(url) = option_env!("ONEPULSE_HOSTILE_URL") else {
        panic!("built without ONEPULSE_HOSTILE_URL: run `cargo xtask test`");
    };
    BrowserOptions::new(url, database)
}

/// Waits (up to `seconds`) until `done` holds.
async fn within(seconds: u64, what: &str, mut done: impl FnMut() -> bool) {
    let step = Duration::from_millis(20);
    for _ in 0..seconds * 50 {
        if done() {
            return;
        }
        gloo_timers::future::sleep(step).await;
    }
    panic!("timed out waiting for {what}");
}

/// The wasm instance's memory (it grows to the peak and never shrinks).
fn wasm_memory_bytes() -> usize {
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .map(|memory| {
            memory
                .buffer()
                .unchecked_into::<js_sys::ArrayBuffer>()
                .byte_length() as usize
        })
        .unwrap_or_default()
}

fn frame_errors(connection: &BrowserConnection) -> Rc<RefCell<Vec<FrameError>>> {
    let errors = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&errors);
    connection.on_event(move |event| {
        if let Event::FrameError(error) = event {
            sink.borrow_mut().push(error.clone());
        }
    });
    errors
}

/// The frames — `FixedSize(1)` over 128 MiB of zeros, eight nested gzip updates of
/// 64 MiB, a 1 MB frame inflating past 1 GiB — and more: each is an error event, memory stays
/// within the documented bound (it reached 511 MiB to 4 GiB before, then panicked), and the good
/// row the server sends last still arrives.
#[wasm_bindgen_test]
async fn hostile_frames_end_as_errors_in_bounded_memory() {
    heap_meter::reset_peak();
    let before = heap_meter::live();
    let connection = BrowserConnection::shared(hostile_options("bombs"), register_hostile).unwrap();
    let errors = frame_errors(&connection);
    within(90, "the row sent after the bombs", || {
        connection.with_table::<HostileRow, _>(|t| t.len()) == Some(1)
    })
    .await;
    let errors = errors.borrow().clone();
    assert_eq!(errors.len(), 5, "{errors:?}");
    assert!(
        errors.iter().all(|e| !matches!(e, FrameError::Panicked(_))),
        "{errors:?}"
    );
    let peak = heap_meter::peak().saturating_sub(before);
    // Six times the default 32 MiB budget, at most (see `stdb_client::DEFAULT_MAX_FRAME_BYTES`).
    let bound = 6 * stdb_client::DEFAULT_MAX_FRAME_BYTES + MIB;
    assert!(peak <= bound, "peak {peak} bytes, bound {bound}");
    let memory = wasm_memory_bytes();
    assert!(memory < 160 * MIB, "wasm memory grew to {memory} bytes");
    assert!(matches!(
        connection.status(),
        ConnectionStatus::Connected(_)
    ));
    connection.close();
}

/// The distinct-row attack: a million different valid rows in one 20 MB frame, each new to the
/// cache (ten such frames used to reach the 4 GiB wasm limit). With a 32 MiB cache the frame is
/// refused by `max_cache_bytes`, as one error event, within the documented bound (its rows stop
/// being decoded once their charge passes the cache's room: the decoding bound plus the
/// cache), and the good row sent after it still arrives.
#[wasm_bindgen_test]
async fn distinct_rows_are_refused_in_bounded_memory() {
    const CACHE: usize = 32 * MIB;
    heap_meter::reset_peak();
    let before = heap_meter::live();
    let mut options = hostile_options("distinct");
    options.connect.max_cache_bytes = CACHE;
    let connection = BrowserConnection::shared(options, register_hostile).unwrap();
    let errors = frame_errors(&connection);
    within(90, "the row sent after the distinct rows", || {
        connection.with_table::<HostileRow, _>(|t| t.len()) == Some(1)
    })
    .await;
    let errors = errors.borrow().clone();
    match errors.as_slice() {
        [
            FrameError::Limit {
                what: "rows",
                message,
            },
        ] => {
            assert!(message.contains("table hostile"), "{message}");
            assert!(message.contains("max_cache_bytes"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let peak = heap_meter::peak().saturating_sub(before);
    let frame = 20 * 1_000_000 + 256;
    let bound = 6 * frame + CACHE + MIB;
    assert!(peak <= bound, "peak {peak} bytes, bound {bound}");
    let memory = wasm_memory_bytes();
    assert!(memory < 160 * MIB, "wasm memory grew to {memory} bytes");
    connection.close();
}

/// A panic while handling a frame (here in a row type's primary key) aborts that call in wasm;
/// the connection must still work afterwards: it rebuilds its state, reconnects and gets data
/// on the new socket, later calls do not panic, and the page can go on to another server.
#[wasm_bindgen_test]
async fn a_panic_while_handling_a_frame_leaves_the_connection_usable() {
    let database = format!("panic-{}", (js_sys::Math::random() * 1e15) as u64);
    let connection =
        BrowserConnection::shared(hostile_options(&database), register_hostile).unwrap();
    let errors = frame_errors(&connection);
    let statuses = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&statuses);
    connection.on_status(move |status| sink.borrow_mut().push(status.clone()));
    within(30, "the panic reported", || {
        errors
            .borrow()
            .iter()
            .any(|e| matches!(e, FrameError::Panicked(_)))
    })
    .await;
    within(30, "the row sent on the new socket", || {
        connection.with_table::<HostileRow, _>(|t| t.len()) == Some(1)
    })
    .await;
    assert!(
        statuses
            .borrow()
            .iter()
            .any(|s| matches!(s, ConnectionStatus::Reconnecting { .. })),
        "{:?}",
        statuses.borrow()
    );
    assert!(matches!(
        connection.status(),
        ConnectionStatus::Connected(_)
    ));
    // Later calls work (they panicked with "already borrowed" before).
    assert!(connection.identity().is_some());
    let id = connection.subscribe(["SELECT * FROM hostile"]).unwrap();
    connection.unsubscribe(id).unwrap();
    assert_eq!(connection.with_table::<PoisonRow, _>(|t| t.len()), Some(0));
    connection.close();

    // And the page goes on with the real server.
    let real = BrowserConnection::shared(options(), register).unwrap();
    connected(&real).await;
    real.subscribe_applied([stats_query(&unique_address())])
        .await
        .unwrap();
    real.close();
}
