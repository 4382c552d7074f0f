//! Checking a signed Sign-In with Ethereum (EIP-4361) wallet-link message (feature `verify`).
//!
//! The text is parsed by the `siwe` crate (the EIP-4361 grammar: domain as an RFC 3986
//! authority, EIP-55 address, RFC 3986 URI, RFC 3339 times) and accepted only when it renders
//! back to exactly the signed text, so every byte the wallet showed is a field read here. The
//! signature is recovered over that exact text ([`recover_personal_sign`]). Then OnePulse's
//! rules, each refused with an error naming what was wrong ([`SiweError`]): an accepted domain
//! and a URI on it, exactly one resource naming this database ([`ServerRule`]: a page pointed
//! at another server cannot collect a signature that works here), one of OnePulse's chains, a nonce of letters and digits, a statement that
//! is a link or a revocation, and the times — issued not in the future (beyond
//! [`MAX_CLOCK_SKEW_SECS`]) nor more than [`MAX_MESSAGE_AGE_SECS`] ago, `Not Before` reached,
//! `Expiration Time` not passed, and for a link present and at most
//! [`MAX_LINK_LIFETIME_SECS`] after `Issued At`.
//!
//! What needs the database — the statement's identity is the caller's, the nonce was not used
//! before, the wallet did not revoke its links since — is the module's. No clock here: the
//! caller passes "now". Nothing panics on any input.

use crate::siwe::{
    DomainRule, LinkPurpose, MAX_CLOCK_SKEW_SECS, MAX_LINK_LIFETIME_SECS, MAX_MESSAGE_AGE_SECS,
    MAX_MESSAGE_BYTES, MAX_NONCE_CHARS, MIN_NONCE_CHARS, ServerRule, rfc3339,
};
use crate::wallet_link::{SignatureError, recover_personal_sign};
use crate::{Address, Chain};
use std::str::FromStr;

const MICROS: i64 = 1_000_000;

/// A signed message that passed every check that needs no database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedMessage {
    /// The wallet that signed (the message's address).
    pub address: Address,
    /// What it asks for.
    pub purpose: LinkPurpose,
    /// The domain that asked.
    pub domain: String,
    /// The message's nonce (single use: the module remembers it).
    pub nonce: String,
    /// `Issued At`, Unix microseconds.
    pub issued_at_micros: i64,
    /// `Expiration Time`, Unix microseconds (always set for a link).
    pub expires_at_micros: Option<i64>,
}

