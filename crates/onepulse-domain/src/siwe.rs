//! Wallet links as Sign-In with Ethereum (EIP-4361) messages.
//!
//! A wallet links itself to a SpacetimeDB identity by `personal_sign`ing a standard EIP-4361
//! message ([`SiweMessage`]): it names the site asking (`domain`, `uri`), the wallet, the
//! identity (in the statement, [`link_statement`]), a chain id, a single-use `nonce`, when it
//! was issued, when the link ends (`Expiration Time`) and, as its one `Resources` entry, the
//! SpacetimeDB server and database the link is for ([`database_resource`]:
//! `spacetimedb://host[:port]/database`). A database accepts only messages naming one of its
//! own addresses ([`ServerRule`]), so a page pointed at another server (which may claim any
//! identity) cannot collect a signature that links anything here. Wallets show such a message as a
//! sign-in request and warn when its domain is not the site asking, so another site cannot
//! collect a signature that works here. The same format, with [`REVOKE_STATEMENT`], is how the
//! wallet revokes every link it made (a lost device).
//!
//! Building a message needs nothing but this file (the app builds them in the browser);
//! parsing and checking a signed one is in [`crate::siwe_verify`] (feature `verify`, the
//! module), on top of the `siwe` crate's parser.
//!
//! The limits ([`MAX_CLOCK_SKEW_SECS`], [`MAX_MESSAGE_AGE_SECS`], [`MAX_LINK_LIFETIME_SECS`],
//! nonce length, message size) are here so that the app, the tests and the verifier agree.

use crate::wallet_link::IdentityHex;
use crate::{Address, Chain};
use std::fmt;

/// How far in the future `Issued At` may be (the signer's clock ahead of the server's).
pub const MAX_CLOCK_SKEW_SECS: i64 = 60;

/// How long after `Issued At` a message is still accepted: a signed message must be used
/// within this time (its nonce is remembered at least as long, so it is single-use).
pub const MAX_MESSAGE_AGE_SECS: i64 = 10 * 60;

/// The longest a link may last: `Expiration Time` at most this long after `Issued At`.
pub const MAX_LINK_LIFETIME_SECS: i64 = 30 * 86_400;

/// The shortest nonce EIP-4361 allows (letters and digits only).
pub const MIN_NONCE_CHARS: usize = 8;

/// The longest nonce accepted (the verifier stores used nonces).
pub const MAX_NONCE_CHARS: usize = 64;

/// The largest signed message accepted, in bytes (checked before parsing).
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// What a message of a revocation says: every link of the signing wallet ends.
pub const REVOKE_STATEMENT: &str =
    "OnePulse: revoke every link of this wallet to a SpacetimeDB identity";

/// The statement prefix of a link message; the identity's 64 lowercase hex digits follow.
pub const LINK_STATEMENT_PREFIX: &str = "OnePulse: link this wallet to SpacetimeDB identity ";

/// The EIP-4361 statement of a link of the signing wallet to `identity`:
/// `OnePulse: link this wallet to SpacetimeDB identity {64 lowercase hex digits}`.
pub fn link_statement(identity: &IdentityHex) -> String {
    format!("{LINK_STATEMENT_PREFIX}{identity}")
}

/// What a signed OnePulse message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Link the signing wallet to this identity.
    Link(IdentityHex),
    /// End every link of the signing wallet.
    RevokeAll,
}

impl LinkPurpose {
    /// The statement that says this.
    pub fn statement(&self) -> String {
        match self {
            Self::Link(identity) => link_statement(identity),
            Self::RevokeAll => REVOKE_STATEMENT.to_owned(),
        }
    }

    /// Reads a statement: exactly [`link_statement`] (with lowercase hex) or
    /// [`REVOKE_STATEMENT`]; `None` for anything else.
    pub fn from_statement(statement: &str) -> Option<Self> {
        if statement == REVOKE_STATEMENT {
            return Some(Self::RevokeAll);
        }
        let hex = statement.strip_prefix(LINK_STATEMENT_PREFIX)?;
        let identity = IdentityHex::parse(hex).ok()?;
        (identity.as_str() == hex).then_some(Self::Link(identity))
    }
}

