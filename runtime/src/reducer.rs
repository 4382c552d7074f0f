//! Reducer calls in flight.

use rustc_hash::FxHashMap;

/// Identifies one request of this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u32);

/// How a reducer call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReducerOutcome {
    /// The transaction committed.
    Committed,
    /// The reducer returned an error (or the call was refused); the server's message.
    Failed(String),
    /// The database ran out of energy.
    OutOfEnergy,
    /// The connection closed before the outcome arrived; the call may or may not have run.
    ConnectionLost,
}

/// Calls waiting for their outcome, by request id.
#[derive(Debug, Default)]
pub(crate) struct PendingCalls {
    calls: FxHashMap<u32, String>,
}

impl PendingCalls {
    pub fn insert(&mut self, id: RequestId, reducer: &str) {
        self.calls.insert(id.0, reducer.to_owned());
    }

    /// The reducer of a call that just ended, if it was ours and pending.
    pub fn finish(&mut self, id: u32) -> Option<String> {
        self.calls.remove(&id)
    }

    /// Every pending call, removed.
    pub fn drain(&mut self) -> Vec<(RequestId, String)> {
        let mut all: Vec<_> = self
            .calls
            .drain()
            .map(|(id, r)| (RequestId(id), r))
            .collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }
}
