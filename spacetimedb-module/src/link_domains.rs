//! The domains whose wallet-link messages the module accepts (EIP-4361's `domain`: the site
//! that asked the wallet to sign).
//!
//! A wallet shows a Sign-In with Ethereum message with its domain and warns when that is not
//! the site asking; the module accepts only messages whose domain is one the owner listed, so
//! a signature collected by another site or mini app does not link anything here.
//!
//! A new database accepts no domain: the owner adds the app's
//! (`add_link_domain("onepulse.example")`). `cargo xtask dev`/`db` and the test setups add this
//! machine's names (`localhost`, `127.0.0.1`, `[::1]`, any port) explicitly, as the owner.
//! Older modules seeded those three in every new database; the migration
//! [`REMOVE_LOOPBACK_LINK_DOMAINS`](crate::migration::REMOVE_LOOPBACK_LINK_DOMAINS) removes
//! them once from a database such a module created.
//! Private: only the module reads it.

use crate::owner::require_owner;
use onepulse_domain::DomainRule;
use spacetimedb::{ReducerContext, Table, Timestamp, reducer, table};

/// One accepted domain rule: `host` (any port) or `host:port`, lower case.
#[table(name = link_domain)]
pub struct LinkDomain {
    /// The rule as [`DomainRule`] prints it.
    #[primary_key]
    pub rule: String,
    /// When the owner added it.
    pub added_at: Timestamp,
}

/// The accepted rules.
pub fn accepted_domains(ctx: &ReducerContext) -> Vec<DomainRule> {
    ctx.db
        .link_domain()
        .iter()
        .filter_map(|row| DomainRule::parse(&row.rule).ok())
        .collect()
}

/// Accepts link messages from `rule` (`host` for any port, or `host:port`). Only the module
/// owner may call it; adding a rule twice changes nothing.
#[reducer]
pub fn add_link_domain(ctx: &ReducerContext, rule: String) -> Result<(), String> {
    require_owner(ctx)?;
    let rule = DomainRule::parse(&rule).map_err(|e| format!("invalid link domain: {e}"))?;
    insert(ctx, &rule)?;
    log::info!("add_link_domain {rule}");
    Ok(())
}

/// Stops accepting link messages from `rule` (written as it was added). Links already made
/// stay until they expire or are revoked. Only the module owner may call it; `Err` if the
/// rule is not there.
#[reducer]
pub fn remove_link_domain(ctx: &ReducerContext, rule: String) -> Result<(), String> {
    require_owner(ctx)?;
    let parsed = DomainRule::parse(&rule).map_err(|e| format!("invalid link domain: {e}"))?;
    if ctx.db.link_domain().rule().delete(parsed.to_string()) {
        log::info!("remove_link_domain {parsed}");
        Ok(())
    } else {
        Err(format!(
            "link domain {parsed} is not accepted; nothing to remove"
        ))
    }
}

fn insert(ctx: &ReducerContext, rule: &DomainRule) -> Result<(), String> {
    let key = rule.to_string();
    let table = ctx.db.link_domain();
    if table.rule().find(&key).is_some() {
        return Ok(());
    }
    table
        .try_insert(LinkDomain {
            rule: key.clone(),
            added_at: ctx.timestamp,
        })
        .map(drop)
        .map_err(|e| format!("could not store the link domain {key}: {e}"))
}
