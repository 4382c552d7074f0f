//! When to try again after the socket closes, and what the UI shows meanwhile.

use spacetimedb_lib::Identity;
use std::time::Duration;

/// Where a connection stands, for the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionStatus {
    /// The first connection attempt is under way.
    Connecting,
    /// Connected as this identity.
    Connected(Identity),
    /// The socket closed, stopped answering (see [`crate::Heartbeat`]) or could not be opened;
    /// trying again.
    Reconnecting {
        /// Attempts made since the socket closed.
        attempt: u32,
        /// When the next attempt starts, in the core's clock (milliseconds): `performance.now()`
        /// in the browser, time since the connection was made natively.
        next_try_at_ms: f64,
    },
    /// Given up for good (closed by the application, or refused by configuration).
    Disconnected(String),
}

impl std::fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectionStatus::Connecting => f.write_str("connecting"),
            ConnectionStatus::Connected(identity) => {
                write!(f, "connected as {}", identity.to_hex())
            }
            ConnectionStatus::Reconnecting { attempt, .. } => {
                write!(f, "reconnecting (attempt {attempt})")
            }
            ConnectionStatus::Disconnected(reason) => write!(f, "disconnected: {reason}"),
        }
    }
}

/// The retry schedule: quick at first, at most [`Backoff::OUTAGE_CAP`] apart during the first
/// minute of an outage (so a server back within a minute is reached within 5 s), then growing to
/// [`Backoff::CAP`]. Never gives up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first delay.
    pub first: Duration,
    /// The longest delay during the first [`Backoff::SHORT_OUTAGE`].
    pub outage_cap: Duration,
    /// The longest delay after that.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_millis(100),
            outage_cap: Self::OUTAGE_CAP,
            cap: Self::CAP,
        }
    }
}

impl Backoff {
    /// Delays stay at most this long while the outage is young.
    pub const OUTAGE_CAP: Duration = Duration::from_secs(4);
    /// The longest delay.
    pub const CAP: Duration = Duration::from_secs(30);
    /// How long an outage is "young".
    pub const SHORT_OUTAGE: Duration = Duration::from_secs(60);

    /// The delay before attempt `attempt` (1 = the first retry) of an outage that started
    /// `outage` ago; `random` in `[0, 1)` spreads clients apart (up to 25 % shorter).
    pub fn delay(&self, attempt: u32, outage: Duration, random: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(16);
        let nominal = self.first.saturating_mul(1 << exponent);
        let cap = if outage < Self::SHORT_OUTAGE {
            self.outage_cap
        } else {
            self.cap
        };
        let nominal = nominal.min(cap);
        let random = if random.is_finite() {
            random.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let jitter = 1.0 - 0.25 * random;
        // `mul_f64` panics when the product does not fit; a cap near `Duration::MAX` must not.
        Duration::try_from_secs_f64(nominal.as_secs_f64() * jitter).unwrap_or(nominal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZERO: Duration = Duration::ZERO;

    #[test]
    fn starts_quick_and_doubles() {
        let b = Backoff::default();
        let ms = |attempt| b.delay(attempt, ZERO, 0.0).as_millis();
        assert_eq!(
            [ms(1), ms(2), ms(3), ms(4), ms(5), ms(6)],
            [100, 200, 400, 800, 1600, 3200]
        );
    }

    #[test]
    fn stays_within_four_seconds_for_the_first_minute_then_grows_to_thirty() {
        let b = Backoff::default();
        assert_eq!(
            b.delay(20, Duration::from_secs(59), 0.0),
            Duration::from_secs(4)
        );
        assert_eq!(
            b.delay(7, Duration::from_secs(61), 0.0),
            Duration::from_millis(6400)
        );
        assert_eq!(
            b.delay(20, Duration::from_secs(600), 0.0),
            Duration::from_secs(30)
        );
        assert_eq!(
            b.delay(u32::MAX, Duration::from_secs(600), 0.0),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn jitter_only_shortens() {
        let b = Backoff::default();
        for r in [0.0, 0.3, 0.99, 5.0, -1.0, f64::NAN] {
            let d = b.delay(3, ZERO, r);
            assert!(
                d <= Duration::from_millis(400) && d >= Duration::from_millis(300),
                "{r}: {d:?}"
            );
        }
    }

    /// A server back after an outage of up to a minute is tried within 5 s of its return.
    #[test]
    fn a_server_back_within_a_minute_is_reached_within_five_seconds() {
        let b = Backoff::default();
        for back_after_ms in (0..=60_000u64).step_by(250) {
            let mut t = Duration::ZERO;
            let mut attempt = 1;
            while t < Duration::from_millis(back_after_ms) {
                t += b.delay(attempt, t, 0.0) + Duration::from_millis(20);
                attempt += 1;
            }
            let waited = t - Duration::from_millis(back_after_ms);
            assert!(
                waited <= Duration::from_secs(5),
                "back after {back_after_ms} ms, waited {waited:?}"
            );
        }
    }

    #[test]
    fn a_cap_near_duration_max_never_panics() {
        for first in [Duration::from_millis(100), Duration::MAX] {
            let backoff = Backoff {
                first,
                outage_cap: Duration::MAX,
                cap: Duration::MAX,
            };
            for random in [0.0, 1e-18, 0.5, 1.0] {
                for attempt in [1, 2, 64, u32::MAX] {
                    let _ = backoff.delay(attempt, Duration::ZERO, random);
                    let _ = backoff.delay(attempt, Duration::MAX, random);
                }
            }
        }
    }
}
