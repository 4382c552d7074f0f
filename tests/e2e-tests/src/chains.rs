//! The chain side of a test: local chains (`tools/local-chain`: Hardhat nodes on loopback with
//! `DailyGM` deployed from Hardhat's account #0, the Farcaster host's test wallet) and the real
//! chain watcher binary (`ONEPULSE_CHAIN_WATCHER_BIN`, built by `cargo xtask`) reporting their
//! GMs to the test's SpacetimeDB as a reporter of its own.

use crate::Stack;
use local_chain::LocalChain;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::task::block_in_place;

/// Base, Celo, Optimism.
pub const BASE: u64 = 8453;
/// Celo's chain id.
pub const CELO: u64 = 42220;
/// Optimism's chain id.
pub const OPTIMISM: u64 = 10;

/// Where the release app under test sends GMs on every chain (`cargo xtask` builds it with
/// `ONEPULSE_DAILY_GM_*` set to this, the app's own `LOCAL_DAILY_GM`): the first contract
/// Hardhat's account #0 deploys on a fresh node.
pub const APP_DAILY_GM: &str = "0x5fbdb2315678afecb367f032d93f642f64180aa3";

/// How long a Hardhat node may take to start and deploy.
const CHAIN_START: Duration = Duration::from_secs(120);

/// A test's folder for the nodes' and the watcher's logs and the watcher's token: removed after
/// a passing test, kept (and named) after a failing one.
pub struct RunDir(PathBuf);

impl RunDir {
    /// A fresh folder named after `test`.
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("onepulse-e2e-{}-{test}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Self(dir)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("chain and watcher logs kept in {}", self.0.display());
        } else {
            std::fs::remove_dir_all(&self.0).ok();
        }
    }
}

/// Starts a local chain per id (each with `DailyGM` at the address the app is built with);
/// logs in `dir`.
pub fn start_chains(chain_ids: &[u64], dir: &RunDir) -> Vec<LocalChain> {
    let chains = block_in_place(|| local_chain::start_chains(chain_ids, dir.path(), CHAIN_START))
        .unwrap_or_else(|e| panic!("starting local chains {chain_ids:?}: {e}"));
    for chain in &chains {
        assert_eq!(
            format!("{:#x}", chain.contract()),
            APP_DAILY_GM,
            "DailyGM on local chain {} is not where the app (built with the local addresses) \
             sends GMs",
            chain.chain_id()
        );
    }
    chains
}

/// The test Farcaster host's query parameters that give its wallet an RPC URL per chain
/// (`rpc8453=http://127.0.0.1:…`).
pub fn host_rpc_params(chains: &[LocalChain]) -> Vec<(String, String)> {
    chains
        .iter()
        .map(|c| (format!("rpc{}", c.chain_id()), c.url().to_owned()))
        .collect()
}

/// The chain watcher binary, running until dropped (then killed).
pub struct Watcher {
    child: Child,
    log: PathBuf,
}

impl Watcher {
    /// Starts `ONEPULSE_CHAIN_WATCHER_BIN` on `chains`, reporting to `stack`'s SpacetimeDB as
    /// a fresh reporter, with no extra confirmations (local chains do not reorganise) and the
    /// watcher's default poll interval unless `extra` says otherwise.
    pub fn start(stack: &Stack, chains: &[&LocalChain], dir: &RunDir, extra: &[&str]) -> Self {
        let binary = std::env::var("ONEPULSE_CHAIN_WATCHER_BIN").unwrap_or_else(|_| {
            panic!(
                "ONEPULSE_CHAIN_WATCHER_BIN is not set: run the end-to-end tests with `cargo xtask test`"
            )
        });
        let token_file = dir.path().join("watcher-token");
        std::fs::write(&token_file, format!("{}\n", stack.new_reporter_token()))
            .unwrap_or_else(|e| panic!("{}: {e}", token_file.display()));
        let mut command = Command::new(&binary);
        command
            .args(["--spacetimedb", stack.spacetimedb_url()])
            .args(["--database", stack.database()])
            .arg("--token-file")
            .arg(&token_file)
            .args(["--confirmations", "0"]);
        for chain in chains {
            let flag = match chain.chain_id() {
                BASE => "base",
                CELO => "celo",
                OPTIMISM => "optimism",
                other => panic!("the watcher has no flags for chain {other}"),
            };
            command
                .arg(format!("--{flag}-rpc"))
                .arg(chain.url())
                .arg(format!("--{flag}-contract"))
                .arg(format!("{:#x}", chain.contract()))
                .arg(format!("--{flag}-start-block"))
                .arg(chain.deploy_block().to_string());
        }
        command.args(extra);
        let log = dir.path().join("watcher.log");
        let file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let stderr = file
            .try_clone()
            .unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let child = command
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e}"));
        Self { child, log }
    }

    /// What the watcher logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("chain watcher log:\n{}", self.log());
        }
        // An error means it already exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
