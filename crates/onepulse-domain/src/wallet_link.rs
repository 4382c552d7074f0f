//! The EIP-191 (`personal_sign`) signature check of wallet links, and the identity they name.
//!
//! A wallet proves it wants to be linked to an identity (or to end its links) by signing a
//! Sign-In with Ethereum message ([`crate::siwe`]) with `personal_sign`. The verifier recovers
//! the signer with [`recover_personal_sign`] over the exact signed text and compares it with the
//! wallet the message names ([`crate::siwe_verify`]).
//!
//! Everything here takes untrusted input and never panics.

use crate::Address;
use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use sha3::{Digest, Keccak256};

/// Number of hex digits of a SpacetimeDB identity (32 bytes), as `Identity::to_hex()` gives.
pub const IDENTITY_HEX_DIGITS: usize = 64;

/// Number of hex digits of a `personal_sign` signature after `0x`: r (32 bytes), s (32), v (1).
pub const SIGNATURE_HEX_DIGITS: usize = 130;

/// The prefix EIP-191 (version `0x45`, `personal_sign`) puts before the message's byte length.
const PERSONAL_SIGN_PREFIX: &str = "\x19Ethereum Signed Message:\n";

/// Why a string is not a SpacetimeDB identity in hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityHexError {
    /// Wrong number of hex digits.
    #[error("identity must have {IDENTITY_HEX_DIGITS} hex digits, got {0}")]
    WrongLength(usize),
    /// A character is not a hex digit.
    #[error("identity contains a non-hex character {0:?}")]
    NotHex(char),
}

/// A SpacetimeDB identity as 64 lowercase hex digits, without `0x` (what `Identity::to_hex()`
/// prints): the form a link message's statement names the identity in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityHex(String);

impl IdentityHex {
    /// Parses 64 hex digits in any case, with or without a `0x` prefix (surrounding whitespace
    /// is ignored).
    pub fn parse(input: &str) -> Result<Self, IdentityHexError> {
        let trimmed = input.trim();
        let digits = trimmed
            .strip_prefix("0x")
            .or_else(|| trimmed.strip_prefix("0X"))
            .unwrap_or(trimmed);
        if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(IdentityHexError::NotHex(bad));
        }
        if digits.len() != IDENTITY_HEX_DIGITS {
            return Err(IdentityHexError::WrongLength(digits.len()));
        }
        Ok(Self(digits.to_ascii_lowercase()))
    }

    /// The 64 lowercase hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for IdentityHex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a `personal_sign` signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// It does not start with `0x`.
    #[error("signature must start with 0x")]
    MissingPrefix,
    /// A character after `0x` is not a hex digit.
    #[error("signature contains a non-hex character {0:?}")]
    NotHex(char),
    /// Wrong number of hex digits after `0x`.
    #[error("signature must have {SIGNATURE_HEX_DIGITS} hex digits after 0x (r, s, v), got {0}")]
    WrongLength(usize),
    /// The last byte is not a recovery id Ethereum uses.
    #[error("signature recovery byte v is {0}; expected 27, 28, 0 or 1")]
    BadRecoveryByte(u8),
    /// r or s is zero or not below the curve order.
    #[error("signature r or s is out of range")]
    OutOfRange,
    /// s is in the upper half of the curve order (a malleated signature; EIP-2).
    #[error("signature s is not canonical (high s)")]
    HighS,
    /// No public key matches the signature (r is not the x coordinate of a curve point, or the
    /// recovered key does not verify).
    #[error("no public key can be recovered from the signature")]
    Unrecoverable,
}

/// The EIP-191 `personal_sign` hash of `message`:
/// `keccak256("\x19Ethereum Signed Message:\n" + decimal byte length + message)`.
pub fn personal_sign_hash(message: &str) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    hasher.update(PERSONAL_SIGN_PREFIX.as_bytes());
    hasher.update(message.len().to_string().as_bytes());
    hasher.update(message.as_bytes());
    hasher.finalize().into()
}

/// Recovers the wallet that signed `message` with `personal_sign`.
///
/// `signature_hex` is `0x` + 130 hex digits: r ‖ s ‖ v, with v ∈ {27, 28} or {0, 1}. High-s
/// signatures are refused (Ethereum does since EIP-2), as is anything malformed.
pub fn recover_personal_sign(
    message: &str,
    signature_hex: &str,
) -> Result<Address, SignatureError> {
    let bytes = decode_signature(signature_hex)?;
    let (rs, v) = bytes.split_at(64);
    let v = v.first().copied().ok_or(SignatureError::WrongLength(0))?;
    let recovery = match v {
        0 | 27 => 0,
        1 | 28 => 1,
        other => return Err(SignatureError::BadRecoveryByte(other)),
    };
    let recovery = RecoveryId::from_byte(recovery).ok_or(SignatureError::BadRecoveryByte(v))?;
    let signature = Signature::from_slice(rs).map_err(|_| SignatureError::OutOfRange)?;
    if signature.normalize_s().is_some() {
        return Err(SignatureError::HighS);
    }
    let key =
        VerifyingKey::recover_from_prehash(&personal_sign_hash(message), &signature, recovery)
            .map_err(|_| SignatureError::Unrecoverable)?;
    Ok(address_of(&key))
}

