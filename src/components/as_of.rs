//! The age of cached numbers.

use super::{clock, store};
use crate::snapshots::as_of_label;
use leptos::prelude::*;

/// "Last known numbers, as of 14:02" (local time) while the numbers on screen are cached ones,
/// not current data; nothing otherwise.
#[component]
pub fn AsOf() -> impl IntoView {
    let store = store();
    let clock = clock();
    let label = move || {
        store.cached_as_of.get().map(|as_of| {
            let now_ms = clock.now().saturating_mul(1000);
            // `getTimezoneOffset` is UTC minus local time, in minutes.
            let offset = -(js_sys::Date::new_0().get_timezone_offset() as i64);
            as_of_label(as_of, now_ms, offset)
        })
    };
    view! {
        <Show when=move || store.cached_as_of.get().is_some()>
            <p id="as-of" class="as-of" role="status">
                "Last known numbers, " {move || label().unwrap_or_default()}
            </p>
        </Show>
    }
}