/// Why a signed message was refused. Each message names the field and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SiweError {
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("the message is {0} bytes long; at most {MAX_MESSAGE_BYTES} are accepted")]
    TooLong(usize),
    /// Not EIP-4361 text.
    #[error("not a Sign-In with Ethereum (EIP-4361) message: {0}")]
    Unparsable(String),
    /// Parsed, but does not render back to the same text (extra spaces or lines, `\r\n`…).
    #[error(
        "the message is not laid out exactly as EIP-4361 writes it (extra or changed lines, \
         spaces or line endings)"
    )]
    NotCanonical,
    /// The signature is malformed or recovers no key.
    #[error("invalid signature: {0}")]
    Signature(#[from] SignatureError),
    /// Signed by another wallet than the one it names (or the text was changed after signing).
    #[error(
        "the message was signed by {signer}, not by {address}, the wallet it names (another \
         wallet's signature, or a changed message)"
    )]
    WrongSigner {
        /// Who signed.
        signer: Address,
        /// The message's address.
        address: Address,
    },
    /// The domain carries user info (`user@host`).
    #[error("domain {0:?} carries user info; a link domain is host or host:port")]
    DomainUserInfo(String),
    /// No accepted domain matches.
    #[error("domain {domain} is not accepted by this database (accepted: {accepted})")]
    Domain {
        /// The message's domain.
        domain: String,
        /// The accepted rules, comma-separated (or a hint when there are none).
        accepted: String,
    },
    /// The URI is not an http(s) URI on the message's domain.
    #[error("URI {uri} is not an http or https URI on the message's domain {domain}")]
    Uri {
        /// The message's URI.
        uri: String,
        /// The message's domain.
        domain: String,
    },
    /// Not exactly one resource, or one that names no address of this database.
    #[error(
        "the message must name this database as its one resource (spacetimedb://host/database, \
         accepted: {accepted}); it names [{resources}]"
    )]
    Resource {
        /// The message's resources, comma-separated.
        resources: String,
        /// This database's addresses, comma-separated (or a hint when there are none).
        accepted: String,
    },
    /// Not one of OnePulse's chains.
    #[error("chain ID {0} is not one of OnePulse's chains (8453 Base, 42220 Celo, 10 Optimism)")]
    ChainId(u64),
    /// Not 8–64 letters and digits.
    #[error("nonce {0:?} must be {MIN_NONCE_CHARS} to {MAX_NONCE_CHARS} letters and digits")]
    Nonce(String),
    /// No statement, or one that is neither a OnePulse link nor a revocation.
    #[error(
        "the statement {0:?} is not a OnePulse link (\"OnePulse: link this wallet to \
         SpacetimeDB identity <64 lowercase hex digits>\") or revocation"
    )]
    Statement(String),
    /// `Issued At` is later than now (plus the allowed clock skew).
    #[error(
        "Issued At {issued_at} is in the future (the server's time is {now}; at most \
         {MAX_CLOCK_SKEW_SECS} s of clock difference is allowed)"
    )]
    IssuedInFuture {
        /// `Issued At`.
        issued_at: String,
        /// The verifier's time.
        now: String,
    },
    /// `Issued At` is too long ago.
    #[error(
        "Issued At {issued_at} is more than {MAX_MESSAGE_AGE_SECS} s before the server's time \
         {now}: sign a new message"
    )]
    TooOld {
        /// `Issued At`.
        issued_at: String,
        /// The verifier's time.
        now: String,
    },
    /// `Not Before` is still ahead.
    #[error("the message is not valid before {not_before} (the server's time is {now})")]
    NotYetValid {
        /// `Not Before`.
        not_before: String,
        /// The verifier's time.
        now: String,
    },
    /// `Expiration Time` has passed.
    #[error("the message expired at {expiration} (the server's time is {now})")]
    Expired {
        /// `Expiration Time`.
        expiration: String,
        /// The verifier's time.
        now: String,
    },
    /// A link without `Expiration Time`: links must end.
    #[error("a link message must have an Expiration Time (links end)")]
    NoExpiration,
    /// A link lasting longer than allowed.
    #[error(
        "Expiration Time {expiration} is more than {MAX_LINK_LIFETIME_SECS} s (30 days) after \
         Issued At {issued_at}"
    )]
    LifetimeTooLong {
        /// `Expiration Time`.
        expiration: String,
        /// `Issued At`.
        issued_at: String,
    },
}

