//! What to read and report next: pure functions of the cursor, the chain's head, the GMs read
//! and the settings.

use crate::database::ChainGm;
use std::ops::RangeInclusive;

/// Blocks this close to the head are read one at a time, by block hash: behind a load
/// balancer the node answering `eth_getLogs` may lag the one that answered `eth_blockNumber`,
/// and a lagging node answers an empty list for blocks it does not have yet. A block asked for
/// by its hash cannot be answered for by a node without it (EIP-234). Further back, every
/// healthy node has the blocks, and ranges are read by number.
pub const NEAR_HEAD: u64 = 64;

/// A place on a chain: every log before it (in block, then log index order) comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The block.
    pub block: u64,
    /// The log index in the block.
    pub log_index: u32,
}

impl Position {
    /// The start of `block`.
    pub fn block_start(block: u64) -> Self {
        Self {
            block,
            log_index: 0,
        }
    }

    /// The position right after the log at `block`, `log_index`.
    pub fn after(block: u64, log_index: u32) -> Self {
        match log_index.checked_add(1) {
            Some(next) => Self {
                block,
                log_index: next,
            },
            // No log can follow the last index: the block is done.
            None => Self::block_start(block.saturating_add(1)),
        }
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "block {} log {}", self.block, self.log_index)
    }
}

/// The next block range to read, or `None` when every block old enough is reported.
///
/// `cursor` is the first block not wholly reported; `head` the newest block; a block is old
/// enough once `confirmations` blocks are on top of it (a GM in block `b` is reported when
/// `head >= b + confirmations`), so reorganisations shallower than that never reach the
/// database. At most `window` blocks (at least 1) are read at once, and blocks within
/// [`NEAR_HEAD`] of the head one at a time.
pub fn next_range(
    cursor: u64,
    head: u64,
    confirmations: u64,
    window: u64,
) -> Option<RangeInclusive<u64>> {
    let safe = head.checked_sub(confirmations)?;
    if cursor > safe {
        return None;
    }
    let mut last = cursor.saturating_add(window.max(1) - 1).min(safe);
    let near = head.saturating_sub(NEAR_HEAD);
    if last > near {
        // Up to the near-head blocks by number, then those one at a time.
        last = if cursor > near { cursor } else { near };
    }
    Some(cursor..=last)
}

/// One `report_chain_gms` call: the GMs from `from` up to, not including, `next`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Where it starts (the cursor).
    pub from: Position,
    /// Where it leaves the cursor.
    pub next: Position,
    /// Its GMs, in order.
    pub gms: Vec<ChainGm>,
}

/// The batch to report from `cursor`, given every GM read for blocks `cursor.block..=last`
/// (in order): the GMs at or after the cursor, at most `max_gms` of them. When they all fit,
/// the batch ends after `last`; otherwise right after the last GM it carries — in the middle
/// of a block if need be, so a block with more GMs than one batch may carry is reported over
/// several.
pub fn batch(cursor: Position, last: u64, gms: Vec<ChainGm>, max_gms: usize) -> Batch {
    let mut gms: Vec<ChainGm> = gms
        .into_iter()
        .filter(|gm| position_of(gm) >= cursor)
        .collect();
    let next = if gms.len() > max_gms.max(1) {
        gms.truncate(max_gms.max(1));
        gms.last()
            .map_or(cursor, |gm| Position::after(gm.block_number, gm.log_index))
    } else {
        Position::block_start(last.saturating_add(1))
    };
    Batch {
        from: cursor,
        next,
        gms,
    }
}

fn position_of(gm: &ChainGm) -> Position {
    Position {
        block: gm.block_number,
        log_index: gm.log_index,
    }
}

/// How many blocks to read at once: halved (down to 1) when a read fails — providers refuse
/// ranges or answers that are too large — and doubled back (up to the configured most) after
/// each success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    most: u64,
    now: u64,
}

impl Window {
    /// A window of `most` blocks (at least 1).
    pub fn new(most: u64) -> Self {
        let most = most.max(1);
        Self { most, now: most }
    }

    /// Blocks to read now.
    pub fn blocks(&self) -> u64 {
        self.now
    }

    /// A read failed: half as many next time.
    pub fn shrink(&mut self) {
        self.now = (self.now / 2).max(1);
    }

