//! The client cache: the rows of every subscribed query, per table.
//!
//! Rows are keyed by their BSATN bytes with a reference count, because overlapping queries
//! deliver the same row more than once; a second index maps primary keys to rows, so a delete
//! and an insert of the same key in one update become one [`Change::Update`]. A table holds at
//! most one row per primary key: an update that would hold two is refused
//! ([`FrameError::DuplicateKey`]). Rows are shared as `Arc<T>` and never mutated: a snapshot
//! stays what it was.
//!
//! Every row is charged an upper bound of its memory ([`ROW_OVERHEAD`], from its BSATN length
//! and the most heap its type can take per BSATN byte); an update whose new rows would take the
//! cache past its limit ([`DEFAULT_MAX_CACHE_BYTES`]) is refused as a whole. Rows already
//! cached, and stale rows delivered again unchanged, are not charged again.
//!
//! After a reconnect the cache is *resynced*: every row becomes stale but stays readable; rows
//! that the re-applied subscriptions deliver again come back silently, changed rows become
//! updates, and whatever is still stale when the resync finishes is deleted. No flicker, no
//! empty-then-full.

use crate::event::{AnyRow, Change};
use crate::row::RowDecoder;
use crate::row_list::RowRanges;
use crate::{FrameError, Row};
use rustc_hash::{FxHashMap, FxHashSet};
use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

/// The default of [`crate::ConnectOptions::max_cache_bytes`]: 256 MiB.
///
/// The most memory the client cache may take, all tables together, as charged per row (see
/// [`ROW_OVERHEAD`]; measured with a counting allocator, what the rows keep stays within their
/// charge). Sized for a browser tab, whose memory never shrinks and whose wasm memory ends at
/// 4 GiB: about 300 000 rows of this app (about 200 bytes each, no arrays). An update that
/// would pass it is refused as a whole ([`FrameError::Limit`], and a
/// [`crate::Event::SubscriptionFailed`] for a subscription's initial rows, whose set is then
/// unsubscribed); the rows already cached stay. It also bounds what one frame's new rows take
/// while they are decoded: they stop being decoded once their charge passes what is left.
pub const DEFAULT_MAX_CACHE_BYTES: usize = 256 << 20;

/// What a row new to the cache is charged beyond `its BSATN length + h × (its length less the
/// smallest row of its type) + the size of its type + 3 × the size of its key`, where `h` is
/// the most heap its type can take per BSATN byte once decoded (1 for rows without arrays; 32
/// for a `Vec<Option<u128>>`, whose `None` is one byte encoded and 32 decoded). Only the bytes
/// past the smallest row can be the contents of strings and arrays (the smallest row has every
/// one empty), so only they are charged `h`. The overhead: the two `Arc` headers and both index
/// entries at the lowest load of their tables (a table's first row also brings their first
/// buckets), and what applying it takes for a while (an entry of the update's own maps,
/// its change event, a table growing). Its bytes are kept once.
pub const ROW_OVERHEAD: usize = 384;

/// The memory a row of `T` of `len` BSATN bytes is charged (see [`ROW_OVERHEAD`]): its bytes,
/// the heap of what it holds beyond the smallest row of `T` (at most `decoder`'s heap per byte
/// for each such byte), its type, its keys and the overhead.
fn row_charge<T: Row>(len: usize, decoder: &RowDecoder) -> usize {
    Rate::of(decoder).charge::<T>(len)
}

/// What [`row_charge`] needs of a row type's decoder, copied (so it can be used while the
/// cache changes).
#[derive(Debug, Clone, Copy)]
struct Rate {
    /// The smallest BSATN row of the type.
    min: usize,
    /// The most heap it takes per BSATN byte once decoded.
    per_byte: usize,
}

impl Rate {
    fn of(decoder: &RowDecoder) -> Self {
        Self {
            min: decoder.row_size().min,
            per_byte: decoder.heap_per_byte(),
        }
    }

    /// A row of `len` BSATN bytes: its bytes, its decoded heap, the heap of the primary key
    /// cloned into the index, and the fixed sizes. The key's heap comes from its variable-length
    /// part (a `String`, bytes), which takes no more heap than its bytes on the wire: the row's
    /// bytes beyond its smallest size are counted once more for it (a row with a 100 KB `String`
    /// key keeps that key twice). A fixed-size row pays nothing more.
    fn charge<T: Row>(self, len: usize) -> usize {
        let contents = len.saturating_sub(self.min);
        len.saturating_add(contents.saturating_mul(self.per_byte))
            .saturating_add(contents)
            .saturating_add(size_of::<T>() + 3 * size_of::<T::Key>() + ROW_OVERHEAD)
    }
}

