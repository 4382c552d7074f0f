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

    /// The call a failure without request id belongs to.
    ///
    /// SpacetimeDB 1.2 sends a failed reducer's result to the caller with request id 0. A
    /// connection's calls run and answer in order, so it is the oldest pending call of that
    /// reducer (of any reducer for errors named `"<none>"`, such as an unknown reducer).
    pub fn finish_unnumbered(&mut self, reducer: &str) -> Option<(RequestId, String)> {
        let id = self
            .calls
            .iter()
            .filter(|(_, name)| reducer == "<none>" || name.as_str() == reducer)
            .map(|(id, _)| *id)
            .min()?;
        self.calls.remove(&id).map(|name| (RequestId(id), name))
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
