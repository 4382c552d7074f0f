//! Who may report GMs for a wallet.

use crate::reporters::is_reporter;
use crate::wallet_bindings::is_bound;
use onepulse_domain::Address;
use spacetimedb::ReducerContext;

/// Succeeds when the caller is a reporter or bound to `address`; otherwise
/// `Err("not authorized: identity … is neither bound to wallet … nor a reporter")`.
pub fn authorize_report(ctx: &ReducerContext, address: &Address) -> Result<(), String> {
    if is_reporter(ctx, ctx.sender) || is_bound(ctx, address, ctx.sender) {
        Ok(())
    } else {
        Err(format!(
            "not authorized: identity {} is neither bound to wallet {address} nor a reporter",
            ctx.sender.to_hex()
        ))
    }
}
