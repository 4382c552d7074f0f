//! Configuration, and the command line (`clap`) that fills it.
//!
//! Every flag's checks run while parsing, so a bad value is refused with the flag's name, the
//! value and what is wrong, before anything starts.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};
use ipnet::IpNet;
use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use stdb_client::ConnectOptions;

/// How the service runs: `onepulse-fallback [OPTIONS]`.
///
/// Build it with [`Config::default`] and struct update syntax in code, or from a command line
/// with [`Config::from_command_line`] (or the [`clap::Parser`] methods); the defaults are the
/// same both ways. The field docs are the flags' help texts.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(
    name = "onepulse-fallback",
    version,
    about = "OnePulse's fallback HTTP service: GET /api/gm/stats answered from a live \
             SpacetimeDB subscription, GET /healthz, and in production the built app.",
    long_about = None
)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(
        long,
        value_name = "ADDR",
        default_value_t = Config::default().listen,
        value_parser = parse_listen
    )]
    pub listen: SocketAddr,

    /// The SpacetimeDB server (http://, https://, ws:// or wss://).
    #[arg(
        long,
        value_name = "URL",
        default_value_t = Config::default().spacetimedb,
        value_parser = parse_spacetimedb_url
    )]
    pub spacetimedb: String,

    /// The database (module) name.
    #[arg(
        long,
        value_name = "NAME",
        default_value_t = Config::default().database,
        value_parser = parse_database
    )]
    pub database: String,

    /// The built app (`trunk build --release` output) to serve; none in development.
    #[arg(long, value_name = "DIR")]
    pub dist: Option<PathBuf>,

    /// An origin allowed by CORS (`https://host[:port]`, or `*` for any); repeat the flag for
    /// several. Given at least once, it replaces the default (the development app's origins).
    #[arg(
        long = "allow-origin",
        value_name = "ORIGIN",
        default_values_t = Config::default().allow_origins,
        value_parser = parse_origin
    )]
    pub allow_origins: Vec<String>,

    /// Requests a client may make at once before being rate limited (at least 1).
    #[arg(
        long,
        value_name = "N",
        default_value_t = Config::default().burst,
        value_parser = parse_burst
    )]
    pub burst: f64,

    /// Requests per second a rate-limited client earns back (from 0.001, one every 1000 s, to
    /// 1000000).
    #[arg(
        long,
        value_name = "R",
        default_value_t = Config::default().per_second,
        value_parser = parse_per_second
    )]
    pub per_second: f64,

    /// A reverse proxy in front of the service (an IP address, or a CIDR range such as
    /// 10.0.0.0/8 or fd00::/8); repeat the flag for several. A request whose TCP peer is one
    /// is rate limited as the right-most X-Forwarded-For address that is not a trusted proxy
    /// (the proxy must append the address it was connected from); from any other peer the
    /// header is ignored. Without it every request counts as its TCP peer's.
    #[arg(
        long = "trusted-proxy",
        value_name = "CIDR",
        value_parser = parse_trusted_proxy
    )]
    pub trusted_proxies: Vec<IpNet>,

    /// Clients the rate limiter remembers at once, about 110 bytes each (at least 1). When it
    /// is full, a new client replaces the least recently seen one if that one's bucket has
    /// refilled; otherwise new clients share one overflow bucket (same burst and rate).
    #[arg(
        long,
        value_name = "N",
        default_value_t = Config::default().max_tracked_clients,
        value_parser = parse_count
    )]
    pub max_tracked_clients: usize,

    /// Requests handled at once; more are answered 503 (at least 1).
    #[arg(
        long,
        value_name = "N",
        default_value_t = Config::default().max_in_flight,
        value_parser = parse_count
    )]
    pub max_in_flight: usize,

    /// Client connections open at once; more wait to be accepted (at least 1).
    #[arg(
        long,
        value_name = "N",
        default_value_t = Config::default().max_connections,
        value_parser = parse_count
    )]
    pub max_connections: usize,

    /// MiB the service's copy of the table may take, and one frame of it once inflated (the
    /// whole table arrives in one frame when it subscribes): from 1 to 65536. The default,
    /// 1024, holds about 1.6 million rows; the runtime's browser defaults (32 MiB frames) would
    /// refuse the table past about 200 000 rows.
    #[arg(
        long,
        value_name = "MIB",
        default_value_t = Config::default().max_table_mib,
        value_parser = parse_table_mib
    )]
    pub max_table_mib: usize,

    /// Where the app is published (`https://host[/path]`; `http://` only for localhost): the
    /// Farcaster manifest at /.well-known/farcaster.json and the page's embed tags use it.
    #[arg(long, value_name = "URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// The domain's Farcaster account association: a JSON file with the strings `header`,
    /// `payload` and `signature`, put in the manifest as is (without it, the manifest has none).
    #[arg(
        long = "farcaster-account-association",
        value_name = "FILE",
        value_parser = read_account_association
    )]
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
            trusted_proxies: Vec::new(),
            max_tracked_clients: crate::rate_limit::DEFAULT_MAX_CLIENTS,
            max_in_flight: 512,
            max_connections: 1024,
            max_table_mib: 1024,
            public_url: None,
            account_association: None,
        }
    }
}

