//! Time left until the next UTC midnight, when a new GM day starts.

use super::clock;
use crate::model::countdown;
use leptos::prelude::*;

/// "Next reset in HH:MM:SS".
#[component]
pub fn Countdown() -> impl IntoView {
    let clock = clock();
    view! {
        <p class="countdown">"Next reset in " <time id="countdown">{move || countdown(clock.now())}</time></p>
    }
}
