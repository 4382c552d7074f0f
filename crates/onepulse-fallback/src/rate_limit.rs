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
//! **Memory.** At most `max_clients` buckets are kept. A new client arriving when the map is
//! full first makes idle clients (their bucket full again, so forgetting them changes nothing)
//! be forgotten, then, if that is not enough, the least recently seen clients down to half the
//! map (they get a fresh burst if they come back). The sweep sorts the map, but it runs at most
//! once per `max_clients / 2` new clients, so its cost per request is a constant. A bucket
//! takes 48 bytes plus the hash table's overhead (about 65 bytes per client at worst) and a
//! sweep briefly 40 bytes per client more: the default 100 000 clients stay under 11 MB.

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

/// Per-client request budget over at most `max_clients` clients at once.
pub struct RateLimiter {
    burst: f64,
    per_second: f64,
    max_clients: usize,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// `burst` requests at once, then `per_second`, remembering at most [`DEFAULT_MAX_CLIENTS`]
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
            max_clients: max_clients.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from the budget of `client`'s bucket ([`bucket_key`]), or says how
    /// long until one is available.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = bucket_key(client);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= self.max_clients && !buckets.contains_key(&key) {
            self.make_room(&mut buckets, now);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            seen: now,
        });
        let refill = now.saturating_duration_since(bucket.seen).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.seen = bucket.seen.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }

    /// Clients remembered now.
    pub fn tracked_clients(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Forgets idle clients, then if needed the least recently seen ones, down to half of
    /// `max_clients`.
    fn make_room(&self, buckets: &mut HashMap<IpAddr, Bucket>, now: Instant) {
        let refill_time = Duration::from_secs_f64(self.burst / self.per_second);
        buckets.retain(|_, b| now.saturating_duration_since(b.seen) < refill_time);
        if buckets.len() < self.max_clients {
            return;
        }
        let keep = self.max_clients / 2;
        let mut by_age: Vec<(Instant, IpAddr)> =
            buckets.iter().map(|(k, b)| (b.seen, *k)).collect();
        by_age.sort_unstable();
        let forget = by_age.len() - keep;
        for (_, key) in by_age.iter().take(forget) {
            buckets.remove(key);
        }
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
        assert!(std::mem::size_of::<(IpAddr, Bucket)>() <= 48);
        assert!(std::mem::size_of::<(Instant, IpAddr)>() <= 40);
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
        assert!(limiter.tracked_clients() >= 32);
        let tiny = RateLimiter::with_max_clients(1.0, 0.001, 1);
        for i in 0..100u8 {
            let _ = tiny.check(IpAddr::from([10, 0, 0, i]), t);
            assert_eq!(tiny.tracked_clients(), 1);
        }
    }

    #[test]
    fn eviction_forgets_idle_clients_first_then_the_oldest() {
        let limiter = RateLimiter::with_max_clients(1.0, 1.0, 4);
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_secs(10) + Duration::from_millis(n);
        let [a, b, c, d, e, f] = [
            "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6",
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
        assert_eq!(
            limiter.tracked_clients(),
            4,
            "only the idle a was forgotten"
        );
        // Everyone active and the map full: the least recently seen go, down to half.
        assert!(limiter.check(e, ms(4)).is_err(), "e is seen last");
        assert_eq!(limiter.check(f, ms(5)), Ok(()));
        assert_eq!(limiter.tracked_clients(), 3, "two kept, f added");
        assert!(limiter.check(e, ms(5)).is_err(), "e was kept");
        assert!(
            limiter.check(d, ms(5)).is_err(),
            "d was kept, its bucket still empty"
        );
        assert_eq!(
            limiter.check(b, ms(5)),
            Ok(()),
            "b, seen least recently, was forgotten and starts afresh"
        );
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
