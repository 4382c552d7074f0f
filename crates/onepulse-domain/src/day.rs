//! GM days: UTC day numbers, as the `DailyGM` contract counts them.

use std::fmt;

const SECONDS_PER_DAY: i64 = 86_400;

/// Why a number is not an acceptable GM day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DayError {
    /// Days before 1970-01-01 do not exist on chain.
    #[error("GM day {0} is negative")]
    Negative(i64),
    /// A day after tomorrow (by the checker's clock) cannot have been reported yet.
    #[error("GM day {day} is in the future: latest accepted is {latest} (tomorrow)")]
    InFuture {
        /// The day that was reported.
        day: i64,
        /// Tomorrow's day number.
        latest: i32,
    },
}

/// A UTC day number: `floor(unix_seconds / 86400)` (the contract's `block.timestamp / 1 days`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GmDay(i32);

impl GmDay {
    /// The day containing this Unix time in seconds (negative times are before day 0).
    pub fn from_unix_seconds(seconds: i64) -> Self {
        Self::clamp(seconds.div_euclid(SECONDS_PER_DAY))
    }

    /// The day containing this Unix time in microseconds (SpacetimeDB timestamps).
    pub fn from_unix_micros(micros: i64) -> Self {
        Self::clamp(micros.div_euclid(SECONDS_PER_DAY * 1_000_000))
    }

    /// The day containing this Unix time in milliseconds (JavaScript's `Date.now()`).
    pub fn from_unix_millis(millis: f64) -> Self {
        // `as` saturates on out-of-range floats and maps NaN to 0.
        Self::from_unix_seconds((millis / 1000.0).floor() as i64)
    }

    /// Checks a reported day: not negative, and not later than `today + 1`.
    pub fn checked(day: i64, today: GmDay) -> Result<Self, DayError> {
        if day < 0 {
            return Err(DayError::Negative(day));
        }
        let latest = today.next();
        if day > i64::from(latest.0) {
            return Err(DayError::InFuture {
                day,
                latest: latest.0,
            });
        }
        Ok(Self::clamp(day))
    }

    /// A day number taken as is: for rows already stored, not for untrusted input.
    pub const fn from_number(day: i32) -> Self {
        Self(day)
    }

    /// The day number.
    pub const fn number(self) -> i32 {
        self.0
    }

    /// The following day (saturating at the largest day number).
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }

    /// The previous day (saturating at the smallest day number).
    pub fn previous(self) -> Self {
        Self(self.0.saturating_sub(1))
    }

    /// Seconds from `unix_seconds` to the start of the next UTC day (1..=86400).
    pub fn seconds_until_next_day(unix_seconds: i64) -> i64 {
        SECONDS_PER_DAY - unix_seconds.rem_euclid(SECONDS_PER_DAY)
    }

    /// The calendar date `(year, month, day)` of this day, proleptic Gregorian, UTC.
    pub fn to_date(self) -> (i64, u32, u32) {
        // Howard Hinnant's civil_from_days.
        let z = i64::from(self.0) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        (year, month, day)
    }

    fn clamp(days: i64) -> Self {
        Self(days.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
    }
}

impl fmt::Display for GmDay {
    /// Formats as an ISO date, e.g. `2025-11-21`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.to_date();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_follow_utc_midnight() {
        assert_eq!(GmDay::from_unix_seconds(0).number(), 0);
        assert_eq!(GmDay::from_unix_seconds(86_399).number(), 0);
        assert_eq!(GmDay::from_unix_seconds(86_400).number(), 1);
        assert_eq!(GmDay::from_unix_seconds(-1).number(), -1);
        // 2025-11-21T12:00:00Z
        let noon = 1_763_726_400;
        assert_eq!(GmDay::from_unix_seconds(noon).number(), 20_413);
        assert_eq!(GmDay::from_unix_micros(noon * 1_000_000).number(), 20_413);
        assert_eq!(
            GmDay::from_unix_millis(noon as f64 * 1000.0).number(),
            20_413
        );
        assert_eq!(GmDay::from_unix_millis(f64::NAN).number(), 0);
    }

    #[test]
    fn dates_format_as_iso() {
        assert_eq!(GmDay::from_number(0).to_string(), "1970-01-01");
        assert_eq!(GmDay::from_number(20_413).to_string(), "2025-11-21");
        assert_eq!(GmDay::from_number(11_016).to_string(), "2000-02-29");
    }

    #[test]
    fn checked_accepts_up_to_tomorrow() {
        let today = GmDay::from_number(20_000);
        assert_eq!(GmDay::checked(0, today), Ok(GmDay::from_number(0)));
        assert_eq!(
            GmDay::checked(20_001, today),
            Ok(GmDay::from_number(20_001))
        );
        assert_eq!(GmDay::checked(-1, today), Err(DayError::Negative(-1)));
        assert_eq!(
            GmDay::checked(20_002, today),
            Err(DayError::InFuture {
                day: 20_002,
                latest: 20_001
            })
        );
        assert!(GmDay::checked(i64::MAX, today).is_err());
    }

    #[test]
    fn countdown_to_midnight() {
        assert_eq!(GmDay::seconds_until_next_day(0), 86_400);
        assert_eq!(GmDay::seconds_until_next_day(86_399), 1);
        assert_eq!(GmDay::seconds_until_next_day(-1), 1);
    }
}
