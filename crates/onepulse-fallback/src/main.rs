//! `onepulse-fallback [--listen ADDR] [--spacetimedb URL] [--database NAME] [--dist DIR] …`;
//! `onepulse-fallback --help` lists every flag.

use anyhow::Context;
use onepulse_fallback::{Config, serve};

fn main() {
    // On a bad command line this prints a one-line error and the usage and exits with status
    // 2; `--help`/`-h` print the help and exit 0.
    let config = Config::from_command_line(std::env::args_os()).unwrap_or_else(|e| e.exit());
    if let Err(e) = run(&config) {
        // The chain of causes on one line, never a backtrace.
        eprintln!("onepulse-fallback: error: {e:#}");
        std::process::exit(1);
    }
}

#[tokio::main]
async fn run(config: &Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    eprintln!(
        "onepulse-fallback: http://{} (database {} at {})",
        config.listen, config.database, config.spacetimedb
    );
    serve(config, listener).await?;
    Ok(())
}