/// What the rows an update adds may still take of the client cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RowBudget {
    /// Left in the client cache: `max_cache_bytes` less what every table holds.
    pub cache: usize,
    /// `max_cache_bytes`, for the error message.
    pub cache_limit: usize,
}

impl RowBudget {
    /// No limits (tests of the cache alone).
    #[cfg(test)]
    pub fn unlimited() -> Self {
        Self {
            cache: usize::MAX,
            cache_limit: usize::MAX,
        }
    }
}

/// A row's BSATN bytes, kept once and shared by both indexes.
type RowBytes = Arc<[u8]>;

/// A row out of the main index, by key: its bytes and the row (stale or being replaced).
type Keyed<T> = FxHashMap<<T as Row>::Key, (RowBytes, Arc<T>)>;

/// What an update does to a table, checked (see [`TableCache::plan`]).
struct Plan<'a, T> {
    /// How often each cached row is deleted.
    deleted: FxHashMap<&'a [u8], u32>,
    /// Each distinct inserted row, decoded (or the cached one).
    incoming: FxHashMap<&'a [u8], Arc<T>>,
}

#[derive(Debug)]
struct Entry<T> {
    row: Arc<T>,
    count: u32,
}

/// The cached rows of one table.
#[derive(Debug)]
pub struct TableCache<T: Row> {
    rows: FxHashMap<RowBytes, Entry<T>>,
    by_key: FxHashMap<T::Key, RowBytes>,
    /// Rows of the previous connection not yet delivered again (only during a resync).
    stale: Keyed<T>,
    /// What the rows (stale ones included) are charged, together.
    held: usize,
    /// What the stale rows are charged, together (part of `held`), kept as they come and go so
    /// an update during a resync never walks every stale row.
    stale_held: usize,
    decoder: RowDecoder,
    /// How many row charges were computed (tests count work with it).
    #[cfg(test)]
    charges: std::cell::Cell<u64>,
}

impl<T: Row> Default for TableCache<T> {
    fn default() -> Self {
        Self {
            rows: FxHashMap::default(),
            by_key: FxHashMap::default(),
            stale: FxHashMap::default(),
            held: 0,
            stale_held: 0,
            decoder: RowDecoder::new::<T>(),
            #[cfg(test)]
            charges: std::cell::Cell::new(0),
        }
    }
}

/// Whether the cached row `bytes` leaves the cache when deleted as often as `deleted` says.
fn leaves<T>(
    rows: &FxHashMap<RowBytes, Entry<T>>,
    deleted: &FxHashMap<&[u8], u32>,
    bytes: &[u8],
) -> bool {
    match (rows.get(bytes), deleted.get(bytes)) {
        (Some(entry), Some(&times)) => entry.count <= times,
        _ => false,
    }
}

