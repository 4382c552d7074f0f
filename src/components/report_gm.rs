//! The "Report GM" action: after the on-chain GM, tell the database.

use super::{clock, store};
use crate::mini_app::MiniApp;
use leptos::prelude::*;
use onepulse_domain::Chain;

/// One button per chain; shows the outcome (committed, or the reducer's error).
#[component]
pub fn ReportGm() -> impl IntoView {
    let store = store();
    let clock = clock();
    let mini_app = use_context::<MiniApp>();
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let pending = RwSignal::new(false);
    let report = move |chain: Chain| {
        pending.set(true);
        outcome.set(None);
        let today = clock.today();
        wasm_bindgen_futures::spawn_local(async move {
            let user = mini_app.and_then(|m| m.user.get_untracked());
            let result = store.report_gm(chain, today, user).await;
            outcome.set(Some(
                result.map(|()| format!("GM on {} recorded", chain.name())),
            ));
            pending.set(false);
        });
    };
    view! {
        <section class="report">
            <h2>"Report GM"</h2>
            <div class="report-buttons">
                {Chain::ALL
                    .into_iter()
                    .map(|chain| {
                        view! {
                            <button
                                type="button"
                                data-chain=chain.id().to_string()
                                disabled=move || pending.get() || store.address.get().is_none()
                                on:click=move |_| report(chain)
                            >
                                {chain.name()}
                            </button>
                        }
                    })
                    .collect_view()}
            </div>
            {move || match outcome.get() {
                None => None,
                Some(Ok(message)) => Some(view! { <p id="report-outcome" class="ok" role="status">"✓ " {message}</p> }.into_any()),
                Some(Err(message)) => Some(view! { <p id="report-outcome" class="error" role="alert">"⚠ " {message}</p> }.into_any()),
            }}
        </section>
    }
}
