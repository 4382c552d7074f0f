//! A wallet whose private key the test holds.

use crate::unique::unique_bytes;
use k256::ecdsa::SigningKey;
use onepulse_domain::wallet_link::address_of;
use onepulse_domain::{Address, GmDay, link_message, personal_sign_hash};

/// A wallet with a private key of the test's own, signing as `personal_sign` does.
pub struct TestWallet {
    key: SigningKey,
}

impl TestWallet {
    /// The wallet of a known private key (32 bytes).
    pub fn from_key(bytes: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_slice(bytes).expect("a valid secp256k1 private key"),
        }
    }

    /// A wallet (and so an address) no other test uses.
    pub fn unique() -> Self {
        loop {
            if let Ok(key) = SigningKey::from_slice(&unique_bytes()) {
                return Self { key };
            }
        }
    }

    /// The wallet's address.
    pub fn address(&self) -> Address {
        address_of(self.key.verifying_key())
    }

    /// What a wallet's `personal_sign(message)` returns: `0x` + r ‖ s ‖ v (v = 27 or 28).
    pub fn personal_sign(&self, message: &str) -> String {
        let (signature, recovery) = self
            .key
            .sign_prehash_recoverable(&personal_sign_hash(message))
            .expect("signing works");
        let hex: String = signature
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("0x{hex}{:02x}", 27 + recovery.to_byte())
    }

    /// The signed link of this wallet to `identity_hex` on `day`, as `bind_wallet` expects it.
    pub fn sign_link(&self, identity_hex: &str, day: i32) -> String {
        self.personal_sign(&link_message(
            &self.address(),
            identity_hex,
            GmDay::from_number(day),
        ))
    }
}
