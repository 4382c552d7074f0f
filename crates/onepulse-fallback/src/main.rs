//! `onepulse-fallback [--listen ADDR] [--spacetimedb URL] [--database NAME] [--dist DIR] …`

use anyhow::Context;
use onepulse_fallback::{Config, serve};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse(std::env::args().skip(1))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    eprintln!(
        "onepulse-fallback: http://{} (database {} at {})",
        config.listen, config.database, config.spacetimedb
    );
    serve(&config, listener).await
}
