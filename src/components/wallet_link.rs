//! Linking the Farcaster host's wallet to this browser, so Report GM is authorized for it.
//! Shown only inside a Farcaster host with a wallet.

use super::{clock, store};
use crate::mini_app::{LinkState, MiniApp};
use leptos::prelude::*;

/// The "Link wallet" section: the wallet, its link state, and the button that asks the wallet
/// to sign the link message.
#[component]
pub fn WalletLink() -> impl IntoView {
    let store = store();
    let clock = clock();
    let Some(mini_app) = use_context::<MiniApp>() else {
        return ().into_any();
    };
    let link = move |_| {
        let today = clock.today();
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = mini_app.link_wallet(store, today).await {
                log::warn!("linking the wallet failed: {e}");
            }
        });
    };
    let body = move || {
        let wallet = mini_app.wallet.get()?;
        let state = mini_app.link.get();
        Some(view! {
            <section class="wallet-link" data-state=format!("{state:?}")>
                {mini_app.user.get().map(|user| view! {
                    <p id="farcaster-user">
                        {user.display_name.clone().unwrap_or_default()} " "
                        {user.username.clone().map(|u| format!("@{u}")).unwrap_or_default()}
                        " · fid " {user.fid}
                    </p>
                })}
                <p>"Wallet " <code id="host-wallet">{wallet.as_str().to_owned()}</code></p>
                {match state {
                    LinkState::Linked => view! {
                        <p id="link-state" class="ok" role="status">"✓ Linked: Report GM works for this wallet here"</p>
                    }.into_any(),
                    LinkState::Linking => view! {
                        <p id="link-state" role="status">"Waiting for the wallet's signature…"</p>
                    }.into_any(),
                    LinkState::Unlinked | LinkState::Failed(_) => view! {
                        <button id="link-wallet" type="button" on:click=link>
                            "Link wallet to report GMs"
                        </button>
                    }.into_any(),
                }}
                {match mini_app.link.get() {
                    LinkState::Failed(message) => Some(view! {
                        <p id="link-error" class="error" role="alert">"⚠ " {message}</p>
                    }),
                    _ => None,
                }}
            </section>
        })
    };
    body.into_any()
}