impl Config {
    /// Parses a command line (`args`, the program name first) as [`Parser::try_parse_from`]
    /// does, but every refusal also shows the usage (clap shows it for unknown flags only):
    /// `error.exit()` prints a one-line error and the usage and exits with status 2, or prints
    /// the help (`--help`, `-h`) or version (`--version`) and exits 0.
    pub fn from_command_line<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        Self::try_parse_from(args).map_err(|mut error| {
            let shown = matches!(
                error.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            );
            if !shown && error.get(ContextKind::Usage).is_none() {
                let usage = Self::command().render_usage();
                error.insert(ContextKind::Usage, ContextValue::StyledStr(usage));
            }
            error
        })
    }

    /// How to reach the database.
    pub fn connect_options(&self) -> ConnectOptions {
        let mut options = ConnectOptions::new(&self.spacetimedb, &self.database);
        let bytes = self.max_table_mib.saturating_mul(1 << 20);
        options.max_frame_bytes = bytes;
        options.max_cache_bytes = bytes;
        options
    }
}

/// `--listen`: an IP address and a port.
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| "expected IP:PORT, such as 0.0.0.0:8787 or [::]:8787".to_owned())
}

/// `--max-in-flight`, `--max-connections`: a whole number, at least 1.
/// `--max-table-mib`: 1 to 65536.
fn parse_table_mib(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n @ 1..=65536) => Ok(n),
        Ok(_) => Err("must be from 1 to 65536".into()),
        Err(_) => Err("not a whole number".into()),
    }
}

fn parse_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("not a whole number".into()),
    }
}

/// `--spacetimedb`: a URL with one of the schemes the runtime speaks and a host.
fn parse_spacetimedb_url(text: &str) -> Result<String, String> {
    let rest = ["http://", "https://", "ws://", "wss://"]
        .iter()
        .find_map(|scheme| text.strip_prefix(scheme))
        .ok_or("must start with http://, https://, ws:// or wss://")?;
    if rest.split('/').next().unwrap_or_default().is_empty() {
        return Err("has no host".into());
    }
    if text.chars().any(char::is_whitespace) {
        return Err("must not contain spaces".into());
    }
    Ok(text.to_owned())
}

/// `--database`: not empty.
fn parse_database(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(text.to_owned())
}

/// `--allow-origin`: `*`, or an origin as browsers send it (`scheme://host[:port]`, nothing
/// after), which a CORS answer can only match exactly.
fn parse_origin(text: &str) -> Result<String, String> {
    if text == "*" {
        return Ok(text.to_owned());
    }
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or("must be * or start with https:// or http://")?;
    if rest.is_empty() {
        return Err("has no host".into());
    }
    if rest.contains('/') {
        return Err("must be scheme://host[:port] with no path, not even a trailing /".into());
    }
    if !text.chars().all(|c| c.is_ascii_graphic()) {
        return Err("must be plain ASCII without spaces".into());
    }
    Ok(text.to_owned())
}

