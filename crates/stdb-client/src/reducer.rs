//! Reducer calls in flight.

use rustc_hash::FxHashMap;
use std::collections::VecDeque;
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

/// How long a call that timed out is remembered: a failure with request id 0 for its reducer
/// may still be its late answer until then (10 minutes).
pub(crate) const TOMBSTONE_LIFETIME: Duration = Duration::from_secs(600);

/// The most calls that timed out remembered at once; beyond it the oldest is forgotten.
pub(crate) const MAX_TOMBSTONES: usize = 256;

/// A call that timed out: its answer may still arrive.
#[derive(Debug)]
struct Tombstone {
    id: u32,
    reducer: String,
    /// When it is forgotten, in the core's clock.
    until: Duration,
}

#[derive(Debug)]
struct Pending {
    reducer: String,
    /// When the call times out, in the core's clock.
    deadline: Duration,
}

/// Calls waiting for their outcome, by request id, and calls that timed out lately.
#[derive(Debug, Default)]
pub(crate) struct PendingCalls {
    calls: FxHashMap<u32, Pending>,
    /// Calls that ended as [`ReducerOutcome::TimedOut`] in the last [`TOMBSTONE_LIFETIME`] (at
    /// most [`MAX_TOMBSTONES`]), oldest first: a late failure with request id 0 may be theirs.
    timed_out: VecDeque<Tombstone>,
    /// Per reducer, until when the latest tombstone forgotten early (beyond
    /// [`MAX_TOMBSTONES`]) would have lasted: until then a failure with request id 0 of that
    /// reducer may be that call's late answer, so it is pinned on no call.
    ambiguous_until: FxHashMap<String, Duration>,
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

    /// The reducer of a call that just ended, if it was ours and pending. A late answer of a
    /// call that timed out ends its tombstone: it cannot be answered twice.
    pub fn finish(&mut self, id: u32) -> Option<String> {
        self.timed_out.retain(|t| t.id != id);
        self.calls.remove(&id).map(|p| p.reducer)
    }

    /// The call a failure without request id belongs to, if that is certain.
    ///
    /// SpacetimeDB 1.2 sends a failed reducer's result to the caller with request id 0, named
    /// after the reducer. Only when exactly one call of that reducer is pending is it certainly
    /// that call's; with several the failure cannot be pinned on one (the others would then get
    /// a wrong result), and they end by their timeout instead. A call of that reducer that
    /// timed out lately counts as a candidate too: the failure may be its late answer. When it
    /// is the only candidate, the failure is taken as its answer (its tombstone ends). While a
    /// tombstone of that reducer forgotten early (beyond [`MAX_TOMBSTONES`]) would still last,
    /// the failure may be that call's and is pinned on none. A failure named `"<none>"` is never a reducer's (a failed subscription or one-off query, an unknown
    /// reducer).
    pub fn finish_unnumbered(&mut self, reducer: &str) -> Option<(RequestId, String)> {
        if reducer == NO_REDUCER {
            return None;
        }
        let mut candidates = self
            .calls
            .iter()
            .filter(|(_, call)| call.reducer == reducer)
            .map(|(id, _)| *id);
        let pending = candidates.next();
        let several = candidates.next().is_some();
        let mut dead = self.timed_out.iter().filter(|t| t.reducer == reducer);
        let tombstone = dead.next().map(|t| t.id);
        let several_dead = dead.next().is_some() || self.ambiguous_until.contains_key(reducer);
        match (pending, tombstone) {
            (Some(id), None) if !several && !self.ambiguous_until.contains_key(reducer) => {
                self.calls.remove(&id).map(|p| (RequestId(id), p.reducer))
            }
            (None, Some(id)) if !several_dead => {
                // The late answer of a call that already ended as timed out.
                self.timed_out.retain(|t| t.id != id);
                None
            }
            _ => None,
        }
    }

    /// The calls whose deadline is `now` or earlier, removed, oldest first; each leaves a
    /// tombstone until `now + TOMBSTONE_LIFETIME`. Tombstones older than that go.
    pub fn expire(&mut self, now: Duration) -> Vec<(RequestId, String)> {
        while self.timed_out.front().is_some_and(|t| t.until <= now) {
            self.timed_out.pop_front();
        }
        self.ambiguous_until.retain(|_, until| *until > now);
        let mut expired: Vec<u32> = self
            .calls
            .iter()
            .filter(|(_, call)| call.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        expired.sort_unstable();
        let expired: Vec<(RequestId, String)> = expired
            .into_iter()
            .filter_map(|id| self.calls.remove(&id).map(|p| (RequestId(id), p.reducer)))
            .collect();
        for (id, reducer) in &expired {
            if self.timed_out.len() >= MAX_TOMBSTONES
                && let Some(evicted) = self.timed_out.pop_front()
            {
                let until = self.ambiguous_until.entry(evicted.reducer).or_default();
                *until = (*until).max(evicted.until);
            }
            self.timed_out.push_back(Tombstone {
                id: id.0,
                reducer: reducer.clone(),
                until: now.saturating_add(TOMBSTONE_LIFETIME),
            });
        }
        expired
    }

    /// The earliest deadline of a pending call.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.calls.values().map(|call| call.deadline).min()
    }

