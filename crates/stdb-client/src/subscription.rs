//! Subscriptions: query sets sent with `SubscribeMulti`, shared by identical handles.

use crate::{ClientError, RequestId};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

/// Most live query sets on one connection.
pub const MAX_SUBSCRIPTIONS: usize = 10;

/// How many ended or failed handles keep their final state for
/// [`crate::ClientCore::subscription_state`]; older ones are forgotten (their state is then
/// `None`), so a page that changes its subscription all day keeps a bounded record.
pub const FINISHED_KEPT: usize = 32;

/// A handle to one subscription made with [`crate::ClientCore::subscribe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(pub u32);

/// Where a subscription handle stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionState {
    /// Sent, rows not yet arrived.
    Pending,
    /// Rows in the cache, updates flowing.
    Applied,
    /// The server refused it or dropped it.
    Failed(String),
    /// Unsubscribed.
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetState {
    Pending,
    Applied,
    /// Unsubscribe sent; waiting for the server to confirm.
    Ending,
}

#[derive(Debug)]
struct QuerySet {
    queries: Vec<String>,
    state: SetState,
    handles: Vec<SubscriptionId>,
}

/// What the core must send for a subscription request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Send {
    Subscribe { query_id: u32, queries: Vec<String> },
    Unsubscribe { query_id: u32 },
}

/// Every subscription of a connection.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    next_handle: u32,
    next_query_id: u32,
    sets: FxHashMap<u32, QuerySet>,
    /// Live handles (pending or applied) and their query set.
    handles: FxHashMap<SubscriptionId, (u32, SubscriptionState)>,
    /// The last [`FINISHED_KEPT`] handles that ended or failed, newest last.
    finished: VecDeque<(SubscriptionId, SubscriptionState)>,
}

impl Subscriptions {
    /// Adds a handle for `queries`; returns what to send, if anything, and whether the handle
    /// is already applied (an identical set was).
    pub fn subscribe(
        &mut self,
        queries: Vec<String>,
    ) -> Result<(SubscriptionId, Option<Send>), ClientError> {
        let handle = SubscriptionId(self.next_handle);
        let send = self.subscribe_as(handle, queries)?;
        self.next_handle = self.next_handle.wrapping_add(1);
        Ok((handle, send))
    }

    /// Gives a live handle back its subscription after the connection's state was rebuilt (the
    /// same id, so the application's handle still works); it is pending until sent again.
    pub fn restore(
        &mut self,
        handle: SubscriptionId,
        queries: Vec<String>,
    ) -> Result<(), ClientError> {
        self.subscribe_as(handle, queries)?;
        self.next_handle = self.next_handle.max(handle.0.wrapping_add(1));
        Ok(())
    }

    fn subscribe_as(
        &mut self,
        handle: SubscriptionId,
        queries: Vec<String>,
    ) -> Result<Option<Send>, ClientError> {
        if queries.is_empty() {
            return Err(ClientError::NoQueries);
        }
        let shared = self
            .sets
            .iter_mut()
            .find(|(_, set)| set.state != SetState::Ending && set.queries == queries);
        let (query_id, state, send) = match shared {
            Some((&query_id, set)) => {
                let state = match set.state {
                    SetState::Applied => SubscriptionState::Applied,
                    _ => SubscriptionState::Pending,
                };
                (query_id, state, None)
            }
            None => {
                let live = self
                    .sets
                    .values()
                    .filter(|s| s.state != SetState::Ending)
                    .count();
                if live >= MAX_SUBSCRIPTIONS {
                    return Err(ClientError::TooManySubscriptions {
                        max: MAX_SUBSCRIPTIONS,
                    });
                }
                let query_id = self.next_query_id;
                self.next_query_id = self.next_query_id.wrapping_add(1);
                self.sets.insert(
                    query_id,
                    QuerySet {
                        queries: queries.clone(),
                        state: SetState::Pending,
                        handles: Vec::new(),
                    },
                );
                (
                    query_id,
                    SubscriptionState::Pending,
                    Some(Send::Subscribe { query_id, queries }),
                )
            }
        };
        if let Some(set) = self.sets.get_mut(&query_id) {
            set.handles.push(handle);
        }
        self.handles.insert(handle, (query_id, state));
        Ok(send)
    }

    fn finish(&mut self, handle: SubscriptionId, state: SubscriptionState) {
        self.handles.remove(&handle);
        if self.finished.len() == FINISHED_KEPT {
            self.finished.pop_front();
        }
        self.finished.push_back((handle, state));
    }