/// A finite number.
fn parse_number(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(n),
        _ => Err("not a number".into()),
    }
}

/// `--burst`: at least 1.
fn parse_burst(text: &str) -> Result<f64, String> {
    let n = parse_number(text)?;
    if n < 1.0 {
        return Err("must be at least 1".into());
    }
    Ok(n)
}

/// The range of `--per-second`: slow enough for any use (one request per 1000 s), and no rate
/// so small that a wait would not fit a `Duration` or a `Retry-After`.
const PER_SECOND_RANGE: std::ops::RangeInclusive<f64> = 0.001..=1_000_000.0;

/// `--per-second`: within [`PER_SECOND_RANGE`].
fn parse_per_second(text: &str) -> Result<f64, String> {
    let n = parse_number(text)?;
    if !PER_SECOND_RANGE.contains(&n) {
        return Err(format!(
            "must be from {} to {}",
            PER_SECOND_RANGE.start(),
            PER_SECOND_RANGE.end()
        ));
    }
    Ok(n)
}

/// `--trusted-proxy`: an IP address (one machine) or a CIDR range with nothing set after the
/// prefix, not everything (`/0` would let any client name its own address).
fn parse_trusted_proxy(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let address: IpAddr = address.parse().map_err(|_| {
        format!("{address:?} is not an IP address: expected an address or a CIDR range such as 10.0.0.0/8 or fd00::/8")
    })?;
    if let IpAddr::V6(v6) = address
        && let Some(v4) = v6.to_ipv4_mapped()
    {
        return Err(format!(
            "write the IPv4-mapped address {address} as IPv4 ({v4}): IPv4 peers are compared as IPv4"
        ));
    }
    let max = if address.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => {
                return Err(format!(
                    "the prefix length {p:?} must be a number from 1 to {max}"
                ));
            }
        },
    };
    if prefix == 0 {
        return Err(
            "a /0 range trusts every address, so any client could choose its own rate limit bucket"
                .into(),
        );
    }
    let net = IpNet::new(address, prefix).map_err(|e| format!("not a CIDR range: {e}"))?;
    if net.trunc() != net {
        return Err(format!(
            "{net} has address bits set after the /{prefix} prefix: write {} (or the address alone for one machine)",
            net.trunc()
        ));
    }
    Ok(net)
}

/// `--public-url`: see [`crate::mini_app::parse_public_url`].
fn parse_public_url(text: &str) -> Result<String, String> {
    crate::mini_app::parse_public_url(text)
}

