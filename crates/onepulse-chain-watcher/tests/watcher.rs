//! The watcher binary against real parts: Hardhat nodes with DailyGM deployed (local-chain) and
//! a real SpacetimeDB with the module published — the shared test database `cargo xtask test`
//! starts (`ONEPULSE_SPACETIMEDB_URL`, `ONEPULSE_TEST_DATABASE`, `ONEPULSE_OWNER_TOKEN`), or,
//! for the tests that kill it, a server of the test's own (test-kit's `PrivateServer`, from
//! `ONEPULSE_SPACETIMEDB_BIN` and `ONEPULSE_MODULE_WASM`).
//!
//! One test at a time: each runs nodes and watchers on the machine's two cores, and on the
//! shared database the tests share the three chain ids' cursors (each test resets those of
//! the chains it uses; wallets are fresh addresses).
//!
//! "Each GM once" is checked where it can fail: the cursor's `gm_count` (the module adds the
//! GMs each batch moves the cursor past, and never counts a replay) must equal the GMs made on
//! the chain — a GM skipped or reported at a position it does not have shows — and, where one
//! watcher runs undisturbed, the GMs its log says it reported must be exactly those made.

use local_chain::{CHAIN_IDS, ChainConfig, LocalChain, Receipt, TcpGate, start_chains};
use local_spacetimedb::{CallOutcome, HttpApi, NewIdentity};
use onepulse_domain::Address;
use onepulse_evm::Address as EvmAddress;
use onepulse_gm_stats::{GmStatsRow, TxHashText};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use test_kit::{PrivateServer, TestDb};

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

/// The database a test's watchers report to.
enum Db {
    /// The shared test database (tests that do not stop the server).
    Shared(TestDb),
    /// A server of the test's own, which it kills and starts again.
    Private(PrivateServer),
}

impl Db {
    /// The shared test database, with the cursors of `chain_ids` forgotten (the owner's
    /// `reset_chain_cursor`): the test's new chains start from their deployment blocks and
    /// the cursors count this test's GMs only.
    fn shared(chain_ids: &[u64]) -> Self {
        let db = TestDb::from_env();
        let owner = db.owner_token();
        for &chain in chain_ids {
            assert_eq!(
                db.call(
                    "reset_chain_cursor",
                    serde_json::json!([chain]),
                    Some(&owner)
                ),
                CallOutcome::Committed
            );
        }
        Db::Shared(db)
    }

    fn private(name: &str) -> Self {
        Db::Private(PrivateServer::start(name))
    }

    fn server(&mut self) -> &mut PrivateServer {
        match self {
            Db::Private(server) => server,
            Db::Shared(_) => panic!("the shared database cannot be restarted"),
        }
    }

    fn api(&self) -> &HttpApi {
        match self {
            Db::Shared(db) => db.api(),
            Db::Private(server) => server.api(),
        }
    }

    fn url(&self) -> &str {
        match self {
            Db::Shared(db) => db.url(),
            Db::Private(server) => server.url(),
        }
    }

    fn database(&self) -> &str {
        match self {
            Db::Shared(db) => db.database(),
            Db::Private(server) => server.database(),
        }
    }

    fn new_reporter(&self) -> NewIdentity {
        match self {
            Db::Shared(db) => db.new_reporter(),
            Db::Private(server) => server.new_reporter(),
        }
    }

    fn add_reporter(&self, identity_hex: &str) {
        match self {
            Db::Shared(db) => db.add_reporter(identity_hex),
            Db::Private(server) => server.add_reporter(identity_hex),
        }
    }

    fn rows_of(&self, address: &Address) -> Vec<GmStatsRow> {
        test_kit::gm_rows_of(self.api(), self.database(), address)
    }

