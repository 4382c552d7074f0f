//! Wallet addresses.

use sha3::{Digest, Keccak256};
use std::fmt;

/// Why a string is not a wallet address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// It does not start with `0x`.
    #[error("address must start with 0x, got {0:?}")]
    MissingPrefix(String),
    /// Wrong number of hex digits after `0x`.
    #[error("address must have 40 hex digits after 0x, got {0}")]
    WrongLength(usize),
    /// A character after `0x` is not a hex digit.
    #[error("address contains a non-hex character {0:?}")]
    NotHex(char),
}

/// An EVM wallet address: `0x` followed by 40 hex digits, always stored lowercase.
///
/// This is the only way the project turns user or network input into an address, so every
/// address that reaches a table key or a SQL query has been checked here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(String);

impl Address {
    /// Parses `0x` + 40 hex digits in any case (surrounding whitespace is ignored).
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let trimmed = input.trim();
        let digits = trimmed
            .strip_prefix("0x")
            .or_else(|| trimmed.strip_prefix("0X"))
            .ok_or_else(|| AddressError::MissingPrefix(shorten(trimmed)))?;
        if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(AddressError::NotHex(bad));
        }
        if digits.len() != 40 {
            return Err(AddressError::WrongLength(digits.len()));
        }
        Ok(Self(format!("0x{}", digits.to_ascii_lowercase())))
    }

    /// The address of 20 raw bytes (e.g. the tail of a public key's hash).
    pub fn from_bytes(bytes: &[u8; 20]) -> Self {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self(format!("0x{hex}"))
    }

    /// The lowercase `0x…` form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The EIP-55 mixed-case checksum form (`0x` + 40 hex digits, a letter upper case when
    /// the matching nibble of the keccak256 of the lowercase hex digits is 8 or more): the form
    /// a Sign-In with Ethereum message names its address in.
    pub fn to_checksum(&self) -> String {
        let digits = self.0.get(2..).unwrap_or_default();
        let hash = Keccak256::digest(digits.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in digits.chars().enumerate() {
            let byte = hash.get(i / 2).copied().unwrap_or_default();
            let nibble = if i % 2 == 0 { byte >> 4 } else { byte & 0x0f };
            out.push(if nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            });
        }
        out
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Keeps error messages short when someone pastes a novel into the address field.
fn shorten(input: &str) -> String {
    const MAX: usize = 48;
    if input.chars().count() <= MAX {
        input.to_owned()
    } else {
        let head: String = input.chars().take(MAX).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_any_case_and_stores_lowercase() {
        let a = Address::parse(" 0xAbCdEf0123456789ABCDEF0123456789abcdef01 ").unwrap();
        assert_eq!(a.as_str(), "0xabcdef0123456789abcdef0123456789abcdef01");
        let b = Address::parse("0XABCDEF0123456789ABCDEF0123456789ABCDEF01").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn rejects_each_kind_of_bad_input_with_its_reason() {
        assert_eq!(
            Address::parse("abcdef0123456789abcdef0123456789abcdef01"),
            Err(AddressError::MissingPrefix(
                "abcdef0123456789abcdef0123456789abcdef01".into()
            ))
        );
        assert_eq!(Address::parse("0x1234"), Err(AddressError::WrongLength(4)));
        assert_eq!(
            Address::parse("0xabcdef0123456789abcdef0123456789abcdef0g"),
            Err(AddressError::NotHex('g'))
        );
        assert_eq!(
            Address::parse("0xabc' OR '1'='1"),
            Err(AddressError::NotHex('\''))
        );
        assert_eq!(
            Address::parse(""),
            Err(AddressError::MissingPrefix(String::new()))
        );
    }

    #[test]
    fn checksum_form_is_eip55() {
        // The test vectors of EIP-55 itself.
        for expected in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
            "0x52908400098527886E0F7030069857D2E4169EE7",
            "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
            "0xde709f2102306220921060314715629080e2fb77",
            "0x27b1fdb04752bbc536007a920d24acb045561c26",
        ] {
            let address = Address::parse(expected).unwrap();
            assert_eq!(address.to_checksum(), expected);
        }
    }

    #[test]
    fn long_garbage_is_shortened_in_the_message() {
        let err = Address::parse(&"x".repeat(10_000)).unwrap_err();
        assert!(err.to_string().len() < 100, "{err}");
    }

    proptest! {
        #[test]
        fn never_panics_and_valid_results_are_canonical(s in ".{0,60}") {
            if let Ok(a) = Address::parse(&s) {
                prop_assert_eq!(a.as_str().len(), 42);
                prop_assert!(a.as_str().starts_with("0x"));
                prop_assert!(a.as_str()[2..].chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
                prop_assert_eq!(Address::parse(a.as_str()), Ok(a.clone()));
            }
        }
    }
}
