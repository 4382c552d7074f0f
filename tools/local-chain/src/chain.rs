//! One Hardhat node with `DailyGM` deployed.

use crate::Error;
use onepulse_evm::daily_gm;
use onepulse_evm::primitives::{Address, B256, Bytes, U64, address, keccak256};
use onepulse_evm::rpc::{BlockHeader, BlockId, Receipt, RpcClient, RpcError, TransactionRequest};
use serde_json::{Value, json};
use std::fs::{self, File};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Hardhat's publicly known account #0 (funded on every Hardhat node; never use it elsewhere).
pub const DEV_ACCOUNT_0: Address = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
/// The private key of [`DEV_ACCOUNT_0`], published in Hardhat's documentation.
pub const DEV_ACCOUNT_0_PRIVATE_KEY: &str =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// How long one RPC call to the local node may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a mined transaction's receipt may take to appear.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(30);
/// How many free ports a node is started on before giving up, when another process keeps
/// taking the port picked for it.
pub const PORT_ATTEMPTS: u32 = 5;

/// How to run a local chain.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// The chain id the node reports (`eth_chainId`).
    pub chain_id: u64,
    /// `contracts/`: `hardhat.config.js` and `node_modules/hardhat` (installed by `npm ci`).
    pub contracts_dir: PathBuf,
    /// The Node.js executable.
    pub node: PathBuf,
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// Where the node's output goes.
    pub log_file: PathBuf,
}

impl ChainConfig {
    /// Chain `chain_id` on a free port, with the repository's `contracts/`, `node` from `PATH`
    /// and the log in `log_dir/hardhat-{chain_id}.log`.
    pub fn new(chain_id: u64, log_dir: &Path) -> Self {
        Self {
            chain_id,
            contracts_dir: default_contracts_dir(),
            node: PathBuf::from("node"),
            port: 0,
            log_file: log_dir.join(format!("hardhat-{chain_id}.log")),
        }
    }
}

/// The repository's `contracts/` folder.
pub fn default_contracts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts")
}

/// A running Hardhat node with `DailyGM` deployed; the node is killed when this is stopped or
/// dropped.
#[derive(Debug)]
pub struct LocalChain {
    child: Child,
    chain_id: u64,
    url: String,
    port: u16,
    rpc: RpcClient,
    contract: Address,
    deploy_block: u64,
    log_file: PathBuf,
}

impl LocalChain {
    /// Starts the node, waits (up to `timeout`) until its RPC answers with the right chain id,
    /// and deploys `DailyGM` from [`DEV_ACCOUNT_0`].
    ///
    /// A free port (`config.port` 0) is picked before Hardhat binds it, so another process may
    /// take it in between: the node then exits with `EADDRINUSE`, and it is started again on
    /// another free port (up to [`PORT_ATTEMPTS`] times). The node is only taken as up once
    /// its own log says it listens, so another node that took the port is never mistaken for
    /// it.
    pub fn start(config: &ChainConfig, timeout: Duration) -> Result<Self, Error> {
        let chain_id = config.chain_id;
        let node_error = |detail: String| Error::Node { chain_id, detail };
        let cli = config
            .contracts_dir
            .join("node_modules/hardhat/internal/cli/bootstrap.js");
        if !cli.is_file() {
            return Err(node_error(format!(
                "{} is missing: install the contracts' npm packages (any `cargo xtask` command \
                 does, or `npm ci` in {})",
                cli.display(),
                config.contracts_dir.display()
            )));
        }
        if let Some(dir) = config.log_file.parent() {
            fs::create_dir_all(dir).map_err(|source| Error::Io {
                what: format!("creating {}", dir.display()),
                source,
            })?;
        }
        let deadline = Instant::now() + timeout;
        let attempts = if config.port == 0 { PORT_ATTEMPTS } else { 1 };
        let mut attempt = 1;
        let mut chain = loop {
            let port = match config.port {
                0 => free_loopback_port()?,
                port => port,
            };
            let mut chain = Self::spawn(config, &cli, port)?;
            match chain.wait_until_up(deadline) {
                Ok(()) => break chain,
                // It has exited already; try another port.
                Err(_) if attempt < attempts && chain.lost_its_port() => attempt += 1,
                Err(e) => return Err(e),
            }
        };
        let receipt = chain.send(
            "deploying DailyGM",
            DEV_ACCOUNT_0,
            None,
            daily_gm::bytecode().to_vec(),
        )?;
        chain.contract = receipt
            .contract_address
            .ok_or_else(|| node_error("the deployment's receipt has no contract address".into()))?;
        chain.deploy_block = block_of(&receipt);
        Ok(chain)
    }