/// The Ethereum address of a public key: the last 20 bytes of the keccak256 of its 64-byte
/// uncompressed form (without the `0x04` tag).
pub fn address_of(key: &VerifyingKey) -> Address {
    let point = key.to_encoded_point(false);
    let uncompressed = point.as_bytes();
    let hash = Keccak256::digest(uncompressed.get(1..).unwrap_or_default());
    let mut bytes = [0u8; 20];
    if let Some(tail) = hash.get(12..) {
        bytes.copy_from_slice(tail);
    }
    Address::from_bytes(&bytes)
}

/// `0x` + 130 hex digits → 65 bytes.
fn decode_signature(input: &str) -> Result<[u8; 65], SignatureError> {
    let trimmed = input.trim();
    let digits = trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
        .ok_or(SignatureError::MissingPrefix)?;
    if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(SignatureError::NotHex(bad));
    }
    if digits.len() != SIGNATURE_HEX_DIGITS {
        return Err(SignatureError::WrongLength(digits.len()));
    }
    let mut bytes = [0u8; 65];
    for (byte, pair) in bytes.iter_mut().zip(digits.as_bytes().chunks_exact(2)) {
        let [high, low] = pair else {
            return Err(SignatureError::WrongLength(digits.len()));
        };
        *byte = (hex_value(*high) << 4) | hex_value(*low);
    }
    Ok(bytes)
}

