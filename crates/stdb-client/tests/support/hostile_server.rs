//! A hostile SpacetimeDB stand-in: speaks just enough of the v1 protocol (the WebSocket upgrade
//! with subprotocol `v1.bsatn.spacetimedb`, the identity, the websocket-token exchange with
//! CORS) to feed a client hostile frames. The database name picks the scenario:
//!
//! - `bombs`: the identity, then the issue's frames — `FixedSize(1)` over 128 MiB of zeros,
//!   eight nested gzip query updates of 64 MiB, a 1 MB frame inflating past 1 GiB — and more
//!   (a size hint too small within the budget, a million tiny updates); then a good row
//!   (`id` 1, `"survived"`) in [`hostile::TABLE`], which a client that survived caches.
//! - `distinct`: the identity, then a million distinct valid rows of [`hostile::TABLE`] in one
//!   20 MB frame (each new to the cache, unlike zeros), then a good row (`id` 1, `"survived"`).
//! - `panic-…`: on the first connection with that name, the identity and a row in
//!   [`hostile::POISON_TABLE`] whose primary key panics in the tests' row type; on later ones,
//!   the identity and a good row (`id` 2, `"after the panic"`).
//! - anything else: the identity, then nothing.
//!
//! Shared by `examples/hostile_server.rs` and the native tests (`#[path]`-included).
#![allow(dead_code)]

use super::hostile;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// The BSATN of a row of the tests' hostile table: `(id, name, score)`.
pub fn good_row(id: u64, name: &str) -> Vec<u8> {
    stdb_client::bsatn::to_vec(&(id, name.to_owned(), 0i64)).expect("encodable")
}

/// Serves connections on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener) {
    let seen: Arc<Mutex<HashSet<String>>> = Arc::default();
    let connections = Arc::new(AtomicU64::new(1));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let seen = Arc::clone(&seen);
        let id = connections.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            if let Err(e) = handle(stream, &seen, id).await {
                eprintln!("hostile server: connection {id}: {e}");
            }
        });
    }
}

const CORS: &str = "Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: GET, POST, OPTIONS\r\nAccess-Control-Allow-Headers: Authorization, Content-Type\r\n";

async fn handle(
    mut stream: TcpStream,
    seen: &Mutex<HashSet<String>>,
    connection: u64,
) -> std::io::Result<()> {
    let head = read_head(&mut stream).await?;
    let mut lines = head.split("\r\n");
    let mut request = lines.next().unwrap_or_default().split_whitespace();
    let (method, target) = (
        request.next().unwrap_or_default(),
        request.next().unwrap_or_default(),
    );
    let path = target.split('?').next().unwrap_or_default();
    let key = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_owned())
    });
    let respond = |status: &str, kind: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\n{CORS}Content-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let database = path
        .strip_prefix("/v1/database/")
        .and_then(|rest| rest.strip_suffix("/subscribe"));
    match (method, path, database, key) {
        ("OPTIONS", ..) => {
            stream
                .write_all(respond("204 No Content", "text/plain", "").as_bytes())
                .await
        }
        ("POST", "/v1/identity/websocket-token", ..) => {
            let body = r#"{"token":"hostile-short-token"}"#;
            stream
                .write_all(respond("200 OK", "application/json", body).as_bytes())
                .await
        }
        ("GET", _, Some(database), Some(key)) => {
            let answer = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: {}\r\n\r\n",
                derive_accept_key(key.as_bytes()),
                stdb_client::SUBPROTOCOL
            );
            stream.write_all(answer.as_bytes()).await?;
            let first = seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(database.to_owned());
            let socket = WebSocketStream::from_raw_socket(stream, Role::Server, None).await;
            play(socket, database, first, connection).await
        }
        _ => {
            stream
                .write_all(respond("404 Not Found", "text/plain", "not here").as_bytes())
                .await
        }
    }
}

/// Reads up to the end of the request head (at most 16 KiB).
async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 << 10 || stream.read(&mut byte).await? == 0 {
            return Err(std::io::Error::other("no complete request head"));
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// The frames of the scenario `database`, built one at a time (they are large once inflated,
/// not as sent).
fn frames(database: &str, first: bool, connection: u64) -> Vec<Box<dyn Fn() -> Vec<u8> + Send>> {
    let identity = move || hostile::identity(u128::from(connection));
    const MIB: usize = 1 << 20;
    if database == "bombs" {
        return vec![
            Box::new(identity),
            Box::new(|| hostile::fixed_size_rows(hostile::TABLE, 1, 128 * MIB)),
            Box::new(|| hostile::nested_gzip(hostile::TABLE, 8, 20, 64 * MIB)),
            Box::new(|| hostile::inflate_bomb((1 << 30) + 1)),
            Box::new(|| hostile::fixed_size_rows(hostile::TABLE, 1, 8 * MIB)),
            Box::new(|| hostile::empty_updates(hostile::TABLE, 1_000_000)),
            Box::new(|| hostile::insert_rows(hostile::TABLE, &[good_row(1, "survived")])),
        ];
    }
    if database == "distinct" {
        return vec![
            Box::new(identity),
            Box::new(|| hostile::distinct_rows(hostile::TABLE, 1_000, 1_000_000)),
            Box::new(|| hostile::insert_rows(hostile::TABLE, &[good_row(1, "survived")])),
        ];
    }
    if database.starts_with("panic-") {
        if first {
            return vec![
                Box::new(identity),
                Box::new(|| {
                    hostile::insert_rows(
                        hostile::POISON_TABLE,
                        &[hostile::POISON_ID.to_le_bytes().to_vec()],
                    )
                }),
            ];
        }
        return vec![
            Box::new(identity),
            Box::new(|| hostile::insert_rows(hostile::TABLE, &[good_row(2, "after the panic")])),
        ];
    }
    vec![Box::new(identity)]
}

async fn play(
    mut socket: WebSocketStream<TcpStream>,
    database: &str,
    first: bool,
    connection: u64,
) -> std::io::Result<()> {
    for frame in frames(database, first, connection) {
        socket
            .send(Message::Binary(frame().into()))
            .await
            .map_err(std::io::Error::other)?;
    }
    // Stay connected (ignoring whatever the client sends) until it goes away.
    while let Some(message) = socket.next().await {
        if message.is_err() {
            break;
        }
    }
    Ok(())
}
