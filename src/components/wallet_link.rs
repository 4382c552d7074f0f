//! Linking the Farcaster host's wallet to this browser, so the user's Farcaster fid and names
//! are stored for it (GMs need no link: they come from the chain), and revoking every link of
//! the wallet (a lost device). Shown only inside a Farcaster host with a wallet.

use super::store;
use crate::mini_app::{LinkState, MiniApp};
use leptos::prelude::*;

/// The "Link wallet" section: the wallet, its link state, the button that asks the wallet to
/// sign the Sign-In with Ethereum link message (then the profile is saved), and the one that
/// asks it to sign the revocation of every link it made.
#[component]
pub fn WalletLink() -> impl IntoView {
    let store = store();
    let Some(mini_app) = use_context::<MiniApp>() else {
        return ().into_any();
    };
    let link = move |_| {
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = mini_app.link_wallet(store).await {
                log::warn!("linking the wallet failed: {e}");
            }
        });
    };
    let revoke = move |_| {
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = mini_app.revoke_links(store).await {
                log::warn!("revoking the wallet's links failed: {e}");
            }
        });
    };
    let body = move || {
        let wallet = mini_app.wallet.get()?;
        let state = mini_app.link.get();
        let busy = state == LinkState::Linking;
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
                        <p id="link-state" class="ok" role="status">"✓ Linked: your Farcaster profile is saved for this wallet; only your linked devices can read it"</p>
                    }.into_any(),
                    LinkState::Linking => view! {
                        <p id="link-state" role="status">"Waiting for the wallet's signature…"</p>
                    }.into_any(),
                    LinkState::LinkAgain => view! {
                        <p id="link-again" class="error" role="alert">"⚠ The database was reset and no longer knows this browser: link your wallet again to show your Farcaster name"</p>
                        <button id="link-wallet" type="button" on:click=link>
                            "Link wallet again"
                        </button>
                    }.into_any(),
                    LinkState::Unlinked | LinkState::Failed(_) => view! {
                        <button id="link-wallet" type="button" on:click=link>
                            "Link wallet to show your Farcaster name"
                        </button>
                    }.into_any(),
                }}
                {match mini_app.link.get() {
                    LinkState::Failed(message) => Some(view! {
                        <p id="link-error" class="error" role="alert">"⚠ " {message}</p>
                    }),
                    _ => None,
                }}
                {(!busy).then(|| view! {
                    <button id="revoke-links" type="button" class="secondary" on:click=revoke>
                        "Unlink this wallet from every device"
                    </button>
                })}
            </section>
        })
    };
    body.into_any()
}
