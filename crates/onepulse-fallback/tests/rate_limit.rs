//! The rate limit over real HTTP: behind a trusted proxy each forwarded client has its own
//! budget, and `X-Forwarded-For` from any other peer changes nothing. Needs no database: the
//! service starts without one (its answers are 503 "no data yet"), and the rate limit is
//! decided before that.

use local_spacetimedb::free_loopback_port;
use onepulse_fallback::{Config, spawn};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// Starts the service on 127.0.0.1 from a command line with a burst of 2, almost no refill,
/// no database (a free port nothing listens on) and `--trusted-proxy` for each of
/// `trusted_proxies`; returns its address.
async fn service(trusted_proxies: &[&str]) -> SocketAddr {
    let nowhere = format!("http://127.0.0.1:{}", free_loopback_port().unwrap());
    let mut args = vec![
        "onepulse-fallback",
        "--spacetimedb",
        &nowhere,
        "--database",
        "nowhere",
        "--burst",
        "2",
        "--per-second",
        "0.001",
    ];
    for proxy in trusted_proxies {
        args.extend(["--trusted-proxy", proxy]);
    }
    let config = Config::from_command_line(args).unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    spawn(&config, listener);
    address
}

/// `GET /api/gm/stats` from the local address `from` (any 127.x.y.z works on Linux loopback)
/// with these `X-Forwarded-For` header lines; returns the status code.
async fn status_from(service: SocketAddr, from: Ipv4Addr, forwarded: &[&str]) -> u16 {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(IpAddr::V4(from), 0))
        .unwrap_or_else(|e| panic!("binding {from}: {e}"));
    let mut stream = socket.connect(service).await.unwrap();
    let mut request = String::from(
        "GET /api/gm/stats?address=0x00000000000000000000000000000000000000aa HTTP/1.1\r\n\
         Host: onepulse.test\r\nConnection: close\r\n",
    );
    for line in forwarded {
        request.push_str(&format!("X-Forwarded-For: {line}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"))
}

/// Whether each of `n` requests got through the rate limit (anything but 429).
async fn passes(service: SocketAddr, from: Ipv4Addr, forwarded: &[&str], n: usize) -> Vec<bool> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(status_from(service, from, forwarded).await != 429);
    }
    out
}

const PROXY: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const OTHER_PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let service = service(&["127.0.0.1/32", "10.0.0.0/8"]).await;
    // Client A spends its burst of 2 (the answer itself is a 503: no database).
    assert_eq!(status_from(service, PROXY, &["203.0.113.1"]).await, 503);
    assert_eq!(
        passes(service, PROXY, &["203.0.113.1"], 2).await,
        [true, false]
    );
    // Client B, behind the same proxy, has a budget of its own.
    assert_eq!(
        passes(service, PROXY, &["203.0.113.2"], 3).await,
        [true, true, false]
    );
    // A writing other addresses to the left of what the proxy appended is still A; so is A
    // behind a second, trusted proxy hop, in a second header line, or with a port.
    for forwarded in [
        &["198.51.100.9, 203.0.113.1"][..],
        &["198.51.100.9", "203.0.113.1"],
        &["203.0.113.1, 10.9.9.9"],
        &["  203.0.113.1:40000 ,10.9.9.9"],
    ] {
        assert_eq!(
            passes(service, PROXY, forwarded, 1).await,
            [false],
            "{forwarded:?}"
        );
    }
    // IPv6 clients share a budget per /64, whatever the spelling.
    assert_eq!(
        passes(service, PROXY, &["2001:db8:1:2::1"], 2).await,
        [true, true]
    );
    for forwarded in [
        "[2001:db8:1:2::ffff]:443",
        "[2001:db8:1:2:abcd::]",
        "2001:db8:1:2::9",
    ] {
        assert_eq!(
            passes(service, PROXY, &[forwarded], 1).await,
            [false],
            "{forwarded}"
        );
    }
    assert_eq!(
        passes(service, PROXY, &["2001:db8:1:3::1"], 1).await,
        [true]
    );
    // A malformed entry where the client should be counts as the proxy itself, so changing the
    // garbage never buys a fresh budget.
    let malformed = ["203.0.113.50, nonsense", "203.0.113.51,", "unknown", "[::1"];
    let results: Vec<bool> = {
        let mut out = Vec::new();
        for forwarded in malformed {
            out.extend(passes(service, PROXY, &[forwarded], 1).await);
        }
        out
    };
    assert_eq!(
        results,
        [true, true, false, false],
        "one budget: the proxy's"
    );
    // The proxy's own requests (no header) are in that same bucket.
    assert_eq!(passes(service, PROXY, &[], 1).await, [false]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spoofed_header_from_an_untrusted_peer_changes_nothing() {
    // 127.0.0.1 is the trusted proxy; 127.0.0.2 connects directly and lies.
    let service = service(&["127.0.0.1"]).await;
    let mut results = Vec::new();
    for forwarded in [
        &["203.0.113.1"][..],
        &["203.0.113.2"],
        &["203.0.113.3", "203.0.113.4"],
        &["2001:db8::1"],
        &[],
    ] {
        results.extend(passes(service, OTHER_PEER, forwarded, 1).await);
    }
    assert_eq!(results, [true, true, false, false, false]);
    // The forwarded addresses it named were never charged.
    assert_eq!(
        passes(service, PROXY, &["203.0.113.1"], 2).await,
        [true, true]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_trusted_proxies_the_header_is_never_read() {
    let service = service(&[]).await;
    let mut results = Vec::new();
    for n in 1..=4 {
        let forwarded = format!("203.0.113.{n}");
        results.extend(passes(service, PROXY, &[&forwarded], 1).await);
    }
    assert_eq!(results, [true, true, false, false]);
    assert_eq!(
        passes(service, OTHER_PEER, &[], 1).await,
        [true],
        "another peer has its own budget"
    );
}
