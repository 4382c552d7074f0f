//! Reducer calls in flight.

use rustc_hash::FxHashMap;
use std::time::Duration;

/// Identifies one request of this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u32);

/// How long a reducer call (or one-off query) waits for its answer by default before it ends as
/// [`ReducerOutcome::TimedOut`]: 30 seconds. A database out of energy does not answer at all, so
/// without a limit such a call would wait forever. Change it with
/// [`crate::ConnectOptions::request_timeout`] or [`crate::ClientCore::set_request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The reducer name SpacetimeDB 1.2 gives failures that are not a reducer's (failed subscriptions
/// and one-off queries, calls of unknown reducers).
pub(crate) const NO_REDUCER: &str = "<none>";

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
    /// No answer arrived within the request timeout ([`DEFAULT_REQUEST_TIMEOUT`] unless
    /// configured); the call may or may not have run.
    TimedOut,
}

#[derive(Debug)]
struct Pending {
    reducer: String,
    /// When the call times out, in the core's clock.
    deadline: Duration,
}

/// Calls waiting for their outcome, by request id.
#[derive(Debug, Default)]
pub(crate) struct PendingCalls {
    calls: FxHashMap<u32, Pending>,
}

impl PendingCalls {
    pub fn insert(&mut self, id: RequestId, reducer: &str, deadline: Duration) {
        self.calls.insert(
            id.0,
            Pending {
                reducer: reducer.to_owned(),
                deadline,
            },
        );
    }

    /// The reducer of a call that just ended, if it was ours and pending.
    pub fn finish(&mut self, id: u32) -> Option<String> {
        self.calls.remove(&id).map(|p| p.reducer)
    }

    /// The call a failure without request id belongs to, if that is certain.
    ///
    /// SpacetimeDB 1.2 sends a failed reducer's result to the caller with request id 0, named
    /// after the reducer. Only when exactly one call of that reducer is pending is it certainly
    /// that call's; with several the failure cannot be pinned on one (the others would then get
    /// a wrong result), and they end by their timeout instead. A failure named `"<none>"` is
    /// never a reducer's (a failed subscription or one-off query, an unknown reducer).
    pub fn finish_unnumbered(&mut self, reducer: &str) -> Option<(RequestId, String)> {
        if reducer == NO_REDUCER {
            return None;
        }
        let mut candidates = self
            .calls
            .iter()
            .filter(|(_, call)| call.reducer == reducer)
            .map(|(id, _)| *id);
        let id = candidates.next()?;
        if candidates.next().is_some() {
            return None;
        }
        self.calls.remove(&id).map(|p| (RequestId(id), p.reducer))
    }

    /// The calls whose deadline is `now` or earlier, removed, oldest first.
    pub fn expire(&mut self, now: Duration) -> Vec<(RequestId, String)> {
        let mut expired: Vec<u32> = self
            .calls
            .iter()
            .filter(|(_, call)| call.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        expired.sort_unstable();
        expired
            .into_iter()
            .filter_map(|id| self.calls.remove(&id).map(|p| (RequestId(id), p.reducer)))
            .collect()
    }

    /// The earliest deadline of a pending call.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.calls.values().map(|call| call.deadline).min()
    }

    /// Every pending call, removed.
    pub fn drain(&mut self) -> Vec<(RequestId, String)> {
        let mut all: Vec<_> = self
            .calls
            .drain()
            .map(|(id, p)| (RequestId(id), p.reducer))
            .collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(30);

    #[test]
    fn an_unnumbered_failure_belongs_to_the_only_pending_call_of_its_reducer() {
        let mut calls = PendingCalls::default();
        calls.insert(RequestId(1), "link", T);
        calls.insert(RequestId(2), "report", T);
        assert_eq!(
            calls.finish_unnumbered("report"),
            Some((RequestId(2), "report".into()))
        );
        // Never `<none>`, and never a call of another reducer.
        assert_eq!(calls.finish_unnumbered(NO_REDUCER), None);
        assert_eq!(calls.finish_unnumbered("report"), None);
        assert_eq!(calls.drain(), vec![(RequestId(1), "link".into())]);
    }

    #[test]
    fn an_unnumbered_failure_with_two_candidates_is_not_attributed() {
        let mut calls = PendingCalls::default();
        calls.insert(RequestId(1), "report", T);
        calls.insert(RequestId(2), "report", T);
        assert_eq!(calls.finish_unnumbered("report"), None);
        assert_eq!(calls.drain().len(), 2);
    }

    #[test]
    fn calls_expire_at_their_deadline_oldest_first() {
        let mut calls = PendingCalls::default();
        calls.insert(RequestId(3), "b", Duration::from_secs(5));
        calls.insert(RequestId(1), "a", Duration::from_secs(5));
        calls.insert(RequestId(2), "c", Duration::from_secs(9));
        assert_eq!(calls.next_deadline(), Some(Duration::from_secs(5)));
        assert!(calls.expire(Duration::from_millis(4999)).is_empty());
        assert_eq!(
            calls.expire(Duration::from_secs(5)),
            vec![(RequestId(1), "a".into()), (RequestId(3), "b".into())]
        );
        assert_eq!(calls.next_deadline(), Some(Duration::from_secs(9)));
    }
}
