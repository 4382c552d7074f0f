//! The local chains and the chain watcher of `cargo xtask dev`.
//!
//! xtask does not link the chain crates (their ABI comes from the contract build xtask runs):
//! it builds and runs their binaries, `local-chain` (Hardhat nodes with DailyGM deployed) and
//! `onepulse-chain-watcher`.

use crate::process::KillOnDrop;
use crate::{paths, process};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Where `DailyGM` is on a fresh local chain: the first contract Hardhat's account #0 deploys
/// (the app's `gm_tx::LOCAL_DAILY_GM`, its default in debug builds).
pub const LOCAL_DAILY_GM: &str = "0x5fbdb2315678afecb367f032d93f642f64180aa3";

/// The first development chain's port (Base); Celo and Optimism follow. Fixed, so a browser
/// wallet can keep them as networks.
pub const FIRST_CHAIN_PORT: u16 = 8545;
/// How long the nodes may take to start and deploy.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// One running local chain, as `local-chain` announced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainInfo {
    /// The chain id.
    pub chain_id: u64,
    /// `http://127.0.0.1:PORT`.
    pub rpc_url: String,
    /// Where DailyGM is deployed.
    pub contract: String,
    /// The deployment's block.
    pub deploy_block: u64,
}

impl ChainInfo {
    /// The watcher's flag prefix for this chain.
    fn flag(&self) -> Result<&'static str> {
        match self.chain_id {
            8453 => Ok("base"),
            42220 => Ok("celo"),
            10 => Ok("optimism"),
            other => bail!("the watcher has no flags for chain {other}"),
        }
    }

    /// The chain's name.
    pub fn name(&self) -> &'static str {
        match self.chain_id {
            8453 => "Base",
            42220 => "Celo",
            10 => "Optimism",
            _ => "chain",
        }
    }
}

/// The running `local-chain` process; its nodes stop when this is dropped (it closes the
/// process's standard input, which stops the nodes, then kills it if it lingers).
pub struct LocalChains {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The chains, Base, Celo, Optimism.
    pub chains: Vec<ChainInfo>,
}

impl LocalChains {
    /// Starts the (already built) `local-chain` binary on fixed ports from
    /// [`FIRST_CHAIN_PORT`] and waits until it reports every chain ready.
    pub fn start(log_dir: &Path) -> Result<Self> {
        let mut command = Command::new(paths::target().join("debug/local-chain"));
        command
            .arg("--first-port")
            .arg(FIRST_CHAIN_PORT.to_string())
            .arg("--log-dir")
            .arg(log_dir)
            .current_dir(paths::root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        println!("xtask: $ {}", process::show(&command));
        let mut child = command.spawn().context("starting local-chain")?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .context("local-chain's standard output")?;
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut started = Self {
            child,
            stdin,
            chains: Vec::new(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match lines.recv_timeout(left) {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Timeout) => bail!(
                    "the local chains were not ready after {START_TIMEOUT:?} (logs in {})",
                    log_dir.display()
                ),
                Err(mpsc::RecvTimeoutError::Disconnected) => bail!(
                    "local-chain exited before the chains were ready (logs in {})",
                    log_dir.display()
                ),
            };
            if line.trim() == "ready" {
                return Ok(started);
            }
            started.chains.push(parse_chain(&line)?);
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for LocalChains {
    fn drop(&mut self) {
        // End of input stops the nodes; wait a little for that before killing.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && self.is_running() {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Errors mean the process is already gone.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `{"chain_id", "rpc_url", "contract", "deploy_block"}` line of `local-chain`.
fn parse_chain(line: &str) -> Result<ChainInfo> {
    let value: Value = serde_json::from_str(line)
        .with_context(|| format!("local-chain printed {line:?}, not a chain"))?;
    let text = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("local-chain's line {line:?} has no {key}"))
    };
    let number = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_u64)
            .with_context(|| format!("local-chain's line {line:?} has no {key}"))
    };
    Ok(ChainInfo {
        chain_id: number("chain_id")?,
        rpc_url: text("rpc_url")?,
        contract: text("contract")?,
        deploy_block: number("deploy_block")?,
    })
}

/// Starts the (already built) watcher on `chains`, reporting to `database` at `spacetimedb`
/// as the holder of the token in `token_file`; killed when dropped.
pub fn start_watcher(
    chains: &[ChainInfo],
    spacetimedb: &str,
    database: &str,
    token_file: &Path,
) -> Result<KillOnDrop> {
    let mut command = Command::new(paths::target().join("debug/onepulse-chain-watcher"));
    command
        .args(["--spacetimedb", spacetimedb, "--database", database])
        .arg("--token-file")
        .arg(token_file)
        // Local chains do not reorganise: report at once, and look often.
        .args(["--confirmations", "0", "--poll-interval-ms", "200"])
        .current_dir(paths::root())
        .stdin(Stdio::null());
    for chain in chains {
        let flag = chain.flag()?;
        command
            .arg(format!("--{flag}-rpc"))
            .arg(&chain.rpc_url)
            .arg(format!("--{flag}-contract"))
            .arg(&chain.contract)
            .arg(format!("--{flag}-start-block"))
            .arg(chain.deploy_block.to_string());
    }
    println!("xtask: $ {}", process::show(&command));
    Ok(KillOnDrop(
        command.spawn().context("starting the chain watcher")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_local_chains_lines() {
        let chain = parse_chain(
            r#"{"chain_id":8453,"contract":"0x5fbdb2315678afecb367f032d93f642f64180aa3","deploy_block":1,"rpc_url":"http://127.0.0.1:8545"}"#,
        )
        .unwrap();
        assert_eq!(chain.chain_id, 8453);
        assert_eq!(chain.rpc_url, "http://127.0.0.1:8545");
        assert_eq!(chain.deploy_block, 1);
        assert_eq!(chain.flag().unwrap(), "base");
        for bad in ["", "ready?", "{}", r#"{"chain_id":"8453"}"#] {
            assert!(parse_chain(bad).is_err(), "{bad}");
        }
    }
}
