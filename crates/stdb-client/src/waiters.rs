//! Futures waiting for a core event: a reducer's outcome, a subscription's application, a
//! one-off query's answer. Shared by the transports, which also keep here, outside the core,
//! what they need to rebuild the core after a panic: the live subscriptions.

use crate::{
    ClientCore, ClientError, ConnectionError, Event, OneOffQueryId, OneOffResult, ReducerOutcome,
    RequestId, Row, SubscriptionId,
};
use futures_channel::oneshot;
use spacetimedb_lib::ser::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Senders for the futures of calls in flight, and the live subscriptions.
#[derive(Default)]
pub(crate) struct Waiters {
    reducers: HashMap<RequestId, oneshot::Sender<ReducerOutcome>>,
    subscriptions: HashMap<SubscriptionId, oneshot::Sender<Result<(), ConnectionError>>>,
    queries: HashMap<OneOffQueryId, oneshot::Sender<OneOffResult>>,
    /// Every live subscription handle and its queries, kept apart from the core so that a core
    /// lost to a panic can be rebuilt with the same handles ([`Waiters::rebuild`]).
    live: BTreeMap<SubscriptionId, Vec<String>>,
}

impl Waiters {
    /// Calls a reducer; the receiver gets its outcome.
    pub fn call_reducer<A: Serialize + ?Sized>(
        &mut self,
        core: &mut ClientCore,
        reducer: &str,
        args: &A,
    ) -> Result<oneshot::Receiver<ReducerOutcome>, ClientError> {
        let (tx, rx) = oneshot::channel();
        let id = core.call_reducer(reducer, args)?;
        self.reducers.insert(id, tx);
        Ok(rx)
    }

    /// Subscribes; the receiver learns whether the subscription applied.
    pub fn subscribe<Q: Into<String>>(
        &mut self,
        core: &mut ClientCore,
        queries: impl IntoIterator<Item = Q>,
    ) -> Result<
        (
            SubscriptionId,
            oneshot::Receiver<Result<(), ConnectionError>>,
        ),
        ClientError,
    > {
        let (tx, rx) = oneshot::channel();
        let id = self.subscribe_only(core, queries)?;
        self.subscriptions.insert(id, tx);
        Ok((id, rx))
    }

    /// Subscribes without a future (the events say how it goes).
    pub fn subscribe_only<Q: Into<String>>(
        &mut self,
        core: &mut ClientCore,
        queries: impl IntoIterator<Item = Q>,
    ) -> Result<SubscriptionId, ClientError> {
        let queries: Vec<String> = queries.into_iter().map(Into::into).collect();
        let id = core.subscribe(queries.iter().cloned())?;
        self.live.insert(id, queries);
        Ok(id)
    }

    /// Ends every wait: the connection is closed for good. Futures still waiting get a closed
    /// error (their sender is dropped).
    pub fn close(&mut self) {
        *self = Self::default();
    }

    /// A core rebuilt from `blank` (a [`ClientCore::blank`] of the lost one) after handling a
    /// frame panicked: every live subscription keeps its handle and is sent again with the next
    /// socket (its waiter, if any, still waits for it to apply); calls and queries in flight
    /// end, since their answers would reach a core that no longer knows them. `error` is
    /// reported as an [`Event::FrameError`].
    pub fn rebuild(&mut self, mut blank: ClientCore, error: crate::FrameError) -> ClientCore {
        for (id, queries) in &self.live {
            if let Err(e) = blank.restore_subscription(*id, queries.clone()) {
                log::warn!("could not restore subscription {}: {e}", id.0);
            }
        }
        for (_, waiter) in self.reducers.drain() {
            let _ = waiter.send(ReducerOutcome::ConnectionLost);
        }
        for (_, waiter) in self.queries.drain() {
            let _ = waiter.send(Err("connection state rebuilt after a panic".into()));
        }
        blank.report_frame_error(error);
        blank
    }

    /// Runs a one-off query; the receiver gets the answer.
    pub fn one_off_query(
        &mut self,
        core: &mut ClientCore,
        sql: &str,
    ) -> oneshot::Receiver<OneOffResult> {
        let (tx, rx) = oneshot::channel();
        let id = core.one_off_query(sql);
        self.queries.insert(id, tx);
        rx
    }

    /// Completes the future an event answers, if any. Call it for every event, in order.
    #[cfg(any(test, all(feature = "browser", target_arch = "wasm32")))]
    pub fn dispatch(&mut self, event: &Event) {
        if let Some(settle) = self.settle(event) {
            settle.complete();
        }
    }

