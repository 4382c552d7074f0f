//! Which refusals of the token exchange (`POST /v1/identity/websocket-token`) mean the stored
//! token is invalid — and may be forgotten, with the identity and wallet link it carries — and
//! which do not: only SpacetimeDB's own answer counts, never a proxy's or firewall's.

use local_spacetimedb::{LocalServer, ServerConfig, free_loopback_port};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;
use stdb_client::native::{NativeConnection, websocket_token};
use stdb_client::{ConnectOptions, ConnectionError};
use test_kit::TestDb;

/// A token minted by a second SpacetimeDB, with a key of its own (started in memory for this
/// and stopped again).
fn token_of_another_server() -> String {
    let binary = std::env::var("ONEPULSE_SPACETIMEDB_BIN")
        .expect("ONEPULSE_SPACETIMEDB_BIN is not set: run with `cargo xtask test`");
    let run_dir = std::env::temp_dir().join(format!("onepulse-other-key-{}", std::process::id()));
    std::fs::remove_dir_all(&run_dir).ok();
    let config = ServerConfig {
        binary: binary.into(),
        data_dir: run_dir.join("data"),
        port: free_loopback_port().expect("a free port"),
        in_memory: true,
        log_file: run_dir.join("server.log"),
    };
    let server =
        LocalServer::start(&config, Duration::from_secs(60)).expect("the second server starts");
    let token = server
        .api()
        .new_identity()
        .expect("an identity there")
        .token;
    server.stop();
    std::fs::remove_dir_all(&run_dir).ok();
    token
}

#[tokio::test]
async fn a_token_signed_by_another_server_is_recognised_as_invalid() {
    let db = TestDb::from_env();
    let options = ConnectOptions::new(db.url(), db.database());
    let foreign = token_of_another_server();

    let error = websocket_token(&options, &foreign).await.unwrap_err();
    assert!(
        matches!(&error, ConnectionError::TokenRejected(message) if message.contains("InvalidSignature")),
        "{error}"
    );
    let with_foreign = ConnectOptions {
        token: Some(foreign),
        ..options.clone()
    };
    let error = NativeConnection::connect(&with_foreign, |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(error, ConnectionError::TokenRejected(_)),
        "{error}"
    );
    // This server's own token is exchanged.
    let own = db.new_identity().token;
    assert!(websocket_token(&options, &own).await.is_ok());
}

/// A tiny HTTP responder playing a proxy or firewall in front of the database: answers every
/// request with `status` and `body`. Returns its `http://` base.
fn responder(status: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            // The request line and headers; the exchange has no body.
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    url
}

#[tokio::test]
async fn a_proxy_refusing_the_exchange_does_not_invalidate_the_token() {
    for (status, body) in [
        (
            "403 Forbidden",
            "<html><head><title>403 Forbidden</title></head><body>Request blocked</body></html>",
        ),
        // SpacetimeDB's words, but not its status: a proxy, not the database.
        ("403 Forbidden", "TokenError(Error(InvalidSignature))"),
        (
            "401 Unauthorized",
            "<html><body>Proxy authentication required</body></html>",
        ),
        ("502 Bad Gateway", "upstream unavailable"),
        ("503 Service Unavailable", ""),
    ] {
        let options = ConnectOptions::new(&responder(status, body), "onepulse");
        let error = websocket_token(&options, "a-stored-token")
            .await
            .unwrap_err();
        assert!(
            matches!(error, ConnectionError::Connect(_)),
            "{status} {body}: {error}"
        );
    }
}

/// The same policy after the first connect, as the browser has it: a token SpacetimeDB says is
/// not valid (e.g. the database came back wiped, with new keys) is forgotten and the connection
/// goes on anonymously — a new identity whose token is handed out — without a reconnect loop.
#[tokio::test]
async fn a_retrying_connection_forgets_a_token_spacetimedb_rejects_and_goes_on_anonymously() {
    let db = TestDb::from_env();
    let options = ConnectOptions {
        token: Some(token_of_another_server()),
        ..ConnectOptions::new(db.url(), db.database())
    };
    let (connection, mut events) = tokio::time::timeout(
        Duration::from_secs(20),
        NativeConnection::connect_retrying(&options, |_| {}),
    )
    .await
    .expect("connected anonymously without waiting for retries");
    let minted = connection
        .new_token()
        .expect("a new identity comes with its token");
    assert!(matches!(
        events.recv().await,
        Some(stdb_client::Event::Connected { new_token: Some(token), .. }) if token == minted
    ));
    assert!(websocket_token(&options, minted).await.is_ok());
    connection.close();
}

/// A refusal that is not SpacetimeDB's keeps the token: the connection keeps trying with it and
/// never falls back to a new anonymous identity.
#[tokio::test]
async fn a_retrying_connection_keeps_a_token_a_proxy_refuses() {
    let options = ConnectOptions {
        token: Some("a-stored-token".into()),
        ..ConnectOptions::new(
            &responder("403 Forbidden", "TokenError(Error(InvalidSignature))"),
            "onepulse",
        )
    };
    let connecting = NativeConnection::connect_retrying(&options, |_| {});
    assert!(
        tokio::time::timeout(Duration::from_secs(2), connecting)
            .await
            .is_err(),
        "still trying with the token, not connected as someone else"
    );
}
