//! The built app (`dist/`) with caching headers, for production.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use std::path::Path;
use tower_http::services::{ServeDir, ServeFile};

/// Serves `dist`: files by path (content types from their extension, `.wasm` as
/// `application/wasm`), anything else as `index.html` (the app routes itself).
pub fn routes(dist: &Path) -> Router {
    let files = ServeDir::new(dist).fallback(ServeFile::new(dist.join("index.html")));
    Router::new()
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
