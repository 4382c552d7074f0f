//! One-off queries: a SQL `SELECT` answered once, without a subscription.

use crate::{FrameError, Row, row::RowDecoder};
use bytes::Bytes;
use rustc_hash::FxHashSet;

/// Identifies one one-off query of this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OneOffQueryId(pub u32);

/// The rows of one table in a one-off answer, still encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct OneOffTable {
    /// The table.
    pub table: String,
    /// Each row's BSATN.
    pub rows: Vec<Bytes>,
}

impl OneOffTable {
    /// The rows decoded as `T`.
    pub fn decode<T: Row>(&self) -> Result<Vec<T>, FrameError> {
        let decoder = RowDecoder::new::<T>();
        self.rows
            .iter()
            .map(|row| decoder.decode::<T>(row))
            .collect()
    }
}

/// A one-off query's answer: its tables, or the server's error message.
pub type OneOffResult = Result<Vec<OneOffTable>, String>;

/// Queries waiting for an answer.
#[derive(Debug, Default)]
pub(crate) struct PendingQueries {
    ids: FxHashSet<u32>,
}

impl PendingQueries {
    pub fn insert(&mut self, id: OneOffQueryId) {
        self.ids.insert(id.0);
    }

    /// The query an answer's message id belongs to, if it is pending.
    pub fn finish(&mut self, message_id: &[u8]) -> Option<OneOffQueryId> {
        let id = u32::from_le_bytes(message_id.try_into().ok()?);
        self.ids.remove(&id).then_some(OneOffQueryId(id))
    }

    /// Every pending query, removed.
    pub fn drain(&mut self) -> Vec<OneOffQueryId> {
        let mut all: Vec<_> = self.ids.drain().map(OneOffQueryId).collect();
        all.sort();
        all
    }
}
