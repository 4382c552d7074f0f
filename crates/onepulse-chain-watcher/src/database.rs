//! The database side: the `chain_position` and `chain_cursor` tables kept live by a
//! subscription, and batches reported with `report_chain_gms`, over the runtime's native
//! transport.

use crate::plan::{Batch, Position};
use onepulse_domain::Chain;
use std::time::{Duration, Instant};
use stdb_client::native::NativeConnection;
use stdb_client::{
    Backoff, ClientCore, ConnectOptions, ConnectionStatus, ReducerOutcome, Row, SpacetimeType,
    SubscriptionId, SubscriptionState, Timestamp,
};

/// The module's table of cursors by whole blocks (the layout from before log indexes).
pub const CURSOR_TABLE: &str = "chain_cursor";
/// The module's table of exact cursors (block and log index).
pub const POSITION_TABLE: &str = "chain_position";
/// The module's batch reducer.
pub const REPORT_CHAIN_GMS: &str = "report_chain_gms";
/// Most GMs the module accepts in one batch (its `MAX_CHAIN_GMS`).
pub const MAX_CHAIN_GMS: usize = 5_000;

/// A row of `chain_cursor`, as the module declares it (same fields, same order).
#[derive(SpacetimeType, Debug, Clone, PartialEq, Eq)]
#[sats(crate = stdb_client::spacetimedb_lib)]
pub struct ChainCursorRow {
    /// The chain id.
    pub chain_id: i32,
    /// The first block not yet wholly reported.
    pub next_block: u64,
    /// When it last moved.
    pub updated_at: Timestamp,
}

impl Row for ChainCursorRow {
    const TABLE: &'static str = CURSOR_TABLE;
    type Key = i32;
    fn primary_key(&self) -> &i32 {
        &self.chain_id
    }
}

/// A row of `chain_position`, as the module declares it (same fields, same order).
#[derive(SpacetimeType, Debug, Clone, PartialEq, Eq)]
#[sats(crate = stdb_client::spacetimedb_lib)]
pub struct ChainPositionRow {
    /// The chain id.
    pub chain_id: i32,
    /// The first block not yet wholly reported.
    pub next_block: u64,
    /// The first log of `next_block` not yet reported.
    pub next_log_index: u32,
    /// GMs the position has moved past (each GM of the chain once).
    pub gm_count: u64,
    /// When it last moved.
    pub updated_at: Timestamp,
}

impl Row for ChainPositionRow {
    const TABLE: &'static str = POSITION_TABLE;
    type Key = i32;
    fn primary_key(&self) -> &i32 {
        &self.chain_id
    }
}

/// One GM of a batch, as the module's `ChainGm` (same fields, same order).
#[derive(SpacetimeType, Debug, Clone, PartialEq, Eq)]
#[sats(crate = stdb_client::spacetimedb_lib)]
pub struct ChainGm {
    /// The wallet, `0x` + 40 lowercase hex digits.
    pub address: String,
    /// The UTC day of the GM's block (its timestamp / 86 400).
    pub day: i32,
    /// The transaction, `0x` + 64 lowercase hex digits.
    pub tx_hash: String,
    /// The GM's block.
    pub block_number: u64,
    /// The GM's log index in its block.
    pub log_index: u32,
}

/// What the database says about a chain's cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// Not known right now (disconnected, or the subscription is being applied again).
    Unknown,
    /// The chain has no cursor yet: start from the configured block.
    Absent,
    /// Every GM before this position is reported.
    At(Position),
}

/// How a batch report ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reported {
    /// Committed: the GMs and the cursor move are in the database.
    Committed,
    /// Refused because the cursor is behind the batch (the database lost commits, or this
    /// watcher's view was stale): read the cursor again and start from it.
    Gap(String),
    /// Refused for another reason (e.g. not a reporter), with the module's message.
    Refused(String),
    /// No answer (the connection dropped): the batch may or may not have committed.
    Unknown(String),
}

/// A reporter's connection to the database, subscribed to the cursors.
#[derive(Debug, Clone)]
pub struct Database {
    connection: NativeConnection,
    subscription: SubscriptionId,
}

