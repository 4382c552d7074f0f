//! A guard run before the official BSATN decoder.
//!
//! `spacetimedb-sats` reserves `Vec` capacity from an array's length prefix before reading its
//! elements, so a frame claiming four billion elements would make the allocator abort the
//! process (a trap in wasm) — not an error we could report. [`Shape::check`] walks the bytes
//! against the message's type first and refuses any length that cannot fit in the bytes left,
//! any unknown sum tag, and any truncation. It reads no row contents: row lists are byte
//! blobs, so the walk is cheap.

use crate::FrameError;
use crate::row_list::RowSize;
use spacetimedb_sats::typespace::{SpacetimeType, TypespaceBuilder};
use spacetimedb_sats::{AlgebraicType, AlgebraicTypeRef, Typespace};
use std::any::TypeId;
use std::collections::{HashMap, HashSet};

/// Deepest nesting accepted (the server's messages nest a dozen levels at most).
const MAX_DEPTH: usize = 64;

/// The in-memory size assumed for a value whose size the walk cannot tell (nested too deep, or
/// recursive through a `Box`): 4 KiB, more than any row type here holds in place.
const UNKNOWN_SIZE: usize = 1 << 12;

/// The in-memory size of a pointer: what a zero-size array element (maybe a `Box<()>`) is taken
/// to be decoded.
const POINTER: usize = 8;

/// The type of a BSATN value, resolved so its bytes can be checked.
#[derive(Debug, Clone)]
pub struct Shape {
    typespace: Typespace,
    root: AlgebraicType,
    what: &'static str,
}

#[derive(Default)]
struct Builder {
    typespace: Typespace,
    seen: HashMap<TypeId, AlgebraicTypeRef>,
}

impl TypespaceBuilder for Builder {
    fn add(
        &mut self,
        typeid: TypeId,
        _name: Option<&'static str>,
        make_ty: impl FnOnce(&mut Self) -> AlgebraicType,
    ) -> AlgebraicType {
        if let Some(r) = self.seen.get(&typeid) {
            return AlgebraicType::Ref(*r);
        }
        let slot = self.typespace.add(AlgebraicType::unit());
        self.seen.insert(typeid, slot);
        let ty = make_ty(self);
        self.typespace[slot] = ty;
        AlgebraicType::Ref(slot)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
    what: &'static str,
    /// Elements of arrays of variable-size values seen so far.
    elements: usize,
}

impl Reader<'_> {
    fn error(&self, message: impl Into<String>) -> FrameError {
        FrameError::Malformed {
            what: self.what,
            offset: self.offset,
            message: message.into(),
        }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    fn skip(&mut self, n: usize, for_type: &str) -> Result<(), FrameError> {
        if n > self.remaining() {
            return Err(self.error(format!(
                "{for_type} needs {n} bytes but only {} are left",
                self.remaining()
            )));
        }
        self.offset += n;
        Ok(())
    }

    fn u8(&mut self) -> Result<u8, FrameError> {
        let byte = *self
            .bytes
            .get(self.offset)
            .ok_or_else(|| self.error("truncated: expected a sum tag"))?;
        self.offset += 1;
        Ok(byte)
    }

    fn len(&mut self) -> Result<usize, FrameError> {
        let end = self.offset + 4;
        let raw: [u8; 4] = self
            .bytes
            .get(self.offset..end)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| self.error("truncated: expected a length"))?;
        self.offset = end;
        Ok(u32::from_le_bytes(raw) as usize)
    }
}

