//! The DailyGM contract on real local Hardhat nodes.

use local_chain::{CHAIN_IDS, ChainConfig, DEV_ACCOUNT_0, LocalChain, TcpGate, start_chains};
use onepulse_evm::daily_gm::{self, GmEvent};
use onepulse_evm::primitives::{Address, B256, Bytes, address};
use onepulse_evm::rpc::{BlockId, LogFilter, RpcClient};
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
    chain.increase_time(DAY).unwrap();
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
    chain.increase_time(DAY).unwrap();
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
            from_block: chain.deploy_block(),
            to_block: chain.block_number().unwrap(),
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
