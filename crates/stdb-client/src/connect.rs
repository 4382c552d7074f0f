//! Where and how to connect.

/// The WebSocket subprotocol of the v1 binary protocol.
pub const SUBPROTOCOL: &str = "v1.bsatn.spacetimedb";

/// How the server may compress its frames. The default is `Gzip` with the `gzip` feature (a
/// default one) and `None` without it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compression {
    /// Never compressed.
    #[cfg_attr(not(feature = "gzip"), default)]
    None,
    /// Frames over 1 KiB gzip-compressed. Without the `gzip` feature such frames are refused
    /// ([`FrameError::GzipUnsupported`](crate::FrameError::GzipUnsupported)).
    #[cfg_attr(feature = "gzip", default)]
    Gzip,
}

/// What a socket connects with. It decides whether the identity the server announces comes with
/// a token worth keeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// No token: the server mints a new identity, and its long-lived token is handed out in
    /// [`Event::Connected`](crate::Event::Connected) for the application to keep.
    Anonymous,
    /// The token of a known identity. The server echoes the token the socket used (possibly a
    /// 60-second one), which is never offered for keeping.
    Token,
}

/// A database to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The server: `http://host:port`, `https://…`, `ws://…` or `wss://…`.
    pub uri: String,
    /// The database name or identity.
    pub database: String,
    /// A long-lived token to connect as a known identity; `None` connects anonymously and
    /// yields a new identity and token.
    pub token: Option<String>,
    /// Frame compression.
    pub compression: Compression,
    /// Light mode: other connections' reducer calls arrive without their details.
    pub light: bool,
    /// The most bytes one server frame may take once inflated: the frame itself and every
    /// query update compressed inside it, together. Larger frames are refused (an
    /// [`Event::FrameError`](crate::Event::FrameError); the connection goes on), and decoding
    /// one takes at most a small multiple of it in memory (see [`crate::DEFAULT_MAX_FRAME_BYTES`]).
    /// Default [`crate::DEFAULT_MAX_FRAME_BYTES`] (32 MiB), sized for a browser tab; a service
    /// subscribing to whole large tables may need more.
    pub max_frame_bytes: usize,
    /// How long a reducer call or one-off query waits for its answer before it ends as
    /// [`ReducerOutcome::TimedOut`](crate::ReducerOutcome::TimedOut) (SpacetimeDB does not
    /// answer a call that ran out of energy at all). Default
    /// [`crate::DEFAULT_REQUEST_TIMEOUT`] (30 s).
    pub request_timeout: std::time::Duration,
    /// The most memory the client cache may take, all tables together, as charged per row
    /// (see [`crate::ROW_OVERHEAD`]), and so the most one frame's new rows may take. An update
    /// beyond it is refused as a whole (an [`Event::FrameError`](crate::Event::FrameError),
    /// and a failed subscription for its initial rows, which is then unsubscribed). Default [`crate::DEFAULT_MAX_CACHE_BYTES`] (256 MiB), sized for a browser
    /// tab.
    pub max_cache_bytes: usize,
    /// When a silent socket is probed and how long the answer may take (default: a dead link is
    /// noticed within 14 s); see [`crate::Heartbeat`].
    pub heartbeat: crate::Heartbeat,
}

impl ConnectOptions {
    /// Options for an anonymous, full-update connection, with the default [`Compression`]
    /// (gzip when the `gzip` feature is on, none otherwise).
    pub fn new(uri: &str, database: &str) -> Self {
        Self {
            uri: uri.trim_end_matches('/').to_owned(),
            database: database.to_owned(),
            token: None,
            compression: Compression::default(),
            light: false,
            max_frame_bytes: crate::DEFAULT_MAX_FRAME_BYTES,
            request_timeout: crate::DEFAULT_REQUEST_TIMEOUT,
            max_cache_bytes: crate::DEFAULT_MAX_CACHE_BYTES,
            heartbeat: crate::Heartbeat::default(),
        }
    }

    /// `http(s)://host:port` for HTTP calls.
    pub fn http_base(&self) -> String {
        swap_scheme(&self.uri, &[("ws://", "http://"), ("wss://", "https://")])
    }

    /// `POST` here with `Authorization: Bearer <long-lived token>` for a 60-second token that
    /// can go in the WebSocket URL (browsers cannot set headers on a WebSocket).
    pub fn websocket_token_url(&self) -> String {
        format!("{}/v1/identity/websocket-token", self.http_base())
    }

