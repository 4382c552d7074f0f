//! Who the client is, and a token bucket per client: a burst, then a steady rate.
//!
//! **The client.** Without `--trusted-proxy` the client is the TCP peer and `X-Forwarded-For`
//! is never read. When the peer is in a trusted proxy's range, the client is the right-most
//! address in `X-Forwarded-For` (every header line, comma lists, in order) that is not itself a
//! trusted proxy: each proxy appends the address it was connected from, so everything to the
//! right of that address was written by machines we trust, and everything to its left by the
//! client (who may write anything there). An entry that is not an IP address where a client is
//! looked for makes the request count as the peer's (a malformed header never picks a bucket).
//!
//! **The bucket.** IPv4 clients each have their own; IPv6 clients share one per /64 (one
//! household or server gets a whole /64, so per-address buckets would be free to multiply).
//!
//! **Memory.** At most `max_clients` buckets are kept, in the order their clients were last
//! seen. A new client arriving when the map is full may take the place of one of the (at most
//! [`PROBES`]) least recently seen ones only if that client's bucket has refilled (forgetting it
//! loses nothing: it would come back to a full bucket anyway); those looked at and not refilled
//! move to the recent end, so one drained client does not block every newcomer while others
//! have refilled. If none has, the map is under churn — more clients are
//! active than it holds — and the newcomer spends from one *overflow* bucket that every such
//! newcomer shares (the same burst and rate), so clients it cannot remember never get a fresh
//! burst each: an attacker with more addresses than the map holds is limited as a whole, and
//! the clients already remembered keep their own budgets. Finding a client, looking at the
//! least recently seen one, replacing it and moving a client to the recent end are constant
//! work, so a flood of new clients costs the same per request however full the map is. A
//! client takes a 64-byte slot plus a 32-byte entry in the hash table (with its overhead about
//! 110 bytes): the default 100 000 clients stay under 11 MB.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The default of `--max-tracked-clients`: buckets kept at once.
pub const DEFAULT_MAX_CLIENTS: usize = 100_000;

/// `X-Forwarded-For` entries read from the right, at most: a longer run of trusted proxies is
/// not a real chain, and the request counts as the peer's.
const MAX_FORWARDED_HOPS: usize = 32;

/// The proxies whose `X-Forwarded-For` is believed (`--trusted-proxy`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    ranges: Vec<IpNet>,
}

impl TrustedProxies {
    /// Trusts the peers in `ranges`.
    pub fn new(ranges: &[IpNet]) -> Self {
        Self {
            ranges: ranges.iter().map(IpNet::trunc).collect(),
        }
    }

