//! OnePulse Live, the web app: a Leptos page over the browser runtime.
//!
//! [`model`] and [`config`] are pure (tested natively); the store and the components run in the
//! browser.

pub mod config;
pub mod model;

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
pub mod components;
#[cfg(target_arch = "wasm32")]
pub mod farcaster;
#[cfg(target_arch = "wasm32")]
pub mod mini_app;
#[cfg(target_arch = "wasm32")]
pub mod store;

#[cfg(target_arch = "wasm32")]
pub use app::{App, Page};
