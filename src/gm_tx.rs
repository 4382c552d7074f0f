//! Saying GM on chain: the `DailyGM` contract's `gm()` sent from the user's wallet, as plain
//! values and pure functions (tested natively); the wallet calls themselves are in
//! [`crate::wallet`].
//!
//! - [`GmContracts`]: where `DailyGM` is on each chain — build configuration
//!   (`ONEPULSE_DAILY_GM_BASE`, `…_CELO`, `…_OPTIMISM` at build time, like `SPACETIMEDB_HOST`);
//!   debug builds default to the local chains' address, release builds have none unless given.
//!   The wallet's chain ids are the domain's ([`Chain::id`]): the module, the chain watcher and
//!   the local chains use the same ones.
//! - The EIP-1193 requests a GM needs ([`switch_chain_params`], [`gm_transaction_params`], …)
//!   and the reading of their answers ([`parse_quantity`], [`TxReceipt`]).
//! - [`GmTx`]: where the GM stands (preparing, waiting for the signature, pending, confirmed,
//!   failed), with its words; [`GmFailure`]: why it failed, classified from the wallet's error
//!   ([`classify`]): declined (EIP-1193 4001), already GM'd today (the contract's revert),
//!   wrong chain, no funds, or anything else with the wallet's own message.
//!
//! Nothing here writes a streak: the numbers change when the chain watcher has reported the GM
//! and the live subscription brings the row.

use crate::farcaster::FarcasterError;
use onepulse_domain::{Address, Chain, TxHash};
use serde::Deserialize;
use std::fmt;

/// Calldata of `gm()`: its 4-byte selector, `keccak256("gm()")[..4]`.
pub const GM_CALLDATA: &str = "0xc0129d43";

/// The contract's revert reason for a second GM on one UTC day.
pub const ALREADY_GMED_TODAY: &str = "Already GMed today";

/// Where `DailyGM` is on every local chain: the first contract Hardhat's account #0 deploys on
/// a fresh node (`tools/local-chain`), so the same on each chain and after every restart.
pub const LOCAL_DAILY_GM: &str = "0x5fbdb2315678afecb367f032d93f642f64180aa3";

/// EIP-1193: the user rejected the request.
pub const USER_REJECTED: i64 = 4001;
/// EIP-3326: the wallet does not know the chain asked for.
pub const UNRECOGNIZED_CHAIN: i64 = 4902;

/// Where `DailyGM` is on each chain, or why this build has no address for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GmContracts {
    entries: [(Chain, Result<Address, String>); 3],
}

impl GmContracts {
    /// The addresses this build was made with (`ONEPULSE_DAILY_GM_BASE`, `…_CELO`,
    /// `…_OPTIMISM`); debug builds default to [`LOCAL_DAILY_GM`].
    pub fn from_build() -> Self {
        Self::from_values(
            [
                option_env!("ONEPULSE_DAILY_GM_BASE"),
                option_env!("ONEPULSE_DAILY_GM_CELO"),
                option_env!("ONEPULSE_DAILY_GM_OPTIMISM"),
            ],
            cfg!(debug_assertions),
        )
    }

    /// The addresses from the build's values for Base, Celo and Optimism; a missing value is
    /// [`LOCAL_DAILY_GM`] in `development` builds, and no address otherwise (a release build
    /// never sends a GM to a contract nobody named).
    pub fn from_values(values: [Option<&str>; 3], development: bool) -> Self {
        let entry = |chain: Chain, value: Option<&str>| {
            let variable = env_name(chain);
            let address = match value.map(str::trim).filter(|v| !v.is_empty()) {
                Some(text) => Address::parse(text)
                    .map_err(|e| format!("this build's {variable} is not an address ({e})")),
                None if development => Address::parse(LOCAL_DAILY_GM)
                    .map_err(|e| format!("the local DailyGM address is malformed ({e})")),
                None => Err(format!(
                    "this build has no DailyGM address for {chain} (set {variable} when building)"
                )),
            };
            (chain, address)
        };
        let [base, celo, optimism] = values;
        Self {
            entries: [
                entry(Chain::Base, base),
                entry(Chain::Celo, celo),
                entry(Chain::Optimism, optimism),
            ],
        }
    }