/// An EIP-4361 message as OnePulse builds it. [`Display`](fmt::Display) renders the exact text
/// the wallet signs (EIP-4361's layout: no trailing newline; optional fields only when set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiweMessage {
    /// The RFC 3986 authority asking for the signature: `host` or `host:port` (the page's
    /// `location.host`).
    pub domain: String,
    /// The wallet (written in its EIP-55 checksum form).
    pub address: Address,
    /// What is asked ([`link_statement`] or [`REVOKE_STATEMENT`]).
    pub statement: String,
    /// The RFC 3986 URI of the app (the page's origin, `…/`).
    pub uri: String,
    /// The EIP-155 chain id (one of OnePulse's chains).
    pub chain_id: u64,
    /// Single-use: at least [`MIN_NONCE_CHARS`] letters and digits ([`nonce_from_bytes`]).
    pub nonce: String,
    /// When it was signed, Unix seconds.
    pub issued_at: i64,
    /// When it (and the link it makes) stops being valid, Unix seconds.
    pub expiration_time: Option<i64>,
    /// EIP-4361 `Resources`: OnePulse writes one, the database the message is for
    /// ([`database_resource`]).
    pub resources: Vec<String>,
}

impl SiweMessage {
    /// A message linking `address` to `identity` on `domain` (`uri` its page) in the database
    /// `resource` ([`database_resource`]), issued at `issued_at` and lasting `lifetime_secs`
    /// (at most [`MAX_LINK_LIFETIME_SECS`]).
    #[allow(clippy::too_many_arguments)]
    pub fn link(
        domain: &str,
        uri: &str,
        resource: &str,
        address: &Address,
        identity: &IdentityHex,
        chain: Chain,
        nonce: &str,
        issued_at: i64,
        lifetime_secs: i64,
    ) -> Self {
        Self {
            domain: domain.to_owned(),
            address: address.clone(),
            statement: link_statement(identity),
            uri: uri.to_owned(),
            chain_id: chain_id(chain),
            nonce: nonce.to_owned(),
            issued_at,
            expiration_time: Some(issued_at.saturating_add(lifetime_secs)),
            resources: vec![resource.to_owned()],
        }
    }

    /// A message revoking every link of `address` in the database `resource`, valid for
    /// [`MAX_MESSAGE_AGE_SECS`].
    pub fn revoke_all(
        domain: &str,
        uri: &str,
        resource: &str,
        address: &Address,
        chain: Chain,
        nonce: &str,
        issued_at: i64,
    ) -> Self {
        Self {
            domain: domain.to_owned(),
            address: address.clone(),
            statement: REVOKE_STATEMENT.to_owned(),
            uri: uri.to_owned(),
            chain_id: chain_id(chain),
            nonce: nonce.to_owned(),
            issued_at,
            expiration_time: Some(issued_at.saturating_add(MAX_MESSAGE_AGE_SECS)),
            resources: vec![resource.to_owned()],
        }
    }
}

fn chain_id(chain: Chain) -> u64 {
    u64::try_from(chain.id()).unwrap_or_default()
}

/// The preamble after the domain on the first line.
pub const PREAMBLE: &str = " wants you to sign in with your Ethereum account:";

impl fmt::Display for SiweMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}{PREAMBLE}", self.domain)?;
        writeln!(f, "{}", self.address.to_checksum())?;
        writeln!(f)?;
        writeln!(f, "{}", self.statement)?;
        writeln!(f)?;
        writeln!(f, "URI: {}", self.uri)?;
        writeln!(f, "Version: 1")?;
        writeln!(f, "Chain ID: {}", self.chain_id)?;
        writeln!(f, "Nonce: {}", self.nonce)?;
        write!(f, "Issued At: {}", rfc3339(self.issued_at))?;
        if let Some(expiration) = self.expiration_time {
            write!(f, "\nExpiration Time: {}", rfc3339(expiration))?;
        }
        if !self.resources.is_empty() {
            write!(f, "\nResources:")?;
            for resource in &self.resources {
                write!(f, "\n- {resource}")?;
            }
        }
        Ok(())
    }
}

