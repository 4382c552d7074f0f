//! The DailyGM contract on real local Hardhat nodes.

use local_chain::{CHAIN_IDS, ChainConfig, DEV_ACCOUNT_0, LocalChain, TcpGate, start_chains};
use onepulse_evm::daily_gm::{self, GmEvent};
use onepulse_evm::primitives::{Address, B256, Bytes, address};
use onepulse_evm::rpc::{BlockId, LogBlocks, LogFilter, RpcClient};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const START_TIMEOUT: Duration = Duration::from_secs(60);
const DAY: u64 = 86_400;

fn log_dir(test: &str) -> PathBuf {
    std::env::temp_dir().join(format!("local-chain-tests-{}-{test}", std::process::id()))
}

fn start(chain_id: u64, test: &str) -> LocalChain {
    LocalChain::start(&ChainConfig::new(chain_id, &log_dir(test)), START_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Today's UTC day number by this machine's clock (the node's clock too).
fn today() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / DAY)
        .unwrap_or_default()
}

fn code_at(rpc: &RpcClient, contract: Address) -> Bytes {
    rpc.code(contract, BlockId::Latest)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_chain_id_gets_a_node_on_loopback_with_the_contract_from_account_0() {
    let chains =
        start_chains(&CHAIN_IDS, &log_dir("all"), START_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(chains.len(), 3);
    for chain in &chains {
        assert!(
            chain.url().starts_with("http://127.0.0.1:"),
            "{}",
            chain.url()
        );
        assert_eq!(chain.rpc().chain_id().unwrap(), chain.chain_id());
        // The first contract account #0 creates (nonce 0) lives at a well-known address.
        assert_eq!(
            chain.contract(),
            address!("5FbDB2315678afecb367f032d93F642f64180aa3")
        );
        assert!(code_at(chain.rpc(), chain.contract()).len() > 100);
        assert!(chain.deploy_block() >= 1);
        // Deployed by account #0: its only transaction so far.
        let nonce: onepulse_evm::primitives::U64 = chain
            .rpc()
            .request(
                "eth_getTransactionCount",
                serde_json::json!([DEV_ACCOUNT_0, "latest"]),
            )
            .unwrap();
        assert_eq!(nonce.to::<u64>(), 1);
    }
    let ids: Vec<u64> = chains.iter().map(LocalChain::chain_id).collect();
    assert_eq!(ids, [8453, 42220, 10]);
    // Nothing listens on every interface: the nodes answer on loopback only.
    for chain in &chains {
        let log = std::fs::read_to_string(chain.log_file()).unwrap_or_default();
        assert!(log.contains("http://127.0.0.1:"), "{log}");
        assert!(!log.contains("0.0.0.0"), "{log}");
    }
}

#[test]
fn gm_records_today_and_a_second_gm_the_same_day_reverts() {
    let chain = start(8453, "gm");
    let wallet = chain.new_wallet().unwrap();
    assert_eq!(chain.last_gm_day(wallet, BlockId::Latest).unwrap(), 0);
    let before = today();
    let receipt = chain.gm(wallet).unwrap_or_else(|e| panic!("{e}"));
    let after = today();
    let day = chain.last_gm_day(wallet, BlockId::Latest).unwrap();
    assert!(day == before || day == after, "day {day}, today {before}");
    let mined_in = receipt.block_number.unwrap().to::<u64>();
    assert_eq!(
        chain
            .last_gm_day(wallet, BlockId::Number(mined_in))
            .unwrap(),
        day
    );
    assert_eq!(
        chain
            .last_gm_day(wallet, BlockId::Number(mined_in - 1))
            .unwrap(),
        0
    );

    let again = chain.gm(wallet).unwrap_err();
    assert_eq!(again.revert_reason(), Some("Already GMed today"), "{again}");
    assert_eq!(chain.last_gm_day(wallet, BlockId::Latest).unwrap(), day);

    // The next day it works again.
    chain.next_day().unwrap();
    chain.gm(wallet).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(chain.last_gm_day(wallet, BlockId::Latest).unwrap(), day + 1);
}

#[test]
fn gm_to_yourself_reverts_and_gm_to_someone_else_counts_for_the_sender() {
    let chain = start(42220, "gm-to");
    let wallet = chain.new_wallet().unwrap();
    let friend = chain.new_wallet().unwrap();
    let to_self = chain.gm_to(wallet, wallet).unwrap_err();
    assert_eq!(
        to_self.revert_reason(),
        Some("Cannot GM to yourself"),
        "{to_self}"
    );
    assert_eq!(chain.last_gm_day(wallet, BlockId::Latest).unwrap(), 0);

    chain
        .gm_to(wallet, friend)
        .unwrap_or_else(|e| panic!("{e}"));
    let day = chain.last_gm_day(wallet, BlockId::Latest).unwrap();
    assert!(day >= today() - 1, "{day}");
    assert_eq!(chain.last_gm_day(friend, BlockId::Latest).unwrap(), 0);
    for second in [chain.gm(wallet), chain.gm_to(wallet, friend)] {
        let error = second.unwrap_err();
        assert_eq!(error.revert_reason(), Some("Already GMed today"), "{error}");
    }
    // The friend's own day is untouched by being greeted.
    chain.gm(friend).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn gm_events_name_the_user_and_the_recipient_in_their_topics() {
    let chain = start(10, "events");
    let wallet = chain.new_wallet().unwrap();
    let friend = chain.new_wallet().unwrap();
    let gm = chain.gm(wallet).unwrap();
    chain.next_day().unwrap();
    let gm_to = chain.gm_to(wallet, friend).unwrap();

    let padded = |a: Address| a.into_word();
    for (receipt, recipient) in [(&gm, B256::ZERO), (&gm_to, padded(friend))] {
        assert_eq!(receipt.logs.len(), 1, "{receipt:?}");
        let log = &receipt.logs[0];
        assert_eq!(log.address, chain.contract());
        assert_eq!(
            log.topics,
            [daily_gm::gm_topic(), padded(wallet), recipient]
        );
        assert!(log.data.is_empty());
    }

    // eth_getLogs finds both, in order, and they decode.
    let logs = chain
        .rpc()
        .get_logs(&LogFilter {
            address: chain.contract(),
            topic0: daily_gm::gm_topic(),
            blocks: LogBlocks::Range {
                from: chain.deploy_block(),
                to: chain.block_number().unwrap(),
            },
        })
        .unwrap();
    let events: Vec<GmEvent> = logs
        .iter()
        .map(|log| daily_gm::decode_gm_log(&log.topics, &log.data).unwrap())
        .collect();
    assert_eq!(
        events,
        [
            GmEvent {
                user: wallet,
                recipient: None
            },
            GmEvent {
                user: wallet,
                recipient: Some(friend)
            }
        ]
    );
    assert_eq!(logs[0].transaction_hash, Some(gm.transaction_hash));
    assert_eq!(logs[1].transaction_hash, Some(gm_to.transaction_hash));

    // By block hash (EIP-234): exactly that block's logs; an unknown hash is an error, never
    // an empty answer.
    let header = chain
        .header(BlockId::Number(gm_to.block_number.unwrap().to::<u64>()))
        .unwrap();
    let by_hash = |hash: B256| {
        chain.rpc().get_logs(&LogFilter {
            address: chain.contract(),
            topic0: daily_gm::gm_topic(),
            blocks: LogBlocks::Hash(hash),
        })
    };
    let at_block = by_hash(header.hash).unwrap();
    assert_eq!(at_block.len(), 1);
    assert_eq!(at_block[0].transaction_hash, Some(gm_to.transaction_hash));
    assert_eq!(at_block[0].block_hash, Some(header.hash));
    assert!(by_hash(B256::repeat_byte(0x42)).is_err());
    // A block the node does not have yet has no header.
    let head = chain.block_number().unwrap();
    assert_eq!(
        chain
            .rpc()
            .block_header(BlockId::Number(head + 10))
            .unwrap(),
        None
    );
}

/// The chain watcher takes a GM's day from its block's timestamp instead of calling
/// `lastGMDay` at that block (which needs an archive node for old blocks): the contract must
/// store exactly `timestamp / 1 days`, for plain GMs, `gmTo` and the next day.
#[test]
fn last_gm_day_is_the_gm_blocks_timestamp_over_a_day() {
    let chain = start(8453, "day-of-block");
    let wallet = chain.new_wallet().unwrap();
    let friend = chain.new_wallet().unwrap();
    let check = |receipt: &local_chain::Receipt, who: Address| {
        let block = receipt.block_number.unwrap().to::<u64>();
        let header = chain.header(BlockId::Number(block)).unwrap();
        let stored = chain.last_gm_day(who, BlockId::Number(block)).unwrap();
        assert_eq!(
            stored,
            daily_gm::day_of_timestamp(header.timestamp.to::<u64>()),
            "block {block}"
        );
        stored
    };
    let first = check(&chain.gm(wallet).unwrap(), wallet);
    chain.next_day().unwrap();
    let second = check(&chain.gm_to(wallet, friend).unwrap(), wallet);
    assert_eq!(second, first + 1);
    // next_day lands on the first second of the next day, not 24 hours on.
    let newest = chain.header(BlockId::Latest).unwrap();
    assert!(
        newest.timestamp.to::<u64>() % DAY < 60,
        "{}",
        newest.timestamp
    );
    let third = check(&chain.gm(friend).unwrap(), friend);
    assert_eq!(third, second);
}

#[test]
fn many_gms_can_share_one_block() {
    let chain = start(42220, "one-block");
    let wallets: Vec<Address> = (0..12).map(|_| chain.new_wallet().unwrap()).collect();
    let receipts = chain.gm_in_one_block(&wallets).unwrap();
    assert_eq!(receipts.len(), 12);
    let block = receipts[0].block_number;
    assert!(receipts.iter().all(|r| r.block_number == block));
    // Automining is back: the next GM is mined on its own.
    let after = chain.gm(chain.new_wallet().unwrap()).unwrap();
    assert!(after.block_number > block);
}

/// Two nodes asked for the same port: the second loses it (Hardhat exits with EADDRINUSE)
/// and, since the port was picked for it, is started again on another free port.
#[test]
fn a_node_whose_port_is_taken_is_not_mistaken_for_another() {
    let first = start(10, "port-first");
    let dir = log_dir("port-second");
    let mut fixed = ChainConfig::new(10, &dir);
    fixed.port = first.port();
    // A port given explicitly is not changed: the start fails, naming the reason.
    let error = LocalChain::start(&fixed, START_TIMEOUT).unwrap_err();
    assert!(error.to_string().contains("EADDRINUSE"), "{error}");
    // The first node is untouched (the second never deployed onto it).
    assert_eq!(first.block_number().unwrap(), first.deploy_block());
}

#[test]
fn a_closed_gate_cuts_the_rpc_and_the_same_chain_answers_when_it_opens() {
    let chain = start(8453, "gate");
    let target = format!("127.0.0.1:{}", chain.port()).parse().unwrap();
    let gate = TcpGate::start(target).unwrap();
    let through = RpcClient::new(&gate.url(), Duration::from_secs(5));
    let wallet = chain.new_wallet().unwrap();
    chain.gm(wallet).unwrap();
    let head = through.block_number().unwrap();
    assert_eq!(head, chain.block_number().unwrap());

    gate.close();
    let error = through.block_number().unwrap_err();
    assert!(error.is_unreachable(), "{error}");
    // The chain goes on meanwhile.
    chain.mine(3).unwrap();

    gate.open();
    assert_eq!(through.block_number().unwrap(), head + 3);
    assert_eq!(
        chain.last_gm_day(wallet, BlockId::Latest).unwrap(),
        chain.last_gm_day(wallet, BlockId::Number(head)).unwrap()
    );
    assert_eq!(chain.rpc().chain_id().unwrap(), 8453);
}

#[test]
fn a_stopped_node_no_longer_answers() {
    let chain = start(8453, "stop");
    let rpc = RpcClient::new(chain.url(), Duration::from_secs(5));
    assert_eq!(rpc.chain_id().unwrap(), 8453);
    chain.stop();
    assert!(rpc.block_number().unwrap_err().is_unreachable());
}
