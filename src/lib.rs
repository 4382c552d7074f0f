//! OnePulse Live, the web app: a Leptos page over the browser runtime.
//!
//! [`model`], [`page_state`], [`snapshots`], [`config`], the Farcaster value types in
//! [`farcaster`], the GM transaction in [`gm_tx`], the wallet-link message in
//! [`link_message`] and the link's state in [`link_state`] are pure (tested natively); the
//! store, the wallet calls and the components run in the browser.

pub mod config;
pub mod farcaster;
pub mod gm_tx;
pub mod link_message;
pub mod link_state;
pub mod model;
pub mod page_state;
pub mod snapshots;

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
pub mod components;
#[cfg(target_arch = "wasm32")]
pub mod local_storage;
#[cfg(target_arch = "wasm32")]
pub mod mini_app;
#[cfg(target_arch = "wasm32")]
pub mod store;
#[cfg(target_arch = "wasm32")]
pub mod wallet;

#[cfg(target_arch = "wasm32")]
pub use app::{App, Page};
