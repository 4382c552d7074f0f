//! Saying GM on chain from the page: `gm()` to `DailyGM` through the user's wallet — the
//! Farcaster host's (EIP-1193 over the mini app SDK) or a browser wallet found with EIP-6963 —
//! via the bundled bridge (`farcaster/src/onepulse-farcaster.js`).
//!
//! The steps: the wallet's account; its chain (`eth_chainId`, `wallet_switchEthereumChain` when
//! it is on another); the contract's answer before anything is sent (`eth_estimateGas`: a
//! second GM the same day reverts "Already GMed today" there, so nothing is sent and no gas is
//! spent); `eth_sendTransaction`; then `eth_getTransactionReceipt` until it is mined. Each
//! step's state goes to the caller ([`GmTx`]); failures are classified by [`classify`]. What
//! the states mean and say is pure and tested natively in [`crate::gm_tx`].

use crate::farcaster::{self, FarcasterError};
use crate::gm_tx::{
    GmFailure, GmTx, Step, TxReceipt, classify, first_account, gm_transaction_params,
    parse_quantity, receipt_params, sent_hash, switch_chain_params,
};
use onepulse_domain::{Address, Chain, TxHash};
use serde::de::{DeserializeOwned, IgnoredAny};
use std::time::Duration;

/// How long a sent GM is watched for its receipt before the page says it is not mined yet.
const MINING_PATIENCE: Duration = Duration::from_secs(10 * 60);
/// How often the receipt is asked for during the first [`QUICK_POLLS`] polls, then
/// [`SLOW_POLL`].
const QUICK_POLL: Duration = Duration::from_millis(250);
const QUICK_POLLS: u32 = 40;
const SLOW_POLL: Duration = Duration::from_secs(2);
/// Receipt requests that may fail in a row before the wallet counts as failed.
const RECEIPT_ERRORS: u32 = 5;

/// The wallet a GM is sent from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletRef {
    /// The Farcaster host's wallet.
    Host,
    /// A browser wallet, by its EIP-6963 announcement's uuid.
    Injected(String),
}

impl WalletRef {
    /// How the bridge names it: `""` for the host's wallet, else the uuid.
    fn bridge_id(&self) -> &str {
        match self {
            WalletRef::Host => "",
            WalletRef::Injected(id) => id,
        }
    }
}

/// Sends `gm()` to `contract` on `chain` from `wallet`'s account; `on_account` gets that
/// account as soon as it is known (the page then shows its streaks), `progress` every state on
/// the way. Returns the last state: confirmed (mined and successful) or failed.
pub async fn say_gm(
    wallet: &WalletRef,
    chain: Chain,
    contract: &Address,
    on_account: impl FnOnce(&Address),
    progress: impl Fn(GmTx),
) -> GmTx {
    progress(GmTx::Preparing(chain));
    match send(wallet.bridge_id(), chain, contract, on_account, &progress).await {
        Ok(confirmed) => confirmed,
        Err(failure) => {
            log::warn!("GM on {chain} not said: {failure}");
            GmTx::Failed { chain, failure }
        }
    }
}

async fn send(
    wallet: &str,
    chain: Chain,
    contract: &Address,
    on_account: impl FnOnce(&Address),
    progress: &impl Fn(GmTx),
) -> Result<GmTx, GmFailure> {
    let accounts: Vec<String> = request(wallet, "eth_requestAccounts", "")
        .await
        .map_err(|e| classify(Step::Accounts, chain, &e))?;
    let account = first_account(&accounts)?;
    on_account(&account);
    ensure_chain(wallet, chain).await?;
    let transaction = gm_transaction_params(&account, contract, chain);
    let _gas: IgnoredAny = request(wallet, "eth_estimateGas", &transaction)
        .await
        .map_err(|e| classify(Step::Check, chain, &e))?;
    progress(GmTx::Signing(chain));
    let answer: String = request(wallet, "eth_sendTransaction", &transaction)
        .await
        .map_err(|e| classify(Step::Send, chain, &e))?;
    let hash = sent_hash(&answer)?;
    log::info!("GM on {chain} sent: {}", hash.as_str());
    progress(GmTx::Pending {
        chain,
        hash: hash.clone(),
    });
    let block = mined(wallet, chain, &hash).await?;
    log::info!("GM on {chain} mined in block {block}");
    Ok(GmTx::Confirmed { chain, hash, block })
}

/// The wallet on `chain`: asked to switch when it is on another, and checked afterwards.
async fn ensure_chain(wallet: &str, chain: Chain) -> Result<(), GmFailure> {
    let wanted = u64::try_from(chain.id()).unwrap_or_default();
    if chain_of(wallet, chain).await? == wanted {
        return Ok(());
    }
    let _: IgnoredAny = request(
        wallet,
        "wallet_switchEthereumChain",
        &switch_chain_params(chain),
    )
    .await
    .map_err(|e| classify(Step::SwitchChain, chain, &e))?;
    match chain_of(wallet, chain).await? {
        now if now == wanted => Ok(()),
        now => Err(GmFailure::WrongChain {
            wanted: chain,
            detail: format!("it is still on chain {now} after switching"),
        }),
    }
}

/// The wallet's current chain id.
async fn chain_of(wallet: &str, chain: Chain) -> Result<u64, GmFailure> {
    let id: String = request(wallet, "eth_chainId", "")
        .await
        .map_err(|e| classify(Step::SwitchChain, chain, &e))?;
    parse_quantity(&id)
        .map_err(|e| GmFailure::Wallet(format!("the wallet's chain id is unreadable: {e}")))
}

/// Waits until `hash` is mined: its block, or why it failed.
async fn mined(wallet: &str, chain: Chain, hash: &TxHash) -> Result<u64, GmFailure> {
    let params = receipt_params(hash);
    let started = js_sys::Date::now();
    let mut polls: u32 = 0;
    let mut errors: u32 = 0;
    loop {
        match request::<Option<TxReceipt>>(wallet, "eth_getTransactionReceipt", &params).await {
            Ok(Some(receipt)) => return receipt.outcome(chain),
            Ok(None) => errors = 0,
            Err(e) => {
                errors += 1;
                log::warn!("reading the receipt of {}: {e}", hash.as_str());
                if errors >= RECEIPT_ERRORS {
                    return Err(classify(Step::Receipt, chain, &e));
                }
            }
        }
        if js_sys::Date::now() - started > MINING_PATIENCE.as_millis() as f64 {
            return Err(GmFailure::NotMined(hash.clone()));
        }
        polls = polls.saturating_add(1);
        let pause = if polls < QUICK_POLLS {
            QUICK_POLL
        } else {
            SLOW_POLL
        };
        gloo_timers::future::sleep(pause).await;
    }
}

async fn request<T: DeserializeOwned>(
    wallet: &str,
    method: &str,
    params_json: &str,
) -> Result<T, FarcasterError> {
    farcaster::wallet_request(wallet, method, params_json).await
}