    /// A read worked: twice as many next time, up to the most.
    pub fn grow(&mut self) {
        self.now = self.now.saturating_mul(2).min(self.most);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gm(block: u64, log_index: u32) -> ChainGm {
        ChainGm {
            address: format!("0x{:040x}", u64::from(log_index) + block * 1000),
            day: 20_000,
            tx_hash: format!("0x{block:032x}{log_index:032x}"),
            block_number: block,
            log_index,
        }
    }

    fn at(block: u64, log_index: u32) -> Position {
        Position { block, log_index }
    }

    const FAR: u64 = 1_000_000;

    #[test]
    fn reads_from_the_cursor_up_to_the_confirmed_head() {
        assert_eq!(next_range(0, 0, 0, 100), Some(0..=0));
        assert_eq!(
            next_range(5, 10, 0, 100),
            Some(5..=5),
            "near the head: one block"
        );
        assert_eq!(
            next_range(FAR - 100, FAR, 0, 100),
            Some(FAR - 100..=FAR - 64)
        );
        assert_eq!(next_range(FAR - 10, FAR, 3, 100), Some(FAR - 10..=FAR - 10));
        assert_eq!(next_range(FAR - 3, FAR, 3, 100), Some(FAR - 3..=FAR - 3));
    }

    #[test]
    fn nothing_to_read_when_caught_up_or_the_chain_is_too_short() {
        assert_eq!(next_range(11, 10, 0, 100), None);
        assert_eq!(next_range(6, 10, 5, 100), None);
        assert_eq!(next_range(0, 2, 3, 100), None, "head below the depth");
        assert_eq!(
            next_range(100, 10, 0, 100),
            None,
            "a cursor past the head waits"
        );
    }

    #[test]
    fn at_most_window_blocks_at_once() {
        assert_eq!(next_range(0, FAR, 0, 1000), Some(0..=999));
        assert_eq!(next_range(1000, 1500, 0, 1000), Some(1000..=1436));
        assert_eq!(next_range(7, FAR, 0, 1), Some(7..=7));
        assert_eq!(next_range(7, FAR, 0, 0), Some(7..=7), "0 reads one block");
        assert_eq!(
            next_range(u64::MAX - 1, u64::MAX, 0, 1000),
            Some(u64::MAX - 1..=u64::MAX - 1),
            "no overflow at the top"
        );
    }

    #[test]
    fn near_the_head_blocks_are_read_one_at_a_time() {
        // Every block within NEAR_HEAD of the head: a range of one, whatever the window.
        for cursor in FAR - NEAR_HEAD + 1..=FAR {
            assert_eq!(next_range(cursor, FAR, 0, 1000), Some(cursor..=cursor));
        }
        // A range reaching into them stops before them.
        assert_eq!(
            next_range(FAR - 500, FAR, 0, 1000),
            Some(FAR - 500..=FAR - NEAR_HEAD)
        );
    }

    #[test]
    fn a_batch_that_fits_ends_with_its_range() {
        let b = batch(at(10, 0), 20, vec![], 3);
        assert_eq!((b.from, b.next, b.gms.len()), (at(10, 0), at(21, 0), 0));
        let b = batch(at(10, 0), 20, vec![gm(11, 0), gm(12, 4), gm(12, 7)], 3);
        assert_eq!((b.next, b.gms.len()), (at(21, 0), 3));
    }

    #[test]
    fn a_block_with_too_many_gms_spans_several_batches() {
        // Max 3, and block 10 alone has 7 GMs (logs 0, 2, 4, …): batches end mid-block.
        let all: Vec<ChainGm> = (0..7).map(|i| gm(10, i * 2)).chain([gm(11, 0)]).collect();
        let first = batch(at(10, 0), 11, all.clone(), 3);
        assert_eq!(first.gms, all[..3]);
        assert_eq!(first.next, at(10, 5), "right after log 4");
        // Read again from the cursor: the GMs before it are left out.
        let second = batch(first.next, 11, all.clone(), 3);
        assert_eq!(second.from, at(10, 5));
        assert_eq!(second.gms, all[3..6]);
        assert_eq!(second.next, at(10, 11));
        let third = batch(second.next, 11, all.clone(), 3);
        assert_eq!(third.gms, all[6..]);
        assert_eq!(third.next, at(12, 0), "the rest fits: past the range");
        // Every GM once, in order, across the batches.
        let reported: Vec<ChainGm> = [first.gms, second.gms, third.gms].concat();
        assert_eq!(reported, all);
    }

    #[test]
    fn a_batch_never_ends_before_it_starts() {
        // The last possible log index of a block: the batch ends at the next block.
        let b = batch(at(5, 0), 9, vec![gm(5, u32::MAX), gm(6, 0)], 1);
        assert_eq!(b.next, at(6, 0));
        assert!(b.next > b.from);
        // At least one GM per batch even with a max of 0.
        let b = batch(at(5, 0), 9, vec![gm(5, 1), gm(5, 2)], 0);
        assert_eq!((b.gms.len(), b.next), (1, at(5, 2)));
    }

    #[test]
    fn the_window_halves_on_failure_and_doubles_back() {
        let mut window = Window::new(1000);
        assert_eq!(window.blocks(), 1000);
        for expected in [500, 250, 125, 62, 31, 15, 7, 3, 1, 1] {
            window.shrink();
            assert_eq!(window.blocks(), expected);
        }
        for expected in [2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 1000] {
            window.grow();
            assert_eq!(window.blocks(), expected);
        }
        assert_eq!(Window::new(0).blocks(), 1);
    }
}