impl Database {
    /// Connects as the holder of `options.token` and subscribes to the cursors, retrying (on
    /// the runtime's backoff schedule) until it works; reconnects by itself afterwards.
    pub async fn connect(options: &ConnectOptions) -> Self {
        let backoff = Backoff::default();
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            attempt = attempt.saturating_add(1);
            let register = |core: &mut ClientCore| {
                core.register_table::<ChainCursorRow>();
                core.register_table::<ChainPositionRow>();
            };
            match NativeConnection::connect(options, register).await {
                Ok((connection, _events)) => {
                    match connection
                        .subscribe([
                            format!("SELECT * FROM {CURSOR_TABLE}"),
                            format!("SELECT * FROM {POSITION_TABLE}"),
                        ])
                        .await
                    {
                        Ok(subscription) => {
                            log::info!(
                                "connected to {} / {} as {}",
                                options.uri,
                                options.database,
                                connection.identity().to_hex()
                            );
                            return Self {
                                connection,
                                subscription,
                            };
                        }
                        Err(e) => {
                            log::warn!("subscribing to the cursors failed: {e}");
                            connection.close();
                        }
                    }
                }
                Err(e) => log::warn!(
                    "connecting to {} / {} failed (attempt {attempt}): {e}",
                    options.uri,
                    options.database
                ),
            }
            tokio::time::sleep(backoff.delay(attempt, started.elapsed(), jitter())).await;
        }
    }

    /// The identity reports are made as, in hex.
    pub fn identity_hex(&self) -> String {
        self.connection.identity().to_hex().to_string()
    }

    /// `chain`'s cursor as the database has it now.
    pub fn cursor(&self, chain: Chain) -> Cursor {
        let live = self.connection.inspect(|core| {
            core.is_online()
                && core.subscription_state(self.subscription) == Some(SubscriptionState::Applied)
        });
        if !live {
            return Cursor::Unknown;
        }
        // The exact position; else, for a database from before positions, the block cursor.
        let position = self
            .connection
            .with_table::<ChainPositionRow, _>(|table| table.get(&chain.id()))
            .map(|row| {
                row.map(|row| Position {
                    block: row.next_block,
                    log_index: row.next_log_index,
                })
            });
        let block = self
            .connection
            .with_table::<ChainCursorRow, _>(|table| table.get(&chain.id()))
            .map(|row| row.map(|row| Position::block_start(row.next_block)));
        match (position, block) {
            (Some(Some(at)), _) | (Some(None), Some(Some(at))) => Cursor::At(at),
            (Some(None), Some(None)) => Cursor::Absent,
            _ => Cursor::Unknown,
        }
    }

    /// Reports `batch` (every GM of `chain` from `batch.from` up to `batch.next`, in order)
    /// and moves the cursor to `batch.next`, in one transaction. `first` marks a batch that
    /// starts at the chain's configured start block: only such a batch may be a chain's first
    /// (the module refuses any other as a gap when it has no cursor for the chain).
    pub async fn report(&self, chain: Chain, batch: Batch, first: bool) -> Reported {
        let args = (
            chain.id(),
            batch.from.block,
            batch.from.log_index,
            batch.next.block,
            batch.next.log_index,
            batch.gms,
            first,
        );
        match self.connection.call_reducer(REPORT_CHAIN_GMS, &args).await {
            Ok(ReducerOutcome::Committed) => Reported::Committed,
            Ok(ReducerOutcome::Failed(message)) if message.starts_with("gap:") => {
                Reported::Gap(message)
            }
            Ok(ReducerOutcome::Failed(message)) => Reported::Refused(message),
            Ok(ReducerOutcome::OutOfEnergy) => Reported::Refused("out of energy".into()),
            Ok(ReducerOutcome::ConnectionLost) => {
                Reported::Unknown("the connection dropped before the answer".into())
            }
            // The call may or may not have run: report again (a replay changes nothing).
            Ok(ReducerOutcome::TimedOut) => Reported::Unknown("no answer in time".into()),
            Err(e) => Reported::Unknown(e.to_string()),
        }
    }

    /// Why the connection ended for good (it no longer reconnects), if it did.
    pub fn closed_for_good(&self) -> Option<String> {
        match self.connection.status() {
            ConnectionStatus::Disconnected(reason) => Some(reason),
            _ => None,
        }
    }

    /// Waits up to `timeout` for the connection's status to change (to sleep while the
    /// database is away instead of spinning).
    pub async fn status_change(&self, timeout: Duration) {
        let mut status = self.connection.status_changes();
        // A timeout or a closed channel both just end the wait.
        let _ = tokio::time::timeout(timeout, status.changed()).await;
    }

    /// Closes the connection.
    pub fn close(&self) {
        self.connection.close();
    }
}

/// A number in `[0, 1)` that differs between processes and calls, to spread retries.
pub(crate) fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    f64::from(nanos % 1000) / 1000.0
}
