//! The GM table kept live in memory through a native runtime connection.

use onepulse_domain::{Address, Chain, address_chain_key};
use onepulse_gm_stats::{GmStatsRow, TABLE};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use stdb_client::native::NativeConnection;
use stdb_client::{Backoff, ConnectOptions, ConnectionStatus};

/// What the service knows about one address.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// No data has ever arrived (the database was never reachable).
    NoData,
    /// The address's rows (none if it never said GM); `stale_for` is set while the database is
    /// away: how long the data has not been live.
    Rows {
        /// One row per chain with a GM.
        rows: Vec<Arc<GmStatsRow>>,
        /// How long since the data was last live.
        stale_for: Option<Duration>,
    },
}

#[derive(Default)]
struct State {
    connection: Option<NativeConnection>,
    /// When the data stopped being live (`None` while live).
    down_since: Option<Instant>,
}

/// The live table, shared by every request.
#[derive(Clone)]
pub struct LiveStats {
    state: Arc<RwLock<State>>,
}

impl LiveStats {
    /// Connects in the background (retrying until the database is reachable), subscribes to the
    /// whole table, and follows the connection's status.
    pub fn start(options: ConnectOptions) -> Self {
        let stats = Self {
            state: Arc::new(RwLock::new(State::default())),
        };
        let state = Arc::clone(&stats.state);
        tokio::spawn(async move {
            let connection = connect_until_subscribed(&options).await;
            let mut status = connection.status_changes();
            write(&state).connection = Some(connection);
            loop {
                let live = matches!(*status.borrow_and_update(), ConnectionStatus::Connected(_));
                {
                    let mut state = write(&state);
                    match (live, state.down_since) {
                        (true, _) => state.down_since = None,
                        (false, None) => state.down_since = Some(Instant::now()),
                        (false, Some(_)) => {}
                    }
                }
                if status.changed().await.is_err() {
                    break;
                }
            }
        });
        stats
    }

    /// The rows of `address` (on `chain` only, if given).
    pub fn lookup(&self, address: &Address, chain: Option<Chain>) -> Lookup {
        let state = read(&self.state);
        let Some(connection) = &state.connection else {
            return Lookup::NoData;
        };
        let chains: Vec<Chain> = match chain {
            Some(chain) => vec![chain],
            None => Chain::ALL.to_vec(),
        };
        let rows = connection
            .with_table::<GmStatsRow, _>(|table| {
                chains
                    .iter()
                    .filter_map(|&c| table.get(&address_chain_key(address, c)))
                    .collect()
            })
            .unwrap_or_default();
        Lookup::Rows {
            rows,
            stale_for: state.down_since.map(|since| since.elapsed()),
        }
    }

    /// Whether the data is live, and how many rows are held.
    pub fn health(&self) -> (bool, usize) {
        let state = read(&self.state);
        match &state.connection {
            None => (false, 0),
            Some(connection) => (
                state.down_since.is_none(),
                connection
                    .with_table::<GmStatsRow, _>(|t| t.len())
                    .unwrap_or_default(),
            ),
        }
    }
}

async fn connect_until_subscribed(options: &ConnectOptions) -> NativeConnection {
    let backoff = Backoff::default();
    let started = Instant::now();
    for attempt in 1.. {
        let register = |core: &mut stdb_client::ClientCore| core.register_table::<GmStatsRow>();
        match NativeConnection::connect(options, register).await {
            Ok((connection, _events)) => match connection
                .subscribe([format!("SELECT * FROM {TABLE}")])
                .await
            {
                Ok(_) => {
                    log::info!("live: subscribed to {TABLE}");
                    return connection;
                }
                Err(e) => {
                    log::warn!("subscribing to {TABLE} failed: {e}");
                    connection.close();
                }
            },
            Err(e) => log::warn!(
                "connecting to {} failed (attempt {attempt}): {e}",
                options.uri
            ),
        }
        let nanos = started.elapsed().subsec_nanos();
        tokio::time::sleep(backoff.delay(
            attempt,
            started.elapsed(),
            f64::from(nanos % 1000) / 1000.0,
        ))
        .await;
    }
    unreachable!("the loop above only ends by returning")
}

fn read(state: &RwLock<State>) -> std::sync::RwLockReadGuard<'_, State> {
    state.read().unwrap_or_else(|e| e.into_inner())
}

fn write(state: &RwLock<State>) -> std::sync::RwLockWriteGuard<'_, State> {
    state.write().unwrap_or_else(|e| e.into_inner())
}
