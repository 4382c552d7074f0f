//! `seed_gm_stats`: synthetic rows for benchmarks and load tests, for the module owner only.

use crate::gm_stats::{GmStatsByAddress, gm_stats_by_address};
use crate::owner::require_owner;
use spacetimedb::{ReducerContext, Table, reducer};

/// Most rows [`seed_gm_stats`] inserts in one call.
pub const MAX_SEED_ROWS: u32 = 100_000;

/// Inserts `count` synthetic Base rows for addresses `0x000…{first}` onwards (hex), last GM on
/// `day`, for benchmarks and load tests; `with_tx_hash` fills `last_tx_hash` as every row
/// reported from the chain has it (the profile columns stay empty, as the module keeps them).
/// Only the module owner may call it; existing rows are kept.
#[reducer]
pub fn seed_gm_stats(
    ctx: &ReducerContext,
    first: u32,
    count: u32,
    day: i32,
    with_tx_hash: bool,
) -> Result<(), String> {
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
                last_tx_hash: with_tx_hash.then(|| format!("0x{i:064x}")),
                fid: None,
                display_name: None,
                username: None,
                updated_at: ctx.timestamp,
            })
            .map_err(|e| format!("could not insert seed row {i}: {e}"))?;
    }
    Ok(())
}
