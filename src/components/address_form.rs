//! The wallet address field.

use super::store;
use leptos::prelude::*;

/// A text field for the wallet address (the page remembers the address shown).
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
        store.set_address(&input.get_untracked());
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
