//! Splitting a `BsatnRowList` into rows without trusting its size hint.
//!
//! The official `BsatnRowList::get` slices with whatever the hint says and panics (or divides by
//! zero) on a hint that does not match the data; here every range is checked first.

use crate::FrameError;
use bytes::Bytes;
use spacetimedb_client_api_messages::websocket::{BsatnRowList, RowSizeHint};

/// The rows of `list`, each a slice of its data; `table` names it in errors.
pub fn split_rows(list: BsatnRowList, table: &str) -> Result<Vec<Bytes>, FrameError> {
    let error = |message: String| FrameError::RowList {
        table: table.to_owned(),
        message,
    };
    let (hint, data) = list.into_inner();
    match hint {
        RowSizeHint::FixedSize(0) if data.is_empty() => Ok(Vec::new()),
        RowSizeHint::FixedSize(0) => Err(error(format!(
            "row size 0 with {} bytes of data",
            data.len()
        ))),
        RowSizeHint::FixedSize(size) => {
            let size = usize::from(size);
            if data.len() % size != 0 {
                return Err(error(format!(
                    "{} bytes are not a whole number of {size}-byte rows",
                    data.len()
                )));
            }
            Ok((0..data.len() / size)
                .map(|i| data.slice(i * size..(i + 1) * size))
                .collect())
        }
        RowSizeHint::RowOffsets(offsets) => {
            let mut rows = Vec::with_capacity(offsets.len());
            for (i, &start) in offsets.iter().enumerate() {
                let end = offsets.get(i + 1).copied().unwrap_or(data.len() as u64);
                if start > end || end > data.len() as u64 {
                    return Err(error(format!(
                        "row {i} spans {start}..{end} of {} bytes",
                        data.len()
                    )));
                }
                rows.push(data.slice(start as usize..end as usize));
            }
            if offsets.first().is_some_and(|&first| first != 0) {
                return Err(error("the first row does not start at offset 0".into()));
            }
            Ok(rows)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(hint: RowSizeHint, data: &[u8]) -> BsatnRowList {
        BsatnRowList::new(hint, Bytes::copy_from_slice(data))
    }

    #[test]
    fn splits_fixed_and_offset_rows() {
        let rows = split_rows(list(RowSizeHint::FixedSize(2), &[1, 2, 3, 4]), "t").unwrap();
        assert_eq!(
            rows,
            [Bytes::from_static(&[1, 2]), Bytes::from_static(&[3, 4])]
        );
        let rows = split_rows(
            list(RowSizeHint::RowOffsets([0, 1].into()), &[1, 2, 3]),
            "t",
        )
        .unwrap();
        assert_eq!(
            rows,
            [Bytes::from_static(&[1]), Bytes::from_static(&[2, 3])]
        );
        assert!(
            split_rows(list(RowSizeHint::RowOffsets([].into()), &[]), "t")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn refuses_hints_that_do_not_match_the_data() {
        for (hint, data) in [
            (RowSizeHint::FixedSize(0), &[1u8][..]),
            (RowSizeHint::FixedSize(2), &[1, 2, 3][..]),
            (RowSizeHint::RowOffsets([0, 5].into()), &[1, 2][..]),
            (RowSizeHint::RowOffsets([2, 1].into()), &[1, 2][..]),
            (RowSizeHint::RowOffsets([1].into()), &[1, 2][..]),
        ] {
            let err = split_rows(list(hint.clone(), data), "gm").unwrap_err();
            assert!(
                err.to_string().starts_with("bad row list in table gm"),
                "{hint:?}: {err}"
            );
        }
    }
}