/// A nonce of `bytes.len()` letters and digits from random bytes (the caller brings the
/// randomness: `crypto.getRandomValues` in the browser). Each byte picks one of 62
/// characters; give at least [`MIN_NONCE_CHARS`] bytes (16 make a nonce that never repeats in
/// practice).
pub fn nonce_from_bytes(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// Unix seconds as an RFC 3339 UTC date-time, `YYYY-MM-DDTHH:MM:SSZ` (years 0000–9999; times
/// outside are clamped to that range).
pub fn rfc3339(unix_seconds: i64) -> String {
    // 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    let seconds = unix_seconds.clamp(-62_167_219_200, 253_402_300_799);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// The proleptic Gregorian (year, month, day) of a day number counted from 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Why a domain rule is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainRuleError {
    /// Empty, or longer than a host name can be.
    #[error("a link domain must be 1 to 253 characters (host or host:port), got {0}")]
    Length(usize),
    /// A character a host name (or bracketed IPv6 address) does not have.
    #[error("link domain {rule:?} has a character {bad:?} that no host name has")]
    BadCharacter {
        /// The rule as given.
        rule: String,
        /// The first bad character.
        bad: char,
    },
    /// The port is not a number from 1 to 65535.
    #[error("link domain {0:?} has a port that is not a number from 1 to 65535")]
    BadPort(String),
}

/// A domain the module accepts in link messages: `host` (any port) or `host:port` (exactly
/// that port). The host is a DNS name or IPv4 address in lower case, or a bracketed IPv6
/// address (`[::1]`); compared without regard to case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainRule {
    host: String,
    port: Option<u16>,
}

impl DomainRule {
    /// Parses `host` or `host:port` (any case; stored lower case).
    pub fn parse(rule: &str) -> Result<Self, DomainRuleError> {
        let rule = rule.trim();
        if rule.is_empty() || rule.len() > 253 {
            return Err(DomainRuleError::Length(rule.chars().count()));
        }
        let in_authority = |c: char| c.is_ascii_alphanumeric() || "-.:[]".contains(c);
        if let Some(bad) = rule.chars().find(|&c| !in_authority(c)) {
            return Err(DomainRuleError::BadCharacter {
                rule: rule.to_owned(),
                bad,
            });
        }
        let lower = rule.to_ascii_lowercase();
        let (host, port) = split_host_port(&lower);
        let bracketed = host.starts_with('[') && host.ends_with(']') && host.len() > 2;
        let allowed = |c: char| {
            c.is_ascii_alphanumeric()
                || c == '-'
                || c == '.'
                || (bracketed && (c == ':' || c == '[' || c == ']'))
        };
        if let Some(bad) = host.chars().find(|&c| !allowed(c)) {
            return Err(DomainRuleError::BadCharacter {
                rule: rule.to_owned(),
                bad,
            });
        }
        if host.is_empty() {
            return Err(DomainRuleError::Length(0));
        }
        let port = match port {
            None => None,
            Some(digits) => Some(
                digits
                    .parse::<u16>()
                    .ok()
                    .filter(|&p| p > 0 && digits.chars().all(|c| c.is_ascii_digit()))
                    .ok_or_else(|| DomainRuleError::BadPort(rule.to_owned()))?,
            ),
        };
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// Whether a message's `domain` (an RFC 3986 authority without user info: `host` or
    /// `host:port`) is accepted by this rule.
    pub fn accepts(&self, domain: &str) -> bool {
        let lower = domain.to_ascii_lowercase();
        let (host, port) = split_host_port(&lower);
        if host != self.host {
            return false;
        }
        match self.port {
            None => true,
            Some(wanted) => port.and_then(|p| p.parse::<u16>().ok()) == Some(wanted),
        }
    }
}

impl fmt::Display for DomainRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// The hosts of this machine (`localhost`, `127.0.0.1`, `[::1]`). A new database accepts no
/// link domain and no server address; development and test setups (`cargo xtask dev`, the
/// test servers) add these explicitly through the owner's reducers.
pub const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// The scheme of a message's database resource: `spacetimedb://host[:port]/database`.
pub const DATABASE_RESOURCE_SCHEME: &str = "spacetimedb://";

/// The longest database name accepted in a resource or rule.
pub const MAX_DATABASE_NAME_CHARS: usize = 64;

/// Why a server address (rule or resource) is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerRuleError {
    /// Not `host[:port]/database` (or, for a server URL, `scheme://host[:port][/…]`).
    #[error("{0:?} is not host[:port]/database")]
    Form(String),
    /// The host part is not a host (see [`DomainRule`]).
    #[error("server host: {0}")]
    Host(#[from] DomainRuleError),
    /// The database name is not 1 to 64 letters, digits, `-` and `_`.
    #[error("database name {0:?} must be 1 to {MAX_DATABASE_NAME_CHARS} letters, digits, - and _")]
    Database(String),
}

/// The resource naming the SpacetimeDB database `database` on the server at `server_url`
/// (`ws://`, `wss://`, `http://` or `https://` + `host[:port]`, optionally a path): exactly
/// `spacetimedb://{host[:port], lower case}/{database}`. The app builds it from the URL it
/// connects to, not from anything the server says.
pub fn database_resource(server_url: &str, database: &str) -> Result<String, ServerRuleError> {
    let form = || ServerRuleError::Form(server_url.to_owned());
    let (_, rest) = server_url.split_once("://").ok_or_else(form)?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(form());
    }
    let rule = DomainRule::parse(authority)?;
    check_database_name(database)?;
    Ok(format!("{DATABASE_RESOURCE_SCHEME}{rule}/{database}"))
}

