//! The command line (`clap`), checked while parsing: a bad value is refused naming its flag.

use crate::database::MAX_CHAIN_GMS;
use clap::Parser;
use onepulse_domain::Chain;
use onepulse_evm::Address;
use std::path::PathBuf;
use std::time::Duration;

/// How the watcher runs: `onepulse-chain-watcher [OPTIONS] --token-file FILE`.
///
/// The field docs are the flags' help texts.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(
    name = "onepulse-chain-watcher",
    version,
    about = "Follows the DailyGM contract on Base, Celo and Optimism and reports every GM to \
             OnePulse's SpacetimeDB as a reporter (reducer report_chain_gms), resuming from a \
             cursor per chain kept in the database.",
    long_about = None,
    after_help = "Several watchers may report to one database at once (replays change nothing, \
                  the cursors only move forward), but they must share each chain's start block \
                  and --confirmations: the first report of a chain sets where its cursor starts, \
                  and a watcher with fewer confirmations reports blocks the others would still \
                  hold back.\n\nEach chain is followed on its own: a chain whose node fails, \
                  or whose batch the database refuses, is retried with backoff (and logged) \
                  while the others go on. A refused batch holds its chain back until the cause \
                  is fixed (e.g. the identity is made a reporter): no GM is ever skipped."
)]
pub struct Config {
    /// Base (8453): a JSON-RPC node's URL (http:// or https://). Base is watched when given;
    /// --base-contract is then required.
    #[arg(long, value_name = "URL", value_parser = parse_rpc_url, requires = "base_contract")]
    pub base_rpc: Option<String>,
    /// Base: the DailyGM contract's address (0x + 40 hex digits).
    #[arg(long, value_name = "ADDRESS", value_parser = parse_contract, requires = "base_rpc")]
    pub base_contract: Option<Address>,
    /// Base: the block to start from while the database has no cursor for Base (the contract's
    /// deployment block).
    #[arg(long, value_name = "BLOCK", default_value_t = 0)]
    pub base_start_block: u64,

    /// Celo (42220): a JSON-RPC node's URL. Celo is watched when given; --celo-contract is
    /// then required.
    #[arg(long, value_name = "URL", value_parser = parse_rpc_url, requires = "celo_contract")]
    pub celo_rpc: Option<String>,
    /// Celo: the DailyGM contract's address.
    #[arg(long, value_name = "ADDRESS", value_parser = parse_contract, requires = "celo_rpc")]
    pub celo_contract: Option<Address>,
    /// Celo: the block to start from while the database has no cursor for Celo.
    #[arg(long, value_name = "BLOCK", default_value_t = 0)]
    pub celo_start_block: u64,

    /// Optimism (10): a JSON-RPC node's URL. Optimism is watched when given;
    /// --optimism-contract is then required.
    #[arg(long, value_name = "URL", value_parser = parse_rpc_url, requires = "optimism_contract")]
    pub optimism_rpc: Option<String>,
    /// Optimism: the DailyGM contract's address.
    #[arg(long, value_name = "ADDRESS", value_parser = parse_contract, requires = "optimism_rpc")]
    pub optimism_contract: Option<Address>,
    /// Optimism: the block to start from while the database has no cursor for Optimism.
    #[arg(long, value_name = "BLOCK", default_value_t = 0)]
    pub optimism_start_block: u64,

    /// Blocks that must be on top of a GM's block before it is reported: a GM in block B is
    /// reported once the head is B + N, so reorganisations up to N blocks deep never reach the
    /// database (0: report at once).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub confirmations: u64,

    /// How often each node is asked for its newest block while caught up, in milliseconds.
    /// A GM waits for the next poll, so this bounds the time from a GM's block to its report
    /// (the default keeps "mined → streak on screen" under a second on loopback with no extra
    /// confirmations: about this much plus ~0.1 s).
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 500,
        value_parser = clap::value_parser!(u64).range(10..=600_000)
    )]
    pub poll_interval_ms: u64,

    /// Most blocks read with one eth_getLogs. When a read fails (e.g. a provider's range or
    /// result limit) the range is halved, down to one block, and grows back after successes.
    /// Blocks within 64 of the head are read one at a time, by block hash.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u64).range(1..=1_000_000)
    )]
    pub max_blocks: u64,

    /// Most GMs reported in one transaction (report_chain_gms); a block with more is reported
    /// over several (the cursor is a block and a log index).
    #[arg(
        long,
        value_name = "N",
        default_value_t = MAX_CHAIN_GMS,
        value_parser = parse_max_gms
    )]
    pub max_gms: usize,

    /// How long one JSON-RPC call may take before it counts as failed, in milliseconds.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(100..=600_000)
    )]
    pub rpc_timeout_ms: u64,

    /// Largest JSON-RPC answer read, in MiB: a larger one (an eth_getLogs over many blocks
    /// with many GMs) is refused and the next range is half as long. A call holds about twice
    /// this much memory at most.
    #[arg(
        long,
        value_name = "MIB",
        default_value_t = 16,
        value_parser = clap::value_parser!(u64).range(1..=1024)
    )]
    pub max_answer_mib: u64,

    /// The SpacetimeDB server (http://, https://, ws:// or wss://).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:3000", value_parser = parse_spacetimedb_url)]
    pub spacetimedb: String,

    /// The database (module) name.
    #[arg(long, value_name = "NAME", default_value = "onepulse", value_parser = parse_database)]
    pub database: String,

    /// A file holding the token of the identity to report as (its whole content, trimmed).
    /// The module owner must have made that identity a reporter (reducer add_reporter).
    #[arg(long, value_name = "FILE")]
    pub token_file: PathBuf,
}

