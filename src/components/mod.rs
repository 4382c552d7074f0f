//! The page's parts. Each reads the [`GmStore`](crate::store::GmStore) and the [`Clock`] from
//! context.

mod address_form;
mod chain_card;
mod countdown;
mod problems;
mod report_gm;
mod status_pill;
mod totals;
mod wallet_link;

pub use address_form::AddressForm;
pub use chain_card::{ChainCard, ChainCards};
pub use countdown::Countdown;
pub use problems::Problems;
pub use report_gm::ReportGm;
pub use status_pill::StatusPill;
pub use totals::TotalsView;
pub use wallet_link::WalletLink;

use crate::store::GmStore;
use leptos::prelude::*;
use onepulse_domain::GmDay;
use std::time::Duration;

/// The current time in Unix seconds, ticking every second.
#[derive(Clone, Copy)]
pub struct Clock(pub RwSignal<i64>);

impl Clock {
    /// Starts ticking; stops when the owner is cleaned up.
    pub fn start() -> Self {
        let now = RwSignal::new(unix_now());
        if let Ok(handle) =
            set_interval_with_handle(move || now.set(unix_now()), Duration::from_secs(1))
        {
            on_cleanup(move || handle.clear());
        }
        Self(now)
    }

    /// Today's GM day (reactive).
    pub fn today(&self) -> GmDay {
        GmDay::from_unix_seconds(self.0.get())
    }
}

fn unix_now() -> i64 {
    (js_sys::Date::now() / 1000.0).floor() as i64
}

/// The store from context.
pub(crate) fn store() -> GmStore {
    expect_context::<GmStore>()
}

/// The clock from context, started by the first component that needs it.
pub(crate) fn clock() -> Clock {
    use_context::<Clock>().unwrap_or_else(|| {
        let clock = Clock::start();
        provide_context(clock);
        clock
    })
}
