//! Following one chain: the loop that reads GMs from the cursor to the confirmed head and
//! reports them, forever, retrying whatever fails without ever skipping a GM.

use crate::chain::{GmReader, ReadError};
use crate::config::{ChainWatch, Settings};
use crate::database::{Cursor, Database, Reported, jitter};
use crate::plan::{Position, Window, batch, next_range};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stdb_client::Backoff;

/// Tries of a block whose logs bloom filter may hold a `GM` the logs answer lacks, before the
/// answer is taken as the filter's false positive (see [`ReadError::BloomMiss`]).
const BLOOM_MISS_TRIES: u32 = 4;

/// How often a cursor past the chain's head is warned about.
const PAST_HEAD_WARNING_EVERY: Duration = Duration::from_secs(60);

/// Why a chain's watch ended: only a node serving another chain, found when it starts, or
/// a database connection that ended for good. Everything else is retried.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The node serves another chain.
    #[error(transparent)]
    Config(ReadError),
    /// The database connection ended for good (e.g. its token was refused).
    #[error("the database connection ended: {0}")]
    Database(String),
}

/// Retries after failures: the runtime's schedule (100 ms doubling, at most 4 s apart in the
/// first minute, then up to 30 s), reset by a success.
#[derive(Debug, Default)]
struct Retry {
    backoff: Backoff,
    failures: u32,
    since: Option<Instant>,
}

impl Retry {
    fn delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let since = *self.since.get_or_insert_with(Instant::now);
        self.backoff.delay(self.failures, since.elapsed(), jitter())
    }

    fn reset(&mut self) {
        self.failures = 0;
        self.since = None;
    }
}

/// Bloom misses ([`ReadError::BloomMiss`]) in a row at one block: after
/// [`BLOOM_MISS_TRIES`] of them the block's empty answer is taken as the filter's false
/// positive (a lagging backend catches up in that time; a false positive never goes away).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct BloomMisses {
    block: u64,
    tries: u32,
}

impl BloomMisses {
    /// A bloom miss at `block`.
    fn missed(&mut self, block: u64) {
        if self.block == block {
            self.tries = self.tries.saturating_add(1);
        } else {
            *self = Self { block, tries: 1 };
        }
    }

    /// Whether a range ending at `last` is read accepting a bloom miss.
    fn accept(&self, last: u64) -> bool {
        self.tries > 0 && self.block == last && self.tries >= BLOOM_MISS_TRIES
    }
}

/// Whether `cursor` is past the node's `head` (not merely caught up: the block after the head
/// is where a caught-up cursor waits).
fn past_head(cursor: Position, head: u64) -> bool {
    cursor.block > head.saturating_add(1)
}

/// Where to report from: the database's cursor, or this watcher's own when it is further
/// (its last commit, which the subscription may not show yet).
///
/// When the database's cursor is behind this watcher's, either the subscription lags or the
/// database lost commits (a crash): the watcher goes on from its own, and if the database
/// refuses that as a gap, it forgets its own and goes back to the database's. A database
/// without a cursor (never reported, or reset by the owner) means the start block.
pub fn resume_from(database: Cursor, own: Option<Position>, start_block: u64) -> Option<Position> {
    match database {
        Cursor::Unknown => None,
        Cursor::Absent => Some(Position::block_start(start_block)),
        Cursor::At(at) => Some(own.map_or(at, |own| own.max(at))),
    }
}

