//! The last live numbers of the few addresses shown most recently, kept in the browser
//! (`localStorage`) so that the next visit shows them at once, before the network answers.
//!
//! Pure: [`Snapshots`] is read from and written to a JSON string; the store does the storage.
//! What is read back is untrusted (another script, an old version, a full disk, a person with
//! the developer tools may have written it): anything that is not a well-formed entry is
//! ignored, one entry at a time, and nothing panics.

use crate::model::ChainStreaks;
use onepulse_domain::{Address, Chain, GmDay, Streak};
use serde::{Deserialize, Serialize};

/// How many addresses are kept.
pub const KEPT: usize = 5;

/// How far in the future (clock skew, or a clock set back) a stored time may be: one minute.
const MAX_SKEW_MS: i64 = 60_000;

/// How old a stored snapshot may be to be shown: 30 days.
const MAX_AGE_MS: i64 = 30 * 86_400_000;

/// The longest stored text read back (a few addresses' stats are far smaller).
const MAX_TEXT: usize = 64 * 1024;

/// One address's last live numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The address.
    pub address: Address,
    /// Its stats per chain when they were last live.
    pub streaks: ChainStreaks,
    /// When they were last live, in Unix milliseconds.
    pub as_of_ms: i64,
}

/// The kept snapshots, most recently live first; at most [`KEPT`], one per address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshots {
    entries: Vec<Snapshot>,
}

/// A snapshot as stored.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    address: String,
    as_of_ms: i64,
    stats: Vec<StoredStreak>,
}

/// One chain's numbers as stored.
#[derive(Serialize, Deserialize)]
struct StoredStreak {
    chain_id: i64,
    current: i32,
    highest: i32,
    all_time: i32,
    last_day: i32,
}

impl Snapshots {
    /// Reads stored `text` at `now_ms` (Unix milliseconds): an unreadable text gives none, an
    /// unreadable entry is skipped (so is one from the future beyond a minute of clock skew,
    /// one older than 30 days, and one with no chain), and only the first [`KEPT`] entries (one
    /// per address) are kept.
    pub fn parse(text: &str, now_ms: i64) -> Self {
        if text.len() > MAX_TEXT {
            return Self::default();
        }
        let Some(entries) = parse_entries(text) else {
            return Self::default();
        };
        let mut snapshots = Self::default();
        for stored in entries {
            if snapshots.entries.len() == KEPT {
                break;
            }
            let Some(snapshot) = stored.and_then(|stored| read_entry(stored, now_ms)) else {
                continue;
            };
            if snapshots.get(&snapshot.address).is_none() {
                snapshots.entries.push(snapshot);
            }
        }
        snapshots
    }

    /// The text to store.
    pub fn to_json(&self) -> String {
        let stored: Vec<StoredSnapshot> = self.entries.iter().map(to_stored).collect();
        write_entries(&stored).unwrap_or_else(|| "[]".to_owned())
    }

    /// `address`'s snapshot, if kept.
    pub fn get(&self, address: &Address) -> Option<&Snapshot> {
        self.entries.iter().find(|s| &s.address == address)
    }

    /// Keeps `snapshot` as the most recent one, replacing that address's older one and
    /// forgetting the least recent beyond [`KEPT`].
    pub fn remember(&mut self, snapshot: Snapshot) {
        self.entries.retain(|s| s.address != snapshot.address);
        self.entries.insert(0, snapshot);
        self.entries.truncate(KEPT);
    }