    /// Runs `hardhat node` for `config` on `port`, its output in the log file.
    fn spawn(config: &ChainConfig, cli: &Path, port: u16) -> Result<Self, Error> {
        let log = File::create(&config.log_file).map_err(|source| Error::Io {
            what: format!("creating {}", config.log_file.display()),
            source,
        })?;
        let log_err = log.try_clone().map_err(|source| Error::Io {
            what: "duplicating the log file handle".into(),
            source,
        })?;
        let mut command = Command::new(&config.node);
        command
            .arg(cli)
            .arg("node")
            .args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(&config.contracts_dir)
            .env("ONEPULSE_CHAIN_ID", config.chain_id.to_string())
            // No telemetry prompt, no banners or update notices (its output is not a terminal
            // either, which Hardhat also checks).
            .env("HARDHAT_DISABLE_TELEMETRY_PROMPT", "true")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let child = command.spawn().map_err(|source| Error::Io {
            what: format!("starting {} {}", config.node.display(), cli.display()),
            source,
        })?;
        let url = format!("http://127.0.0.1:{port}");
        Ok(Self {
            child,
            chain_id: config.chain_id,
            rpc: RpcClient::new(&url, RPC_TIMEOUT),
            url,
            port,
            contract: Address::ZERO,
            deploy_block: 0,
            log_file: config.log_file.clone(),
        })
    }

    /// Whether the node exited because its port was taken.
    fn lost_its_port(&mut self) -> bool {
        !self.is_running() && fs::read_to_string(&self.log_file).is_ok_and(|log| port_taken(&log))
    }

