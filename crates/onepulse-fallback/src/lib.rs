//! The OnePulse fallback service.
//!
//! `GET /api/gm/stats?address=0x…[&chainId=N]` answers from a live subscription to
//! `gm_stats_by_address` kept in memory through the project's own runtime (native transport), so
//! answers take microseconds and keep coming — marked stale — while the database is away.
//! `GET /healthz` tells whether the data is live. With `--dist`, the same process serves the built
//! app, so one process plus SpacetimeDB is a whole deployment.

mod api;
mod config;
mod connection_limit;
mod live_stats;
pub mod mini_app;
mod rate_limit;
mod static_files;

pub use config::Config;
pub use connection_limit::{ClientAddr, LimitedListener};
pub use live_stats::LiveStats;
pub use rate_limit::{RateLimiter, TrustedProxies, bucket_key};

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::http::{HeaderValue, Method, StatusCode};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The live data.
    pub stats: LiveStats,
    /// Per-client request budget.
    pub limiter: Arc<RateLimiter>,
    /// The proxies whose `X-Forwarded-For` names the client (`--trusted-proxy`).
    pub trusted_proxies: Arc<TrustedProxies>,
    /// `/api/gm/stats` requests received (answered or refused), reported by `/healthz`.
    pub stats_requests: Arc<AtomicU64>,
}

/// The whole service for `config`, with `stats` as its data.
pub fn router(config: &Config, stats: LiveStats) -> Router {
    let state = AppState {
        stats,
        limiter: Arc::new(RateLimiter::with_max_clients(
            config.burst,
            config.per_second,
            config.max_tracked_clients,
        )),
        trusted_proxies: Arc::new(TrustedProxies::new(&config.trusted_proxies)),
        stats_requests: Arc::default(),
    };
    let origins: Vec<HeaderValue> = config
        .allow_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let allow = if config.allow_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins)
    };
    let cors = CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET]);
    let overload = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "too many requests in flight",
            )
        }))
        .load_shed()
        .concurrency_limit(config.max_in_flight);
    let mut app = api::routes(state).layer(cors);
    if let Some(dist) = &config.dist {
        app = app.merge(static_files::routes(config, dist));
    }
    app.layer(overload)
}

/// Starts serving `config` on `listener` in the background; returns the live data and the task.
pub fn spawn(
    config: &Config,
    listener: TcpListener,
) -> (LiveStats, tokio::task::JoinHandle<std::io::Result<()>>) {
    let stats = LiveStats::start(config.connect_options());
    let app = router(config, stats.clone());
    let listener = LimitedListener::new(listener, config.max_connections);
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<ClientAddr>(),
        )
        .await
    });
    (stats, task)
}

/// Serves `config` on `listener` until the process ends; an error if serving fails.
pub async fn serve(config: &Config, listener: TcpListener) -> std::io::Result<()> {
    let (_, task) = spawn(config, listener);
    task.await
        .map_err(|e| std::io::Error::other(format!("the HTTP server task ended: {e}")))?
}
