//! [`TxHashText`]: the transaction hash column, kept out of the row until it is there.

use crate::hex_text::HexText;
use crate::text_column::text_column;

/// A transaction hash column (`0x` and 64 lowercase hex digits in every row the module
/// writes): a [`HexText<32>`] behind a pointer, so a row without one (`Option<TxHashText>` is
/// `None`) spends a pointer on it, not the 36 bytes the hash takes (rows of wallets that never
/// said GM through a watched chain have none).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TxHashText(Box<HexText<32>>);

impl TxHashText {
    /// The size of the box a hash is kept in.
    pub(crate) const BOXED: usize = size_of::<HexText<32>>();

    /// The 32 bytes the text spells, if it is canonical (`0x` and 64 lowercase hex digits).
    pub fn bytes(&self) -> Option<&[u8; 32]> {
        self.0.bytes()
    }

    /// Calls `f` with the text, rendered on the stack when it is kept as bytes.
    pub fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        self.0.with_text(f)
    }
}

impl From<&str> for TxHashText {
    fn from(text: &str) -> Self {
        Self(Box::new(HexText::from(text)))
    }
}

text_column!([] TxHashText);

#[cfg(test)]
mod tests {
    use super::*;
    use stdb_client::bsatn;

    #[test]
    fn a_hash_is_kept_as_bytes_and_encodes_back() {
        let hash = format!("0x{}", "e1".repeat(32));
        let bytes = bsatn::to_vec(&hash).unwrap();
        let decoded: TxHashText = bsatn::from_slice(&bytes).unwrap();
        assert_eq!(decoded.bytes(), Some(&[0xe1; 32]));
        assert_eq!(decoded.to_string(), hash);
        assert_eq!(bsatn::to_vec(&decoded).unwrap(), bytes);

        let odd = "0xE1";
        let decoded: TxHashText =
            bsatn::from_slice(&bsatn::to_vec(&odd.to_owned()).unwrap()).unwrap();
        assert_eq!(
            (decoded.bytes(), decoded.to_string()),
            (None, odd.to_owned())
        );
        assert_ne!(decoded, TxHashText::from("0xe1"));
    }
}
