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
use onepulse_gm_stats::GmStatsRow;
use onepulse_gm_stats::fallback_api::{ChainStats, ErrorAnswer, Health, StatsAnswer};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The API routes; `/api/…` is rate limited per client.
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/api/gm/stats", get(stats))
        .route_layer(middleware::from_fn_with_state(state.clone(), rate_limited))
        .route("/healthz", get(health))
        .with_state(state)
}

/// A `{"error": …}` answer.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = ErrorAnswer {
        error: message.into(),
    };
    (status, Json(body)).into_response()
}

async fn rate_limited(State(state): State<AppState>, request: Request, next: Next) -> Response {
    state.stats_requests.fetch_add(1, Ordering::Relaxed);
    let peer = request
        .extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.0.ip());
    let client = state.trusted_proxies.client(peer, request.headers());
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
    Json(stats_answer(&address, &rows, stale_for)).into_response()
}

/// The answer for `address` from its rows (rows of chains OnePulse does not know are left
/// out); `ageSeconds` only when the data is stale.
fn stats_answer(
    address: &Address,
    rows: &[Arc<GmStatsRow>],
    stale_for: Option<Duration>,
) -> StatsAnswer {
    let stats = rows
        .iter()
        .filter_map(|row| {
            let chain = row.chain()?;
            let numbers = ChainStats {
                name: chain.name().to_owned(),
                current_streak: row.current_streak,
                highest_streak: row.highest_streak,
                all_time_gm_count: row.all_time_gm_count,
                last_gm_day: row.last_gm_day,
            };
            Some((chain.id().to_string(), numbers))
        })
        .collect();
    StatsAnswer {
        address: address.as_str().to_owned(),
        stats,
        stale: stale_for.is_some(),
        age_seconds: stale_for.map(|age| age.as_secs()),
    }
}

async fn health(State(state): State<AppState>) -> Response {
    let (live, rows) = state.stats.health();
    Json(Health {
        live,
        rows: u64::try_from(rows).unwrap_or(u64::MAX),
        stats_requests: state.stats_requests.load(Ordering::Relaxed),
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use onepulse_gm_stats::ProfileColumns;

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

    fn row(chain_id: i32, streak: (i32, i32, i32, i32)) -> Arc<GmStatsRow> {
        let address = A.to_ascii_lowercase();
        Arc::new(GmStatsRow {
            address_chain: format!("{address}:{chain_id}").as_str().into(),
            address: address.as_str().into(),
            chain_id,
            current_streak: streak.0,
            highest_streak: streak.1,
            all_time_gm_count: streak.2,
            last_gm_day: streak.3,
            last_tx_hash: None,
            profile: ProfileColumns::new(Some(7), Some("Ann".into()), Some("ann".into())),
            updated_at: stdb_client::Timestamp::from_micros_since_unix_epoch(5),
        })
    }

    fn json(answer: &StatsAnswer) -> String {
        serde_json::to_string(answer).unwrap()
    }

    #[test]
    fn stats_answers_are_the_documented_json() {
        let address = Address::parse(A).unwrap();
        let lower = A.to_ascii_lowercase();
        // The README's example, byte for byte.
        let live = stats_answer(&address, &[row(8453, (3, 7, 20, 20454))], None);
        assert_eq!(
            json(&live),
            format!(
                r#"{{"address":"{lower}","stats":{{"8453":{{"name":"Base","currentStreak":3,"highestStreak":7,"allTimeGmCount":20,"lastGmDay":20454}}}},"stale":false}}"#
            )
        );
        // Stale: `ageSeconds` in whole seconds; chains without a row (or unknown ones) absent.
        let rows = [
            row(10, (1, 2, 3, 20450)),
            row(1, (9, 9, 9, 9)),
            row(42220, (0, 4, 5, 20400)),
        ];
        let stale = stats_answer(&address, &rows, Some(Duration::from_millis(42_900)));
        assert_eq!(
            json(&stale),
            format!(
                r#"{{"address":"{lower}","stats":{{"10":{{"name":"Optimism","currentStreak":1,"highestStreak":2,"allTimeGmCount":3,"lastGmDay":20450}},"42220":{{"name":"Celo","currentStreak":0,"highestStreak":4,"allTimeGmCount":5,"lastGmDay":20400}}}},"stale":true,"ageSeconds":42}}"#
            )
        );
        let none = stats_answer(&address, &[], None);
        assert_eq!(
            json(&none),
            format!(r#"{{"address":"{lower}","stats":{{}},"stale":false}}"#)
        );
    }

    #[tokio::test]
    async fn errors_are_an_error_object() {
        let response = error(StatusCode::BAD_REQUEST, "missing address");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], br#"{"error":"missing address"}"#);
    }
}
