//! The test Farcaster host (`e2e/farcaster-host`, built from `@farcaster/miniapp-host` by
//! `cargo xtask test`), served on `localhost` so that it is another origin than the app on
//! `127.0.0.1`, as a real Farcaster client is. Its wallet is Hardhat's well-known account #0;
//! given a local chain's RPC URL it sends that chain's transactions to the node.

use std::path::PathBuf;
use tokio::task::JoinHandle;
use tower_http::services::ServeDir;

/// The host's test wallet (a publicly known key: never for anything real).
pub const HOST_WALLET: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
/// The Farcaster user the host's context gives.
pub const HOST_FID: i64 = 12345;
/// That user's username.
pub const HOST_USERNAME: &str = "alice";

/// The host page's server; stops on drop.
pub struct FarcasterHost {
    base: String,
    task: JoinHandle<()>,
}

impl FarcasterHost {
    /// Serves `ONEPULSE_FARCASTER_HOST` (set by `cargo xtask test`) on a free loopback port.
    pub async fn start() -> Self {
        let dir = PathBuf::from(std::env::var("ONEPULSE_FARCASTER_HOST").unwrap_or_else(|_| {
            panic!("ONEPULSE_FARCASTER_HOST is not set: run the end-to-end tests with `cargo xtask test`")
        }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("a loopback port for the host page");
        let port = listener.local_addr().expect("its address").port();
        let app = axum::Router::new().fallback_service(ServeDir::new(dir));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Self {
            base: format!("http://localhost:{port}"),
            task,
        }
    }

    /// The host page embedding `app_url`.
    pub fn url(&self, app_url: &str) -> String {
        self.url_with(app_url, &[])
    }

    /// The host page embedding `app_url`, with more of the host's query parameters (e.g.
    /// `rpc8453` → a local chain's RPC URL for the wallet, `tx` → `reject`).
    pub fn url_with(&self, app_url: &str, params: &[(String, String)]) -> String {
        let mut url = format!("{}/host.html?app={}", self.base, encode(app_url));
        for (key, value) in params {
            url.push_str(&format!("&{}={}", encode(key), encode(value)));
        }
        url
    }
}

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    let mut encoded = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                encoded.push(byte as char)
            }
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded
}

impl Drop for FarcasterHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}