    /// `DailyGM` on `chain`, or why there is none.
    pub fn get(&self, chain: Chain) -> Result<&Address, &str> {
        self.entries
            .iter()
            .find(|(c, _)| *c == chain)
            .map_or(Err("unknown chain"), |(_, address)| {
                address.as_ref().map_err(String::as_str)
            })
    }
}

/// The build-time variable holding `DailyGM`'s address on `chain`.
pub fn env_name(chain: Chain) -> &'static str {
    match chain {
        Chain::Base => "ONEPULSE_DAILY_GM_BASE",
        Chain::Celo => "ONEPULSE_DAILY_GM_CELO",
        Chain::Optimism => "ONEPULSE_DAILY_GM_OPTIMISM",
    }
}

/// A chain id as EIP-1193 writes it: `0x` + lowercase hex, no leading zeros.
pub fn chain_id_hex(chain: Chain) -> String {
    format!("{:#x}", chain.id())
}

// The JSON below is written by hand (no JSON serializer in the wasm, docs/app-size.md): every
// value is `0x` + lowercase hex (a chain id, a parsed address or hash, the calldata), which needs
// no escaping.

/// Parameters of `wallet_switchEthereumChain` to `chain`, as JSON.
pub fn switch_chain_params(chain: Chain) -> String {
    format!(r#"[{{"chainId":"{}"}}]"#, chain_id_hex(chain))
}

/// Parameters of `eth_estimateGas` / `eth_sendTransaction` for `gm()` from `from` to
/// `contract` on `chain`, as JSON. The `chainId` makes a wallet refuse to sign it for another
/// chain (should the chain change between the switch and the signature) instead of sending the
/// GM where `contract` may be something else.
pub fn gm_transaction_params(from: &Address, contract: &Address, chain: Chain) -> String {
    format!(
        r#"[{{"from":"{}","to":"{}","data":"{GM_CALLDATA}","chainId":"{}"}}]"#,
        from.as_str(),
        contract.as_str(),
        chain_id_hex(chain)
    )
}

/// Parameters of `eth_getTransactionReceipt`, as JSON.
pub fn receipt_params(hash: &TxHash) -> String {
    format!(r#"["{}"]"#, hash.as_str())
}

/// An Ethereum JSON-RPC quantity (`0x` + hex digits, e.g. a chain id or a block number).
pub fn parse_quantity(text: &str) -> Result<u64, String> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .filter(|d| !d.is_empty())
        .ok_or_else(|| format!("{:?} is not a 0x quantity", shorten(text)))?;
    u64::from_str_radix(digits, 16)
        .map_err(|_| format!("{:?} is not a hex number that fits 64 bits", shorten(text)))
}

/// The wallet's first account, checked.
pub fn first_account(accounts: &[String]) -> Result<Address, GmFailure> {
    let first = accounts.first().ok_or(GmFailure::NoAccount)?;
    Address::parse(first)
        .map_err(|e| GmFailure::Wallet(format!("the wallet's account is unusable: {e}")))
}

/// The transaction hash `eth_sendTransaction` answered, checked.
pub fn sent_hash(answer: &str) -> Result<TxHash, GmFailure> {
    TxHash::parse(answer).map_err(|_| {
        GmFailure::Wallet(format!(
            "the wallet answered {:?} instead of a transaction hash",
            shorten(answer)
        ))
    })
}

/// What `eth_getTransactionReceipt` answers about a mined transaction (the fields used; the
/// rest is ignored). `null` (not mined yet) is `None` around it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxReceipt {
    /// `0x1` success, `0x0` reverted.
    #[serde(default)]
    pub status: Option<String>,
    /// The block it was mined in.
    #[serde(default)]
    pub block_number: Option<String>,
}

impl TxReceipt {
    /// The block of a successful transaction, or why it failed.
    pub fn outcome(&self, chain: Chain) -> Result<u64, GmFailure> {
        let status = self.status.as_deref().ok_or_else(|| {
            GmFailure::Wallet("the transaction's receipt has no status".to_owned())
        })?;
        let block = |receipt: &Self| {
            receipt
                .block_number
                .as_deref()
                .ok_or_else(|| GmFailure::Wallet("the receipt has no block number".to_owned()))
                .and_then(|n| {
                    parse_quantity(n).map_err(|e| GmFailure::Wallet(format!("the receipt's {e}")))
                })
        };
        match parse_quantity(status) {
            Ok(1) => block(self),
            Ok(0) => Err(GmFailure::Reverted {
                chain,
                reason: "the transaction was mined but reverted".to_owned(),
            }),
            _ => Err(GmFailure::Wallet(format!(
                "the receipt's status {:?} is neither 0x0 nor 0x1",
                shorten(status)
            ))),
        }
    }
}

