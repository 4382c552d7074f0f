//! GM statistics per (wallet, chain) and `report_gm`, which applies the streak rule.

use crate::access::authorize_report;
use onepulse_domain::{GmDay, GmReport, Streak, address_chain_key};
use spacetimedb::{ReducerContext, Table, Timestamp, reducer, table};

/// GM statistics of one wallet on one chain. Public: anyone may read every row.
///
/// `fid`, `display_name` and `username` stay in the row type because clients decode rows by
/// position (`GmStatsRow` in `onepulse-gm-stats`), but they are always `None`: a wallet's
/// Farcaster profile is personal data and lives in the filtered `wallet_profile` table
/// ([`crate::profile`]). Rows that modules before that fix filled in are emptied when this
/// module is published over their database ([`crate::migration`]).
#[table(
    name = gm_stats_by_address,
    public,
    index(name = address_chainid, btree(columns = [address, chain_id]))
)]
#[derive(Clone, Debug)]
pub struct GmStatsByAddress {
    /// `"{lowercase address}:{chain_id}"`.
    #[primary_key]
    pub address_chain: String,
    /// Lowercase `0x…` wallet address.
    #[index(btree)]
    pub address: String,
    /// 8453 (Base), 42220 (Celo) or 10 (Optimism).
    #[index(btree)]
    pub chain_id: i32,
    /// Consecutive days up to `last_gm_day`.
    pub current_streak: i32,
    /// Longest streak ever.
    pub highest_streak: i32,
    /// Distinct days with a GM.
    pub all_time_gm_count: i32,
    /// UTC day number of the last GM.
    pub last_gm_day: i32,
    /// The last GM transaction hash seen.
    pub last_tx_hash: Option<String>,
    /// Always `None` (kept for the row layout; see the type's documentation).
    pub fid: Option<i64>,
    /// Always `None` (kept for the row layout).
    pub display_name: Option<String>,
    /// Always `None` (kept for the row layout).
    pub username: Option<String>,
    /// When the row last changed.
    pub updated_at: Timestamp,
}

/// Reports a GM said on chain on `last_gm_day_onchain` (a UTC day number).
///
/// Only a reporter may report (see [`authorize_report`]): GMs come from the chain, where the
/// chain watcher reads them. Anyone else gets `Err("not authorized: …")` and nothing changes.
/// Arguments are validated before that, so a malformed call is refused for its argument
/// whoever makes it.
///
/// The first report of a wallet on a chain creates its row (streak 1); the next day extends the
/// streak; a later day restarts it at 1; the same or an older day changes nothing. A `Some`
/// `tx_hash` replaces the stored one when the report counts.
///
/// `fid`, `display_name` and `username` must be `None` (refused otherwise, before
/// authorization): SpacetimeDB sends a reducer's arguments to every subscriber of the rows it
/// changes, so personal data passed here would reach anonymous clients. A wallet's Farcaster
/// profile is set with `set_profile`.
#[reducer]
#[allow(clippy::too_many_arguments)]
pub fn report_gm(
    ctx: &ReducerContext,
    address: String,
    chain_id: i32,
    last_gm_day_onchain: i32,
    tx_hash: Option<String>,
    fid: Option<i64>,
    display_name: Option<String>,
    username: Option<String>,
) -> Result<(), String> {
    let report = GmReport::validate(
        &address,
        chain_id.into(),
        last_gm_day_onchain.into(),
        tx_hash.as_deref(),
        fid,
        display_name.as_deref(),
        username.as_deref(),
        today(ctx),
    )
    .map_err(|e| e.to_string())?;
    refuse_personal_data(&report)?;
    authorize_report(ctx)?;
    apply_gm(ctx, report).map(drop)
}

/// `Err` naming the fields when a report carries Farcaster profile fields.
fn refuse_personal_data(report: &GmReport) -> Result<(), String> {
    let given: Vec<&str> = [
        ("fid", report.fid.is_some()),
        ("display_name", report.display_name.is_some()),
        ("username", report.username.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, some)| some.then_some(name))
    .collect();
    if given.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "report_gm takes no Farcaster profile: {} must be None (a reducer's arguments reach \
             every subscriber of the rows it changes); the wallet's bound identity sets the \
             profile with set_profile",
            given.join(", ")
        ))
    }
}

/// Today's UTC day number by the server's clock.
pub fn today(ctx: &ReducerContext) -> GmDay {
    GmDay::from_unix_micros(ctx.timestamp.to_micros_since_unix_epoch())
}

/// Applies a validated (and authorized) report to the wallet's row on its chain; `Ok(true)`
/// when it counted, `Ok(false)` when its day was already counted (nothing changes then).
///
/// The row's `fid`, `display_name` and `username` are always written as `None`: the profile
/// lives in `wallet_profile` only (see [`crate::profile`]).
pub fn apply_gm(ctx: &ReducerContext, report: GmReport) -> Result<bool, String> {
    let key = address_chain_key(&report.address, report.chain);
    let table = ctx.db.gm_stats_by_address();
    let existing = table.address_chain().find(&key);
    let Some(streak) = Streak::report(existing.as_ref().map(streak_of), report.day) else {
        log::info!(
            "report_gm {key}: day {} already counted",
            report.day.number()
        );
        return Ok(false);
    };

    let previous = existing.unwrap_or_else(|| GmStatsByAddress {
        address_chain: key.clone(),
        address: report.address.as_str().to_owned(),
        chain_id: report.chain.id(),
        current_streak: 0,
        highest_streak: 0,
        all_time_gm_count: 0,
        last_gm_day: 0,
        last_tx_hash: None,
        fid: None,
        display_name: None,
        username: None,
        updated_at: ctx.timestamp,
    });
    let row = GmStatsByAddress {
        current_streak: streak.current,
        highest_streak: streak.highest,
        all_time_gm_count: streak.all_time,
        last_gm_day: streak.last_day.number(),
        last_tx_hash: report
            .tx_hash
            .map(|h| h.into_string())
            .or(previous.last_tx_hash),
        fid: None,
        display_name: None,
        username: None,
        updated_at: ctx.timestamp,
        ..previous
    };
    log::info!(
        "report_gm {key}: day {} -> streak {}/{}/{}",
        row.last_gm_day,
        row.current_streak,
        row.highest_streak,
        row.all_time_gm_count
    );
    // Delete + insert rather than `update`, which panics on a missing row.
    table.address_chain().delete(&key);
    table
        .try_insert(row)
        .map(|_| true)
        .map_err(|e| format!("could not store the stats for {key}: {e}"))
}

fn streak_of(row: &GmStatsByAddress) -> Streak {
    Streak {
        current: row.current_streak,
        highest: row.highest_streak,
        all_time: row.all_time_gm_count,
        last_day: GmDay::from_number(row.last_gm_day),
    }
}