/// A primary key as it goes in an error message (shortened: it comes from the server).
fn describe_key(key: &impl Debug) -> String {
    const MAX: usize = 64;
    let mut text = format!("{key:?}");
    if text.len() > MAX {
        let mut end = MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
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

    /// The memory the rows are charged, together (see [`DEFAULT_MAX_CACHE_BYTES`]).
    pub fn charged_bytes(&self) -> usize {
        self.held
    }

    /// What a row of `len` BSATN bytes is charged.
    fn charge(&self, len: usize) -> usize {
        #[cfg(test)]
        self.charges.set(self.charges.get() + 1);
        row_charge::<T>(len, &self.decoder)
    }

    /// How many row charges this table computed so far (work, for tests).
    #[cfg(test)]
    pub(crate) fn charges_computed(&self) -> u64 {
        self.charges.get()
    }

    /// Checks the running total of the stale rows' charge against their sum (tests).
    #[cfg(test)]
    pub(crate) fn assert_stale_held(&self) {
        let sum: usize = self
            .stale
            .values()
            .map(|(bytes, _)| row_charge::<T>(bytes.len(), &self.decoder))
            .sum();
        assert_eq!(
            self.stale_held, sum,
            "running total of the stale rows' charge"
        );
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
        // Rows keep the keys the index owns (one row per key).
        self.stale.reserve(self.by_key.len());
        for (key, bytes) in self.by_key.drain() {
            if let Some((bytes, entry)) = self.rows.remove_entry(&bytes) {
                self.stale.insert(key, (bytes, entry.row));
            }
        }
        self.rows.clear();
        self.held = self
            .stale
            .values()
            .map(|(bytes, _)| self.charge(bytes.len()))
            .sum();
        self.stale_held = self.held;
    }

    /// Ends a resync: rows not delivered again are deleted.
    #[cfg(test)]
    pub(crate) fn finish_resync(&mut self) -> Vec<Change<Arc<T>>> {
        self.finish_resync_with(|row| row)
    }

    /// [`Self::finish_resync`], each row made an `R` by `wrap`.
    fn finish_resync_with<R>(&mut self, wrap: fn(Arc<T>) -> R) -> Vec<Change<R>> {
        let changes: Vec<_> = self
            .stale
            .drain()
            .map(|(_, (bytes, row))| {
                self.held = self
                    .held
                    .saturating_sub(row_charge::<T>(bytes.len(), &self.decoder));
                Change::Delete(wrap(row))
            })
            .collect();
        self.stale_held = 0;
        changes
    }

    /// The rows matching `filter`, as an immutable snapshot.
    pub fn snapshot(&self, filter: impl Fn(&T) -> bool) -> Vec<Arc<T>> {
        self.iter().filter(|r| filter(r)).cloned().collect()
    }

    /// Applies one update: the rows of `deletes` then those of `inserts`. Either the whole update
    /// applies or nothing does: when a row list cannot hold rows of `T`, a row does not decode,
    /// two rows would have one primary key, or the new rows do not fit in `budget`.
    ///
    /// Memory: each distinct row not yet cached is decoded once (a list repeating one row a
    /// million times costs one row) and charged (see [`ROW_OVERHEAD`]) before it is decoded, so
    /// an update over its budget is refused before it takes more; rows already cached and stale
    /// rows delivered again unchanged are not charged. A new row's bytes are copied out of the
    /// frame, so the cache never keeps a frame's buffer alive for the sake of a few rows.
    #[cfg(test)]
    pub(crate) fn apply_rows(
        &mut self,
        deletes: &[RowRanges],
        inserts: &[RowRanges],
        budget: &mut RowBudget,
    ) -> Result<Vec<Change<Arc<T>>>, FrameError> {
        self.apply_with(deletes, inserts, budget, |row| row)
    }

    fn duplicate_key(key: &T::Key, message: &str) -> FrameError {
        FrameError::DuplicateKey {
            table: T::TABLE.to_owned(),
            key: describe_key(key),
            message: message.to_owned(),
        }
    }

    fn over_cache(budget: &RowBudget, charged: usize, room: usize) -> FrameError {
        FrameError::Limit {
            what: "rows",
            message: format!(
                "table {}: the update would take the client cache past max_cache_bytes \
                 ({} bytes): its new rows are charged at least {charged} bytes and {room} are \
                 left; end a subscription or raise max_cache_bytes",
                T::TABLE,
                budget.cache_limit,
            ),
        }
    }

    /// Checks an update without touching the cache: what [`Self::apply_with`] would refuse, it
    /// refuses; what it would apply takes its new rows' charge out of `budget`.
    fn plan<'a>(
        &self,
        deletes: &'a [RowRanges],
        inserts: &'a [RowRanges],
        budget: &mut RowBudget,
    ) -> Result<Plan<'a, T>, FrameError> {
        let size = self.decoder.row_size();
        for list in deletes.iter().chain(inserts) {
            list.check_row_size(size, T::TABLE)?;
        }
        let charge = |len| self.charge(len);

        // Plan without touching the cache, so a refused update leaves it as it was. First, how
        // often each cached row is deleted (a row leaves once deleted as often as it is held).
        let mut deleted: FxHashMap<&[u8], u32> = FxHashMap::default();
        let mut unknown_deletes = 0usize;
        for bytes in deletes.iter().flat_map(RowRanges::slices) {
            match self.rows.contains_key(bytes) {
                true => *deleted.entry(bytes).or_default() += 1,
                false => unknown_deletes += 1,
            }
        }
        if unknown_deletes > 0 {
            log::debug!(
                "{}: {unknown_deletes} deletes of rows not in the cache",
                T::TABLE
            );
        }
        let mut freed: usize = deleted
            .keys()
            .filter(|bytes| leaves(&self.rows, &deleted, bytes))
            .map(|bytes| charge(bytes.len()))
            .sum();

        // Then the inserted rows, each distinct one once; new ones are decoded and charged.
        // Rows already cached keep their `Arc` (they may be deleted to zero and inserted again),
        // and so do stale rows delivered again unchanged (a resync): neither is charged. New
        // rows are decoded only while their charge fits in what the cache could have left
        // once every row this update may free is gone, so a refused update stops early.
        let stale_held = self.stale_held;
        let mut incoming: FxHashMap<&[u8], Arc<T>> = FxHashMap::default();
        let mut charged = 0usize;
        let mut again = 0usize;
        for bytes in inserts.iter().flat_map(RowRanges::slices) {
            if incoming.contains_key(bytes) {
                continue;
            }
            let row = match self.rows.get(bytes) {
                Some(entry) => {
                    if leaves(&self.rows, &deleted, bytes) {
                        // Deleted and inserted again: it stays after all.
                        freed = freed.saturating_sub(charge(bytes.len()));
                    }
                    Arc::clone(&entry.row)
                }
                None => {
                    // Checked before decoding: a row's charge bounds what decoding it takes. A
                    // stale row delivered again counts here too (at most what the stale rows
                    // hold, which `most` includes).
                    let cost = charge(bytes.len());
                    let most = budget
                        .cache
                        .saturating_add(freed)
                        .saturating_add(stale_held);
                    if charged.saturating_add(again).saturating_add(cost) > most {
                        return Err(Self::over_cache(budget, charged.saturating_add(cost), most));
                    }
                    let row = self.decoder.decode::<T>(bytes)?;
                    match self.stale.get(row.primary_key()) {
                        // A stale row delivered again: already charged, keep its `Arc`.
                        Some((old, old_row)) if **old == *bytes => {
                            again = again.saturating_add(cost);
                            Arc::clone(old_row)
                        }
                        _ => {
                            charged = charged.saturating_add(cost);
                            Arc::new(row)
                        }
                    }
                }
            };
            incoming.insert(bytes, row);
        }

        // One row per primary key: a new row's key must be free once the deletes applied (or be
        // a stale row's, which it replaces).
        let mut new_keys: FxHashSet<&T::Key> = FxHashSet::default();
        for (bytes, row) in &incoming {
            if self.rows.contains_key(*bytes) {
                continue;
            }
            let key = row.primary_key();
            if !new_keys.insert(key) {
                return Err(Self::duplicate_key(
                    key,
                    "two different rows with it in one update",
                ));
            }
            if let Some(held) = self.by_key.get(key)
                && (!leaves(&self.rows, &deleted, held) || incoming.contains_key(&**held))
            {
                return Err(Self::duplicate_key(
                    key,
                    "a row with it is inserted while another stays cached",
                ));
            }
            if let Some((old, _)) = self.stale.get(key)
                && **old != **bytes
            {
                // A stale row replaced by a changed one: its charge goes.
                freed = freed.saturating_add(charge(old.len()));
            }
        }
        drop(new_keys);
        let room = budget.cache.saturating_add(freed);
        if charged > room {
            return Err(Self::over_cache(budget, charged, room));
        }
        budget.cache = room - charged;
        Ok(Plan { deleted, incoming })
    }

    /// `apply_rows` (tests only), each row of the changes made an `R` by `wrap`.
    fn apply_with<R>(
        &mut self,
        deletes: &[RowRanges],
        inserts: &[RowRanges],
        budget: &mut RowBudget,
        wrap: fn(Arc<T>) -> R,
    ) -> Result<Vec<Change<R>>, FrameError> {
        let Plan { deleted, incoming } = self.plan(deletes, inserts, budget)?;
        let rate = Rate::of(&self.decoder);
        let charge = |len| rate.charge::<T>(len);

        // Apply: deletes first.
        let mut removed: Keyed<T> = FxHashMap::default();
        for (bytes, times) in deleted {
            let Some(entry) = self.rows.get_mut(bytes) else {
                continue;
            };
            entry.count = entry.count.saturating_sub(times);
            if entry.count == 0
                && let Some((bytes, entry)) = self.rows.remove_entry(bytes)
            {
                self.held = self.held.saturating_sub(charge(bytes.len()));
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

        // Reserved as changes come: rows sent again change nothing.
        let mut changes = Vec::new();
        for bytes in inserts.iter().flat_map(RowRanges::slices) {
            if let Some(entry) = self.rows.get_mut(bytes) {
                entry.count = entry.count.saturating_add(1);
                continue;
            }
            let Some(row) = incoming.get(bytes).map(Arc::clone) else {
                continue;
            };
            let key = row.primary_key();
            let previous = match removed.remove_entry(key) {
                Some(previous) => Some(previous),
                None if self.stale.is_empty() => None,
                None => self.stale.remove_entry(key).inspect(|(_, (old, _))| {
                    self.held = self.held.saturating_sub(charge(old.len()));
                    self.stale_held = self.stale_held.saturating_sub(charge(old.len()));
                }),
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
                    self.held = self.held.saturating_add(charge(old_bytes.len()));
                    self.by_key.insert(key, Arc::clone(&old_bytes));
                    self.rows.insert(old_bytes, Entry { row: old, count: 1 });
                    continue;
                }
                Some((_, old)) => Change::Update {
                    old: wrap(old),
                    new: wrap(Arc::clone(&row)),
                },
                None => Change::Insert(wrap(Arc::clone(&row))),
            };
            let bytes: RowBytes = Arc::from(bytes);
            self.held = self.held.saturating_add(charge(bytes.len()));
            self.by_key.insert(key, Arc::clone(&bytes));
            self.rows.insert(bytes, Entry { row, count: 1 });
            changes.push(change);
        }
        changes.extend(
            removed
                .into_values()
                .map(|(_, row)| Change::Delete(wrap(row))),
        );
        Ok(changes)
    }

    /// Empties the table, returning a delete for every row.
    fn clear_with<R>(&mut self, wrap: fn(Arc<T>) -> R) -> Vec<Change<R>> {
        self.by_key.clear();
        self.held = 0;
        self.stale_held = 0;
        let stale = self.stale.drain().map(|(_, (_, row))| row);
        self.rows
            .drain()
            .map(|(_, e)| e.row)
            .chain(stale)
            .map(|row| Change::Delete(wrap(row)))
            .collect()
    }
}

