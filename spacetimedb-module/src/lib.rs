//! The OnePulse SpacetimeDB module.
//!
//! One public table, [`GmStatsByAddress`], with a row per (wallet, chain), and the reducer
//! `report_gm` that applies the streak rule from `onepulse-domain`. Every argument is validated
//! first; a bad one returns an `Err` naming it and changes nothing. Nothing here panics on input.
//!
//! Only an authorized caller may report for a wallet ([`access`]): a *reporter* the module owner
//! added (`add_reporter`, table [`Reporter`]), or an identity the wallet itself bound with a
//! signed message (`bind_wallet`, table [`WalletBinding`]).
//!
//! One idea per file: [`owner`] (who published the module), [`gm_stats`] (the stats table and
//! `report_gm`), [`seed`] (benchmark seeding), [`reporters`], [`wallet_bindings`] and [`access`].

pub mod access;
pub mod gm_stats;
pub mod owner;
pub mod reporters;
pub mod seed;
pub mod wallet_bindings;

pub use gm_stats::GmStatsByAddress;
pub use owner::ModuleOwner;
pub use reporters::Reporter;
pub use wallet_bindings::WalletBinding;
