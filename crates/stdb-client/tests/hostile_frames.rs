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

/// The same frame into an empty table keeps one row's memory once its events are gone: the
/// one-pass fill reserves room for every row listed (up to what the cache could still charge,
/// about 900 000 here) and gives back what the repeated rows left unused (it kept about 17 MiB,
/// charged 296 bytes, before).
#[test]
fn a_row_repeated_a_million_times_keeps_one_rows_memory() {
    let _turn = turn();
    let mut core = connected(stdb_client::DEFAULT_MAX_FRAME_BYTES);
    let frame = hostile::fixed_size_rows(hostile::TABLE, 20, 20 * MIB);
    let before = heap_meter::live();
    let (events, peak) = measure(&mut core, &frame);
    assert!(frame_error(&events).is_none(), "{events:?}");
    drop(events);
    let kept = heap_meter::live().saturating_sub(before);
    let charged = core.table::<HostileRow>().map(|t| t.charged_bytes());
    eprintln!("a repeated row: peak {peak}, kept {kept}, charged {charged:?}");
    assert_eq!(charged, Some(hostile_row_charge()));
    assert!(
        kept <= SLACK,
        "kept {kept} bytes for one row charged {charged:?}"
    );
}

/// What a distinct 20-byte row of the hostile table is charged (`Rate::charge`: the heap of
/// its contents, the row and `ROW_OVERHEAD`; its bytes and key are not kept). 20 bytes is the
/// smallest row of its type (an empty name): it has no contents.
fn hostile_row_charge() -> usize {
    size_of::<HostileRow>() + stdb_client::ROW_OVERHEAD
}

/// The most the new rows of a frame take: what they are charged, never past `max_cache_bytes`.
fn rows_bound(count: usize, max_cache_bytes: usize) -> usize {
    count
        .saturating_mul(hostile_row_charge())
        .min(max_cache_bytes)
}

/// The distinct-row frame: a million valid rows, all different, in 20 MB. Zeros collapse
/// into one cached row; these are each new to the cache. It peaked at 441 MB natively (15.7
/// times its size) and kept 329 MB; now the frame is refused by `max_cache_bytes` (a million
/// rows are charged about 300 MB), its rows stop being decoded once their charge passes the
/// cache's room, and nothing is kept.
#[test]
fn a_million_distinct_rows_stay_within_the_cache_bound() {
    let _turn = turn();
    let mut core = connected(stdb_client::DEFAULT_MAX_FRAME_BYTES);
    let frame = hostile::distinct_rows(hostile::TABLE, 0, 1_000_000);
    let before = heap_meter::live();
    let (events, peak) = measure(&mut core, &frame);
    let bound = MULTIPLE * frame.len() + SLACK + stdb_client::DEFAULT_MAX_CACHE_BYTES;
    eprintln!(
        "distinct rows: {} bytes, peak {peak} (bound {bound})",
        frame.len()
    );
    assert!(peak <= bound, "took {peak} bytes (bound {bound})");
    let error = frame_error(&events)
        .unwrap_or_else(|| panic!("no error event: {events:?}"))
        .clone();
    assert!(
        matches!(&error, FrameError::Limit { what: "rows", .. }),
        "{error}"
    );
    assert!(error.to_string().contains("table hostile"), "{error}");
    assert!(error.to_string().contains("max_cache_bytes"), "{error}");
    assert_eq!(core.table::<HostileRow>().map(|t| t.len()), Some(0));
    drop(events);
    let kept = heap_meter::live().saturating_sub(before);
    assert!(kept <= SLACK, "kept {kept} bytes");
}

/// Distinct rows within the cache's room apply, and their memory is what they are charged
/// (at most): the charge is an honest estimate.
#[test]
fn new_rows_take_at_most_what_they_are_charged() {
    let _turn = turn();
    let mut core = connected(stdb_client::DEFAULT_MAX_FRAME_BYTES);
    let frame = hostile::distinct_rows(hostile::TABLE, 0, 30_000);
    let before = heap_meter::live();
    let (events, peak) = measure(&mut core, &frame);
    assert!(frame_error(&events).is_none(), "{events:?}");
    let table = core.table::<HostileRow>().expect("registered");
    assert_eq!(table.len(), 30_000);
    let charged = table.charged_bytes();
    assert_eq!(charged, 30_000 * hostile_row_charge());
    let kept = heap_meter::live().saturating_sub(before);
    eprintln!(
        "30k new rows: frame {} bytes, peak {peak}, kept {kept} with the events, charged {charged}",
        frame.len()
    );
    assert!(
        peak <= MULTIPLE * frame.len() + SLACK + charged,
        "peak {peak}, charged {charged}"
    );
    drop(events);
    let kept = heap_meter::live().saturating_sub(before);
    assert!(kept <= charged, "kept {kept}, charged {charged}");
}