    /// The WebSocket URL, with `token` (a short-lived one from [`Self::websocket_token_url`], or
    /// the long-lived one where headers cannot be set) when connecting as a known identity.
    pub fn subscribe_url(&self, token: Option<&str>) -> String {
        let base = swap_scheme(&self.uri, &[("http://", "ws://"), ("https://", "wss://")]);
        let compression = match self.compression {
            Compression::None => "None",
            Compression::Gzip if cfg!(feature = "gzip") => "Gzip",
            Compression::Gzip => {
                // Frames this build could not read would be lost: ask for none instead.
                log::warn!(
                    "Compression::Gzip asked for in a build without the `gzip` feature: \
                     connecting without compression"
                );
                "None"
            }
        };
        let mut url = format!(
            "{base}/v1/database/{}/subscribe?compression={compression}",
            percent_encode(&self.database)
        );
        if self.light {
            url.push_str("&light=true");
        }
        if let Some(token) = token {
            url.push_str("&token=");
            url.push_str(&percent_encode(token));
        }
        url
    }
}

impl ConnectOptions {
    /// Whether this would send data unencrypted to another machine, or cannot be told apart
    /// from that. Release builds refuse it unless explicitly allowed (SEC-001).
    ///
    /// The URI is read with the WHATWG URL parser that the browser's `WebSocket` and `fetch`
    /// use (`web_sys::Url` in the browser, the `url` crate natively), never as text: a
    /// `ws://`/`http://` URI (any case) is insecure unless its parsed host is this machine
    /// (`localhost`, `127.0.0.0/8` or `[::1]`, compared exactly) and it has no user info (`ws://localhost:1@evil.example` goes to
    /// evil.example); `wss://`/`https://` never is; anything else (unparseable, another
    /// scheme, or wasm32 without the `browser` feature, where there is no parser) is.
    pub fn is_insecure_remote(&self) -> bool {
        parse_url(&self.uri).is_none_or(|parts| parts.is_insecure_remote())
    }
}

/// What decides where a URL connects, as a WHATWG URL parser gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UrlParts {
    /// The scheme, lowercase, without the `:`.
    scheme: String,
    /// Whether there is a user name or password (`user:password@`).
    has_credentials: bool,
    /// The host as serialized: a domain (percent-decoded, lowercase, IDNA-mapped), an IPv4
    /// address in dotted decimal (numeric forms such as `127.1` or `0x7f.1` resolved), or an
    /// IPv6 address in brackets.
    host: String,
}

impl UrlParts {
    /// [`ConnectOptions::is_insecure_remote`] over the parsed parts.
    fn is_insecure_remote(&self) -> bool {
        match self.scheme.as_str() {
            "wss" | "https" => false,
            "ws" | "http" => self.has_credentials || !is_loopback_host(&self.host),
            _ => true,
        }
    }
}

/// Whether a host, as a WHATWG URL parser serializes it, is this machine: `localhost` exactly
/// (not `localhost.` or `*.localhost`, which depend on the resolver), an IPv4 address in
/// `127.0.0.0/8`, or `[::1]` (not IPv4-mapped forms).
pub(crate) fn is_loopback_host(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|ip| ip == std::net::Ipv6Addr::LOCALHOST);
    }
    host.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Parses `text` with the `url` crate (WHATWG URL parsing, as browsers do).
#[cfg(not(target_arch = "wasm32"))]
fn parse_url(text: &str) -> Option<UrlParts> {
    let url = url::Url::parse(text).ok()?;
    Some(UrlParts {
        scheme: url.scheme().to_owned(),
        has_credentials: !url.username().is_empty() || url.password().is_some(),
        host: url.host_str().unwrap_or_default().to_owned(),
    })
}

/// Parses `text` with the browser's own URL parser.
#[cfg(all(target_arch = "wasm32", feature = "browser"))]
fn parse_url(text: &str) -> Option<UrlParts> {
    let url = web_sys::Url::new(text).ok()?;
    Some(UrlParts {
        scheme: url.protocol().trim_end_matches(':').to_owned(),
        has_credentials: !url.username().is_empty() || !url.password().is_empty(),
        host: url.hostname(),
    })
}

