//! The OnePulse domain, shared by the SpacetimeDB module, the web app and the fallback service.
//!
//! Everything here is pure: validated value types for untrusted input ([`Address`], [`Chain`],
//! [`GmDay`], [`TxHash`]), the streak rule ([`Streak`]) and the GM report ([`GmReport`]: validated
//! from `report_gm`'s arguments by the module, turned into them by clients), and wallet links:
//! the Sign-In with Ethereum (EIP-4361) message a wallet signs to link itself to a SpacetimeDB
//! identity or revoke its links ([`siwe`]), its EIP-191 signature check ([`wallet_link`]) and,
//! with feature `verify`, the checks of a signed message ([`siwe_verify`]). No I/O, no clock:
//! callers pass "now" in.

mod address;
mod chain;
mod day;
mod report;
pub mod siwe;
#[cfg(feature = "verify")]
pub mod siwe_verify;
mod streak;
pub mod wallet_link;

pub use address::{Address, AddressError};
pub use chain::{Chain, ChainError};
pub use day::{DayError, GmDay};
pub use report::{GmReport, GmReportArgs, MAX_NAME_CHARS, ReportError, TxHash};
pub use siwe::{
    DomainRule, DomainRuleError, LinkPurpose, ServerRule, ServerRuleError, SiweMessage,
    database_resource,
};
#[cfg(feature = "verify")]
pub use siwe_verify::{SiweError, VerifiedMessage, verify_signed_message};
pub use streak::Streak;
pub use wallet_link::{
    IdentityHex, IdentityHexError, SignatureError, personal_sign_hash, recover_personal_sign,
};

/// The primary key of a `gm_stats_by_address` row: `"{lowercase address}:{chain id}"`.
pub fn address_chain_key(address: &Address, chain: Chain) -> String {
    format!("{}:{}", address.as_str(), chain.id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_lowercase_address_and_chain_id() {
        let address = Address::parse("0xABCDEF0123456789abcdef0123456789ABCDEF01").unwrap();
        assert_eq!(
            address_chain_key(&address, Chain::Celo),
            "0xabcdef0123456789abcdef0123456789abcdef01:42220"
        );
    }
}