/// A row whose primary key is a `String`: the cache reads the key from the row and keeps no
/// copy of it (an index once kept a clone, and a row with a 100 KB key kept that key twice:
/// charged 8.0 MB for 12.0 MB kept, 40 rows of 100 KB).
#[test]
fn rows_with_large_string_keys_take_at_most_what_they_are_charged() {
    #[derive(stdb_client::SpacetimeType, Debug, Clone, PartialEq)]
    #[sats(crate = stdb_client::spacetimedb_lib)]
    struct StrKey {
        id: String,
    }
    impl stdb_client::Row for StrKey {
        const TABLE: &'static str = "strkey";
        type Key = String;
        fn primary_key(&self) -> &String {
            &self.id
        }
    }
    let _turn = turn();
    let mut core = ClientCore::new(Credentials::Anonymous);
    core.register_table::<StrKey>();
    core.handle_frame(&hostile::identity(1));
    while core.poll_event().is_some() {}
    let rows: Vec<Vec<u8>> = (0..40)
        .map(|i| {
            let id = format!("{i}{}", "k".repeat(100_000));
            stdb_client::bsatn::to_vec(&StrKey { id }).expect("encodes")
        })
        .collect();
    let frame = hostile::insert_rows(<StrKey as stdb_client::Row>::TABLE, &rows);
    drop(rows);
    let before = heap_meter::live();
    core.handle_frame(&frame);
    let events: Vec<Event> = std::iter::from_fn(|| core.poll_event()).collect();
    assert!(frame_error(&events).is_none(), "{events:?}");
    drop(events);
    let kept = heap_meter::live().saturating_sub(before);
    let table = core.table::<StrKey>().expect("registered");
    assert_eq!(table.len(), 40);
    let charged = table.charged_bytes();
    assert!(kept <= charged, "kept {kept}, charged {charged}");
}

