//! Adversarial frames against the core, as a hostile server (or anyone in the middle) would
//! send them: every one ends as an error event — never a panic — and handling it allocates at
//! most a small multiple of what it inflates to (never more than its inflate budget allows),
//! measured with a counting global allocator.

use hostile::HostileRow;
use proptest::prelude::*;
use std::sync::{Mutex, MutexGuard};
use stdb_client::{ClientCore, Credentials, Event, FrameError};

#[global_allocator]
static ALLOCATOR: heap_meter::Counting = heap_meter::Counting;

#[path = "support/hostile.rs"]
mod hostile;

const MIB: usize = 1 << 20;

/// The documented bound: decoding a frame takes at most 6 times what it inflates to, plus
/// 64 KiB for array elements; the rest of `SLACK` covers the inflater's own state and the
/// events.
const MULTIPLE: usize = 6;
const SLACK: usize = MIB;

/// The counting allocator counts every thread: tests take turns, each holding its turn while it
/// builds frames too (building them allocates a lot).
static SERIAL: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn connected(max_frame_bytes: usize) -> ClientCore {
    let mut core = ClientCore::new(Credentials::Anonymous);
    core.register_table::<HostileRow>();
    core.set_max_frame_bytes(max_frame_bytes);
    core.handle_frame(&hostile::identity(1));
    while core.poll_event().is_some() {}
    core
}

/// Handles `frame`; its events and the most bytes allocated at once meanwhile (above what was
/// allocated before).
fn measure(core: &mut ClientCore, frame: &[u8]) -> (Vec<Event>, usize) {
    let before = heap_meter::live();
    heap_meter::reset_peak();
    core.handle_frame(frame);
    let events: Vec<Event> = std::iter::from_fn(|| core.poll_event()).collect();
    let peak = heap_meter::peak().saturating_sub(before);
    (events, peak)
}

fn frame_error(events: &[Event]) -> Option<&FrameError> {
    events.iter().find_map(|e| match e {
        Event::FrameError(error) => Some(error),
        _ => None,
    })
}

/// Feeds `frame` to a core with `budget`, expects an error event, and checks the memory bound
/// for a frame inflating to `inflated` bytes (at most `budget` of which are ever inflated).
fn refused(frame: &[u8], budget: usize, inflated: usize) -> FrameError {
    let mut core = connected(budget);
    let (events, peak) = measure(&mut core, frame);
    let bound = MULTIPLE * inflated.min(budget) + SLACK;
    assert!(
        peak <= bound,
        "a {}-byte frame inflating to {inflated} took {peak} bytes (bound {bound})",
        frame.len()
    );
    let error = frame_error(&events)
        .unwrap_or_else(|| panic!("no error event: {events:?}"))
        .clone();
    assert_eq!(core.table::<HostileRow>().map(|t| t.len()), Some(0));
    // The connection goes on: a good frame after it still applies.
    core.handle_frame(&hostile::insert_rows(hostile::TABLE, &[row(7)]));
    assert_eq!(core.table::<HostileRow>().map(|t| t.len()), Some(1));
    error
}

fn row(id: u64) -> Vec<u8> {
    stdb_client::bsatn::to_vec(&HostileRow {
        id,
        name: "fine".into(),
        score: 1,
    })
    .unwrap()
}

