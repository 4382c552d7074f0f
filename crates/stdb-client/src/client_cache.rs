//! The client cache: the rows of every subscribed query, per table.
//!
//! A table is one map keyed by primary key (read from the row, never copied): each entry is
//! the decoded row behind an `Arc` and how often it is held, because overlapping queries
//! deliver the same row more than once. No BSATN is kept: whether incoming bytes are "the same
//! row" as a cached one (a row delivered again, a delete, a row delivered again after a
//! reconnect) is decided by decoding them to read their key, then encoding the row cached under
//! it again and comparing byte for byte (without allocating; only bytes of the cached row's own
//! length are compared, so a small row never costs the encoding of a huge one). Bytes, not
//! `==`: a row holding a NaN is still itself and `-0.0` is not `0.0`; bytes past the end of a
//! row (junk, or a column the client's row type lacks) do not decode at all. A delete
//! and an insert of the same key in one update become one [`Change::Update`]; a delete that
//! matches no cached row is ignored. A table holds at most
//! one row per primary key: an update that would hold two is refused
//! ([`FrameError::DuplicateKey`]). Rows are shared as `Arc<T>` and never mutated: a snapshot
//! stays what it was.
//!
//! Every row is charged an upper bound of its memory ([`ROW_OVERHEAD`], from its BSATN length
//! and the most heap its type can take per BSATN byte); an update whose new rows would take the
//! cache past its limit ([`DEFAULT_MAX_CACHE_BYTES`]) is refused as a whole. Rows already
//! cached, and stale rows delivered again unchanged, are not charged again (and keep their
//! charge).
//!
//! Deleting a row, or delivering a cached row again, decodes it once more, one row at a time,
//! dropped before the next: at most the charge of the longest row the table has held since it
//! was last empty, on top of the cache. Longer bytes cannot be a cached row and are not decoded
//! for it; a delete that matches no cached row keeps nothing.
//!
//! After a reconnect the cache is *resynced*: every row becomes stale (held zero times) but
//! stays readable; rows that the re-applied subscriptions deliver again come back silently,
//! changed rows become updates, and whatever is still stale when the resync finishes is
//! deleted. No flicker, no empty-then-full.

use crate::event::{AnyRow, Change};
use crate::far_frame::{FarRows, FrameSource};
use crate::row::{RowDecoder, encodes_as};
use crate::row_list::RowRanges;
use crate::{FrameError, Row};
use std::any::Any;
use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The default of [`crate::ConnectOptions::max_cache_bytes`]: 256 MiB.
///
/// The most memory the client cache may take, all tables together, as charged per row (see
/// [`ROW_OVERHEAD`]; measured with a counting allocator, what the rows keep stays within their
/// charge). Sized for a browser tab, whose memory never shrinks and whose wasm memory ends at
/// 4 GiB: about 400 000 rows of this app (about 250 bytes each, no arrays). An update that
/// would pass it is refused as a whole ([`FrameError::Limit`], and a
/// [`crate::Event::SubscriptionFailed`] for a subscription's initial rows, whose set is then
/// unsubscribed); the rows already cached stay. It also bounds what one frame's new rows take
/// while they are decoded: they stop being decoded once their charge passes what is left.
pub const DEFAULT_MAX_CACHE_BYTES: usize = 256 << 20;

/// What a row new to the cache is charged beyond `h × (its BSATN length less the smallest row
/// of its type) + the size of its type` and its [`Row::BOXED_HEAP`], where `h` is the most
/// heap its type can take per BSATN byte once decoded (1 for rows without arrays; 32 for a
/// `Vec<Option<u128>>`, whose `None` is one byte encoded and 32 decoded). Only the bytes past
/// the smallest row can be the contents of strings and arrays (the smallest row has every one
/// empty), so only they are charged `h`.
/// The overhead: the `Arc` header and the map entry at the lowest load of its table (a table's
/// first row also brings its first buckets), and what applying it takes for a while (entries of
/// the update's own maps, its change event, the table growing). Its BSATN is not kept.
pub const ROW_OVERHEAD: usize = 256;