    /// A fresh reporter's token in a file, as the watcher reads it.
    fn reporter_token_file(&self, dir: &Path) -> PathBuf {
        let reporter = self.new_reporter();
        let path = dir.join(format!("reporter-token-{}", &reporter.identity[..8]));
        std::fs::write(&path, format!("{}\n", reporter.token)).unwrap();
        path
    }

    fn row_on(&self, wallet: EvmAddress, chain: &LocalChain) -> Option<GmStatsRow> {
        let chain_id = i32::try_from(chain.chain_id()).unwrap();
        self.rows_of(&address(wallet))
            .into_iter()
            .find(|row| row.chain_id == chain_id)
    }

    /// The chain's cursor in the database (public table `chain_position`).
    fn cursor(&self, chain: &LocalChain) -> Option<Cursor> {
        let query = format!(
            "SELECT * FROM chain_position WHERE chain_id = {}",
            chain.chain_id()
        );
        let results = self
            .api()
            .sql(self.database(), &query, None)
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        let result = results.into_iter().next()?;
        let row = result.rows.first()?;
        let number = |column: &str| result.get(row, column).and_then(|v| v.as_u64());
        Some(Cursor {
            block: number("next_block")?,
            log_index: number("next_log_index")?,
            gm_count: number("gm_count")?,
        })
    }

    /// The first block the chain's cursor has not wholly passed.
    fn next_block(&self, chain: &LocalChain) -> Option<u64> {
        self.cursor(chain).map(|c| c.block)
    }

