//! Command-line configuration.

use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::path::PathBuf;
use stdb_client::ConnectOptions;

/// How the service runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (`--listen`, default `127.0.0.1:8787`).
    pub listen: SocketAddr,
    /// The SpacetimeDB server (`--spacetimedb`, default `http://127.0.0.1:3000`).
    pub spacetimedb: String,
    /// The database (`--database`, default `onepulse`).
    pub database: String,
    /// The built app to serve (`--dist DIR`); none in development.
    pub dist: Option<PathBuf>,
    /// Origins allowed by CORS (`--allow-origin`, repeatable, `*` for any; default the dev app's).
    pub allow_origins: Vec<String>,
    /// Requests a client may make at once before being limited (`--burst`, default 30).
    pub burst: f64,
    /// Requests per second a client earns back (`--per-second`, default 5).
    pub per_second: f64,
    /// Requests handled at once; more get 503 (`--max-in-flight`, default 512).
    pub max_in_flight: usize,
    /// Client connections open at once; more wait to be accepted (`--max-connections`,
    /// default 1024).
    pub max_connections: usize,
    /// Where the app is published (`--public-url https://…`): the Farcaster manifest and the
    /// page's embed tags use it.
    pub public_url: Option<String>,
    /// The Farcaster account association of the domain (`--farcaster-account-association
    /// FILE`, JSON `{header, payload, signature}`), put in the manifest as is.
    pub account_association: Option<serde_json::Value>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            spacetimedb: "http://127.0.0.1:3000".into(),
            database: "onepulse".into(),
            dist: None,
            allow_origins: vec![
                "http://127.0.0.1:8080".into(),
                "http://localhost:8080".into(),
            ],
            burst: 30.0,
            per_second: 5.0,
            max_in_flight: 512,
            max_connections: 1024,
            public_url: None,
            account_association: None,
        }
    }
}

impl Config {
    /// Parses the command line (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self> {
        let mut config = Self::default();
        let mut origins = Vec::new();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            let bad = || format!("{flag}: invalid value {value:?}");
            match flag.as_str() {
                "--listen" => config.listen = value.parse().with_context(bad)?,
                "--spacetimedb" => config.spacetimedb = value,
                "--database" => config.database = value,
                "--dist" => config.dist = Some(PathBuf::from(value)),
                "--allow-origin" => origins.push(value),
                "--burst" => config.burst = value.parse().with_context(bad)?,
                "--per-second" => config.per_second = value.parse().with_context(bad)?,
                "--max-in-flight" => config.max_in_flight = value.parse().with_context(bad)?,
                "--max-connections" => config.max_connections = value.parse().with_context(bad)?,
                "--public-url" => {
                    config.public_url = Some(
                        crate::mini_app::parse_public_url(&value).map_err(anyhow::Error::msg)?,
                    )
                }
                "--farcaster-account-association" => {
                    let text = std::fs::read_to_string(&value)
                        .with_context(|| format!("reading {value}"))?;
                    config.account_association = Some(
                        crate::mini_app::parse_account_association(&text)
                            .map_err(|e| anyhow::anyhow!("{value}: {e}"))?,
                    );
                }
                other => bail!("unknown flag {other}"),
            }
        }
        if !origins.is_empty() {
            config.allow_origins = origins;
        }
        if !(config.burst >= 1.0 && config.per_second > 0.0) {
            bail!("--burst must be at least 1 and --per-second above 0");
        }
        Ok(config)
    }

    /// How to reach the database.
    pub fn connect_options(&self) -> ConnectOptions {
        ConnectOptions::new(&self.spacetimedb, &self.database)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_flags_and_rejects_nonsense() {
        let c = Config::parse(args(
            "--listen 0.0.0.0:9000 --allow-origin https://a.example --burst 2",
        ))
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.allow_origins, ["https://a.example"]);
        assert_eq!(c.burst, 2.0);
        assert!(Config::parse(args("--listen nowhere")).is_err());
        assert!(Config::parse(args("--burst 0")).is_err());
        assert!(Config::parse(args("--what 1")).is_err());
        assert!(Config::parse(args("--dist")).is_err());
    }
}
