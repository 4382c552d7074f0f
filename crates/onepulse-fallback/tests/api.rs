//! The fallback service against a real SpacetimeDB.

use local_spacetimedb::free_loopback_port;
use onepulse_domain::Chain;
use onepulse_fallback::{Config, spawn};
use serde_json::Value;
use std::time::Duration;
use test_kit::{PrivateServer, TestDb, today, unique_address};

struct Answer {
    status: u16,
    retry_after: Option<String>,
    cache_control: Option<String>,
    content_type: Option<String>,
    allow_origin: Option<String>,
    frame_options: Option<String>,
    security_policy: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

async fn get(url: String, origin: Option<&'static str>) -> Answer {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut request = agent.get(&url);
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        let mut response = request.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (retry_after, cache_control, content_type, allow_origin) = (
            header("retry-after"),
            header("cache-control"),
            header("content-type"),
            header("access-control-allow-origin"),
        );
        Answer {
            status: response.status().as_u16(),
            retry_after,
            cache_control,
            content_type,
            allow_origin,
            frame_options: header("x-frame-options"),
            security_policy: header("content-security-policy"),
            body: response.body_mut().read_to_string().unwrap_or_default(),
        }
    })
    .await
    .unwrap()
}

/// Starts the service for `config`; returns its base URL.
async fn service(config: Config) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    spawn(&config, listener);
    url
}

fn config_for(url: &str, database: &str) -> Config {
    Config {
        spacetimedb: url.to_owned(),
        database: database.to_owned(),
        ..Config::default()
    }
}

async fn report(
    url: &str,
    database: &str,
    reporter_token: &str,
    address: &onepulse_domain::Address,
    chain: Chain,
    day: i32,
) {
    let args = test_kit::report_args(address.as_str(), chain.id(), day);
    let outcome = tokio::task::block_in_place(|| {
        local_spacetimedb::HttpApi::new(url).call_reducer(
            database,
            "report_gm",
            &args,
            Some(reporter_token),
        )
    });
    assert_eq!(outcome.unwrap(), local_spacetimedb::CallOutcome::Committed);
}

