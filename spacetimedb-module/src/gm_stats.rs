//! GM statistics per (wallet, chain) and `report_gm`, which applies the streak rule.

use crate::access::authorize_report;
use onepulse_domain::{GmDay, GmReport, Streak, address_chain_key};
use spacetimedb::{ReducerContext, Table, Timestamp, reducer, table};

/// GM statistics of one wallet on one chain.
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
    /// Farcaster id.
    pub fid: Option<i64>,
    /// Farcaster display name.
    pub display_name: Option<String>,
    /// Farcaster username.
    pub username: Option<String>,
    /// When the row last changed.
    pub updated_at: Timestamp,
}

/// Reports a GM said on chain on `last_gm_day_onchain` (a UTC day number).
///
/// Only a reporter or an identity bound to `address` may report (see [`authorize_report`]);
/// anyone else gets `Err("not authorized: …")` and nothing changes. Arguments are validated
/// before that, so a malformed call is refused for its argument whoever makes it.
///
/// The first report of a wallet on a chain creates its row (streak 1); the next day extends the
/// streak; a later day restarts it at 1; the same or an older day changes nothing. `Some`
/// optional fields replace the stored ones when the report counts.
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
    let today = GmDay::from_unix_micros(ctx.timestamp.to_micros_since_unix_epoch());
    let report = GmReport::validate(
        &address,
        chain_id.into(),
        last_gm_day_onchain.into(),
        tx_hash.as_deref(),
        fid,
        display_name.as_deref(),
        username.as_deref(),
        today,
    )
    .map_err(|e| e.to_string())?;
    authorize_report(ctx, &report.address)?;

    let key = address_chain_key(&report.address, report.chain);
    let table = ctx.db.gm_stats_by_address();
    let existing = table.address_chain().find(&key);
    let Some(streak) = Streak::report(existing.as_ref().map(streak_of), report.day) else {
        log::info!(
            "report_gm {key}: day {} already counted",
            report.day.number()
        );
        return Ok(());
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
        fid: report.fid.or(previous.fid),
        display_name: report.display_name.or(previous.display_name),
        username: report.username.or(previous.username),
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
        .map(|_| ())
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