    /// How many GMs the chain's cursor has passed.
    fn gm_count(&self, chain: &LocalChain) -> u64 {
        self.cursor(chain).map_or(0, |c| c.gm_count)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    block: u64,
    log_index: u64,
    gm_count: u64,
}

fn address(a: EvmAddress) -> Address {
    Address::parse(&format!("{a:#x}")).unwrap()
}

fn tx(receipt: &Receipt) -> TxHashText {
    TxHashText::from(format!("{:#x}", receipt.transaction_hash).as_str())
}

/// A watcher process, killed (SIGKILL) when dropped.
struct Watcher {
    child: Child,
    log: PathBuf,
}

impl Watcher {
    /// Starts the binary for `chains` (each with the RPC URL to use for it).
    fn start(
        db: &Db,
        token_file: &Path,
        chains: &[(&LocalChain, String)],
        extra: &[&str],
        log: PathBuf,
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_onepulse-chain-watcher"));
        command
            .args(["--spacetimedb", db.url(), "--database", db.database()])
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

    /// The GMs the log says this watcher reported (its "…: N GMs reported" lines).
    fn reported(&self) -> u64 {
        self.log()
            .lines()
            .filter_map(|line| {
                let (before, _) = line
                    .rsplit_once(" GM reported")
                    .or_else(|| line.rsplit_once(" GMs reported"))?;
                before.rsplit(' ').next()?.parse::<u64>().ok()
            })
            .sum()
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL (std's `Child::kill` on Unix): no chance to finish anything.
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

/// The day a wallet's GM in `receipt` recorded, read from the chain.
fn day_of(chain: &LocalChain, wallet: EvmAddress, receipt: &Receipt) -> i32 {
    let block = receipt.block_number.unwrap().to::<u64>();
    let day = chain
        .last_gm_day(wallet, onepulse_evm::rpc::BlockId::Number(block))
        .unwrap();
    i32::try_from(day).unwrap()
}

/// Waits until the chain's cursor is past its head and has passed `gms` GMs, then checks it
/// did not pass more.
#[track_caller]
fn wait_for_every_gm(db: &Db, chain: &LocalChain, gms: u64, watchers: &[&Watcher]) {
    let head = chain.block_number().unwrap();
    wait_until("the cursor past the head", watchers, || {
        db.next_block(chain).is_some_and(|block| block > head)
    });
    assert_eq!(
        db.gm_count(chain),
        gms,
        "GMs the cursor passed on chain {}",
        chain.chain_id()
    );
}

#[test]
fn gms_on_three_chains_become_rows_with_the_right_streaks() {
    let _serial = serial();
    let dir = run_dir("streaks");
    let db = Db::shared(&CHAIN_IDS);
    let token = db.reporter_token_file(&dir);
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
    base.next_day().unwrap();
    let ann_base_2 = base.gm(ann).unwrap();
    let ann_celo = celo.gm_to(ann, bob).unwrap();
    let bob_optimism = optimism.gm(bob).unwrap();

    let urls: Vec<(&LocalChain, String)> = chains.iter().map(|c| (c, c.url().to_owned())).collect();
    let watcher = Watcher::start(&db, &token, &urls, &[], dir.join("watcher.log"));
    wait_until("the backfilled rows", &[&watcher], || {
        db.rows_of(&address(ann)).len() == 2
            && db.row_on(ann, base).is_some_and(|r| r.current_streak == 2)
            && db.row_on(bob, optimism).is_some()
    });
    let day_1 = day_of(base, ann, &ann_base_1);
    let day_2 = day_of(base, ann, &ann_base_2);
    assert_eq!(day_2, day_1 + 1);
    let ann_on_base = db.row_on(ann, base).unwrap();
    assert_eq!(streak(&ann_on_base), (2, 2, 2, day_2));
    assert_eq!(ann_on_base.last_tx_hash, Some(tx(&ann_base_2)));
    let ann_on_celo = db.row_on(ann, celo).unwrap();
    assert_eq!(
        streak(&ann_on_celo),
        (1, 1, 1, day_of(celo, ann, &ann_celo))
    );
    assert_eq!(ann_on_celo.last_tx_hash, Some(tx(&ann_celo)));
    let bob_rows = db.rows_of(&address(bob));
    assert_eq!(bob_rows.len(), 1, "being greeted is no GM: {bob_rows:?}");
    assert_eq!(
        streak(&bob_rows[0]),
        (1, 1, 1, day_of(optimism, bob, &bob_optimism))
    );

    // Live: a GM made now shows up too, and every cursor reaches its chain's head having
    // passed exactly the GMs made there.
    let ann_optimism = optimism.gm(ann).unwrap();
    wait_until("the live GM", &[&watcher], || {
        db.row_on(ann, optimism).is_some()
    });
    assert_eq!(
        db.row_on(ann, optimism).unwrap().last_tx_hash,
        Some(tx(&ann_optimism))
    );
    for (chain, gms) in [(base, 2), (celo, 1), (optimism, 2)] {
        wait_for_every_gm(&db, chain, gms, &[&watcher]);
    }
    // One watcher, undisturbed: it reported each GM once, never twice.
    assert_eq!(watcher.reported(), 5, "{}", watcher.log());
}

#[test]
fn a_gm_waits_for_its_confirmations() {
    let _serial = serial();
    let dir = run_dir("confirmations");
    let db = Db::shared(&[8453]);
    let token = db.reporter_token_file(&dir);
    let chain = LocalChain::start(&ChainConfig::new(8453, &dir), START).unwrap();
    let urls = [(&chain, chain.url().to_owned())];
    let watcher = Watcher::start(
        &db,
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
        db.next_block(&chain) == Some(block - 2)
    });
    chain.mine(2).unwrap();
    wait_until("the cursor two blocks on", &[&watcher], || {
        db.next_block(&chain) == Some(block)
    });
    assert_eq!(db.row_on(ann, &chain), None, "reported too early");
    assert_eq!(db.gm_count(&chain), 0);
    chain.mine(1).unwrap();
    wait_until("the GM with 3 confirmations", &[&watcher], || {
        db.row_on(ann, &chain).is_some()
    });
    assert_eq!(db.next_block(&chain), Some(block + 1));
    assert_eq!(db.gm_count(&chain), 1);
}

#[test]
fn a_watcher_killed_mid_stream_and_restarted_counts_every_gm_once() {
    let _serial = serial();
    let dir = run_dir("kill");
    let db = Db::shared(&[8453]);
    let token = db.reporter_token_file(&dir);
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
            .filter(|&&w| db.row_on(w, &chain).is_some())
            .count()
    };
    let mut first = Watcher::start(
        &db,
        &token,
        &urls,
        &["--max-blocks", "1"],
        dir.join("watcher-1.log"),
    );
    wait_until("the first rows", &[&first], || {
        db.next_block(&chain)
            .is_some_and(|c| c > chain.deploy_block() + 3)
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
    chain.next_day().unwrap();
    chain.gm(wallets[0]).unwrap();

    let second = Watcher::start(&db, &token, &urls, &[], dir.join("watcher-2.log"));
    wait_until("every GM", &[&first, &second], || {
        counted(&wallets) == wallets.len()
    });
    wait_for_every_gm(&db, &chain, 51, &[&first, &second]);
    for (i, &wallet) in wallets.iter().enumerate() {
        let row = db.row_on(wallet, &chain).unwrap();
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
    let db = Db::shared(&[42220]);
    let token = db.reporter_token_file(&dir);
    let chain = LocalChain::start(&ChainConfig::new(42220, &dir), START).unwrap();
    let gate = TcpGate::start(format!("127.0.0.1:{}", chain.port()).parse().unwrap()).unwrap();
    let urls = [(&chain, gate.url())];
    let watcher = Watcher::start(&db, &token, &urls, &[], dir.join("watcher.log"));
    let ann = chain.new_wallet().unwrap();
    chain.gm(ann).unwrap();
    wait_until("the first GM", &[&watcher], || {
        db.row_on(ann, &chain).is_some()
    });

    gate.close();
    let mut others = Vec::new();
    for _ in 0..5 {
        let wallet = chain.new_wallet().unwrap();
        chain.gm(wallet).unwrap();
        others.push(wallet);
    }
    chain.next_day().unwrap();
    chain.gm(ann).unwrap();
    // The RPC is really down: nothing new arrives for a while.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        others.iter().all(|&w| db.row_on(w, &chain).is_none()),
        "a GM arrived through a closed gate"
    );
    assert_eq!(db.row_on(ann, &chain).unwrap().current_streak, 1);
    assert!(
        watcher.log().contains("retrying"),
        "the watcher noticed: {}",
        watcher.log()
    );

    gate.open();
    wait_until("every GM after the outage", &[&watcher], || {
        others.iter().all(|&w| db.row_on(w, &chain).is_some())
            && db
                .row_on(ann, &chain)
                .is_some_and(|r| r.current_streak == 2)
    });
    for &wallet in &others {
        assert_eq!(db.row_on(wallet, &chain).unwrap().all_time_gm_count, 1);
    }
    assert_eq!(db.row_on(ann, &chain).unwrap().all_time_gm_count, 2);
    wait_for_every_gm(&db, &chain, 7, &[&watcher]);
}

#[test]
fn two_watchers_at_once_count_every_gm_once() {
    let _serial = serial();
    let dir = run_dir("replicas");
    let db = Db::shared(&[10]);
    let token = db.reporter_token_file(&dir);
    let other_token = db.reporter_token_file(&dir);
    let chain = LocalChain::start(&ChainConfig::new(10, &dir), START).unwrap();
    let urls = [(&chain, chain.url().to_owned())];
    let one = Watcher::start(&db, &token, &urls, &[], dir.join("watcher-1.log"));
    let two = Watcher::start(&db, &other_token, &urls, &[], dir.join("watcher-2.log"));
    let mut wallets = Vec::new();
    for _ in 0..10 {
        let wallet = chain.new_wallet().unwrap();
        chain.gm(wallet).unwrap();
        wallets.push(wallet);
    }
    chain.next_day().unwrap();
    for &wallet in &wallets[..3] {
        chain.gm(wallet).unwrap();
    }
    wait_until("every GM", &[&one, &two], || {
        wallets[..3].iter().all(|&w| {
            db.row_on(w, &chain)
                .is_some_and(|r| r.all_time_gm_count == 2)
        }) && wallets[3..].iter().all(|&w| db.row_on(w, &chain).is_some())
    });
    for (i, &wallet) in wallets.iter().enumerate() {
        let row = db.row_on(wallet, &chain).unwrap();
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
    // Both may report a GM (a replay changes nothing), but the cursor passed each once.
    wait_for_every_gm(&db, &chain, 13, &[&one, &two]);
    assert!(one.reported() + two.reported() >= 13);
}

/// More GMs in one block than one batch may carry (here `--max-gms 3`; the module's own limit
/// is 5 000): the block is reported over several batches, the cursor stopping inside it.
#[test]
fn a_block_with_more_gms_than_a_batch_is_reported_over_several() {
    let _serial = serial();
    let dir = run_dir("full-block");
    let db = Db::shared(&[42220]);
    let token = db.reporter_token_file(&dir);
    let chain = LocalChain::start(&ChainConfig::new(42220, &dir), START).unwrap();
    let wallets: Vec<EvmAddress> = (0..10).map(|_| chain.new_wallet().unwrap()).collect();
    let receipts = chain.gm_in_one_block(&wallets).unwrap();
    let full = receipts[0].block_number.unwrap().to::<u64>();
    let after = chain.new_wallet().unwrap();
    chain.gm(after).unwrap();

    let urls = [(&chain, chain.url().to_owned())];
    let watcher = Watcher::start(
        &db,
        &token,
        &urls,
        &["--max-gms", "3"],
        dir.join("watcher.log"),
    );
    wait_for_every_gm(&db, &chain, 11, &[&watcher]);
    for (wallet, receipt) in wallets.iter().zip(&receipts) {
        let row = db.row_on(*wallet, &chain).unwrap();
        assert_eq!(row.all_time_gm_count, 1);
        assert_eq!(row.last_tx_hash, Some(tx(receipt)));
    }
    assert!(db.row_on(after, &chain).is_some());
    let log = watcher.log();
    assert!(
        log.contains(&format!(
            "block {full} log 0 up to block {full} log 3: 3 GMs reported"
        )),
        "{log}"
    );
    assert_eq!(watcher.reported(), 11, "{log}");
}

/// A backfill far behind the head goes through the range path (blocks more than 64 behind the
/// head, read by number as one batch with the node's chain id and head, in windows of
/// `--max-blocks`) against real Hardhat: GMs spread over hundreds of blocks, at a window's
/// first and last block too, are each counted once.
#[test]
fn a_backfill_over_ranges_counts_every_gm_once() {
    let _serial = serial();
    let dir = run_dir("ranges");
    let db = Db::shared(&[10]);
    let token = db.reporter_token_file(&dir);
    let chain = LocalChain::start(&ChainConfig::new(10, &dir), START).unwrap();
    let wallets: Vec<EvmAddress> = (0..5).map(|_| chain.new_wallet().unwrap()).collect();
    let mut blocks = Vec::new();
    for (wallet, gap) in wallets.iter().zip([37, 1, 120, 60, 0]) {
        let receipt = chain.gm(*wallet).unwrap();
        blocks.push(receipt.block_number.unwrap().to::<u64>());
        if gap > 0 {
            chain.mine(gap).unwrap();
        }
    }
    // The last GM far behind the head too: every GM is read by a range.
    chain.mine(200).unwrap();
    let head = chain.block_number().unwrap();
    assert!(
        blocks.iter().all(|b| b + 64 < head),
        "{blocks:?} head {head}"
    );

    let urls = [(&chain, chain.url().to_owned())];
    let watcher = Watcher::start(
        &db,
        &token,
        &urls,
        &["--max-blocks", "40"],
        dir.join("watcher.log"),
    );
    wait_for_every_gm(&db, &chain, 5, &[&watcher]);
    for wallet in &wallets {
        assert_eq!(db.row_on(*wallet, &chain).unwrap().all_time_gm_count, 1);
    }
    let log = watcher.log();
    assert_eq!(watcher.reported(), 5, "{log}");
    // Each GM came in a batch spanning many blocks (a range), not a one-block read.
    let spans: Vec<(u64, u64)> = log
        .lines()
        .filter(|line| line.contains(" GM reported") || line.contains(" GMs reported"))
        .filter_map(|line| {
            let (_, rest) = line.split_once(": block ")?;
            let (from, rest) = rest.split_once(' ')?;
            let (_, rest) = rest.split_once("up to block ")?;
            let (to, _) = rest.split_once(' ')?;
            Some((from.parse().ok()?, to.parse().ok()?))
        })
        .collect();
    assert!(!spans.is_empty(), "{log}");
    assert!(
        spans.iter().all(|(from, to)| to - from > 1),
        "{spans:?}\n{log}"
    );
}

/// A chain that cannot work (its node serves another chain id) stops alone: the others go on.
#[test]
fn one_chain_that_cannot_work_does_not_stop_the_others() {
    let _serial = serial();
    let dir = run_dir("isolation");
    let db = Db::shared(&[8453, 42220]);
    let token = db.reporter_token_file(&dir);
    let chains = start_chains(&[8453, 42220], &dir, START).unwrap_or_else(|e| panic!("{e}"));
    let [base, celo] = [&chains[0], &chains[1]];
    // Base's flag points at Celo's node.
    let urls = [(base, celo.url().to_owned()), (celo, celo.url().to_owned())];
    let mut watcher = Watcher::start(&db, &token, &urls, &[], dir.join("watcher.log"));
    wait_until("Base refused", &[&watcher], || {
        watcher.log().contains("serves chain id 42220, not 8453")
    });
    let ann = celo.new_wallet().unwrap();
    celo.gm(ann).unwrap();
    wait_until("Celo's GM", &[&watcher], || db.row_on(ann, celo).is_some());
    assert!(watcher.is_running(), "{}", watcher.log());
    assert_eq!(db.cursor(base), None);
    wait_for_every_gm(&db, celo, 1, &[&watcher]);
}

#[test]
fn an_identity_that_is_no_reporter_reports_nothing_until_it_is_made_one() {
    let _serial = serial();
    let dir = run_dir("not-reporter");
    let db = Db::shared(&[8453]);
    let identity = db.api().new_identity().unwrap_or_else(|e| panic!("{e}"));
    let token = dir.join("token");
    std::fs::write(&token, &identity.token).unwrap();
    let chain = LocalChain::start(&ChainConfig::new(8453, &dir), START).unwrap();
    let urls = [(&chain, chain.url().to_owned())];
    let watcher = Watcher::start(&db, &token, &urls, &[], dir.join("watcher.log"));
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
    assert_eq!(db.row_on(ann, &chain), None);
    assert_eq!(db.cursor(&chain), None);

    db.add_reporter(&identity.identity);
    wait_until("the GM once a reporter", &[&watcher], || {
        db.row_on(ann, &chain).is_some()
    });
    wait_for_every_gm(&db, &chain, 1, &[&watcher]);
}

/// SpacetimeDB killed with SIGKILL (`PrivateServer::stop` kills the process: std's
/// `Child::kill`), GMs made while it is down, then started again on the same data.
#[test]
fn the_watcher_goes_on_after_spacetimedb_is_killed() {
    let _serial = serial();
    let dir = run_dir("db-restart");
    let mut db = Db::private("watcher-db-restart");
    let token = db.reporter_token_file(&dir);
    let chain = LocalChain::start(&ChainConfig::new(8453, &dir), START).unwrap();
    let urls = [(&chain, chain.url().to_owned())];
    let watcher = Watcher::start(&db, &token, &urls, &[], dir.join("watcher.log"));
    let ann = chain.new_wallet().unwrap();
    chain.gm(ann).unwrap();
    wait_until("the first GM", &[&watcher], || {
        db.row_on(ann, &chain).is_some()
    });

    db.server().stop();
    let bob = chain.new_wallet().unwrap();
    chain.gm(bob).unwrap();
    db.server().restart();
    chain.next_day().unwrap();
    chain.gm(ann).unwrap();
    wait_until("the GMs made around the restart", &[&watcher], || {
        db.row_on(bob, &chain).is_some()
            && db
                .row_on(ann, &chain)
                .is_some_and(|r| r.current_streak == 2)
    });
    assert_eq!(db.row_on(ann, &chain).unwrap().all_time_gm_count, 2);
    assert_eq!(db.row_on(bob, &chain).unwrap().all_time_gm_count, 1);
    wait_for_every_gm(&db, &chain, 3, &[&watcher]);
}

/// The database loses commits the watcher saw acknowledged (its data is put back to an
/// earlier copy, as a crash can do to SpacetimeDB 1.2): the watcher holds a newer cursor, the
/// module refuses its next batch as a gap, and the watcher goes back to the database's cursor
/// and reports the lost GMs again.
#[test]
fn gms_a_database_lost_are_reported_again_after_a_gap() {
    let _serial = serial();
    let dir = run_dir("gap");
    let name = "watcher-gap";
    let mut db = Db::private(name);
    // Where PrivateServer keeps its data (test-kit's private_server.rs).
    let data = std::env::temp_dir()
        .join(format!("onepulse-{name}-{}", std::process::id()))
        .join("data");
    assert!(data.is_dir(), "{}", data.display());
    let token = db.reporter_token_file(&dir);
    let chain = LocalChain::start(&ChainConfig::new(8453, &dir), START).unwrap();
    let urls = [(&chain, chain.url().to_owned())];
    let watcher = Watcher::start(&db, &token, &urls, &[], dir.join("watcher.log"));
    let ann = chain.new_wallet().unwrap();
    chain.gm(ann).unwrap();
    wait_for_every_gm(&db, &chain, 1, &[&watcher]);
    let kept = db.cursor(&chain).unwrap();

    // A copy of the data as it is now, taken while the server is down (and after a moment to
    // persist: 1.2 acknowledges before it is durable).
    std::thread::sleep(Duration::from_millis(1500));
    db.server().stop();
    let copy = dir.join("data-copy");
    copy_dir(&data, &copy);
    db.server().restart();

    // GMs the database then loses.
    let lost: Vec<EvmAddress> = (0..3)
        .map(|_| {
            let wallet = chain.new_wallet().unwrap();
            chain.gm(wallet).unwrap();
            wallet
        })
        .collect();
    wait_for_every_gm(&db, &chain, 4, &[&watcher]);
    db.server().stop();
    std::fs::remove_dir_all(&data).unwrap();
    copy_dir(&copy, &data);
    db.server().restart();
    wait_until(
        "the database's cursor back where the copy was",
        &[&watcher],
        || db.cursor(&chain) == Some(kept),
    );
    assert!(lost.iter().all(|&w| db.row_on(w, &chain).is_none()));

    // The next GM makes the watcher report from its own cursor: a gap.
    let bob = chain.new_wallet().unwrap();
    chain.gm(bob).unwrap();
    wait_until("every GM again", &[&watcher], || {
        lost.iter()
            .chain([&bob])
            .all(|&w| db.row_on(w, &chain).is_some())
    });
    wait_for_every_gm(&db, &chain, 5, &[&watcher]);
    assert!(
        watcher.log().contains("gap: the cursor of chain 8453"),
        "{}",
        watcher.log()
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
        }
    }
}