/// The reason string of a Solidity `Error(string)` revert (`0x08c379a0` + ABI-encoded string),
/// from its hex; `None` for anything else, and never a panic on malformed data.
pub fn revert_reason(hex: &str) -> Option<String> {
    let bytes = decode_hex(hex.strip_prefix("0x")?)?;
    let body = bytes.strip_prefix(&[0x08, 0xc3, 0x79, 0xa0][..])?;
    let offset = word_as_usize(body.get(..32)?)?;
    let length_word = body.get(offset..offset.checked_add(32)?)?;
    let length = word_as_usize(length_word)?;
    let start = offset.checked_add(32)?;
    let text = body.get(start..start.checked_add(length)?)?;
    String::from_utf8(text.to_vec()).ok()
}

fn word_as_usize(word: &[u8]) -> Option<usize> {
    let (high, low) = word.split_at_checked(24)?;
    if high.iter().any(|&b| b != 0) {
        return None;
    }
    usize::try_from(u64::from_be_bytes(low.try_into().ok()?)).ok()
}

fn decode_hex(digits: &str) -> Option<Vec<u8>> {
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(text, 16).ok()
        })
        .collect()
}

/// The request that failed: the same wallet error means different things at each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `eth_accounts` / `eth_requestAccounts`.
    Accounts,
    /// `eth_chainId`, `wallet_switchEthereumChain`.
    SwitchChain,
    /// `eth_estimateGas`: the contract's answer before anything is sent.
    Check,
    /// `eth_sendTransaction`.
    Send,
    /// `eth_getTransactionReceipt`.
    Receipt,
}

/// Why a GM was not said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GmFailure {
    /// The user said no in the wallet (EIP-1193 4001).
    Declined,
    /// The contract refuses: this wallet already said GM on this chain today.
    AlreadyToday(Chain),
    /// The wallet is on another chain and cannot (or would not) switch.
    WrongChain {
        /// The chain the GM is for.
        wanted: Chain,
        /// What the wallet said or is on.
        detail: String,
    },
    /// The wallet cannot pay the gas.
    NoFunds(Chain),
    /// The contract reverted for another reason.
    Reverted {
        /// The chain.
        chain: Chain,
        /// The reason.
        reason: String,
    },
    /// The wallet gave no account.
    NoAccount,
    /// This build has no contract address for the chain.
    NotConfigured(String),
    /// The transaction was not mined in time.
    NotMined(TxHash),
    /// Anything else, with the wallet's message.
    Wallet(String),
}

impl fmt::Display for GmFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GmFailure::Declined => write!(f, "Declined in the wallet: nothing was sent."),
            GmFailure::AlreadyToday(chain) => write!(
                f,
                "Already GM'd today on {chain}: one GM per chain per UTC day. Nothing was sent; \
                 come back after midnight UTC."
            ),
            GmFailure::WrongChain { wanted, detail } => write!(
                f,
                "Wrong chain: the wallet is not on {wanted} (chain {}) — {detail}. Switch it \
                 to {wanted} and try again.",
                wanted.id()
            ),
            GmFailure::NoFunds(chain) => write!(
                f,
                "No funds: the wallet cannot pay the gas on {chain}. Add a little of {chain}'s \
                 native token and try again."
            ),
            GmFailure::Reverted { chain, reason } => {
                write!(f, "The GM on {chain} failed: {reason}.")
            }
            GmFailure::NoAccount => write!(
                f,
                "The wallet gave no account: unlock it or connect an account, then try again."
            ),
            GmFailure::NotConfigured(why) => write!(f, "Cannot say GM here: {why}."),
            GmFailure::NotMined(hash) => write!(
                f,
                "Transaction {} was sent but is not mined yet: check your wallet.",
                short_hash(hash)
            ),
            GmFailure::Wallet(message) => write!(f, "The wallet failed: {message}"),
        }
    }
}