impl Shape {
    /// The shape of `T`.
    pub fn of<T: SpacetimeType + 'static>(what: &'static str) -> Self {
        let mut builder = Builder::default();
        let root = builder.add_type::<T>();
        Self {
            typespace: builder.typespace,
            root,
            what,
        }
    }

    /// Whether decoding this type reserves memory from a length prefix: arrays of anything but
    /// bytes (strings and byte arrays are sliced from the input before anything is allocated).
    pub fn has_preallocated_arrays(&self) -> bool {
        fn visit(shape: &Shape, ty: &AlgebraicType, depth: usize) -> bool {
            if depth > MAX_DEPTH {
                return true;
            }
            match ty {
                AlgebraicType::Ref(r) => shape
                    .typespace
                    .get(*r)
                    .is_none_or(|t| visit(shape, t, depth + 1)),
                AlgebraicType::Array(a) => !matches!(*a.elem_ty, AlgebraicType::U8),
                AlgebraicType::Product(p) => p
                    .elements
                    .iter()
                    .any(|e| visit(shape, &e.algebraic_type, depth + 1)),
                AlgebraicType::Sum(s) => s
                    .variants
                    .iter()
                    .any(|v| visit(shape, &v.algebraic_type, depth + 1)),
                _ => false,
            }
        }
        visit(self, &self.root, 0)
    }

    /// The smallest BSATN size of a value of this shape, and whether every value has that size.
    ///
    /// A lower bound: a type nested deeper than the walk goes counts as empty there.
    pub fn row_size(&self) -> RowSize {
        match self.fixed_size(&self.root, 0) {
            Some(size) => RowSize {
                min: size,
                fixed: true,
            },
            None => RowSize {
                min: self.min_size(&self.root, 0),
                fixed: false,
            },
        }
    }

    /// At most how many bytes of heap a decoded value takes per byte of its BSATN (at least 1).
    ///
    /// Strings and byte arrays take one byte per byte. An array of anything else allocates each
    /// element's in-memory size (see [`Self::inline_size`]) for as few as its smallest encoding
    /// (see [`Self::min_size`]): a `None` of `Option<u128>` is one byte encoded, 32 decoded. The
    /// bytes every element must have are never bytes of a deeper array's elements, so the
    /// largest such ratio over every array in the type bounds the whole value. A zero-size
    /// element is taken as a pointer (a `Box<()>`) for one byte (see [`Self::check`]). Not
    /// counted: what the allocator rounds up, and `Box`es of anything else (encoded as what
    /// they hold: invisible here).
    pub fn heap_per_byte(&self) -> usize {
        /// Each named type is visited once (the largest ratio does not depend on where a type
        /// sits), so recursive types take linear time.
        fn visit(
            shape: &Shape,
            ty: &AlgebraicType,
            seen: &mut HashSet<AlgebraicTypeRef>,
            sizes: &mut HashMap<AlgebraicTypeRef, usize>,
            depth: usize,
        ) -> usize {
            if depth > MAX_DEPTH {
                return 1;
            }
            match ty {
                AlgebraicType::Ref(r) => match shape.typespace.get(*r) {
                    Some(t) if seen.insert(*r) => visit(shape, t, seen, sizes, depth + 1),
                    _ => 1,
                },
                AlgebraicType::Array(a) => {
                    let elem = &*a.elem_ty;
                    // A zero-size element takes a byte of the row's length (see `walk`), and may
                    // be a `Box` (a pointer) decoded.
                    let inline = match shape.inline_size(elem, sizes, depth + 1) {
                        0 => POINTER,
                        inline => inline,
                    };
                    let ratio = inline.div_ceil(shape.min_size(elem, depth + 1).max(1));
                    ratio.max(visit(shape, elem, seen, sizes, depth + 1))
                }
                AlgebraicType::Product(p) => p
                    .elements
                    .iter()
                    .map(|e| visit(shape, &e.algebraic_type, seen, sizes, depth + 1))
                    .fold(1, usize::max),
                AlgebraicType::Sum(s) => s
                    .variants
                    .iter()
                    .map(|v| visit(shape, &v.algebraic_type, seen, sizes, depth + 1))
                    .fold(1, usize::max),
                _ => 1,
            }
        }
        let mut sizes = HashMap::new();
        visit(self, &self.root, &mut HashSet::new(), &mut sizes, 0)
    }

    /// At most how many bytes a decoded value of `ty` takes in place (in a `Vec`'s buffer):
    /// fields laid out with at most 16-byte alignment, an enum's tag taking one alignment more.
    /// Named types are sized once (`sizes`); one met again while being sized (only possible
    /// through a `Box`) is taken as [`UNKNOWN_SIZE`].
    fn inline_size(
        &self,
        ty: &AlgebraicType,
        sizes: &mut HashMap<AlgebraicTypeRef, usize>,
        depth: usize,
    ) -> usize {
        const ALIGN: usize = 16;
        if depth > MAX_DEPTH {
            return UNKNOWN_SIZE;
        }
        match ty {
            AlgebraicType::Ref(r) => {
                if let Some(&size) = sizes.get(r) {
                    return size;
                }
                sizes.insert(*r, UNKNOWN_SIZE);
                let size = self
                    .typespace
                    .get(*r)
                    .map_or(UNKNOWN_SIZE, |t| self.inline_size(t, sizes, depth + 1));
                sizes.insert(*r, size);
                size
            }
            AlgebraicType::Product(p) => p
                .elements
                .iter()
                .map(|e| self.inline_size(&e.algebraic_type, sizes, depth + 1))
                .fold(0, usize::saturating_add)
                .next_multiple_of(ALIGN),
            AlgebraicType::Sum(s) => s
                .variants
                .iter()
                .map(|v| self.inline_size(&v.algebraic_type, sizes, depth + 1))
                .max()
                .unwrap_or(0)
                .next_multiple_of(ALIGN)
                .saturating_add(ALIGN),
            // A `Vec` or `String`: pointer, capacity, length.
            AlgebraicType::Array(_) | AlgebraicType::String => 24,
            other => self.fixed_size(other, depth).unwrap_or(UNKNOWN_SIZE),
        }
    }

    /// The smallest BSATN size of a value of `ty` (0 where the walk gives up: a lower bound).
    fn min_size(&self, ty: &AlgebraicType, depth: usize) -> usize {
        if depth > MAX_DEPTH {
            return 0;
        }
        match ty {
            AlgebraicType::Ref(r) => self
                .typespace
                .get(*r)
                .map_or(0, |t| self.min_size(t, depth + 1)),
            AlgebraicType::Product(p) => p
                .elements
                .iter()
                .map(|e| self.min_size(&e.algebraic_type, depth + 1))
                .fold(0, usize::saturating_add),
            AlgebraicType::Sum(s) => s
                .variants
                .iter()
                .map(|v| self.min_size(&v.algebraic_type, depth + 1))
                .min()
                .map_or(0, |smallest| smallest.saturating_add(1)),
            // A length prefix.
            AlgebraicType::Array(_) | AlgebraicType::String => 4,
            other => self.fixed_size(other, depth).unwrap_or(0),
        }
    }

    /// Checks that `bytes` is exactly one value of this shape whose every length fits.
    ///
    /// An array of zero-size elements (encoded as nothing) may claim no more of them than there
    /// are bytes left: each is taken to need one.
    ///
    /// Returns how many elements of arrays of variable-size values (structs, enums, strings)
    /// it holds: the official decoder allocates each of those in a `Vec` at its in-memory size,
    /// which may be far larger than its few encoded bytes, so a caller that bounds memory
    /// weighs them.
    pub fn check(&self, bytes: &[u8]) -> Result<usize, FrameError> {
        let mut reader = Reader {
            bytes,
            offset: 0,
            what: self.what,
            elements: 0,
        };
        self.walk(&self.root, &mut reader, 0)?;
        if reader.remaining() != 0 {
            return Err(reader.error(format!("{} trailing bytes", reader.remaining())));
        }
        Ok(reader.elements)
    }

    fn resolve<'a>(
        &'a self,
        mut ty: &'a AlgebraicType,
        reader: &Reader,
    ) -> Result<&'a AlgebraicType, FrameError> {
        // Refs only alias other types; a chain longer than the typespace is a cycle.
        for _ in 0..=self.typespace.types.len() {
            match ty {
                AlgebraicType::Ref(r) => {
                    ty = self
                        .typespace
                        .get(*r)
                        .ok_or_else(|| reader.error(format!("type ref {r:?} out of range")))?;
                }
                other => return Ok(other),
            }
        }
        Err(reader.error("cyclic type alias"))
    }

    /// Size in bytes of every value of `ty`, if that is fixed.
    fn fixed_size(&self, ty: &AlgebraicType, depth: usize) -> Option<usize> {
        if depth > MAX_DEPTH {
            return None;
        }
        match ty {
            AlgebraicType::Ref(r) => self.fixed_size(self.typespace.get(*r)?, depth + 1),
            AlgebraicType::Product(p) => p
                .elements
                .iter()
                .map(|e| self.fixed_size(&e.algebraic_type, depth + 1))
                .sum(),
            AlgebraicType::Sum(s) if s.variants.is_empty() => None,
            AlgebraicType::Sum(s) => {
                let first = self.fixed_size(&s.variants[0].algebraic_type, depth + 1)?;
                let all_same = s
                    .variants
                    .iter()
                    .all(|v| self.fixed_size(&v.algebraic_type, depth + 1) == Some(first));
                all_same.then_some(1 + first)
            }
            AlgebraicType::Array(_) | AlgebraicType::String => None,
            AlgebraicType::Bool | AlgebraicType::I8 | AlgebraicType::U8 => Some(1),
            AlgebraicType::I16 | AlgebraicType::U16 => Some(2),
            AlgebraicType::I32 | AlgebraicType::U32 | AlgebraicType::F32 => Some(4),
            AlgebraicType::I64 | AlgebraicType::U64 | AlgebraicType::F64 => Some(8),
            AlgebraicType::I128 | AlgebraicType::U128 => Some(16),
            AlgebraicType::I256 | AlgebraicType::U256 => Some(32),
        }
    }

    fn walk(
        &self,
        ty: &AlgebraicType,
        reader: &mut Reader,
        depth: usize,
    ) -> Result<(), FrameError> {
        if depth > MAX_DEPTH {
            return Err(reader.error("nested too deeply"));
        }
        let ty = self.resolve(ty, reader)?;
        if let Some(size) = self.fixed_size(ty, depth) {
            return reader.skip(size, "a fixed-size value");
        }
        match ty {
            AlgebraicType::Sum(sum) => {
                let tag = reader.u8()?;
                let variant = sum.variants.get(usize::from(tag)).ok_or_else(|| {
                    reader.error(format!(
                        "unknown tag {tag} (the type has {})",
                        sum.variants.len()
                    ))
                })?;
                self.walk(&variant.algebraic_type, reader, depth + 1)
            }
            AlgebraicType::Product(product) => product
                .elements
                .iter()
                .try_for_each(|e| self.walk(&e.algebraic_type, reader, depth + 1)),
            AlgebraicType::String => {
                let len = reader.len()?;
                reader.skip(len, "a string")
            }
            AlgebraicType::Array(array) => {
                let len = reader.len()?;
                let elem = self.resolve(&array.elem_ty, reader)?;
                match self.fixed_size(elem, depth) {
                    // Zero-size elements (`()`, or a `Box` of one, 8 bytes decoded) encode as
                    // nothing: each is taken to need a byte all the same, so a row claims no
                    // more of them than it has bytes left.
                    Some(0) if len > reader.remaining() => Err(reader.error(format!(
                        "array claims {len} zero-size elements but only {} bytes are left",
                        reader.remaining()
                    ))),
                    Some(size) => {
                        let total = len.checked_mul(size).ok_or_else(|| {
                            reader.error(format!("array of {len} elements is too large"))
                        })?;
                        reader.skip(total, "an array")
                    }
                    None => {
                        // Every element of a variable-size type takes at least one byte.
                        if len > reader.remaining() {
                            return Err(reader.error(format!(
                                "array claims {len} elements but only {} bytes are left",
                                reader.remaining()
                            )));
                        }
                        reader.elements = reader.elements.saturating_add(len);
                        (0..len).try_for_each(|_| self.walk(elem, reader, depth + 1))
                    }
                }
            }
            _ => Err(reader.error("unexpected type")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spacetimedb_lib::SpacetimeType;
    use spacetimedb_sats::bsatn;

    #[derive(SpacetimeType)]
    #[sats(crate = spacetimedb_lib)]
    struct Nested {
        names: Vec<String>,
        count: Option<u64>,
        blobs: Vec<Vec<u8>>,
    }

    #[derive(SpacetimeType)]
    #[sats(crate = spacetimedb_lib)]
    struct Flat {
        name: String,
        count: Option<i64>,
        blob: Vec<u8>,
    }

    #[derive(SpacetimeType)]
    #[sats(crate = spacetimedb_lib)]
    struct Fixed {
        id: u64,
        score: i32,
        active: bool,
    }

    #[derive(SpacetimeType)]
    #[sats(crate = spacetimedb_lib)]
    struct WithList {
        name: String,
        list: Option<Vec<u32>>,
    }

    #[test]
    fn accepts_what_the_official_encoder_writes() {
        let value = Nested {
            names: vec!["a".into(), "bc".into()],
            count: Some(7),
            blobs: vec![vec![1, 2], vec![]],
        };
        let bytes = bsatn::to_vec(&value).unwrap();
        let shape = Shape::of::<Nested>("test value");
        assert_eq!(shape.check(&bytes), Ok(4));
    }

    #[test]
    fn refuses_a_length_that_cannot_fit() {
        let shape = Shape::of::<Vec<String>>("test value");
        let mut bytes = u32::MAX.to_le_bytes().to_vec();
        bytes.extend([0, 0, 0, 0]);
        let err = shape.check(&bytes).unwrap_err();
        assert!(
            err.to_string().contains("array claims 4294967295 elements"),
            "{err}"
        );
        let shape = Shape::of::<Vec<u64>>("test value");
        let err = shape.check(&1000u32.to_le_bytes()).unwrap_err();
        assert!(err.to_string().contains("needs 8000 bytes"), "{err}");
    }

    #[test]
    fn refuses_unknown_tags_truncation_and_trailing_bytes() {
        let shape = Shape::of::<Option<String>>("test value");
        assert!(
            shape
                .check(&[2])
                .unwrap_err()
                .to_string()
                .contains("unknown tag 2")
        );
        assert!(
            shape
                .check(&[0, 5, 0, 0])
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
        assert!(
            shape
                .check(&[1, 9])
                .unwrap_err()
                .to_string()
                .contains("1 trailing bytes")
        );
        assert_eq!(shape.check(&[1]), Ok(0));
    }

    #[test]
    fn knows_the_smallest_row_of_a_type() {
        // String (4) + Option (1) + Vec<u8> (4).
        assert_eq!(
            Shape::of::<Flat>("t").row_size(),
            RowSize {
                min: 9,
                fixed: false
            }
        );
        assert_eq!(
            Shape::of::<Fixed>("t").row_size(),
            RowSize {
                min: 13,
                fixed: true
            }
        );
        // Option<Vec<u32>>: the `None` tag alone.
        assert_eq!(Shape::of::<WithList>("t").row_size().min, 5);
    }

    #[test]
    fn knows_which_types_preallocate() {
        assert!(!Shape::of::<Flat>("t").has_preallocated_arrays());
        assert!(Shape::of::<WithList>("t").has_preallocated_arrays());
    }

    /// The decoded heap per BSATN byte bounds what the official decoder allocates: one byte per
    /// byte for strings and bytes, an element's in-memory size over its smallest encoding for
    /// other arrays (a `None` of `Option<u128>` is 1 byte encoded and 32 decoded).
    #[test]
    fn bounds_the_decoded_heap_per_byte() {
        assert_eq!(Shape::of::<Flat>("t").heap_per_byte(), 1);
        assert_eq!(Shape::of::<Fixed>("t").heap_per_byte(), 1);
        assert_eq!(Shape::of::<Vec<u8>>("t").heap_per_byte(), 1);
        assert_eq!(Shape::of::<Vec<u64>>("t").heap_per_byte(), 1);
        // 24 bytes of `String` for a 4-byte length prefix.
        assert_eq!(Shape::of::<Vec<String>>("t").heap_per_byte(), 6);
        let options = Shape::of::<Vec<Option<u128>>>("t").heap_per_byte();
        assert!(options >= size_of::<Option<u128>>(), "{options}");
        let nested = Shape::of::<Vec<Vec<Option<u128>>>>("t").heap_per_byte();
        assert!(nested >= size_of::<Option<u128>>(), "{nested}");
    }

    #[derive(SpacetimeType)]
    #[sats(crate = spacetimedb_lib)]
    struct Units {
        id: u64,
        units: Vec<()>,
    }

    /// A zero-size element encodes as nothing: a 12-byte row used to pass claiming u32::MAX of
    /// them (minutes of decoding, or 8 bytes each as `Box<()>`s). Each now takes a byte of what
    /// is left, and is charged as a pointer.
    #[test]
    fn zero_size_elements_take_a_byte_each() {
        let shape = Shape::of::<Units>("t");
        let mut row = 7u64.to_le_bytes().to_vec();
        row.extend(u32::MAX.to_le_bytes());
        let err = shape.check(&row).unwrap_err();
        assert!(err.to_string().contains("zero-size"), "{err}");
        let mut empty = 7u64.to_le_bytes().to_vec();
        empty.extend(0u32.to_le_bytes());
        assert_eq!(shape.check(&empty), Ok(0));
        assert!(shape.heap_per_byte() >= POINTER);
    }

    #[derive(SpacetimeType)]
    #[sats(crate = spacetimedb_lib)]
    struct Tree {
        left: Vec<Tree>,
        right: Vec<Tree>,
        label: Option<u128>,
    }

    /// A recursive type is walked once per named type, not once per path (2^64 of them here).
    #[test]
    fn bounds_a_recursive_type_quickly() {
        let shape = Shape::of::<Tree>("t");
        // A `Tree` in a `Vec`: 48 bytes of `Vec`s and 32 of `Option<u128>` for 9 bytes.
        assert!(shape.heap_per_byte() >= size_of::<Tree>().div_ceil(9));
    }
}
