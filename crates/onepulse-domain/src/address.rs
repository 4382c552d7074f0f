//! Wallet addresses.

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