/// An address of a database, as its owner lists it (`add_link_server`): `host/database` (any
/// port) or `host:port/database`. A message is for this database when its one resource is
/// `spacetimedb://` + an authority the host rule accepts + `/` + exactly this database name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerRule {
    host: DomainRule,
    database: String,
}

impl ServerRule {
    /// Parses `host[:port]/database` (host in any case; the database name exactly).
    pub fn parse(rule: &str) -> Result<Self, ServerRuleError> {
        let (host, database) = rule
            .trim()
            .split_once('/')
            .ok_or_else(|| ServerRuleError::Form(rule.to_owned()))?;
        check_database_name(database)?;
        Ok(Self {
            host: DomainRule::parse(host)?,
            database: database.to_owned(),
        })
    }

    /// Whether `resource` (a message's resource) is `spacetimedb://{authority}/{database}`
    /// with an authority this rule's host accepts and exactly its database.
    pub fn accepts(&self, resource: &str) -> bool {
        let Some(rest) = resource.strip_prefix(DATABASE_RESOURCE_SCHEME) else {
            return false;
        };
        let Some((authority, database)) = rest.split_once('/') else {
            return false;
        };
        !authority.contains('@') && self.host.accepts(authority) && database == self.database
    }
}

impl fmt::Display for ServerRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.host, self.database)
    }
}

fn check_database_name(name: &str) -> Result<(), ServerRuleError> {
    let ok = (1..=MAX_DATABASE_NAME_CHARS).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ServerRuleError::Database(name.to_owned()))
    }
}

