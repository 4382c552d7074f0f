//! Where and how to connect.

/// The WebSocket subprotocol of the v1 binary protocol.
pub const SUBPROTOCOL: &str = "v1.bsatn.spacetimedb";

/// How the server may compress its frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compression {
    /// Never compressed.
    None,
    /// Frames over 1 KiB gzip-compressed.
    #[default]
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
}

impl ConnectOptions {
    /// Options for an anonymous, gzip, full-update connection.
    pub fn new(uri: &str, database: &str) -> Self {
        Self {
            uri: uri.trim_end_matches('/').to_owned(),
            database: database.to_owned(),
            token: None,
            compression: Compression::Gzip,
            light: false,
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
            Compression::Gzip => "Gzip",
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
    /// Whether this would send data unencrypted to another machine: a `ws://`/`http://` URI whose
    /// host is not loopback. Release builds refuse that unless explicitly allowed (SEC-001).
    pub fn is_insecure_remote(&self) -> bool {
        let Some(rest) = ["ws://", "http://"]
            .iter()
            .find_map(|p| self.uri.strip_prefix(p))
        else {
            return false;
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
        };
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host == "::1"
            || host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback());
        !loopback
    }
}

/// Why `POST /v1/identity/websocket-token` gave no token.
#[cfg(any(feature = "native", all(feature = "browser", target_arch = "wasm32")))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenRefusal {
    /// 400/401/403: the stored token is not valid on this server; forget it.
    Rejected(String),
    /// Anything else (unreachable, unexpected answer): try again later.
    Unusable(String),
}

/// Reads the answer of the websocket-token exchange: the 60-second token, or why there is none.
#[cfg(any(feature = "native", all(feature = "browser", target_arch = "wasm32")))]
pub(crate) fn read_websocket_token(status: u16, body: &str) -> Result<String, TokenRefusal> {
    match status {
        200 => serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("token")?.as_str().map(str::to_owned))
            .ok_or_else(|| {
                TokenRefusal::Unusable(format!("unexpected websocket-token answer {body:?}"))
            }),
        400 | 401 | 403 => Err(TokenRefusal::Rejected(format!("HTTP {status}: {body}"))),
        other => Err(TokenRefusal::Unusable(format!(
            "websocket-token: HTTP {other}: {body}"
        ))),
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
        ] {
            assert_eq!(
                ConnectOptions::new(uri, "x").is_insecure_remote(),
                insecure,
                "{uri}"
            );
        }
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
            read_websocket_token(401, ""),
            Err(TokenRefusal::Rejected(_))
        ));
        assert!(matches!(
            read_websocket_token(503, ""),
            Err(TokenRefusal::Unusable(_))
        ));
    }

    #[test]
    fn urls_for_http_and_ws_bases() {
        let mut options = ConnectOptions::new("http://127.0.0.1:3000/", "onepulse");
        assert_eq!(
            options.subscribe_url(None),
            "ws://127.0.0.1:3000/v1/database/onepulse/subscribe?compression=Gzip"
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
