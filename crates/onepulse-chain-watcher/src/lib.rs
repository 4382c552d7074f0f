//! OnePulse's chain watcher: follows the `DailyGM` contract on Base, Celo and Optimism and
//! reports every `GM` to SpacetimeDB as a reporter.
//!
//! For each chain ([`watcher::watch_chain`]), on its own: read the chain's cursor (the first
//! position — block and log index — not yet reported) from the database's `chain_position`
//! table (`chain_cursor`, by whole blocks, for a database from before it), kept live by a
//! subscription; plan the next block range up to the head minus the
//! confirmation depth ([`plan`], pure); read its `GM` events and the days of their blocks from
//! the block headers ([`chain`]); report them with the module's `report_chain_gms`, which
//! applies the GMs and moves the cursor in one transaction ([`database`]). So:
//!
//! - a restart (the watcher's) resumes from the cursor, and backfills whatever happened since;
//! - a SpacetimeDB crash that loses commits loses the cursor moves with them: the subscription
//!   brings the older cursor back (or the module refuses the next batch as a gap) and those
//!   GMs are read and reported again;
//! - an RPC outage or a refused call is retried on a backoff schedule; no GM is skipped; a
//!   failing `eth_getLogs` is retried on a smaller range (halved down to one block);
//! - a block with more GMs than one batch carries is reported over several batches;
//! - reorganisations shallower than the confirmation depth never reach the database;
//! - one chain's trouble never stops the others;
//! - several watchers at once are harmless: a day already counted changes nothing, and the
//!   cursor only moves forward (they must share start blocks and confirmations).

pub mod chain;
pub mod config;
pub mod database;
pub mod plan;
pub mod watcher;

pub use config::{ChainWatch, Config, Settings};
pub use database::{ChainCursorRow, ChainGm, ChainPositionRow, Cursor, Database};

use stdb_client::ConnectOptions;

/// Why the watcher stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The token file could not be read or is empty.
    #[error("reading the token file {path}: {detail}")]
    Token {
        /// The file.
        path: String,
        /// What was wrong.
        detail: String,
    },
    /// A chain's watch ended.
    #[error(transparent)]
    Watch(#[from] watcher::WatchError),
    /// A chain's task panicked.
    #[error("a chain's task failed: {0}")]
    Task(String),
}

/// Runs the watcher of every configured chain, each on its own: a chain whose node serves
/// another chain or has no contract stops alone (logged); the others go on. Returns when every
/// chain has stopped, or at once when the database connection ends for good.
pub async fn run(config: &Config) -> Result<(), RunError> {
    let path = config.token_file.display().to_string();
    let token = std::fs::read_to_string(&config.token_file)
        .map_err(|e| RunError::Token {
            path: path.clone(),
            detail: e.to_string(),
        })?
        .trim()
        .to_owned();
    if token.is_empty() {
        return Err(RunError::Token {
            path,
            detail: "the file is empty".into(),
        });
    }
    let options = ConnectOptions {
        token: Some(token),
        ..ConnectOptions::new(&config.spacetimedb, &config.database)
    };
    let database = Database::connect(&options).await;
    let settings = config.settings();
    let mut tasks = tokio::task::JoinSet::new();
    for watch in config.chains() {
        tasks.spawn(watcher::watch_chain(watch, settings, database.clone()));
    }
    let mut outcome = Ok(());
    while let Some(ended) = tasks.join_next().await {
        let error = match ended {
            Ok(Ok(())) => continue,
            Ok(Err(e @ watcher::WatchError::Database(_))) => {
                // Every chain reports through this connection: nothing can go on.
                outcome = Err(RunError::Watch(e));
                break;
            }
            Ok(Err(e)) => RunError::Watch(e),
            Err(e) => RunError::Task(e.to_string()),
        };
        log::error!("{error}; the other chains (if any) go on");
        if outcome.is_ok() {
            outcome = Err(error);
        }
    }
    tasks.abort_all();
    database.close();
    outcome
}