/// Checks `text`, signed by `signature` (`personal_sign`: `0x` + r ‖ s ‖ v), against the
/// accepted `domains` and this database's addresses `servers` at `now_micros` (Unix
/// microseconds); see the module documentation.
pub fn verify_signed_message(
    text: &str,
    signature: &str,
    domains: &[DomainRule],
    servers: &[ServerRule],
    now_micros: i64,
) -> Result<VerifiedMessage, SiweError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(SiweError::TooLong(text.len()));
    }
    let message =
        siwe::Message::from_str(text).map_err(|e| SiweError::Unparsable(e.to_string()))?;
    if message.to_string() != text {
        return Err(SiweError::NotCanonical);
    }

    let address = Address::from_bytes(&message.address);
    let signer = recover_personal_sign(text, signature)?;
    if signer != address {
        return Err(SiweError::WrongSigner { signer, address });
    }

    let domain = message.domain.as_str().to_owned();
    if domain.contains('@') {
        return Err(SiweError::DomainUserInfo(domain));
    }
    if !domains.iter().any(|rule| rule.accepts(&domain)) {
        let accepted = listed(domains, "none yet: the owner adds one with add_link_domain");
        return Err(SiweError::Domain { domain, accepted });
    }
    let uri_on_domain = matches!(message.uri.scheme_str(), "http" | "https")
        && message
            .uri
            .authority_str()
            .is_some_and(|authority| authority.eq_ignore_ascii_case(&domain));
    if !uri_on_domain {
        return Err(SiweError::Uri {
            uri: message.uri.to_string(),
            domain,
        });
    }
    let for_this_database = match message.resources.as_slice() {
        [resource] => servers.iter().any(|rule| rule.accepts(resource.as_str())),
        _ => false,
    };
    if !for_this_database {
        return Err(SiweError::Resource {
            resources: message
                .resources
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            accepted: listed(servers, "none yet: the owner adds one with add_link_server"),
        });
    }
    let chain_ok = i64::try_from(message.chain_id)
        .ok()
        .is_some_and(|id| Chain::from_id(id).is_ok());
    if !chain_ok {
        return Err(SiweError::ChainId(message.chain_id));
    }
    let nonce_ok = (MIN_NONCE_CHARS..=MAX_NONCE_CHARS).contains(&message.nonce.len())
        && message.nonce.chars().all(|c| c.is_ascii_alphanumeric());
    if !nonce_ok {
        return Err(SiweError::Nonce(message.nonce.clone()));
    }
    let statement = message.statement.clone().unwrap_or_default();
    let purpose = LinkPurpose::from_statement(&statement).ok_or(SiweError::Statement(statement))?;

    let now = || rfc3339(now_micros.div_euclid(MICROS));
    let issued_at_micros = micros(message.issued_at.as_ref().unix_timestamp_nanos());
    if issued_at_micros > now_micros.saturating_add(MAX_CLOCK_SKEW_SECS * MICROS) {
        return Err(SiweError::IssuedInFuture {
            issued_at: message.issued_at.to_string(),
            now: now(),
        });
    }
    if issued_at_micros < now_micros.saturating_sub(MAX_MESSAGE_AGE_SECS * MICROS) {
        return Err(SiweError::TooOld {
            issued_at: message.issued_at.to_string(),
            now: now(),
        });
    }
    if let Some(not_before) = &message.not_before
        && micros(not_before.as_ref().unix_timestamp_nanos()) > now_micros
    {
        return Err(SiweError::NotYetValid {
            not_before: not_before.to_string(),
            now: now(),
        });
    }
    let expires_at_micros = message
        .expiration_time
        .as_ref()
        .map(|expiration| micros(expiration.as_ref().unix_timestamp_nanos()));
    if let (Some(expiration), Some(at)) = (&message.expiration_time, expires_at_micros)
        && at <= now_micros
    {
        return Err(SiweError::Expired {
            expiration: expiration.to_string(),
            now: now(),
        });
    }
    if let LinkPurpose::Link(_) = purpose {
        let (Some(expiration), Some(at)) = (&message.expiration_time, expires_at_micros) else {
            return Err(SiweError::NoExpiration);
        };
        if at.saturating_sub(issued_at_micros) > MAX_LINK_LIFETIME_SECS * MICROS {
            return Err(SiweError::LifetimeTooLong {
                expiration: expiration.to_string(),
                issued_at: message.issued_at.to_string(),
            });
        }
    }

    Ok(VerifiedMessage {
        address,
        purpose,
        domain,
        nonce: message.nonce,
        issued_at_micros,
        expires_at_micros,
    })
}

