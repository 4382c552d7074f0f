//! [`HexText`]: a text column of `0x…` hex, kept as the bytes it spells.

use crate::text_column::text_column;

/// The longest `N` a [`HexText`] may have (its text is rendered on the stack).
const MAX_BYTES: usize = 32;
/// The longest canonical text: `0x` and two digits per byte.
pub(crate) const MAX_TEXT: usize = 2 + 2 * MAX_BYTES;

/// A text column that holds `0x` and `2 × N` lowercase hex digits in every row the module
/// writes (an address, a transaction hash): such text is kept as the `N` bytes it spells,
/// inside the row, with no allocation of its own. Any other text (which the module does not
/// write, but a row may hold) is kept as it came, so every row still decodes and encodes back
/// to exactly the bytes it came as (the client cache tells rows apart by their bytes).
///
/// Two values are equal exactly when their texts are: canonical text is always kept as
/// bytes, any other text never is.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HexText<const N: usize>(Repr<N>);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr<const N: usize> {
    Bytes([u8; N]),
    Other(Box<str>),
}

/// An Ethereum address column (`0x` and 40 lowercase hex digits).
pub type AddressText = HexText<20>;

impl<const N: usize> HexText<N> {
    /// The bytes the text spells, if it is canonical (`0x` and `2 × N` lowercase hex digits).
    pub fn bytes(&self) -> Option<&[u8; N]> {
        match &self.0 {
            Repr::Bytes(bytes) => Some(bytes),
            Repr::Other(_) => None,
        }
    }

    /// Calls `f` with the text, rendered on the stack when it is kept as bytes.
    pub fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match &self.0 {
            Repr::Other(text) => f(text),
            Repr::Bytes(bytes) => {
                let mut buf = [0; MAX_TEXT];
                f(render(bytes, &mut buf))
            }
        }
    }
}

/// `bytes` as `0x` and lowercase hex digits, written into `buf`.
pub(crate) fn render<'b>(bytes: &[u8], buf: &'b mut [u8; MAX_TEXT]) -> &'b str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut len = 0;
    for (slot, digit) in buf.iter_mut().zip(
        [b'0', b'x'].into_iter().chain(
            bytes
                .iter()
                .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0xf)]]),
        ),
    ) {
        *slot = digit;
        len += 1;
    }
    // Only ASCII was written.
    buf.get(..len)
        .and_then(|text| std::str::from_utf8(text).ok())
        .unwrap_or_default()
}

/// The `N` bytes `text` spells if it is `0x` and `2 × N` lowercase hex digits.
pub(crate) fn parse_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    const { assert!(N <= MAX_BYTES, "HexText renders at most MAX_BYTES bytes") };
    let digits = text.strip_prefix("0x")?.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut bytes = [0; N];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        let [high, low] = pair else { return None };
        *byte = (nibble(*high)? << 4) | nibble(*low)?;
    }
    Some(bytes)
}

/// A lowercase hex digit's value.
fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

impl<const N: usize> From<&str> for HexText<N> {
    fn from(text: &str) -> Self {
        Self(match parse_hex(text) {
            Some(bytes) => Repr::Bytes(bytes),
            None => Repr::Other(text.into()),
        })
    }
}

impl From<&onepulse_domain::Address> for AddressText {
    fn from(address: &onepulse_domain::Address) -> Self {
        Self::from(address.as_str())
    }
}

text_column!([const N: usize] HexText<N>);

#[cfg(test)]
mod tests {
    use super::*;
    use stdb_client::bsatn;

    const ADDRESS: &str = "0x00ff0123456789abcdef0123456789abcdef0a9b";

    #[test]
    fn canonical_text_is_kept_as_bytes_and_renders_back() {
        let text = AddressText::from(ADDRESS);
        let bytes = text.bytes().unwrap();
        assert_eq!(bytes[0], 0x00);
        assert_eq!(bytes[1], 0xff);
        assert_eq!(bytes[19], 0x9b);
        assert_eq!(text.to_string(), ADDRESS);
        assert_eq!(format!("{text:?}"), format!("{ADDRESS:?}"));
        assert!(text == ADDRESS);
    }

    #[test]
    fn any_other_text_is_kept_as_it_came() {
        let upper = ADDRESS.to_ascii_uppercase().replacen("0X", "0x", 1);
        let plus = format!("0x+f{}", &ADDRESS[4..]);
        for text in [
            "",
            "0x",
            "0xab",
            &ADDRESS[2..],
            &format!("{ADDRESS}0"),
            &ADDRESS[..41],
            &upper,
            &plus,
            "0x00ff0123456789abcdef0123456789abcdef0a9 ",
            "0xéé0123456789abcdef0123456789abcdef0a9b",
        ] {
            let kept = AddressText::from(text);
            assert_eq!(kept.bytes(), None, "{text:?}");
            assert_eq!(kept.to_string(), text);
            assert_ne!(kept, AddressText::from(ADDRESS));
        }
    }

    #[test]
    fn every_text_encodes_back_to_its_bytes() {
        for text in [
            ADDRESS,
            "0xAB",
            "",
            "not hex at all, and longer than 66 bytes: ........................................",
        ] {
            let bytes = bsatn::to_vec(&text.to_owned()).unwrap();
            let decoded: AddressText = bsatn::from_slice(&bytes).unwrap();
            assert_eq!(decoded.to_string(), text);
            assert_eq!(bsatn::to_vec(&decoded).unwrap(), bytes);
        }
        let hash = format!("0x{}", "e1".repeat(32));
        let bytes = bsatn::to_vec(&hash).unwrap();
        let decoded: HexText<32> = bsatn::from_slice(&bytes).unwrap();
        assert_eq!(decoded.bytes(), Some(&[0xe1; 32]));
        assert_eq!(bsatn::to_vec(&decoded).unwrap(), bytes);
    }

    #[test]
    fn equal_values_hash_alike_whichever_way_they_were_made() {
        use std::hash::BuildHasher;
        let state = std::collections::hash_map::RandomState::new();
        let address = onepulse_domain::Address::parse(ADDRESS).unwrap();
        let a = AddressText::from(&address);
        let b = AddressText::from(ADDRESS);
        assert_eq!(a, b);
        assert_eq!(state.hash_one(&a), state.hash_one(&b));
    }
}
