//! OnePulse as a Farcaster mini app, in production: the manifest at
//! `/.well-known/farcaster.json` and the page's embed meta tags, both with absolute URLs under
//! the configured public URL. The account association (the domain's signature by the owner's
//! Farcaster account) only ever comes from configuration.

use serde_json::{Value, json};

/// The placeholder `index.html` uses where the public URL goes.
pub const PUBLIC_URL_PLACEHOLDER: &str = "__ONEPULSE_PUBLIC_URL__";

/// Splash screen background, as in the embed tags of `index.html`.
const SPLASH_BACKGROUND: &str = "#0B1020";

/// Checks a public URL: `https://host[:port][/path]`, no query, no fragment, no trailing slash
/// (`http://` only for localhost, to try the manifest locally).
pub fn parse_public_url(text: &str) -> Result<String, String> {
    let url = text.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| {
            url.strip_prefix("http://")
                .filter(|r| r.starts_with("localhost") || r.starts_with("127.0.0.1"))
        })
        .ok_or_else(|| format!("public URL {text:?} must start with https://"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty()
        || url.len() > 512
        || url
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '?' | '#' | '"' | '\'' | '<' | '>' | '\\'))
    {
        return Err(format!(
            "public URL {text:?} is not a plain absolute URL (no spaces, quotes, query or fragment)"
        ));
    }
    Ok(url.to_owned())
}

/// Checks an account association: a JSON object with the strings `header`, `payload` and
/// `signature` (as the Farcaster developer tools produce it).
pub fn parse_account_association(text: &str) -> Result<Value, String> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| format!("the account association is not JSON: {e}"))?;
    for field in ["header", "payload", "signature"] {
        match value.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => {
                return Err(format!(
                    "the account association needs a non-empty string {field:?}"
                ));
            }
        }
    }
    Ok(json!({
        "header": value["header"],
        "payload": value["payload"],
        "signature": value["signature"],
    }))
}

/// The manifest for `public_url`, with the account association when one is configured.
pub fn manifest(public_url: &str, account_association: Option<&Value>) -> Value {
    let mut manifest = json!({
        "miniapp": {
            "version": "1",
            "name": "OnePulse",
            "homeUrl": format!("{public_url}/"),
            "iconUrl": format!("{public_url}/icon.png"),
            "splashImageUrl": format!("{public_url}/splash.png"),
            "splashBackgroundColor": SPLASH_BACKGROUND,
            "subtitle": "Daily GM streaks, live",
            "description": "Say GM once a UTC day on Base, Celo and Optimism and watch your streaks update live.",
            "primaryCategory": "social",
            "tags": ["gm", "streaks", "base", "celo", "optimism"],
            "heroImageUrl": format!("{public_url}/hero.png"),
            "tagline": "Say GM, keep the streak",
            "ogTitle": "OnePulse",
            "ogDescription": "Daily GM streaks on Base, Celo and Optimism, live.",
            "ogImageUrl": format!("{public_url}/hero.png"),
            "requiredChains": ["eip155:8453", "eip155:42220", "eip155:10"],
        }
    });
    if let Some(association) = account_association {
        manifest["accountAssociation"] = association.clone();
    }
    manifest
}

/// `index.html` with the public URL in its embed tags (removed when there is none, which
/// leaves relative URLs).
pub fn render_index(html: &str, public_url: Option<&str>) -> String {
    html.replace(PUBLIC_URL_PLACEHOLDER, public_url.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_checked() {
        assert_eq!(
            parse_public_url("https://onepulse.example/").unwrap(),
            "https://onepulse.example"
        );
        assert_eq!(
            parse_public_url("http://localhost:8787").unwrap(),
            "http://localhost:8787"
        );
        assert!(parse_public_url("http://onepulse.example").is_err());
        assert!(parse_public_url("https://").is_err());
        assert!(parse_public_url("https://x.example/?a=1").is_err());
        assert!(parse_public_url("https://x.example/\"><script>").is_err());
        assert!(parse_public_url("javascript:alert(1)").is_err());
    }

    #[test]
    fn account_associations_need_three_strings() {
        let ok = parse_account_association(r#"{"header":"h","payload":"p","signature":"s","x":1}"#)
            .unwrap();
        assert_eq!(ok, json!({"header":"h","payload":"p","signature":"s"}));
        assert!(
            parse_account_association("{}")
                .unwrap_err()
                .contains("header")
        );
        assert!(
            parse_account_association(r#"{"header":"h","payload":"p","signature":5}"#)
                .unwrap_err()
                .contains("signature")
        );
        assert!(parse_account_association("nope").is_err());
    }

    #[test]
    fn the_manifest_has_absolute_urls_and_the_configured_association_only() {
        let m = manifest("https://onepulse.example", None);
        assert_eq!(m["miniapp"]["homeUrl"], "https://onepulse.example/");
        assert_eq!(m["miniapp"]["iconUrl"], "https://onepulse.example/icon.png");
        assert_eq!(m["miniapp"]["version"], "1");
        assert!(m.get("accountAssociation").is_none(), "never a made-up one");
        for field in ["subtitle", "tagline", "ogTitle"] {
            assert!(m["miniapp"][field].as_str().unwrap().chars().count() <= 30);
        }
        assert!(
            m["miniapp"]["description"]
                .as_str()
                .unwrap()
                .chars()
                .count()
                <= 170
        );
        let association = json!({"header":"h","payload":"p","signature":"s"});
        let m = manifest("https://onepulse.example", Some(&association));
        assert_eq!(m["accountAssociation"], association);
    }

    #[test]
    fn the_page_gets_the_public_url() {
        let html = r#"<meta content='{"imageUrl":"__ONEPULSE_PUBLIC_URL__/hero.png"}'>"#;
        assert_eq!(
            render_index(html, Some("https://onepulse.example")),
            r#"<meta content='{"imageUrl":"https://onepulse.example/hero.png"}'>"#
        );
        assert_eq!(
            render_index(html, None),
            r#"<meta content='{"imageUrl":"/hero.png"}'>"#
        );
    }
}