/// `host[:port]` → (host, port text). A bracketed IPv6 host keeps its brackets.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => {
                let (host, rest) = authority.split_at(end + 1);
                (host, rest.strip_prefix(':'))
            }
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDENTITY: &str = "c200aa5a3b1b6e6dd1c4e9b1a5c76d1a0d1ee5bfa0b5fbc7e5b7e7cc4aa2a1b0";

    fn identity() -> IdentityHex {
        IdentityHex::parse(IDENTITY).unwrap()
    }

    #[test]
    fn a_link_message_has_eip_4361_layout() {
        let address = Address::parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed").unwrap();
        let message = SiweMessage::link(
            "onepulse.example",
            "https://onepulse.example/",
            "spacetimedb://db.onepulse.example/onepulse",
            &address,
            &identity(),
            Chain::Base,
            "k7Qx2mP9aZ0bC1dE",
            1_765_000_000,
            MAX_LINK_LIFETIME_SECS,
        );
        assert_eq!(
            message.to_string(),
            format!(
                "onepulse.example wants you to sign in with your Ethereum account:\n\
                 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\n\
                 \n\
                 OnePulse: link this wallet to SpacetimeDB identity {IDENTITY}\n\
                 \n\
                 URI: https://onepulse.example/\n\
                 Version: 1\n\
                 Chain ID: 8453\n\
                 Nonce: k7Qx2mP9aZ0bC1dE\n\
                 Issued At: 2025-12-06T05:46:40Z\n\
                 Expiration Time: 2026-01-05T05:46:40Z\n\
                 Resources:\n\
                 - spacetimedb://db.onepulse.example/onepulse"
            )
        );
        let revoke = SiweMessage::revoke_all(
            "localhost:8080",
            "http://localhost:8080/",
            "spacetimedb://127.0.0.1:3000/onepulse",
            &address,
            Chain::Celo,
            "abcdefgh",
            0,
        );
        assert!(
            revoke
                .to_string()
                .contains(&format!("\n\n{REVOKE_STATEMENT}\n\n"))
        );
        assert!(
            revoke
                .to_string()
                .ends_with("Chain ID: 42220\nNonce: abcdefgh\nIssued At: 1970-01-01T00:00:00Z\nExpiration Time: 1970-01-01T00:10:00Z\nResources:\n- spacetimedb://127.0.0.1:3000/onepulse")
        );
    }

    #[test]
    fn statements_read_back_exactly() {
        let link = LinkPurpose::Link(identity());
        assert_eq!(LinkPurpose::from_statement(&link.statement()), Some(link));
        assert_eq!(
            LinkPurpose::from_statement(REVOKE_STATEMENT),
            Some(LinkPurpose::RevokeAll)
        );
        for other in [
            String::new(),
            format!("{LINK_STATEMENT_PREFIX}{}", IDENTITY.to_ascii_uppercase()),
            format!("{LINK_STATEMENT_PREFIX}0x{IDENTITY}"),
            format!("{LINK_STATEMENT_PREFIX}{IDENTITY} "),
            format!("{LINK_STATEMENT_PREFIX}{}", &IDENTITY[1..]),
            format!("{REVOKE_STATEMENT}."),
            "Sign in to example.com".to_owned(),
        ] {
            assert_eq!(LinkPurpose::from_statement(&other), None, "{other}");
        }
    }

    #[test]
    fn rfc3339_matches_known_dates() {
        for (seconds, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_709_164_799, "2024-02-28T23:59:59Z"),
            (1_709_251_199, "2024-02-29T23:59:59Z"),
            (4_102_444_800, "2100-01-01T00:00:00Z"),
            (-1, "1969-12-31T23:59:59Z"),
            (i64::MIN, "0000-01-01T00:00:00Z"),
            (i64::MAX, "9999-12-31T23:59:59Z"),
        ] {
            assert_eq!(rfc3339(seconds), text, "{seconds}");
        }
    }

    #[test]
    fn nonces_are_alphanumeric() {
        let nonce = nonce_from_bytes(&(0..=255u8).collect::<Vec<_>>());
        assert_eq!(nonce.len(), 256);
        assert!(nonce.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(nonce_from_bytes(&[0, 25, 26, 61, 62]), "AZa9A");
    }

    #[test]
    fn domain_rules_match_host_and_port() {
        let any_port = DomainRule::parse("LocalHost").unwrap();
        assert_eq!(any_port.to_string(), "localhost");
        for domain in ["localhost", "localhost:8080", "LOCALHOST:1"] {
            assert!(any_port.accepts(domain), "{domain}");
        }
        for domain in [
            "localhost.",
            "evil.localhost",
            "localhost.evil",
            "127.0.0.1",
        ] {
            assert!(!any_port.accepts(domain), "{domain}");
        }
        let exact = DomainRule::parse("onepulse.example:8443").unwrap();
        assert!(exact.accepts("onepulse.example:8443"));
        assert!(!exact.accepts("onepulse.example"));
        assert!(!exact.accepts("onepulse.example:443"));
        let v6 = DomainRule::parse("[::1]").unwrap();
        assert!(v6.accepts("[::1]:3000"));
        assert!(v6.accepts("[::1]"));
        assert!(!v6.accepts("[::2]"));
        for host in LOOPBACK_HOSTS {
            assert_eq!(DomainRule::parse(host).unwrap().to_string(), host);
        }
    }

    #[test]
    fn the_database_resource_is_built_from_the_url_the_app_connects_to() {
        for (url, resource) in [
            (
                "ws://127.0.0.1:3000",
                "spacetimedb://127.0.0.1:3000/onepulse",
            ),
            (
                "wss://DB.OnePulse.example",
                "spacetimedb://db.onepulse.example/onepulse",
            ),
            (
                "https://db.onepulse.example/",
                "spacetimedb://db.onepulse.example/onepulse",
            ),
            (
                "http://[::1]:3000/base/path",
                "spacetimedb://[::1]:3000/onepulse",
            ),
        ] {
            assert_eq!(
                database_resource(url, "onepulse").unwrap(),
                resource,
                "{url}"
            );
        }
        for url in [
            "127.0.0.1:3000",
            "ws://user@evil.example",
            "ws://",
            "ws://a b",
        ] {
            assert!(database_resource(url, "onepulse").is_err(), "{url}");
        }
        for name in ["", "a/b", "a b", "été", &"a".repeat(65)] {
            assert_eq!(
                database_resource("ws://localhost", name),
                Err(ServerRuleError::Database(name.to_owned())),
                "{name:?}"
            );
        }
    }

    #[test]
    fn server_rules_accept_exactly_their_database_on_their_host() {
        let any_port = ServerRule::parse("LocalHost/onepulse").unwrap();
        assert_eq!(any_port.to_string(), "localhost/onepulse");
        for resource in [
            "spacetimedb://localhost/onepulse",
            "spacetimedb://localhost:3000/onepulse",
            "spacetimedb://LOCALHOST:1/onepulse",
        ] {
            assert!(any_port.accepts(resource), "{resource}");
        }
        for resource in [
            "spacetimedb://localhost:3000/onepulse2",
            "spacetimedb://localhost:3000/OnePulse",
            "spacetimedb://localhost:3000/onepulse/",
            "spacetimedb://localhost:3000/other",
            "spacetimedb://evil.example/onepulse",
            "spacetimedb://localhost.evil/onepulse",
            "spacetimedb://localhost@evil.example/onepulse",
            "spacetimedb://evil.example@localhost/onepulse",
            "ws://localhost:3000/onepulse",
            "https://localhost/onepulse",
            "spacetimedb://localhost",
            "",
        ] {
            assert!(!any_port.accepts(resource), "{resource}");
        }
        let exact = ServerRule::parse("db.onepulse.example:443/onepulse").unwrap();
        assert!(exact.accepts("spacetimedb://db.onepulse.example:443/onepulse"));
        assert!(!exact.accepts("spacetimedb://db.onepulse.example/onepulse"));
        for bad in [
            "localhost",
            "/onepulse",
            "localhost/",
            "local host/x",
            "h:0/x",
            "h/a/b",
        ] {
            assert!(ServerRule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_domain_rules_are_refused_with_their_reason() {
        assert_eq!(DomainRule::parse(""), Err(DomainRuleError::Length(0)));
        assert_eq!(
            DomainRule::parse(&"a".repeat(254)),
            Err(DomainRuleError::Length(254))
        );
        assert!(matches!(
            DomainRule::parse("user@host"),
            Err(DomainRuleError::BadCharacter { bad: '@', .. })
        ));
        assert!(matches!(
            DomainRule::parse("https://host"),
            Err(DomainRuleError::BadCharacter { bad: '/', .. })
        ));
        assert!(matches!(
            DomainRule::parse("host/path"),
            Err(DomainRuleError::BadCharacter { bad: '/', .. })
        ));
        for bad in ["host:0", "host:65536", "host:", "host:080000", "host:8a"] {
            assert_eq!(
                DomainRule::parse(bad),
                Err(DomainRuleError::BadPort(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(DomainRule::parse(":80"), Err(DomainRuleError::Length(0)));
        assert!(matches!(
            DomainRule::parse("a:b:80"),
            Err(DomainRuleError::BadCharacter { bad: ':', .. })
        ));
    }
}
