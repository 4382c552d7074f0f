//! The Sign-In with Ethereum (EIP-4361) wallet-link message the app asks a wallet to sign,
//! from the page's parts (read in the browser by `mini_app`): pure, tested natively.
//!
//! It names the page's domain and origin, so a wallet can tell the user which site asks and
//! the module accepts it only from its listed domains, and, as its one resource, the
//! SpacetimeDB server and database the store connects to (`spacetimedb://host[:port]/name`,
//! [`database_resource`]), taken from the app's configuration, never from the server: a page
//! pointed by a link at another server yields a signature naming that server, which the real
//! database refuses.

use onepulse_domain::siwe::MAX_LINK_LIFETIME_SECS;
use onepulse_domain::{Address, Chain, IdentityHex, SiweMessage, database_resource};

/// Where a wallet-link message is asked for (the page) and what it is for (the database).
pub struct LinkPage<'a> {
    /// `location.host`.
    pub domain: &'a str,
    /// `location.origin`.
    pub origin: &'a str,
    /// The SpacetimeDB URL the store connects to.
    pub server: &'a str,
    /// The database name.
    pub database: &'a str,
}

impl LinkPage<'_> {
    /// The message `wallet` signs: linking it to `identity_hex` (for
    /// [`MAX_LINK_LIFETIME_SECS`]) or, with `None`, revoking every link it made; on Base, with
    /// `nonce`, issued at `now` (Unix seconds). `Err` when the database's address is unusable.
    pub fn message(
        &self,
        wallet: &Address,
        identity_hex: Option<&str>,
        nonce: &str,
        now: i64,
    ) -> Result<SiweMessage, String> {
        let resource = database_resource(self.server, self.database)
            .map_err(|e| format!("the database's address: {e}"))?;
        let uri = format!("{}/", self.origin);
        Ok(match identity_hex {
            Some(hex) => {
                let identity =
                    IdentityHex::parse(hex).map_err(|e| format!("this browser's identity: {e}"))?;
                SiweMessage::link(
                    self.domain,
                    &uri,
                    &resource,
                    wallet,
                    &identity,
                    Chain::Base,
                    nonce,
                    now,
                    MAX_LINK_LIFETIME_SECS,
                )
            }
            None => SiweMessage::revoke_all(
                self.domain,
                &uri,
                &resource,
                wallet,
                Chain::Base,
                nonce,
                now,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDENTITY: &str = "c200aa5a3b1b6e6dd1c4e9b1a5c76d1a0d1ee5bfa0b5fbc7e5b7e7cc4aa2a1b0";

    /// The app's link and revocation messages name the server and database the store
    /// connects to, as their one resource.
    #[test]
    fn messages_name_the_database_the_store_connects_to() {
        let wallet = Address::parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed").unwrap();
        let page = LinkPage {
            domain: "onepulse.example",
            origin: "https://onepulse.example",
            server: "wss://db.onepulse.example",
            database: "onepulse",
        };
        for identity in [Some(IDENTITY), None] {
            let message = page
                .message(&wallet, identity, "k7Qx2mP9aZ0bC1dE", 1_765_000_000)
                .unwrap();
            assert_eq!(
                message.resources,
                ["spacetimedb://db.onepulse.example/onepulse"]
            );
            assert!(
                message
                    .to_string()
                    .ends_with("\nResources:\n- spacetimedb://db.onepulse.example/onepulse"),
                "{message}"
            );
        }
        let elsewhere = LinkPage {
            server: "ws://evil.example:3000",
            ..page
        };
        assert_eq!(
            elsewhere
                .message(&wallet, Some(IDENTITY), "k7Qx2mP9aZ0bC1dE", 0)
                .unwrap()
                .resources,
            ["spacetimedb://evil.example:3000/onepulse"]
        );
        let bad = LinkPage {
            server: "ws://user@db.onepulse.example",
            ..page
        };
        assert!(bad.message(&wallet, None, "k7Qx2mP9aZ0bC1dE", 0).is_err());
    }
}
