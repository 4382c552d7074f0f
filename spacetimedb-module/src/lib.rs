//! The OnePulse SpacetimeDB module.
//!
//! Public tables: [`GmStatsByAddress`], with a row per (wallet, chain), and [`ChainCursor`], how
//! far each chain's GMs are reported. The reducers `report_gm` and `report_chain_gms` apply the
//! streak rule from `onepulse-domain`. Every argument is validated
//! first; a bad one returns an `Err` naming it and changes nothing. Nothing here panics on input.
//!
//! GMs come from the chain ([`access`]): only a *reporter* the module owner added
//! (`add_reporter`, table [`Reporter`]) — the chain watcher — may report them, one by one
//! (`report_gm`) or as a block range of one chain together with that chain's cursor
//! (`report_chain_gms`, table [`ChainCursor`]). An identity a wallet linked with a signed
//! Sign-In with Ethereum message (`bind_wallet`, table [`WalletBinding`]; ended by expiry,
//! `unbind_wallet` or the wallet's signed `revoke_wallet_links`) may set the wallet's Farcaster
//! profile (`set_profile`, table [`WalletProfile`]), which only the wallet's linked identities
//! and the owner can read (row-level security).
//!
//! One idea per file: [`owner`] (who published the module), [`gm_stats`] (the stats table and
//! `report_gm`), [`chain_cursor`] (batches from the chain watcher), [`profile`], [`seed`]
//! (benchmark seeding), [`reporters`], [`wallet_bindings`], [`link_domains`] (the domains link
//! messages may come from), [`link_servers`] (the addresses of this database they must name),
//! [`migration`] (cleaning what older modules wrote) and [`access`].

pub mod access;
pub mod chain_cursor;
pub mod gm_stats;
pub mod link_domains;
pub mod link_servers;
pub mod migration;
pub mod owner;
pub mod profile;
pub mod reporters;
pub mod seed;
pub mod wallet_bindings;

pub use chain_cursor::{ChainCursor, ChainGm};
pub use gm_stats::GmStatsByAddress;
pub use link_domains::LinkDomain;
pub use link_servers::LinkServer;
pub use migration::SchemaMigration;
pub use owner::ModuleOwner;
pub use profile::WalletProfile;
pub use reporters::Reporter;
pub use wallet_bindings::{LinkExpiry, LinkNonce, LinkRevocation, WalletBinding};