/// Follows `watch`'s chain and reports its GMs to `database`; ends only if the node serves
/// another chain when it starts, or if the database connection ends for good. No contract at
/// the address (a syncing node answers empty code) is retried with a warning.
pub async fn watch_chain(
    watch: ChainWatch,
    settings: Settings,
    database: Database,
) -> Result<(), WatchError> {
    let name = watch.chain.name();
    let reader = Arc::new(GmReader::new(
        &watch,
        settings.rpc_timeout,
        settings.max_answer_bytes,
    ));
    let mut retry = Retry::default();

    // The node must serve this chain and have the contract; wait for it to answer at all.
    loop {
        let check = Arc::clone(&reader);
        match blocking(move || check.check()).await {
            Ok(()) => break,
            Err(e) if e.is_fatal() => return Err(WatchError::Config(e)),
            Err(e) => {
                let delay = retry.delay();
                log::warn!("{e}; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
            }
        }
    }
    retry.reset();
    log::info!(
        "{name}: watching {} at {} ({} confirmations)",
        watch.contract,
        watch.rpc_url,
        settings.confirmations
    );

    let mut own: Option<Position> = None;
    let mut window = Window::new(settings.max_blocks);
    // The last block a bloom miss was seen at, and how many times in a row.
    let mut bloom_misses = BloomMisses::default();
    let mut warned_past_head: Option<Instant> = None;
    loop {
        let stored = database.cursor(watch.chain);
        if matches!(stored, Cursor::Absent) {
            own = None;
        }
        let Some(cursor) = resume_from(stored, own, watch.start_block) else {
            if let Some(reason) = database.closed_for_good() {
                return Err(WatchError::Database(reason));
            }
            // Reconnecting, or the subscription is being applied again: wait for news.
            database.status_change(Duration::from_millis(250)).await;
            continue;
        };
        let head_reader = Arc::clone(&reader);
        let head = match blocking(move || head_reader.head()).await {
            Ok(head) => head,
            Err(e) => {
                let delay = retry.delay();
                log::warn!("{e}; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                continue;
            }
        };
        let Some(range) = next_range(cursor.block, head, settings.confirmations, window.blocks())
        else {
            if past_head(cursor, head)
                && warned_past_head.is_none_or(|at| at.elapsed() >= PAST_HEAD_WARNING_EVERY)
            {
                warned_past_head = Some(Instant::now());
                log::warn!(
                    "{name}: the cursor ({cursor}) is past the node's head (block {head}): \
                     waiting for the chain to get there (a node that lags, or a cursor set \
                     too far)"
                );
            }
            retry.reset();
            tokio::time::sleep(settings.poll_interval).await;
            continue;
        };
        let range_reader = Arc::clone(&reader);
        let read_range = range.clone();
        let accept_bloom_miss = bloom_misses.accept(*range.end());
        let read = blocking(move || {
            if accept_bloom_miss {
                range_reader.read_accepting_bloom_miss(&read_range)
            } else {
                range_reader.read(&read_range)
            }
        })
        .await;
        let gms = match read {
            Ok(gms) => {
                if accept_bloom_miss {
                    log::warn!(
                        "{name}: block {}'s logs bloom may hold a GM, but {BLOOM_MISS_TRIES} \
                         answers had none: taken as the bloom filter's false positive",
                        range.end()
                    );
                }
                bloom_misses = BloomMisses::default();
                window.grow();
                gms
            }
            Err(e) => {
                if let ReadError::BloomMiss { block, .. } = e {
                    bloom_misses.missed(block);
                }
                let delay = retry.delay();
                // A refused or too large answer, or a node (behind a load balancer: the one
                // that answered the batch) without the range's end: fewer blocks next time.
                let shrunk = if matches!(e, ReadError::Logs { .. } | ReadError::NotYet { .. }) {
                    window.shrink();
                    format!(" (next at most {} blocks at once)", window.blocks())
                } else {
                    String::new()
                };
                log::warn!(
                    "reading blocks {}..={}: {e}; retrying in {delay:?}{shrunk}",
                    range.start(),
                    range.end()
                );
                tokio::time::sleep(delay).await;
                continue;
            }
        };
        let batch = batch(cursor, *range.end(), gms, settings.max_gms);
        let (from, next, count) = (batch.from, batch.next, batch.gms.len());
        let first = from == Position::block_start(watch.start_block);
        match database.report(watch.chain, batch, first).await {
            Reported::Committed => {
                retry.reset();
                own = Some(next);
                if count > 0 {
                    let plural = if count == 1 { "" } else { "s" };
                    log::info!("{name}: {from} up to {next}: {count} GM{plural} reported");
                } else {
                    log::debug!("{name}: {from} up to {next}: no GMs");
                }
            }
            Reported::Gap(message) => {
                // The database's cursor is behind this watcher's, or gone: it lost commits (a
                // crash). Go back to the database's cursor (or the start block) from there.
                log::warn!("{name}: {message}; resuming from the database's cursor");
                own = None;
                database.status_change(Duration::from_millis(200)).await;
            }
            Reported::Refused(message) => {
                // By design this holds the chain back (retried with backoff) until the cause
                // is fixed: skipping the batch would lose its GMs.
                let delay = retry.delay();
                let hint = if message.contains("not a reporter") {
                    format!(
                        " (the module owner must call add_reporter for identity {})",
                        database.identity_hex()
                    )
                } else {
                    String::new()
                };
                log::error!(
                    "{name}: {from} up to {next} refused: {message}{hint}; retrying in {delay:?}"
                );
                tokio::time::sleep(delay).await;
            }
            Reported::Unknown(message) => {
                let delay = retry.delay();
                log::warn!(
                    "{name}: {from} up to {next}: {message}; reporting them again in {delay:?}"
                );
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Runs a blocking JSON-RPC exchange off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ReadError> + Send + 'static,
) -> Result<T, ReadError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) => Err(ReadError::BadAnswer {
            chain: "watcher",
            detail: format!("the JSON-RPC task failed: {e}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(block: u64, log_index: u32) -> Position {
        Position { block, log_index }
    }

    #[test]
    fn a_bloom_miss_is_accepted_after_some_tries_at_the_same_block() {
        let mut misses = BloomMisses::default();
        assert!(!misses.accept(0), "nothing missed yet, even at block 0");
        for _ in 1..BLOOM_MISS_TRIES {
            misses.missed(7);
            assert!(!misses.accept(7));
        }
        misses.missed(7);
        assert!(misses.accept(7));
        assert!(!misses.accept(8), "another range: not accepted");
        // A miss at another block starts counting again.
        misses.missed(9);
        assert!(!misses.accept(9));
        assert!(!misses.accept(7));
    }

    #[test]
    fn only_a_cursor_beyond_the_block_after_the_head_is_past_it() {
        assert!(!past_head(at(10, 0), 10));
        assert!(!past_head(at(11, 0), 10), "caught up");
        assert!(past_head(at(12, 0), 10));
        assert!(!past_head(at(u64::MAX, 0), u64::MAX), "no overflow");
    }

    #[test]
    fn resumes_from_the_further_of_the_database_and_its_own_commit() {
        // Nothing known yet: wait.
        assert_eq!(resume_from(Cursor::Unknown, Some(at(9, 0)), 1), None);
        // No cursor in the database: the start block, whatever this watcher did before.
        assert_eq!(resume_from(Cursor::Absent, None, 7), Some(at(7, 0)));
        assert_eq!(
            resume_from(Cursor::Absent, Some(at(50, 3)), 7),
            Some(at(7, 0))
        );
        // The subscription has not caught up with this watcher's commit (or the database lost
        // it: the module then answers with a gap and the watcher forgets its own).
        assert_eq!(
            resume_from(Cursor::At(at(10, 0)), Some(at(12, 4)), 1),
            Some(at(12, 4))
        );
        // Another watcher got further.
        assert_eq!(
            resume_from(Cursor::At(at(20, 0)), Some(at(12, 4)), 1),
            Some(at(20, 0))
        );
        assert_eq!(resume_from(Cursor::At(at(3, 2)), None, 1), Some(at(3, 2)));
    }
}
