//! The addresses of this database that wallet-link messages must name (their one EIP-4361
//! `Resources` entry, `spacetimedb://host[:port]/database`).
//!
//! The app writes there the server and database it is connected to, taken from its own
//! configuration, never from the server. A page pointed (by a link's `?spacetimedb=`) at
//! another server, which may claim any identity, so yields a signature naming that server,
//! which this database refuses: the module accepts a message only when its resource matches
//! one of the rules the owner listed here (`add_link_server("db.onepulse.example/onepulse")`).
//! A new database lists none; `cargo xtask dev` and the test setups add this machine's
//! addresses. Private: only the module reads it.

use crate::owner::require_owner;
use onepulse_domain::ServerRule;
use spacetimedb::{ReducerContext, Table, Timestamp, reducer, table};

/// One address of this database: `host/database` (any port) or `host:port/database`.
#[table(name = link_server)]
pub struct LinkServer {
    /// The rule as [`ServerRule`] prints it.
    #[primary_key]
    pub rule: String,
    /// When the owner added it.
    pub added_at: Timestamp,
}

/// The listed addresses.
pub fn accepted_servers(ctx: &ReducerContext) -> Vec<ServerRule> {
    ctx.db
        .link_server()
        .iter()
        .filter_map(|row| ServerRule::parse(&row.rule).ok())
        .collect()
}

/// Accepts link messages naming `rule` (`host/database` for any port, or
/// `host:port/database`) as their database. Only the module owner may call it; adding a rule
/// twice changes nothing.
#[reducer]
pub fn add_link_server(ctx: &ReducerContext, rule: String) -> Result<(), String> {
    require_owner(ctx)?;
    let rule = ServerRule::parse(&rule).map_err(|e| format!("invalid link server: {e}"))?;
    let key = rule.to_string();
    let table = ctx.db.link_server();
    if table.rule().find(&key).is_none() {
        table
            .try_insert(LinkServer {
                rule: key.clone(),
                added_at: ctx.timestamp,
            })
            .map_err(|e| format!("could not store the link server {key}: {e}"))?;
    }
    log::info!("add_link_server {key}");
    Ok(())
}

/// Stops accepting link messages naming `rule` (written as it was added). Links already made
/// stay until they expire or are revoked. Only the module owner may call it; `Err` if the
/// rule is not there.
#[reducer]
pub fn remove_link_server(ctx: &ReducerContext, rule: String) -> Result<(), String> {
    require_owner(ctx)?;
    let parsed = ServerRule::parse(&rule).map_err(|e| format!("invalid link server: {e}"))?;
    if ctx.db.link_server().rule().delete(parsed.to_string()) {
        log::info!("remove_link_server {parsed}");
        Ok(())
    } else {
        Err(format!(
            "link server {parsed} is not accepted; nothing to remove"
        ))
    }
}
