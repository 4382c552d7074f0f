//! What the page shows, computed from rows or from the fallback service's answer. Pure.

use onepulse_domain::{Address, Chain, GmDay, Streak};
use onepulse_gm_stats::GmStatsRow;
use onepulse_gm_stats::fallback_api::{ErrorAnswer, StatsAnswer};
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
    /// The last live numbers known, kept from earlier (never live, never ready).
    Cached,
}

/// One chain's record, as stored.
pub type ChainStreaks = BTreeMap<Chain, Streak>;

/// Streaks per chain from rows (rows of other chains are ignored).
///
/// Built by `insert` rather than `collect`: `BTreeMap`'s `FromIterator` sorts its input, and
/// each iterator type costs the wasm its own copy of the sort (~3 kB). The result is the same
/// (a later row of a chain replaces an earlier one).
pub fn streaks_from_rows<'a>(rows: impl IntoIterator<Item = &'a GmStatsRow>) -> ChainStreaks {
    let mut streaks = ChainStreaks::new();
    for row in rows {
        if let Some(chain) = row.chain() {
            streaks.insert(chain, row.streak());
        }
    }
    streaks
}

/// Streaks per chain from the fallback service's answer; a chain id that is not one of
/// OnePulse's is refused with a message naming it. Two ids of one chain (`"10"`, `"010"`): the
/// one whose text sorts last wins (the answer's `stats` map is sorted by id text). (Built by `insert`, as [`streaks_from_rows`] says why.)
pub fn streaks_from_fallback(answer: &StatsAnswer) -> Result<ChainStreaks, String> {
    let mut streaks = ChainStreaks::new();
    for (id, entry) in &answer.stats {
        let chain = id
            .parse::<i64>()
            .ok()
            .and_then(|id| Chain::from_id(id).ok())
            .ok_or_else(|| format!("unknown chain {id:?} in the fallback answer"))?;
        let streak = Streak {
            current: entry.current_streak,
            highest: entry.highest_streak,
            all_time: entry.all_time_gm_count,
            last_day: GmDay::from_number(entry.last_gm_day),
        };
        streaks.insert(chain, streak);
    }
    Ok(streaks)
}

/// The most bytes a fallback answer may take (see [`read_fallback_answer`]).
pub const MAX_FALLBACK_ANSWER: usize = 64 << 10;

/// Reads the fallback service's answer to `GET /api/gm/stats?address={asked}`: HTTP `status`
/// and the body `text`. A refusal gives the service's message; a malformed answer a message
/// naming what was wrong (a missing field by its name and place); an answer for another
/// address is refused.
pub fn read_fallback_answer(
    status: u16,
    text: &str,
    asked: &Address,
) -> Result<ChainStreaks, String> {
    // A real answer is well under 1 KiB; a larger one is refused before it is parsed (in the
    // browser `JSON.parse` would build every value, unknown fields included).
    if text.len() > MAX_FALLBACK_ANSWER {
        return Err(format!(
            "the fallback service answered HTTP {status} with {} bytes, more than the {MAX_FALLBACK_ANSWER} an answer may take",
            text.len()
        ));
    }
    if status != 200 {
        return Err(match decode::<ErrorAnswer>(text) {
            Ok(answer) => format!(
                "the fallback service answered HTTP {status}: {}",
                answer.error
            ),
            Err(e) => {
                format!("the fallback service answered HTTP {status} without a message ({e})")
            }
        });
    }
    let answer = decode::<StatsAnswer>(text)
        .map_err(|e| format!("the fallback service's answer is malformed: {e}"))?;
    if Address::parse(&answer.address).ok().as_ref() != Some(asked) {
        return Err("the fallback service answered for another address".into());
    }
    streaks_from_fallback(&answer)
}

/// JSON `text` as a `T`; the error names the field's path (`stats.8453: missing field …`).
#[cfg(not(target_arch = "wasm32"))]
fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    let mut json = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut json).map_err(|e| e.to_string())
}