/// What a wallet `error` at `step` means for a GM on `chain`.
pub fn classify(step: Step, chain: Chain, error: &FarcasterError) -> GmFailure {
    if error.code == Some(USER_REJECTED) {
        return GmFailure::Declined;
    }
    let reason = error.data.as_deref().and_then(revert_reason);
    let lower = error.message.to_ascii_lowercase();
    let mentions_already = |text: &str| text.contains(&ALREADY_GMED_TODAY.to_ascii_lowercase());
    if reason.as_deref().is_some_and(|r| r == ALREADY_GMED_TODAY) || mentions_already(&lower) {
        return GmFailure::AlreadyToday(chain);
    }
    if lower.contains("insufficient funds") || lower.contains("enough funds") {
        return GmFailure::NoFunds(chain);
    }
    if step == Step::SwitchChain
        || error.code == Some(UNRECOGNIZED_CHAIN)
        || lower.contains("unrecognized chain")
    {
        let detail = match error.code {
            Some(UNRECOGNIZED_CHAIN) => format!("the wallet does not know {chain}"),
            _ => error.to_string(),
        };
        return GmFailure::WrongChain {
            wanted: chain,
            detail,
        };
    }
    if let Some(reason) = reason {
        return GmFailure::Reverted { chain, reason };
    }
    if matches!(step, Step::Check | Step::Send) && lower.contains("revert") {
        return GmFailure::Reverted {
            chain,
            reason: error.message.clone(),
        };
    }
    GmFailure::Wallet(error.to_string())
}

/// Where a GM transaction stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum GmTx {
    /// Nothing asked.
    #[default]
    Idle,
    /// Asking the wallet for its account and chain, and the contract whether today is free.
    Preparing(Chain),
    /// Waiting for the user to sign in the wallet.
    Signing(Chain),
    /// Sent, not mined yet.
    Pending {
        /// The chain.
        chain: Chain,
        /// The transaction.
        hash: TxHash,
    },
    /// Mined and successful.
    Confirmed {
        /// The chain.
        chain: Chain,
        /// The transaction.
        hash: TxHash,
        /// Its block.
        block: u64,
    },
    /// Not said, and why.
    Failed {
        /// The chain.
        chain: Chain,
        /// Why.
        failure: GmFailure,
    },
}

impl GmTx {
    /// Whether a GM is under way (no other may start).
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            GmTx::Preparing(_) | GmTx::Signing(_) | GmTx::Pending { .. }
        )
    }

    /// The chain of the GM, if any.
    pub fn chain(&self) -> Option<Chain> {
        match self {
            GmTx::Idle => None,
            GmTx::Preparing(chain) | GmTx::Signing(chain) => Some(*chain),
            GmTx::Pending { chain, .. }
            | GmTx::Confirmed { chain, .. }
            | GmTx::Failed { chain, .. } => Some(*chain),
        }
    }

    /// `pending`, `confirmed` or `failed` (for the page's `data-state`); `None` when idle.
    pub fn kind(&self) -> Option<&'static str> {
        match self {
            GmTx::Idle => None,
            GmTx::Preparing(_) | GmTx::Signing(_) | GmTx::Pending { .. } => Some("pending"),
            GmTx::Confirmed { .. } => Some("confirmed"),
            GmTx::Failed { .. } => Some("failed"),
        }
    }

    /// What the page says; `counted` tells whether the live data already shows today's GM on
    /// the chain (the watcher reported it).
    pub fn message(&self, counted: bool) -> Option<String> {
        Some(match self {
            GmTx::Idle => return None,
            GmTx::Preparing(chain) => format!("Preparing your GM on {chain}…"),
            GmTx::Signing(chain) => {
                format!("Pending: confirm the GM on {chain} in your wallet…")
            }
            GmTx::Pending { chain, hash } => format!(
                "Pending: GM on {chain} sent ({}), waiting for it to be mined…",
                short_hash(hash)
            ),
            GmTx::Confirmed { chain, hash, block } if counted => format!(
                "GM on {chain} confirmed in block {block} ({}) and counted.",
                short_hash(hash)
            ),
            GmTx::Confirmed { chain, hash, block } => format!(
                "GM on {chain} confirmed in block {block} ({}): your streak updates as soon \
                 as it is counted.",
                short_hash(hash)
            ),
            GmTx::Failed { failure, .. } => failure.to_string(),
        })
    }
}