    /// How many are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A stored entry, if it is well formed: a valid address, a time neither in the future (beyond
/// [`MAX_SKEW_MS`]) nor older than [`MAX_AGE_MS`] at `now_ms`, one to all known chains at most
/// once each, and numbers that can be a streak (none negative, the current streak not above
/// the highest, the highest not above the count of days).
fn read_entry(stored: StoredSnapshot, now_ms: i64) -> Option<Snapshot> {
    let address = Address::parse(&stored.address).ok()?;
    let recent = stored.as_of_ms > 0
        && stored.as_of_ms <= now_ms.saturating_add(MAX_SKEW_MS)
        && stored.as_of_ms >= now_ms.saturating_sub(MAX_AGE_MS);
    if !recent || stored.stats.is_empty() || stored.stats.len() > Chain::ALL.len() {
        return None;
    }
    let mut streaks = ChainStreaks::new();
    for stat in stored.stats {
        let chain = Chain::from_id(stat.chain_id).ok()?;
        let plausible = stat.current >= 0
            && stat.current <= stat.highest
            && stat.highest <= stat.all_time
            && stat.last_day >= 0;
        if !plausible {
            return None;
        }
        let streak = Streak {
            current: stat.current,
            highest: stat.highest,
            all_time: stat.all_time,
            last_day: GmDay::from_number(stat.last_day),
        };
        if streaks.insert(chain, streak).is_some() {
            return None;
        }
    }
    Some(Snapshot {
        address,
        streaks,
        as_of_ms: stored.as_of_ms,
    })
}

// Natively (the unit tests) JSON is read and written by `serde_json`; in the browser by its own
// `JSON`, through `serde_wasm_bindgen`, which keeps a JSON parser out of the wasm
// (docs/app-size.md).

/// The entries of a stored JSON array, each read on its own (`None` for one that is not a stored
/// snapshot); `None` when `text` is not a JSON array.
#[cfg(not(target_arch = "wasm32"))]
fn parse_entries(text: &str) -> Option<Vec<Option<StoredSnapshot>>> {
    let values = serde_json::from_str::<Vec<serde_json::Value>>(text).ok()?;
    Some(
        values
            .into_iter()
            .map(|value| serde_json::from_value(value).ok())
            .collect(),
    )
}

/// The entries of a stored JSON array, each read on its own (`None` for one that is not a stored
/// snapshot); `None` when `text` is not a JSON array.
#[cfg(target_arch = "wasm32")]
fn parse_entries(text: &str) -> Option<Vec<Option<StoredSnapshot>>> {
    use wasm_bindgen::JsCast;
    let array = js_sys::JSON::parse(text)
        .ok()?
        .dyn_into::<js_sys::Array>()
        .ok()?;
    Some(
        array
            .iter()
            .map(|value| serde_wasm_bindgen::from_value(value).ok())
            .collect(),
    )
}

/// `stored` as JSON text.
#[cfg(not(target_arch = "wasm32"))]
fn write_entries(stored: &[StoredSnapshot]) -> Option<String> {
    serde_json::to_string(stored).ok()
}

/// `stored` as JSON text.
#[cfg(target_arch = "wasm32")]
fn write_entries(stored: &[StoredSnapshot]) -> Option<String> {
    let value = serde_wasm_bindgen::to_value(stored).ok()?;
    js_sys::JSON::stringify(&value).ok()?.as_string()
}

fn to_stored(snapshot: &Snapshot) -> StoredSnapshot {
    StoredSnapshot {
        address: snapshot.address.as_str().to_owned(),
        as_of_ms: snapshot.as_of_ms,
        stats: snapshot
            .streaks
            .iter()
            .map(|(chain, s)| StoredStreak {
                chain_id: i64::from(chain.id()),
                current: s.current,
                highest: s.highest,
                all_time: s.all_time,
                last_day: s.last_day.number(),
            })
            .collect(),
    }
}

/// "as of 14:02" for numbers live at `as_of_ms`, seen at `now_ms` (both Unix milliseconds) by
/// someone whose local time is `offset_minutes` ahead of UTC; the date is added when it is not
/// the same local day ("as of 2026-12-01 14:02").
pub fn as_of_label(as_of_ms: i64, now_ms: i64, offset_minutes: i64) -> String {
    let offset_ms = offset_minutes.saturating_mul(60_000);
    let local = as_of_ms.saturating_add(offset_ms);
    let minutes = local.div_euclid(60_000);
    let (hour, minute) = (
        minutes.div_euclid(60).rem_euclid(24),
        minutes.rem_euclid(60),
    );
    let day = |ms: i64| ms.div_euclid(86_400_000);
    if day(local) == day(now_ms.saturating_add(offset_ms)) {
        return format!("as of {hour:02}:{minute:02}");
    }
    let (year, month, date) = i32::try_from(day(local))
        .map(|d| GmDay::from_number(d).to_date())
        .unwrap_or((1970, 1, 1));
    format!("as of {year:04}-{month:02}-{date:02} {hour:02}:{minute:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    // In the wasm (`cargo test --target wasm32-unknown-unknown -p onepulse --lib` with
    // `wasm-bindgen-test-runner`) the same tests check the browser's `JSON` path.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const A: &str = "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    /// 2026-12-02 14:02:30 UTC.
    const NOW: i64 = 1_796_220_150_000;

    fn address(n: u8) -> Address {
        Address::parse(&format!("0x{}", format!("{n:02x}").repeat(20))).expect("an address")
    }

    fn snapshot(n: u8, current: i32) -> Snapshot {
        let streak = Streak {
            current,
            highest: current,
            all_time: current + 1,
            last_day: GmDay::from_number(20_000),
        };
        Snapshot {
            address: address(n),
            streaks: ChainStreaks::from([(Chain::Base, streak), (Chain::Celo, streak)]),
            as_of_ms: NOW + i64::from(n),
        }
    }

    #[test]
    fn snapshots_survive_the_round_trip() {
        let mut kept = Snapshots::default();
        kept.remember(snapshot(1, 3));
        kept.remember(snapshot(2, 0));
        let back = Snapshots::parse(&kept.to_json(), NOW);
        assert_eq!(back, kept);
        assert_eq!(back.get(&address(1)), Some(&snapshot(1, 3)));
        assert_eq!(back.get(&address(3)), None);
    }

    #[test]
    fn only_the_most_recent_few_addresses_are_kept_one_entry_each() {
        let mut kept = Snapshots::default();
        for n in 1..=8 {
            kept.remember(snapshot(n, 1));
        }
        assert_eq!(kept.len(), KEPT);
        assert!(kept.get(&address(3)).is_none(), "the least recent are gone");
        assert!(kept.get(&address(8)).is_some());
        // Remembering an address again refreshes it and moves it to the front.
        kept.remember(snapshot(4, 9));
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept.get(&address(4)).map(|s| s.streaks.len()), Some(2));
        kept.remember(snapshot(9, 1));
        assert!(kept.get(&address(4)).is_some(), "refreshed, so kept");
        assert!(kept.get(&address(5)).is_none());
    }

    #[test]
    fn unreadable_text_gives_no_snapshots() {
        let huge = format!("[{}]", "1,".repeat(MAX_TEXT));
        for text in [
            "",
            "null",
            "{}",
            "[",
            "\"[]\"",
            "{\"address\":\"x\"}",
            &huge,
        ] {
            assert!(Snapshots::parse(text, NOW).is_empty(), "{text:.40}");
        }
    }

    #[test]
    fn hostile_or_corrupted_entries_are_skipped_one_by_one() {
        let good = format!(
            r#"{{"address":"{A}","as_of_ms":{NOW},"stats":[{{"chain_id":8453,"current":2,"highest":5,"all_time":9,"last_day":20000}}]}}"#
        );
        let bad = [
            r#"{"address":"me","as_of_ms":1,"stats":[]}"#.to_owned(),
            good.replace(A, "0x1234"),
            good.replace("8453", "1"),
            good.replace("8453", "99999999999999999999"),
            good.replace(r#""current":2"#, r#""current":-1"#),
            good.replace(r#""current":2"#, r#""current":6"#),
            good.replace(r#""highest":5"#, r#""highest":10"#),
            good.replace(r#""last_day":20000"#, r#""last_day":-3"#),
            good.replace(r#""current":2"#, r#""current":"2""#),
            good.replace(r#""current":2"#, r#""current":4294967296"#),
            good.replace(&NOW.to_string(), "0"),
            good.replace(&NOW.to_string(), "-5"),
            good.replace(&NOW.to_string(), "1e400"),
            good.replace(&NOW.to_string(), &i64::MAX.to_string()),
            good.replace(&NOW.to_string(), &(NOW + MAX_SKEW_MS + 1).to_string()),
            good.replace(&NOW.to_string(), &(NOW - MAX_AGE_MS - 1).to_string()),
            format!(r#"{{"address":"{B}","as_of_ms":{NOW},"stats":[]}}"#),
            good.replace(
                r#","stats":["#,
                r#","stats":[{"chain_id":8453,"current":0,"highest":0,"all_time":0,"last_day":0},"#,
            ),
            good.replace(r#""stats":["#, r#""nope":["#),
            "42".to_owned(),
            "null".to_owned(),
            "[]".to_owned(),
        ];
        for entry in &bad {
            let text = format!("[{entry},{good}]");
            let read = Snapshots::parse(&text, NOW);
            assert_eq!(read.len(), 1, "{entry}");
            let kept = read
                .get(&Address::parse(A).expect("A"))
                .expect("the good entry");
            assert_eq!(kept.as_of_ms, NOW);
            assert_eq!(kept.streaks[&Chain::Base].highest, 5);
        }
        // The same address twice: the first (most recent) wins.
        let twice = format!(
            "[{good},{}]",
            good.replace(r#""current":2"#, r#""current":3"#)
        );
        let read = Snapshots::parse(&twice, NOW);
        assert_eq!(read.len(), 1);
        assert_eq!(
            read.get(&Address::parse(A).expect("A"))
                .map(|s| s.streaks[&Chain::Base].current),
            Some(2)
        );
        // Many entries: only the first few are read.
        let many = format!("[{}]", vec![good.as_str(); 200].join(","));
        assert_eq!(Snapshots::parse(&many, NOW).len(), 1);
    }

    #[test]
    fn times_within_a_minute_of_skew_and_thirty_days_of_age_are_read() {
        let good = format!(
            r#"{{"address":"{A}","as_of_ms":{NOW},"stats":[{{"chain_id":8453,"current":2,"highest":5,"all_time":9,"last_day":20000}}]}}"#
        );
        for as_of in [NOW + MAX_SKEW_MS, NOW - MAX_AGE_MS, NOW - 1] {
            let text = format!("[{}]", good.replace(&NOW.to_string(), &as_of.to_string()));
            let read = Snapshots::parse(&text, NOW);
            assert_eq!(read.len(), 1, "{as_of}");
        }
        // The same stored entry, read a month and a day later, is too old.
        let text = format!("[{good}]");
        assert!(Snapshots::parse(&text, NOW + MAX_AGE_MS + 1).is_empty());
        // Absurd clocks never panic.
        for now in [i64::MIN, i64::MAX, 0] {
            let _ = Snapshots::parse(&text, now);
        }
    }

    #[test]
    fn the_label_gives_the_local_time_and_the_date_when_not_today() {
        assert_eq!(as_of_label(NOW, NOW + 60_000, 0), "as of 14:02");
        assert_eq!(as_of_label(NOW, NOW, 60), "as of 15:02");
        assert_eq!(as_of_label(NOW, NOW, -5 * 60), "as of 09:02");
        // 14:02 UTC is 00:02 the next day at UTC+10, and "now" is that same local day.
        assert_eq!(as_of_label(NOW, NOW + 1000, 10 * 60), "as of 00:02");
        assert_eq!(
            as_of_label(NOW, NOW + 86_400_000, 0),
            "as of 2026-12-02 14:02"
        );
        assert_eq!(
            as_of_label(NOW - 86_400_000, NOW, 0),
            "as of 2026-12-01 14:02"
        );
        // Absurd inputs give a label, never a panic.
        for (a, b, c) in [
            (i64::MIN, i64::MAX, i64::MIN),
            (i64::MAX, 0, i64::MAX),
            (0, 0, 0),
        ] {
            assert!(as_of_label(a, b, c).starts_with("as of "));
        }
    }
}