/// The memory a row of `T` of `len` BSATN bytes is charged (see [`ROW_OVERHEAD`]): the heap of
/// what it holds beyond the smallest row of `T` (at most `decoder`'s heap per byte for each
/// such byte), its type and the overhead.
#[cfg(test)]
fn row_charge<T: Row>(len: usize, decoder: &RowDecoder) -> usize {
    Rate::of(decoder).charge::<T>(len)
}

/// What a row's charge needs of its type's decoder, copied (so it can be used while the cache
/// changes).
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

    /// A row of `len` BSATN bytes: its decoded heap and the fixed sizes. The primary key is
    /// read from the row, never copied, and the bytes are not kept, so neither is charged.
    fn charge<T: Row>(self, len: usize) -> usize {
        let contents = len.saturating_sub(self.min);
        contents
            .saturating_mul(self.per_byte)
            .saturating_add(size_of::<T>() + T::BOXED_HEAP + ROW_OVERHEAD)
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

/// How the cache hashes what the server chose (primary keys, row bytes): aHash keyed with a
/// secret drawn for each table, so a server cannot pick keys that all fall in one probe
/// sequence. An unkeyed hash (FxHash) lets it: every insert then compares its key with every
/// row before it, n²/2 comparisons for n rows (a frozen tab for the 900 000 small rows the
/// default cache holds).
type KeyState = ahash::RandomState;

/// A map keyed by what the server chose.
type Map<K, V> = HashMap<K, V, KeyState>;

/// A set of what the server chose.
type Set<K> = HashSet<K, KeyState>;

/// A [`KeyState`] with a fresh secret: in wasm from the host's `crypto.getRandomValues`,
/// natively from the standard library's randomly keyed `RandomState` (the operating system's
/// randomness). In wasm the standard library's keys are fixed, so they are never used there.
fn secret_key_state() -> KeyState {
    let [a, b, c, d] = secret_seeds();
    KeyState::with_seeds(a, b, c, d)
}

#[cfg(target_arch = "wasm32")]
fn secret_seeds() -> [u64; 4] {
    use wasm_bindgen::JsCast;
    let mut bytes = [0u8; 32];
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into())
        .ok()
        .and_then(|crypto| crypto.dyn_into::<web_sys::Crypto>().ok());
    let drawn =
        crypto.is_some_and(|crypto| crypto.get_random_values_with_u8_array(&mut bytes).is_ok());
    if !drawn {
        // A host without Web Crypto: `Math.random`, 32 bits a draw.
        log::warn!("no crypto.getRandomValues: the client cache is keyed from Math.random");
        for chunk in bytes.chunks_mut(4) {
            let draw = (js_sys::Math::random() * 4_294_967_296.0) as u32;
            chunk.copy_from_slice(&draw.to_le_bytes());
        }
    }
    std::array::from_fn(|i| {
        let mut seed = [0u8; 8];
        if let Some(part) = bytes.get(i * 8..i * 8 + 8) {
            seed.copy_from_slice(part);
        }
        u64::from_le_bytes(seed)
    })
}

#[cfg(not(target_arch = "wasm32"))]
fn secret_seeds() -> [u64; 4] {
    use std::hash::BuildHasher;
    let state = std::collections::hash_map::RandomState::new();
    std::array::from_fn(|i| state.hash_one(i))
}

/// A cached row, hashed and compared by its primary key: maps of them are looked up by key
/// (through [`KeyOf`]) without a copy of the key.
#[derive(Debug)]
struct Cached<T>(Arc<T>);

/// Something with a primary key of type `K`: a cached row, or a key on its own (`&K`).
trait KeyOf<K> {
    fn key(&self) -> &K;
}

impl<T: Row> KeyOf<T::Key> for Cached<T> {
    fn key(&self) -> &T::Key {
        self.0.primary_key()
    }
}

impl<K> KeyOf<K> for &K {
    fn key(&self) -> &K {
        self
    }
}

impl<K: Hash> Hash for dyn KeyOf<K> + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl<K: Eq> PartialEq for dyn KeyOf<K> + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl<K: Eq> Eq for dyn KeyOf<K> + '_ {}

impl<T: Row> Hash for Cached<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.primary_key().hash(state);
    }
}

impl<T: Row> PartialEq for Cached<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0.primary_key() == other.0.primary_key()
    }
}

impl<T: Row> Eq for Cached<T> {}

