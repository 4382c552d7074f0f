//! The streak rule.

use crate::GmDay;

/// A wallet's GM record on one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streak {
    /// Consecutive days up to `last_day`, as stored (see [`Streak::current_on`] for display).
    pub current: i32,
    /// The longest streak ever reached; never decreases.
    pub highest: i32,
    /// How many distinct days were counted.
    pub all_time: i32,
    /// The last day counted.
    pub last_day: GmDay,
}

impl Streak {
    /// The record after the first report ever: 1 / 1 / 1.
    pub fn first(day: GmDay) -> Self {
        Self {
            current: 1,
            highest: 1,
            all_time: 1,
            last_day: day,
        }
    }

    /// Applies a report of `day`, or returns `None` when nothing changes.
    ///
    /// `day == last + 1` extends the streak, a later day starts a new streak of 1, and the same
    /// or an older day (a duplicate or stale report) changes nothing. Counters saturate instead of
    /// overflowing.
    pub fn after_report(self, day: GmDay) -> Option<Self> {
        if day <= self.last_day {
            return None;
        }
        let current = if day == self.last_day.next() {
            self.current.saturating_add(1)
        } else {
            1
        };
        Some(Self {
            current,
            highest: self.highest.max(current),
            all_time: self.all_time.saturating_add(1),
            last_day: day,
        })
    }

    /// Applies a report to an optional existing record (`None` = no row yet).
    pub fn report(existing: Option<Self>, day: GmDay) -> Option<Self> {
        match existing {
            None => Some(Self::first(day)),
            Some(streak) => streak.after_report(day),
        }
    }

    /// The streak to show on `today`: the stored one while it is alive (last GM today or
    /// yesterday), 0 once a day was missed, since the stored value only resets at the next report.
    pub fn current_on(&self, today: GmDay) -> i32 {
        if self.last_day >= today.previous() {
            self.current
        } else {
            0
        }
    }

    /// Whether the wallet already said GM on `today`.
    pub fn done_on(&self, today: GmDay) -> bool {
        self.last_day >= today
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(n: i32) -> GmDay {
        GmDay::from_number(n)
    }

    fn run(days: &[i32]) -> Option<Streak> {
        days.iter()
            .fold(None, |acc, &d| Streak::report(acc, day(d)).or(acc))
    }

    #[test]
    fn first_report_is_one_one_one() {
        assert_eq!(
            Streak::report(None, day(100)),
            Some(Streak {
                current: 1,
                highest: 1,
                all_time: 1,
                last_day: day(100)
            })
        );
    }

    #[test]
    fn next_day_increments() {
        let s = run(&[100, 101, 102]).unwrap();
        assert_eq!((s.current, s.highest, s.all_time), (3, 3, 3));
    }

    #[test]
    fn gap_resets_to_one_and_keeps_highest() {
        let s = run(&[1, 2, 3, 4, 5, 7]).unwrap();
        assert_eq!((s.current, s.highest, s.all_time), (1, 5, 6));
        assert_eq!(s.last_day, day(7));
    }

    #[test]
    fn same_or_older_day_changes_nothing() {
        let s = run(&[10, 11]).unwrap();
        assert_eq!(s.after_report(day(11)), None);
        assert_eq!(s.after_report(day(3)), None);
    }

    #[test]
    fn counters_saturate() {
        let s = Streak {
            current: i32::MAX,
            highest: i32::MAX,
            all_time: i32::MAX,
            last_day: day(5),
        };
        let next = s.after_report(day(6)).unwrap();
        assert_eq!(
            (next.current, next.highest, next.all_time),
            (i32::MAX, i32::MAX, i32::MAX)
        );
    }

    #[test]
    fn display_breaks_after_a_missed_day() {
        let s = run(&[10, 11, 12]).unwrap();
        assert_eq!(s.current_on(day(12)), 3);
        assert_eq!(s.current_on(day(13)), 3);
        assert_eq!(s.current_on(day(14)), 0);
        assert!(s.done_on(day(12)));
        assert!(!s.done_on(day(13)));
    }

    proptest! {
        #[test]
        fn invariants_hold_for_any_sequence(days in proptest::collection::vec(0i32..200, 1..60)) {
            let mut state: Option<Streak> = None;
            let mut counted = 0;
            let mut last_seen: Option<i32> = None;
            for &d in &days {
                let before = state;
                let after = Streak::report(state, day(d));
                if let Some(next) = after {
                    counted += 1;
                    if let Some(prev) = before {
                        prop_assert!(next.highest >= prev.highest, "highest decreased");
                    }
                    // A repeated report of the same day is a no-op.
                    prop_assert_eq!(next.after_report(day(d)), None);
                    state = Some(next);
                }
                if last_seen.is_none_or(|l| d > l) {
                    last_seen = Some(d);
                }
                let s = state.unwrap();
                prop_assert!(s.highest >= s.current && s.current >= 1);
            }
            // All-time counts exactly the strictly increasing days (each new maximum).
            let mut max = None;
            let increasing = days.iter().filter(|&&d| {
                let new = max.is_none_or(|m| d > m);
                if new { max = Some(d); }
                new
            }).count();
            prop_assert_eq!(state.unwrap().all_time, increasing as i32);
            prop_assert_eq!(counted, increasing);
            prop_assert_eq!(state.unwrap().last_day, day(last_seen.unwrap()));
        }

        #[test]
        fn consecutive_days_build_a_streak_of_their_length(start in 0i32..10_000, len in 1usize..50) {
            let days: Vec<i32> = (0..len as i32).map(|i| start + i).collect();
            let s = run(&days).unwrap();
            prop_assert_eq!(s.current, len as i32);
            prop_assert_eq!(s.highest, len as i32);
        }
    }
}