/// No URL parser on wasm32 without the `browser` feature: nothing can be judged safe.
#[cfg(all(target_arch = "wasm32", not(feature = "browser")))]
fn parse_url(_text: &str) -> Option<UrlParts> {
    None
}

/// Why `POST /v1/identity/websocket-token` gave no token.
#[cfg(any(feature = "native", all(feature = "browser", target_arch = "wasm32")))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenRefusal {
    /// SpacetimeDB itself said the stored token is not valid on this server (see
    /// [`says_token_is_invalid`]): forget it.
    Rejected(String),
    /// Anything else (unreachable, a proxy's or firewall's refusal, a server error, an
    /// unexpected answer): keep the token and try again later.
    Unusable(String),
}

/// The token-caused kinds of the JWT library's errors (`jsonwebtoken::errors::ErrorKind`) that
/// SpacetimeDB 1.2 reports as `TokenError(Error(<kind>))`. Left out on purpose: the kinds about
/// the server's own key (`InvalidEcdsaKey`, `InvalidRsaKey`, `RsaFailedSigning`,
/// `InvalidKeyFormat`, `Crypto`) — the server's problem, not the token's.
const INVALID_TOKEN_KINDS: &[&str] = &[
    "InvalidToken",
    "InvalidSignature",
    "InvalidAlgorithmName",
    "MissingRequiredClaim",
    "ExpiredSignature",
    "InvalidIssuer",
    "InvalidAudience",
    "InvalidSubject",
    "ImmatureSignature",
    "InvalidAlgorithm",
    "MissingAlgorithm",
    "Base64",
    "Json",
    "Utf8",
];

/// Whether an answer of `POST /v1/identity/websocket-token` is SpacetimeDB saying the token
/// itself is not valid there — the only answer that justifies forgetting a stored token (and
/// the identity and wallet link that come with it).
///
/// SpacetimeDB 1.2.0 (`spacetimedb-client-api` `AuthorizationRejection::into_response`, with the
/// validator of `spacetimedb-core` `auth::token_validation`) answers, as `text/plain`:
///
/// - `401` `TokenError(Error(<kind>))` when the JWT fails validation with this server's key:
///   `InvalidSignature` for a token signed by another server (or before the key was rotated),
///   `InvalidToken` for something that is not a JWT, `Base64(…)` / `Json(…)` / `Utf8(…)` for a
///   damaged one, `ExpiredSignature` for an expired one (the kinds in `INVALID_TOKEN_KINDS`);
/// - `400` `Authorization is invalid: malformed token` when the `Authorization` header itself
///   cannot be read as a bearer token.
///
/// Everything else keeps the token: `401 Authorization required` (the header never reached the
/// server, e.g. a proxy dropped it), `401` validator errors that are not the token's (fetching an
/// OpenID issuer's keys, `Other(…)`), a proxy's or firewall's `403` or HTML page, `5xx`, network
/// errors.
#[cfg_attr(
    not(any(feature = "native", all(feature = "browser", target_arch = "wasm32"))),
    allow(dead_code)
)]
pub(crate) fn says_token_is_invalid(status: u16, body: &str) -> bool {
    let body = body.trim();
    match status {
        400 => body == "Authorization is invalid: malformed token",
        401 => body
            .strip_prefix("TokenError(Error(")
            .and_then(|rest| rest.strip_suffix("))"))
            .is_some_and(|detail| {
                let kind = detail.split('(').next().unwrap_or_default();
                INVALID_TOKEN_KINDS.contains(&kind)
            }),
        _ => false,
    }
}

/// Reads the answer of the websocket-token exchange: the 60-second token, or why there is none.
#[cfg(any(feature = "native", all(feature = "browser", target_arch = "wasm32")))]
pub(crate) fn read_websocket_token(status: u16, body: &str) -> Result<String, TokenRefusal> {
    match status {
        200 => token_in(body).ok_or_else(|| {
            TokenRefusal::Unusable(format!("unexpected websocket-token answer {body:?}"))
        }),
        _ if says_token_is_invalid(status, body) => Err(TokenRefusal::Rejected(format!(
            "HTTP {status}: {}",
            body.trim()
        ))),
        other => Err(TokenRefusal::Unusable(format!(
            "websocket-token: HTTP {other}: {}",
            abbreviate(body)
        ))),
    }
}

