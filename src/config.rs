//! Where the app finds SpacetimeDB and the fallback service.
//!
//! The page URL may override both (`?spacetimedb=`, `?api=`, for tests). A link must not send
//! the page's users (and their wallet signatures) to someone else's server, so an override is
//! read with the WHATWG URL parser, the one the browser's `WebSocket` and `fetch` use
//! (`web_sys::Url` in the browser; the `url` crate, which implements the same standard, in
//! native builds and tests), never by looking at the text:
//!
//! - user info (`user:password@`) is refused everywhere: everything before the `@` is not the
//!   host, whatever it looks like;
//! - a query or fragment is refused (the runtime appends paths to these bases);
//! - release builds take only hosts a browser resolves to this machine without asking DNS, as
//!   the parser gives them (percent-decoded, lowercase, numeric IPv4 forms such as `127.1`,
//!   `0x7f.1` or `2130706433` resolved, IPv6 compressed): `localhost` exactly, `127.0.0.0/8`
//!   and `[::1]`. `localhost.` (trailing dot), `*.localhost` and IPv4-mapped IPv6 are refused:
//!   whether they reach loopback depends on the browser's resolver;
//! - the value kept is rebuilt from the parsed parts (`scheme://host[:port][/path]`), so what
//!   was checked is exactly what is connected to.
//!
//! The decision itself ([`UrlParts::is_loopback`], [`is_loopback_host`]) is a pure function
//! over the parsed parts, unit-tested natively; `tests/browser-tests/tests/hostile_links.rs`
//! runs the same cases ([`LOOPBACK_CASES`]) through the browser's parser.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The app's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfig {
    /// SpacetimeDB (`SPACETIMEDB_HOST` at build time, `?spacetimedb=` at run time).
    pub spacetimedb: String,
    /// The database (`SPACETIMEDB_MODULE`, `?module=`).
    pub module: String,
    /// Base URL of the fallback service (`ONEPULSE_API` at build time, `?api=`); empty means
    /// this page's origin.
    pub api: String,
    /// The address in the page's URL (`?address=`), not yet validated.
    pub address: Option<String>,
}

impl AppConfig {
    /// The build-time configuration (with local development defaults), overridden by the page
    /// URL's query string (for testing; in release builds only towards this machine). Unusable
    /// overrides are ignored with a warning.
    pub fn from_build_and_query(query: &str) -> Self {
        Self::from_build().with_overrides(query, !cfg!(debug_assertions))
    }

    /// The build-time configuration, with local development defaults.
    pub fn from_build() -> Self {
        Self {
            spacetimedb: option_env!("SPACETIMEDB_HOST")
                .unwrap_or("ws://127.0.0.1:3000")
                .to_owned(),
            module: option_env!("SPACETIMEDB_MODULE")
                .unwrap_or("onepulse")
                .to_owned(),
            api: option_env!("ONEPULSE_API").unwrap_or("").to_owned(),
            address: None,
        }
    }

    /// This configuration overridden by a page URL's query string; with `only_loopback` (release
    /// builds) server overrides must name this machine. Unusable overrides are ignored with a
    /// warning naming the problem.
    pub fn with_overrides(mut self, query: &str, only_loopback: bool) -> Self {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query.trim_start_matches('?')).unwrap_or_default();
        for (key, value) in pairs {
            let outcome = match key.as_str() {
                "spacetimedb" => {
                    override_url(&value, &["ws", "wss", "http", "https"], only_loopback)
                        .map(|url| self.spacetimedb = url)
                }
                "api" => override_url(&value, &["http", "https"], only_loopback)
                    .map(|url| self.api = url),
                "module" if is_name(&value) => {
                    self.module = value.clone();
                    Ok(())
                }
                "module" => Err("not a database name (letters, digits, - and _)".to_owned()),
                "address" => {
                    self.address = Some(value.clone());
                    Ok(())
                }
                _ => Ok(()),
            };
            if let Err(reason) = outcome {
                log::warn!("ignoring ?{key}={value:?}: {reason}");
            }
        }
        self
    }
}

