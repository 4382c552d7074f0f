//! Where the numbers come from, in words.

use super::store;
use crate::model::DataSource;
use leptos::prelude::*;
use stdb_client::ConnectionStatus;

/// `Live`, `Fallback`, `Cached`, `Loading`, `Connecting`, `Reconnecting…` or `Offline` (plus an
/// icon, so colour is not needed). Never `Live` unless this address's live data is on screen
/// (or no address is set and the connection is up).
#[component]
pub fn StatusPill() -> impl IntoView {
    let store = store();
    let label = move || match (store.status.get(), store.source.get()) {
        (ConnectionStatus::Connected(_), DataSource::Live) => ("live", "● Live"),
        // Fallback numbers on screen: say so, whatever the socket is doing meanwhile.
        (_, DataSource::Fallback) => ("fallback", "◐ Fallback"),
        (ConnectionStatus::Reconnecting { .. }, _) => ("reconnecting", "↻ Reconnecting…"),
        (ConnectionStatus::Disconnected(_), _) => ("offline", "✕ Offline"),
        // Connected, but this address's subscription failed: it is being made again.
        (ConnectionStatus::Connected(_), _) if store.live_error.get().is_some() => {
            ("reconnecting", "↻ Reconnecting…")
        }
        // The last known numbers while connecting: not live yet.
        (_, DataSource::Cached) => ("cached", "◌ Cached"),
        // Connected, but this address's rows are not here yet: not live yet either.
        (ConnectionStatus::Connected(_), DataSource::None) if store.address.get().is_some() => {
            ("connecting", "○ Loading")
        }
        (ConnectionStatus::Connected(_), _) => ("live", "● Live"),
        (ConnectionStatus::Connecting, _) => ("connecting", "○ Connecting"),
    };
    view! {
        <span id="status-pill" class=move || format!("pill {}", label().0) role="status" aria-live="polite">
            {move || label().1}
        </span>
    }
}