/// `--farcaster-account-association FILE`: the file read and checked.
fn read_account_association(path: &str) -> Result<serde_json::Value, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read the file {path}: {e}"))?;
    crate::mini_app::parse_account_association(&text).map_err(|e| format!("{path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Config, clap::Error> {
        Config::from_command_line(
            std::iter::once("onepulse-fallback").chain(line.split_whitespace()),
        )
    }

    /// The error for `line`, rendered as the binary prints it (without colours).
    fn error(line: &str) -> (ErrorKind, String) {
        match parse(line) {
            Ok(config) => panic!("{line:?} was accepted: {config:?}"),
            Err(e) => (e.kind(), e.render().to_string()),
        }
    }

    #[test]
    fn the_command_is_well_formed() {
        Config::command().debug_assert();
    }

    #[test]
    fn no_flags_give_the_default_config() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn every_flag_is_read() {
        let dir =
            std::env::temp_dir().join(format!("onepulse-fallback-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let association = dir.join("association.json");
        std::fs::write(
            &association,
            r#"{"header":"h","payload":"p","signature":"s","extra":1}"#,
        )
        .unwrap();
        let c = parse(&format!(
            "--listen 0.0.0.0:9000 --spacetimedb wss://db.example/ --database other \
             --dist dist --allow-origin https://a.example --allow-origin http://b.example:81 \
             --burst 2 --per-second 0.5 --max-in-flight 7 --max-connections 8 \
             --trusted-proxy 10.0.0.0/8 --trusted-proxy 2001:db8::/32 --trusted-proxy 192.0.2.7 \
             --max-tracked-clients 9 --max-table-mib 2048 \
             --public-url https://onepulse.example/ --farcaster-account-association {}",
            association.display()
        ))
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            c,
            Config {
                listen: "0.0.0.0:9000".parse().unwrap(),
                spacetimedb: "wss://db.example/".into(),
                database: "other".into(),
                dist: Some("dist".into()),
                allow_origins: vec!["https://a.example".into(), "http://b.example:81".into()],
                burst: 2.0,
                per_second: 0.5,
                trusted_proxies: vec![
                    "10.0.0.0/8".parse().unwrap(),
                    "2001:db8::/32".parse().unwrap(),
                    "192.0.2.7/32".parse().unwrap(),
                ],
                max_tracked_clients: 9,
                max_in_flight: 7,
                max_connections: 8,
                max_table_mib: 2048,
                public_url: Some("https://onepulse.example".into()),
                account_association: Some(
                    serde_json::json!({"header":"h","payload":"p","signature":"s"})
                ),
            }
        );
        assert_eq!(parse("--allow-origin *").unwrap().allow_origins, ["*"]);
        assert_eq!(parse("--listen=[::1]:1").unwrap().listen.port(), 1);
        assert_eq!(parse("--per-second 0.001").unwrap().per_second, 0.001);
        assert_eq!(parse("--per-second 1e6").unwrap().per_second, 1e6);
        let options = parse("--max-table-mib 65536").unwrap().connect_options();
        assert_eq!(
            (options.max_frame_bytes, options.max_cache_bytes),
            (64 << 30, 64 << 30)
        );
    }

    #[test]
    fn help_and_version_are_not_errors_of_the_command_line() {
        let (kind, help) = error("--help");
        assert_eq!(kind, ErrorKind::DisplayHelp);
        for flag in [
            "--listen",
            "--spacetimedb",
            "--database",
            "--dist",
            "--allow-origin",
            "--burst",
            "--per-second",
            "--trusted-proxy",
            "--max-tracked-clients",
            "--max-in-flight",
            "--max-connections",
            "--public-url",
            "--farcaster-account-association",
        ] {
            assert!(help.contains(flag), "{flag} missing from the help:\n{help}");
        }
        assert!(help.contains("[default: 127.0.0.1:8787]"), "{help}");
        assert!(!help.starts_with("error"), "{help}");
        assert_eq!(error("-h").0, ErrorKind::DisplayHelp);
        assert_eq!(error("--version").0, ErrorKind::DisplayVersion);
    }

    #[test]
    fn every_flag_has_a_help_text() {
        for arg in Config::command().get_arguments() {
            assert!(arg.get_help().is_some(), "--{} has no help", arg.get_id());
        }
    }

    #[test]
    fn bad_values_are_refused_naming_the_flag_and_the_problem() {
        let cases = [
            ("--listen nowhere", "--listen", "expected IP:PORT"),
            ("--listen 8787", "--listen", "expected IP:PORT"),
            (
                "--spacetimedb 127.0.0.1:3000",
                "--spacetimedb",
                "must start with",
            ),
            ("--spacetimedb http://", "--spacetimedb", "has no host"),
            ("--database=", "--database", "must not be empty"),
            (
                "--allow-origin https://a.example/",
                "--allow-origin",
                "no path",
            ),
            ("--allow-origin a.example", "--allow-origin", "must be *"),
            ("--burst 0", "--burst", "must be at least 1"),
            ("--burst 0.5", "--burst", "must be at least 1"),
            ("--burst NaN", "--burst", "not a number"),
            (
                "--per-second 0",
                "--per-second",
                "must be from 0.001 to 1000000",
            ),
            (
                "--per-second=-1",
                "--per-second",
                "must be from 0.001 to 1000000",
            ),
            ("--per-second 1e-300", "--per-second", "must be from 0.001"),
            ("--per-second 0.0009", "--per-second", "must be from 0.001"),
            ("--per-second 1e7", "--per-second", "to 1000000"),
            ("--per-second inf", "--per-second", "not a number"),
            (
                "--max-table-mib 0",
                "--max-table-mib",
                "must be from 1 to 65536",
            ),
            (
                "--max-table-mib 65537",
                "--max-table-mib",
                "must be from 1 to 65536",
            ),
            (
                "--max-table-mib 1.5",
                "--max-table-mib",
                "not a whole number",
            ),
            (
                "--trusted-proxy proxy.example",
                "--trusted-proxy",
                "is not an IP address",
            ),
            (
                "--trusted-proxy 10.0.0.0/33",
                "--trusted-proxy",
                "from 1 to 32",
            ),
            (
                "--trusted-proxy 10.0.0.0/x",
                "--trusted-proxy",
                "from 1 to 32",
            ),
            (
                "--trusted-proxy fd00::/129",
                "--trusted-proxy",
                "from 1 to 128",
            ),
            (
                "--trusted-proxy 0.0.0.0/0",
                "--trusted-proxy",
                "trusts every address",
            ),
            (
                "--trusted-proxy ::/0",
                "--trusted-proxy",
                "trusts every address",
            ),
            (
                "--trusted-proxy ::ffff:10.0.0.1",
                "--trusted-proxy",
                "as IPv4 (10.0.0.1)",
            ),
            (
                "--trusted-proxy 10.0.0.1/8",
                "--trusted-proxy",
                "write 10.0.0.0/8",
            ),
            (
                "--max-tracked-clients 0",
                "--max-tracked-clients",
                "must be at least 1",
            ),
            ("--max-in-flight 0", "--max-in-flight", "must be at least 1"),
            (
                "--max-in-flight 1.5",
                "--max-in-flight",
                "not a whole number",
            ),
            (
                "--max-connections=-1",
                "--max-connections",
                "not a whole number",
            ),
            (
                "--public-url http://x.example",
                "--public-url",
                "must start with https://",
            ),
            (
                "--farcaster-account-association /nonexistent/onepulse.json",
                "--farcaster-account-association",
                "cannot read the file /nonexistent/onepulse.json",
            ),
        ];
        for (line, flag, problem) in cases {
            let (kind, message) = error(line);
            assert_eq!(kind, ErrorKind::ValueValidation, "{line}: {message}");
            let first = message.lines().next().unwrap_or_default();
            assert!(
                first.starts_with("error: invalid value"),
                "{line}: {message}"
            );
            assert!(first.contains(flag), "{line}: {message}");
            assert!(first.contains(problem), "{line}: {message}");
            assert!(
                message.contains("\nUsage: onepulse-fallback [OPTIONS]\n"),
                "{line}: {message}"
            );
        }
    }

    #[test]
    fn a_bad_account_association_file_is_named_with_the_problem() {
        let path = std::env::temp_dir().join(format!(
            "onepulse-fallback-bad-association-{}.json",
            std::process::id()
        ));
        std::fs::write(&path, r#"{"header":"h","payload":"p"}"#).unwrap();
        let result = parse(&format!(
            "--farcaster-account-association {}",
            path.display()
        ));
        std::fs::remove_file(&path).unwrap();
        let message = result.unwrap_err().render().to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("\"signature\""), "{message}");
    }

    #[test]
    fn unknown_flags_and_missing_values_are_refused() {
        let (kind, message) = error("--what 1");
        assert_eq!(kind, ErrorKind::UnknownArgument);
        assert!(message.contains("'--what'"), "{message}");
        assert!(message.contains("Usage: onepulse-fallback"), "{message}");
        for line in ["--dist", "stray", "--burst 2 --burst 3"] {
            let (kind, message) = error(line);
            assert_ne!(kind, ErrorKind::DisplayHelp, "{line}");
            assert!(message.starts_with("error: "), "{line}: {message}");
            assert!(
                message.contains("Usage: onepulse-fallback"),
                "{line}: {message}"
            );
        }
        let usage_lines = error("--what 1").1.matches("Usage:").count();
        assert_eq!(usage_lines, 1, "the usage once, not twice");
    }
}
