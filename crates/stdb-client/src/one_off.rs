//! One-off queries: a SQL `SELECT` answered once, without a subscription.

use crate::row::RowDecoder;
use crate::row_list::RowRanges;
use crate::{FrameError, Row};
use bytes::Bytes;
use rustc_hash::FxHashMap;
use std::time::Duration;

/// Identifies one one-off query of this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OneOffQueryId(pub u32);

/// The rows of one table in a one-off answer, still encoded.
///
/// The rows are kept as the server sent them (one buffer and checked row boundaries), not as a
/// list of slices: a hostile size hint such as one byte per row costs nothing until the rows are
/// decoded, and [`decode`](Self::decode) refuses hints that cannot hold a row of the type asked
/// for.
#[derive(Debug, Clone, PartialEq)]
pub struct OneOffTable {
    /// The table.
    pub table: String,
    pub(crate) rows: RowRanges,
}

impl OneOffTable {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.len() == 0
    }

    /// Each row's BSATN, in order.
    pub fn rows(&self) -> impl Iterator<Item = Bytes> + '_ {
        self.rows.iter()
    }

    /// The rows decoded as `T`; an error if the row boundaries cannot hold rows of `T` or a row
    /// does not decode.
    pub fn decode<T: Row>(&self) -> Result<Vec<T>, FrameError> {
        let decoder = RowDecoder::new::<T>();
        self.rows.check_row_size(decoder.row_size(), &self.table)?;
        self.rows
            .iter()
            .map(|row| decoder.decode::<T>(&row))
            .collect()
    }
}

/// A one-off query's answer: its tables, or the server's error message.
pub type OneOffResult = Result<Vec<OneOffTable>, String>;

/// Queries waiting for an answer, with their deadlines in the core's clock.
#[derive(Debug, Default)]
pub(crate) struct PendingQueries {
    ids: FxHashMap<u32, Duration>,
}

impl PendingQueries {
    pub fn insert(&mut self, id: OneOffQueryId, deadline: Duration) {
        self.ids.insert(id.0, deadline);
    }

    /// The query an answer's message id belongs to, if it is pending.
    pub fn finish(&mut self, message_id: &[u8]) -> Option<OneOffQueryId> {
        let id = u32::from_le_bytes(message_id.try_into().ok()?);
        self.ids.remove(&id).map(|_| OneOffQueryId(id))
    }

    /// The queries whose deadline is `now` or earlier, removed, oldest first.
    pub fn expire(&mut self, now: Duration) -> Vec<OneOffQueryId> {
        let mut expired: Vec<u32> = self
            .ids
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        expired.sort_unstable();
        for id in &expired {
            self.ids.remove(id);
        }
        expired.into_iter().map(OneOffQueryId).collect()
    }

    /// The earliest deadline of a pending query.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.ids.values().copied().min()
    }

    /// Every pending query, removed.
    pub fn drain(&mut self) -> Vec<OneOffQueryId> {
        let mut all: Vec<_> = self.ids.drain().map(|(id, _)| OneOffQueryId(id)).collect();
        all.sort();
        all
    }
}
