//! Futures waiting for a core event: a reducer's outcome, a subscription's application, a
//! one-off query's answer. Shared by the transports.

use crate::{
    ClientCore, ClientError, ConnectionError, Event, OneOffQueryId, OneOffResult, ReducerOutcome,
    RequestId, Row, SubscriptionId,
};
use futures_channel::oneshot;
use spacetimedb_lib::ser::Serialize;
use std::collections::HashMap;

/// Senders for the futures of calls in flight.
#[derive(Default)]
pub(crate) struct Waiters {
    reducers: HashMap<RequestId, oneshot::Sender<ReducerOutcome>>,
    subscriptions: HashMap<SubscriptionId, oneshot::Sender<Result<(), ConnectionError>>>,
    queries: HashMap<OneOffQueryId, oneshot::Sender<OneOffResult>>,
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
        let id = core.subscribe(queries)?;
        self.subscriptions.insert(id, tx);
        Ok((id, rx))
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
    pub fn dispatch(&mut self, event: &Event) {
        // A dropped receiver means nobody awaits the answer any more: nothing to do.
        match event {
            Event::ReducerDone {
                request_id,
                outcome,
                ..
            } => {
                if let Some(waiter) = self.reducers.remove(request_id) {
                    let _ = waiter.send(outcome.clone());
                }
            }
            Event::SubscriptionApplied(id) => {
                if let Some(waiter) = self.subscriptions.remove(id) {
                    let _ = waiter.send(Ok(()));
                }
            }
            Event::SubscriptionFailed { id, error } => {
                if let Some(waiter) = self.subscriptions.remove(id) {
                    let _ = waiter.send(Err(ConnectionError::Subscription(error.clone())));
                }
            }
            Event::OneOffDone { id, result } => {
                if let Some(waiter) = self.queries.remove(id) {
                    let _ = waiter.send(result.clone());
                }
            }
            _ => {}
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