/// Polls `url` until `done` holds for the answer (the subscription is live, so it is quick).
async fn until(url: &str, done: impl Fn(&Answer) -> bool) -> Answer {
    for _ in 0..400 {
        let answer = get(url.to_owned(), None).await;
        if done(&answer) {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never gave the expected answer");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reported_gm_appears_in_the_answer_with_the_documented_shape() {
    let db = TestDb::from_env();
    let base = service(config_for(db.url(), db.database())).await;
    let address = unique_address();
    let upper = format!("0x{}", address.as_str()[2..].to_ascii_uppercase());
    let url = format!("{base}/api/gm/stats?address={upper}");
    let empty = until(&url, |a| a.status == 200).await.json();
    assert_eq!(empty["stats"], serde_json::json!({}), "no GM yet");

    report(
        db.url(),
        db.database(),
        &db.reporter().token,
        &address,
        Chain::Celo,
        today() - 1,
    )
    .await;
    report(
        db.url(),
        db.database(),
        &db.reporter().token,
        &address,
        Chain::Base,
        today(),
    )
    .await;
    let answer = until(&url, |a| {
        a.json()["stats"].as_object().is_some_and(|s| s.len() == 2)
    })
    .await;
    let body = answer.json();
    assert_eq!(body["address"], address.as_str(), "echoed lowercase");
    assert_eq!(body["stale"], false);
    assert_eq!(
        body["stats"]["42220"],
        serde_json::json!({"name": "Celo", "currentStreak": 1, "highestStreak": 1, "allTimeGmCount": 1, "lastGmDay": today() - 1})
    );
    assert_eq!(body["stats"]["8453"]["name"], "Base");
    assert!(
        body["stats"].get("10").is_none(),
        "a chain without a row is absent"
    );

    let only_base = get(
        format!("{base}/api/gm/stats?address={address}&chainId=8453"),
        None,
    )
    .await
    .json();
    assert_eq!(only_base["stats"].as_object().unwrap().len(), 1);

    let health = get(format!("{base}/healthz"), None).await.json();
    assert_eq!(health["live"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_a_400_with_a_message() {
    let db = TestDb::from_env();
    let base = service(config_for(db.url(), db.database())).await;
    let address = unique_address();
    until(&format!("{base}/api/gm/stats?address={address}"), |a| {
        a.status == 200
    })
    .await;
    for (query, expected) in [
        ("", "missing address"),
        ("?address=", "invalid address"),
        ("?address=0x1234", "invalid address"),
        (
            "?address=0xZZcdef0123456789abcdef0123456789abcdef01",
            "invalid address",
        ),
        ("?address=%27%20OR%201%3D1", "invalid address"),
        ("?address=%ZZ", "invalid address"),
    ] {
        let answer = get(format!("{base}/api/gm/stats{query}"), None).await;
        assert_eq!(answer.status, 400, "{query}: {}", answer.body);
        let message = answer.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.starts_with(expected), "{query}: {message}");
    }
    for (query, expected) in [
        (format!("?address={address}&chainId=1"), "invalid chainId"),
        (format!("?address={address}&chainId=abc"), "invalid chainId"),
        (
            format!("?address={address}&address={address}"),
            "address is given more than once",
        ),
    ] {
        let answer = get(format!("{base}/api/gm/stats{query}"), None).await;
        assert_eq!(answer.status, 400, "{query}");
        assert!(
            answer.json()["error"]
                .as_str()
                .unwrap_or_default()
                .starts_with(expected),
            "{query}: {}",
            answer.body
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_requests_get_429_with_retry_after() {
    let db = TestDb::from_env();
    let config = Config {
        burst: 3.0,
        per_second: 0.5,
        ..config_for(db.url(), db.database())
    };
    let base = service(config).await;
    let url = format!("{base}/api/gm/stats?address={}", unique_address());
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(get(url.clone(), None).await);
    }
    let limited = statuses
        .iter()
        .find(|a| a.status == 429)
        .expect("a 429 after the burst");
    assert_eq!(limited.retry_after.as_deref(), Some("2"));
    assert!(
        limited.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("too many requests")
    );
    assert_eq!(
        statuses.iter().filter(|a| a.status != 429).count(),
        3,
        "exactly the burst got through"
    );
    let health = get(format!("{base}/healthz"), None).await;
    assert_eq!(health.status, 200, "health checks are not rate limited");
    assert_eq!(
        health.json()["statsRequests"],
        5,
        "every stats request is counted, refused ones too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_allows_the_apps_origin_only() {
    let db = TestDb::from_env();
    let base = service(config_for(db.url(), db.database())).await;
    let url = format!("{base}/api/gm/stats?address={}", unique_address());
    let allowed = get(url.clone(), Some("http://127.0.0.1:8080")).await;
    assert_eq!(
        allowed.allow_origin.as_deref(),
        Some("http://127.0.0.1:8080")
    );
    let other = get(url, Some("https://evil.example")).await;
    assert_eq!(other.allow_origin, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_any_data_the_answer_is_503_and_health_says_not_live() {
    let port = free_loopback_port().unwrap();
    let base = service(config_for(&format!("http://127.0.0.1:{port}"), "nowhere")).await;
    let answer = get(
        format!("{base}/api/gm/stats?address={}", unique_address()),
        None,
    )
    .await;
    assert_eq!(answer.status, 503);
    assert!(
        answer.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("no data yet")
    );
    assert_eq!(
        get(format!("{base}/healthz"), None).await.json()["live"],
        false
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_answers_while_the_database_is_away_then_fresh_again() {
    let mut server = PrivateServer::start("stale");
    let url = server.url().to_owned();
    let address = unique_address();
    let reporter = server.new_reporter();
    report(
        &url,
        "stale",
        &reporter.token,
        &address,
        Chain::Optimism,
        today(),
    )
    .await;

    let base = service(config_for(&url, "stale")).await;
    let stats = format!("{base}/api/gm/stats?address={address}");
    let fresh = until(&stats, |a| {
        a.status == 200 && a.json()["stats"].get("10").is_some()
    })
    .await
    .json();
    assert_eq!(fresh["stale"], false);

    server.stop();
    let stale = until(&stats, |a| a.status == 200 && a.json()["stale"] == true)
        .await
        .json();
    assert_eq!(
        stale["stats"]["10"]["currentStreak"], 1,
        "the last data keeps coming"
    );
    assert!(stale["ageSeconds"].as_u64().is_some());
    assert_eq!(
        get(format!("{base}/healthz"), None).await.json()["live"],
        false
    );

    server.restart();
    let again = until(&stats, |a| a.status == 200 && a.json()["stale"] == false)
        .await
        .json();
    assert!(again.get("ageSeconds").is_none());
    assert_eq!(
        get(format!("{base}/healthz"), None).await.json()["live"],
        true
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn production_mode_serves_the_built_app_with_content_types_and_caching() {
    let dist = std::env::temp_dir().join(format!("onepulse-fallback-dist-{}", std::process::id()));
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("index.html"),
        r#"<!DOCTYPE html><title>OnePulse</title><meta name="fc:miniapp" content='{"imageUrl":"__ONEPULSE_PUBLIC_URL__/hero.png"}'>"#,
    )
    .unwrap();
    std::fs::write(
        dist.join("onepulse-0123456789abcdef_bg.wasm"),
        b"\0asm\x01\0\0\0",
    )
    .unwrap();
    let port = free_loopback_port().unwrap();
    let association = serde_json::json!({"header": "h", "payload": "p", "signature": "s"});
    let config = Config {
        dist: Some(dist.clone()),
        public_url: Some("https://onepulse.example".into()),
        account_association: Some(association.clone()),
        ..config_for(&format!("http://127.0.0.1:{port}"), "nowhere")
    };
    let base = service(config).await;
    let wasm = get(format!("{base}/onepulse-0123456789abcdef_bg.wasm"), None).await;
    assert_eq!(wasm.status, 200);
    assert_eq!(wasm.content_type.as_deref(), Some("application/wasm"));
    assert_eq!(
        wasm.cache_control.as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    for path in ["/", "/index.html", "/some/app/route?address=0x1"] {
        let page = get(format!("{base}{path}"), None).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(page.body.contains("OnePulse"), "{path} gets the app");
        assert!(
            page.body
                .contains(r#""imageUrl":"https://onepulse.example/hero.png""#),
            "{path}: the embed has absolute URLs: {}",
            page.body
        );
        assert_eq!(page.cache_control.as_deref(), Some("no-cache"));
        assert_eq!(
            page.frame_options, None,
            "Farcaster clients may frame the app"
        );
        assert_eq!(page.security_policy, None);
    }
    let manifest = get(format!("{base}/.well-known/farcaster.json"), None).await;
    assert_eq!(manifest.status, 200);
    assert!(
        manifest
            .content_type
            .clone()
            .unwrap_or_default()
            .starts_with("application/json")
    );
    let manifest = manifest.json();
    assert_eq!(manifest["accountAssociation"], association);
    assert_eq!(manifest["miniapp"]["homeUrl"], "https://onepulse.example/");
    let api = get(format!("{base}/api/gm/stats?address=0x1"), None).await;
    assert_eq!(api.status, 400, "the API still answers beside the files");
    std::fs::remove_dir_all(&dist).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let port = free_loopback_port().unwrap();
    let config = Config {
        max_connections: 1,
        ..config_for(&format!("http://127.0.0.1:{port}"), "nowhere")
    };
    let base = service(config).await;
    let address = base.trim_start_matches("http://").to_owned();
    let (waited, after) = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let health = |timeout: Duration| -> Option<String> {
            let mut stream = std::net::TcpStream::connect(&address).ok()?;
            stream.set_read_timeout(Some(timeout)).ok()?;
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .ok()?;
            let mut answer = String::new();
            stream.read_to_string(&mut answer).ok()?;
            Some(answer)
        };
        let holder = std::net::TcpStream::connect(&address).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let waited = health(Duration::from_millis(700));
        drop(holder);
        let after = health(Duration::from_secs(10));
        (waited, after)
    })
    .await
    .unwrap();
    assert_eq!(
        waited, None,
        "a second connection is not served while the first is open"
    );
    assert!(
        after.is_some_and(|a| a.starts_with("HTTP/1.1 200")),
        "served once the slot is free"
    );
}
