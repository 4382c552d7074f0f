//! Bringing a database that older modules wrote up to this module's rules.
//!
//! Modules before the SEC-005 fix stored a wallet's Farcaster fid and names in the public
//! `gm_stats_by_address` (sent by `report_gm`). This module keeps them only in the filtered
//! `wallet_profile` and leaves those columns empty, but re-publishing it over an existing
//! database keeps the rows as they were (SpacetimeDB 1.2 runs `init` only when a database is
//! created, and has no hook for an update). So the clean-up is a migration, recorded in
//! [`SchemaMigration`] once done:
//!
//! - on a new database `init` records it as done (there is nothing to clean);
//! - after an update the table is new and empty, so the first client that connects (a
//!   WebSocket subscription or an HTTP reducer call, hook `client_connected`) runs it, in its
//!   own transaction, before anything else it does;
//! - the owner may run it at once with `migrate` (idempotent), which `cargo xtask db`/`dev`
//!   call after every publish, so that no reader of the public table (`/sql` runs no hook)
//!   waits for a first connection.
//!
//! The migrations, each run once:
//!
//! - [`CLEAR_PUBLIC_PROFILE_COLUMNS`] empties the three columns of every row that has one set
//!   (a delete and an insert per such row); rows already clean are untouched;
//! - [`REMOVE_LOOPBACK_LINK_DOMAINS`] removes the link domains older modules' `init` seeded in
//!   every new database ([`OLD_LOOPBACK_DEFAULTS`]: `localhost`, `127.0.0.1`, `[::1]`, any
//!   port), so that an updated database accepts the domains a new one does: only those the
//!   owner adds. Other rules (`localhost:8080`, the app's domain) stay. `cargo xtask db`/`dev`
//!   and the test setups add the loopback names back as the owner after `migrate`; since the
//!   migration is recorded, it never removes them again.

use crate::gm_stats::{GmStatsByAddress, gm_stats_by_address};
use crate::link_domains::link_domain;
use crate::owner::require_owner;
use spacetimedb::{ReducerContext, Table, Timestamp, reducer, table};

/// The name of the clean-up of the profile columns of `gm_stats_by_address`.
pub const CLEAR_PUBLIC_PROFILE_COLUMNS: &str = "clear-public-profile-columns";

/// The name of the removal of the link domains older modules seeded.
pub const REMOVE_LOOPBACK_LINK_DOMAINS: &str = "remove-loopback-link-domains";

/// The link domain rules that `init` of modules before this one seeded (as `DomainRule`
/// printed them: hosts, any port).
pub const OLD_LOOPBACK_DEFAULTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// A migration that has run on this database. Private.
#[table(name = schema_migration)]
pub struct SchemaMigration {
    /// Its name (e.g. [`CLEAR_PUBLIC_PROFILE_COLUMNS`]).
    #[primary_key]
    pub name: String,
    /// When it ran (or the database was created already clean).
    pub applied_at: Timestamp,
}

/// A migration: changes what it must, returns how many rows changed.
type Migration = fn(&ReducerContext) -> Result<usize, String>;

/// The migrations, in the order they run.
const MIGRATIONS: [(&str, Migration); 2] = [
    (CLEAR_PUBLIC_PROFILE_COLUMNS, clear_public_profile_columns),
    (REMOVE_LOOPBACK_LINK_DOMAINS, remove_loopback_link_domains),
];

/// For `init`: records every migration as done (a new database has no old rows).
#[cfg(not(feature = "legacy-fixture"))]
pub fn init(ctx: &ReducerContext) -> Result<(), String> {
    record_all_done(ctx)
}

/// Records every migration as done.
pub fn record_all_done(ctx: &ReducerContext) -> Result<(), String> {
    for (name, _) in MIGRATIONS {
        record(ctx, name)?;
    }
    Ok(())
}

/// Runs the migrations not recorded yet; returns how many rows changed.
pub fn run_pending(ctx: &ReducerContext) -> Result<usize, String> {
    let mut changed = 0;
    for (name, migration) in MIGRATIONS {
        if ctx
            .db
            .schema_migration()
            .name()
            .find(name.to_owned())
            .is_some()
        {
            continue;
        }
        let rows = migration(ctx)?;
        record(ctx, name)?;
        log::info!("migration {name}: {rows} rows changed");
        changed += rows;
    }
    Ok(changed)
}

