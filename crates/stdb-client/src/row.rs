//! Application row types.

use crate::FrameError;
use crate::row_list::RowSize;
use crate::shape::Shape;
use spacetimedb_lib::de::Deserialize;
use spacetimedb_lib::ser::Serialize;
use spacetimedb_sats::bsatn;
use spacetimedb_sats::buffer::BufWriter;
use spacetimedb_sats::typespace::SpacetimeType;
use std::fmt::Debug;
use std::hash::Hash;

/// A row of one table, decoded from its BSATN (fields in declaration order).
///
/// Derive the encoding with `#[derive(SpacetimeType)]` and `#[sats(crate = stdb_client::spacetimedb_lib)]`
/// or implement it by hand; then name the table and the primary key:
///
/// ```ignore
/// impl Row for Player {
///     const TABLE: &'static str = "player";
///     type Key = u64;
///     fn primary_key(&self) -> &u64 { &self.id }
/// }
/// ```
///
/// The client cache keeps decoded rows, not their bytes: whether bytes are "the same row" as a
/// cached one is decided by encoding the cached row again and comparing byte for byte (never
/// with `==`, which a NaN or a hand-written `PartialEq` would mislead).
pub trait Row:
    for<'de> Deserialize<'de> + Serialize + SpacetimeType + Debug + Send + Sync + 'static
{
    /// The table's name in the module.
    const TABLE: &'static str;
    /// The primary key's type.
    type Key: Eq + Hash + Clone + Debug + Send + Sync + 'static;
    /// This row's primary key, borrowed from the row: the cache looks keys up without copying
    /// them.
    fn primary_key(&self) -> &Self::Key;

    /// The most heap a decoded row holds that its BSATN's contents do not pay for: the
    /// fixed-size boxes a type keeps some columns in (a column kept behind a `Box` turns a few
    /// wire bytes into a whole allocation), allocator overhead included. The cache charges it
    /// on every row beside the row's size ([`crate::ROW_OVERHEAD`]). Zero, the default, for
    /// types that keep their columns inline or in strings and vectors.
    const BOXED_HEAP: usize = 0;
}

/// Decodes rows of one type; checks lengths first only when the type has arrays whose
/// allocation the official decoder would size from untrusted bytes.
#[derive(Debug, Clone)]
pub(crate) struct RowDecoder {
    guard: Option<Shape>,
    size: RowSize,
    heap_per_byte: usize,
}

impl RowDecoder {
    pub fn new<T: Row>() -> Self {
        let shape = Shape::of::<T>(T::TABLE);
        Self {
            size: shape.row_size(),
            heap_per_byte: shape.heap_per_byte(),
            guard: shape.has_preallocated_arrays().then_some(shape),
        }
    }

    /// The smallest BSATN size of a row (exact for types of one size only); row lists whose
    /// boundaries cannot hold such rows are refused before anything is decoded.
    pub fn row_size(&self) -> RowSize {
        self.size
    }

    /// At most how many bytes of heap a decoded row takes per byte of its BSATN (see
    /// [`Shape::heap_per_byte`]).
    pub fn heap_per_byte(&self) -> usize {
        self.heap_per_byte
    }

    pub fn decode<T: Row>(&self, bytes: &[u8]) -> Result<T, FrameError> {
        let error = |message: String| FrameError::Row {
            table: T::TABLE.to_owned(),
            message,
        };
        if let Some(shape) = &self.guard {
            shape.check(bytes).map_err(|e| error(e.to_string()))?;
        }
        let mut rest = bytes;
        let row = bsatn::from_reader(&mut rest).map_err(|e| error(e.to_string()))?;
        // The cache tells rows apart by their bytes: bytes this type cannot read (a column the
        // client's type lacks, or junk) would make two rows look different that it sees as one.
        if !rest.is_empty() {
            return Err(error(format!(
                "{} bytes past the end of a {}-byte row: does this client's row type match \
                 the module's table?",
                rest.len(),
                bytes.len().saturating_sub(rest.len())
            )));
        }
        Ok(row)
    }
}

/// Decodes one row of `T` from its BSATN bytes.
pub fn decode_row<T: Row>(bytes: &[u8]) -> Result<T, FrameError> {
    RowDecoder::new::<T>().decode(bytes)
}

/// Whether `row` encodes as exactly `bytes` (BSATN): compared as it is encoded, without
/// allocating. Bytes encoded otherwise, or longer, are not that row.
pub(crate) fn encodes_as<T: Row>(row: &T, bytes: &[u8]) -> bool {
    #[cfg(test)]
    ENCODED.with(|n| n.set(n.get() + 1));
    let mut matching = Matching {
        rest: bytes,
        equal: true,
    };
    bsatn::to_writer(&mut matching, row).is_ok() && matching.equal && matching.rest.is_empty()
}

#[cfg(test)]
thread_local! {
    /// How many cached rows this thread encoded again to compare them (tests count work).
    pub(crate) static ENCODED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A [`BufWriter`] that compares what is written with the bytes still expected.
struct Matching<'a> {
    /// The bytes not yet matched.
    rest: &'a [u8],
    /// Whether everything written so far matched.
    equal: bool,
}

impl BufWriter for Matching<'_> {
    fn put_slice(&mut self, slice: &[u8]) {
        if !self.equal {
            return;
        }
        match self.rest.split_at_checked(slice.len()) {
            Some((head, tail)) if head == slice => self.rest = tail,
            _ => self.equal = false,
        }
    }
}
