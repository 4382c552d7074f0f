//! [`AddressChain`]: the table's primary key, `"{address}:{chain id}"`, kept as its parts.

use crate::hex_text::{MAX_TEXT, parse_hex, render};
use crate::text_column::text_column;
use onepulse_domain::{Address, Chain, address_chain_key};
use std::fmt::{self, Write as _};

/// The `address_chain` column, the table's primary key: `"{lowercase address}:{chain id}"` in
/// every row the module writes, kept as the address's 20 bytes and the chain id (no
/// allocation); any other text is kept as it came (see [`crate::HexText`]). Two keys are
/// equal exactly when their texts are.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AddressChain(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    Parts { address: [u8; 20], chain_id: u32 },
    Other(Box<str>),
}

/// The longest canonical text: an address (`0x` and 40 digits), `:` and a `u32` (10 digits).
const MAX_KEY: usize = 2 + 40 + 1 + 10;

impl AddressChain {
    /// The key the module gives `address`'s row on `chain` ([`address_chain_key`]).
    pub fn new(address: &Address, chain: Chain) -> Self {
        Self::from(address_chain_key(address, chain).as_str())
    }

    /// Calls `f` with the text, rendered on the stack when it is kept as parts.
    pub fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match &self.0 {
            Repr::Other(text) => f(text),
            Repr::Parts { address, chain_id } => {
                let mut hex = [0; MAX_TEXT];
                let mut key = Text::default();
                let written = write!(key, "{}:{chain_id}", render(address, &mut hex));
                // Never fails: MAX_KEY fits the longest address, `:` and u32.
                debug_assert!(written.is_ok(), "a key's text is at most MAX_KEY bytes");
                f(key.as_str())
            }
        }
    }
}

/// The parts of `text` if it is canonical: an address as [`parse_hex`] reads it, `:`, and a
/// chain id in decimal without a sign or leading zeros (so it renders back the same).
fn parts(text: &str) -> Option<Repr> {
    let (address, chain) = text.split_once(':')?;
    let address = parse_hex::<20>(address)?;
    let digits = !chain.is_empty() && chain.bytes().all(|b| b.is_ascii_digit());
    if !digits || (chain.len() > 1 && chain.starts_with('0')) {
        return None;
    }
    let chain_id = chain.parse().ok()?;
    Some(Repr::Parts { address, chain_id })
}

impl From<&str> for AddressChain {
    fn from(text: &str) -> Self {
        Self(parts(text).unwrap_or_else(|| Repr::Other(text.into())))
    }
}

text_column!([] AddressChain);

/// A key's text, written on the stack.
struct Text {
    buf: [u8; MAX_KEY],
    len: usize,
}

impl Default for Text {
    fn default() -> Self {
        Self {
            buf: [0; MAX_KEY],
            len: 0,
        }
    }
}

impl Text {
    fn as_str(&self) -> &str {
        self.buf
            .get(..self.len)
            .and_then(|text| std::str::from_utf8(text).ok())
            .unwrap_or_default()
    }
}

impl fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stdb_client::bsatn;

    const ADDRESS: &str = "0x00ff0123456789abcdef0123456789abcdef0a9b";

    #[test]
    fn the_modules_keys_are_kept_as_parts_and_render_back() {
        let address = Address::parse(ADDRESS).unwrap();
        for chain in [Chain::Base, Chain::Celo, Chain::Optimism] {
            let key = AddressChain::new(&address, chain);
            let text = format!("{ADDRESS}:{}", chain.id());
            assert!(matches!(key.0, Repr::Parts { .. }));
            assert_eq!(key.to_string(), text);
            assert_eq!(key, AddressChain::from(text.as_str()));
            assert!(key == text.as_str());
        }
        let widest = format!("{ADDRESS}:{}", u32::MAX);
        assert_eq!(AddressChain::from(widest.as_str()).to_string(), widest);
        assert!(matches!(
            AddressChain::from(widest.as_str()).0,
            Repr::Parts { .. }
        ));
        assert!(matches!(
            AddressChain::from(&*format!("{ADDRESS}:0")).0,
            Repr::Parts { .. }
        ));
    }

    #[test]
    fn any_other_text_is_kept_as_it_came() {
        for text in [
            String::new(),
            ADDRESS.to_owned(),
            format!("{ADDRESS}:"),
            format!("{ADDRESS}:08453"),
            format!("{ADDRESS}:+8453"),
            format!("{ADDRESS}:-8453"),
            format!("{ADDRESS}: 8453"),
            format!("{ADDRESS}:8453:1"),
            format!("{ADDRESS}:{}", u64::from(u32::MAX) + 1),
            format!("{}:8453", ADDRESS.to_ascii_uppercase()),
            format!("{}:8453", &ADDRESS[..41]),
            "0xab:10".to_owned(),
        ] {
            let key = AddressChain::from(text.as_str());
            assert!(matches!(key.0, Repr::Other(_)), "{text:?}");
            assert_eq!(key.to_string(), text);
            let bytes = bsatn::to_vec(&text).unwrap();
            let decoded: AddressChain = bsatn::from_slice(&bytes).unwrap();
            assert_eq!(decoded, key);
            assert_eq!(bsatn::to_vec(&decoded).unwrap(), bytes);
        }
    }

    #[test]
    fn keys_encode_back_to_their_bytes() {
        let text = format!("{ADDRESS}:42220");
        let bytes = bsatn::to_vec(&text).unwrap();
        let decoded: AddressChain = bsatn::from_slice(&bytes).unwrap();
        assert!(matches!(
            decoded.0,
            Repr::Parts {
                chain_id: 42220,
                ..
            }
        ));
        assert_eq!(bsatn::to_vec(&decoded).unwrap(), bytes);
    }
}