/// The first frame: 130 KiB of gzip whose row list says `FixedSize(1)` over 128 MiB of
/// zeros. It used to make every byte a row (a 4 GiB `Vec` natively) and panic.
#[test]
fn a_fixed_size_one_bomb_is_refused_within_the_default_budget() {
    let _turn = turn();
    let frame = hostile::fixed_size_rows(hostile::TABLE, 1, 128 * MIB);
    assert!(frame.len() < 200 << 10, "{} bytes", frame.len());
    let error = refused(&frame, stdb_client::DEFAULT_MAX_FRAME_BYTES, 128 * MIB);
    assert!(
        matches!(&error, FrameError::Limit { what: "frame", .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("more than 33554432 bytes"),
        "{error}"
    );
}

/// Within the budget, the same hint is refused because no row of the table is one byte.
#[test]
fn a_size_hint_smaller_than_any_row_is_refused() {
    let _turn = turn();
    let frame = hostile::fixed_size_rows(hostile::TABLE, 1, 8 * MIB);
    let error = refused(&frame, stdb_client::DEFAULT_MAX_FRAME_BYTES, 8 * MIB);
    assert!(
        error
            .to_string()
            .contains("size hint of 1 bytes per row, but a row of this table takes at least 20"),
        "{error}"
    );
}

/// The second frame: eight query updates, each gzip-compressed on its own and inflating
/// to 64 MiB. One budget covers them all.
#[test]
fn nested_gzip_updates_share_one_budget() {
    let _turn = turn();
    let frame = hostile::nested_gzip(hostile::TABLE, 8, 20, 64 * MIB);
    let error = refused(&frame, stdb_client::DEFAULT_MAX_FRAME_BYTES, 8 * 64 * MIB);
    assert!(
        matches!(
            &error,
            FrameError::Limit {
                what: "query update",
                ..
            }
        ),
        "{error}"
    );
}

/// The third frame: about 1 MB that inflates past 1 GiB. Refused once it passes the
/// budget, not after inflating it all.
#[test]
fn an_inflate_bomb_is_refused_at_the_budget() {
    let _turn = turn();
    let frame = hostile::inflate_bomb((1 << 30) + 1);
    assert!(frame.len() < 2 * MIB, "{} bytes", frame.len());
    let error = refused(&frame, stdb_client::DEFAULT_MAX_FRAME_BYTES, 1 << 30);
    assert!(
        matches!(&error, FrameError::Limit { what: "frame", .. }),
        "{error}"
    );
}

/// A million query updates of 5 bytes each would take over 100 MB decoded.
#[test]
fn many_tiny_updates_are_weighed_before_decoding() {
    let _turn = turn();
    let frame = hostile::empty_updates(hostile::TABLE, 1_000_000);
    let error = refused(&frame, stdb_client::DEFAULT_MAX_FRAME_BYTES, frame.len());
    assert!(
        error.to_string().contains("1000001 table or query updates"),
        "{error}"
    );
}

/// Counts no byte can back: a million empty rows, four billion tables.
#[test]
fn huge_counts_are_refused() {
    let _turn = turn();
    let frame = hostile::empty_offsets(hostile::TABLE, 1_000_000);
    let error = refused(&frame, stdb_client::DEFAULT_MAX_FRAME_BYTES, 8 * MIB);
    assert!(error.to_string().contains("row 0 has 0 bytes"), "{error}");
    let frame = hostile::huge_count(u32::MAX);
    let error = refused(&frame, stdb_client::DEFAULT_MAX_FRAME_BYTES, frame.len());
    assert!(matches!(&error, FrameError::Malformed { .. }), "{error}");
}

/// Valid rows, all the same: a million copies of one row cost one row.
#[test]
fn a_row_repeated_a_million_times_costs_one_row() {
    let _turn = turn();
    let mut core = connected(stdb_client::DEFAULT_MAX_FRAME_BYTES);
    let frame = hostile::fixed_size_rows(hostile::TABLE, 20, 20 * MIB);
    let (events, peak) = measure(&mut core, &frame);
    assert!(frame_error(&events).is_none(), "{events:?}");
    assert_eq!(core.table::<HostileRow>().map(|t| t.len()), Some(1));
    assert!(peak <= MULTIPLE * 20 * MIB + SLACK, "took {peak} bytes");
}

#[derive(Debug, Clone)]
enum Attack {
    /// Rows of `hint` bytes over `zeros` zeros, the whole frame gzipped.
    FixedSize { hint: u16, zeros: usize },
    /// `count` query updates gzipped on their own, each `zeros` zeros of `hint`-byte rows.
    Nested {
        count: usize,
        hint: u16,
        zeros: usize,
    },
    /// A frame inflating to `zeros` zeros.
    Bomb { zeros: usize },
    /// `count` empty gzip query updates.
    EmptyUpdates { count: usize },
    /// `count` empty rows.
    EmptyOffsets { count: usize },
}

impl Attack {
    fn frame(&self) -> Vec<u8> {
        match *self {
            Attack::FixedSize { hint, zeros } => {
                hostile::fixed_size_rows(hostile::TABLE, hint, zeros)
            }
            Attack::Nested { count, hint, zeros } => {
                hostile::nested_gzip(hostile::TABLE, count, hint, zeros)
            }
            Attack::Bomb { zeros } => hostile::inflate_bomb(zeros),
            Attack::EmptyUpdates { count } => hostile::empty_updates(hostile::TABLE, count),
            Attack::EmptyOffsets { count } => hostile::empty_offsets(hostile::TABLE, count),
        }
    }

    /// About how many bytes it inflates to (the frame and its updates).
    fn inflated(&self, frame: &[u8]) -> usize {
        match *self {
            Attack::FixedSize { zeros, .. } | Attack::Bomb { zeros } => zeros + 256,
            Attack::Nested { count, zeros, .. } => frame.len() + count * (zeros + 64),
            Attack::EmptyUpdates { .. } => frame.len(),
            Attack::EmptyOffsets { count } => 8 * count + 256,
        }
    }
}

fn attack() -> impl Strategy<Value = Attack> {
    let size = 0usize..(24 * MIB);
    prop_oneof![
        (1u16..20, size.clone()).prop_map(|(hint, zeros)| Attack::FixedSize {
            hint,
            zeros: zeros / usize::from(hint) * usize::from(hint)
        }),
        (1usize..12, 1u16..20, 0usize..(4 * MIB)).prop_map(|(count, hint, zeros)| Attack::Nested {
            count,
            hint,
            zeros: zeros / usize::from(hint) * usize::from(hint)
        }),
        ((4 * MIB)..(64 * MIB)).prop_map(|zeros| Attack::Bomb { zeros }),
        (1000usize..400_000).prop_map(|count| Attack::EmptyUpdates { count }),
        (1usize..1_000_000).prop_map(|count| Attack::EmptyOffsets { count }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Whatever the attack and the budget, the frame ends as an error event (or, for hints that
    /// happen to fit, as rows) with memory bounded by a multiple of what was inflated.
    #[test]
    fn adversarial_frames_end_as_errors_in_bounded_memory(
        attack in attack(),
        budget in MIB..(8 * MIB),
    ) {
        let _turn = turn();
        let frame = attack.frame();
        let inflated = attack.inflated(&frame);
        let mut core = connected(budget);
        let (events, peak) = measure(&mut core, &frame);
        let bound = MULTIPLE * inflated.min(budget) + SLACK;
        prop_assert!(peak <= bound, "{attack:?} with budget {budget}: {peak} bytes, bound {bound}");
        // Only rows of at least 20 bytes that are all zeros can be valid: one row, `0, "", 0`.
        let rows = core.table::<HostileRow>().map(|t| t.len()).unwrap_or_default();
        prop_assert!(frame_error(&events).is_some() || rows <= 1, "{attack:?}: {events:?}");
    }
}