impl<'a, T: Row> Borrow<dyn KeyOf<T::Key> + 'a> for Cached<T> {
    fn borrow(&self) -> &(dyn KeyOf<T::Key> + 'a) {
        self
    }
}

/// `key` as a map of [`Cached`] rows looks it up.
fn by<'k, K>(key: &'k &'k K) -> &'k (dyn KeyOf<K> + 'k) {
    key
}

/// How a cached row is held.
#[derive(Debug, Clone, Copy)]
struct Held {
    /// How many times (overlapping queries); 0 while stale (during a resync).
    count: u32,
    /// Its BSATN length, from which its charge is computed again when it leaves.
    len: u32,
}

impl Held {
    /// Whether `bytes` are `row`'s (held as `self`): the lengths first, so comparing costs at
    /// most the incoming bytes however large the cached row (a hostile server sending small
    /// deletes with the key of a huge row gets no work per row beyond its own bytes).
    fn is<T: Row>(&self, row: &T, bytes: &[u8]) -> bool {
        self.len as usize == bytes.len() && encodes_as(row, bytes)
    }
}

/// What an update does to a table, checked (see [`TableCache::plan`]).
struct Plan<'a, T> {
    /// How often each cached row is deleted.
    deleted: Map<Cached<T>, u32>,
    /// Each distinct inserted row by its bytes: decoded, or the cached (or stale) row that
    /// encodes as them.
    incoming: Map<&'a [u8], Arc<T>>,
    /// How many of them are new to the cache (charged).
    new_rows: usize,
}

/// The cached rows of one table.
#[derive(Debug)]
pub struct TableCache<T: Row> {
    /// Every row, by primary key, with how it is held (stale ones included, held 0 times).
    rows: Map<Cached<T>, Held>,
    /// How many rows are stale (only during a resync).
    stale: usize,
    /// What the rows (stale ones included) are charged, together.
    held: usize,
    /// What the stale rows are charged, together (part of `held`), kept as they come and go so
    /// an update during a resync never walks every stale row.
    stale_held: usize,
    /// The BSATN length of the longest row held since the table was last empty: longer bytes
    /// are no cached row, and are not decoded to find one.
    longest: u32,
    decoder: RowDecoder,
    /// Hashes this table's keys and rows, and those of every update to it (see [`KeyState`]).
    hasher: KeyState,
    /// How many row charges were computed (tests count work with it).
    #[cfg(test)]
    charges: std::cell::Cell<u64>,
}

impl<T: Row> Default for TableCache<T> {
    fn default() -> Self {
        let hasher = secret_key_state();
        Self {
            rows: Map::with_hasher(hasher.clone()),
            stale: 0,
            held: 0,
            stale_held: 0,
            longest: 0,
            decoder: RowDecoder::new::<T>(),
            hasher,
            #[cfg(test)]
            charges: std::cell::Cell::new(0),
        }
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
        self.rows.len()
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
        Rate::of(&self.decoder).charge::<T>(len)
    }

    /// How many row charges this table computed so far (work, for tests).
    #[cfg(test)]
    pub(crate) fn charges_computed(&self) -> u64 {
        self.charges.get()
    }

    /// Checks the running totals of the stale rows against the rows (tests).
    #[cfg(test)]
    pub(crate) fn assert_stale_held(&self) {
        let stale = self.rows.values().filter(|held| held.count == 0);
        let sum: usize = stale
            .clone()
            .map(|held| row_charge::<T>(held.len as usize, &self.decoder))
            .sum();
        assert_eq!(
            self.stale_held, sum,
            "running total of the stale rows' charge"
        );
        assert_eq!(self.stale, stale.count(), "running count of the stale rows");
    }

    /// The row with this primary key.
    pub fn get(&self, key: &T::Key) -> Option<Arc<T>> {
        self.rows
            .get_key_value(by(&key))
            .map(|(row, _)| Arc::clone(&row.0))
    }