    fn wait_until_up(&mut self, deadline: Instant) -> Result<(), Error> {
        let listening = format!("server at {}/", self.url);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::Node {
                    chain_id: self.chain_id,
                    detail: format!(
                        "exited with {status} before answering; {}:\n{}",
                        self.log_file.display(),
                        tail(&self.log_file, 20)
                    ),
                });
            }
            // Only our node's log says it listens on this port: an answer before that would
            // come from whoever else holds the port.
            let ours = fs::read_to_string(&self.log_file).is_ok_and(|log| log.contains(&listening));
            let answer = if ours {
                self.rpc.chain_id()
            } else {
                Err(RpcError::Transport {
                    url: self.url.clone(),
                    method: "eth_chainId".into(),
                    detail: "the node does not say it listens yet".into(),
                })
            };
            match answer {
                Ok(id) if id == self.chain_id => return Ok(()),
                Ok(id) => {
                    return Err(Error::Node {
                        chain_id: self.chain_id,
                        detail: format!("{} answers chain id {id}", self.url),
                    });
                }
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => {
                    return Err(Error::Node {
                        chain_id: self.chain_id,
                        detail: format!(
                            "not answering on {} in time ({e}); see {}",
                            self.url,
                            self.log_file.display()
                        ),
                    });
                }
            }
        }
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The node's JSON-RPC URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The node's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A JSON-RPC client of the node.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// Where `DailyGM` is deployed.
    pub fn contract(&self) -> Address {
        self.contract
    }

    /// The block the contract was deployed in (nothing to watch before it).
    pub fn deploy_block(&self) -> u64 {
        self.deploy_block
    }

    /// The node's log file.
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// The node's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A fresh wallet address nobody has used, which the node lets us send from
    /// (`hardhat_impersonateAccount`), funded with 1 ETH.
    pub fn new_wallet(&self) -> Result<Address, Error> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let seed = format!(
            "local-chain wallet {} {} {nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let wallet = Address::from_word(keccak256(seed.as_bytes()));
        self.use_wallet(wallet)?;
        Ok(wallet)
    }

    /// Lets us send from `wallet` on this chain (`hardhat_impersonateAccount`) and gives it
    /// 1 ETH: e.g. the same wallet as on another chain.
    pub fn use_wallet(&self, wallet: Address) -> Result<(), Error> {
        self.raw(
            "impersonating a wallet",
            "hardhat_impersonateAccount",
            json!([wallet]),
        )?;
        self.raw(
            "funding a wallet",
            "hardhat_setBalance",
            json!([wallet, "0xde0b6b3a7640000"]),
        )?;
        Ok(())
    }

    /// `from` says `gm()`; the mined receipt, or [`Error::Reverted`] with the reason (e.g.
    /// "Already GMed today").
    pub fn gm(&self, from: Address) -> Result<Receipt, Error> {
        self.send(
            &format!("gm() from {from}"),
            from,
            Some(self.contract),
            daily_gm::gm_calldata(),
        )
    }

    /// `from` says `gmTo(recipient)`; the mined receipt, or [`Error::Reverted`].
    pub fn gm_to(&self, from: Address, recipient: Address) -> Result<Receipt, Error> {
        self.send(
            &format!("gmTo({recipient}) from {from}"),
            from,
            Some(self.contract),
            daily_gm::gm_to_calldata(recipient),
        )
    }

    /// `lastGMDay(user)` at `block`.
    pub fn last_gm_day(&self, user: Address, block: BlockId) -> Result<u64, Error> {
        let what = format!("lastGMDay({user})");
        let answer = self
            .rpc
            .call(self.contract, &daily_gm::last_gm_day_calldata(user), block)
            .map_err(|source| Error::Rpc {
                what: what.clone(),
                source,
            })?;
        daily_gm::decode_last_gm_day(&answer).map_err(|source| Error::Contract { what, source })
    }

    /// Mines `blocks` empty blocks (`hardhat_mine`).
    pub fn mine(&self, blocks: u64) -> Result<(), Error> {
        self.raw(
            "mining blocks",
            "hardhat_mine",
            json!([format!("{blocks:#x}")]),
        )
        .map(drop)
    }

    /// Moves the chain's clock forward by `seconds` from the next block on
    /// (`evm_increaseTime`): e.g. a day, to say GM "tomorrow".
    pub fn increase_time(&self, seconds: u64) -> Result<(), Error> {
        self.raw("moving the clock", "evm_increaseTime", json!([seconds]))
            .map(drop)
    }

    /// Moves the chain's clock to the first second of the UTC day after its newest block's
    /// day (`evm_setNextBlockTimestamp`; the clock runs on from there): the next transaction
    /// is "tomorrow" for every wallet. Unlike adding 24 hours, this never lands two days on
    /// when the test runs near midnight, so the chain stays at most one day ahead of the
    /// machine's clock (what SpacetimeDB accepts).
    pub fn next_day(&self) -> Result<(), Error> {
        let newest = self.header(BlockId::Latest)?;
        let day = newest.timestamp.to::<u64>() / daily_gm::SECONDS_PER_DAY;
        let start = (day + 1) * daily_gm::SECONDS_PER_DAY;
        self.raw(
            "moving the clock to the next day",
            "evm_setNextBlockTimestamp",
            json!([start]),
        )
        .map(drop)
    }

    /// A block's header; an error if the node does not have it.
    pub fn header(&self, block: BlockId) -> Result<BlockHeader, Error> {
        let what = format!("reading the header of block {block:?}");
        self.rpc
            .block_header(block)
            .map_err(|source| Error::Rpc {
                what: what.clone(),
                source,
            })?
            .ok_or_else(|| Error::Node {
                chain_id: self.chain_id,
                detail: format!("{what}: no such block"),
            })
    }

    /// Each of `wallets` says `gm()`, all in ONE block (automining is paused while they are
    /// sent, then one block is mined); their receipts, in the order sent.
    pub fn gm_in_one_block(&self, wallets: &[Address]) -> Result<Vec<Receipt>, Error> {
        self.raw("pausing automining", "evm_setAutomine", json!([false]))?;
        let sent: Result<Vec<B256>, Error> = wallets
            .iter()
            .map(|&from| {
                let request = TransactionRequest {
                    from,
                    to: Some(self.contract),
                    data: Bytes::from(daily_gm::gm_calldata()),
                    gas: Some(U64::from(100_000)),
                };
                self.rpc
                    .send_transaction(&request)
                    .map_err(|source| Error::Rpc {
                        what: format!("gm() from {from}"),
                        source,
                    })
            })
            .collect();
        let mined = sent.and_then(|hashes| {
            self.raw("mining the block", "evm_mine", json!([]))?;
            Ok(hashes)
        });
        // Automining comes back whatever happened.
        self.raw("resuming automining", "evm_setAutomine", json!([true]))?;
        let receipts = mined?
            .into_iter()
            .map(|hash| self.receipt("gm() in one block", hash))
            .collect::<Result<Vec<Receipt>, Error>>()?;
        let blocks: std::collections::BTreeSet<u64> = receipts.iter().map(block_of).collect();
        if blocks.len() > 1 || receipts.iter().any(|r| !r.succeeded()) {
            return Err(Error::Node {
                chain_id: self.chain_id,
                detail: format!(
                    "{} GMs did not all succeed in one block (blocks {blocks:?})",
                    receipts.len()
                ),
            });
        }
        Ok(receipts)
    }

    /// The newest block's number.
    pub fn block_number(&self) -> Result<u64, Error> {
        self.rpc.block_number().map_err(|source| Error::Rpc {
            what: "reading the block number".into(),
            source,
        })
    }

    /// Sends a transaction from `from` (an account the node holds or impersonates) and returns
    /// its receipt once mined; a revert is [`Error::Reverted`] with its reason.
    pub fn send(
        &self,
        what: &str,
        from: Address,
        to: Option<Address>,
        data: Vec<u8>,
    ) -> Result<Receipt, Error> {
        let request = TransactionRequest {
            from,
            to,
            data: Bytes::from(data),
            gas: Some(U64::from(3_000_000)),
        };
        let hash =
            self.rpc
                .send_transaction(&request)
                .map_err(|source| match source.revert_reason() {
                    Some(reason) => Error::Reverted {
                        what: what.to_owned(),
                        reason,
                    },
                    None => Error::Rpc {
                        what: what.to_owned(),
                        source,
                    },
                })?;
        let receipt = self.receipt(what, hash)?;
        if !receipt.succeeded() {
            return Err(Error::Reverted {
                what: what.to_owned(),
                reason: format!("transaction {hash} failed (status {:?})", receipt.status),
            });
        }
        Ok(receipt)
    }

    fn receipt(&self, what: &str, hash: B256) -> Result<Receipt, Error> {
        let deadline = Instant::now() + RECEIPT_TIMEOUT;
        loop {
            let receipt = self
                .rpc
                .transaction_receipt(hash)
                .map_err(|source| Error::Rpc {
                    what: format!("{what}: reading the receipt"),
                    source,
                })?;
            match receipt {
                Some(receipt) => return Ok(receipt),
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                None => {
                    return Err(Error::Node {
                        chain_id: self.chain_id,
                        detail: format!("{what}: {hash} not mined after {RECEIPT_TIMEOUT:?}"),
                    });
                }
            }
        }
    }

    fn raw(&self, what: &str, method: &str, params: Value) -> Result<Value, Error> {
        self.rpc
            .request::<Value>(method, params)
            .map_err(|source| Error::Rpc {
                what: what.to_owned(),
                source,
            })
    }

    /// Whether the node is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the node (its chain is gone: Hardhat keeps it in memory).
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        if self.is_running() {
            // Killing a process that already exited only returns an error: nothing to do.
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for LocalChain {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts a chain per id in `chain_ids` at once (free ports, logs in `log_dir`), each with
/// `DailyGM` deployed; stops those already started if one fails.
pub fn start_chains(
    chain_ids: &[u64],
    log_dir: &Path,
    timeout: Duration,
) -> Result<Vec<LocalChain>, Error> {
    let configs: Vec<ChainConfig> = chain_ids
        .iter()
        .map(|&id| ChainConfig::new(id, log_dir))
        .collect();
    start_all(&configs, timeout)
}

/// Starts a chain per config at once, each with `DailyGM` deployed; stops those already
/// started if one fails.
pub fn start_all(configs: &[ChainConfig], timeout: Duration) -> Result<Vec<LocalChain>, Error> {
    let results: Vec<Result<LocalChain, Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = configs
            .iter()
            .map(|config| scope.spawn(move || LocalChain::start(config, timeout)))
            .collect();
        handles
            .into_iter()
            .zip(configs)
            .map(|(handle, config)| {
                handle.join().unwrap_or_else(|_| {
                    Err(Error::Node {
                        chain_id: config.chain_id,
                        detail: "the thread starting it panicked".into(),
                    })
                })
            })
            .collect()
    });
    // The first error wins; the chains already started are dropped (killed) with the rest.
    results.into_iter().collect()
}

fn block_of(receipt: &Receipt) -> u64 {
    receipt
        .block_number
        .map(|n| n.to::<u64>())
        .unwrap_or_default()
}

/// A port that was free on 127.0.0.1 a moment ago.
fn free_loopback_port() -> Result<u16, Error> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| Error::Io {
            what: "finding a free loopback port".into(),
            source,
        })
}

/// Whether a node's log says it could not listen because the port was taken.
fn port_taken(log: &str) -> bool {
    log.contains("EADDRINUSE")
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all.iter()
        .skip(all.len().saturating_sub(lines))
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}
