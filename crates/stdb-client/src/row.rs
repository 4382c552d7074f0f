//! Application row types.

use crate::FrameError;
use crate::row_list::RowSize;
use crate::shape::Shape;
use spacetimedb_lib::de::Deserialize;
use spacetimedb_sats::bsatn;
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
pub trait Row: for<'de> Deserialize<'de> + SpacetimeType + Debug + Send + Sync + 'static {
    /// The table's name in the module.
    const TABLE: &'static str;
    /// The primary key's type.
    type Key: Eq + Hash + Clone + Debug + Send + Sync + 'static;
    /// This row's primary key, borrowed from the row: the cache looks keys up without copying
    /// them.
    fn primary_key(&self) -> &Self::Key;
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
        bsatn::from_slice(bytes).map_err(|e| error(e.to_string()))
    }
}

/// Decodes one row of `T` from its BSATN bytes.
pub fn decode_row<T: Row>(bytes: &[u8]) -> Result<T, FrameError> {
    RowDecoder::new::<T>().decode(bytes)
}
