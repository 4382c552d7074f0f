//! A wallet whose private key the test holds.

use crate::unique::unique_bytes;
use k256::ecdsa::SigningKey;
use onepulse_domain::siwe::nonce_from_bytes;
use onepulse_domain::wallet_link::address_of;
use onepulse_domain::{
    Address, Chain, IdentityHex, SiweMessage, database_resource, personal_sign_hash,
};

/// The domain of the tests' link messages: this machine (`localhost`, any port, is a domain
/// the test setups add to every test database; a new database accepts none).
pub const TEST_DOMAIN: &str = "localhost:8080";

/// The URI of the tests' link messages (on [`TEST_DOMAIN`]).
pub const TEST_URI: &str = "http://localhost:8080/";

/// How long the tests' links last unless a test says otherwise: an hour.
pub const TEST_LINK_SECS: i64 = 3600;

/// Now, in Unix seconds, by this machine's clock (the server's too: it runs on loopback).
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A nonce no other message uses: 16 letters and digits.
pub fn unique_nonce() -> String {
    nonce_from_bytes(&unique_bytes()[..16])
}

/// The resource naming the test database of `cargo xtask test` (`ONEPULSE_SPACETIMEDB_URL`,
/// `ONEPULSE_TEST_DATABASE`) as the app writes it: `spacetimedb://127.0.0.1:PORT/NAME`.
pub fn test_database_resource() -> String {
    let url = std::env::var("ONEPULSE_SPACETIMEDB_URL").unwrap_or_default();
    let database = std::env::var("ONEPULSE_TEST_DATABASE").unwrap_or_default();
    database_resource(&url, &database)
        .unwrap_or_else(|_| "spacetimedb://127.0.0.1/onepulse-test".to_owned())
}

/// A wallet with a private key of the test's own, signing as `personal_sign` does.
pub struct TestWallet {
    key: SigningKey,
    /// The database its messages name ([`test_database_resource`] unless
    /// [`for_database`](Self::for_database) says otherwise).
    resource: String,
}

impl TestWallet {
    /// The wallet of a known private key (32 bytes).
    pub fn from_key(bytes: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_slice(bytes).expect("a valid secp256k1 private key"),
            resource: test_database_resource(),
        }
    }

    /// A wallet (and so an address) no other test uses.
    pub fn unique() -> Self {
        loop {
            if let Ok(key) = SigningKey::from_slice(&unique_bytes()) {
                return Self {
                    key,
                    resource: test_database_resource(),
                };
            }
        }
    }

    /// This wallet, signing messages for `database` on the server at `server_url` (a
    /// [`PrivateServer`](crate::PrivateServer)'s).
    pub fn for_database(mut self, server_url: &str, database: &str) -> Self {
        self.resource = database_resource(server_url, database)
            .unwrap_or_else(|e| panic!("{server_url} {database}: {e}"));
        self
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

    /// The Sign-In with Ethereum message linking this wallet to `identity_hex` (64 hex digits)
    /// as the app builds it: [`TEST_DOMAIN`], the wallet's database as the resource, Base, a
    /// fresh nonce, issued now, lasting [`TEST_LINK_SECS`]. Tests change fields to make bad
    /// ones.
    pub fn link_message(&self, identity_hex: &str) -> SiweMessage {
        let identity = IdentityHex::parse(identity_hex).expect("an identity's 64 hex digits");
        SiweMessage::link(
            TEST_DOMAIN,
            TEST_URI,
            &self.resource,
            &self.address(),
            &identity,
            Chain::Base,
            &unique_nonce(),
            now_secs(),
            TEST_LINK_SECS,
        )
    }

    /// The Sign-In with Ethereum message revoking every link of this wallet, issued now.
    pub fn revoke_message(&self) -> SiweMessage {
        SiweMessage::revoke_all(
            TEST_DOMAIN,
            TEST_URI,
            &self.resource,
            &self.address(),
            Chain::Base,
            &unique_nonce(),
            now_secs(),
        )
    }

    /// `message` as the text the wallet signs and this wallet's `personal_sign` of it: the
    /// arguments of `bind_wallet` and `revoke_wallet_links`.
    pub fn sign(&self, message: &SiweMessage) -> (String, String) {
        let text = message.to_string();
        let signature = self.personal_sign(&text);
        (text, signature)
    }

    /// A fresh signed link of this wallet to `identity_hex` ([`link_message`](Self::link_message)).
    pub fn sign_link(&self, identity_hex: &str) -> (String, String) {
        self.sign(&self.link_message(identity_hex))
    }

    /// A fresh signed revocation of every link of this wallet.
    pub fn sign_revoke(&self) -> (String, String) {
        self.sign(&self.revoke_message())
    }
}
