//! The watcher binary against real parts: Hardhat nodes with DailyGM deployed (local-chain) and
//! a SpacetimeDB of each test's own with the module published (test-kit's `PrivateServer`, from
//! `ONEPULSE_SPACETIMEDB_BIN` and `ONEPULSE_MODULE_WASM`, which `cargo xtask test` sets).
//!
//! One test at a time: each runs a database, nodes and watchers on the machine's two cores.

use local_chain::{CHAIN_IDS, ChainConfig, LocalChain, Receipt, TcpGate, start_chains};
use onepulse_domain::Address;
use onepulse_evm::Address as EvmAddress;
use onepulse_gm_stats::GmStatsRow;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use test_kit::PrivateServer;

const DAY: u64 = 86_400;
const START: Duration = Duration::from_secs(60);
/// How long anything the watcher should do may take.
const PATIENCE: Duration = Duration::from_secs(60);

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    // A failed test poisons the lock; the next one may still run.
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A test's folder for logs and the token file: removed after a passing test, kept (and named
/// in the failure) otherwise.
struct RunDir(PathBuf);

impl std::ops::Deref for RunDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("logs kept in {}", self.0.display());
        } else {
            std::fs::remove_dir_all(&self.0).ok();
        }
    }
}

fn run_dir(test: &str) -> RunDir {
    let dir = std::env::temp_dir().join(format!(
        "onepulse-chain-watcher-{}-{test}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    RunDir(dir)
}

/// A fresh reporter of `server`; its token in a file, as the watcher reads it.
fn reporter_token_file(server: &PrivateServer, dir: &Path) -> PathBuf {
    let reporter = server.new_reporter();
    let path = dir.join("reporter-token");
    std::fs::write(&path, format!("{}\n", reporter.token)).unwrap();
    path
}

fn address(a: EvmAddress) -> Address {
    Address::parse(&format!("{a:#x}")).unwrap()
}

fn tx(receipt: &Receipt) -> String {
    format!("{:#x}", receipt.transaction_hash)
}

/// A watcher process, killed (SIGKILL) when dropped.
struct Watcher {
    child: Child,
    log: PathBuf,
}

impl Watcher {
    /// Starts the binary for `chains` (each with the RPC URL to use for it).
    fn start(
        server: &PrivateServer,
        token_file: &Path,
        chains: &[(&LocalChain, String)],
        extra: &[&str],
        log: PathBuf,
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_onepulse-chain-watcher"));
        command
            .args([
                "--spacetimedb",
                server.url(),
                "--database",
                server.database(),
            ])
            .arg("--token-file")
            .arg(token_file)
            .args(["--poll-interval-ms", "50"]);
        if !extra.contains(&"--confirmations") {
            command.args(["--confirmations", "0"]);
        }
        for (chain, url) in chains {
            let name = match chain.chain_id() {
                8453 => "base",
                42220 => "celo",
                10 => "optimism",
                other => panic!("no flag for chain {other}"),
            };
            command
                .arg(format!("--{name}-rpc"))
                .arg(url)
                .arg(format!("--{name}-contract"))
                .arg(format!("{:#x}", chain.contract()))
                .arg(format!("--{name}-start-block"))
                .arg(chain.deploy_block().to_string());
        }
        command.args(extra);
        let file = std::fs::File::create(&log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting the watcher: {e}"));
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill(&mut self) {
        // Already exited is fine.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits (bounded) until `done` holds; panics with `what` and the watcher's log otherwise.
#[track_caller]
fn wait_until(what: &str, watchers: &[&Watcher], mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        if Instant::now() > deadline {
            let logs: Vec<String> = watchers.iter().map(|w| w.log()).collect();
            panic!(
                "{what}: not after {PATIENCE:?}; watcher log(s):\n{}",
                logs.join("\n---\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn streak(row: &GmStatsRow) -> (i32, i32, i32, i32) {
    (
        row.current_streak,
        row.highest_streak,
        row.all_time_gm_count,
        row.last_gm_day,
    )
}

fn row_on(server: &PrivateServer, wallet: EvmAddress, chain: &LocalChain) -> Option<GmStatsRow> {
    let chain_id = i32::try_from(chain.chain_id()).unwrap();
    server
        .rows_of(&address(wallet))
        .into_iter()
        .find(|row| row.chain_id == chain_id)
}

/// The chain's cursor in the database (public table `chain_cursor`).
fn cursor(server: &PrivateServer, chain: &LocalChain) -> Option<u64> {
    let query = format!(
        "SELECT * FROM chain_cursor WHERE chain_id = {}",
        chain.chain_id()
    );
    let results = server
        .api()
        .sql(server.database(), &query, None)
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    let result = results.into_iter().next()?;
    let row = result.rows.first()?;
    result.get(row, "next_block")?.as_u64()
}

/// The day a wallet's GM in `receipt` recorded, read from the chain.
fn day_of(chain: &LocalChain, wallet: EvmAddress, receipt: &Receipt) -> i32 {
    let block = receipt.block_number.unwrap().to::<u64>();
    let day = chain
        .last_gm_day(wallet, onepulse_evm::rpc::BlockId::Number(block))
        .unwrap();
    i32::try_from(day).unwrap()
}

#[test]
fn gms_on_three_chains_become_rows_with_the_right_streaks() {
    let _serial = serial();
    let dir = run_dir("streaks");
    let server = PrivateServer::start("watcher-streaks");
    let token = reporter_token_file(&server, &dir);
    let chains = start_chains(&CHAIN_IDS, &dir, START).unwrap_or_else(|e| panic!("{e}"));
    let [base, celo, optimism] = [&chains[0], &chains[1], &chains[2]];
    let ann = base.new_wallet().unwrap();
    let bob = base.new_wallet().unwrap();
    for chain in [celo, optimism] {
        chain.use_wallet(ann).unwrap();
        chain.use_wallet(bob).unwrap();
    }

    // Before the watcher starts (it backfills): Ann on Base today and tomorrow, Ann greets Bob
    // on Celo, Bob on Optimism.
    let ann_base_1 = base.gm(ann).unwrap();
    base.increase_time(DAY).unwrap();
    let ann_base_2 = base.gm(ann).unwrap();
    let ann_celo = celo.gm_to(ann, bob).unwrap();
    let bob_optimism = optimism.gm(bob).unwrap();

    let urls: Vec<(&LocalChain, String)> = chains.iter().map(|c| (c, c.url().to_owned())).collect();
    let watcher = Watcher::start(&server, &token, &urls, &[], dir.join("watcher.log"));
    wait_until("the backfilled rows", &[&watcher], || {
        server.rows_of(&address(ann)).len() == 2
            && row_on(&server, ann, base).is_some_and(|r| r.current_streak == 2)
            && row_on(&server, bob, optimism).is_some()
    });
    let day_1 = day_of(base, ann, &ann_base_1);
    let day_2 = day_of(base, ann, &ann_base_2);
    assert_eq!(day_2, day_1 + 1);
    let ann_on_base = row_on(&server, ann, base).unwrap();
    assert_eq!(streak(&ann_on_base), (2, 2, 2, day_2));
    assert_eq!(ann_on_base.last_tx_hash, Some(tx(&ann_base_2)));
    let ann_on_celo = row_on(&server, ann, celo).unwrap();
    assert_eq!(
        streak(&ann_on_celo),
        (1, 1, 1, day_of(celo, ann, &ann_celo))
    );
    assert_eq!(ann_on_celo.last_tx_hash, Some(tx(&ann_celo)));
    let bob_rows = server.rows_of(&address(bob));
    assert_eq!(bob_rows.len(), 1, "being greeted is no GM: {bob_rows:?}");
    assert_eq!(
        streak(&bob_rows[0]),
        (1, 1, 1, day_of(optimism, bob, &bob_optimism))
    );

    // Live: a GM made now shows up too, and every cursor reaches its chain's head.
    let ann_optimism = optimism.gm(ann).unwrap();
    wait_until("the live GM", &[&watcher], || {
        row_on(&server, ann, optimism).is_some()
    });
    assert_eq!(
        row_on(&server, ann, optimism).unwrap().last_tx_hash,
        Some(tx(&ann_optimism))
    );
    for chain in &chains {
        let head = chain.block_number().unwrap();
        wait_until("the cursor at the head", &[&watcher], || {
            cursor(&server, chain) == Some(head + 1)
        });
    }
}

#[test]
fn a_gm_waits_for_its_confirmations() {
    let _serial = serial();
    let dir = run_dir("confirmations");
    let server = PrivateServer::start("watcher-confirmations");
    let token = reporter_token_file(&server, &dir);
    let chain = LocalChain::start(&ChainConfig::new(8453, &dir), START).unwrap();
    let urls = [(&chain, chain.url().to_owned())];
    let watcher = Watcher::start(
        &server,
        &token,
        &urls,
        &["--confirmations", "3"],
        dir.join("watcher.log"),
    );
    // A few blocks first, so the chain is longer than the depth.
    chain.mine(5).unwrap();
    let ann = chain.new_wallet().unwrap();
    let gm = chain.gm(ann).unwrap();
    let block = gm.block_number.unwrap().to::<u64>();
    // The watcher reports up to head - 3: blocks before the GM only.
    wait_until("the cursor below the GM", &[&watcher], || {
        cursor(&server, &chain) == Some(block - 2)
    });
    chain.mine(2).unwrap();
    wait_until("the cursor two blocks on", &[&watcher], || {
        cursor(&server, &chain) == Some(block)
    });
    assert_eq!(row_on(&server, ann, &chain), None, "reported too early");
    chain.mine(1).unwrap();
    wait_until("the GM with 3 confirmations", &[&watcher], || {
        row_on(&server, ann, &chain).is_some()
    });
    assert_eq!(cursor(&server, &chain), Some(block + 1));
}

#[test]
fn a_watcher_killed_mid_stream_and_restarted_counts_every_gm_once() {
    let _serial = serial();
    let dir = run_dir("kill");
    let server = PrivateServer::start("watcher-kill");
    let token = reporter_token_file(&server, &dir);
    let chain = LocalChain::start(&ChainConfig::new(8453, &dir), START).unwrap();
    let urls = [(&chain, chain.url().to_owned())];

    // 40 GMs, one block each, then a watcher reading one block per batch, killed (SIGKILL) as
    // soon as the first rows are in.
    let mut wallets: Vec<EvmAddress> = Vec::new();
    for _ in 0..40 {
        let wallet = chain.new_wallet().unwrap();
        chain.gm(wallet).unwrap();
        wallets.push(wallet);
    }
    let counted = |wallets: &[EvmAddress]| {
        wallets
            .iter()
            .filter(|&&w| row_on(&server, w, &chain).is_some())
            .count()
    };
    let mut first = Watcher::start(
        &server,
        &token,
        &urls,
        &["--max-blocks", "1"],
        dir.join("watcher-1.log"),
    );
    wait_until("the first rows", &[&first], || {
        cursor(&server, &chain).is_some_and(|c| c > chain.deploy_block() + 3)
    });
    first.kill();
    let at_kill = counted(&wallets);
    assert!(
        at_kill < wallets.len(),
        "the watcher finished before it was killed ({at_kill} rows)"
    );

    // Meanwhile: 10 more GMs, and the first wallet's next day.
    for _ in 0..10 {
        let wallet = chain.new_wallet().unwrap();
        chain.gm(wallet).unwrap();
        wallets.push(wallet);
    }
    chain.increase_time(DAY).unwrap();
    chain.gm(wallets[0]).unwrap();

    let second = Watcher::start(&server, &token, &urls, &[], dir.join("watcher-2.log"));
    wait_until("every GM", &[&first, &second], || {
        counted(&wallets) == wallets.len()
    });
    let head = chain.block_number().unwrap();
    wait_until("the cursor at the head", &[&second], || {
        cursor(&server, &chain) == Some(head + 1)
    });
    for (i, &wallet) in wallets.iter().enumerate() {
        let row = row_on(&server, wallet, &chain).unwrap();
        let expected = if i == 0 { 2 } else { 1 };
        assert_eq!(
            (row.current_streak, row.all_time_gm_count),
            (expected, expected),
            "wallet {i}: {row:?}"
        );
    }
    assert!(
        second.log().contains(" reported"),
        "the restarted watcher reported: {}",
        second.log()
    );
}

#[test]
fn an_rpc_outage_delays_the_gms_and_loses_none() {
    let _serial = serial();
    let dir = run_dir("outage");
    let server = PrivateServer::start("watcher-outage");
    let token = reporter_token_file(&server, &dir);
    let chain = LocalChain::start(&ChainConfig::new(42220, &dir), START).unwrap();
    let gate = TcpGate::start(format!("127.0.0.1:{}", chain.port()).parse().unwrap()).unwrap();
    let urls = [(&chain, gate.url())];
    let watcher = Watcher::start(&server, &token, &urls, &[], dir.join("watcher.log"));
    let ann = chain.new_wallet().unwrap();
    chain.gm(ann).unwrap();
    wait_until("the first GM", &[&watcher], || {
        row_on(&server, ann, &chain).is_some()
    });

    gate.close();
    let mut others = Vec::new();
    for _ in 0..5 {
        let wallet = chain.new_wallet().unwrap();
        chain.gm(wallet).unwrap();
        others.push(wallet);
    }
    chain.increase_time(DAY).unwrap();
    chain.gm(ann).unwrap();
    // The RPC is really down: nothing new arrives for a while.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        others.iter().all(|&w| row_on(&server, w, &chain).is_none()),
        "a GM arrived through a closed gate"
    );
    assert_eq!(row_on(&server, ann, &chain).unwrap().current_streak, 1);
    assert!(
        watcher.log().contains("retrying"),
        "the watcher noticed: {}",
        watcher.log()
    );

    gate.open();
    wait_until("every GM after the outage", &[&watcher], || {
        others.iter().all(|&w| row_on(&server, w, &chain).is_some())
            && row_on(&server, ann, &chain).is_some_and(|r| r.current_streak == 2)
    });
    for &wallet in &others {
        assert_eq!(
            row_on(&server, wallet, &chain).unwrap().all_time_gm_count,
            1
        );
    }
    assert_eq!(row_on(&server, ann, &chain).unwrap().all_time_gm_count, 2);
}

#[test]
fn two_watchers_at_once_count_every_gm_once() {
    let _serial = serial();
    let dir = run_dir("replicas");
    let server = PrivateServer::start("watcher-replicas");
    let token = reporter_token_file(&server, &dir);
    let other_dir = run_dir("replicas-2");
    let other_token = reporter_token_file(&server, &other_dir);
    let chain = LocalChain::start(&ChainConfig::new(10, &dir), START).unwrap();
    let urls = [(&chain, chain.url().to_owned())];
    let one = Watcher::start(&server, &token, &urls, &[], dir.join("watcher-1.log"));
    let two = Watcher::start(&server, &other_token, &urls, &[], dir.join("watcher-2.log"));
    let mut wallets = Vec::new();
    for _ in 0..10 {
        let wallet = chain.new_wallet().unwrap();
        chain.gm(wallet).unwrap();
        wallets.push(wallet);
    }
    chain.increase_time(DAY).unwrap();
    for &wallet in &wallets[..3] {
        chain.gm(wallet).unwrap();
    }
    wait_until("every GM", &[&one, &two], || {
        wallets[..3]
            .iter()
            .all(|&w| row_on(&server, w, &chain).is_some_and(|r| r.all_time_gm_count == 2))
            && wallets[3..]
                .iter()
                .all(|&w| row_on(&server, w, &chain).is_some())
    });
    for (i, &wallet) in wallets.iter().enumerate() {
        let row = row_on(&server, wallet, &chain).unwrap();
        let expected = if i < 3 { 2 } else { 1 };
        assert_eq!(
            (
                row.current_streak,
                row.highest_streak,
                row.all_time_gm_count
            ),
            (expected, expected, expected),
            "wallet {i}"
        );
    }
    let head = chain.block_number().unwrap();
    wait_until("the cursor at the head", &[&one, &two], || {
        cursor(&server, &chain) == Some(head + 1)
    });
}

#[test]
fn the_watcher_goes_on_after_spacetimedb_restarts() {
    let _serial = serial();
    let dir = run_dir("db-restart");
    let mut server = PrivateServer::start("watcher-db-restart");
    let token = reporter_token_file(&server, &dir);
    let chain = LocalChain::start(&ChainConfig::new(8453, &dir), START).unwrap();
    let urls = [(&chain, chain.url().to_owned())];
    let watcher = Watcher::start(&server, &token, &urls, &[], dir.join("watcher.log"));
    let ann = chain.new_wallet().unwrap();
    chain.gm(ann).unwrap();
    wait_until("the first GM", &[&watcher], || {
        row_on(&server, ann, &chain).is_some()
    });

    server.stop();
    let bob = chain.new_wallet().unwrap();
    chain.gm(bob).unwrap();
    server.restart();
    chain.increase_time(DAY).unwrap();
    chain.gm(ann).unwrap();
    wait_until("the GMs made around the restart", &[&watcher], || {
        row_on(&server, bob, &chain).is_some()
            && row_on(&server, ann, &chain).is_some_and(|r| r.current_streak == 2)
    });
    assert_eq!(row_on(&server, ann, &chain).unwrap().all_time_gm_count, 2);
    assert_eq!(row_on(&server, bob, &chain).unwrap().all_time_gm_count, 1);
}

#[test]
fn an_identity_that_is_no_reporter_reports_nothing_until_it_is_made_one() {
    let _serial = serial();
    let dir = run_dir("not-reporter");
    let server = PrivateServer::start("watcher-not-reporter");
    let identity = server
        .api()
        .new_identity()
        .unwrap_or_else(|e| panic!("{e}"));
    let token = dir.join("token");
    std::fs::write(&token, &identity.token).unwrap();
    let chain = LocalChain::start(&ChainConfig::new(8453, &dir), START).unwrap();
    let urls = [(&chain, chain.url().to_owned())];
    let watcher = Watcher::start(&server, &token, &urls, &[], dir.join("watcher.log"));
    let ann = chain.new_wallet().unwrap();
    chain.gm(ann).unwrap();
    wait_until("the refusal in the log", &[&watcher], || {
        watcher.log().contains("not a reporter")
    });
    assert!(
        watcher
            .log()
            .contains(&format!("add_reporter for identity {}", identity.identity)),
        "the log says what to do: {}",
        watcher.log()
    );
    assert_eq!(row_on(&server, ann, &chain), None);
    assert_eq!(cursor(&server, &chain), None);

    server.add_reporter(&identity.identity);
    wait_until("the GM once a reporter", &[&watcher], || {
        row_on(&server, ann, &chain).is_some()
    });
}