/// The same attack spread over frames fills the cache only up to
/// `max_cache_bytes`: the frame that would pass it is refused as a whole (an error event, not
/// a panic, not a truncated update), and so is every later one, in bounded memory.
#[test]
fn distinct_rows_fill_the_cache_only_up_to_its_limit() {
    let _turn = turn();
    const LIMIT: usize = 24 * MIB;
    const ROWS: usize = 20_000;
    let mut core = connected(stdb_client::DEFAULT_MAX_FRAME_BYTES);
    core.set_max_cache_bytes(LIMIT);
    let before = heap_meter::live();
    heap_meter::reset_peak();
    let mut refused = 0;
    let mut cached = 0;
    for i in 0..20u64 {
        let frame = hostile::distinct_rows(hostile::TABLE, i * ROWS as u64, ROWS);
        core.handle_frame(&frame);
        drop(frame);
        let events: Vec<Event> = std::iter::from_fn(|| core.poll_event()).collect();
        let table = core.table::<HostileRow>().expect("registered");
        match frame_error(&events) {
            Some(error) => {
                refused += 1;
                assert!(
                    error
                        .to_string()
                        .contains("max_cache_bytes (25165824 bytes)"),
                    "{error}"
                );
                assert_eq!(table.len(), cached, "a refused update changes nothing");
            }
            None => {
                assert_eq!(refused, 0, "a frame applied after one was refused");
                cached += ROWS;
                assert_eq!(table.len(), cached);
            }
        }
        assert!(table.charged_bytes() <= LIMIT);
    }
    assert!(
        cached > 0 && refused > 0,
        "cached {cached}, refused {refused}"
    );
    let kept = heap_meter::live().saturating_sub(before);
    let peak = heap_meter::peak().saturating_sub(before);
    eprintln!("cache limit: {cached} rows kept in {kept} bytes, peak {peak}");
    assert!(kept <= LIMIT, "kept {kept} bytes");
    assert!(peak <= LIMIT + 32 * MIB, "peak {peak} bytes");
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
    /// `count` distinct valid rows of 20 bytes, each new to the cache.
    Distinct { count: usize },
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
            Attack::Distinct { count } => hostile::distinct_rows(hostile::TABLE, 0, count),
        }
    }

    /// About how many bytes it inflates to (the frame and its updates).
    fn inflated(&self, frame: &[u8]) -> usize {
        match *self {
            Attack::FixedSize { zeros, .. } | Attack::Bomb { zeros } => zeros + 256,
            Attack::Nested { count, zeros, .. } => frame.len() + count * (zeros + 64),
            Attack::EmptyUpdates { .. } => frame.len(),
            Attack::EmptyOffsets { count } => 8 * count + 256,
            Attack::Distinct { .. } => frame.len(),
        }
    }

    /// The most memory handling it may take with `budget` (see `DEFAULT_MAX_FRAME_BYTES`):
    /// only distinct rows are new to the cache.
    fn bound(&self, frame: &[u8], budget: usize) -> usize {
        let inflated = self.inflated(frame).min(budget);
        match self {
            Attack::Distinct { count } => {
                MULTIPLE * inflated
                    + SLACK
                    + rows_bound(*count, stdb_client::DEFAULT_MAX_CACHE_BYTES)
            }
            _ => MULTIPLE * inflated + SLACK,
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
        (1usize..400_000).prop_map(|count| Attack::Distinct { count }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Whatever the attack and the budget, the frame ends as an error event (or, for hints that
    /// happen to fit and distinct rows within the cache's room, as rows) with memory bounded by a
    /// multiple of what was inflated.
    #[test]
    fn adversarial_frames_end_as_errors_in_bounded_memory(
        attack in attack(),
        budget in MIB..(8 * MIB),
    ) {
        let _turn = turn();
        let frame = attack.frame();
        let mut core = connected(budget);
        let (events, peak) = measure(&mut core, &frame);
        let bound = attack.bound(&frame, budget);
        prop_assert!(peak <= bound, "{attack:?} with budget {budget}: {peak} bytes, bound {bound}");
        // Only rows of at least 20 bytes that are all zeros can be valid: one row, `0, "", 0`;
        // distinct rows apply all or not at all.
        let rows = core.table::<HostileRow>().map(|t| t.len()).unwrap_or_default();
        let error = frame_error(&events).is_some();
        let fine = match attack {
            Attack::Distinct { .. } if error => rows == 0,
            Attack::Distinct { count } => rows == count,
            _ => error || rows <= 1,
        };
        prop_assert!(fine, "{attack:?}: {rows} rows, {events:?}");
    }
}

/// Updates spanning tables, subscriptions the client refuses, resyncs, and rows far larger
/// decoded than encoded (findings of a hostile review; each test failed before its fix).
mod whole_updates {
    use super::{MIB, MULTIPLE, SLACK, frame_error, hostile, turn};
    use bytes::Bytes;
    use hostile::HostileRow;
    use spacetimedb_client_api_messages::websocket::{
        BsatnFormat, BsatnRowList, ClientMessage, CompressableQueryUpdate, DatabaseUpdate, QueryId,
        QueryUpdate, RowSizeHint, ServerMessage, SubscribeMultiApplied, TableUpdate,
        UnsubscribeMultiApplied, UpdateStatus,
    };
    use spacetimedb_primitives::TableId;
    use stdb_client::{ClientCore, Credentials, Event, FrameError};

    /// Each `None` is 1 byte encoded and 32 decoded.
    #[derive(stdb_client::SpacetimeType, Debug, Clone, PartialEq)]
    #[sats(crate = stdb_client::spacetimedb_lib)]
    pub struct Fat {
        pub id: u64,
        pub items: Vec<Option<u128>>,
    }

    impl stdb_client::Row for Fat {
        const TABLE: &'static str = "fat";
        type Key = u64;
        fn primary_key(&self) -> &u64 {
            &self.id
        }
    }

    /// The smallest row: 8 bytes.
    #[derive(stdb_client::SpacetimeType, Debug, Clone, PartialEq)]
    #[sats(crate = stdb_client::spacetimedb_lib)]
    pub struct Tiny {
        pub id: u64,
    }

    impl stdb_client::Row for Tiny {
        const TABLE: &'static str = "tiny";
        type Key = u64;
        fn primary_key(&self) -> &u64 {
            &self.id
        }
    }

    /// 64 bytes of fixed-size fields.
    #[derive(stdb_client::SpacetimeType, Debug, Clone, PartialEq)]
    #[sats(crate = stdb_client::spacetimedb_lib)]
    pub struct Block {
        pub a: u128,
        pub b: u128,
        pub c: u128,
        pub d: u128,
    }

    /// A wide row of fixed-size fields and one (usually empty) array whose elements are far
    /// larger decoded than encoded.
    #[derive(stdb_client::SpacetimeType, Debug, Clone, PartialEq)]
    #[sats(crate = stdb_client::spacetimedb_lib)]
    pub struct Wide {
        pub id: u64,
        pub first: Block,
        pub second: Block,
        pub third: Block,
        pub tags: Vec<Option<u64>>,
    }

    impl stdb_client::Row for Wide {
        const TABLE: &'static str = "wide";
        type Key = u64;
        fn primary_key(&self) -> &u64 {
            &self.id
        }
    }

    const ME: u128 = 1;

    fn core() -> ClientCore {
        let mut core = ClientCore::new(Credentials::Anonymous);
        core.register_table::<HostileRow>();
        core.register_table::<Fat>();
        core.register_table::<Tiny>();
        core.register_table::<Wide>();
        core.handle_frame(&hostile::identity(ME));
        drain(&mut core);
        core
    }

    fn drain(core: &mut ClientCore) -> Vec<Event> {
        std::iter::from_fn(|| core.poll_event()).collect()
    }

    fn sent(core: &mut ClientCore) -> Vec<ClientMessage<Box<[u8]>>> {
        std::iter::from_fn(|| core.poll_transmit())
            .map(|bytes| stdb_client::bsatn::from_slice(&bytes).unwrap())
            .collect()
    }

    fn rows_changed(events: &[Event]) -> usize {
        events
            .iter()
            .filter(|e| matches!(e, Event::RowsChanged(_)))
            .count()
    }

    fn list_fixed(size: u16, data: Vec<u8>) -> BsatnRowList {
        BsatnRowList::new(RowSizeHint::FixedSize(size), Bytes::from(data))
    }

    fn list_rows(rows: &[Vec<u8>]) -> BsatnRowList {
        let mut data = Vec::new();
        let mut offsets = Vec::new();
        for row in rows {
            offsets.push(data.len() as u64);
            data.extend(row);
        }
        BsatnRowList::new(RowSizeHint::RowOffsets(offsets.into()), Bytes::from(data))
    }

    fn empty() -> BsatnRowList {
        list_rows(&[])
    }

    fn table_update(
        table: &str,
        deletes: BsatnRowList,
        inserts: BsatnRowList,
    ) -> TableUpdate<BsatnFormat> {
        TableUpdate {
            table_id: TableId(4096),
            table_name: table.into(),
            num_rows: 0,
            updates: vec![CompressableQueryUpdate::Uncompressed(QueryUpdate {
                deletes,
                inserts,
            })]
            .into(),
        }
    }

    /// Another client's committed transaction.
    fn committed(tables: Vec<TableUpdate<BsatnFormat>>) -> Vec<u8> {
        let ServerMessage::TransactionUpdate(mut update) = hostile::transaction("any", Vec::new())
        else {
            unreachable!("a transaction");
        };
        update.status = UpdateStatus::Committed(DatabaseUpdate { tables });
        hostile::plain(&ServerMessage::TransactionUpdate(update))
    }

    fn applied(query_id: u32, tables: Vec<TableUpdate<BsatnFormat>>) -> Vec<u8> {
        hostile::plain(&ServerMessage::SubscribeMultiApplied(
            SubscribeMultiApplied {
                request_id: query_id,
                total_host_execution_duration_micros: 0,
                query_id: QueryId::new(query_id),
                update: DatabaseUpdate { tables },
            },
        ))
    }

    fn unsubscribed(query_id: u32, tables: Vec<TableUpdate<BsatnFormat>>) -> Vec<u8> {
        hostile::plain(&ServerMessage::UnsubscribeMultiApplied(
            UnsubscribeMultiApplied {
                request_id: query_id,
                total_host_execution_duration_micros: 0,
                query_id: QueryId::new(query_id),
                update: DatabaseUpdate { tables },
            },
        ))
    }

    fn hrow(id: u64, name: &str) -> Vec<u8> {
        stdb_client::bsatn::to_vec(&HostileRow {
            id,
            name: name.into(),
            score: 1,
        })
        .unwrap()
    }

    fn tiny_rows(first: u64, count: usize) -> Vec<u8> {
        (first..first + count as u64)
            .flat_map(u64::to_le_bytes)
            .collect()
    }

    fn hostile_len(core: &ClientCore) -> usize {
        core.table::<HostileRow>().map_or(0, |t| t.len())
    }

    fn tiny_len(core: &ClientCore) -> usize {
        core.table::<Tiny>().map_or(0, |t| t.len())
    }

    /// An honest first subscription of 100 000 small rows in one 3.4 MB frame, as the server
    /// sends it, applies: new rows are bounded by `max_cache_bytes`, not by a multiple of the
    /// frame (it was refused: a 26-byte row was charged 436 against 4 × the frame + 16 MiB).
    #[test]
    fn an_honest_first_subscription_of_small_rows_applies() {
        let _turn = turn();
        let mut core = core();
        core.subscribe(["SELECT * FROM hostile"]).unwrap();
        sent(&mut core);
        let rows: Vec<Vec<u8>> = (0..100_000).map(|i| hrow(i, "player")).collect();
        core.handle_frame(&applied(
            0,
            vec![table_update("hostile", empty(), list_rows(&rows))],
        ));
        let events = drain(&mut core);
        assert!(frame_error(&events).is_none(), "{:?}", frame_error(&events));
        assert_eq!(hostile_len(&core), 100_000);
    }

    /// An honest subscription of 100 000 wide rows (204 bytes, an empty array of
    /// `Option<u64>`) applies under the default limit: only the bytes past the smallest row can
    /// be array contents, so only they are charged the array's 32 bytes of heap per byte (each
    /// row used to be charged 33 × 204 bytes, 690 MB in all: refused).
    #[test]
    fn an_honest_subscription_of_wide_rows_with_an_empty_array_applies() {
        let _turn = turn();
        let mut core = core();
        core.subscribe(["SELECT * FROM wide"]).unwrap();
        sent(&mut core);
        let block = |i: u64| Block {
            a: i.into(),
            b: 2,
            c: 3,
            d: 4,
        };
        let rows: Vec<Vec<u8>> = (0..100_000)
            .map(|i| {
                stdb_client::bsatn::to_vec(&Wide {
                    id: i,
                    first: block(i),
                    second: block(i + 1),
                    third: block(i + 2),
                    tags: Vec::new(),
                })
                .unwrap()
            })
            .collect();
        assert_eq!(rows[0].len(), 204);
        core.handle_frame(&applied(
            0,
            vec![table_update("wide", empty(), list_rows(&rows))],
        ));
        let events = drain(&mut core);
        assert!(frame_error(&events).is_none(), "{:?}", frame_error(&events));
        assert_eq!(core.table::<Wide>().map_or(0, |t| t.len()), 100_000);
    }

    /// A cache built by many small transactions is delivered again by one frame after a
    /// reconnect: the rows are stale, not new, so they are not charged again — not even with
    /// the cache all but full (it was refused, and every row deleted at the resync's end).
    #[test]
    fn a_resync_of_many_cached_rows_keeps_them() {
        let _turn = turn();
        const N: u64 = 100_000;
        let mut core = core();
        core.subscribe(["SELECT * FROM hostile"]).unwrap();
        sent(&mut core);
        core.handle_frame(&applied(0, vec![table_update("hostile", empty(), empty())]));
        drain(&mut core);
        for chunk in 0..10 {
            let rows: Vec<Vec<u8>> = (chunk * N / 10..(chunk + 1) * N / 10)
                .map(|i| hrow(i, "player"))
                .collect();
            core.handle_frame(&committed(vec![table_update(
                "hostile",
                empty(),
                list_rows(&rows),
            )]));
            let events = drain(&mut core);
            assert!(frame_error(&events).is_none(), "{:?}", frame_error(&events));
        }
        assert_eq!(hostile_len(&core), N as usize);
        let charged = core.table::<HostileRow>().unwrap().charged_bytes();
        core.set_max_cache_bytes(charged + 1024);
        core.connection_lost();
        drain(&mut core);
        core.handle_frame(&hostile::identity(ME));
        drain(&mut core);
        let query_id = sent(&mut core)
            .into_iter()
            .find_map(|m| match m {
                ClientMessage::SubscribeMulti(s) => Some(s.query_id.id),
                _ => None,
            })
            .expect("resubscribed");
        // Every row again, one of them changed.
        let rows: Vec<Vec<u8>> = (0..N)
            .map(|i| hrow(i, if i == 7 { "changed" } else { "player" }))
            .collect();
        core.handle_frame(&applied(
            query_id,
            vec![table_update("hostile", empty(), list_rows(&rows))],
        ));
        let events = drain(&mut core);
        assert!(frame_error(&events).is_none(), "{:?}", frame_error(&events));
        assert_eq!(hostile_len(&core), N as usize);
        assert_eq!(
            rows_changed(&events),
            1,
            "only the changed row: {}",
            events.len()
        );
        let table = core.table::<HostileRow>().unwrap();
        assert_eq!(
            table.get(&7).map(|r| r.name.clone()),
            Some("changed".into())
        );
        assert!(table.charged_bytes() <= charged + 1024);
    }

    /// A transaction whose second table is refused applies none of its tables (its first used
    /// to apply).
    #[test]
    fn a_transaction_with_a_refused_table_applies_no_table() {
        let _turn = turn();
        let mut core = core();
        core.handle_frame(&committed(vec![
            table_update("tiny", empty(), list_fixed(8, tiny_rows(0, 3))),
            table_update("hostile", empty(), list_rows(&[hrow(1, "a"), hrow(1, "b")])),
        ]));
        let events = drain(&mut core);
        assert!(
            matches!(frame_error(&events), Some(FrameError::DuplicateKey { .. })),
            "{events:?}"
        );
        assert_eq!(rows_changed(&events), 0);
        assert_eq!((tiny_len(&core), hostile_len(&core)), (0, 0));
    }

    /// One table listed twice counts once: two rows with one key across the lists are refused
    /// as a whole (the first list used to apply), and rows of different keys apply as one event.
    #[test]
    fn a_table_listed_twice_is_one_update() {
        let _turn = turn();
        let mut core = core();
        core.handle_frame(&committed(vec![
            table_update("hostile", empty(), list_rows(&[hrow(1, "a")])),
            table_update("hostile", empty(), list_rows(&[hrow(1, "b")])),
        ]));
        let events = drain(&mut core);
        assert!(
            matches!(frame_error(&events), Some(FrameError::DuplicateKey { .. })),
            "{events:?}"
        );
        assert_eq!((rows_changed(&events), hostile_len(&core)), (0, 0));
        core.handle_frame(&committed(vec![
            table_update("hostile", empty(), list_rows(&[hrow(1, "a")])),
            table_update("hostile", empty(), list_rows(&[hrow(2, "b")])),
        ]));
        let events = drain(&mut core);
        assert!(frame_error(&events).is_none(), "{events:?}");
        assert_eq!((rows_changed(&events), hostile_len(&core)), (1, 2));
    }

    /// A core never started (its transport keeps the socket; a started core drops it instead,
    /// see `resync_after_refusal`; so do the next three tests): a subscription the client
    /// refuses is ended on the server too: an `UnsubscribeMulti` for its set is sent, and the rows later transactions brought meanwhile leave with the
    /// server's answer. None of its initial rows stay (they used to, for its other tables).
    #[test]
    fn a_refused_subscription_is_unsubscribed_and_leaves_no_rows() {
        let _turn = turn();
        let mut core = core();
        let sub = core
            .subscribe(["SELECT * FROM tiny", "SELECT * FROM hostile"])
            .unwrap();
        sent(&mut core);
        core.handle_frame(&applied(
            0,
            vec![
                table_update("tiny", empty(), list_fixed(8, tiny_rows(0, 5))),
                table_update("hostile", empty(), list_rows(&[hrow(1, "a"), hrow(1, "b")])),
            ],
        ));
        let events = drain(&mut core);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::SubscriptionFailed { id, .. } if *id == sub)),
            "{events:?}"
        );
        assert_eq!((tiny_len(&core), hostile_len(&core)), (0, 0));
        let after = sent(&mut core);
        assert!(
            matches!(after.as_slice(), [ClientMessage::UnsubscribeMulti(u)] if u.query_id.id == 0),
            "{} messages sent",
            after.len()
        );
        // Until the server has it, its transactions still carry the set's rows...
        core.handle_frame(&committed(vec![table_update(
            "hostile",
            empty(),
            list_rows(&[hrow(5, "x")]),
        )]));
        drain(&mut core);
        // ...and its answer's deletes are ignored: the set's rows were never counted, so they
        // are not its to take (see the next test). A row a transaction brought meanwhile stays.
        core.handle_frame(&unsubscribed(
            0,
            vec![table_update("hostile", list_rows(&[hrow(5, "x")]), empty())],
        ));
        let events = drain(&mut core);
        assert!(frame_error(&events).is_none(), "{events:?}");
        assert_eq!(hostile_len(&core), 1);
    }

    /// Set A is live with row 1; an overlapping set B holding row 1 too is refused and
    /// unsubscribed; the server's answer lists B's rows as deletes. Row 1 is still A's and stays
    /// (it was deleted: the answer took A's count of it).
    #[test]
    fn a_refused_overlapping_set_leaves_a_live_sets_rows() {
        let _turn = turn();
        let mut core = core();
        core.set_max_cache_bytes(16 * 1024);
        let a = core
            .subscribe(["SELECT * FROM hostile WHERE score = 1"])
            .unwrap();
        let b = core.subscribe(["SELECT * FROM hostile"]).unwrap();
        sent(&mut core);
        core.handle_frame(&applied(
            0,
            vec![table_update("hostile", empty(), list_rows(&[hrow(1, "a")]))],
        ));
        let mut b_rows = vec![hrow(1, "a")];
        b_rows.extend((2..200).map(|i| hrow(i, "b")));
        core.handle_frame(&applied(
            1,
            vec![table_update("hostile", empty(), list_rows(&b_rows))],
        ));
        let events = drain(&mut core);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::SubscriptionFailed { id, .. } if *id == b)),
            "{events:?}"
        );
        assert_eq!(sent(&mut core).len(), 1, "B is unsubscribed");
        core.handle_frame(&unsubscribed(
            1,
            vec![table_update("hostile", list_rows(&b_rows), empty())],
        ));
        drain(&mut core);
        assert_eq!(hostile_len(&core), 1, "A's row 1 was taken");
        assert_eq!(
            core.subscription_state(a),
            Some(stdb_client::SubscriptionState::Applied)
        );
        // A's own end still takes it.
        core.unsubscribe(a).unwrap();
        core.handle_frame(&unsubscribed(
            0,
            vec![table_update("hostile", list_rows(&[hrow(1, "a")]), empty())],
        ));
        assert_eq!(hostile_len(&core), 0);
    }

    /// The same after a reconnect: B's re-apply is refused during the resync, and the answer to
    /// its unsubscribe does not take row 1 from A.
    #[test]
    fn a_set_refused_during_a_resync_leaves_a_live_sets_rows() {
        let _turn = turn();
        let mut core = core();
        core.set_max_cache_bytes(16 * 1024);
        let a = core
            .subscribe(["SELECT * FROM hostile WHERE score = 1"])
            .unwrap();
        core.subscribe(["SELECT * FROM hostile"]).unwrap();
        sent(&mut core);
        let one = || list_rows(&[hrow(1, "a")]);
        core.handle_frame(&applied(0, vec![table_update("hostile", empty(), one())]));
        core.handle_frame(&applied(1, vec![table_update("hostile", empty(), one())]));
        drain(&mut core);
        core.connection_lost();
        core.handle_frame(&hostile::identity(ME));
        assert_eq!(sent(&mut core).len(), 2, "both sets sent again");
        core.handle_frame(&applied(0, vec![table_update("hostile", empty(), one())]));
        let mut b_rows = vec![hrow(1, "a")];
        b_rows.extend((2..200).map(|i| hrow(i, "b")));
        core.handle_frame(&applied(
            1,
            vec![table_update("hostile", empty(), list_rows(&b_rows))],
        ));
        drain(&mut core);
        assert_eq!(sent(&mut core).len(), 1, "B is unsubscribed");
        assert_eq!(hostile_len(&core), 1);
        core.handle_frame(&unsubscribed(
            1,
            vec![table_update("hostile", list_rows(&b_rows), empty())],
        ));
        drain(&mut core);
        assert_eq!(hostile_len(&core), 1, "A's row 1 was taken");
        assert_eq!(
            core.subscription_state(a),
            Some(stdb_client::SubscriptionState::Applied)
        );
    }

    /// A set the app already ended is not unsubscribed twice when its rows are refused.
    #[test]
    fn a_refused_set_being_ended_is_not_unsubscribed_again() {
        let _turn = turn();
        let mut core = core();
        let sub = core.subscribe(["SELECT * FROM hostile"]).unwrap();
        sent(&mut core);
        core.unsubscribe(sub).unwrap();
        assert_eq!(sent(&mut core).len(), 1);
        core.handle_frame(&applied(
            0,
            vec![table_update(
                "hostile",
                empty(),
                list_rows(&[hrow(1, "a"), hrow(1, "b")]),
            )],
        ));
        drain(&mut core);
        assert_eq!(sent(&mut core).len(), 0);
        assert_eq!(hostile_len(&core), 0);
    }

    /// Rows far larger decoded than encoded (`Vec<Option<u128>>`: a `None` is 1 byte, 32
    /// decoded) are charged what they take: the cache stays within `max_cache_bytes` (80 rows
    /// used to be charged 8 MB and keep 132 MB).
    #[test]
    fn rows_larger_decoded_than_encoded_stay_within_the_cache_limit() {
        let _turn = turn();
        const LIMIT: usize = 8 * MIB;
        let mut core = core();
        core.set_max_cache_bytes(LIMIT);
        let before = heap_meter::live();
        let mut refused = false;
        for next in (0..400u64).step_by(4) {
            let rows: Vec<Vec<u8>> = (next..next + 4)
                .map(|id| {
                    let items = vec![None; 50_000];
                    stdb_client::bsatn::to_vec(&Fat { id, items }).unwrap()
                })
                .collect();
            let frame = committed(vec![table_update("fat", empty(), list_rows(&rows))]);
            drop(rows);
            core.handle_frame(&frame);
            drop(frame);
            if frame_error(&drain(&mut core)).is_some() {
                refused = true;
                break;
            }
        }
        let table = core.table::<Fat>().unwrap();
        let kept = heap_meter::live().saturating_sub(before);
        eprintln!(
            "fat rows: {} kept in {kept} bytes, charged {}, limit {LIMIT}",
            table.len(),
            table.charged_bytes()
        );
        assert!(refused && !table.is_empty(), "{} rows", table.len());
        assert!(kept <= table.charged_bytes(), "kept {kept}");
        assert!(kept <= LIMIT, "kept {kept}");
    }

    /// One frame of such a row (3 MiB of `None`s, 96 MiB decoded) takes at most the decoding
    /// bound plus what the row is charged, and keeps at most that charge.
    #[test]
    fn one_row_larger_decoded_than_encoded_takes_at_most_its_charge() {
        let _turn = turn();
        let mut core = core();
        let items = vec![None; 3 * MIB];
        let row = stdb_client::bsatn::to_vec(&Fat { id: 1, items }).unwrap();
        let frame = committed(vec![table_update("fat", empty(), list_rows(&[row]))]);
        let before = heap_meter::live();
        heap_meter::reset_peak();
        core.handle_frame(&frame);
        let events = drain(&mut core);
        let peak = heap_meter::peak().saturating_sub(before);
        let charged = core.table::<Fat>().unwrap().charged_bytes();
        let bound = MULTIPLE * frame.len() + SLACK + charged;
        eprintln!(
            "fat frame {} bytes: peak {peak}, charged {charged}",
            frame.len()
        );
        assert!(frame_error(&events).is_none(), "{events:?}");
        assert!(peak <= bound, "peak {peak}, bound {bound}");
        drop(events);
        let kept = heap_meter::live().saturating_sub(before);
        assert!(kept <= charged, "kept {kept}, charged {charged}");
        // Refused with a cache too small for it, having decoded nothing.
        let mut core = self::core();
        core.set_max_cache_bytes(charged / 2);
        let before = heap_meter::live();
        heap_meter::reset_peak();
        core.handle_frame(&frame);
        let events = drain(&mut core);
        let peak = heap_meter::peak().saturating_sub(before);
        assert!(
            matches!(
                frame_error(&events),
                Some(FrameError::Limit { what: "rows", .. })
            ),
            "{events:?}"
        );
        assert!(peak <= MULTIPLE * frame.len() + SLACK, "peak {peak}");
    }

    /// Deletes are decoded (for their key) one at a time, each dropped before the next, and
    /// only when they may be a cached row: no longer than the longest row held. Twenty deletes
    /// of rows 32 times larger decoded than encoded take one of them on top of the decoding
    /// bound, and a delete longer than every cached row is not decoded at all.
    #[test]
    fn deletes_are_decoded_one_at_a_time_and_only_when_they_may_be_cached() {
        let _turn = turn();
        let fat = |id: u64, items: usize| {
            let items = vec![None; items];
            stdb_client::bsatn::to_vec(&Fat { id, items }).unwrap()
        };
        let mut core = core();
        let cached = list_rows(&[fat(0, 100_000)]);
        core.handle_frame(&committed(vec![table_update("fat", empty(), cached)]));
        assert!(frame_error(&drain(&mut core)).is_none());
        let charged = core.table::<Fat>().unwrap().charged_bytes();
        let peak_of = |core: &mut ClientCore, deletes: Vec<Vec<u8>>| {
            let frame = committed(vec![table_update("fat", list_rows(&deletes), empty())]);
            drop(deletes);
            let before = heap_meter::live();
            heap_meter::reset_peak();
            core.handle_frame(&frame);
            let events = drain(core);
            assert!(frame_error(&events).is_none(), "{events:?}");
            (heap_meter::peak().saturating_sub(before), frame.len())
        };
        let (peak, len) = peak_of(&mut core, (1..=20).map(|id| fat(id, 100_000)).collect());
        eprintln!("fat deletes: frame {len} bytes, peak {peak}, one row charged {charged}");
        let bound = MULTIPLE * len + SLACK + charged;
        assert!(peak <= bound, "peak {peak}, bound {bound}");
        let (peak, len) = peak_of(&mut core, vec![fat(1, 3 * MIB)]);
        eprintln!("a long fat delete: frame {len} bytes, peak {peak}");
        let bound = MULTIPLE * len + SLACK;
        assert!(peak <= bound, "peak {peak}, bound {bound}");
        assert_eq!(core.table::<Fat>().map(|t| t.len()), Some(1));
    }

    /// A million deletes of rows not cached, against a table holding one row: each is decoded
    /// for its key and dropped, and none takes an entry in the update's maps (each took about
    /// 83 bytes: a 32 MiB frame of them peaked at about 350 MB).
    #[test]
    fn unknown_deletes_take_no_memory_per_row() {
        let _turn = turn();
        const N: usize = 1_000_000;
        let mut core = core();
        let one = list_fixed(8, tiny_rows(u64::from(u32::MAX), 1));
        core.handle_frame(&committed(vec![table_update("tiny", empty(), one)]));
        assert!(frame_error(&drain(&mut core)).is_none());
        let frame = committed(vec![table_update(
            "tiny",
            list_fixed(8, tiny_rows(0, N)),
            empty(),
        )]);
        let before = heap_meter::live();
        heap_meter::reset_peak();
        core.handle_frame(&frame);
        let events = drain(&mut core);
        let peak = heap_meter::peak().saturating_sub(before);
        eprintln!("unknown deletes: frame {} bytes, peak {peak}", frame.len());
        assert!(frame_error(&events).is_none(), "{events:?}");
        assert_eq!((rows_changed(&events), tiny_len(&core)), (0, 1));
        let bound = MULTIPLE * frame.len() + SLACK;
        assert!(peak <= bound, "peak {peak}, bound {bound}");
    }

    /// Deleting and inserting again 600 000 cached rows changes nothing and reserves no change
    /// slots for them (a `Vec` with room for every row used to be reserved: 40 bytes each).
    #[test]
    fn churn_of_cached_rows_takes_no_change_slots() {
        let _turn = turn();
        const N: usize = 600_000;
        let mut core = core();
        for first in (0..N).step_by(100_000) {
            let rows = list_fixed(8, tiny_rows(first as u64, 100_000));
            core.handle_frame(&committed(vec![table_update("tiny", empty(), rows)]));
            assert!(frame_error(&drain(&mut core)).is_none());
        }
        let frame = committed(vec![table_update(
            "tiny",
            list_fixed(8, tiny_rows(0, N)),
            list_fixed(8, tiny_rows(0, N)),
        )]);
        let before = heap_meter::live();
        heap_meter::reset_peak();
        core.handle_frame(&frame);
        let events = drain(&mut core);
        let peak = heap_meter::peak().saturating_sub(before);
        eprintln!("churn: frame {} bytes, peak {peak}", frame.len());
        assert!(frame_error(&events).is_none(), "{events:?}");
        assert_eq!((rows_changed(&events), tiny_len(&core)), (0, N));
        // The decoding bound, plus the update's maps: about 100 bytes per row listed (the
        // change slots would have been 48 MB more).
        let bound = MULTIPLE * frame.len() + SLACK + 96 * N;
        assert!(peak <= bound, "peak {peak}, bound {bound}");
    }

    /// Beside another table, an update is checked first and then applied with no budget left
    /// to count (`room.cache = usize::MAX`): the one-pass fill still reserves no more rows than
    /// `max_cache_bytes` could charge, and gives back what repeated rows left unused. One
    /// `Tiny` row listed 3 million times (a 24 MB frame, about 24 KB gzipped) is one row (it
    /// took about 4 million map slots, kept, and 3 million change slots before).
    #[test]
    fn a_row_repeated_beside_another_table_takes_no_slot_per_copy() {
        let _turn = turn();
        const N: usize = 3_000_000;
        let mut core = core();
        let frame = committed(vec![
            table_update("tiny", empty(), list_fixed(8, vec![0; 8 * N])),
            table_update("hostile", empty(), list_rows(&[hrow(1, "a")])),
        ]);
        let before = heap_meter::live();
        heap_meter::reset_peak();
        core.handle_frame(&frame);
        let events = drain(&mut core);
        let peak = heap_meter::peak().saturating_sub(before);
        assert!(frame_error(&events).is_none(), "{events:?}");
        assert_eq!((tiny_len(&core), hostile_len(&core)), (1, 1));
        drop(events);
        let kept = heap_meter::live().saturating_sub(before);
        eprintln!(
            "repeated beside another table: frame {} bytes, peak {peak}, kept {kept}",
            frame.len()
        );
        let bound = MULTIPLE * frame.len() + SLACK;
        assert!(peak <= bound, "peak {peak}, bound {bound}");
        assert!(kept <= SLACK, "kept {kept} bytes for two rows");
    }
}