/// Runs pending migrations (see the [module documentation](self)). Only the module owner may
/// call it; calling it again changes nothing.
#[reducer]
pub fn migrate(ctx: &ReducerContext) -> Result<(), String> {
    require_owner(ctx)?;
    run_pending(ctx).map(drop)
}

/// Runs pending migrations when a client connects. Never refuses the connection: a failure
/// is logged (and the migration tried again at the next connection). Left out of the
/// `legacy-fixture` build, which stands for a module before this hook.
#[cfg(not(feature = "legacy-fixture"))]
#[reducer(client_connected)]
pub fn client_connected(ctx: &ReducerContext) {
    if let Err(e) = run_pending(ctx) {
        log::error!("migration failed, tried again at the next connection: {e}");
    }
}

fn clear_public_profile_columns(ctx: &ReducerContext) -> Result<usize, String> {
    let table = ctx.db.gm_stats_by_address();
    let dirty: Vec<GmStatsByAddress> = table
        .iter()
        .filter(|row| row.fid.is_some() || row.display_name.is_some() || row.username.is_some())
        .collect();
    for row in &dirty {
        table.address_chain().delete(&row.address_chain);
        table
            .try_insert(GmStatsByAddress {
                fid: None,
                display_name: None,
                username: None,
                ..row.clone()
            })
            .map_err(|e| format!("could not store {}: {e}", row.address_chain))?;
    }
    Ok(dirty.len())
}

fn remove_loopback_link_domains(ctx: &ReducerContext) -> Result<usize, String> {
    let rules = ctx.db.link_domain().rule();
    Ok(OLD_LOOPBACK_DEFAULTS
        .into_iter()
        .filter(|rule| rules.delete(rule.to_string()))
        .count())
}

fn record(ctx: &ReducerContext, name: &str) -> Result<(), String> {
    let table = ctx.db.schema_migration();
    if table.name().find(name.to_owned()).is_some() {
        return Ok(());
    }
    table
        .try_insert(SchemaMigration {
            name: name.to_owned(),
            applied_at: ctx.timestamp,
        })
        .map(drop)
        .map_err(|e| format!("could not record the migration {name}: {e}"))
}

/// Test fixture only (feature `legacy-fixture`, never in a published build): what `init` of a
/// module before the migrations left in a new database — no migration recorded, and the
/// loopback link domains ([`OLD_LOOPBACK_DEFAULTS`]) seeded — so that the server tests can
/// publish the real module over it, or run `migrate` on the fixture itself (it has no
/// `client_connected` hook, so only `migrate` migrates it).
#[cfg(feature = "legacy-fixture")]
pub fn init(ctx: &ReducerContext) -> Result<(), String> {
    use crate::link_domains::LinkDomain;
    for rule in OLD_LOOPBACK_DEFAULTS {
        ctx.db
            .link_domain()
            .try_insert(LinkDomain {
                rule: rule.to_owned(),
                added_at: ctx.timestamp,
            })
            .map_err(|e| format!("could not seed the link domain {rule}: {e}"))?;
    }
    Ok(())
}

/// Test fixture only (feature `legacy-fixture`, never in a published build): puts a row in
/// the state a module before the SEC-005 fix left it — the profile columns of a
/// `gm_stats_by_address` row set, as the old `report_gm` wrote them, and no migration
/// recorded — so that the server tests can re-publish the real module over it.
#[cfg(feature = "legacy-fixture")]
#[reducer]
pub fn legacy_write_public_profile(
    ctx: &ReducerContext,
    address_chain: String,
    fid: Option<i64>,
    display_name: Option<String>,
    username: Option<String>,
) -> Result<(), String> {
    require_owner(ctx)?;
    let table = ctx.db.gm_stats_by_address();
    let row = table
        .address_chain()
        .find(&address_chain)
        .ok_or_else(|| format!("no row {address_chain}"))?;
    table.address_chain().delete(&address_chain);
    table
        .try_insert(GmStatsByAddress {
            fid,
            display_name,
            username,
            ..row
        })
        .map_err(|e| format!("could not store {address_chain}: {e}"))?;
    ctx.db
        .schema_migration()
        .name()
        .delete(CLEAR_PUBLIC_PROFILE_COLUMNS.to_owned());
    Ok(())
}
