//! Reporters: identities the module owner trusts to report GMs for any wallet (the service that
//! watches the `DailyGM` contracts, tests, benchmarks).

use crate::owner::require_owner;
use spacetimedb::{Identity, ReducerContext, Table, Timestamp, reducer, table};

/// An identity allowed to call `report_gm` for any wallet. Private: only the module reads it.
#[table(name = reporter)]
pub struct Reporter {
    /// The reporter's identity.
    #[primary_key]
    pub identity: Identity,
    /// When the owner added it.
    pub added_at: Timestamp,
}

/// Whether `identity` is a reporter.
pub fn is_reporter(ctx: &ReducerContext, identity: Identity) -> bool {
    ctx.db.reporter().identity().find(identity).is_some()
}

/// Makes `identity` a reporter. Only the module owner may call it; adding an existing reporter
/// changes nothing.
#[reducer]
pub fn add_reporter(ctx: &ReducerContext, identity: Identity) -> Result<(), String> {
    require_owner(ctx)?;
    if is_reporter(ctx, identity) {
        log::info!("add_reporter {}: already a reporter", identity.to_hex());
        return Ok(());
    }
    ctx.db
        .reporter()
        .try_insert(Reporter {
            identity,
            added_at: ctx.timestamp,
        })
        .map(|_| log::info!("add_reporter {}", identity.to_hex()))
        .map_err(|e| format!("could not add reporter {}: {e}", identity.to_hex()))
}

/// Removes `identity` from the reporters. Only the module owner may call it; `Err` if it is not
/// a reporter.
#[reducer]
pub fn remove_reporter(ctx: &ReducerContext, identity: Identity) -> Result<(), String> {
    require_owner(ctx)?;
    if ctx.db.reporter().identity().delete(identity) {
        log::info!("remove_reporter {}", identity.to_hex());
        Ok(())
    } else {
        Err(format!("identity {} is not a reporter", identity.to_hex()))
    }
}