/// `0x1234…cdef`.
pub fn short_hash(hash: &TxHash) -> String {
    let text = hash.as_str();
    match (text.get(..6), text.get(text.len().saturating_sub(4)..)) {
        (Some(head), Some(tail)) => format!("{head}…{tail}"),
        _ => text.to_owned(),
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(80).collect()
}

/// The wallets a page may use, once looked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WalletChoice {
    /// Still looking (the Farcaster host check, EIP-6963 announcements).
    #[default]
    Looking,
    /// The Farcaster host's wallet.
    Host,
    /// Browser wallets that announced themselves (EIP-6963), in announcement order.
    Injected(Vec<InjectedWallet>),
    /// None at all; `in_host` when the page runs in a Farcaster host without a wallet.
    Missing {
        /// Whether the page runs in a Farcaster host.
        in_host: bool,
    },
}

/// A browser wallet that answered EIP-6963's `eip6963:requestProvider`: its `info`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InjectedWallet {
    /// The announcement's `uuid`, how the bridge finds its provider again.
    pub id: String,
    /// Its name, for the page.
    pub name: String,
    /// Its reverse-DNS id (`io.metamask`), if given.
    #[serde(default)]
    pub rdns: Option<String>,
}

impl WalletChoice {
    /// The choice from what was found: the host's wallet inside a host, else the announced
    /// browser wallets, else none.
    pub fn from_found(in_host: bool, host_wallet: bool, injected: Vec<InjectedWallet>) -> Self {
        if in_host {
            return if host_wallet {
                WalletChoice::Host
            } else {
                WalletChoice::Missing { in_host }
            };
        }
        if injected.is_empty() {
            WalletChoice::Missing { in_host }
        } else {
            WalletChoice::Injected(injected)
        }
    }

    /// What the page says instead of GM buttons when there is no wallet.
    pub fn missing_message(in_host: bool) -> &'static str {
        if in_host {
            "This Farcaster client offers no wallet to this app: open OnePulse in a Farcaster \
             client with a wallet (such as Warpcast) to say GM on chain."
        } else {
            "No wallet found in this browser. To say GM on chain, install a browser wallet \
             (such as MetaMask, Rabby or Coinbase Wallet) and reload this page, or open \
             OnePulse in a Farcaster client (such as Warpcast)."
        }
    }
}