    /// Whether `ip` (IPv4-mapped IPv6 counts as IPv4) is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.ranges.iter().any(|range| range.contains(&ip))
    }

    /// The client a request from `peer` with `headers` comes from (see the module docs).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let mut entries = headers
            .get_all("x-forwarded-for")
            .iter()
            .rev()
            .flat_map(|value| {
                // A value that is not visible ASCII yields one malformed entry.
                let text = value.to_str().unwrap_or("\u{0}");
                text.rsplit(',')
            });
        let mut leftmost = None;
        for _ in 0..MAX_FORWARDED_HOPS {
            let Some(entry) = entries.next() else {
                // Every hop is trusted (or there is no header): the request began at the
                // left-most one.
                return leftmost.unwrap_or(peer);
            };
            let Some(ip) = parse_forwarded_address(entry) else {
                return peer;
            };
            if !self.contains(ip) {
                return ip;
            }
            leftmost = Some(ip);
        }
        peer
    }
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]` or
/// `[2001:db8::1]:443`, with spaces or tabs around it. IPv4-mapped IPv6 becomes IPv4.
fn parse_forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim_matches([' ', '\t']);
    let ip = if let Ok(ip) = entry.parse::<IpAddr>() {
        ip
    } else if let Ok(socket) = entry.parse::<SocketAddr>() {
        socket.ip()
    } else {
        let inside = entry.strip_prefix('[')?.strip_suffix(']')?;
        IpAddr::V6(inside.parse::<Ipv6Addr>().ok()?)
    };
    Some(ip.to_canonical())
}

/// The bucket `client` spends from: its own IPv4 address, or its IPv6 /64.
pub fn bucket_key(client: IpAddr) -> IpAddr {
    match client.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

/// A client's budget: tokens left, and when it was last seen.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    seen: Instant,
}

/// At most how many of the least recently seen clients a new client looks at for a refilled
/// bucket whose place it may take.
const PROBES: usize = 4;

/// No slot: the end of the recency list.
const NIL: usize = usize::MAX;

/// A client's bucket in the recency list.
#[derive(Debug, Clone, Copy)]
struct Slot {
    key: IpAddr,
    bucket: Bucket,
    /// The next less recently seen slot, or [`NIL`].
    older: usize,
    /// The next more recently seen slot, or [`NIL`].
    newer: usize,
}

/// At most `max` buckets, in a doubly linked list from the least to the most recently seen
/// client (slot indices in `slots`), found by key through `index`, and the overflow bucket
/// newcomers share while no slot may be reused. Every operation is constant work: a slot, once
/// made, is only ever reused for a new client, never removed.
#[derive(Debug)]
struct Buckets {
    max: usize,
    index: HashMap<IpAddr, usize>,
    slots: Vec<Slot>,
    oldest: usize,
    newest: usize,
    /// The bucket of the newcomers the map has no room for (made at its first use).
    overflow: Option<Bucket>,
    /// Slots read to make room for a new client (for the tests of bounded work).
    inspected: u64,
}

impl Buckets {
    fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            index: HashMap::new(),
            slots: Vec::new(),
            oldest: NIL,
            newest: NIL,
            overflow: None,
            inspected: 0,
        }
    }

    /// The bucket `key` spends from, its client now the most recently seen: its own; for a new
    /// client `fresh`, in a new slot while there are fewer than `max`, else in the least
    /// recently seen client's if `forgettable` says that client's bucket has refilled; else the
    /// shared overflow bucket (`fresh` at its first use), the map left as it is.
    fn bucket_of(
        &mut self,
        key: IpAddr,
        fresh: Bucket,
        forgettable: impl Fn(&Bucket) -> bool,
    ) -> &mut Bucket {
        let slot = match self.index.get(&key) {
            Some(&slot) => {
                self.unlink(slot);
                slot
            }
            None if self.slots.len() < self.max => {
                if self.slots.len() == self.slots.capacity() {
                    // Grow like a Vec does, but never past `max`.
                    let more = self.slots.len().max(16).min(self.max - self.slots.len());
                    self.slots.reserve_exact(more);
                }
                self.slots.push(Slot {
                    key,
                    bucket: fresh,
                    older: NIL,
                    newer: NIL,
                });
                self.index.insert(key, self.slots.len() - 1);
                self.slots.len() - 1
            }
            None => {
                // Full (`max` ≥ 1 slots), so there is an oldest. Look at a few of the least
                // recently seen; each not refilled goes to the recent end.
                let mut found = None;
                for _ in 0..PROBES.min(self.slots.len()) {
                    let slot = self.oldest;
                    let oldest = self.inspect(slot);
                    if forgettable(&oldest.bucket) {
                        found = Some((slot, oldest));
                        break;
                    }
                    self.unlink(slot);
                    self.link_newest(slot);
                }
                let Some((slot, oldest)) = found else {
                    return self.overflow.get_or_insert(fresh);
                };
                self.unlink(slot);
                self.slots[slot].key = key;
                self.slots[slot].bucket = fresh;
                self.index.remove(&oldest.key);
                self.index.insert(key, slot);
                slot
            }
        };
        self.link_newest(slot);
        &mut self.slots[slot].bucket
    }

    /// Reads `slot` to decide whether it may be reused (counted: the tests check that a new
    /// client costs one such read).
    fn inspect(&mut self, slot: usize) -> Slot {
        self.inspected += 1;
        self.slots[slot]
    }

    fn unlink(&mut self, slot: usize) {
        let Slot { older, newer, .. } = self.slots[slot];
        match older {
            NIL => self.oldest = newer,
            older => self.slots[older].newer = newer,
        }
        match newer {
            NIL => self.newest = older,
            newer => self.slots[newer].older = older,
        }
    }

    fn link_newest(&mut self, slot: usize) {
        self.slots[slot].older = self.newest;
        self.slots[slot].newer = NIL;
        match self.newest {
            NIL => self.oldest = slot,
            newest => self.slots[newest].newer = slot,
        }
        self.newest = slot;
    }
}

/// Per-client request budget over at most `max_clients` clients at once.
pub struct RateLimiter {
    burst: f64,
    per_second: f64,
    buckets: Mutex<Buckets>,
}

impl RateLimiter {
    /// `burst` requests at once, then `per_second`, remembering at most 100 000
    /// clients.
    pub fn new(burst: f64, per_second: f64) -> Self {
        Self::with_max_clients(burst, per_second, DEFAULT_MAX_CLIENTS)
    }

    /// `burst` requests at once, then `per_second`, remembering at most `max_clients` (at
    /// least 1) clients.
    pub fn with_max_clients(burst: f64, per_second: f64, max_clients: usize) -> Self {
        Self {
            burst,
            per_second,
            buckets: Mutex::new(Buckets::new(max_clients)),
        }
    }

    /// Takes one request from the budget of `client`'s bucket ([`bucket_key`]; the shared
    /// overflow bucket for a new client while the map is full of clients whose buckets have
    /// not refilled), or says how long until one is available.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.lock();
        let fresh = Bucket {
            tokens: self.burst,
            seen: now,
        };
        let bucket = buckets.bucket_of(bucket_key(client), fresh, |bucket| {
            self.tokens_at(bucket, now) >= self.burst
        });
        bucket.tokens = self.tokens_at(bucket, now);
        bucket.seen = bucket.seen.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            // Finite and positive for any rate above 0; a wait too long for a Duration (a
            // rate far below what `--per-second` accepts) is the longest one.
            let seconds = (1.0 - bucket.tokens) / self.per_second;
            Err(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX))
        }
    }

    /// The tokens `bucket` holds at `now`: what it had, plus what it earned since, at most
    /// `burst`.
    fn tokens_at(&self, bucket: &Bucket, now: Instant) -> f64 {
        let earned = now.saturating_duration_since(bucket.seen).as_secs_f64() * self.per_second;
        (bucket.tokens + earned).min(self.burst)
    }

    /// Clients remembered now.
    pub fn tracked_clients(&self) -> usize {
        self.lock().index.len()
    }

    /// Slots read so far to make room for new clients.
    #[cfg(test)]
    fn inspected(&self) -> u64 {
        self.lock().inspected
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buckets> {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

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

    #[test]
    fn the_documented_memory_per_client_holds() {
        assert!(std::mem::size_of::<Slot>() <= 64);
        assert!(std::mem::size_of::<(IpAddr, usize)>() <= 32);
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64() {
        assert_eq!(bucket_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(bucket_key(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(bucket_key(ip("10.1.2.3")), ip("10.1.2.3"));
        let limiter = RateLimiter::new(2.0, 0.001);
        let t = Instant::now();
        assert_eq!(limiter.check(ip("2001:db8:1:2::1"), t), Ok(()));
        assert_eq!(
            limiter.check(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), t),
            Ok(())
        );
        assert!(
            limiter.check(ip("2001:db8:1:2:1234::9"), t).is_err(),
            "a third address of the same /64 finds the bucket empty"
        );
        assert_eq!(
            limiter.check(ip("2001:db8:1:3::1"), t),
            Ok(()),
            "the next /64 is someone else"
        );
        // IPv4 neighbours are not grouped; an IPv4-mapped address is the IPv4 client.
        assert_eq!(limiter.check(ip("192.0.2.1"), t), Ok(()));
        assert_eq!(limiter.check(ip("::ffff:192.0.2.1"), t), Ok(()));
        assert!(limiter.check(ip("192.0.2.1"), t).is_err());
        assert_eq!(limiter.check(ip("192.0.2.2"), t), Ok(()));
    }

    #[test]
    fn a_flood_of_distinct_clients_never_grows_the_map_past_its_bound() {
        let limiter = RateLimiter::with_max_clients(2.0, 0.001, 64);
        let t = Instant::now();
        for i in 0..10_000u32 {
            // All active at once (nobody is idle): the least recently seen are forgotten.
            let client = IpAddr::V6(Ipv6Addr::from(u128::from(i) << 64));
            let _ = limiter.check(client, t + Duration::from_micros(u64::from(i)));
            assert!(limiter.tracked_clients() <= 64, "at {i}");
        }
        assert_eq!(limiter.tracked_clients(), 64);
        let tiny = RateLimiter::with_max_clients(1.0, 0.001, 1);
        for i in 0..100u8 {
            let _ = tiny.check(IpAddr::from([10, 0, 0, i]), t);
            assert_eq!(tiny.tracked_clients(), 1);
        }
        assert!(tiny.check(IpAddr::from([10, 0, 0, 99]), t).is_err());
    }

    #[test]
    fn only_a_client_whose_bucket_refilled_is_forgotten() {
        let limiter = RateLimiter::with_max_clients(1.0, 1.0, 4);
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_secs(10) + Duration::from_millis(n);
        let [a, b, c, d, e, f, g] = [
            "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7",
        ]
        .map(ip);
        // a is seen early and is idle (its bucket full again) by the time the map is full.
        assert_eq!(limiter.check(a, t), Ok(()));
        for (i, client) in [b, c, d].into_iter().enumerate() {
            let now = ms(i as u64);
            assert_eq!(limiter.check(client, now), Ok(()));
            assert!(limiter.check(client, now).is_err());
        }
        assert_eq!(limiter.check(e, ms(3)), Ok(()));
        assert_eq!(limiter.tracked_clients(), 4, "the idle a made room for e");
        // Everyone remembered is active (b, c, d, e with empty buckets): newcomers share the
        // overflow bucket, and nobody is forgotten.
        assert_eq!(
            limiter.check(f, ms(4)),
            Ok(()),
            "the overflow bucket's burst"
        );
        assert!(
            limiter.check(g, ms(4)).is_err(),
            "another newcomer finds the shared overflow bucket empty"
        );
        assert!(
            limiter.check(f, ms(4)).is_err(),
            "f was not remembered apart"
        );
        for client in [b, c, d, e] {
            assert!(
                limiter.check(client, ms(5)).is_err(),
                "{client} was kept, its bucket still empty"
            );
        }
        assert_eq!(limiter.tracked_clients(), 4);
        // A second later b (now the least recently seen) has refilled: forgetting it loses
        // nothing, so a newcomer takes its place, with a burst of its own.
        let later = ms(1_005);
        assert_eq!(limiter.check(g, later), Ok(()));
        assert!(limiter.check(g, later).is_err(), "g has its own bucket now");
        assert_eq!(
            limiter.check(b, later),
            Ok(()),
            "b comes back to a full bucket"
        );
    }

    /// Under a flood of new clients while the map is full of active ones, each new client
    /// reads [`PROBES`] slots (of the least recently seen), whatever the map's size.
    #[test]
    fn a_new_client_costs_constant_work_however_full_the_map() {
        let t = Instant::now();
        for max in [10usize, 1_000, 20_000] {
            let limiter = RateLimiter::with_max_clients(2.0, 0.001, max);
            let client = |i: usize| IpAddr::V6(Ipv6Addr::from((i as u128 + 1) << 64));
            for i in 0..max {
                assert_eq!(limiter.check(client(i), t), Ok(()));
            }
            assert_eq!(
                limiter.inspected(),
                0,
                "room was never needed while filling"
            );
            for round in 0..3u64 {
                for i in 0..max {
                    // Everyone stays active: no idle client to forget.
                    let _ = limiter.check(client(i), t + Duration::from_millis(round));
                }
            }
            assert_eq!(limiter.inspected(), 0, "known clients cost no read");
            for n in 0..5_000usize {
                let before = limiter.inspected();
                let _ = limiter.check(client(max + n), t + Duration::from_millis(3));
                assert_eq!(
                    limiter.inspected() - before,
                    PROBES as u64,
                    "max {max}, new client {n}"
                );
                assert_eq!(limiter.tracked_clients(), max);
            }
        }
    }

    /// One drained client at the least recently seen end does not send every newcomer to the
    /// overflow bucket while the next ones have refilled (only the least recently seen one was
    /// looked at: the second newcomer here found the shared bucket empty).
    #[test]
    fn a_drained_oldest_client_does_not_block_newcomers() {
        let limiter = RateLimiter::with_max_clients(30.0, 5.0, 3);
        let t = Instant::now();
        let [drained, idle1, idle2, new1, new2] =
            ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.1.1", "10.0.1.2"].map(ip);
        for _ in 0..30 {
            assert_eq!(limiter.check(drained, t), Ok(()));
        }
        for client in [idle1, idle2] {
            assert_eq!(limiter.check(client, t + Duration::from_millis(10)), Ok(()));
        }
        // A second later idle1 and idle2 have refilled, `drained` (the least recently seen)
        // has not: each newcomer takes a refilled place, with a burst of its own.
        let at = t + Duration::from_secs(1);
        for newcomer in [new1, new2] {
            for i in 0..30 {
                assert_eq!(
                    limiter.check(newcomer, at),
                    Ok(()),
                    "{newcomer}, request {i}"
                );
            }
            assert!(limiter.check(newcomer, at).is_err());
        }
        assert_eq!(limiter.tracked_clients(), 3);
        assert!(
            limiter.check(drained, at).is_ok(),
            "the drained client was kept (5 tokens earned)"
        );
    }

    /// A client is never forgotten while its bucket is not full again, however many others
    /// arrive: it cannot earn a fresh burst by making others arrive.
    #[test]
    fn a_limited_client_outlives_any_flood() {
        let limiter = RateLimiter::with_max_clients(1.0, 0.001, 100);
        let t = Instant::now();
        let me = ip("192.0.2.1");
        assert_eq!(limiter.check(me, t), Ok(()));
        assert!(limiter.check(me, t).is_err());
        for i in 0..10_000u32 {
            let _ = limiter.check(IpAddr::V6(Ipv6Addr::from((u128::from(i) + 1) << 64)), t);
        }
        assert!(
            limiter.check(me, t).is_err(),
            "10 000 others: still remembered"
        );
    }

    /// The review's attack: more /64s than the map holds, cycled so that each would be forgotten
    /// before it comes back. Each key gets its burst once, the newcomers share one more; every
    /// other request is refused (with a bounded map every key used to start afresh).
    #[test]
    fn cycling_more_keys_than_the_map_holds_is_limited() {
        let max = 1_000usize;
        let t = Instant::now();
        for keys in [max, max + 1, 2 * max, 100 * max] {
            let limiter = RateLimiter::with_max_clients(1.0, 0.001, max);
            let key = |i: usize| IpAddr::V6(Ipv6Addr::from(((i % keys) as u128 + 1) << 64));
            let total = 200_000usize;
            let passed = (0..total)
                .filter(|&i| {
                    let now = t + Duration::from_micros(i as u64);
                    limiter.check(key(i), now).is_ok()
                })
                .count();
            // 200 ms at 0.001/s earns no key a request back.
            assert!(passed <= max + 1, "{keys} keys: {passed} of {total} passed");
            assert_eq!(limiter.tracked_clients(), max);
        }
    }

    #[test]
    fn a_tiny_rate_gives_the_longest_wait_not_a_panic() {
        let limiter = RateLimiter::with_max_clients(1.0, 1e-300, 10);
        let t = Instant::now();
        let client = ip("10.0.0.1");
        assert_eq!(limiter.check(client, t), Ok(()));
        assert_eq!(limiter.check(client, t), Err(Duration::MAX));
        let slow = RateLimiter::with_max_clients(1.0, 0.001, 10);
        assert_eq!(slow.check(client, t), Ok(()));
        assert_eq!(slow.check(client, t), Err(Duration::from_secs(1_000)));
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn proxies(ranges: &[&str]) -> TrustedProxies {
        let ranges: Vec<IpNet> = ranges.iter().map(|r| r.parse().unwrap()).collect();
        TrustedProxies::new(&ranges)
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let none = TrustedProxies::default();
        let other = proxies(&["10.0.0.0/8"]);
        for trusted in [&none, &other] {
            for forwarded in [
                &[][..],
                &["203.0.113.9"],
                &["127.0.0.1", "1.1.1.1, 2.2.2.2"],
            ] {
                assert_eq!(
                    trusted.client(ip("192.0.2.50"), &headers(forwarded)),
                    ip("192.0.2.50"),
                    "{forwarded:?}"
                );
            }
        }
        assert_eq!(
            none.client(ip("::ffff:192.0.2.50"), &headers(&["1.1.1.1"])),
            ip("192.0.2.50")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_client_is_the_rightmost_untrusted_entry() {
        let trusted = proxies(&["10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.7/32"]);
        let peer = ip("10.1.1.1");
        let cases: &[(&[&str], &str)] = &[
            // The proxy appended the client.
            (&["203.0.113.9"], "203.0.113.9"),
            // Whatever the client wrote on the left is ignored.
            (&["1.1.1.1, 203.0.113.9"], "203.0.113.9"),
            (&["1.1.1.1", "203.0.113.9"], "203.0.113.9"),
            // Trusted hops on the right are skipped, across lines and commas.
            (&["203.0.113.9, 10.2.2.2"], "203.0.113.9"),
            (
                &["6.6.6.6, 203.0.113.9", "10.2.2.2 ,\t192.0.2.7"],
                "203.0.113.9",
            ),
            (&["203.0.113.9,10.2.2.2,2001:db8:ffff::5"], "203.0.113.9"),
            // Ports and IPv6 spellings.
            (&["203.0.113.9:51234"], "203.0.113.9"),
            (&["2001:db8:1::7"], "2001:db8:1::7"),
            (&["[2001:db8:1::7]"], "2001:db8:1::7"),
            (&["[2001:db8:1::7]:443"], "2001:db8:1::7"),
            (&[" ::ffff:203.0.113.9 "], "203.0.113.9"),
            // No header, or only trusted hops: the request began inside.
            (&[], "10.1.1.1"),
            (&["10.3.3.3, 10.2.2.2"], "10.3.3.3"),
            // Malformed where the client is looked for: the peer, never the text's choice.
            (&["203.0.113.9, garbage"], "10.1.1.1"),
            (&["1.1.1.1, unknown", "10.2.2.2"], "10.1.1.1"),
            (&["1.1.1.1,"], "10.1.1.1"),
            (&[""], "10.1.1.1"),
            (&["[2001:db8::1"], "10.1.1.1"),
            (&["2001:db8::1]:80"], "10.1.1.1"),
            (&["fe80::1%eth0"], "10.1.1.1"),
            (&["203.0.113.9:99999"], "10.1.1.1"),
            (&["\"203.0.113.9\""], "10.1.1.1"),
            (&["for=203.0.113.9"], "10.1.1.1"),
            // Malformed further left than the client changes nothing.
            (&["garbage, 203.0.113.9"], "203.0.113.9"),
        ];
        for (forwarded, client) in cases {
            assert_eq!(
                trusted.client(peer, &headers(forwarded)),
                ip(client),
                "{forwarded:?}"
            );
        }
    }

    #[test]
    fn forwarded_chains_are_read_with_bounded_work() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let long = vec!["10.9.9.9"; 10_000].join(",");
        assert_eq!(
            trusted.client(ip("10.1.1.1"), &headers(&[&format!("203.0.113.9,{long}")])),
            ip("10.1.1.1"),
            "more trusted hops than any real chain: the peer"
        );
        let mut bytes = b"1.1.1.1, ".to_vec();
        bytes.extend_from_slice(&[0xff, b'1']);
        let mut map = HeaderMap::new();
        map.append("x-forwarded-for", HeaderValue::from_bytes(&bytes).unwrap());
        assert_eq!(trusted.client(ip("10.1.1.1"), &map), ip("10.1.1.1"));
    }
}
