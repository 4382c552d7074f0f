//! A wallet's Farcaster profile (fid, display name, username): personal data, readable only by
//! the identities bound to the wallet and the module owner (SEC-005).
//!
//! The profile lives in [`WalletProfile`] and nowhere else: the public `gm_stats_by_address`
//! keeps its `fid`, `display_name` and `username` columns (clients decode rows by position) but
//! they are always empty. `wallet_profile` is public so that clients may subscribe to it, with
//! a row-level security filter ([`WALLET_PROFILE_VISIBLE_TO_BOUND_IDENTITIES`]): a client sees
//! the profile of a wallet only while its identity is bound to that wallet (`wallet_binding`,
//! itself filtered to the caller's own bindings). SpacetimeDB 1.2.0 enforces these filters for
//! subscriptions, one-off queries and `/sql`; the owner bypasses them.
//!
//! Reporters may write a profile (`set_profile`) but cannot read one: SpacetimeDB 1.2 filters
//! can only join on indexed columns, and nothing joins a profile to the `reporter` table. The
//! chain watcher never needs to.

use crate::access::authorize_profile;
use onepulse_domain::{Address, MAX_NAME_CHARS, ReportError};
use spacetimedb::{
    Filter, ReducerContext, Table, Timestamp, client_visibility_filter, reducer, table,
};

/// The profile a wallet set for itself. Public, but filtered: see
/// [`WALLET_PROFILE_VISIBLE_TO_BOUND_IDENTITIES`].
#[table(name = wallet_profile, public)]
#[derive(Clone, Debug)]
pub struct WalletProfile {
    /// Lowercase `0x…` wallet address.
    #[primary_key]
    pub address: String,
    /// Farcaster id.
    pub fid: Option<i64>,
    /// Farcaster display name.
    pub display_name: Option<String>,
    /// Farcaster username.
    pub username: Option<String>,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// Row-level security: a client sees a wallet's profile only when its identity (`:sender`) is
/// bound to that wallet. The join runs over `wallet_binding`, whose own filter keeps only the
/// caller's bindings; both join columns are indexed, as SpacetimeDB requires for subscriptions.
#[client_visibility_filter]
pub const WALLET_PROFILE_VISIBLE_TO_BOUND_IDENTITIES: Filter = Filter::Sql(
    "SELECT wallet_profile.* FROM wallet_binding \
     JOIN wallet_profile ON wallet_binding.address = wallet_profile.address \
     WHERE wallet_binding.identity = :sender",
);

/// Sets the Farcaster fid and names of the wallet `address`; `None` keeps a stored value.
///
/// Only an identity bound to the wallet (`bind_wallet`) or a reporter may; anyone else gets
/// `Err("not authorized: …")`. Validated like `report_gm`'s fields (address `0x` + 40 hex
/// digits, fid positive, names at most 64 characters), before authorization. Only
/// `wallet_profile` changes, so the call (and its arguments, which SpacetimeDB sends to every
/// subscriber whose rows a transaction changes) reaches only the wallet's bound identities.
#[reducer]
pub fn set_profile(
    ctx: &ReducerContext,
    address: String,
    fid: Option<i64>,
    display_name: Option<String>,
    username: Option<String>,
) -> Result<(), String> {
    let address = Address::parse(&address).map_err(|e| ReportError::from(e).to_string())?;
    if let Some(fid) = fid.filter(|&fid| fid <= 0) {
        return Err(ReportError::Fid(fid).to_string());
    }
    check_name("display_name", display_name.as_deref())?;
    check_name("username", username.as_deref())?;
    authorize_profile(ctx, &address)?;

    let profiles = ctx.db.wallet_profile();
    let key = address.as_str().to_owned();
    let previous = profiles.address().find(&key);
    let (old_fid, old_display_name, old_username) = match previous {
        Some(p) => (p.fid, p.display_name, p.username),
        None => (None, None, None),
    };
    let profile = WalletProfile {
        address: key.clone(),
        fid: fid.or(old_fid),
        display_name: display_name.or(old_display_name),
        username: username.or(old_username),
        updated_at: ctx.timestamp,
    };
    profiles.address().delete(&key);
    profiles
        .try_insert(profile)
        .map_err(|e| format!("could not store the profile of {key}: {e}"))?;
    log::info!("set_profile {key}");
    Ok(())
}

fn check_name(field: &'static str, value: Option<&str>) -> Result<(), String> {
    let chars = value.map_or(0, |name| name.chars().count());
    if chars > MAX_NAME_CHARS {
        return Err(ReportError::NameTooLong { field, chars }.to_string());
    }
    Ok(())
}
