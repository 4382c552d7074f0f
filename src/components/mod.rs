//! The page's parts. Each reads the [`GmStore`](crate::store::GmStore) and the [`Clock`] from
//! context; the page provides both.

mod address_form;
mod as_of;
mod chain_card;
mod countdown;
mod problems;
mod say_gm;
mod status_pill;
mod totals;
mod wallet_link;

pub use address_form::AddressForm;
pub use as_of::AsOf;
pub use chain_card::{ChainCard, ChainCards};
pub use countdown::Countdown;
pub use problems::Problems;
pub use say_gm::SayGm;
pub use status_pill::StatusPill;
pub use totals::TotalsView;
pub use wallet_link::WalletLink;

use crate::store::GmStore;
use leptos::prelude::*;
use onepulse_domain::GmDay;
use std::time::Duration;

/// The current time in Unix seconds, ticking every second. Started once by the page
/// ([`Clock::start`]) and provided to its components by context.
#[derive(Clone, Copy)]
pub struct Clock {
    now: ReadSignal<i64>,
}

impl Clock {
    /// Starts ticking; stops when the current owner (the page) is cleaned up.
    pub fn start() -> Self {
        let (now, set_now) = signal(unix_now());
        match set_interval_with_handle(move || set_now.set(unix_now()), Duration::from_secs(1)) {
            Ok(handle) => on_cleanup(move || handle.clear()),
            Err(e) => log::warn!("the countdown clock cannot tick: {e:?}"),
        }
        Self { now }
    }

    /// The current time in Unix seconds (reactive).
    pub fn now(&self) -> i64 {
        self.now.get()
    }

    /// Today's GM day (reactive).
    pub fn today(&self) -> GmDay {
        GmDay::from_unix_seconds(self.now())
    }
}

fn unix_now() -> i64 {
    (js_sys::Date::now() / 1000.0).floor() as i64
}

/// The store from context (provided by the page).
pub(crate) fn store() -> GmStore {
    expect_context::<GmStore>()
}

/// The clock from context (provided by the page).
pub(crate) fn clock() -> Clock {
    expect_context::<Clock>()
}