    /// Every row, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<T>> {
        self.rows.keys().map(|row| &row.0)
    }

    /// Starts a resync: every row becomes stale (still readable) until delivered again.
    pub(crate) fn begin_resync(&mut self) {
        let rate = Rate::of(&self.decoder);
        let mut held = 0usize;
        for entry in self.rows.values_mut() {
            entry.count = 0;
            held = held.saturating_add(rate.charge::<T>(entry.len as usize));
        }
        self.stale = self.rows.len();
        self.held = held;
        self.stale_held = held;
    }

    /// Ends a resync: rows not delivered again are deleted.
    #[cfg(test)]
    pub(crate) fn finish_resync(&mut self) -> Vec<Change<Arc<T>>> {
        self.finish_resync_with(|row| row)
    }

    /// [`Self::finish_resync`], each row made an `R` by `wrap`.
    fn finish_resync_with<R>(&mut self, wrap: fn(Arc<T>) -> R) -> Vec<Change<R>> {
        if self.stale == 0 {
            return Vec::new();
        }
        let rate = Rate::of(&self.decoder);
        let held = &mut self.held;
        let changes = self
            .rows
            .extract_if(|_, entry| entry.count == 0)
            .map(|(row, entry)| {
                *held = held.saturating_sub(rate.charge::<T>(entry.len as usize));
                Change::Delete(wrap(row.0))
            })
            .collect();
        self.stale = 0;
        self.stale_held = 0;
        if self.rows.is_empty() {
            self.longest = 0;
        }
        changes
    }

    /// The rows matching `filter`, as an immutable snapshot.
    pub fn snapshot(&self, filter: impl Fn(&T) -> bool) -> Vec<Arc<T>> {
        self.iter().filter(|r| filter(r)).cloned().collect()
    }

    /// Applies one update: the rows of `deletes` then those of `inserts`. Either the whole update
    /// applies or nothing does: when a row list cannot hold rows of `T`, an inserted row does not
    /// decode, two rows would have one primary key, or the new rows do not fit in `budget`.
    ///
    /// Memory: a list repeating one row a million times costs one row: into a table holding
    /// rows, each distinct inserted row is decoded once; into an empty one (see [`Self::fill`]),
    /// each copy is decoded and dropped at once (time like the frame's other rows, memory one
    /// row's). A row not yet cached is charged (see [`ROW_OVERHEAD`]) before
    /// it is decoded, so an update over its budget is refused before it takes more. Only bytes
    /// that may be a cached row (no longer than the longest row held) are decoded past the
    /// budget, and deletes, one at a time, each dropped before the next. Rows already cached and
    /// stale rows delivered again unchanged keep their `Arc` and their charge. Nothing of the
    /// frame is kept.
    #[cfg(test)]
    pub(crate) fn apply_rows(
        &mut self,
        deletes: &[RowRanges],
        inserts: &[RowRanges],
        budget: &mut RowBudget,
    ) -> Result<Vec<Change<Arc<T>>>, FrameError> {
        self.apply_with(deletes, inserts, budget, |row| row)
    }

    /// [`Self::apply_rows`] through the general path even into an empty table (tests compare
    /// it with [`Self::fill`]).
    #[cfg(test)]
    pub(crate) fn apply_rows_planned(
        &mut self,
        inserts: &[RowRanges],
        budget: &mut RowBudget,
    ) -> Result<Vec<Change<Arc<T>>>, FrameError> {
        self.apply_planned(&[], inserts, budget, |row| row)
    }

    /// The BSATN length of the longest row held since the table was last empty (tests).
    #[cfg(test)]
    pub(crate) fn longest_row(&self) -> u32 {
        self.longest
    }

    /// What this table's hasher makes of `key` (tests: each table has its own secret).
    #[cfg(test)]
    pub(crate) fn hash_of(&self, key: &T::Key) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Every row's key, how often it is held and its BSATN length, by key (tests).
    #[cfg(test)]
    pub(crate) fn holdings(&self) -> Vec<(T::Key, u32, u32)>
    where
        T::Key: Ord,
    {
        let mut all: Vec<_> = self
            .rows
            .iter()
            .map(|(row, held)| (row.0.primary_key().clone(), held.count, held.len))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
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

    /// A row's BSATN length as the cache keeps it (rows of 4 GiB and more are refused).
    fn stored_len(bytes: &[u8]) -> Result<u32, FrameError> {
        u32::try_from(bytes.len()).map_err(|_| FrameError::Limit {
            what: "rows",
            message: format!(
                "table {}: a row of {} bytes (the client cache holds rows under 4 GiB)",
                T::TABLE,
                bytes.len()
            ),
        })
    }

    /// Whether bytes of this length may be a row of the table: no longer than the longest row
    /// held, nor charged more than the table holds.
    fn may_be_cached(&self, len: usize) -> bool {
        len <= self.longest as usize && Rate::of(&self.decoder).charge::<T>(len) <= self.held
    }

    /// The live cached row these bytes of a delete are, if any: decoded for their key (when a
    /// cached row can be that long), dropped, and compared byte for byte with the row cached
    /// under it encoded again.
    fn cached_row(&self, bytes: &[u8]) -> Option<&Arc<T>> {
        if !self.may_be_cached(bytes.len()) {
            return None;
        }
        let row = self.decoder.decode::<T>(bytes).ok()?;
        let found = self.rows.get_key_value(by(&row.primary_key()));
        drop(row);
        match found {
            Some((cached, held)) if held.count > 0 && held.is(&*cached.0, bytes) => Some(&cached.0),
            _ => None,
        }
    }

    /// How often the cached row `row` is held, and whether `deleted` deletes it that often.
    fn leaves(&self, deleted: &Map<Cached<T>, u32>, row: &Arc<T>) -> Option<Held> {
        let key = row.primary_key();
        let held = *self.rows.get(by(&key))?;
        let times = *deleted.get(by(&key))?;
        (held.count > 0 && held.count <= times).then_some(held)
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

        // Plan without touching the cache, so a refused update leaves it as it was. First, how
        // often each live cached row is deleted (a row leaves once deleted as often as it is
        // held): each delete is decoded for its key, dropped, and compared with the row cached
        // under it (a run of one delete repeated, once). Only a delete of a cached row takes an
        // entry; with no live row, none is decoded.
        let mut deleted: Map<Cached<T>, u32> = Map::with_hasher(self.hasher.clone());
        let mut unknown_deletes = 0usize;
        if self.rows.len() > self.stale {
            let mut last: Option<(&[u8], Option<&Arc<T>>)> = None;
            for bytes in deletes.iter().flat_map(RowRanges::slices) {
                let row = match last {
                    Some((previous, row)) if previous == bytes => row,
                    _ => self.cached_row(bytes),
                };
                last = Some((bytes, row));
                let Some(row) = row else {
                    unknown_deletes += 1;
                    continue;
                };
                let key = row.primary_key();
                match deleted.get_mut(by(&key)) {
                    Some(times) => *times = times.saturating_add(1),
                    None => {
                        deleted.insert(Cached(Arc::clone(row)), 1);
                    }
                }
            }
        } else {
            unknown_deletes = deletes.iter().map(RowRanges::len).sum();
        }
        if unknown_deletes > 0 {
            log::debug!(
                "{}: {unknown_deletes} deletes of rows not in the cache",
                T::TABLE
            );
        }
        let mut freed: usize = deleted
            .keys()
            .filter_map(|row| self.leaves(&deleted, &row.0))
            .map(|held| self.charge(held.len as usize))
            .sum();

        // Then the inserted rows, each distinct one once. A row is charged before it is decoded
        // and decoded only while its charge fits in what the cache could have left once every
        // row this update may free is gone (so a refused update stops early), or when it may be
        // a cached row (see `may_be_cached`; then it is dropped before the next). Bytes a cached
        // row encodes as keep the cached `Arc` (it may be deleted to zero and inserted again),
        // and so do a stale row's (a resync): neither is charged.
        let stale_held = self.stale_held;
        let mut incoming: Map<&[u8], Arc<T>> = Map::with_hasher(self.hasher.clone());
        let mut charged = 0usize;
        let mut again = 0usize;
        let mut new_rows = 0usize;
        // Cached rows deleted as often as they are held, and inserted again: they stay.
        let mut kept: Set<&T::Key> = Set::with_hasher(self.hasher.clone());
        for bytes in inserts.iter().flat_map(RowRanges::slices) {
            if incoming.contains_key(bytes) {
                continue;
            }
            Self::stored_len(bytes)?;
            let cost = self.charge(bytes.len());
            let most = budget
                .cache
                .saturating_add(freed)
                .saturating_add(stale_held);
            let fits = charged.saturating_add(again).saturating_add(cost) <= most;
            let over = || Self::over_cache(budget, charged.saturating_add(cost), most);
            if !fits && !self.may_be_cached(bytes.len()) {
                return Err(over());
            }
            let row = self.decoder.decode::<T>(bytes)?;
            let row = match self.rows.get_key_value(by(&row.primary_key())) {
                Some((cached, held)) if held.is(&*cached.0, bytes) => {
                    if held.count == 0 {
                        // A stale row delivered again: already charged.
                        again = again.saturating_add(cost);
                    } else if let Some(held) = self.leaves(&deleted, &cached.0) {
                        // Deleted and inserted again: it stays after all.
                        freed = freed.saturating_sub(self.charge(held.len as usize));
                        kept.insert(cached.0.primary_key());
                    }
                    Arc::clone(&cached.0)
                }
                _ if !fits => return Err(over()),
                _ => {
                    charged = charged.saturating_add(cost);
                    new_rows += 1;
                    Arc::new(row)
                }
            };
            incoming.insert(bytes, row);
        }

        // One row per primary key: a row not cached (new, or stale delivered again) must have a
        // key of its own in the update, free once the deletes applied (or a stale row's, which
        // it replaces).
        let mut keys: Set<&T::Key> = Set::with_hasher(self.hasher.clone());
        keys.reserve(new_rows);
        for row in incoming.values() {
            let key = row.primary_key();
            let cached = self.rows.get_key_value(by(&key));
            match cached {
                // A cached row delivered again.
                Some((cached, held)) if held.count > 0 && Arc::ptr_eq(&cached.0, row) => continue,
                _ if !keys.insert(key) => {
                    return Err(Self::duplicate_key(
                        key,
                        "two rows with it, not byte for byte the same, in one update",
                    ));
                }
                // Its key is taken by a cached row that stays.
                Some((cached, held))
                    if held.count > 0
                        && (self.leaves(&deleted, &cached.0).is_none() || kept.contains(key)) =>
                {
                    return Err(Self::duplicate_key(
                        key,
                        "a row with it is inserted while another stays cached",
                    ));
                }
                // A stale row replaced by a changed one: its charge goes.
                Some((stale, held)) if held.count == 0 && !Arc::ptr_eq(&stale.0, row) => {
                    freed = freed.saturating_add(self.charge(held.len as usize));
                }
                _ => {}
            }
        }
        drop((keys, kept));
        let room = budget.cache.saturating_add(freed);
        if charged > room {
            return Err(Self::over_cache(budget, charged, room));
        }
        budget.cache = room - charged;
        Ok(Plan {
            deleted,
            incoming,
            new_rows,
        })
    }

    /// `apply_rows` (tests only), each row of the changes made an `R` by `wrap`.
    fn apply_with<R>(
        &mut self,
        deletes: &[RowRanges],
        inserts: &[RowRanges],
        budget: &mut RowBudget,
        wrap: fn(Arc<T>) -> R,
    ) -> Result<Vec<Change<R>>, FrameError> {
        if self.rows.is_empty() && deletes.iter().all(|list| list.len() == 0) {
            self.fill(inserts, budget, wrap)
        } else {
            self.apply_planned(deletes, inserts, budget, wrap)
        }
    }

    /// [`Self::apply_with`] through [`Self::plan`], whatever the table holds.
    fn apply_planned<R>(
        &mut self,
        deletes: &[RowRanges],
        inserts: &[RowRanges],
        budget: &mut RowBudget,
        wrap: fn(Arc<T>) -> R,
    ) -> Result<Vec<Change<R>>, FrameError> {
        let Plan {
            deleted,
            incoming,
            new_rows,
        } = self.plan(deletes, inserts, budget)?;
        let rate = Rate::of(&self.decoder);
        let charge = |held: Held| rate.charge::<T>(held.len as usize);

        // Apply: deletes first; rows deleted to zero wait in `removed` (an insert of their key
        // makes them an update).
        let mut removed: Map<Cached<T>, Held> = Map::with_hasher(self.hasher.clone());
        for (row, times) in deleted {
            let key = row.0.primary_key();
            let Some(held) = self.rows.get_mut(by(&key)) else {
                continue;
            };
            held.count = held.count.saturating_sub(times);
            if held.count == 0
                && let Some((row, held)) = self.rows.remove_entry(by(&key))
            {
                self.held = self.held.saturating_sub(charge(held));
                removed.insert(row, held);
            }
        }

        // Room for the new rows (charged) up front, so the table and the changes grow once: every
        // change but a delete brings a new row.
        self.rows.reserve(new_rows);
        let mut changes = Vec::with_capacity(new_rows.saturating_add(removed.len()));
        for bytes in inserts.iter().flat_map(RowRanges::slices) {
            let Some(row) = incoming.get(bytes) else {
                continue;
            };
            let key = row.primary_key();
            if let Some((cached, held)) = self.rows.get_key_value(by(&key))
                && held.count > 0
                && Arc::ptr_eq(&cached.0, row)
            {
                // Held once more (overlapping queries, or listed twice).
                if let Some(held) = self.rows.get_mut(by(&key)) {
                    held.count = held.count.saturating_add(1);
                }
                continue;
            }
            let previous = match self.rows.remove_entry(by(&key)) {
                // A stale row (the plan refused any other row of this key).
                Some((old, held)) => {
                    self.held = self.held.saturating_sub(charge(held));
                    if held.count == 0 {
                        self.stale = self.stale.saturating_sub(1);
                        self.stale_held = self.stale_held.saturating_sub(charge(held));
                    }
                    Some((old, held))
                }
                None if removed.is_empty() => None,
                None => removed.remove_entry(by(&key)),
            };
            // Checked by the plan.
            let mut held = Held {
                count: 1,
                len: Self::stored_len(bytes).unwrap_or(u32::MAX),
            };
            let change = match previous {
                // The same row again (deleted and inserted unchanged, or a stale row delivered
                // again after a reconnect): the plan kept its `Arc`; it keeps its charge too, and
                // nothing is said.
                Some((old, old_held)) if Arc::ptr_eq(&old.0, row) => {
                    held.len = old_held.len;
                    None
                }
                Some((old, _)) => Some(Change::Update {
                    old: wrap(old.0),
                    new: wrap(Arc::clone(row)),
                }),
                None => Some(Change::Insert(wrap(Arc::clone(row)))),
            };
            self.held = self.held.saturating_add(charge(held));
            self.longest = self.longest.max(held.len);
            self.rows.insert(Cached(Arc::clone(row)), held);
            changes.extend(change);
        }
        changes.extend(removed.into_keys().map(|row| Change::Delete(wrap(row.0))));
        if self.rows.is_empty() {
            self.longest = 0;
        }
        Ok(changes)
    }

    /// [`Self::apply_with`] into an empty table with nothing to delete (a subscription's
    /// initial rows): the same checks and outcome as the general path, in one pass. Each row is
    /// decoded once and goes straight into a new map, which replaces the table only when every
    /// row passed; there is nothing to plan against (no cached row, no delete), so no map of the
    /// update's rows by their bytes nor of their keys is built.
    fn fill<R>(
        &mut self,
        inserts: &[RowRanges],
        budget: &mut RowBudget,
        wrap: fn(Arc<T>) -> R,
    ) -> Result<Vec<Change<R>>, FrameError> {
        let size = self.decoder.row_size();
        for list in inserts {
            list.check_row_size(size, T::TABLE)?;
        }
        let listed: usize = inserts.iter().map(RowRanges::len).sum();
        self.fill_rows(listed, budget, wrap, &mut |row| {
            inserts
                .iter()
                .flat_map(RowRanges::slices)
                .try_for_each(&mut *row)
        })
    }

    /// [`Self::fill`] from row lists left in a frame the client does not own, read a window
    /// at a time: the frame never sits in the client's memory beside its decoded rows.
    pub(crate) fn fill_far<R>(
        &mut self,
        inserts: &[FarRows],
        source: &dyn FrameSource,
        budget: &mut RowBudget,
        wrap: fn(Arc<T>) -> R,
    ) -> Result<Vec<Change<R>>, FrameError> {
        let size = self.decoder.row_size();
        for list in inserts {
            list.boundaries.check_row_size(size, T::TABLE)?;
        }
        let listed: usize = inserts.iter().map(|list| list.boundaries.len()).sum();
        self.fill_rows(listed, budget, wrap, &mut |row| {
            inserts
                .iter()
                .try_for_each(|list| list.for_each(source, &mut *row))
        })
    }

    /// The body of [`Self::fill`]: `rows` hands each of the `listed` rows' bytes, in order, to
    /// the function it is given.
    #[allow(clippy::type_complexity)]
    fn fill_rows<R>(
        &mut self,
        listed: usize,
        budget: &mut RowBudget,
        wrap: fn(Arc<T>) -> R,
        rows_of: &mut dyn FnMut(
            &mut dyn FnMut(&[u8]) -> Result<(), FrameError>,
        ) -> Result<(), FrameError>,
    ) -> Result<Vec<Change<R>>, FrameError> {
        let size = self.decoder.row_size();
        // Room for every listed row up front (growing by doubling would hash every key again),
        // but never for more rows than the cache's limit could charge, even when the update
        // was checked before and `budget` is no longer counted; what repeated rows left unused
        // is given back below, so a list repeating one row a million times keeps one row.
        let fewest = Rate::of(&self.decoder).charge::<T>(size.min).max(1);
        let expected = listed.min(budget.cache.min(budget.cache_limit) / fewest);
        let mut rows: Map<Cached<T>, Held> = Map::with_hasher(self.hasher.clone());
        rows.reserve(expected);
        let mut changes = Vec::with_capacity(expected);
        let mut charged = 0usize;
        let mut longest = 0u32;
        rows_of(&mut |bytes| {
            let len = Self::stored_len(bytes)?;
            let cost = self.charge(bytes.len());
            let fits = charged.saturating_add(cost) <= budget.cache;
            let over = || Self::over_cache(budget, charged.saturating_add(cost), budget.cache);
            // Longer than every row so far: not one of them listed again, and past the budget.
            if !fits && len > longest {
                return Err(over());
            }
            let row = self.decoder.decode::<T>(bytes)?;
            let key = row.primary_key();
            match rows.get_key_value(by(&key)) {
                // The same row listed again: held once more.
                Some((cached, held)) if held.is(&*cached.0, bytes) => {
                    if let Some(held) = rows.get_mut(by(&key)) {
                        held.count = held.count.saturating_add(1);
                    }
                    return Ok(());
                }
                Some(_) => {
                    return Err(Self::duplicate_key(
                        key,
                        "two rows with it, not byte for byte the same, in one update",
                    ));
                }
                None => {}
            }
            if !fits {
                return Err(over());
            }
            charged += cost;
            longest = longest.max(len);
            let row = Arc::new(row);
            changes.push(Change::Insert(wrap(Arc::clone(&row))));
            rows.insert(Cached(row), Held { count: 1, len });
            Ok(())
        })?;
        if rows.capacity() / 2 > rows.len() {
            rows.shrink_to_fit();
        }
        if changes.capacity() / 2 > changes.len() {
            changes.shrink_to_fit();
        }
        budget.cache -= charged;
        self.rows = rows;
        self.held = charged;
        self.longest = longest;
        Ok(changes)
    }

    /// Empties the table, returning a delete for every row.
    fn clear_with<R>(&mut self, wrap: fn(Arc<T>) -> R) -> Vec<Change<R>> {
        self.held = 0;
        self.longest = 0;
        self.stale = 0;
        self.stale_held = 0;
        self.rows
            .drain()
            .map(|(row, _)| Change::Delete(wrap(row.0)))
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
    /// Whether the table holds no row, stale ones included.
    fn is_empty(&self) -> bool;
    /// Fills the empty table from row lists left in a frame (see [`TableCache::fill_far`]).
    fn fill_far(
        &mut self,
        inserts: &[FarRows],
        source: &dyn FrameSource,
        budget: &mut RowBudget,
    ) -> Result<Vec<Change<AnyRow>>, FrameError>;
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

    fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn fill_far(
        &mut self,
        inserts: &[FarRows],
        source: &dyn FrameSource,
        budget: &mut RowBudget,
    ) -> Result<Vec<Change<AnyRow>>, FrameError> {
        TableCache::fill_far(self, inserts, source, budget, erase::<T>)
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