/// JSON `text` as a `T`, parsed by the browser (`JSON.parse`), which keeps a JSON parser out of
/// the wasm (docs/app-size.md); the error names the field's path (`stats.8453: missing field …`).
#[cfg(target_arch = "wasm32")]
fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    use wasm_bindgen::JsCast;
    let value = js_sys::JSON::parse(text).map_err(|e| match e.dyn_ref::<js_sys::Error>() {
        Some(e) => format!("not JSON: {}", String::from(e.message())),
        None => "not JSON".to_owned(),
    })?;
    serde_path_to_error::deserialize(serde_wasm_bindgen::Deserializer::from(value))
        .map_err(|e| e.to_string())
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
    // In the wasm (`cargo test --target wasm32-unknown-unknown -p onepulse --lib` with
    // `wasm-bindgen-test-runner`) the same tests check the browser's `JSON` path.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

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

    const ASKED: &str = "0x00000000000000000000000000000000000000ab";

    fn asked() -> Address {
        Address::parse(ASKED).expect("a test address")
    }

    fn answer_with(stats: &str) -> String {
        format!(r#"{{"address":"{ASKED}","stats":{{{stats}}},"stale":false}}"#)
    }

    #[test]
    fn fallback_answers_are_read() {
        let text = answer_with(
            r#""8453":{"name":"Base","currentStreak":3,"highestStreak":7,"allTimeGmCount":20,
            "lastGmDay":20454},"10":{"name":"Optimism","currentStreak":1,"highestStreak":1,
            "allTimeGmCount":1,"lastGmDay":20000}"#,
        );
        let streaks = read_fallback_answer(200, &text, &asked()).unwrap();
        assert_eq!(streaks.len(), 2);
        assert_eq!(streaks[&Chain::Base], streak(3, 7, 20, 20_454));
        assert_eq!(streaks[&Chain::Optimism], streak(1, 1, 1, 20_000));
        let empty = read_fallback_answer(200, &answer_with(""), &asked()).unwrap();
        assert!(empty.is_empty(), "no rows: no chains");
    }

    #[test]
    fn two_spellings_of_one_chain_id_keep_the_last_entry() {
        // "010" sorts before "10" in the answer's map; both are Optimism.
        let text = answer_with(
            r#""010":{"name":"Optimism","currentStreak":1,"highestStreak":1,"allTimeGmCount":1,
            "lastGmDay":1},"10":{"name":"Optimism","currentStreak":2,"highestStreak":2,
            "allTimeGmCount":2,"lastGmDay":2}"#,
        );
        let streaks = read_fallback_answer(200, &text, &asked()).unwrap();
        assert_eq!(streaks.len(), 1);
        assert_eq!(streaks[&Chain::Optimism], streak(2, 2, 2, 2));
    }

    #[test]
    fn unknown_fields_in_the_fallback_answer_are_tolerated() {
        let text = format!(
            r#"{{"address":"{ASKED}","stats":{{"42220":{{"name":"Celo","currentStreak":2,
            "highestStreak":2,"allTimeGmCount":5,"lastGmDay":100,"colour":"green"}}}},
            "stale":true,"ageSeconds":12,"version":3}}"#
        );
        let streaks = read_fallback_answer(200, &text, &asked()).unwrap();
        assert_eq!(streaks[&Chain::Celo], streak(2, 2, 5, 100));
    }

    /// A hostile fallback server padding a valid answer with unknown fields (tiny gzipped, huge
    /// once parsed) is refused by its size before anything is parsed; a padded answer within
    /// the limit still reads.
    #[test]
    fn an_oversized_answer_is_refused_before_it_is_parsed() {
        let padded = |n: usize| {
            format!(
                r#"{{"address":"{ASKED}","stats":{{}},"stale":false,"x":[{}{{}}]}}"#,
                "{},".repeat(n)
            )
        };
        let huge = padded(MAX_FALLBACK_ANSWER / 3);
        assert!(huge.len() > MAX_FALLBACK_ANSWER);
        let error = read_fallback_answer(200, &huge, &asked()).unwrap_err();
        assert!(error.contains("more than the 65536"), "{error}");
        let error = read_fallback_answer(500, &huge, &asked()).unwrap_err();
        assert!(error.contains("HTTP 500"), "{error}");
        assert!(read_fallback_answer(200, &padded(1000), &asked()).is_ok());
    }

    #[test]
    fn a_missing_or_malformed_field_is_named() {
        let missing = answer_with(
            r#""10":{"name":"Optimism","currentStreak":1,"highestStreak":1,"lastGmDay":1}"#,
        );
        let error = read_fallback_answer(200, &missing, &asked()).unwrap_err();
        assert!(error.contains("missing field `allTimeGmCount`"), "{error}");
        assert!(error.contains("stats.10"), "names the chain entry: {error}");

        let wrong_type = answer_with(
            r#""10":{"name":"Optimism","currentStreak":"x","highestStreak":1,
            "allTimeGmCount":1,"lastGmDay":1}"#,
        );
        let error = read_fallback_answer(200, &wrong_type, &asked()).unwrap_err();
        assert!(error.contains("currentStreak"), "{error}");

        let too_big = answer_with(
            r#""10":{"name":"Optimism","currentStreak":1,"highestStreak":1,
            "allTimeGmCount":1,"lastGmDay":99999999999}"#,
        );
        let error = read_fallback_answer(200, &too_big, &asked()).unwrap_err();
        assert!(error.contains("lastGmDay"), "{error}");

        let no_stats = format!(r#"{{"address":"{ASKED}","stale":false}}"#);
        let error = read_fallback_answer(200, &no_stats, &asked()).unwrap_err();
        assert!(error.contains("missing field `stats`"), "{error}");

        let error = read_fallback_answer(200, "<html>", &asked()).unwrap_err();
        assert!(error.contains("malformed"), "{error}");
    }

    #[test]
    fn an_unknown_chain_in_the_fallback_answer_is_refused() {
        let text = answer_with(
            r#""1":{"name":"Ethereum","currentStreak":1,"highestStreak":1,"allTimeGmCount":1,
            "lastGmDay":1}"#,
        );
        let error = read_fallback_answer(200, &text, &asked()).unwrap_err();
        assert!(error.contains("unknown chain \"1\""), "{error}");
    }

    #[test]
    fn an_answer_for_another_address_is_refused() {
        let other = answer_with("").replace(ASKED, "0x00000000000000000000000000000000000000cd");
        let error = read_fallback_answer(200, &other, &asked()).unwrap_err();
        assert!(error.contains("another address"), "{error}");
        let garbage = answer_with("").replace(ASKED, "me");
        assert!(read_fallback_answer(200, &garbage, &asked()).is_err());
        // The service echoes lowercase; any spelling of the same address is the same address.
        let upper = answer_with("").replace(ASKED, &ASKED.to_ascii_uppercase().replace("0X", "0x"));
        assert!(read_fallback_answer(200, &upper, &asked()).is_ok());
    }

    #[test]
    fn refusals_give_the_services_message() {
        let error = read_fallback_answer(503, r#"{"error":"no data yet"}"#, &asked()).unwrap_err();
        assert_eq!(error, "the fallback service answered HTTP 503: no data yet");
        let error = read_fallback_answer(502, "Bad Gateway", &asked()).unwrap_err();
        assert!(error.contains("HTTP 502 without a message"), "{error}");
        // A refusal is a refusal even when its body looks like data.
        let error = read_fallback_answer(429, &answer_with(""), &asked()).unwrap_err();
        assert!(error.contains("HTTP 429"), "{error}");
    }

    #[test]
    fn countdown_to_midnight() {
        assert_eq!(countdown(0), "24:00:00");
        assert_eq!(countdown(86_400 - 61), "00:01:01");
    }
}
