//! The client cache: the rows of every subscribed query, per table.
//!
//! Rows are keyed by their BSATN bytes with a reference count, because overlapping queries
//! deliver the same row more than once; a second index maps primary keys to rows, so a delete
//! and an insert of the same key in one update become one [`Change::Update`]. Rows are shared
//! as `Arc<T>` and never mutated: a snapshot stays what it was.
//!
//! After a reconnect the cache is *resynced*: every row becomes stale but stays readable; rows
//! that the re-applied subscriptions deliver again come back silently, changed rows become
//! updates, and whatever is still stale when the resync finishes is deleted. No flicker, no
//! empty-then-full.

use crate::event::{AnyRow, Change};
use crate::row::RowDecoder;
use crate::row_list::RowRanges;
use crate::{FrameError, Row};
use bytes::Bytes;
use rustc_hash::FxHashMap;
use std::any::Any;
use std::sync::Arc;

#[derive(Debug)]
struct Entry<T> {
    row: Arc<T>,
    count: u32,
}

/// The cached rows of one table.
#[derive(Debug)]
pub struct TableCache<T: Row> {
    rows: FxHashMap<Bytes, Entry<T>>,
    by_key: FxHashMap<T::Key, Bytes>,
    /// Rows of the previous connection not yet delivered again (only during a resync).
    stale: FxHashMap<T::Key, (Bytes, Arc<T>)>,
    decoder: RowDecoder,
}

impl<T: Row> Default for TableCache<T> {
    fn default() -> Self {
        Self {
            rows: FxHashMap::default(),
            by_key: FxHashMap::default(),
            stale: FxHashMap::default(),
            decoder: RowDecoder::new::<T>(),
        }
    }
}

impl<T: Row> TableCache<T> {
    /// Number of distinct rows (stale ones included during a resync).
    pub fn len(&self) -> usize {
        self.rows.len() + self.stale.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The row with this primary key.
    pub fn get(&self, key: &T::Key) -> Option<Arc<T>> {
        match self.by_key.get(key) {
            Some(bytes) => self.rows.get(bytes).map(|e| Arc::clone(&e.row)),
            None => self.stale.get(key).map(|(_, row)| Arc::clone(row)),
        }
    }

    /// Every row, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<T>> {
        self.rows
            .values()
            .map(|e| &e.row)
            .chain(self.stale.values().map(|(_, row)| row))
    }

    /// Starts a resync: every row becomes stale (still readable) until delivered again.
    pub(crate) fn begin_resync(&mut self) {
        // Rows keep the keys the index owns. A row the index does not point at was shadowed by a
        // newer row with its key, and goes.
        self.stale.reserve(self.by_key.len());
        for (key, bytes) in self.by_key.drain() {
            if let Some((bytes, entry)) = self.rows.remove_entry(&bytes) {
                self.stale.insert(key, (bytes, entry.row));
            }
        }
        self.rows.clear();
    }

    /// Ends a resync: rows not delivered again are deleted.
    pub(crate) fn finish_resync(&mut self) -> Vec<Change<Arc<T>>> {
        self.stale
            .drain()
            .map(|(_, (_, row))| Change::Delete(row))
            .collect()
    }

    /// The rows matching `filter`, as an immutable snapshot.
    pub fn snapshot(&self, filter: impl Fn(&T) -> bool) -> Vec<Arc<T>> {
        self.iter().filter(|r| filter(r)).cloned().collect()
    }

