//! A hostile SpacetimeDB stand-in for the browser tests: `hostile_server --listen 127.0.0.1:PORT`.
//! `cargo xtask test` starts it and compiles its URL into the browser tests
//! (`ONEPULSE_HOSTILE_URL`); see `tests/support/hostile_server.rs` for the scenarios.

#[path = "../tests/support/hostile.rs"]
mod hostile;
#[path = "../tests/support/hostile_server.rs"]
mod hostile_server;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let listen = match (args.next().as_deref(), args.next()) {
        (Some("--listen"), Some(address)) => address,
        _ => {
            eprintln!("usage: hostile_server --listen 127.0.0.1:PORT");
            std::process::exit(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("hostile_server: cannot listen on {listen}: {e}");
            std::process::exit(1);
        }
    };
    println!("hostile_server: listening on {listen}");
    hostile_server::serve(listener).await;
}
