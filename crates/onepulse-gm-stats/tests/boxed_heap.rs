//! A decoded row holds no more heap than its BSATN's contents and `Row::BOXED_HEAP`, which
//! is what the client cache charges it for besides its size, however a hostile server fills
//! the columns a row keeps in boxes.

use onepulse_gm_stats::GmStatsRow;
use stdb_client::{Row, Timestamp, bsatn, decode_row};

#[global_allocator]
static ALLOCATOR: heap_meter::Counting = heap_meter::Counting;

/// The module's row as the server sends it: every column of `GmStatsRow`, as strings.
fn module_row(key: &str, hash: Option<&str>, fid: Option<i64>, name: Option<&str>) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend(bsatn::to_vec(&key.to_owned()).unwrap());
    bytes.extend(bsatn::to_vec(&String::new()).unwrap());
    for int in [1, 2, 3, 4, 5_i32] {
        bytes.extend(bsatn::to_vec(&int).unwrap());
    }
    bytes.extend(bsatn::to_vec(&hash.map(str::to_owned)).unwrap());
    bytes.extend(bsatn::to_vec(&fid).unwrap());
    bytes.extend(bsatn::to_vec(&name.map(str::to_owned)).unwrap());
    bytes.extend(bsatn::to_vec(&name.map(str::to_owned)).unwrap());
    bytes.extend(bsatn::to_vec(&Timestamp::from_micros_since_unix_epoch(6)).unwrap());
    bytes
}

#[test]
fn rows_hold_at_most_their_contents_and_their_boxes() {
    // The smallest row: every string empty, every option empty.
    let smallest = module_row("", None, None, None).len();
    let hash = format!("0x{}", "ab".repeat(32));
    let cases = [
        ("nothing boxed", module_row("k", None, None, None)),
        ("a canonical hash", module_row("k", Some(&hash), None, None)),
        ("an empty hash", module_row("k", Some(""), None, None)),
        ("an fid alone", module_row("k", None, Some(0), None)),
        ("empty names", module_row("k", None, None, Some(""))),
        ("every box", module_row("k", Some(""), Some(0), Some(""))),
        (
            "a long hash",
            module_row("k", Some(&"f".repeat(500)), Some(1), Some("Ann")),
        ),
    ];
    for (what, bytes) in cases {
        const ROWS: usize = 1000;
        let mut rows: Vec<GmStatsRow> = Vec::with_capacity(ROWS);
        let before = heap_meter::live();
        for _ in 0..ROWS {
            rows.push(decode_row(&bytes).unwrap());
        }
        let per_row = heap_meter::live().saturating_sub(before) / ROWS;
        let charged = (bytes.len() - smallest) + GmStatsRow::BOXED_HEAP;
        assert!(
            per_row <= charged,
            "{what}: a row holds {per_row} heap bytes, charged {charged}"
        );
        drop(rows);
    }
}
