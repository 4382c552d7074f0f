//! GMs read from the chain, reported in batches with a cursor per chain.
//!
//! The chain watcher reads the `DailyGM` contract's `GM` events block range by block range and
//! reports each range with [`report_chain_gms`]: the GMs and the cursor move happen in ONE
//! transaction. If SpacetimeDB loses that transaction (a crash can lose acknowledged commits),
//! it loses both, and the watcher, which resumes from the cursor, reads and reports those GMs
//! again. Reporting a day already counted changes nothing, so replays — by a restarted watcher
//! or by several watchers at once — are harmless.

use crate::access::authorize_report;
use crate::gm_stats::{apply_gm, today};
use crate::owner::require_owner;
use onepulse_domain::{Chain, GmReport};
use spacetimedb::{ReducerContext, SpacetimeType, Table, Timestamp, reducer, table};

/// Most GMs one [`report_chain_gms`] call may carry.
pub const MAX_CHAIN_GMS: usize = 5_000;

/// How far the GMs of one chain have been reported: every block before `next_block` is.
///
/// Public: it holds block numbers (public chain data) and nothing about anyone, and the
/// watcher — a reporter, not the owner — must read it to resume; SpacetimeDB 1.2 cannot make a
/// table readable by reporters only. Only reporters write it, through [`report_chain_gms`].
#[table(name = chain_cursor, public)]
#[derive(Clone, Debug)]
pub struct ChainCursor {
    /// 8453 (Base), 42220 (Celo) or 10 (Optimism).
    #[primary_key]
    pub chain_id: i32,
    /// The first block not yet reported.
    pub next_block: u64,
    /// When it last moved.
    pub updated_at: Timestamp,
}

/// One `GM` event read from the chain.
#[derive(SpacetimeType, Clone, Debug, PartialEq, Eq)]
pub struct ChainGm {
    /// The wallet that said GM (the event's `user`).
    pub address: String,
    /// `lastGMDay(user)` read at the event's block.
    pub day: i32,
    /// The GM transaction's hash.
    pub tx_hash: String,
    /// The event's block.
    pub block_number: u64,
    /// The event's index in its block.
    pub log_index: u32,
}

/// Reports the GMs of `chain_id` in blocks `from_block..=to_block` and moves that chain's
/// cursor past `to_block`, in one transaction. Reporters only.
///
/// `gms` must be every `GM` event of the range, ordered by block and log index, each inside
/// the range, with a valid address, day (not after tomorrow) and transaction hash; at most
/// [`MAX_CHAIN_GMS`]. They are applied in order with `report_gm`'s streak rule (a day already
/// counted changes nothing).
///
/// The cursor never moves backwards and never skips: a batch starting after the cursor (blocks
/// in between not reported — e.g. after SpacetimeDB lost a commit) is refused with
/// `Err("gap: the cursor of chain … is at block …")`, and the watcher starts again from the
/// cursor. A batch that starts at or before it is applied (its already counted GMs change
/// nothing) and moves the cursor to `to_block + 1` if that is further. A chain's first batch
/// sets where its cursor starts.
#[reducer]
pub fn report_chain_gms(
    ctx: &ReducerContext,
    chain_id: i32,
    from_block: u64,
    to_block: u64,
    gms: Vec<ChainGm>,
) -> Result<(), String> {
    authorize_report(ctx)?;
    let chain = Chain::from_id(chain_id.into()).map_err(|e| format!("invalid chain: {e}"))?;
    if from_block > to_block {
        return Err(format!(
            "invalid block range: from_block {from_block} is after to_block {to_block}"
        ));
    }
    let next_block = to_block
        .checked_add(1)
        .ok_or_else(|| format!("invalid block range: to_block {to_block} is too large"))?;
    if gms.len() > MAX_CHAIN_GMS {
        return Err(format!(
            "too many GMs: {} in one batch, at most {MAX_CHAIN_GMS}",
            gms.len()
        ));
    }
    let today = today(ctx);
    let mut reports = Vec::with_capacity(gms.len());
    let mut previous: Option<(u64, u32)> = None;
    for (i, gm) in gms.into_iter().enumerate() {
        if gm.block_number < from_block || gm.block_number > to_block {
            return Err(format!(
                "gms[{i}]: block {} is outside {from_block}..={to_block}",
                gm.block_number
            ));
        }
        let position = (gm.block_number, gm.log_index);
        if previous.is_some_and(|p| p >= position) {
            return Err(format!(
                "gms[{i}]: block {} log {} is not after the GM before it",
                gm.block_number, gm.log_index
            ));
        }
        previous = Some(position);
        let report = GmReport::validate(
            &gm.address,
            chain_id.into(),
            gm.day.into(),
            Some(&gm.tx_hash),
            None,
            None,
            None,
            today,
        )
        .map_err(|e| format!("gms[{i}]: {e}"))?;
        reports.push(report);
    }

    let cursors = ctx.db.chain_cursor();
    let stored = cursors.chain_id().find(chain_id);
    if let Some(cursor) = &stored
        && from_block > cursor.next_block
    {
        return Err(format!(
            "gap: the cursor of chain {chain_id} is at block {next}; a batch from block \
             {from_block} would skip blocks {next}..{from_block}: report from block {next}",
            next = cursor.next_block
        ));
    }
    let mut counted = 0usize;
    let total = reports.len();
    for report in reports {
        if apply_gm(ctx, report)? {
            counted += 1;
        }
    }
    let moved_to = stored
        .as_ref()
        .map_or(next_block, |cursor| cursor.next_block.max(next_block));
    cursors.chain_id().delete(chain_id);
    cursors
        .try_insert(ChainCursor {
            chain_id,
            next_block: moved_to,
            updated_at: ctx.timestamp,
        })
        .map_err(|e| format!("could not store the cursor of chain {chain_id}: {e}"))?;
    log::info!(
        "report_chain_gms {} blocks {from_block}..={to_block}: {counted} of {total} GMs counted, \
         next block {moved_to}",
        chain.name()
    );
    Ok(())
}

/// Forgets the cursor of `chain_id`, so the chain's next batch starts wherever the watcher
/// starts. Only the module owner may call it: for development chains that start afresh with
/// every `cargo xtask dev` (a Hardhat node keeps its chain in memory), never for a real chain.
#[reducer]
pub fn reset_chain_cursor(ctx: &ReducerContext, chain_id: i32) -> Result<(), String> {
    require_owner(ctx)?;
    let chain = Chain::from_id(chain_id.into()).map_err(|e| format!("invalid chain: {e}"))?;
    if ctx.db.chain_cursor().chain_id().delete(chain_id) {
        log::info!("reset_chain_cursor {}", chain.name());
    }
    Ok(())
}