/// The value of an ASCII hex digit (already checked to be one).
fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::ecdsa::SigningKey;
    use proptest::prelude::*;

    /// The private key of web3.js's documented `accounts.sign` example.
    const WEB3_KEY: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
    /// Its address, as web3.js documents it for `privateKeyToAccount`.
    const WEB3_ADDRESS: &str = "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23";
    /// `web3.eth.accounts.sign('Some data', WEB3_KEY)` from the web3.js documentation.
    const WEB3_SOME_DATA_SIGNATURE: &str = "0xb91467e570a6466aa9e9876cbcd013baba02900b8979d43fe208a4a4f339f5fd6007e74cd82e037b800186422fc2da167c747ef045e5d18a5f5d4300f8e1a0291c";
    const WEB3_SOME_DATA_HASH: &str =
        "1da44b586eb0729ff70a73c326926f6ed5a25f5b056e7f47fbc6e58d86871655";
    const IDENTITY: &str = "c200aa5a3b1b6e6dd1c4e9b1a5c76d1a0d1ee5bfa0b5fbc7e5b7e7cc4aa2a1b0";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    fn web3_key() -> SigningKey {
        let bytes: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&WEB3_KEY[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        SigningKey::from_slice(&bytes).unwrap()
    }

    /// What a wallet's `personal_sign` returns: `0x` + r ‖ s ‖ v with v = 27 + recovery id.
    fn personal_sign(key: &SigningKey, message: &str) -> String {
        let (signature, recovery) = key
            .sign_prehash_recoverable(&personal_sign_hash(message))
            .unwrap();
        format!(
            "0x{}{:02x}",
            hex(&signature.to_bytes()),
            27 + recovery.to_byte()
        )
    }

    fn address_of_key(key: &SigningKey) -> Address {
        address_of(key.verifying_key())
    }

    fn with_v(signature: &str, v: u8) -> String {
        format!("{}{v:02x}", &signature[..130])
    }

    #[test]
    fn identity_hex_is_64_hex_digits() {
        assert_eq!(IdentityHex::parse(IDENTITY).unwrap().as_str(), IDENTITY);
        assert_eq!(
            IdentityHex::parse(&format!(" 0x{} ", IDENTITY.to_ascii_uppercase()))
                .unwrap()
                .as_str(),
            IDENTITY
        );
        assert_eq!(
            IdentityHex::parse(&IDENTITY[1..]),
            Err(IdentityHexError::WrongLength(63))
        );
        assert_eq!(
            IdentityHex::parse(&format!("{IDENTITY}0")),
            Err(IdentityHexError::WrongLength(65))
        );
        assert_eq!(
            IdentityHex::parse(&IDENTITY.replacen('c', "g", 1)),
            Err(IdentityHexError::NotHex('g'))
        );
        assert_eq!(
            IdentityHex::parse(""),
            Err(IdentityHexError::WrongLength(0))
        );
    }

    #[test]
    fn web3_js_documented_vector() {
        assert_eq!(hex(&personal_sign_hash("Some data")), WEB3_SOME_DATA_HASH);
        assert_eq!(address_of_key(&web3_key()).as_str(), WEB3_ADDRESS);
        assert_eq!(
            recover_personal_sign("Some data", WEB3_SOME_DATA_SIGNATURE)
                .unwrap()
                .as_str(),
            WEB3_ADDRESS
        );
        // RFC 6979 signing is deterministic: signing here gives the documented signature.
        assert_eq!(
            personal_sign(&web3_key(), "Some data"),
            WEB3_SOME_DATA_SIGNATURE
        );
        // Upper-case hex and v as 0/1 are accepted too.
        let upper = format!("0x{}", WEB3_SOME_DATA_SIGNATURE[2..].to_ascii_uppercase());
        assert_eq!(
            recover_personal_sign("Some data", &upper).unwrap().as_str(),
            WEB3_ADDRESS
        );
        assert_eq!(
            recover_personal_sign("Some data", &with_v(WEB3_SOME_DATA_SIGNATURE, 1))
                .unwrap()
                .as_str(),
            WEB3_ADDRESS
        );
    }

    #[test]
    fn the_length_counts_bytes_not_characters() {
        let message = "gm ☀️ wallet";
        assert_ne!(message.len(), message.chars().count());
        let key = key(9);
        let signature = personal_sign(&key, message);
        assert_eq!(
            recover_personal_sign(message, &signature),
            Ok(address_of_key(&key))
        );
        let mut hasher = Keccak256::new();
        hasher.update(format!(
            "\x19Ethereum Signed Message:\n{}{message}",
            message.len()
        ));
        let expected: [u8; 32] = hasher.finalize().into();
        assert_eq!(personal_sign_hash(message), expected);
    }

    #[test]
    fn malformed_signatures_are_refused_with_their_reason() {
        let good = WEB3_SOME_DATA_SIGNATURE;
        let check = |signature: &str, expected: SignatureError| {
            assert_eq!(
                recover_personal_sign("Some data", signature),
                Err(expected),
                "{signature}"
            );
        };
        check(&good[2..], SignatureError::MissingPrefix);
        check("", SignatureError::MissingPrefix);
        check("0x", SignatureError::WrongLength(0));
        check(&good[..130], SignatureError::WrongLength(128));
        check(&format!("{good}00"), SignatureError::WrongLength(132));
        check(&good.replacen('b', "z", 1), SignatureError::NotHex('z'));
        check(&good.replacen('b', "é", 1), SignatureError::NotHex('é'));
        for v in [2u8, 26, 29, 0xff] {
            check(&with_v(good, v), SignatureError::BadRecoveryByte(v));
        }
        // r = 0, s = 0, s = n (the curve order).
        let zero = "0".repeat(64);
        let n = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
        check(
            &format!("0x{zero}{}1b", &good[66..130]),
            SignatureError::OutOfRange,
        );
        check(
            &format!("0x{}{zero}1b", &good[2..66]),
            SignatureError::OutOfRange,
        );
        check(
            &format!("0x{}{n}1b", &good[2..66]),
            SignatureError::OutOfRange,
        );
        // r with no curve point of that x coordinate: x = 5 is not on secp256k1 (5³ + 7 = 132
        // is not a square mod p).
        let r_off_curve = format!("{:064x}", 5);
        check(
            &format!("0x{r_off_curve}{}1b", &good[66..130]),
            SignatureError::Unrecoverable,
        );
    }

    #[test]
    fn high_s_malleated_signatures_are_refused() {
        // s' = n - s verifies mathematically with the other recovery id, but is not canonical.
        let signature =
            Signature::from_slice(&decode_signature(WEB3_SOME_DATA_SIGNATURE).unwrap()[..64])
                .unwrap();
        let (r, s) = signature.split_scalars();
        let high = Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
        let malleated = format!("0x{}1b", hex(&high.to_bytes()));
        assert_eq!(
            recover_personal_sign("Some data", &malleated),
            Err(SignatureError::HighS)
        );
    }

    proptest! {
        #[test]
        fn random_strings_never_panic(message in ".{0,80}", signature in ".{0,140}") {
            let _ = recover_personal_sign(&message, &signature);
            let _ = IdentityHex::parse(&signature);
        }

        #[test]
        fn random_well_formed_signatures_never_panic(
            message in ".{0,80}",
            rs in "[0-9a-fA-F]{128}",
            v in prop::sample::select(vec![0u8, 1, 27, 28, 29, 255]),
        ) {
            let signature = format!("0x{rs}{v:02x}");
            if let Ok(address) = recover_personal_sign(&message, &signature) {
                prop_assert_eq!(address.as_str().len(), 42);
            }
        }

        #[test]
        fn every_key_recovers_its_own_address(seed in prop::array::uniform32(any::<u8>()), message in ".{0,80}") {
            if let Ok(key) = SigningKey::from_slice(&seed) {
                let signature = personal_sign(&key, &message);
                prop_assert_eq!(recover_personal_sign(&message, &signature), Ok(address_of_key(&key)));
            }
        }
    }
}