    /// Ends a handle; returns the unsubscribe to send when it was the set's last handle.
    pub fn unsubscribe(&mut self, handle: SubscriptionId) -> Result<Option<Send>, ClientError> {
        let Some(&(query_id, _)) = self.handles.get(&handle) else {
            return Err(ClientError::UnknownSubscription(handle.0));
        };
        self.finish(handle, SubscriptionState::Ended);
        let Some(set) = self.sets.get_mut(&query_id) else {
            return Ok(None);
        };
        set.handles.retain(|h| *h != handle);
        if set.handles.is_empty() {
            set.state = SetState::Ending;
            return Ok(Some(Send::Unsubscribe { query_id }));
        }
        Ok(None)
    }

    /// The server applied a set: its live handles, now applied.
    pub fn applied(&mut self, query_id: u32) -> Vec<SubscriptionId> {
        let Some(set) = self.sets.get_mut(&query_id) else {
            return Vec::new();
        };
        if set.state == SetState::Pending {
            set.state = SetState::Applied;
        }
        let handles = set.handles.clone();
        for handle in &handles {
            if let Some((_, state)) = self.handles.get_mut(handle) {
                *state = SubscriptionState::Applied;
            }
        }
        handles
    }

    /// The socket closed: sets being ended are gone (the server forgot them with the socket);
    /// every other set must be sent again.
    pub fn connection_lost(&mut self) {
        self.sets.retain(|_, set| set.state != SetState::Ending);
        for set in self.sets.values_mut() {
            set.state = SetState::Pending;
        }
    }

    /// The subscribe messages that restore every set on a new socket.
    pub fn resubscribe(&self) -> Vec<Send> {
        let mut sends: Vec<Send> = self
            .sets
            .iter()
            .map(|(&query_id, set)| Send::Subscribe {
                query_id,
                queries: set.queries.clone(),
            })
            .collect();
        sends.sort_by_key(|s| match s {
            Send::Subscribe { query_id, .. } | Send::Unsubscribe { query_id } => *query_id,
        });
        sends
    }

    /// The server confirmed an unsubscribe: the set is gone.
    pub fn ended(&mut self, query_id: u32) {
        self.sets.remove(&query_id);
    }

    /// Whether a set is known: live, or being ended by an unsubscribe.
    pub fn is_known(&self, query_id: u32) -> bool {
        self.sets.contains_key(&query_id)
    }

    /// Whether a set is live: known and not being ended by an unsubscribe.
    pub fn is_live(&self, query_id: u32) -> bool {
        self.sets
            .get(&query_id)
            .is_some_and(|set| set.state != SetState::Ending)
    }

    /// The server refused or dropped a set: its handles, now failed.
    pub fn failed(&mut self, query_id: u32, error: &str) -> Vec<SubscriptionId> {
        let Some(set) = self.sets.remove(&query_id) else {
            return Vec::new();
        };
        for handle in &set.handles {
            self.finish(*handle, SubscriptionState::Failed(error.to_owned()));
        }
        set.handles
    }

    /// The server dropped every set: all live handles, now failed.
    pub fn all_failed(&mut self, error: &str) -> Vec<SubscriptionId> {
        let ids: Vec<u32> = self.sets.keys().copied().collect();
        let mut handles: Vec<SubscriptionId> = ids
            .into_iter()
            .flat_map(|id| self.failed(id, error))
            .collect();
        handles.sort();
        handles
    }

    /// The query set a request id was sent for (subscriptions use their query id as request id).
    pub fn query_id_of_request(&self, request: RequestId) -> Option<u32> {
        self.sets.contains_key(&request.0).then_some(request.0)
    }

    /// A handle's state (`None` for one never issued, or finished long ago).
    pub fn state(&self, handle: SubscriptionId) -> Option<SubscriptionState> {
        match self.handles.get(&handle) {
            Some((_, state)) => Some(state.clone()),
            None => self
                .finished
                .iter()
                .rev()
                .find(|(h, _)| *h == handle)
                .map(|(_, state)| state.clone()),
        }
    }

