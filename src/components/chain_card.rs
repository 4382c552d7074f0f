//! One card per chain.

use super::{clock, store};
use crate::model::CardView;
use leptos::prelude::*;
use onepulse_domain::Chain;

/// The three chains' cards.
#[component]
pub fn ChainCards() -> impl IntoView {
    view! {
        <section class="cards">
            {Chain::ALL.into_iter().map(|chain| view! { <ChainCard chain=chain /> }).collect_view()}
        </section>
    }
}

/// A chain's current streak, highest, all-time, last GM day and whether today is done; a
/// skeleton while there are no numbers (never a bare 0 that really means "unknown"). Cached
/// numbers are shown as such (class `cached`; the page says their age).
#[component]
pub fn ChainCard(chain: Chain) -> impl IntoView {
    let store = store();
    let clock = clock();
    // Only this chain's entry: other chains' changes do not re-render this card.
    let card = Memo::new(move |_| {
        store
            .streaks
            .with(|s| s.get(&chain).copied())
            .map(|streak| CardView::new(&streak, clock.today()))
    });
    let body = move || {
        if !store.shows_numbers.get() {
            return view! { <p class="skeleton" aria-busy="true">"Loading…"</p> }.into_any();
        }
        match card.get() {
            None => view! { <p class="empty">"No GM yet on " {chain.name()}</p> }.into_any(),
            Some(c) => view! {
                <dl>
                    <dt>"Current streak"</dt><dd class="current">{c.current}</dd>
                    <dt>"Highest"</dt><dd class="highest">{c.highest}</dd>
                    <dt>"All-time"</dt><dd class="all-time">{c.all_time}</dd>
                    <dt>"Last GM"</dt><dd class="last-day"><time>{c.last_day.to_string()}</time></dd>
                </dl>
                <p class=if c.done_today { "today done" } else { "today pending" }>
                    {if c.done_today { "✓ GM'd today" } else { "○ Not yet today" }}
                </p>
            }
            .into_any(),
        }
    };
    view! {
        <article
            class=move || if store.cached_as_of.get().is_some() { "card cached" } else { "card" }
            data-chain=chain.id().to_string()
        >
            <h2>{chain.name()}</h2>
            {body}
        </article>
    }
}