/// The rules, comma-separated, or `none` when there are none.
fn listed<T: ToString>(rules: &[T], none: &str) -> String {
    if rules.is_empty() {
        none.to_owned()
    } else {
        rules
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Unix nanoseconds (what the `time` crate's `OffsetDateTime::unix_timestamp_nanos` gives) as
/// Unix microseconds, saturating outside `i64`.
fn micros(nanos: i128) -> i64 {
    i64::try_from(nanos.div_euclid(1000)).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::siwe::{REVOKE_STATEMENT, SiweMessage, nonce_from_bytes};
    use crate::wallet_link::{IdentityHex, address_of, personal_sign_hash};
    use k256::ecdsa::SigningKey;
    use proptest::prelude::*;

    const IDENTITY: &str = "c200aa5a3b1b6e6dd1c4e9b1a5c76d1a0d1ee5bfa0b5fbc7e5b7e7cc4aa2a1b0";
    /// 2025-12-06T05:46:40Z.
    const NOW: i64 = 1_765_000_000;
    const DOMAIN: &str = "onepulse.example";
    const URI: &str = "https://onepulse.example/";
    const RESOURCE: &str = "spacetimedb://db.onepulse.example/onepulse";

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    fn sign(key: &SigningKey, text: &str) -> String {
        let (signature, recovery) = key
            .sign_prehash_recoverable(&personal_sign_hash(text))
            .unwrap();
        let hex: String = signature
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("0x{hex}{:02x}", 27 + recovery.to_byte())
    }

    fn rules() -> Vec<DomainRule> {
        ["localhost", "127.0.0.1", "[::1]", DOMAIN]
            .map(|rule| DomainRule::parse(rule).unwrap())
            .to_vec()
    }

    fn servers() -> Vec<ServerRule> {
        ["localhost/onepulse", "db.onepulse.example/onepulse"]
            .map(|rule| ServerRule::parse(rule).unwrap())
            .to_vec()
    }

    fn identity() -> IdentityHex {
        IdentityHex::parse(IDENTITY).unwrap()
    }

    /// A link of `key`'s wallet issued at `NOW`, lasting a day.
    fn link(key: &SigningKey) -> SiweMessage {
        SiweMessage::link(
            DOMAIN,
            URI,
            RESOURCE,
            &address_of(key.verifying_key()),
            &identity(),
            Chain::Base,
            "k7Qx2mP9aZ0bC1dE",
            NOW,
            86_400,
        )
    }

    fn check(text: &str, signature: &str) -> Result<VerifiedMessage, SiweError> {
        verify_signed_message(text, signature, &rules(), &servers(), NOW * MICROS)
    }

    /// `message` signed by `key`, then checked.
    fn signed(key: &SigningKey, message: &SiweMessage) -> Result<VerifiedMessage, SiweError> {
        let text = message.to_string();
        check(&text, &sign(key, &text))
    }

    #[test]
    fn a_signed_link_verifies() {
        let wallet = key(1);
        let verified = signed(&wallet, &link(&wallet)).unwrap();
        assert_eq!(
            verified,
            VerifiedMessage {
                address: address_of(wallet.verifying_key()),
                purpose: LinkPurpose::Link(identity()),
                domain: DOMAIN.into(),
                nonce: "k7Qx2mP9aZ0bC1dE".into(),
                issued_at_micros: NOW * MICROS,
                expires_at_micros: Some((NOW + 86_400) * MICROS),
            }
        );
        // A port on a host rule without one, and upper case, are accepted.
        let mut local = link(&wallet);
        local.domain = "LocalHost:8080".into();
        local.uri = "http://localhost:8080/".into();
        assert!(signed(&wallet, &local).is_ok());
    }

    #[test]
    fn a_revocation_verifies_with_or_without_expiration() {
        let wallet = key(2);
        let address = address_of(wallet.verifying_key());
        let mut revoke = SiweMessage::revoke_all(
            DOMAIN,
            URI,
            RESOURCE,
            &address,
            Chain::Optimism,
            "abcdefgh12",
            NOW,
        );
        assert_eq!(
            signed(&wallet, &revoke).unwrap().purpose,
            LinkPurpose::RevokeAll
        );
        revoke.expiration_time = None;
        let verified = signed(&wallet, &revoke).unwrap();
        assert_eq!(verified.purpose, LinkPurpose::RevokeAll);
        assert_eq!(verified.expires_at_micros, None);
        assert!(revoke.to_string().contains(REVOKE_STATEMENT));
    }

    /// The example message and signature of the `siwe` crate's documentation: the signer our
    /// recovery finds is the address the message names.
    #[test]
    fn the_siwe_crates_documented_signature_recovers_its_address() {
        let text = "localhost:4361 wants you to sign in with your Ethereum account:\n\
                    0x6Da01670d8fc844e736095918bbE11fE8D564163\n\
                    \n\
                    SIWE Notepad Example\n\
                    \n\
                    URI: http://localhost:4361\n\
                    Version: 1\n\
                    Chain ID: 1\n\
                    Nonce: kEWepMt9knR6lWJ6A\n\
                    Issued At: 2021-12-07T18:28:18.807Z";
        let signature = "0x6228b3ecd7bf2df018183aeab6b6f1db1e9f4e3cbe24560404112e25363540eb679934908143224d746bbb5e1aa65ab435684081f4dbb74a0fec57f98f40f5051c";
        assert_eq!(
            recover_personal_sign(text, signature).unwrap().as_str(),
            "0x6da01670d8fc844e736095918bbe11fe8d564163"
        );
        // Fine as EIP-4361, but not a OnePulse message: it names no database.
        let issued = 1_638_901_698;
        assert_eq!(
            verify_signed_message(text, signature, &rules(), &servers(), issued * MICROS),
            Err(SiweError::Resource {
                resources: String::new(),
                accepted: "localhost/onepulse, db.onepulse.example/onepulse".into(),
            })
        );
    }

    #[test]
    fn malformed_text_is_refused() {
        let wallet = key(3);
        let text = link(&wallet).to_string();
        let signature = sign(&wallet, &text);
        let long = format!("{text}{}", " ".repeat(MAX_MESSAGE_BYTES));
        assert_eq!(
            check(&long, &signature),
            Err(SiweError::TooLong(long.len()))
        );
        for garbage in [
            "",
            "hello",
            "OnePulse: link wallet 0x12 to SpacetimeDB identity 00",
        ] {
            assert!(
                matches!(check(garbage, &signature), Err(SiweError::Unparsable(_))),
                "{garbage:?}"
            );
        }
        // The address in lower case is not EIP-55: the parser refuses it.
        let lower = text.replace(
            &address_of(wallet.verifying_key()).to_checksum(),
            address_of(wallet.verifying_key()).as_str(),
        );
        assert!(matches!(
            check(&lower, &sign(&wallet, &lower)),
            Err(SiweError::Unparsable(_))
        ));
        // Text that parses but is not laid out exactly as EIP-4361 writes it.
        for changed in [
            format!("{text}\n"),
            text.replace('\n', "\r\n"),
            text.replacen("\n\n", "\nsomething\n", 1),
        ] {
            let result = check(&changed, &sign(&wallet, &changed));
            assert!(
                matches!(
                    result,
                    Err(SiweError::NotCanonical | SiweError::Unparsable(_))
                ),
                "{changed:?}: {result:?}"
            );
        }
        // The line after the address must be empty: the parser skips it, the check does not.
        let filled = text.replacen("\n\n", "\nsomething\n", 1);
        assert_eq!(
            check(&filled, &sign(&wallet, &filled)),
            Err(SiweError::NotCanonical)
        );
    }

    #[test]
    fn signatures_must_be_the_named_wallets_over_this_text() {
        let wallet = key(4);
        let address = address_of(wallet.verifying_key());
        let text = link(&wallet).to_string();
        let other = key(5);
        assert_eq!(
            check(&text, &sign(&other, &text)),
            Err(SiweError::WrongSigner {
                signer: address_of(other.verifying_key()),
                address: address.clone(),
            })
        );
        // Changed after signing: the nonce, the identity, the expiration.
        let signature = sign(&wallet, &text);
        for tampered in [
            text.replace("k7Qx2mP9aZ0bC1dE", "k7Qx2mP9aZ0bC1dF"),
            text.replace(IDENTITY, &format!("{}1", &IDENTITY[..63])),
            text.replace("2025-12-07", "2025-12-30"),
        ] {
            assert_ne!(tampered, text);
            match check(&tampered, &signature) {
                Err(SiweError::WrongSigner {
                    signer,
                    address: named,
                }) => {
                    assert_ne!(signer, address);
                    assert_eq!(named, address);
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            check(&text, "0x1234"),
            Err(SiweError::Signature(SignatureError::WrongLength(4)))
        ));
        let message = check(&text, &sign(&other, &text)).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!(
                "the message was signed by {}, not by {address}",
                address_of(other.verifying_key())
            )),
            "{message}"
        );
    }

    #[test]
    fn the_domain_and_uri_must_be_accepted() {
        let wallet = key(6);
        let mut message = link(&wallet);
        message.domain = "evil.example".into();
        message.uri = "https://evil.example/".into();
        let error = signed(&wallet, &message).unwrap_err();
        assert_eq!(
            error,
            SiweError::Domain {
                domain: "evil.example".into(),
                accepted: "localhost, 127.0.0.1, [::1], onepulse.example".into(),
            }
        );
        assert_eq!(
            error.to_string(),
            "domain evil.example is not accepted by this database (accepted: localhost, \
             127.0.0.1, [::1], onepulse.example)"
        );
        let text = message.to_string();
        assert_eq!(
            verify_signed_message(&text, &sign(&wallet, &text), &[], &servers(), NOW * MICROS),
            Err(SiweError::Domain {
                domain: "evil.example".into(),
                accepted: "none yet: the owner adds one with add_link_domain".into(),
            })
        );
        // Look-alikes of an accepted domain.
        for domain in [
            "onepulse.example.evil",
            "evil-onepulse.example",
            "localhost.evil",
        ] {
            let mut message = link(&wallet);
            message.domain = domain.into();
            message.uri = format!("https://{domain}/");
            assert!(
                matches!(signed(&wallet, &message), Err(SiweError::Domain { .. })),
                "{domain}"
            );
        }
        let mut user_info = link(&wallet);
        user_info.domain = "onepulse.example@evil.example".into();
        user_info.uri = "https://evil.example/".into();
        assert!(matches!(
            signed(&wallet, &user_info),
            Err(SiweError::DomainUserInfo(_) | SiweError::Unparsable(_))
        ));
        for uri in [
            "https://evil.example/",
            "https://onepulse.example.evil/",
            "ftp://onepulse.example/",
            "urn:onepulse",
        ] {
            let mut message = link(&wallet);
            message.uri = uri.into();
            assert_eq!(
                signed(&wallet, &message),
                Err(SiweError::Uri {
                    uri: uri.into(),
                    domain: DOMAIN.into()
                }),
                "{uri}"
            );
        }
    }

    /// A page pointed at another server (which may claim any identity, and any database
    /// identity) gets a signature naming that server: this database refuses it.
    #[test]
    fn the_message_must_name_this_database_once() {
        let wallet = key(11);
        let refused = |resources: &[&str]| {
            let mut message = link(&wallet);
            message.resources = resources.iter().map(|r| r.to_string()).collect();
            signed(&wallet, &message)
        };
        assert!(refused(&["spacetimedb://localhost:3000/onepulse"]).is_ok());
        for resources in [
            &[][..],
            &["spacetimedb://evil.example/onepulse"],
            &["spacetimedb://db.onepulse.example/other"],
            &["spacetimedb://localhost:3000/onepulse-preview"],
            &["wss://db.onepulse.example/onepulse"],
            &["https://db.onepulse.example/onepulse"],
            &[RESOURCE, "spacetimedb://evil.example/onepulse"],
            &["spacetimedb://evil.example/onepulse", RESOURCE],
            &[RESOURCE, RESOURCE],
        ] {
            assert!(
                matches!(refused(resources), Err(SiweError::Resource { .. })),
                "{resources:?}"
            );
        }
        let error = refused(&["spacetimedb://evil.example/onepulse"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the message must name this database as its one resource \
             (spacetimedb://host/database, accepted: localhost/onepulse, \
             db.onepulse.example/onepulse); it names [spacetimedb://evil.example/onepulse]"
        );
        let text = link(&wallet).to_string();
        assert_eq!(
            verify_signed_message(&text, &sign(&wallet, &text), &rules(), &[], NOW * MICROS),
            Err(SiweError::Resource {
                resources: RESOURCE.into(),
                accepted: "none yet: the owner adds one with add_link_server".into(),
            })
        );
        // The resource is signed: changing it after signing changes the signer.
        let signature = sign(&wallet, &text);
        let moved = text.replace(RESOURCE, "spacetimedb://localhost/onepulse");
        assert!(matches!(
            check(&moved, &signature),
            Err(SiweError::WrongSigner { .. })
        ));
    }

    #[test]
    fn chain_nonce_and_statement_are_checked() {
        let wallet = key(7);
        let mut message = link(&wallet);
        message.chain_id = 1;
        assert_eq!(signed(&wallet, &message), Err(SiweError::ChainId(1)));
        for nonce in ["short12", "abc-defgh", "abcdefgh_", &"a".repeat(65)] {
            let mut message = link(&wallet);
            message.nonce = nonce.into();
            let result = signed(&wallet, &message);
            assert!(
                matches!(result, Err(SiweError::Nonce(_) | SiweError::Unparsable(_))),
                "{nonce}: {result:?}"
            );
        }
        let mut message = link(&wallet);
        message.nonce = "abc-defgh".into();
        assert_eq!(
            signed(&wallet, &message),
            Err(SiweError::Nonce("abc-defgh".into()))
        );
        let mut message = link(&wallet);
        message.nonce = nonce_from_bytes(&[7; 64]);
        assert!(signed(&wallet, &message).is_ok());

        for statement in [
            "Sign in to OnePulse",
            &format!(
                "OnePulse: link this wallet to SpacetimeDB identity {}",
                IDENTITY.to_ascii_uppercase()
            ),
            "OnePulse: revoke every link of this wallet",
        ] {
            let mut message = link(&wallet);
            message.statement = statement.into();
            assert_eq!(
                signed(&wallet, &message),
                Err(SiweError::Statement(statement.into())),
                "{statement}"
            );
        }
    }

    #[test]
    fn times_are_checked() {
        let wallet = key(8);
        let at = |issued_at: i64, expiration: Option<i64>| {
            let mut message = link(&wallet);
            message.issued_at = issued_at;
            message.expiration_time = expiration;
            signed(&wallet, &message)
        };
        // Within the clock skew and the age limit: fine.
        assert!(at(NOW + MAX_CLOCK_SKEW_SECS, Some(NOW + 3600)).is_ok());
        assert!(at(NOW - MAX_MESSAGE_AGE_SECS, Some(NOW + 3600)).is_ok());
        assert_eq!(
            at(NOW + 600, Some(NOW + 3600)),
            Err(SiweError::IssuedInFuture {
                issued_at: "2025-12-06T05:56:40Z".into(),
                now: "2025-12-06T05:46:40Z".into(),
            })
        );
        assert_eq!(
            at(NOW - MAX_MESSAGE_AGE_SECS - 1, Some(NOW + 3600)),
            Err(SiweError::TooOld {
                issued_at: "2025-12-06T05:36:39Z".into(),
                now: "2025-12-06T05:46:40Z".into(),
            })
        );
        assert_eq!(
            at(NOW - 300, Some(NOW - 60)),
            Err(SiweError::Expired {
                expiration: "2025-12-06T05:45:40Z".into(),
                now: "2025-12-06T05:46:40Z".into(),
            })
        );
        assert!(matches!(
            at(NOW - 300, Some(NOW)),
            Err(SiweError::Expired { .. })
        ));
        assert_eq!(at(NOW, None), Err(SiweError::NoExpiration));
        assert!(at(NOW, Some(NOW + MAX_LINK_LIFETIME_SECS)).is_ok());
        assert_eq!(
            at(NOW, Some(NOW + MAX_LINK_LIFETIME_SECS + 1)),
            Err(SiweError::LifetimeTooLong {
                expiration: "2026-01-05T05:46:41Z".into(),
                issued_at: "2025-12-06T05:46:40Z".into(),
            })
        );
        assert!(
            at(NOW + 600, Some(NOW + 3600))
                .unwrap_err()
                .to_string()
                .contains("is in the future")
        );

        // `Not Before` (which OnePulse does not write, but EIP-4361 allows) must be reached.
        // EIP-4361 puts it before `Resources`.
        let base = link(&wallet).to_string();
        let not_before =
            |at: &str| base.replace("\nResources:", &format!("\nNot Before: {at}\nResources:"));
        let later = not_before("2025-12-06T06:00:00Z");
        assert_eq!(
            check(&later, &sign(&wallet, &later)),
            Err(SiweError::NotYetValid {
                not_before: "2025-12-06T06:00:00Z".into(),
                now: "2025-12-06T05:46:40Z".into(),
            })
        );
        let earlier = not_before("2025-12-06T05:00:00Z");
        assert!(check(&earlier, &sign(&wallet, &earlier)).is_ok());
        // Sub-second precision, as JavaScript's toISOString() writes it.
        let millis = base.replace(
            "Issued At: 2025-12-06T05:46:40Z",
            "Issued At: 2025-12-06T05:46:40.807Z",
        );
        assert_eq!(
            check(&millis, &sign(&wallet, &millis))
                .unwrap()
                .issued_at_micros,
            NOW * MICROS + 807_000
        );
    }

    proptest! {
        #[test]
        fn random_input_never_panics(text in ".{0,600}", signature in ".{0,140}", now in any::<i64>()) {
            let _ = verify_signed_message(&text, &signature, &rules(), &servers(), now);
        }

        #[test]
        fn mutated_messages_never_panic(
            cut in 0usize..400,
            insert in ".{0,8}",
            now in any::<i64>(),
        ) {
            let wallet = key(9);
            let text = link(&wallet).to_string();
            let cut = text.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(text.len());
            let mutated = format!("{}{insert}{}", &text[..cut], &text[cut..]);
            let signature = sign(&wallet, &mutated);
            let _ = verify_signed_message(&mutated, &signature, &rules(), &servers(), now);
        }

        #[test]
        fn any_issue_time_within_the_window_verifies(offset in -MAX_MESSAGE_AGE_SECS..=MAX_CLOCK_SKEW_SECS) {
            let wallet = key(10);
            let mut message = link(&wallet);
            message.issued_at = NOW + offset;
            message.expiration_time = Some(NOW + 3600);
            prop_assert!(signed(&wallet, &message).is_ok());
        }
    }
}
