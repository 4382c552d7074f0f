//! A token bucket per client address: a burst, then a steady rate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before idle ones are dropped.
const MAX_CLIENTS: usize = 100_000;

/// Per-client request budget.
pub struct RateLimiter {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    /// `burst` requests at once, then `per_second`.
    pub fn new(burst: f64, per_second: f64) -> Self {
        Self {
            burst,
            per_second,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `client`'s budget, or says how long until one is available.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_CLIENTS {
            let full_after = Duration::from_secs_f64(self.burst / self.per_second);
            buckets.retain(|_, (_, seen)| now.duration_since(*seen) < full_after);
        }
        let (tokens, seen) = buckets.entry(client).or_insert((self.burst, now));
        let refill = now.saturating_duration_since(*seen).as_secs_f64() * self.per_second;
        *tokens = (*tokens + refill).min(self.burst);
        *seen = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate_per_client() {
        let limiter = RateLimiter::new(3.0, 2.0);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check(a, t), Ok(()));
        }
        let wait = limiter.check(a, t).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(
            limiter.check(b, t),
            Ok(()),
            "another client has its own budget"
        );
        assert_eq!(limiter.check(a, t + Duration::from_millis(500)), Ok(()));
        assert!(limiter.check(a, t + Duration::from_millis(500)).is_err());
    }
}
