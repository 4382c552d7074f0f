//! Totals across chains.

use super::{clock, store};
use crate::model::totals;
use leptos::prelude::*;

/// All-time GMs, best live streak, chains done today.
#[component]
pub fn TotalsView() -> impl IntoView {
    let store = store();
    let clock = clock();
    let totals = Memo::new(move |_| totals(&store.streaks.get(), clock.today()));
    view! {
        <Show
            when=move || store.shows_numbers.get()
            fallback=move || view! { <section class="totals skeleton" aria-busy="true">"Loading totals…"</section> }
        >
            <section
                class=move || if store.cached_as_of.get().is_some() { "totals cached" } else { "totals" }
                id="totals"
            >
                <div><span class="label">"All-time GMs"</span> <strong class="all-time">{move || totals.get().all_time}</strong></div>
                <div><span class="label">"Best streak now"</span> <strong class="best">{move || totals.get().best_current}</strong></div>
                <div><span class="label">"GM'd today"</span> <strong class="done">{move || format!("{}/3", totals.get().done_today)}</strong></div>
            </section>
        </Show>
    }
}