/// The string `token` of a JSON object.
#[cfg(all(
    feature = "native",
    not(all(feature = "browser", target_arch = "wasm32"))
))]
fn token_in(body: &str) -> Option<String> {
    let answer = serde_json::from_str::<serde_json::Value>(body).ok()?;
    answer.get("token")?.as_str().map(str::to_owned)
}

/// The string `token` of a JSON object, parsed by the browser (`JSON.parse`), which keeps a JSON
/// parser out of the wasm.
#[cfg(all(feature = "browser", target_arch = "wasm32"))]
fn token_in(body: &str) -> Option<String> {
    use wasm_bindgen::JsCast;
    let answer = js_sys::JSON::parse(body)
        .ok()?
        .dyn_into::<js_sys::Object>()
        .ok()?;
    // Its own property only, never one inherited from `Object.prototype`.
    let key = wasm_bindgen::JsValue::from_str("token");
    if !js_sys::Object::has_own(&answer, &key) {
        return None;
    }
    js_sys::Reflect::get(&answer, &key).ok()?.as_string()
}

/// At most the first 200 characters of an answer (a proxy's HTML page can be long).
#[cfg(any(feature = "native", all(feature = "browser", target_arch = "wasm32")))]
fn abbreviate(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &body[..end]),
        None => body.to_owned(),
    }
}

fn swap_scheme(uri: &str, pairs: &[(&str, &str)]) -> String {
    for (from, to) in pairs {
        if let Some(rest) = uri.strip_prefix(from) {
            return format!("{to}{rest}");
        }
    }
    uri.to_owned()
}

