//! Row lists checked against their data, without trusting the size hint.
//!
//! The official `BsatnRowList::get` slices with whatever the hint says and panics (or divides by
//! zero) on a hint that does not match the data. [`RowRanges::new`] checks the hint first, and
//! keeps the rows as one buffer plus boundaries: nothing is allocated per row, so a hint of one
//! byte per row over megabytes of data costs no memory before [`RowRanges::check_row_size`]
//! refuses it for a row type that cannot be that small.

use crate::FrameError;
use bytes::Bytes;
use spacetimedb_client_api_messages::websocket::{BsatnRowList, RowSizeHint};
use std::sync::Arc;

/// The smallest (and, for types of one size only, the exact) BSATN size of a row type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RowSize {
    /// No row of the type is shorter.
    pub min: usize,
    /// Every row of the type has exactly `min` bytes.
    pub fixed: bool,
}

/// Where each row of a list starts and ends, checked against the length of its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Boundaries {
    kind: Kind,
    /// The length of the list's data.
    data_len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// `count` rows of `size` bytes each.
    Fixed { size: usize, count: usize },
    /// Row `i` starts at `offsets[i]` and ends where the next one starts (the last at the end).
    Offsets(Arc<[u64]>),
}

impl Boundaries {
    /// Checks `hint` against `data_len` bytes of data; `table` names it in errors.
    ///
    /// A fixed size must divide the data (size 0 only with no data); offsets must start at 0,
    /// never decrease and stay within the data; data that no row covers is an error.
    pub fn new(hint: RowSizeHint, data_len: usize, table: &str) -> Result<Self, FrameError> {
        let len = data_len;
        let kind = match hint {
            RowSizeHint::FixedSize(0) if len == 0 => Kind::Fixed { size: 0, count: 0 },
            RowSizeHint::FixedSize(0) => {
                return Err(row_list_error(
                    table,
                    format!("row size 0 with {len} bytes of data"),
                ));
            }
            RowSizeHint::FixedSize(size) => {
                let size = usize::from(size);
                if !len.is_multiple_of(size) {
                    return Err(row_list_error(
                        table,
                        format!("{len} bytes are not a whole number of {size}-byte rows"),
                    ));
                }
                Kind::Fixed {
                    size,
                    count: len / size,
                }
            }
            RowSizeHint::RowOffsets(offsets) => {
                match offsets.first() {
                    None if len > 0 => {
                        return Err(row_list_error(
                            table,
                            format!("{len} bytes of data but no row offsets"),
                        ));
                    }
                    Some(&first) if first != 0 => {
                        return Err(row_list_error(
                            table,
                            "the first row does not start at offset 0".into(),
                        ));
                    }
                    _ => {}
                }
                let mut previous = 0u64;
                for (i, &start) in offsets.iter().enumerate() {
                    if start < previous || start > len as u64 {
                        return Err(row_list_error(
                            table,
                            format!(
                                "row {i} starts at {start}, after row {} at {previous}, in {len} bytes",
                                i.saturating_sub(1)
                            ),
                        ));
                    }
                    previous = start;
                }
                Kind::Offsets(offsets)
            }
        };
        Ok(Self {
            kind,
            data_len: len,
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        match &self.kind {
            Kind::Fixed { count, .. } => *count,
            Kind::Offsets(offsets) => offsets.len(),
        }
    }

    /// Refuses boundaries that cannot hold rows of a type of `size`: a fixed size or a row
    /// shorter than the type's smallest row (or, for a type of one size only, of another size).
    pub fn check_row_size(&self, size: RowSize, table: &str) -> Result<(), FrameError> {
        let fits = |row: usize| row >= size.min && (!size.fixed || row == size.min);
        let kind = if size.fixed { "exactly" } else { "at least" };
        match &self.kind {
            Kind::Fixed { count: 0, .. } => Ok(()),
            Kind::Fixed { size: row, .. } if !fits(*row) => Err(row_list_error(
                table,
                format!(
                    "size hint of {row} bytes per row, but a row of this table takes {kind} {} bytes",
                    size.min
                ),
            )),
            Kind::Fixed { .. } => Ok(()),
            Kind::Offsets(_) => match (0..self.len()).find(|&i| !fits(self.range(i).len())) {
                Some(i) => Err(row_list_error(
                    table,
                    format!(
                        "row {i} has {} bytes, but a row of this table takes {kind} {} bytes",
                        self.range(i).len(),
                        size.min
                    ),
                )),
                None => Ok(()),
            },
        }
    }

    /// Where row `i` (< [`Self::len`]) lies in the data.
    pub fn range(&self, i: usize) -> std::ops::Range<usize> {
        match &self.kind {
            Kind::Fixed { size, .. } => i * size..(i + 1) * size,
            Kind::Offsets(offsets) => {
                // Checked in `new`: offsets are in order and within the data.
                let start = offsets[i] as usize;
                let end = offsets
                    .get(i + 1)
                    .map_or(self.data_len, |&end| end as usize);
                start..end
            }
        }
    }
}

/// A row list whose boundaries are known to lie within its data, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowRanges {
    data: Bytes,
    boundaries: Boundaries,
}

impl RowRanges {
    /// Checks `list`'s size hint against its data (see [`Boundaries::new`]); `table` names it
    /// in errors.
    pub fn new(list: BsatnRowList, table: &str) -> Result<Self, FrameError> {
        let (hint, data) = list.into_inner();
        let boundaries = Boundaries::new(hint, data.len(), table)?;
        Ok(Self { data, boundaries })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.boundaries.len()
    }

