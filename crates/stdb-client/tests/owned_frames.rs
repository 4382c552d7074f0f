//! A frame the transport gives away ([`ClientCore::handle_owned_frame`]) is freed once decoded,
//! before its rows are applied: the frame and the cache's new rows are never held at once.
//! Measured with a counting global allocator.

use hostile::HostileRow;
use spacetimedb_sats::bsatn;
use stdb_client::{ClientCore, Credentials, Event};

#[global_allocator]
static ALLOCATOR: heap_meter::Counting = heap_meter::Counting;

#[path = "support/hostile.rs"]
mod hostile;

const ROWS: u64 = 20_000;

/// A frame inserting [`ROWS`] rows with 200-byte names (about 4.4 MB).
fn frame() -> Vec<u8> {
    let rows: Vec<Vec<u8>> = (0..ROWS)
        .map(|id| {
            let row = HostileRow {
                id,
                name: "n".repeat(200),
                score: 0,
            };
            bsatn::to_vec(&row).expect("a row encodes")
        })
        .collect();
    hostile::insert_rows(hostile::TABLE, &rows)
}

fn connected() -> ClientCore {
    let mut core = ClientCore::new(Credentials::Anonymous);
    core.register_table::<HostileRow>();
    core.handle_frame(&hostile::identity(1));
    while core.poll_event().is_some() {}
    core
}

/// The most bytes allocated at once above what was allocated before `handle` ran (the frame
/// included), and how many rows it cached.
fn peak(handle: impl FnOnce(&mut ClientCore)) -> (usize, usize) {
    let mut core = connected();
    let before = heap_meter::live();
    heap_meter::reset_peak();
    handle(&mut core);
    let peak = heap_meter::peak().saturating_sub(before);
    let cached = core.table::<HostileRow>().map_or(0, |t| t.len());
    assert!(
        std::iter::from_fn(|| core.poll_event()).all(|e| !matches!(e, Event::FrameError(_))),
        "the frame applies"
    );
    (peak, cached)
}

/// One test (the allocator counts every thread): the owned frame's peak is lower by about the
/// frame's size than the borrowed frame's, whose caller keeps it until the rows are applied.
#[test]
fn a_frame_given_away_is_freed_before_its_rows_are_applied() {
    let frame = frame();
    let len = frame.len();
    let borrowed_frame = frame.clone();
    let (borrowed, cached) = peak(|core| core.handle_frame(&borrowed_frame));
    assert_eq!(cached, ROWS as usize);
    drop(borrowed_frame);
    let (owned, cached) = peak(move |core| core.handle_owned_frame(frame));
    assert_eq!(cached, ROWS as usize);
    eprintln!("frame {len} bytes: peak {borrowed} borrowed, {owned} owned");
    assert!(
        owned + len / 2 <= borrowed,
        "a {len}-byte frame given away peaked at {owned} bytes, kept by the caller {borrowed}"
    );
}
