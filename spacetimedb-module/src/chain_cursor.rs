//! GMs read from the chain, reported in batches with a cursor per chain.
//!
//! The chain watcher reads the `DailyGM` contract's `GM` events in chain order and reports
//! them batch by batch with [`report_chain_gms`]: the GMs and the cursor move happen in ONE
//! transaction. If SpacetimeDB loses that transaction (a crash can lose acknowledged commits),
//! it loses both, and the watcher, which resumes from the cursor, reads and reports those GMs
//! again. Reporting a day already counted changes nothing, so replays — by a restarted watcher
//! or by several watchers at once — are harmless.
//!
//! A position on a chain is (block, log index): the cursor ([`ChainPosition`]) is the first
//! position not yet reported, so a block with more GMs than one batch may carry spans several
//! batches. [`ChainCursor`] keeps its block, in the layout it had before.

use crate::access::authorize_report;
use crate::gm_stats::{apply_gm, today};
use crate::owner::require_owner;
use onepulse_domain::{Chain, GmReport};
use spacetimedb::{ReducerContext, SpacetimeType, Table, Timestamp, reducer, table};

/// Most GMs one [`report_chain_gms`] call may carry.
pub const MAX_CHAIN_GMS: usize = 5_000;

/// How far the GMs of one chain have been reported, by whole blocks: every block before
/// `next_block` is. [`ChainPosition`] has the exact position (and the count); this table keeps
/// the layout it had before log indexes (SpacetimeDB 1.2 cannot add columns to a table that
/// exists, and a database created then must take this module without being cleared), and is
/// moved in the same transaction.
///
/// Public: it holds block numbers (public chain data) and nothing about anyone. Only reporters
/// write it, through [`report_chain_gms`].
#[table(name = chain_cursor, public)]
#[derive(Clone, Debug)]
pub struct ChainCursor {
    /// 8453 (Base), 42220 (Celo) or 10 (Optimism).
    #[primary_key]
    pub chain_id: i32,
    /// The first block not yet wholly reported.
    pub next_block: u64,
    /// When it last moved.
    pub updated_at: Timestamp,
}

/// How far the GMs of one chain have been reported, exactly: every position before
/// (`next_block`, `next_log_index`) is. A chain without a row here but with a
/// [`ChainCursor`] (a database from before this table) is at (`next_block`, 0).
///
/// Public: it holds block numbers and a count (public chain data) and nothing about anyone,
/// and the watcher — a reporter, not the owner — must read it to resume; SpacetimeDB 1.2
/// cannot make a table readable by reporters only. Only reporters write it, through
/// [`report_chain_gms`].
#[table(name = chain_position, public)]
#[derive(Clone, Debug)]
pub struct ChainPosition {
    /// 8453 (Base), 42220 (Celo) or 10 (Optimism).
    #[primary_key]
    pub chain_id: i32,
    /// The first block not yet wholly reported.
    pub next_block: u64,
    /// The first log of `next_block` not yet reported (0: none of it is).
    pub next_log_index: u32,
    /// How many GMs the position has moved past since this row was made: each GM of the chain
    /// is counted once, however often it is reported again (replays are not counted).
    pub gm_count: u64,
    /// When it last moved.
    pub updated_at: Timestamp,
}

/// One `GM` event read from the chain.
#[derive(SpacetimeType, Clone, Debug, PartialEq, Eq)]
pub struct ChainGm {
    /// The wallet that said GM (the event's `user`).
    pub address: String,
    /// The UTC day of the event's block (its timestamp / 86 400: what `lastGMDay(user)` is
    /// right after the GM).
    pub day: i32,
    /// The GM transaction's hash.
    pub tx_hash: String,
    /// The event's block.
    pub block_number: u64,
    /// The event's index in its block.
    pub log_index: u32,
}