// Native only: the checks against the contract build and alloy (not in the app's wasm).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use onepulse_evm::daily_gm;
    use onepulse_evm::primitives::hex;

    fn error(code: Option<i64>, message: &str, data: Option<&str>) -> FarcasterError {
        FarcasterError {
            code,
            message: message.to_owned(),
            data: data.map(str::to_owned),
        }
    }

    fn already_gmed_data() -> String {
        let encoded = alloy_revert(ALREADY_GMED_TODAY);
        format!("0x{}", hex::encode(encoded))
    }

    /// A Solidity `Error(string)` revert as alloy encodes it (and the watcher decodes it).
    fn alloy_revert(reason: &str) -> Vec<u8> {
        use alloy::sol_types::SolError;
        let data = alloy::sol_types::Revert::from(reason).abi_encode();
        assert_eq!(daily_gm::revert_reason(&data).as_deref(), Some(reason));
        data
    }

    #[test]
    fn gm_calldata_is_the_contracts_selector() {
        assert_eq!(
            GM_CALLDATA,
            format!("0x{}", hex::encode(daily_gm::gm_calldata()))
        );
    }

    #[test]
    fn the_local_address_is_where_hardhat_account_0_deploys_first() {
        // CREATE address of (sender, nonce 0): keccak256(rlp([sender, 0]))[12..], where the RLP
        // is 0xd6 (a 22-byte list), 0x94 (a 20-byte string), the sender, 0x80 (zero).
        let deployer = hex::decode("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266").unwrap();
        let rlp = [&[0xd6, 0x94][..], &deployer, &[0x80]].concat();
        let hash = onepulse_evm::primitives::keccak256(rlp);
        assert_eq!(
            format!("0x{}", hex::encode(&hash[12..])),
            LOCAL_DAILY_GM,
            "tools/local-chain deploys DailyGM from account #0 as its first transaction"
        );
    }

    #[test]
    fn contracts_come_from_the_build_or_local_in_development() {
        let other = "0x00000000000000000000000000000000000000AA";
        let dev = GmContracts::from_values([None, Some(other), Some("  ")], true);
        assert_eq!(dev.get(Chain::Base).unwrap().as_str(), LOCAL_DAILY_GM);
        assert_eq!(
            dev.get(Chain::Celo).unwrap().as_str(),
            "0x00000000000000000000000000000000000000aa"
        );
        assert_eq!(dev.get(Chain::Optimism).unwrap().as_str(), LOCAL_DAILY_GM);

        let release = GmContracts::from_values([None, Some(other), Some("0x12")], false);
        let missing = release.get(Chain::Base).unwrap_err();
        assert!(
            missing.contains("no DailyGM address for Base")
                && missing.contains("ONEPULSE_DAILY_GM_BASE"),
            "{missing}"
        );
        assert!(release.get(Chain::Celo).is_ok());
        let bad = release.get(Chain::Optimism).unwrap_err();
        assert!(
            bad.contains("ONEPULSE_DAILY_GM_OPTIMISM is not an address"),
            "{bad}"
        );
    }

    #[test]
    fn requests_are_the_json_wallets_expect() {
        assert_eq!(
            switch_chain_params(Chain::Base),
            r#"[{"chainId":"0x2105"}]"#
        );
        assert_eq!(
            switch_chain_params(Chain::Celo),
            r#"[{"chainId":"0xa4ec"}]"#
        );
        assert_eq!(
            switch_chain_params(Chain::Optimism),
            r#"[{"chainId":"0xa"}]"#
        );
        let from = Address::parse("0xF39FD6E51AAD88F6F4CE6AB8827279CFFFB92266").unwrap();
        let contract = Address::parse(LOCAL_DAILY_GM).unwrap();
        for (chain, id) in [
            (Chain::Base, "0x2105"),
            (Chain::Celo, "0xa4ec"),
            (Chain::Optimism, "0xa"),
        ] {
            let tx: serde_json::Value =
                serde_json::from_str(&gm_transaction_params(&from, &contract, chain)).unwrap();
            assert_eq!(
                tx,
                serde_json::json!([{
                    "from": "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
                    "to": LOCAL_DAILY_GM,
                    "data": "0xc0129d43",
                    "chainId": id,
                }])
            );
        }
        let hash = TxHash::parse(&format!("0x{}", "Ab".repeat(32))).unwrap();
        assert_eq!(
            receipt_params(&hash),
            format!(r#"["0x{}"]"#, "ab".repeat(32))
        );
    }

    #[test]
    fn quantities_parse_or_say_why() {
        assert_eq!(parse_quantity("0x2105"), Ok(8453));
        assert_eq!(parse_quantity("0xA"), Ok(10));
        assert_eq!(parse_quantity("0x0"), Ok(0));
        for bad in ["", "0x", "2105", "0xzz", "0x1ffffffffffffffff", "0x-1"] {
            assert!(parse_quantity(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn accounts_and_hashes_are_checked() {
        assert_eq!(first_account(&[]), Err(GmFailure::NoAccount));
        let account =
            first_account(&["0xF39FD6E51AAD88F6F4CE6AB8827279CFFFB92266".to_owned()]).unwrap();
        assert_eq!(
            account.as_str(),
            "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
        );
        assert!(matches!(
            first_account(&["nope".to_owned()]),
            Err(GmFailure::Wallet(m)) if m.contains("unusable")
        ));
        assert!(sent_hash(&format!("0x{}", "1".repeat(64))).is_ok());
        assert!(matches!(sent_hash("0x12"), Err(GmFailure::Wallet(m)) if m.contains("0x12")));
    }

    #[test]
    fn receipts_say_mined_reverted_or_malformed() {
        let receipt: Option<TxReceipt> = serde_json::from_str(
            r#"{"status":"0x1","blockNumber":"0x5","logs":[],"transactionHash":"0x00"}"#,
        )
        .unwrap();
        assert_eq!(receipt.unwrap().outcome(Chain::Base), Ok(5));
        let pending: Option<TxReceipt> = serde_json::from_str("null").unwrap();
        assert_eq!(pending, None);
        let reverted = TxReceipt {
            status: Some("0x0".into()),
            block_number: Some("0x6".into()),
        };
        assert!(matches!(
            reverted.outcome(Chain::Celo),
            Err(GmFailure::Reverted {
                chain: Chain::Celo,
                ..
            })
        ));
        for (status, block) in [
            (None, Some("0x1")),
            (Some("0x2"), Some("0x1")),
            (Some("0x1"), None),
            (Some("0x1"), Some("x")),
        ] {
            let odd = TxReceipt {
                status: status.map(str::to_owned),
                block_number: block.map(str::to_owned),
            };
            assert!(
                matches!(odd.outcome(Chain::Base), Err(GmFailure::Wallet(_))),
                "{odd:?}"
            );
        }
    }

    #[test]
    fn revert_reasons_decode_like_the_contract_crate() {
        let data = already_gmed_data();
        assert_eq!(revert_reason(&data).as_deref(), Some(ALREADY_GMED_TODAY));
        assert_eq!(
            revert_reason(&format!(
                "0x{}",
                hex::encode(alloy_revert("Cannot GM to yourself"))
            ))
            .as_deref(),
            Some("Cannot GM to yourself")
        );
        // Hardhat's answer to a second gm() the same day.
        let hardhat = "0x08c379a000000000000000000000000000000000000000000000000000000000000000200000000000000000000000000000000000000000000000000000000000000012416c726561647920474d656420746f6461790000000000000000000000000000";
        assert_eq!(revert_reason(hardhat).as_deref(), Some(ALREADY_GMED_TODAY));
        // Truncated, lying lengths and offsets, other selectors, not hex: nothing, no panic.
        let truncated = &data[..data.len() - 40];
        let huge_length = data.replacen(
            "0000000000000000000000000000000000000000000000000000000000000012",
            "00000000000000000000000000000000000000000000000000000000ffffffff",
            1,
        );
        let huge_offset = data.replacen(
            "0000000000000000000000000000000000000000000000000000000000000020",
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            1,
        );
        for bad in [
            "",
            "0x",
            "0x08c379a0",
            truncated,
            &huge_length,
            &huge_offset,
            "0x4e487b710000000000000000000000000000000000000000000000000000000000000011",
            "0x08c379a0zz",
            "0x08c379a",
            "08c379a0",
        ] {
            assert_eq!(revert_reason(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn wallet_errors_are_classified() {
        let base = Chain::Base;
        assert_eq!(
            classify(Step::Send, base, &error(Some(4001), "User rejected", None)),
            GmFailure::Declined
        );
        assert_eq!(
            classify(Step::SwitchChain, base, &error(Some(4001), "no", None)),
            GmFailure::Declined
        );
        // The revert through a browser wallet (data) and through the Farcaster host (text).
        let data = already_gmed_data();
        assert_eq!(
            classify(
                Step::Check,
                base,
                &error(Some(-32603), "Internal error", Some(&data))
            ),
            GmFailure::AlreadyToday(base)
        );
        assert_eq!(
            classify(
                Step::Check,
                base,
                &error(
                    Some(-32603),
                    "Error: VM Exception while processing transaction: reverted with reason \
                     string 'Already GMed today'",
                    None
                )
            ),
            GmFailure::AlreadyToday(base)
        );
        assert_eq!(
            classify(
                Step::Send,
                base,
                &error(Some(-32000), "execution reverted: Already GMed today", None)
            ),
            GmFailure::AlreadyToday(base)
        );
        assert_eq!(
            classify(
                Step::Check,
                base,
                &error(
                    Some(-32000),
                    "insufficient funds for gas * price + value",
                    None
                )
            ),
            GmFailure::NoFunds(base)
        );
        assert_eq!(
            classify(
                Step::Send,
                base,
                &error(None, "Sender doesn't have enough funds to send tx", None)
            ),
            GmFailure::NoFunds(base)
        );
        assert!(matches!(
            classify(Step::SwitchChain, base, &error(Some(4902), "Unrecognized chain ID", None)),
            GmFailure::WrongChain { wanted: Chain::Base, detail } if detail.contains("does not know Base")
        ));
        assert!(matches!(
            classify(Step::SwitchChain, base, &error(Some(-32603), "busy", None)),
            GmFailure::WrongChain { detail, .. } if detail.contains("busy")
        ));
        assert_eq!(
            classify(
                Step::Check,
                base,
                &error(
                    None,
                    "x",
                    Some(&format!("0x{}", hex::encode(alloy_revert("Paused"))))
                )
            ),
            GmFailure::Reverted {
                chain: base,
                reason: "Paused".into()
            }
        );
        assert!(matches!(
            classify(
                Step::Check,
                base,
                &error(Some(3), "execution reverted", None)
            ),
            GmFailure::Reverted { .. }
        ));
        assert_eq!(
            classify(Step::Receipt, base, &error(Some(-32603), "node down", None)),
            GmFailure::Wallet("node down (wallet error -32603)".into())
        );
    }

    #[test]
    fn every_state_says_what_it_is() {
        let hash = TxHash::parse(&format!("0x12{}cdef", "0".repeat(58))).unwrap();
        assert_eq!(GmTx::Idle.message(false), None);
        assert_eq!(GmTx::Idle.kind(), None);
        assert!(!GmTx::Idle.is_busy());
        let pending = GmTx::Pending {
            chain: Chain::Celo,
            hash: hash.clone(),
        };
        assert!(pending.is_busy());
        assert_eq!(pending.kind(), Some("pending"));
        assert_eq!(
            pending.message(false).unwrap(),
            "Pending: GM on Celo sent (0x1200…cdef), waiting for it to be mined…"
        );
        assert!(
            GmTx::Signing(Chain::Base)
                .message(false)
                .unwrap()
                .contains("in your wallet")
        );
        let confirmed = GmTx::Confirmed {
            chain: Chain::Base,
            hash,
            block: 7,
        };
        assert!(!confirmed.is_busy());
        assert_eq!(confirmed.kind(), Some("confirmed"));
        assert!(
            confirmed
                .message(false)
                .unwrap()
                .contains("confirmed in block 7")
        );
        assert!(
            confirmed
                .message(false)
                .unwrap()
                .contains("as soon as it is counted")
        );
        assert!(confirmed.message(true).unwrap().ends_with("and counted."));
        let failed = GmTx::Failed {
            chain: Chain::Optimism,
            failure: GmFailure::AlreadyToday(Chain::Optimism),
        };
        assert_eq!(failed.kind(), Some("failed"));
        assert_eq!(failed.chain(), Some(Chain::Optimism));
        assert!(
            failed
                .message(false)
                .unwrap()
                .starts_with("Already GM'd today on Optimism")
        );
        for failure in [
            GmFailure::Declined,
            GmFailure::NoFunds(Chain::Base),
            GmFailure::WrongChain {
                wanted: Chain::Base,
                detail: "it is on chain 1".into(),
            },
            GmFailure::NoAccount,
        ] {
            let text = failure.to_string();
            assert!(!text.is_empty() && text.ends_with('.'), "{text}");
        }
        assert!(GmFailure::Declined.to_string().starts_with("Declined"));
        assert!(
            GmFailure::NoFunds(Chain::Base)
                .to_string()
                .starts_with("No funds")
        );
        assert!(
            GmFailure::WrongChain {
                wanted: Chain::Base,
                detail: String::new()
            }
            .to_string()
            .starts_with("Wrong chain")
        );
    }

    #[test]
    fn the_wallet_is_the_hosts_else_a_browser_wallet_else_none() {
        let metamask = InjectedWallet {
            id: "u1".into(),
            name: "MetaMask".into(),
            rdns: Some("io.metamask".into()),
        };
        assert_eq!(
            WalletChoice::from_found(true, true, vec![metamask.clone()]),
            WalletChoice::Host
        );
        assert_eq!(
            WalletChoice::from_found(true, false, vec![]),
            WalletChoice::Missing { in_host: true }
        );
        assert_eq!(
            WalletChoice::from_found(false, false, vec![metamask.clone()]),
            WalletChoice::Injected(vec![metamask])
        );
        assert_eq!(
            WalletChoice::from_found(false, false, vec![]),
            WalletChoice::Missing { in_host: false }
        );
        assert!(WalletChoice::missing_message(false).contains("install a browser wallet"));
        assert!(WalletChoice::missing_message(true).contains("Farcaster client"));
        let announced: InjectedWallet =
            serde_json::from_str(r#"{"id":"x","name":"Rabby","rdns":null,"icon":"data:"}"#)
                .unwrap();
        assert_eq!(announced.rdns, None);
    }
}