/// Percent-encodes everything but unreserved URL characters.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_text_to_other_machines_is_insecure() {
        for (uri, insecure) in [
            ("ws://127.0.0.1:3000", false),
            ("http://localhost:3000/", false),
            ("ws://[::1]:3000", false),
            ("ws://127.8.0.1", false),
            ("wss://db.example", false),
            ("https://db.example:443", false),
            ("ws://db.example:3000", true),
            ("http://192.168.1.5:3000", true),
            ("ws://localhost.evil.example", true),
            ("ws://[2001:db8::1]:3000", true),
            // User info: everything before the `@` is not the host.
            ("wss://localhost:1@evil.example", false),
            ("ws://localhost:1@evil.example", true),
            ("ws://[::1]:3000@evil.example", true),
            ("ws://localhost:@evil.example", true),
            ("ws://localhost@evil.example", true),
            ("http://127.0.0.1%3A3000@evil.example", true),
            ("ws://user:secret@127.0.0.1:3000", true),
            // Upper case, percent-encoding, backslashes, numeric forms, trailing dots.
            ("WS://db.example:3000", true),
            ("HTTP://db.example", true),
            ("WSS://db.example", false),
            ("ws://LOCALHOST:3000", false),
            ("ws://%6C%6F%63%61%6C%68%6F%73%74:3000", false),
            ("ws://localhost%2Eevil.example", true),
            ("ws://127.0.0.1\\@evil.example", false),
            ("ws://evil.example\\@127.0.0.1", true),
            ("ws://127.1:3000", false),
            ("ws://0x7f.1", false),
            ("ws://2130706433", false),
            ("ws://127.0.0.1.:3000", false),
            ("ws://localhost.", true),
            ("ws://[0:0:0:0:0:0:0:1]", false),
            ("ws://[::ffff:127.0.0.1]", true),
            ("ws://0.0.0.0", true),
            // Not a URL, or not a scheme the runtime speaks: cannot be judged safe.
            ("ws://127.0.0.1%40evil.example", true),
            ("localhost:3000", true),
            ("ftp://localhost", true),
            ("", true),
        ] {
            assert_eq!(
                ConnectOptions::new(uri, "x").is_insecure_remote(),
                insecure,
                "{uri}"
            );
        }
    }

    #[test]
    fn the_decision_reads_only_the_parsed_parts() {
        let parts = |scheme: &str, host: &str, has_credentials| UrlParts {
            scheme: scheme.into(),
            has_credentials,
            host: host.into(),
        };
        for host in ["localhost", "127.0.0.1", "127.255.0.9", "[::1]"] {
            assert!(!parts("ws", host, false).is_insecure_remote(), "{host}");
            assert!(!parts("http", host, false).is_insecure_remote(), "{host}");
            assert!(
                parts("ws", host, true).is_insecure_remote(),
                "{host} with user info"
            );
        }
        for host in [
            "localhost.",
            "Localhost",
            "127.1",
            "::1",
            "[::2]",
            "evil.example",
            "",
        ] {
            assert!(parts("ws", host, false).is_insecure_remote(), "{host}");
            assert!(
                !parts("wss", host, true).is_insecure_remote(),
                "{host} over TLS"
            );
        }
        assert!(parts("file", "localhost", false).is_insecure_remote());
    }

    #[cfg(feature = "native")]
    #[test]
    fn websocket_token_answers() {
        assert_eq!(
            read_websocket_token(200, r#"{"token":"abc"}"#),
            Ok("abc".into())
        );
        assert!(matches!(
            read_websocket_token(200, "nonsense"),
            Err(TokenRefusal::Unusable(_))
        ));
        assert!(matches!(
            read_websocket_token(401, "TokenError(Error(InvalidSignature))"),
            Err(TokenRefusal::Rejected(_))
        ));
        assert!(matches!(
            read_websocket_token(403, "<html><body>Forbidden</body></html>"),
            Err(TokenRefusal::Unusable(_))
        ));
        assert!(matches!(
            read_websocket_token(503, ""),
            Err(TokenRefusal::Unusable(_))
        ));
    }

    /// Answers captured from spacetimedb-standalone 1.2.0 (`POST /v1/identity/websocket-token`).
    #[test]
    fn only_spacetimedb_saying_the_token_is_invalid_counts() {
        for (status, body) in [
            // A token minted by another server (signed by its key).
            (401, "TokenError(Error(InvalidSignature))"),
            // `Bearer notajwt`.
            (401, "TokenError(Error(InvalidToken))"),
            // A token whose signature was damaged.
            (401, "TokenError(Error(Base64(InvalidLastSymbol(85, 120))))"),
            (401, "TokenError(Error(ExpiredSignature))"),
            (401, "TokenError(Error(MissingRequiredClaim(\"sub\")))\n"),
            // `Bearer ` (empty) or another scheme.
            (400, "Authorization is invalid: malformed token"),
        ] {
            assert!(says_token_is_invalid(status, body), "{status} {body}");
        }
        for (status, body) in [
            // No Authorization header reached the server: a proxy dropped it.
            (401, "Authorization required"),
            // The validator could not fetch an OpenID issuer's keys: maybe later.
            (
                401,
                "Other(Error fetching public key for issuer https://issuer.example)",
            ),
            // The server's own key is broken.
            (401, "TokenError(Error(InvalidEcdsaKey))"),
            // A proxy or firewall.
            (
                403,
                "<html><head><title>403 Forbidden</title></head></html>",
            ),
            (403, "TokenError(Error(InvalidSignature))"),
            (401, "<html>Unauthorized</html>"),
            (400, "Bad Request"),
            (502, "Bad Gateway"),
            (500, ""),
        ] {
            assert!(!says_token_is_invalid(status, body), "{status} {body}");
        }
    }

    /// A build that cannot read gzip frames never asks for them, even when told to.
    #[cfg(not(feature = "gzip"))]
    #[test]
    fn a_build_without_gzip_never_asks_for_it() {
        let mut options = ConnectOptions::new("http://127.0.0.1:3000", "onepulse");
        options.compression = Compression::Gzip;
        assert!(
            options.subscribe_url(None).ends_with("?compression=None"),
            "{}",
            options.subscribe_url(None)
        );
    }

    #[test]
    fn urls_for_http_and_ws_bases() {
        let mut options = ConnectOptions::new("http://127.0.0.1:3000/", "onepulse");
        let default = if cfg!(feature = "gzip") {
            "Gzip"
        } else {
            "None"
        };
        assert_eq!(
            options.subscribe_url(None),
            format!("ws://127.0.0.1:3000/v1/database/onepulse/subscribe?compression={default}")
        );
        options.light = true;
        options.compression = Compression::None;
        assert_eq!(
            options.subscribe_url(Some("a.b+c")),
            "ws://127.0.0.1:3000/v1/database/onepulse/subscribe?compression=None&light=true&token=a.b%2Bc"
        );
        let secure = ConnectOptions::new("wss://db.example", "x y");
        assert_eq!(
            secure.websocket_token_url(),
            "https://db.example/v1/identity/websocket-token"
        );
        assert!(
            secure
                .subscribe_url(None)
                .starts_with("wss://db.example/v1/database/x%20y/")
        );
    }
}
