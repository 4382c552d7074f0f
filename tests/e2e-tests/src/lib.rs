//! End-to-end tests of OnePulse as a user meets it: the built app (trunk, release) in headless
//! Chromium driven over WebDriver, against a real SpacetimeDB with the module published and the
//! fallback service serving both the app and `/api`.
//!
//! `cargo xtask test` builds the app and passes what the tests need in the environment:
//! `ONEPULSE_APP_DIST` (the built app), `ONEPULSE_FARCASTER_HOST` (the test Farcaster host),
//! `ONEPULSE_SPACETIMEDB_BIN`, `ONEPULSE_MODULE_WASM`, `ONEPULSE_CHAIN_WATCHER_BIN` (the chain
//! watcher) and `CHROMEDRIVER`. Each test starts its own pieces ([`Stack`], local chains and a
//! watcher from [`chains`]) and its own browser ([`Page`]).

mod browser;
pub mod chains;
mod farcaster_host;
mod gate;
mod page;
mod stack;

pub use browser::Chromedriver;
pub use farcaster_host::{FarcasterHost, HOST_FID, HOST_USERNAME, HOST_WALLET};
pub use gate::{Gate, Mode};
pub use page::Page;
pub use stack::{Reporter, Stack};
