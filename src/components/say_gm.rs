//! "GM on Base / Celo / Optimism": sends `gm()` to the `DailyGM` contract from the user's wallet
//! (the Farcaster host's, or a browser wallet found with EIP-6963) and says where it stands.
//! Without a wallet it says how to get one instead of offering buttons that can only fail.
//!
//! The streaks are never written here: once the chain watcher has reported the GM, the live
//! subscription brings the new row and the cards change by themselves.

use super::{clock, store};
use crate::farcaster;
use crate::gm_tx::{GmContracts, GmFailure, GmTx, InjectedWallet, WalletChoice};
use crate::mini_app::MiniApp;
use crate::wallet::{self, WalletRef};
use leptos::prelude::*;
use onepulse_domain::Chain;

/// How long browser wallets may take to answer EIP-6963's request.
const ANNOUNCE_WAIT_MS: u32 = 400;

/// The GM buttons, the wallet they use and the last GM's state.
#[component]
pub fn SayGm() -> impl IntoView {
    let store = store();
    let clock = clock();
    let mini_app = use_context::<MiniApp>();
    let contracts = StoredValue::new(GmContracts::from_build());
    let choice = RwSignal::new(WalletChoice::Looking);
    let selected = RwSignal::new(0usize);
    let tx = RwSignal::new(GmTx::Idle);

    // Look for a wallet once the Farcaster host check is done (at once without a mini app).
    Effect::new(move |looked: Option<bool>| {
        if looked == Some(true) {
            return true;
        }
        if !mini_app.is_none_or(|m| m.checked.get()) {
            return false;
        }
        let in_host = mini_app.is_some_and(|m| m.in_host.get_untracked());
        let host_wallet = mini_app.is_some_and(|m| m.wallet.get_untracked().is_some());
        wasm_bindgen_futures::spawn_local(async move {
            let injected = if in_host {
                Vec::new()
            } else {
                farcaster::injected_wallets(ANNOUNCE_WAIT_MS)
                    .await
                    .unwrap_or_else(|e| {
                        log::warn!("looking for browser wallets: {e}");
                        Vec::new()
                    })
            };
            choice.set(WalletChoice::from_found(in_host, host_wallet, injected));
        });
        true
    });

    let say = move |chain: Chain| {
        if tx.with_untracked(GmTx::is_busy) {
            return;
        }
        let wallet = match choice.get_untracked() {
            WalletChoice::Host => WalletRef::Host,
            WalletChoice::Injected(wallets) => match wallets.get(selected.get_untracked()) {
                Some(w) => WalletRef::Injected(w.id.clone()),
                None => return,
            },
            WalletChoice::Looking | WalletChoice::Missing { .. } => return,
        };
        let contract = match contracts.with_value(|c| c.get(chain).cloned().map_err(str::to_owned))
        {
            Ok(contract) => contract,
            Err(why) => {
                tx.set(GmTx::Failed {
                    chain,
                    failure: GmFailure::NotConfigured(why),
                });
                return;
            }
        };
        wasm_bindgen_futures::spawn_local(async move {
            let last = wallet::say_gm(
                &wallet,
                chain,
                &contract,
                // The page shows the streaks of the wallet that says GM.
                move |account| {
                    if store.address.get_untracked().as_ref() != Some(account) {
                        store.set_address(account.as_str());
                    }
                },
                move |state| tx.set(state),
            )
            .await;
            tx.set(last);
        });
    };

    // Whether the live data already shows today's GM on the chain of the last GM (a memo: the
    // clock ticks every second, the answer rarely changes).
    let counted = Memo::new(move |_| {
        let Some(chain) = tx.with(GmTx::chain) else {
            return false;
        };
        let today = clock.today();
        store
            .streaks
            .with(|s| s.get(&chain).is_some_and(|streak| streak.done_on(today)))
    });

    let buttons = move || {
        view! {
            <div class="report-buttons gm-buttons">
                {Chain::ALL
                    .into_iter()
                    .map(|chain| {
                        view! {
                            <button
                                type="button"
                                data-chain=chain.id().to_string()
                                disabled=move || tx.with(GmTx::is_busy)
                                on:click=move |_| say(chain)
                            >
                                "GM on " {chain.name()}
                            </button>
                        }
                    })
                    .collect_view()}
            </div>
        }
    };

    let wallet_line = move |wallets: Vec<InjectedWallet>| match wallets.as_slice() {
        [only] => view! { <p id="gm-wallet">"With " {only.name.clone()}</p> }.into_any(),
        _ => view! {
            <label id="gm-wallet">
                "With "
                <select
                    prop:value=move || selected.get().to_string()
                    on:change=move |ev| {
                        if let Ok(i) = event_target_value(&ev).parse::<usize>() {
                            selected.set(i);
                        }
                    }
                >
                    {wallets
                        .into_iter()
                        .enumerate()
                        .map(|(i, w)| view! { <option value=i.to_string()>{w.name}</option> })
                        .collect_view()}
                </select>
            </label>
        }
        .into_any(),
    };

    let body = move || match choice.get() {
        WalletChoice::Looking => {
            view! { <p id="gm-wallet" aria-busy="true">"Looking for a wallet…"</p> }.into_any()
        }
        WalletChoice::Missing { in_host } => view! {
            <p id="gm-no-wallet" role="note">{WalletChoice::missing_message(in_host)}</p>
        }
        .into_any(),
        WalletChoice::Host => view! {
            <p id="gm-wallet">"With your Farcaster wallet"</p>
            {buttons()}
        }
        .into_any(),
        WalletChoice::Injected(wallets) => view! {
            {wallet_line(wallets)}
            {buttons()}
        }
        .into_any(),
    };

    let outcome = move || {
        let state = tx.get();
        let kind = state.kind()?;
        let message = state.message(counted.get())?;
        let (class, role, symbol) = match kind {
            "confirmed" => ("ok", "status", "✓ "),
            "failed" => ("error", "alert", "⚠ "),
            _ => ("", "status", "… "),
        };
        Some(view! {
            <p id="gm-outcome" class=class role=role data-state=kind>{symbol} {message}</p>
        })
    };

    view! {
        <section class="report gm">
            <h2>"Say GM on chain"</h2>
            {body}
            {outcome}
        </section>
    }
}