/// A URL's parts as a WHATWG URL parser gives them: what decides where a connection goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts {
    /// The scheme, lowercase, without the `:`.
    pub scheme: String,
    /// Whether there is a user name or a password (`user:password@`).
    pub has_credentials: bool,
    /// The host as the parser serializes it: a domain (percent-decoded, lowercase,
    /// IDNA-mapped), an IPv4 address in dotted decimal (every numeric form resolved), or an
    /// IPv6 address in brackets.
    pub host: String,
    /// The port, when not the scheme's default.
    pub port: Option<u16>,
    /// The path, as serialized (percent-encoded).
    pub path: String,
    /// Whether there is a query (`?…`) or a fragment (`#…`), even an empty one.
    pub has_query_or_fragment: bool,
}

impl UrlParts {
    /// Whether a connection to this URL reaches this machine, and nothing else could be meant:
    /// no user info, and a loopback host ([`is_loopback_host`]).
    pub fn is_loopback(&self) -> bool {
        !self.has_credentials && is_loopback_host(&self.host)
    }

    /// `scheme://host[:port][/path]`, without a trailing `/`.
    fn base(&self) -> String {
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let path = self.path.trim_end_matches('/');
        format!("{}://{}{port}{path}", self.scheme, self.host)
    }
}

/// Whether a host, as a WHATWG URL parser serializes it, is this machine: `localhost` exactly,
/// an IPv4 address in `127.0.0.0/8`, or `[::1]`.
pub fn is_loopback_host(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6
            .parse::<Ipv6Addr>()
            .is_ok_and(|ip| ip == Ipv6Addr::LOCALHOST);
    }
    host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `url` parses and a connection to it reaches this machine ([`UrlParts::is_loopback`]).
pub fn is_loopback(url: &str) -> bool {
    parse_url(url).is_ok_and(|parts| parts.is_loopback())
}

/// Parses `text` with the browser's URL parser.
#[cfg(target_arch = "wasm32")]
pub fn parse_url(text: &str) -> Result<UrlParts, String> {
    let url = web_sys::Url::new(text).map_err(|_| "not a URL".to_owned())?;
    let port = url.port();
    let port = if port.is_empty() {
        None
    } else {
        Some(
            port.parse::<u16>()
                .map_err(|_| format!("unexpected port {port:?}"))?,
        )
    };
    Ok(UrlParts {
        scheme: url.protocol().trim_end_matches(':').to_owned(),
        has_credentials: !url.username().is_empty() || !url.password().is_empty(),
        host: url.hostname(),
        port,
        path: url.pathname(),
        // `search()`/`hash()` are empty for a bare `?`/`#`; the serialization is not (a path
        // or host never holds these characters unescaped).
        has_query_or_fragment: url.href().contains(['?', '#']),
    })
}

/// Parses `text` with the `url` crate (WHATWG URL parsing, as the browser does).
#[cfg(not(target_arch = "wasm32"))]
pub fn parse_url(text: &str) -> Result<UrlParts, String> {
    let url = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    Ok(UrlParts {
        scheme: url.scheme().to_owned(),
        has_credentials: !url.username().is_empty() || url.password().is_some(),
        host: url.host_str().unwrap_or_default().to_owned(),
        port: url.port(),
        path: url.path().to_owned(),
        has_query_or_fragment: url.query().is_some() || url.fragment().is_some(),
    })
}

/// An override of a server URL: parsed, checked, and rebuilt from its parts.
fn override_url(text: &str, schemes: &[&str], only_loopback: bool) -> Result<String, String> {
    let parts = parse_url(text)?;
    if !schemes.contains(&parts.scheme.as_str()) {
        return Err(format!(
            "the scheme must be {}, not {}",
            schemes.join(", "),
            parts.scheme
        ));
    }
    if parts.host.is_empty() {
        return Err("has no host".into());
    }
    if parts.has_credentials {
        return Err("has user info (user:password@ before the host)".into());
    }
    if parts.has_query_or_fragment {
        return Err("has a query or a fragment".into());
    }
    if only_loopback && !parts.is_loopback() {
        return Err(format!(
            "release builds connect only to this machine (localhost, 127.x.y.z, [::1]), not {}",
            parts.host
        ));
    }
    Ok(parts.base())
}