    /// Takes the future an event answers, if any, with its answer, to be completed once the
    /// event itself is out: whoever awaited the future then finds the event already in the
    /// event stream. Call it for every event, in order.
    pub fn settle(&mut self, event: &Event) -> Option<Settle> {
        match event {
            Event::ReducerDone {
                request_id,
                outcome,
                ..
            } => self
                .reducers
                .remove(request_id)
                .map(|waiter| Settle::Reducer(waiter, outcome.clone())),
            Event::SubscriptionApplied(id) => self
                .subscriptions
                .remove(id)
                .map(|waiter| Settle::Subscription(waiter, Ok(()))),
            Event::SubscriptionFailed { id, error } => {
                self.live.remove(id);
                self.subscriptions.remove(id).map(|waiter| {
                    Settle::Subscription(waiter, Err(ConnectionError::Subscription(error.clone())))
                })
            }
            Event::SubscriptionEnded(id) => {
                self.live.remove(id);
                // Unsubscribed before it applied: it never will.
                self.subscriptions.remove(id).map(|waiter| {
                    Settle::Subscription(waiter, Err(ConnectionError::Unsubscribed(id.0)))
                })
            }
            Event::OneOffDone { id, result } => self
                .queries
                .remove(id)
                .map(|waiter| Settle::Query(waiter, result.clone())),
            _ => None,
        }
    }
}

/// A future's answer, taken by [`Waiters::settle`], not yet handed over.
pub(crate) enum Settle {
    Reducer(oneshot::Sender<ReducerOutcome>, ReducerOutcome),
    Subscription(
        oneshot::Sender<Result<(), ConnectionError>>,
        Result<(), ConnectionError>,
    ),
    Query(oneshot::Sender<OneOffResult>, OneOffResult),
}

impl Settle {
    /// Hands the answer over (a dropped receiver means nobody awaits it any more).
    pub fn complete(self) {
        match self {
            Settle::Reducer(waiter, outcome) => {
                let _ = waiter.send(outcome);
            }
            Settle::Subscription(waiter, result) => {
                let _ = waiter.send(result);
            }
            Settle::Query(waiter, result) => {
                let _ = waiter.send(result);
            }
        }
    }
}

/// The rows of `T`'s table in a one-off query's answer.
pub(crate) fn one_off_rows<T: Row>(answer: OneOffResult) -> Result<Vec<T>, ConnectionError> {
    let tables = answer.map_err(ConnectionError::Query)?;
    let mut rows = Vec::new();
    for table in tables.iter().filter(|t| t.table == T::TABLE) {
        rows.extend(table.decode::<T>()?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Credentials;

    fn offline_core() -> ClientCore {
        ClientCore::new(Credentials::Anonymous)
    }

    fn dispatch_all(waiters: &mut Waiters, core: &mut ClientCore) {
        while let Some(event) = core.poll_event() {
            waiters.dispatch(&event);
        }
    }

    /// A subscription ended before it applied never applies: its waiter must not wait forever.
    #[test]
    fn a_subscription_ended_before_it_applied_ends_its_waiter() {
        let mut core = offline_core();
        let mut waiters = Waiters::default();
        let (id, mut applied) = waiters.subscribe(&mut core, ["SELECT * FROM t"]).unwrap();
        core.unsubscribe(id).unwrap();
        dispatch_all(&mut waiters, &mut core);
        assert_eq!(
            applied.try_recv(),
            Ok(Some(Err(ConnectionError::Unsubscribed(id.0))))
        );
        assert!(waiters.subscriptions.is_empty());
        assert!(waiters.live.is_empty());
    }

    #[test]
    fn closing_ends_every_wait() {
        let mut core = offline_core();
        let mut waiters = Waiters::default();
        let (_, mut applied) = waiters.subscribe(&mut core, ["SELECT * FROM t"]).unwrap();
        waiters.close();
        assert!(applied.try_recv().is_err(), "the sender is gone");
    }

    /// After a panic the core is rebuilt: live subscriptions keep their handles (and their
    /// waiters), calls in flight end.
    #[test]
    fn a_rebuilt_core_keeps_the_live_subscriptions() {
        let mut core = offline_core();
        let mut waiters = Waiters::default();
        let (kept, mut applied) = waiters.subscribe(&mut core, ["SELECT * FROM t"]).unwrap();
        let ended = waiters
            .subscribe_only(&mut core, ["SELECT * FROM u"])
            .unwrap();
        core.unsubscribe(ended).unwrap();
        dispatch_all(&mut waiters, &mut core);
        let (tx, mut call) = oneshot::channel();
        waiters.reducers.insert(RequestId(1), tx);

        let mut rebuilt = waiters.rebuild(core.blank(), crate::FrameError::Panicked("boom".into()));
        assert_eq!(call.try_recv(), Ok(Some(ReducerOutcome::ConnectionLost)));
        assert_eq!(
            rebuilt.subscription_state(kept),
            Some(crate::SubscriptionState::Pending)
        );
        assert_eq!(rebuilt.subscription_state(ended), None);
        assert!(matches!(
            rebuilt.poll_event(),
            Some(Event::FrameError(crate::FrameError::Panicked(_)))
        ));
        assert_eq!(applied.try_recv(), Ok(None), "still waiting to apply");
    }
}
