//! Following one chain: the loop that reads GMs from the cursor to the confirmed head and
//! reports them, forever, retrying whatever fails without ever skipping a block.

use crate::chain::{GmReader, ReadError};
use crate::config::{ChainWatch, Settings};
use crate::database::{Cursor, Database, MAX_CHAIN_GMS, Reported, jitter};
use crate::plan::{batch_end, next_range};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stdb_client::Backoff;

/// Why a chain's watch ended (only a configuration that cannot work ends it).
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The node serves another chain, or the contract is not there.
    #[error(transparent)]
    Config(ReadError),
    /// The database connection ended for good (e.g. its token was refused).
    #[error("the database connection ended: {0}")]
    Database(String),
    /// More GMs in one block than one batch may carry.
    #[error("{chain}: block {block} alone has more than {MAX_CHAIN_GMS} GMs")]
    BlockTooFull {
        /// The chain.
        chain: &'static str,
        /// The block.
        block: u64,
    },
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

/// Follows `watch`'s chain and reports its GMs to `database` until a configuration error.
pub async fn watch_chain(
    watch: ChainWatch,
    settings: Settings,
    database: Database,
) -> Result<(), WatchError> {
    let name = watch.chain.name();
    let reader = Arc::new(GmReader::new(&watch, settings.rpc_timeout));
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

    loop {
        let cursor = match database.cursor(watch.chain) {
            Cursor::Unknown => {
                if let Some(reason) = database.closed_for_good() {
                    return Err(WatchError::Database(reason));
                }
                // Reconnecting, or the subscription is being applied again: wait for news.
                database.status_change(Duration::from_millis(250)).await;
                continue;
            }
            Cursor::Absent => watch.start_block,
            Cursor::At(next) => next,
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
        let Some(range) = next_range(cursor, head, settings.confirmations, settings.max_blocks)
        else {
            retry.reset();
            tokio::time::sleep(settings.poll_interval).await;
            continue;
        };
        let range_reader = Arc::clone(&reader);
        let read_range = range.clone();
        let mut gms = match blocking(move || range_reader.read(&read_range)).await {
            Ok(gms) => gms,
            Err(e) => {
                let delay = retry.delay();
                log::warn!(
                    "reading blocks {}..={}: {e}; retrying in {delay:?}",
                    range.start(),
                    range.end()
                );
                tokio::time::sleep(delay).await;
                continue;
            }
        };
        let blocks: Vec<u64> = gms.iter().map(|gm| gm.block_number).collect();
        let Some(end) = batch_end(&range, &blocks, MAX_CHAIN_GMS) else {
            return Err(WatchError::BlockTooFull {
                chain: name,
                block: *range.start(),
            });
        };
        gms.retain(|gm| gm.block_number <= end);
        let count = gms.len();
        let from = *range.start();
        match database.report(watch.chain, from, end, gms).await {
            Reported::Committed => {
                retry.reset();
                if count > 0 {
                    let plural = if count == 1 { "" } else { "s" };
                    log::info!("{name}: blocks {from}..={end}: {count} GM{plural} reported");
                } else {
                    log::debug!("{name}: blocks {from}..={end}: no GMs");
                }
            }
            Reported::Gap(message) => {
                // The database's cursor is behind what this watcher saw: it lost commits (a
                // crash) or the view was stale. Read the cursor again and go on from it.
                log::warn!("{name}: {message}; resuming from the database's cursor");
                database.status_change(Duration::from_millis(200)).await;
            }
            Reported::Refused(message) => {
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
                    "{name}: blocks {from}..={end} refused: {message}{hint}; retrying in {delay:?}"
                );
                tokio::time::sleep(delay).await;
            }
            Reported::Unknown(message) => {
                let delay = retry.delay();
                log::warn!(
                    "{name}: blocks {from}..={end}: {message}; reporting them again in {delay:?}"
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