/// Reports the GMs of `chain_id` from position (`from_block`, `from_log_index`) up to, not
/// including, (`next_block`, `next_log_index`), and moves that chain's cursor to the latter,
/// in one transaction. Reporters only.
///
/// A position is (block, log index); whole blocks `a..=b` are `(a, 0)` to `(b + 1, 0)`. `gms`
/// must be every `GM` event in that span, ordered by block and log index, each inside it, with
/// a valid address, day (not after tomorrow) and transaction hash; at most [`MAX_CHAIN_GMS`].
/// They are applied in order with `report_gm`'s streak rule (a day already counted changes
/// nothing).
///
/// The cursor never moves backwards and never skips: a batch starting after the cursor
/// (positions in between not reported — e.g. after SpacetimeDB lost a commit) is refused with
/// `Err("gap: the cursor of chain … is at block … log …")`, and the watcher starts again from
/// the cursor. A batch that starts at or before it is applied (its already counted GMs change
/// nothing) and moves the cursor to its end if that is further; the GMs at or after the old
/// cursor are added to `gm_count`. A chain's first batch sets where its cursor starts, and
/// only a batch marked `first` (the watcher marks a batch that starts at the chain's configured
/// start block) may be a chain's first: without a cursor (never reported, reset, or lost in a
/// crash while a batch was on its way) any other is refused with `Err("gap: chain … has no
/// cursor …")`, so the GMs between the start block and an in-flight batch are never skipped.
/// With a cursor, `first` changes nothing.
// A reducer's arguments are its wire format (a JSON array / BSATN product): one per field.
#[allow(clippy::too_many_arguments)]
#[reducer]
pub fn report_chain_gms(
    ctx: &ReducerContext,
    chain_id: i32,
    from_block: u64,
    from_log_index: u32,
    next_block: u64,
    next_log_index: u32,
    gms: Vec<ChainGm>,
    first: bool,
) -> Result<(), String> {
    authorize_report(ctx)?;
    let chain = Chain::from_id(chain_id.into()).map_err(|e| format!("invalid chain: {e}"))?;
    let from = (from_block, from_log_index);
    let next = (next_block, next_log_index);
    if from > next {
        return Err(format!(
            "invalid range: from block {from_block} log {from_log_index} is after next block \
             {next_block} log {next_log_index}"
        ));
    }
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
        let position = (gm.block_number, gm.log_index);
        if position < from || position >= next {
            return Err(format!(
                "gms[{i}]: block {} log {} is outside the batch (from block {from_block} log \
                 {from_log_index} up to block {next_block} log {next_log_index})",
                gm.block_number, gm.log_index
            ));
        }
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
        reports.push((position, report));
    }

    let positions = ctx.db.chain_position();
    let cursors = ctx.db.chain_cursor();
    let stored = positions.chain_id().find(chain_id);
    let stored_at = stored
        .as_ref()
        .map(|position| (position.next_block, position.next_log_index))
        .or_else(|| {
            cursors
                .chain_id()
                .find(chain_id)
                .map(|cursor| (cursor.next_block, 0))
        });
    if stored_at.is_none() && !first {
        return Err(format!(
            "gap: chain {chain_id} has no cursor; its first batch must start at its start block \
             (marked first), not at block {from_block} log {from_log_index}"
        ));
    }
    if let Some((block, log)) = stored_at
        && from > (block, log)
    {
        return Err(format!(
            "gap: the cursor of chain {chain_id} is at block {block} log {log}; a batch from \
             block {from_block} log {from_log_index} would skip the GMs in between: report \
             from block {block} log {log}"
        ));
    }
    let total = reports.len();
    let mut counted = 0usize;
    let mut passed = 0u64;
    for (position, report) in reports {
        if stored_at.is_none_or(|at| position >= at) {
            passed += 1;
        }
        if apply_gm(ctx, report)? {
            counted += 1;
        }
    }
    let moved_to = stored_at.map_or(next, |at| at.max(next));
    let gm_count = stored
        .as_ref()
        .map_or(0, |cursor| cursor.gm_count)
        .saturating_add(passed);
    positions.chain_id().delete(chain_id);
    positions
        .try_insert(ChainPosition {
            chain_id,
            next_block: moved_to.0,
            next_log_index: moved_to.1,
            gm_count,
            updated_at: ctx.timestamp,
        })
        .map_err(|e| format!("could not store the position of chain {chain_id}: {e}"))?;
    cursors.chain_id().delete(chain_id);
    cursors
        .try_insert(ChainCursor {
            chain_id,
            next_block: moved_to.0,
            updated_at: ctx.timestamp,
        })
        .map_err(|e| format!("could not store the cursor of chain {chain_id}: {e}"))?;
    log::info!(
        "report_chain_gms {} from block {from_block} log {from_log_index} to block {next_block} \
         log {next_log_index}: {counted} of {total} GMs counted, {passed} new past the cursor, \
         cursor at block {} log {}",
        chain.name(),
        moved_to.0,
        moved_to.1
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
    let position = ctx.db.chain_position().chain_id().delete(chain_id);
    if ctx.db.chain_cursor().chain_id().delete(chain_id) || position {
        log::info!("reset_chain_cursor {}", chain.name());
    }
    Ok(())
}
