//! Who may do what for a wallet.
//!
//! GMs come from the chain: only a *reporter* (the chain watcher, a backend that read the
//! `DailyGM` contract) may report them. A wallet's own Farcaster profile (fid and names) may
//! also be set by an identity the wallet bound with a signed message.

use crate::reporters::is_reporter;
use crate::wallet_bindings::is_bound;
use onepulse_domain::Address;
use spacetimedb::ReducerContext;

/// Succeeds when the caller is a reporter; otherwise
/// `Err("not authorized: identity … is not a reporter; GMs are reported from the chain")`.
pub fn authorize_report(ctx: &ReducerContext) -> Result<(), String> {
    if is_reporter(ctx, ctx.sender) {
        Ok(())
    } else {
        Err(format!(
            "not authorized: identity {} is not a reporter; GMs are reported from the chain",
            ctx.sender.to_hex()
        ))
    }
}

/// Succeeds when the caller is bound to `address` or a reporter; otherwise
/// `Err("not authorized: identity … is neither bound to wallet … nor a reporter")`.
pub fn authorize_profile(ctx: &ReducerContext, address: &Address) -> Result<(), String> {
    if is_reporter(ctx, ctx.sender) || is_bound(ctx, address, ctx.sender) {
        Ok(())
    } else {
        Err(format!(
            "not authorized: identity {} is neither bound to wallet {address} nor a reporter",
            ctx.sender.to_hex()
        ))
    }
}