    /// Every pending call, removed (the socket closed: no answer arrives any more, not even a
    /// late one, so the tombstones go too).
    pub fn drain(&mut self) -> Vec<(RequestId, String)> {
        self.timed_out.clear();
        self.ambiguous_until.clear();
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

    /// 256 timeouts of another reducer push out the tombstone of a `link` call; a failure of
    /// `link` arriving later may still be that call's late answer, so it is not pinned on a
    /// new `link` call until that tombstone would have ended.
    #[test]
    fn a_tombstone_forgotten_early_keeps_its_reducer_ambiguous() {
        let mut calls = PendingCalls::default();
        calls.insert(RequestId(1), "link", T);
        assert_eq!(calls.expire(T).len(), 1);
        for id in 2..(2 + MAX_TOMBSTONES as u32) {
            calls.insert(RequestId(id), "report", 2 * T);
        }
        assert_eq!(calls.expire(2 * T).len(), MAX_TOMBSTONES);
        calls.insert(RequestId(900), "link", 100 * T);
        assert_eq!(calls.finish_unnumbered("link"), None);
        // Once the forgotten tombstone would have ended, the failure is the new call's again.
        let later = T + TOMBSTONE_LIFETIME;
        assert!(calls.expire(later).is_empty());
        assert_eq!(
            calls.finish_unnumbered("link"),
            Some((RequestId(900), "link".into()))
        );
    }

    #[test]
    fn an_unnumbered_failure_with_two_candidates_is_not_attributed() {
        let mut calls = PendingCalls::default();
        calls.insert(RequestId(1), "report", T);
        calls.insert(RequestId(2), "report", T);
        assert_eq!(calls.finish_unnumbered("report"), None);
        assert_eq!(calls.drain().len(), 2);
    }

    /// A call that timed out stays a candidate for a failure with request id 0 for a while: with
    /// another call of its reducer pending, the failure is either's and pinned on neither.
    #[test]
    fn a_call_that_timed_out_is_a_candidate_until_its_tombstone_goes() {
        let mut calls = PendingCalls::default();
        calls.insert(RequestId(1), "report", T);
        assert_eq!(calls.expire(T), vec![(RequestId(1), "report".into())]);
        calls.insert(RequestId(2), "report", 2 * T);
        assert_eq!(calls.finish_unnumbered("report"), None);
        // Alone, the tombstone takes the failure (its late answer) and goes.
        assert_eq!(calls.finish(2), Some("report".into()));
        assert_eq!(calls.finish_unnumbered("report"), None);
        calls.insert(RequestId(3), "report", 3 * T);
        assert_eq!(
            calls.finish_unnumbered("report"),
            Some((RequestId(3), "report".into()))
        );
        // A numbered late answer ends the tombstone too; other reducers are never affected.
        calls.insert(RequestId(4), "report", T);
        calls.insert(RequestId(5), "link", 100 * T);
        calls.expire(T);
        assert_eq!(calls.finish(4), None);
        calls.insert(RequestId(6), "report", 9 * T);
        assert_eq!(
            calls.finish_unnumbered("report"),
            Some((RequestId(6), "report".into()))
        );
        // Tombstones expire after their lifetime.
        calls.insert(RequestId(7), "report", T);
        calls.expire(T);
        calls.insert(RequestId(8), "report", 100 * T);
        calls.expire(T + TOMBSTONE_LIFETIME - Duration::from_millis(1));
        assert_eq!(calls.finish_unnumbered("report"), None);
        calls.expire(T + TOMBSTONE_LIFETIME);
        assert_eq!(
            calls.finish_unnumbered("report"),
            Some((RequestId(8), "report".into()))
        );
        assert_eq!(calls.drain(), vec![(RequestId(5), "link".into())]);
    }

    #[test]
    fn tombstones_are_bounded() {
        let mut calls = PendingCalls::default();
        for id in 0..(MAX_TOMBSTONES as u32 + 10) {
            calls.insert(RequestId(id), "report", T);
        }
        calls.expire(T);
        assert_eq!(calls.timed_out.len(), MAX_TOMBSTONES);
        assert_eq!(calls.timed_out.front().map(|t| t.id), Some(10));
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
