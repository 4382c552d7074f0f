//! What the page shows, computed from rows or from the fallback service's answer. Pure.

use onepulse_domain::{Chain, GmDay, Streak};
use onepulse_gm_stats::GmStatsRow;
use serde_json::Value;
use std::collections::BTreeMap;

/// Where the numbers on screen come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataSource {
    /// Nothing yet.
    None,
    /// The fallback HTTP service.
    Fallback,
    /// The live subscription.
    Live,
}

/// One chain's record, as stored.
pub type ChainStreaks = BTreeMap<Chain, Streak>;

/// Streaks per chain from rows (rows of other chains are ignored).
pub fn streaks_from_rows<'a>(rows: impl IntoIterator<Item = &'a GmStatsRow>) -> ChainStreaks {
    rows.into_iter()
        .filter_map(|r| Some((r.chain()?, r.streak())))
        .collect()
}

/// Streaks per chain from the fallback answer `{"stats": {"8453": {...}}}`; entries that are not
/// well-formed are refused with a message naming them.
pub fn streaks_from_fallback(body: &Value) -> Result<ChainStreaks, String> {
    let stats = body
        .get("stats")
        .and_then(Value::as_object)
        .ok_or("the answer has no stats object")?;
    let mut streaks = ChainStreaks::new();
    for (id, entry) in stats {
        let chain = id
            .parse::<i64>()
            .ok()
            .and_then(|id| Chain::from_id(id).ok())
            .ok_or_else(|| format!("unknown chain {id:?} in the answer"))?;
        let field = |name: &str| -> Result<i32, String> {
            entry
                .get(name)
                .and_then(Value::as_i64)
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| format!("chain {id}: {name} missing or not a number"))
        };
        streaks.insert(
            chain,
            Streak {
                current: field("currentStreak")?,
                highest: field("highestStreak")?,
                all_time: field("allTimeGmCount")?,
                last_day: GmDay::from_number(field("lastGmDay")?),
            },
        );
    }
    Ok(streaks)
}

/// One card's numbers on `today`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardView {
    /// The streak to show: 0 once a day was missed.
    pub current: i32,
    /// Longest streak.
    pub highest: i32,
    /// All-time GMs.
    pub all_time: i32,
    /// The last GM's day.
    pub last_day: GmDay,
    /// Whether the wallet already said GM today on this chain.
    pub done_today: bool,
}

impl CardView {
    /// The card for `streak` on `today`.
    pub fn new(streak: &Streak, today: GmDay) -> Self {
        Self {
            current: streak.current_on(today),
            highest: streak.highest,
            all_time: streak.all_time,
            last_day: streak.last_day,
            done_today: streak.done_on(today),
        }
    }
}

/// Totals across chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// GMs on every chain together.
    pub all_time: i32,
    /// The best live streak on any chain.
    pub best_current: i32,
    /// Chains with a GM today.
    pub done_today: usize,
}

/// The totals of `streaks` on `today`.
pub fn totals(streaks: &ChainStreaks, today: GmDay) -> Totals {
    streaks.values().fold(Totals::default(), |t, s| {
        let card = CardView::new(s, today);
        Totals {
            all_time: t.all_time.saturating_add(card.all_time),
            best_current: t.best_current.max(card.current),
            done_today: t.done_today + usize::from(card.done_today),
        }
    })
}

/// `HH:MM:SS` until the next UTC midnight.
pub fn countdown(unix_seconds: i64) -> String {
    let left = GmDay::seconds_until_next_day(unix_seconds);
    format!(
        "{:02}:{:02}:{:02}",
        left / 3600,
        left % 3600 / 60,
        left % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn streak(current: i32, highest: i32, all_time: i32, last: i32) -> Streak {
        Streak {
            current,
            highest,
            all_time,
            last_day: GmDay::from_number(last),
        }
    }

    #[test]
    fn a_missed_day_shows_a_broken_streak() {
        let s = streak(5, 9, 30, 100);
        assert_eq!(CardView::new(&s, GmDay::from_number(100)).current, 5);
        assert!(CardView::new(&s, GmDay::from_number(100)).done_today);
        assert_eq!(CardView::new(&s, GmDay::from_number(101)).current, 5);
        assert!(!CardView::new(&s, GmDay::from_number(101)).done_today);
        assert_eq!(CardView::new(&s, GmDay::from_number(102)).current, 0);
    }

    #[test]
    fn totals_add_up_across_chains() {
        let mut streaks = ChainStreaks::new();
        streaks.insert(Chain::Base, streak(3, 7, 20, 100));
        streaks.insert(Chain::Celo, streak(9, 9, 9, 98));
        let t = totals(&streaks, GmDay::from_number(100));
        assert_eq!(
            t,
            Totals {
                all_time: 29,
                best_current: 3,
                done_today: 1
            }
        );
    }

    #[test]
    fn fallback_answers_are_read_and_checked() {
        let body = json!({"address": "0xab", "stats": {"8453": {"name": "Base", "currentStreak": 3,
            "highestStreak": 7, "allTimeGmCount": 20, "lastGmDay": 20454}}});
        let streaks = streaks_from_fallback(&body).unwrap();
        assert_eq!(streaks[&Chain::Base], streak(3, 7, 20, 20_454));
        assert!(
            streaks_from_fallback(&json!({"stats": {"1": {}}}))
                .unwrap_err()
                .contains("unknown chain")
        );
        assert!(
            streaks_from_fallback(&json!({"stats": {"10": {"currentStreak": "x"}}}))
                .unwrap_err()
                .contains("currentStreak")
        );
        assert!(streaks_from_fallback(&json!({"error": "nope"})).is_err());
    }

    #[test]
    fn countdown_to_midnight() {
        assert_eq!(countdown(0), "24:00:00");
        assert_eq!(countdown(86_400 - 61), "00:01:01");
    }
}
