//! Problems with the data, shown rather than swallowed.

use super::store;
use leptos::prelude::*;

/// The live subscription's error and the fallback service's last failure, if any.
#[component]
pub fn Problems() -> impl IntoView {
    let store = store();
    view! {
        <Show when=move || store.live_error.get().is_some()>
            <p id="live-error" class="error" role="alert">
                "⚠ Live data unavailable: " {move || store.live_error.get().unwrap_or_default()}
            </p>
        </Show>
        <Show when=move || store.fallback_error.get().is_some()>
            <p id="fallback-error" class="error" role="alert">
                "⚠ Fallback failed: " {move || store.fallback_error.get().unwrap_or_default()}
            </p>
        </Show>
    }
}