/// One chain to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainWatch {
    /// The chain.
    pub chain: Chain,
    /// The node's JSON-RPC URL.
    pub rpc_url: String,
    /// The DailyGM contract.
    pub contract: Address,
    /// Where to start while the database has no cursor for this chain.
    pub start_block: u64,
}

/// How every chain is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// See [`Config::confirmations`].
    pub confirmations: u64,
    /// See [`Config::poll_interval_ms`].
    pub poll_interval: Duration,
    /// See [`Config::max_blocks`].
    pub max_blocks: u64,
    /// See [`Config::max_gms`].
    pub max_gms: usize,
    /// See [`Config::rpc_timeout_ms`].
    pub rpc_timeout: Duration,
    /// See [`Config::max_answer_mib`] (here in bytes).
    pub max_answer_bytes: u64,
}

impl Config {
    /// The chains to watch, Base, Celo, Optimism in that order (those with an RPC URL).
    pub fn chains(&self) -> Vec<ChainWatch> {
        [
            (
                Chain::Base,
                &self.base_rpc,
                self.base_contract,
                self.base_start_block,
            ),
            (
                Chain::Celo,
                &self.celo_rpc,
                self.celo_contract,
                self.celo_start_block,
            ),
            (
                Chain::Optimism,
                &self.optimism_rpc,
                self.optimism_contract,
                self.optimism_start_block,
            ),
        ]
        .into_iter()
        .filter_map(|(chain, rpc, contract, start_block)| {
            Some(ChainWatch {
                chain,
                rpc_url: rpc.clone()?,
                contract: contract?,
                start_block,
            })
        })
        .collect()
    }

    /// The settings shared by every chain.
    pub fn settings(&self) -> Settings {
        Settings {
            confirmations: self.confirmations,
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            max_blocks: self.max_blocks,
            max_gms: self.max_gms,
            rpc_timeout: Duration::from_millis(self.rpc_timeout_ms),
            max_answer_bytes: self.max_answer_mib.saturating_mul(1024 * 1024),
        }
    }

    /// Parses a command line (`args`, the program name first); a refusal names the flag, and
    /// a command line without any chain is refused too.
    pub fn from_command_line<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let config = Self::try_parse_from(args)?;
        if config.chains().is_empty() {
            let mut command = <Self as clap::CommandFactory>::command();
            return Err(command.error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "no chain to watch: give at least one of --base-rpc, --celo-rpc, --optimism-rpc \
                 (each with its --…-contract)",
            ));
        }
        Ok(config)
    }
}

fn parse_rpc_url(value: &str) -> Result<String, String> {
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"))
        .ok_or_else(|| format!("{value:?} is not an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("{value:?} has no host"));
    }
    Ok(value.to_owned())
}

fn parse_max_gms(value: &str) -> Result<usize, String> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_CHAIN_GMS).contains(n))
        .ok_or_else(|| format!("{value:?} is not a number from 1 to {MAX_CHAIN_GMS}"))
}

fn parse_contract(value: &str) -> Result<Address, String> {
    let digits = value
        .strip_prefix("0x")
        .ok_or_else(|| format!("{value:?} is not 0x followed by 40 hex digits"))?;
    if digits.len() != 40 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("{value:?} is not 0x followed by 40 hex digits"));
    }
    value
        .parse::<Address>()
        .map_err(|e| format!("{value:?} is not an address: {e}"))
}