    /// Number of live query sets.
    pub fn live_sets(&self) -> usize {
        self.sets
            .values()
            .filter(|s| s.state != SetState::Ending)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Vec<String> {
        vec![s.to_owned()]
    }

    #[test]
    fn identical_sets_are_shared_and_sent_once() {
        let mut subs = Subscriptions::default();
        let (a, send_a) = subs.subscribe(q("SELECT * FROM t")).unwrap();
        let (b, send_b) = subs.subscribe(q("SELECT * FROM t")).unwrap();
        assert!(matches!(send_a, Some(Send::Subscribe { query_id: 0, .. })));
        assert_eq!(send_b, None);
        assert_eq!(subs.applied(0), vec![a, b]);
        let (c, send_c) = subs.subscribe(q("SELECT * FROM t")).unwrap();
        assert_eq!(send_c, None);
        assert_eq!(subs.state(c), Some(SubscriptionState::Applied));
        assert_eq!(subs.unsubscribe(a).unwrap(), None);
        assert_eq!(subs.unsubscribe(b).unwrap(), None);
        assert_eq!(
            subs.unsubscribe(c).unwrap(),
            Some(Send::Unsubscribe { query_id: 0 })
        );
        assert_eq!(subs.state(c), Some(SubscriptionState::Ended));
        assert_eq!(
            subs.unsubscribe(c),
            Err(ClientError::UnknownSubscription(c.0))
        );
    }

    #[test]
    fn at_most_ten_live_sets() {
        let mut subs = Subscriptions::default();
        let handles: Vec<_> = (0..10)
            .map(|i| subs.subscribe(q(&format!("SELECT * FROM t{i}"))).unwrap().0)
            .collect();
        assert_eq!(
            subs.subscribe(q("SELECT * FROM t10")).unwrap_err(),
            ClientError::TooManySubscriptions { max: 10 }
        );
        // Sharing an existing set is still fine.
        assert!(subs.subscribe(q("SELECT * FROM t3")).is_ok());
        subs.unsubscribe(handles[0]).unwrap();
        assert!(subs.subscribe(q("SELECT * FROM t10")).is_ok());
        assert_eq!(subs.live_sets(), 10);
    }

    #[test]
    fn after_a_lost_connection_live_sets_are_sent_again() {
        let mut subs = Subscriptions::default();
        let (a, _) = subs.subscribe(q("x")).unwrap();
        let (b, _) = subs.subscribe(q("y")).unwrap();
        subs.applied(0);
        subs.unsubscribe(b).unwrap();
        subs.connection_lost();
        assert_eq!(
            subs.resubscribe(),
            vec![Send::Subscribe {
                query_id: 0,
                queries: q("x")
            }]
        );
        assert_eq!(subs.applied(0), vec![a]);
    }

    /// A page that changes its address all day subscribes and unsubscribes thousands of times.
    #[test]
    fn finished_handles_are_not_kept_forever() {
        let mut subs = Subscriptions::default();
        let mut last = None;
        for i in 0..10_000 {
            let (handle, _) = subs
                .subscribe(q(&format!("SELECT * FROM t WHERE a = {i}")))
                .unwrap();
            if let Some(previous) = last.replace(handle) {
                subs.unsubscribe(previous).unwrap();
                subs.ended(previous.0);
            }
        }
        assert_eq!(subs.handles.len(), 1);
        assert_eq!(subs.sets.len(), 1);
        assert!(subs.finished.len() <= FINISHED_KEPT);
        // The most recent ones still say how they finished; the oldest are forgotten.
        assert_eq!(
            subs.state(SubscriptionId(9_998)),
            Some(SubscriptionState::Ended)
        );
        assert_eq!(subs.state(SubscriptionId(0)), None);
        assert_eq!(
            subs.unsubscribe(SubscriptionId(0)),
            Err(ClientError::UnknownSubscription(0))
        );
    }

    #[test]
    fn restored_handles_keep_their_ids() {
        let mut subs = Subscriptions::default();
        subs.restore(SubscriptionId(7), q("x")).unwrap();
        subs.restore(SubscriptionId(9), q("x")).unwrap();
        assert_eq!(subs.live_sets(), 1);
        assert_eq!(subs.applied(0), vec![SubscriptionId(7), SubscriptionId(9)]);
        let (next, _) = subs.subscribe(q("y")).unwrap();
        assert_eq!(next, SubscriptionId(10));
    }

    #[test]
    fn failures_reach_every_handle() {
        let mut subs = Subscriptions::default();
        let (a, _) = subs.subscribe(q("x")).unwrap();
        let (b, _) = subs.subscribe(q("x")).unwrap();
        let (c, _) = subs.subscribe(q("y")).unwrap();
        assert_eq!(subs.failed(0, "bad"), vec![a, b]);
        assert_eq!(subs.state(a), Some(SubscriptionState::Failed("bad".into())));
        assert_eq!(subs.all_failed("gone"), vec![c]);
        assert_eq!(subs.live_sets(), 0);
    }
}
