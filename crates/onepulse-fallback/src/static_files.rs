//! The built app (`dist/`) with caching headers, for production.

use crate::Config;
use crate::mini_app::{manifest, render_index};
use axum::extract::Request;
use axum::handler::HandlerWithoutStateExt;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::path::Path;
use tower_http::services::ServeDir;

/// Serves `dist`: files by path (content types from their extension, `.wasm` as
/// `application/wasm`), anything else as `index.html` (the app routes itself) with the public
/// URL in its Farcaster embed tags, and `/.well-known/farcaster.json` built from the
/// configuration. Nothing here forbids framing: Farcaster clients show the app in a frame.
pub fn routes(config: &Config, dist: &Path) -> Router {
    let index_path = dist.join("index.html");
    let page = match std::fs::read_to_string(&index_path) {
        Ok(html) => render_index(&html, config.public_url.as_deref()),
        Err(e) => {
            log::error!("cannot read {}: {e}", index_path.display());
            String::new()
        }
    };
    let index = move || {
        let page = page.clone();
        async move { Html(page) }
    };
    let manifest = match &config.public_url {
        Some(url) => {
            if config.account_association.is_none() {
                log::warn!(
                    "no --farcaster-account-association: the manifest has no accountAssociation"
                );
            }
            (
                StatusCode::OK,
                Json(manifest(url, config.account_association.as_ref())),
            )
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no manifest: start the service with --public-url" })),
        ),
    };
    let files = ServeDir::new(dist)
        .append_index_html_on_directories(false)
        .fallback(index.clone().into_service());
    Router::new()
        .route("/", get(index.clone()))
        .route("/index.html", get(index))
        .route(
            "/.well-known/farcaster.json",
            get(move || {
                let manifest = manifest.clone();
                async move { manifest }
            }),
        )
        .fallback_service(files)
        .layer(middleware::from_fn(cache_headers))
}

/// Trunk names built assets `name-<16 hex digits>.ext`: those never change and are cached for a
/// year; everything else (the page, the manifest) is revalidated.
async fn cache_headers(request: Request, next: Next) -> Response {
    let hashed = is_hashed(request.uri().path());
    let mut response = next.run(request).await;
    let policy = if hashed {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    response
}

fn is_hashed(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or_default();
    let stem = file.split('.').next().unwrap_or_default();
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-')
        .is_some_and(|(_, hash)| hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::is_hashed;

    #[test]
    fn trunk_hashed_assets_are_recognised() {
        assert!(is_hashed("/onepulse-9dd08dc0fccc5fc3_bg.wasm"));
        assert!(is_hashed("/main-951aebdad5089cd9.css"));
        assert!(!is_hashed("/index.html"));
        assert!(!is_hashed("/.well-known/farcaster.json"));
        assert!(!is_hashed("/hero-image.png"));
    }
}