/// A table cache of any row type, as the core holds them.
pub(crate) trait AnyTable: Send {
    fn name(&self) -> &'static str;
    /// What the rows are charged, together.
    fn charged_bytes(&self) -> usize;
    fn begin_resync(&mut self);
    fn finish_resync(&mut self) -> Vec<Change<AnyRow>>;
    fn apply(
        &mut self,
        deletes: &[RowRanges],
        inserts: &[RowRanges],
        budget: &mut RowBudget,
    ) -> Result<Vec<Change<AnyRow>>, FrameError>;
    /// Whether [`Self::apply`] would apply this update; its new rows' charge leaves `budget`.
    fn check(
        &self,
        deletes: &[RowRanges],
        inserts: &[RowRanges],
        budget: &mut RowBudget,
    ) -> Result<(), FrameError>;
    /// An empty cache of the same row type.
    fn empty(&self) -> Box<dyn AnyTable>;
    fn clear(&mut self) -> Vec<Change<AnyRow>>;
    fn as_any(&self) -> &dyn Any;
}

fn erase<T: Row>(row: Arc<T>) -> AnyRow {
    row
}

impl<T: Row> AnyTable for TableCache<T> {
    fn name(&self) -> &'static str {
        T::TABLE
    }

    fn charged_bytes(&self) -> usize {
        self.held
    }

    fn apply(
        &mut self,
        deletes: &[RowRanges],
        inserts: &[RowRanges],
        budget: &mut RowBudget,
    ) -> Result<Vec<Change<AnyRow>>, FrameError> {
        self.apply_with(deletes, inserts, budget, erase::<T>)
    }

    fn check(
        &self,
        deletes: &[RowRanges],
        inserts: &[RowRanges],
        budget: &mut RowBudget,
    ) -> Result<(), FrameError> {
        self.plan(deletes, inserts, budget).map(drop)
    }

    fn empty(&self) -> Box<dyn AnyTable> {
        Box::new(Self::default())
    }

    fn clear(&mut self) -> Vec<Change<AnyRow>> {
        self.clear_with(erase::<T>)
    }

    fn begin_resync(&mut self) {
        TableCache::begin_resync(self);
    }

    fn finish_resync(&mut self) -> Vec<Change<AnyRow>> {
        self.finish_resync_with(erase::<T>)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
