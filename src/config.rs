//! Where the app finds SpacetimeDB and the fallback service.

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
        let mut config = Self {
            spacetimedb: option_env!("SPACETIMEDB_HOST")
                .unwrap_or("ws://127.0.0.1:3000")
                .to_owned(),
            module: option_env!("SPACETIMEDB_MODULE")
                .unwrap_or("onepulse")
                .to_owned(),
            api: option_env!("ONEPULSE_API").unwrap_or("").to_owned(),
            address: None,
        };
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query.trim_start_matches('?')).unwrap_or_default();
        for (key, value) in pairs {
            match key.as_str() {
                "spacetimedb"
                    if is_url(&value, &["ws://", "wss://", "http://", "https://"])
                        && may_redirect(&value) =>
                {
                    config.spacetimedb = value
                }
                "api" if is_url(&value, &["http://", "https://"]) && may_redirect(&value) => {
                    config.api = value.trim_end_matches('/').to_owned()
                }
                "module" if is_name(&value) => config.module = value,
                "address" => config.address = Some(value),
                "spacetimedb" | "api" | "module" => {
                    log::warn!("ignoring ?{key}={value:?}: not usable")
                }
                _ => {}
            }
        }
        config
    }
}

fn is_url(value: &str, schemes: &[&str]) -> bool {
    schemes.iter().any(|s| value.starts_with(s))
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '<')
}

/// A link must not send the page's users (and their wallet signatures) to someone else's
/// server: release builds take `?spacetimedb=` and `?api=` only for this machine (tests);
/// development builds take any.
fn may_redirect(url: &str) -> bool {
    cfg!(debug_assertions) || is_loopback(url)
}

fn is_loopback(url: &str) -> bool {
    let host_and_rest = url.split_once("://").map_or("", |(_, rest)| rest);
    ["127.0.0.1", "localhost", "[::1]"].iter().any(|host| {
        host_and_rest
            .strip_prefix(host)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
    })
}

fn is_name(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_are_recognised() {
        assert!(is_loopback("ws://127.0.0.1:3000"));
        assert!(is_loopback("http://localhost/api"));
        assert!(is_loopback("ws://[::1]:9"));
        assert!(!is_loopback("ws://127.0.0.1.evil.example"));
        assert!(!is_loopback("wss://localhost.evil.example:443"));
        assert!(!is_loopback("https://onepulse.example"));
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