fn is_name(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Plain-text URLs and whether a connection to each reaches this machine (and nothing else is
/// meant): the hostile links and their near misses. Unit tests run them through the `url`
/// crate; the browser tests run them through the browser's own parser, and through the
/// runtime's `is_insecure_remote` (every case is `ws://` or `http://`, so "insecure remote" is
/// exactly "not loopback").
#[doc(hidden)]
pub const LOOPBACK_CASES: &[(&str, bool)] = &[
    ("ws://127.0.0.1:3000", true),
    ("http://localhost/api", true),
    ("ws://[::1]:9", true),
    ("ws://127.8.0.1", true),
    // Upper case, numeric IPv4 forms, a trailing dot on an IPv4 address, IPv6 spelled out.
    ("ws://LOCALHOST:3000", true),
    ("WS://LocalHost:3000", true),
    ("ws://127.1:3000", true),
    ("ws://0x7f.1", true),
    ("ws://0x7F000001:3000", true),
    ("ws://2130706433:3000", true),
    ("ws://0177.0.0.1", true),
    ("ws://127.0.0.1.:3000", true),
    ("ws://[0:0:0:0:0:0:0:1]:3000", true),
    // Percent-encoding and full-width letters are decoded and mapped before the comparison.
    ("ws://%6C%6F%63%61%6C%68%6F%73%74:3000", true),
    ("ws://%31%32%37.0.0.1", true),
    (
        "ws://\u{ff4c}\u{ff4f}\u{ff43}\u{ff41}\u{ff4c}\u{ff48}\u{ff4f}\u{ff53}\u{ff54}:3000",
        true,
    ),
    // A backslash ends the host in ws/http URLs: what follows is the path.
    ("ws://127.0.0.1\\@evil.example", true),
    ("ws://localhost\\.evil.example", true),
    // Tabs and newlines are removed, surrounding spaces trimmed.
    ("ws://local\thost:3000", true),
    (" ws://localhost:3000\n", true),
    // An empty user info is no user info.
    ("ws://@localhost:3000", true),
    // User info: the host is what follows the `@`.
    ("ws://localhost:1@evil.example", false),
    ("ws://[::1]:3000@evil.example", false),
    ("ws://localhost:@evil.example", false),
    ("ws://127.0.0.1:3000@evil.example", false),
    ("ws://localhost@evil.example", false),
    ("http://127.0.0.1%3A3000@evil.example", false),
    ("ws://evil.example\\@localhost", false),
    // User info is refused even in front of loopback.
    ("ws://user:secret@localhost:3000", false),
    ("ws://evil.example%2F@127.0.0.1", false),
    // Names and addresses that only look like loopback.
    ("ws://127.0.0.1.evil.example", false),
    ("ws://localhost.evil.example:3000", false),
    ("ws://localhost%2Eevil.example", false),
    ("ws://localhost.", false),
    ("ws://app.localhost", false),
    ("ws://[::ffff:127.0.0.1]", false),
    ("ws://[::2]", false),
    ("ws://0.0.0.0:3000", false),
    ("ws://128.0.0.1", false),
    ("ws://0x80.1", false),
    ("ws://db.example:3000", false),
    ("http://192.168.1.5:3000", false),
    ("ws://[2001:db8::1]:3000", false),
    // Not URLs at all.
    ("ws://127.0.0.1%40evil.example", false),
    ("ws://localhost%00", false),
    ("ws://127.0.0.1:99999", false),
    ("ws://", false),
    ("localhost:3000", false),
    ("", false),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_decided_on_the_parsed_host() {
        for (url, loopback) in LOOPBACK_CASES {
            assert_eq!(is_loopback(url), *loopback, "{url:?}");
        }
    }

    #[test]
    fn the_decision_reads_only_the_parsed_parts() {
        let parts = |host: &str, has_credentials| UrlParts {
            scheme: "ws".into(),
            has_credentials,
            host: host.into(),
            port: None,
            path: "/".into(),
            has_query_or_fragment: false,
        };
        for host in ["localhost", "127.0.0.1", "127.255.255.254", "[::1]"] {
            assert!(parts(host, false).is_loopback(), "{host}");
            assert!(!parts(host, true).is_loopback(), "{host} with user info");
        }
        for host in [
            "localhost.",
            "Localhost",
            "127.1",
            "0x7f.0.0.1",
            "::1",
            "[::ffff:7f00:1]",
            "[::1]x",
            "evil.example",
            "",
        ] {
            assert!(!parts(host, false).is_loopback(), "{host}");
        }
    }

    fn release(query: &str) -> AppConfig {
        AppConfig::from_build().with_overrides(query, true)
    }

    fn debug(query: &str) -> AppConfig {
        AppConfig::from_build().with_overrides(query, false)
    }

    fn query(key: &str, url: &str) -> String {
        serde_urlencoded::to_string([(key, url)]).unwrap()
    }

    #[test]
    fn release_builds_take_only_loopback_overrides_and_keep_what_they_checked() {
        let defaults = AppConfig::from_build();
        for (url, loopback) in LOOPBACK_CASES {
            let config = release(&query("spacetimedb", url));
            if *loopback {
                assert!(
                    is_loopback(&config.spacetimedb),
                    "{url:?} → {}",
                    config.spacetimedb
                );
                assert_eq!(
                    parse_url(&config.spacetimedb).map(|p| p.base()),
                    Ok(config.spacetimedb.clone()),
                    "{url:?}: the kept URL parses back to itself"
                );
            } else {
                assert_eq!(config.spacetimedb, defaults.spacetimedb, "{url:?}");
            }
            let api = release(&query("api", url)).api;
            assert!(api == defaults.api || is_loopback(&api), "{url:?} → {api}");
        }
        let c = release("?spacetimedb=WS://0x7f.1:3000/&api=http://LOCALHOST:1/base/");
        assert_eq!(c.spacetimedb, "ws://127.0.0.1:3000");
        assert_eq!(c.api, "http://localhost:1/base");
        let hostile =
            release("?spacetimedb=wss://localhost:1@evil.example&api=https://evil.example");
        assert_eq!(hostile.spacetimedb, defaults.spacetimedb);
        assert_eq!(hostile.api, defaults.api);
    }

    #[test]
    fn debug_builds_take_remote_overrides_but_never_user_info() {
        let defaults = AppConfig::from_build();
        let c = debug("?spacetimedb=wss://DB.example/&api=https://api.example:8443/");
        assert_eq!(c.spacetimedb, "wss://db.example");
        assert_eq!(c.api, "https://api.example:8443");
        for url in [
            "wss://localhost:1@evil.example",
            "ws://[::1]:3000@evil.example",
            "ws://localhost:@evil.example",
            "wss://evil.example/?x",
            "wss://evil.example#x",
            "wss://evil.example?",
            "ftp://evil.example",
            "javascript:alert(1)",
            "data:text/plain,ws://localhost",
        ] {
            assert_eq!(
                debug(&query("spacetimedb", url)).spacetimedb,
                defaults.spacetimedb,
                "{url:?}"
            );
        }
        assert_eq!(debug(&query("api", "ws://localhost:1")).api, defaults.api);
    }

    #[test]
    fn url_parameters_override_when_usable() {
        let c = AppConfig::from_build_and_query(
            "?spacetimedb=ws://127.0.0.1:9&module=test-db&api=http://localhost:1/&address=0xAB",
        );
        assert_eq!(c.spacetimedb, "ws://127.0.0.1:9");
        assert_eq!(c.module, "test-db");
        assert_eq!(c.api, "http://localhost:1");
        assert_eq!(c.address.as_deref(), Some("0xAB"));
        let d = AppConfig::from_build_and_query(
            "?spacetimedb=javascript:alert(1)&module=a/b&api=ftp://x",
        );
        assert_eq!(
            d.spacetimedb,
            AppConfig::from_build_and_query("").spacetimedb
        );
        assert_eq!(d.module, "onepulse");
        assert_eq!(d.api, "");
        assert_eq!(AppConfig::from_build_and_query("%%%").address, None);
    }
}