    /// See [`Boundaries::check_row_size`].
    pub fn check_row_size(&self, size: RowSize, table: &str) -> Result<(), FrameError> {
        self.boundaries.check_row_size(size, table)
    }

    /// Each row's bytes, in order (slices of the list's buffer; nothing is copied).
    pub fn iter(&self) -> impl Iterator<Item = Bytes> + '_ {
        (0..self.len()).map(|i| self.data.slice(self.boundaries.range(i)))
    }

    /// Each row's bytes as a borrowed slice.
    pub fn slices(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len()).map(|i| &self.data[self.boundaries.range(i)])
    }
}

#[cfg(test)]
impl RowRanges {
    /// A list of exactly these rows.
    pub fn from_rows(rows: &[Bytes]) -> Self {
        let mut data = Vec::new();
        let mut offsets = Vec::new();
        for row in rows {
            offsets.push(data.len() as u64);
            data.extend_from_slice(row);
        }
        let data_len = data.len();
        Self {
            data: data.into(),
            boundaries: Boundaries {
                kind: Kind::Offsets(offsets.into()),
                data_len,
            },
        }
    }
}

fn row_list_error(table: &str, message: String) -> FrameError {
    FrameError::RowList {
        table: table.to_owned(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(hint: RowSizeHint, data: &[u8]) -> BsatnRowList {
        BsatnRowList::new(hint, Bytes::copy_from_slice(data))
    }

    fn rows(hint: RowSizeHint, data: &[u8]) -> Result<Vec<Bytes>, FrameError> {
        RowRanges::new(list(hint, data), "t").map(|r| r.iter().collect())
    }

    const ANY: RowSize = RowSize {
        min: 1,
        fixed: false,
    };

    #[test]
    fn splits_fixed_and_offset_rows() {
        let split = rows(RowSizeHint::FixedSize(2), &[1, 2, 3, 4]).unwrap();
        assert_eq!(
            split,
            [Bytes::from_static(&[1, 2]), Bytes::from_static(&[3, 4])]
        );
        let split = rows(RowSizeHint::RowOffsets([0, 1].into()), &[1, 2, 3]).unwrap();
        assert_eq!(
            split,
            [Bytes::from_static(&[1]), Bytes::from_static(&[2, 3])]
        );
        assert!(
            rows(RowSizeHint::RowOffsets([].into()), &[])
                .unwrap()
                .is_empty()
        );
        assert!(rows(RowSizeHint::FixedSize(0), &[]).unwrap().is_empty());
    }

    #[test]
    fn refuses_hints_that_do_not_match_the_data() {
        for (hint, data) in [
            (RowSizeHint::FixedSize(0), &[1u8][..]),
            (RowSizeHint::FixedSize(2), &[1, 2, 3][..]),
            (RowSizeHint::RowOffsets([0, 5].into()), &[1, 2][..]),
            (RowSizeHint::RowOffsets([0, 2, 1].into()), &[1, 2][..]),
            (RowSizeHint::RowOffsets([1].into()), &[1, 2][..]),
            (RowSizeHint::RowOffsets([].into()), &[1, 2][..]),
        ] {
            let err = RowRanges::new(list(hint.clone(), data), "gm").unwrap_err();
            assert!(
                err.to_string().starts_with("bad row list in table gm"),
                "{hint:?}: {err}"
            );
        }
    }

    #[test]
    fn refuses_hints_that_cannot_hold_a_row_of_the_type() {
        let twelve = RowSize {
            min: 12,
            fixed: false,
        };
        let one_byte_rows =
            RowRanges::new(list(RowSizeHint::FixedSize(1), &[0; 64]), "gm").unwrap();
        assert_eq!(one_byte_rows.len(), 64);
        let err = one_byte_rows.check_row_size(twelve, "gm").unwrap_err();
        assert!(
            err.to_string().contains("size hint of 1 bytes per row"),
            "{err}"
        );
        assert_eq!(one_byte_rows.check_row_size(ANY, "gm"), Ok(()));

        let offsets = RowRanges::new(
            list(RowSizeHint::RowOffsets([0, 12, 13].into()), &[0; 30]),
            "gm",
        )
        .unwrap();
        let err = offsets.check_row_size(twelve, "gm").unwrap_err();
        assert!(err.to_string().contains("row 1 has 1 bytes"), "{err}");

        let exact = RowSize {
            min: 8,
            fixed: true,
        };
        let sixteen = RowRanges::new(list(RowSizeHint::FixedSize(16), &[0; 32]), "gm").unwrap();
        assert!(sixteen.check_row_size(exact, "gm").is_err());
        let eight = RowRanges::new(list(RowSizeHint::FixedSize(8), &[0; 32]), "gm").unwrap();
        assert_eq!(eight.check_row_size(exact, "gm"), Ok(()));
        // No rows fit any type.
        let empty = RowRanges::new(list(RowSizeHint::FixedSize(1), &[]), "gm").unwrap();
        assert_eq!(empty.check_row_size(twelve, "gm"), Ok(()));
    }
}
