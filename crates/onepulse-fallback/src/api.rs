//! `/api/gm/stats` and `/healthz`.

use crate::AppState;
use crate::ClientAddr;
use crate::live_stats::Lookup;
use axum::extract::{ConnectInfo, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use onepulse_domain::{Address, Chain};
use serde_json::{Map, Value, json};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// The API routes; `/api/…` is rate limited per client.
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/api/gm/stats", get(stats))
        .route_layer(middleware::from_fn_with_state(state.clone(), rate_limited))
        .route("/healthz", get(health))
        .with_state(state)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn rate_limited(State(state): State<AppState>, request: Request, next: Next) -> Response {
    state.stats_requests.fetch_add(1, Ordering::Relaxed);
    let client = request
        .extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.0.ip());
    match state.limiter.check(client, Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many requests: try again in {seconds} s"),
            );
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
    }
}

/// The validated query: an address and maybe a chain.
fn parse_query(query: &str) -> Result<(Address, Option<Chain>), String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query).map_err(|e| format!("malformed query string: {e}"))?;
    let single = |name: &str| -> Result<Option<&str>, String> {
        let mut values = pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        match values.next() {
            Some(_) => Err(format!("{name} is given more than once")),
            None => Ok(first),
        }
    };
    let address = single("address")?.ok_or("missing address: add ?address=0x…")?;
    let address = Address::parse(address).map_err(|e| format!("invalid address: {e}"))?;
    let chain = match single("chainId")? {
        None => None,
        Some(text) => {
            let id: i64 = text
                .trim()
                .parse()
                .map_err(|_| format!("invalid chainId {text:?}: not a number"))?;
            Some(Chain::from_id(id).map_err(|e| format!("invalid chainId: {e}"))?)
        }
    };
    Ok((address, chain))
}

async fn stats(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let (address, chain) = match parse_query(query.as_deref().unwrap_or_default()) {
        Ok(parsed) => parsed,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let (rows, stale_for) = match state.stats.lookup(&address, chain) {
        Lookup::NoData => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "no data yet: the database has not been reachable since this service started",
            );
        }
        Lookup::Rows { rows, stale_for } => (rows, stale_for),
    };
    let mut stats = Map::new();
    for row in rows {
        let Some(chain) = row.chain() else { continue };
        stats.insert(
            chain.id().to_string(),
            json!({
                "name": chain.name(),
                "currentStreak": row.current_streak,
                "highestStreak": row.highest_streak,
                "allTimeGmCount": row.all_time_gm_count,
                "lastGmDay": row.last_gm_day,
            }),
        );
    }
    let mut body = json!({
        "address": address.as_str(),
        "stats": Value::Object(stats),
        "stale": stale_for.is_some(),
    });
    if let Some(age) = stale_for {
        body["ageSeconds"] = json!(age.as_secs());
    }
    Json(body).into_response()
}

async fn health(State(state): State<AppState>) -> Response {
    let (live, rows) = state.stats.health();
    let stats_requests = state.stats_requests.load(Ordering::Relaxed);
    Json(json!({ "live": live, "rows": rows, "statsRequests": stats_requests })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0xAbCdEf0123456789ABCDEF0123456789abcdef01";

    #[test]
    fn queries_are_validated_with_clear_messages() {
        let (address, chain) = parse_query(&format!("address={A}&chainId=10")).unwrap();
        assert_eq!(address.as_str(), A.to_ascii_lowercase());
        assert_eq!(chain, Some(Chain::Optimism));
        let err = |q: &str| parse_query(q).unwrap_err();
        assert!(err("").starts_with("missing address"));
        assert!(err("address=0x12").starts_with("invalid address"));
        assert!(err(&format!("address={A}&chainId=1")).starts_with("invalid chainId"));
        assert!(err(&format!("address={A}&chainId=ten")).contains("not a number"));
        assert!(err(&format!("address={A}&address={A}")).contains("more than once"));
        assert!(err("address=%ZZ%").len() > 5);
    }
}