    /// Applies one update: the rows of `deletes` then those of `inserts`. Either the whole update
    /// applies or, when a row list cannot hold rows of `T` or a row does not decode, nothing does.
    ///
    /// Memory: each distinct row not yet cached is decoded once (a list repeating one row a
    /// million times costs one row), and a new row's bytes are copied out of the frame, so the
    /// cache never keeps a frame's buffer alive for the sake of a few rows.
    pub(crate) fn apply_rows(
        &mut self,
        deletes: &[RowRanges],
        inserts: &[RowRanges],
    ) -> Result<Vec<Change<Arc<T>>>, FrameError> {
        let size = self.decoder.row_size();
        for list in deletes.iter().chain(inserts) {
            list.check_row_size(size, T::TABLE)?;
        }
        // Decode first, so a bad row leaves the cache untouched. Rows already cached keep their
        // `Arc` (they may be deleted to zero below and inserted again).
        let mut incoming: FxHashMap<&[u8], Arc<T>> = FxHashMap::default();
        for bytes in inserts.iter().flat_map(RowRanges::slices) {
            if incoming.contains_key(bytes) {
                continue;
            }
            let row = match self.rows.get(bytes) {
                Some(entry) => Arc::clone(&entry.row),
                None => Arc::new(self.decoder.decode::<T>(bytes)?),
            };
            incoming.insert(bytes, row);
        }

        let mut removed: FxHashMap<T::Key, (Bytes, Arc<T>)> = FxHashMap::default();
        let mut unknown_deletes = 0usize;
        for bytes in deletes.iter().flat_map(RowRanges::slices) {
            let Some(entry) = self.rows.get_mut(bytes) else {
                unknown_deletes += 1;
                continue;
            };
            entry.count -= 1;
            if entry.count == 0
                && let Some((bytes, entry)) = self.rows.remove_entry(bytes)
            {
                let key = entry.row.primary_key();
                let key = match self.by_key.get(key) == Some(&bytes) {
                    // Take the index's key rather than copying it.
                    true => self.by_key.remove_entry(key).map(|(key, _)| key),
                    false => None,
                }
                .unwrap_or_else(|| key.clone());
                removed.insert(key, (bytes, entry.row));
            }
        }
        if unknown_deletes > 0 {
            log::debug!(
                "{}: {unknown_deletes} deletes of rows not in the cache",
                T::TABLE
            );
        }

        let mut changes = Vec::with_capacity(incoming.len() + removed.len());
        for bytes in inserts.iter().flat_map(RowRanges::slices) {
            if let Some(entry) = self.rows.get_mut(bytes) {
                entry.count += 1;
                continue;
            }
            let Some(row) = incoming.get(bytes).map(Arc::clone) else {
                continue;
            };
            let key = row.primary_key();
            let previous = match removed.remove_entry(key) {
                Some(previous) => Some(previous),
                None if self.stale.is_empty() => None,
                None => self.stale.remove_entry(key),
            };
            // A key seen before is moved back into the index; only a new one is copied.
            let (key, previous) = match previous {
                Some((key, previous)) => (key, Some(previous)),
                None => (key.clone(), None),
            };
            let change = match previous {
                // The same row again (delete + insert of equal bytes, or a stale row delivered
                // again after a reconnect): keep the old `Arc` and bytes, say nothing.
                Some((old_bytes, old)) if *old_bytes == *bytes => {
                    self.by_key.insert(key, old_bytes.clone());
                    self.rows.insert(old_bytes, Entry { row: old, count: 1 });
                    continue;
                }
                Some((_, old)) => Change::Update {
                    old,
                    new: Arc::clone(&row),
                },
                None => Change::Insert(Arc::clone(&row)),
            };
            let bytes = Bytes::copy_from_slice(bytes);
            self.by_key.insert(key, bytes.clone());
            self.rows.insert(bytes, Entry { row, count: 1 });
            changes.push(change);
        }
        changes.extend(removed.into_values().map(|(_, row)| Change::Delete(row)));
        Ok(changes)
    }

    /// Empties the table, returning a delete for every row.
    pub(crate) fn clear_rows(&mut self) -> Vec<Change<Arc<T>>> {
        self.by_key.clear();
        let stale = self.stale.drain().map(|(_, (_, row))| row);
        self.rows
            .drain()
            .map(|(_, e)| e.row)
            .chain(stale)
            .map(Change::Delete)
            .collect()
    }
}

/// A table cache of any row type, as the core holds them.
pub(crate) trait AnyTable: Send {
    fn name(&self) -> &'static str;
    fn begin_resync(&mut self);
    fn finish_resync(&mut self) -> Vec<Change<AnyRow>>;
    fn apply(
        &mut self,
        deletes: &[RowRanges],
        inserts: &[RowRanges],
    ) -> Result<Vec<Change<AnyRow>>, FrameError>;
    /// An empty cache of the same row type.
    fn empty(&self) -> Box<dyn AnyTable>;
    fn clear(&mut self) -> Vec<Change<AnyRow>>;
    fn as_any(&self) -> &dyn Any;
}

fn erase<T: Row>(change: Change<Arc<T>>) -> Change<AnyRow> {
    match change {
        Change::Insert(row) => Change::Insert(row),
        Change::Update { old, new } => Change::Update { old, new },
        Change::Delete(row) => Change::Delete(row),
    }
}

impl<T: Row> AnyTable for TableCache<T> {
    fn name(&self) -> &'static str {
        T::TABLE
    }

    fn apply(
        &mut self,
        deletes: &[RowRanges],
        inserts: &[RowRanges],
    ) -> Result<Vec<Change<AnyRow>>, FrameError> {
        Ok(self
            .apply_rows(deletes, inserts)?
            .into_iter()
            .map(erase)
            .collect())
    }

    fn empty(&self) -> Box<dyn AnyTable> {
        Box::new(Self::default())
    }

    fn clear(&mut self) -> Vec<Change<AnyRow>> {
        self.clear_rows().into_iter().map(erase).collect()
    }

    fn begin_resync(&mut self) {
        TableCache::begin_resync(self);
    }

    fn finish_resync(&mut self) -> Vec<Change<AnyRow>> {
        TableCache::finish_resync(self)
            .into_iter()
            .map(erase)
            .collect()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
