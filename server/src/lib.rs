//! The OnePulse SpacetimeDB module.
//!
//! One public table, [`GmStatsByAddress`], with a row per (wallet, chain), and the reducer
//! [`report_gm`] that applies the streak rule from `onepulse-domain`. Every argument is validated
//! first; a bad one returns an `Err` naming it and changes nothing. Nothing here panics on input.

use onepulse_domain::{GmDay, GmReport, Streak, address_chain_key};
use spacetimedb::{Identity, ReducerContext, Table, Timestamp, reducer, table};

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

/// Who published the database: recorded once, when the module is initialised.
#[table(name = module_owner)]
pub struct ModuleOwner {
    /// Always 0: the table has at most one row.
    #[primary_key]
    pub id: u8,
    /// The publisher's identity.
    pub identity: Identity,
}

/// Records the publisher as the owner.
#[reducer(init)]
pub fn init(ctx: &ReducerContext) -> Result<(), String> {
    ctx.db
        .module_owner()
        .try_insert(ModuleOwner {
            id: 0,
            identity: ctx.sender,
        })
        .map(|_| ())
        .map_err(|e| format!("could not record the module owner: {e}"))
}

/// Reports a GM said on chain on `last_gm_day_onchain` (a UTC day number).
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

/// Most rows [`seed_gm_stats`] inserts in one call.
pub const MAX_SEED_ROWS: u32 = 100_000;

/// Inserts `count` synthetic Base rows for addresses `0x000…{first}` onwards (hex), last GM on
/// `day`, for benchmarks and load tests. Only the module owner may call it; existing rows are
/// kept.
#[reducer]
pub fn seed_gm_stats(ctx: &ReducerContext, first: u32, count: u32, day: i32) -> Result<(), String> {
    require_owner(ctx)?;
    if day < 0 {
        return Err(format!("day {day} is negative"));
    }
    if count > MAX_SEED_ROWS {
        return Err(format!(
            "count {count} is over the limit of {MAX_SEED_ROWS} rows per call"
        ));
    }
    let last = first
        .checked_add(count)
        .ok_or_else(|| format!("first {first} + count {count} overflows"))?;
    let table = ctx.db.gm_stats_by_address();
    for i in first..last {
        let address = format!("0x{i:040x}");
        let key = format!("{address}:8453");
        if table.address_chain().find(&key).is_some() {
            continue;
        }
        let streak = (i % 30) as i32 + 1;
        table
            .try_insert(GmStatsByAddress {
                address_chain: key,
                address,
                chain_id: 8453,
                current_streak: streak,
                highest_streak: streak + (i % 7) as i32,
                all_time_gm_count: streak + (i % 100) as i32,
                last_gm_day: day,
                last_tx_hash: None,
                fid: None,
                display_name: None,
                username: None,
                updated_at: ctx.timestamp,
            })
            .map_err(|e| format!("could not insert seed row {i}: {e}"))?;
    }
    Ok(())
}

fn require_owner(ctx: &ReducerContext) -> Result<(), String> {
    match ctx.db.module_owner().id().find(0) {
        Some(owner) if owner.identity == ctx.sender => Ok(()),
        Some(_) => Err("not authorized: only the module owner may call this reducer".into()),
        None => Err("not authorized: no module owner was recorded".into()),
    }
}
