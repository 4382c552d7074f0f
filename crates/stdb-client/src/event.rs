//! What the core tells its user.

use crate::{
    FrameError, OneOffQueryId, OneOffResult, ReducerOutcome, RequestId, Row, SubscriptionId,
};
use spacetimedb_lib::{ConnectionId, Identity, Timestamp};
use std::any::Any;
use std::sync::Arc;

/// A cached row of some registered type; see [`Change::downcast`].
pub type AnyRow = Arc<dyn Any + Send + Sync>;

/// One row's change in the client cache.
#[derive(Debug, Clone)]
pub enum Change<R> {
    /// A row entered the cache.
    Insert(R),
    /// The row with this primary key changed (a delete and an insert in one update).
    Update {
        /// The row before.
        old: R,
        /// The row after.
        new: R,
    },
    /// A row left the cache.
    Delete(R),
}

impl Change<AnyRow> {
    /// The change with rows of type `T`, or `None` if the rows are of another type.
    pub fn downcast<T: Row>(&self) -> Option<Change<Arc<T>>> {
        let cast = |row: &AnyRow| Arc::clone(row).downcast::<T>().ok();
        Some(match self {
            Change::Insert(row) => Change::Insert(cast(row)?),
            Change::Update { old, new } => Change::Update {
                old: cast(old)?,
                new: cast(new)?,
            },
            Change::Delete(row) => Change::Delete(cast(row)?),
        })
    }
}

impl<R> Change<R> {
    /// The row as it is now (`None` for a delete).
    pub fn current(&self) -> Option<&R> {
        match self {
            Change::Insert(row) | Change::Update { new: row, .. } => Some(row),
            Change::Delete(_) => None,
        }
    }
}

/// A reducer run that changed the cache (or was called by this connection).
#[derive(Debug, Clone, PartialEq)]
pub struct ReducerEvent {
    /// The reducer's name (`"<none>"` for errors that are not a reducer's).
    pub reducer: String,
    /// Who called it.
    pub caller_identity: Identity,
    /// From which connection.
    pub caller_connection_id: ConnectionId,
    /// When it ran.
    pub timestamp: Timestamp,
    /// The call's request id when this connection made the call.
    pub request_id: Option<RequestId>,
    /// How it ended.
    pub outcome: ReducerOutcome,
}

/// Why rows changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    /// A subscription's initial rows arrived.
    SubscriptionApplied,
    /// A subscription ended and its rows left.
    SubscriptionEnded,
    /// A reducer committed (full update).
    Reducer(ReducerEvent),
    /// A reducer called by another connection committed (light mode: no details).
    LightUpdate,
    /// The server dropped every subscription of this connection.
    SubscriptionsDropped,
    /// After a reconnect, rows that changed or vanished while the socket was down.
    Resync,
}

/// The changes of one table caused by one server message.
#[derive(Debug, Clone)]
pub struct RowChanges {
    /// The table.
    pub table: &'static str,
    /// Why.
    pub cause: Arc<Cause>,
    /// The changes, each row once.
    pub changes: Vec<Change<AnyRow>>,
}

impl RowChanges {
    /// The changes as rows of `T` (empty for another table).
    pub fn of<T: Row>(&self) -> Vec<Change<Arc<T>>> {
        if self.table != T::TABLE {
            return Vec::new();
        }
        self.changes
            .iter()
            .filter_map(Change::downcast::<T>)
            .collect()
    }
}

/// Something the user of the core should know.
#[derive(Debug, Clone)]
pub enum Event {
    /// The server accepted the connection.
    Connected {
        /// Who we are.
        identity: Identity,
        /// This connection.
        connection_id: ConnectionId,
        /// The long-lived token to persist; only for an anonymous connect (with a token, the
        /// server echoes the token used, which may be a 60-second one).
        new_token: Option<String>,
    },
    /// A subscription's rows are in the cache.
    SubscriptionApplied(SubscriptionId),
    /// A subscription failed; it is over.
    SubscriptionFailed {
        /// Which.
        id: SubscriptionId,
        /// The server's message, or why this client refused the set's rows (it then ends
        /// the set on the server too).
        error: String,
    },
    /// A subscription ended after `unsubscribe`.
    SubscriptionEnded(SubscriptionId),
    /// Rows changed in the cache.
    RowsChanged(RowChanges),
    /// A reducer call made by this connection ended.
    ReducerDone {
        /// The call.
        request_id: RequestId,
        /// The reducer.
        reducer: String,
        /// How it ended.
        outcome: ReducerOutcome,
    },
    /// A failure sent to this connection that cannot be pinned on one of its calls.
    ///
    /// SpacetimeDB 1.2 answers a failed reducer call with request id 0, named after the reducer;
    /// it is that call's only when exactly one call of that reducer is pending and none timed
    /// out lately (a call that timed out may still get its late failure; it is remembered for
    /// 10 minutes, at most 256 of them). Failures that are not a reducer's (a failed
    /// subscription or one-off query, an unknown reducer) are named `"<none>"` and never belong
    /// to a call. Calls such a failure may belong to end by their timeout
    /// ([`ReducerOutcome::TimedOut`]).
    UnattributedFailure {
        /// The reducer name the server gave (`"<none>"` for failures that are not a reducer's).
        reducer: String,
        /// What the server said.
        outcome: ReducerOutcome,
    },
    /// A one-off query was answered (or timed out).
    OneOffDone {
        /// The query.
        id: OneOffQueryId,
        /// Its tables, or the server's error (or why there is no answer).
        result: OneOffResult,
    },
    /// A server frame could not be used; it was dropped and the connection goes on.
    FrameError(FrameError),
}
