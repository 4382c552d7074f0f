//! The wallet address field.

use super::store;
use crate::app::ADDRESS_KEY;
use gloo_storage::{LocalStorage, Storage};
use leptos::prelude::*;

/// A text field for the wallet address; the address is remembered in `localStorage`.
#[component]
pub fn AddressForm() -> impl IntoView {
    let store = store();
    let input = RwSignal::new(
        store
            .address
            .get_untracked()
            .map(|a| a.to_string())
            .unwrap_or_default(),
    );
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let text = input.get_untracked();
        store.set_address(&text);
        if let Some(address) = store.address.get_untracked()
            && let Err(e) = LocalStorage::set(ADDRESS_KEY, address.as_str())
        {
            log::warn!("could not remember the address: {e}");
        }
    };
    view! {
        <form class="address" on:submit=submit>
            <label for="address-input">"Wallet address"</label>
            <div class="address-row">
                <input
                    id="address-input"
                    type="text"
                    inputmode="text"
                    autocomplete="off"
                    spellcheck="false"
                    placeholder="0x…"
                    prop:value=move || input.get()
                    on:input=move |ev| input.set(event_target_value(&ev))
                />
                <button type="submit">"Show"</button>
            </div>
            <Show when=move || store.address_error.get().is_some()>
                <p id="address-error" class="error" role="alert">
                    "⚠ " {move || store.address_error.get().unwrap_or_default()}
                </p>
            </Show>
        </form>
    }
}
