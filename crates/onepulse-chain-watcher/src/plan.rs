//! What to read next: pure functions of the cursor, the chain's head and the settings.

use std::ops::RangeInclusive;

/// The next block range to read and report, or `None` when every block old enough is reported.
///
/// `cursor` is the first block not yet reported; `head` the newest block; a block is old enough
/// once `confirmations` blocks are on top of it (a GM in block `b` is reported when
/// `head >= b + confirmations`), so reorganisations shallower than that never reach the
/// database. At most `max_blocks` blocks (at least 1) are read at once.
pub fn next_range(
    cursor: u64,
    head: u64,
    confirmations: u64,
    max_blocks: u64,
) -> Option<RangeInclusive<u64>> {
    let safe = head.checked_sub(confirmations)?;
    if cursor > safe {
        return None;
    }
    let last = cursor.saturating_add(max_blocks.max(1) - 1).min(safe);
    Some(cursor..=last)
}

/// Where a batch of GMs read for `range` must end so it carries at most `max_gms`: the range's
/// end when they fit, else the end of the last block whose GMs still fit (a block's GMs are
/// never split across batches). `blocks` are the GMs' block numbers in order. `None` when the
/// first block alone has more than `max_gms` GMs.
pub fn batch_end(range: &RangeInclusive<u64>, blocks: &[u64], max_gms: usize) -> Option<u64> {
    if blocks.len() <= max_gms {
        return Some(*range.end());
    }
    // The block of the first GM that does not fit: the batch ends before it, so it carries
    // the GMs of earlier blocks only (a prefix of at most `max_gms`).
    let first_left_out = *blocks.get(max_gms)?;
    (first_left_out > *range.start()).then(|| first_left_out - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_from_the_cursor_up_to_the_confirmed_head() {
        assert_eq!(next_range(0, 0, 0, 100), Some(0..=0));
        assert_eq!(next_range(5, 10, 0, 100), Some(5..=10));
        assert_eq!(next_range(5, 10, 3, 100), Some(5..=7));
        assert_eq!(next_range(5, 10, 5, 100), Some(5..=5));
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
    fn at_most_max_blocks_at_once() {
        assert_eq!(next_range(0, 10_000, 0, 1000), Some(0..=999));
        assert_eq!(next_range(1000, 1500, 0, 1000), Some(1000..=1500));
        assert_eq!(next_range(7, 100, 0, 1), Some(7..=7));
        assert_eq!(next_range(7, 100, 0, 0), Some(7..=7), "0 reads one block");
        assert_eq!(
            next_range(u64::MAX - 1, u64::MAX, 0, 1000),
            Some(u64::MAX - 1..=u64::MAX),
            "no overflow at the top"
        );
    }

    #[test]
    fn a_batch_that_fits_ends_with_its_range() {
        assert_eq!(batch_end(&(10..=20), &[], 3), Some(20));
        assert_eq!(batch_end(&(10..=20), &[11, 12, 12], 3), Some(20));
    }

    #[test]
    fn a_batch_too_big_ends_before_the_block_that_does_not_fit() {
        // Max 3: the 4th GM is in block 15, so the batch covers 10..=14 with three GMs.
        assert_eq!(batch_end(&(10..=20), &[11, 12, 13, 15, 16], 3), Some(14));
        // The 3rd and 4th GMs share block 13: the batch stops before block 13.
        assert_eq!(batch_end(&(10..=20), &[11, 12, 13, 13], 3), Some(12));
        // The first block alone has too many.
        assert_eq!(batch_end(&(10..=20), &[10, 10, 10, 10], 3), None);
        assert_eq!(batch_end(&(10..=20), &[11, 11, 11, 11], 3), Some(10));
    }
}