fn parse_spacetimedb_url(value: &str) -> Result<String, String> {
    let rest = ["http://", "https://", "ws://", "wss://"]
        .iter()
        .find_map(|scheme| value.strip_prefix(scheme))
        .ok_or_else(|| format!("{value:?} is not an http://, https://, ws:// or wss:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("{value:?} has no host"));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

fn parse_database(value: &str) -> Result<String, String> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{value:?} is not a database name (letters, digits, - and _)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    const CONTRACT: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

    fn parse(line: &str) -> Result<Config, clap::Error> {
        Config::from_command_line(
            ["onepulse-chain-watcher", "--token-file", "t"]
                .into_iter()
                .chain(line.split_whitespace()),
        )
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Config::command().debug_assert();
    }

    #[test]
    fn chains_are_those_with_an_rpc_url_in_a_fixed_order() {
        let config = parse(&format!(
            "--optimism-rpc http://127.0.0.1:3 --optimism-contract {CONTRACT} \
             --base-rpc https://base.example --base-contract {CONTRACT} --base-start-block 7"
        ))
        .unwrap();
        let chains = config.chains();
        assert_eq!(chains.len(), 2);
        assert_eq!(chains[0].chain, Chain::Base);
        assert_eq!(chains[0].start_block, 7);
        assert_eq!(chains[0].rpc_url, "https://base.example");
        assert_eq!(chains[1].chain, Chain::Optimism);
        assert_eq!(chains[1].start_block, 0);
        assert_eq!(chains[1].contract, CONTRACT.parse::<Address>().unwrap());
        assert_eq!(
            config.settings(),
            Settings {
                confirmations: 3,
                poll_interval: Duration::from_millis(500),
                max_blocks: 1000,
                max_gms: 5000,
                rpc_timeout: Duration::from_millis(10_000),
                max_answer_bytes: 16 * 1024 * 1024,
            }
        );
        assert_eq!(config.spacetimedb, "http://127.0.0.1:3000");
        assert_eq!(config.database, "onepulse");
    }

    #[test]
    fn bad_command_lines_are_refused_naming_the_flag() {
        let base = format!("--base-rpc http://127.0.0.1:1 --base-contract {CONTRACT}");
        let cases = [
            ("", ErrorKind::MissingRequiredArgument, "no chain to watch"),
            (
                "--base-rpc http://127.0.0.1:1",
                ErrorKind::MissingRequiredArgument,
                "--base-contract",
            ),
            (
                &*format!("--celo-contract {CONTRACT}"),
                ErrorKind::MissingRequiredArgument,
                "--celo-rpc",
            ),
            (
                "--base-rpc ftp://x --base-contract 0x1",
                ErrorKind::ValueValidation,
                "--base-rpc",
            ),
            (
                "--base-rpc http:// --base-contract 0x1",
                ErrorKind::ValueValidation,
                "has no host",
            ),
            (
                "--base-rpc http://h --base-contract 0x12",
                ErrorKind::ValueValidation,
                "--base-contract",
            ),
            (
                &*format!("{base} --poll-interval-ms 1"),
                ErrorKind::ValueValidation,
                "--poll-interval-ms",
            ),
            (
                &*format!("{base} --max-blocks 0"),
                ErrorKind::ValueValidation,
                "--max-blocks",
            ),
            (
                &*format!("{base} --max-gms 0"),
                ErrorKind::ValueValidation,
                "--max-gms",
            ),
            (
                &*format!("{base} --max-gms 5001"),
                ErrorKind::ValueValidation,
                "from 1 to 5000",
            ),
            (
                &*format!("{base} --confirmations -1"),
                ErrorKind::UnknownArgument,
                "-1",
            ),
            (
                &*format!("{base} --spacetimedb localhost:3000"),
                ErrorKind::ValueValidation,
                "--spacetimedb",
            ),
            (
                &*format!("{base} --database a/b"),
                ErrorKind::ValueValidation,
                "--database",
            ),
            (
                &*format!("{base} --chain 8453"),
                ErrorKind::UnknownArgument,
                "--chain",
            ),
        ];
        for (line, kind, named) in cases {
            match parse(line) {
                Ok(config) => panic!("{line:?} was accepted: {config:?}"),
                Err(e) => {
                    let message = e.render().to_string();
                    assert_eq!(e.kind(), kind, "{line}: {message}");
                    assert!(message.contains(named), "{line}: {message}");
                }
            }
        }
        // The token file is required.
        let without_token =
            Config::try_parse_from(["onepulse-chain-watcher", "--base-rpc", "http://h"]);
        assert!(without_token.is_err());
    }

    #[test]
    fn help_documents_every_flag() {
        let mut command = Config::command();
        for arg in command.get_arguments() {
            assert!(arg.get_help().is_some(), "--{} has no help", arg.get_id());
        }
        let help = command.render_help().to_string();
        for flag in [
            "--base-rpc <URL>",
            "--base-contract <ADDRESS>",
            "--base-start-block <BLOCK>",
            "--celo-rpc <URL>",
            "--optimism-rpc <URL>",
            "--confirmations <N>",
            "--poll-interval-ms <MS>",
            "--max-blocks <N>",
            "--max-gms <N>",
            "--rpc-timeout-ms <MS>",
            "--spacetimedb <URL>",
            "--database <NAME>",
            "--token-file <FILE>",
            "[default: 3]",
            "[default: 5000]",
            "must share each chain's start block and --confirmations",
            "halved, down to one block",
        ] {
            assert!(help.contains(flag), "{flag} missing:\n{help}");
        }
    }
}
