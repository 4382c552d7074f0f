//! Who published the database, and the check for reducers only they may call.

use spacetimedb::{Identity, ReducerContext, Table, reducer, table};

/// Who published the database: recorded once, when the module is initialised.
#[table(name = module_owner)]
pub struct ModuleOwner {
    /// Always 0: the table has at most one row.
    #[primary_key]
    pub id: u8,
    /// The publisher's identity.
    pub identity: Identity,
}

/// Records the publisher as the owner, and every migration as done (a new database has no
/// rows an older module wrote; see [`crate::migration`]). A new database accepts no link
/// domain and no link server until the owner adds them ([`crate::link_domains`],
/// [`crate::link_servers`]). The `legacy-fixture` build initialises a database as modules
/// before the migrations did ([`crate::migration`]).
#[reducer(init)]
pub fn init(ctx: &ReducerContext) -> Result<(), String> {
    ctx.db
        .module_owner()
        .try_insert(ModuleOwner {
            id: 0,
            identity: ctx.sender,
        })
        .map(|_| ())
        .map_err(|e| format!("could not record the module owner: {e}"))?;
    crate::migration::init(ctx)
}

/// Succeeds only when the caller is the module owner.
pub fn require_owner(ctx: &ReducerContext) -> Result<(), String> {
    match ctx.db.module_owner().id().find(0) {
        Some(owner) if owner.identity == ctx.sender => Ok(()),
        Some(_) => Err("not authorized: only the module owner may call this reducer".into()),
        None => Err("not authorized: no module owner was recorded".into()),
    }
}
