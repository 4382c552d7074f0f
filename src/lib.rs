//! OnePulse Live, the web app.
//!
//! For now a single page listing the chains OnePulse counts GMs on and today's GM day; the live
//! store and the stats cards come with the runtime.

use leptos::prelude::*;
use onepulse_domain::{Chain, GmDay};

/// Today's GM day by the browser's clock.
fn today() -> GmDay {
    GmDay::from_unix_millis(js_sys::Date::now())
}

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let today = today();
    view! {
        <main class="app">
            <header>
                <h1>"OnePulse"</h1>
                <p class="tagline">"Say GM once a UTC day and keep your streak alive."</p>
            </header>
            <ul class="chains">
                {Chain::ALL
                    .into_iter()
                    .map(|chain| view! { <li class="chain">{chain.name()}" · "{chain.id()}</li> })
                    .collect_view()}
            </ul>
            <p class="today">"Today is GM day " {today.number()} " (" {today.to_string()} ")"</p>
        </main>
    }
}
