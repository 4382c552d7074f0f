//! What the benchmarks say about a figure that misses its target, from the samples and times
//! the same run measured (printed under the report's table as the figure's "why").

/// The tail of latency samples (sorted, in ms) against an upper `target`: how many took
/// longer, the slowest three and the p50. Says no cause was measured: it only describes the
/// samples.
pub fn tail(sorted: &[f64], target: f64, samples: &str) -> String {
    let Some(p50) = sorted.get(sorted.len() / 2) else {
        return format!("no {samples} were measured.");
    };
    let over = sorted.iter().filter(|&&s| s > target).count();
    let slowest: Vec<String> = sorted
        .iter()
        .rev()
        .take(3)
        .map(|s| format!("{s:.1}"))
        .collect();
    format!(
        "no cause measured: {over} of {} {samples} took over {target} ms, the slowest {} ms; \
         the p50 is {p50:.2} ms.",
        sorted.len(),
        slowest.join(", ")
    )
}

/// One restart of the server as a reconnecting client saw it, in milliseconds from the server
/// answering its ping again.
#[derive(Debug, Clone, PartialEq)]
pub struct Restart {
    /// To the subscription applied again.
    pub applied: f64,
    /// To the `Connected` event of the socket that got through.
    pub connected: f64,
    /// The retry that got through, if the client was seen waiting for it once the server was
    /// back: which one (the backoff's count) and when it was due (negative: already under way).
    pub retry: Option<(u32, f64)>,
    /// Retries that failed after the server was back.
    pub failed_after: u32,
}

impl Restart {
    /// What the time went to, or why that cannot be said. `backoff` describes the schedule
    /// (e.g. "100 ms, doubling with jitter").
    pub fn breakdown(&self, backoff: &str) -> String {
        let (connected, applied) = (self.connected, self.applied);
        if !(0.0 <= connected && connected <= applied) {
            return format!(
                "no breakdown: the events are out of order (connected at {connected:.0} ms, \
                 applied at {applied:.0} ms)."
            );
        }
        let Some((retry, due)) = self.retry else {
            return format!(
                "the client was not seen waiting once the server was back; connected after \
                 {connected:.0} ms, the subscription applied {:.0} ms after that.",
                applied - connected
            );
        };
        if due > connected {
            return format!(
                "no breakdown: retry {retry} was due at {due:.0} ms, after the socket was \
                 connected at {connected:.0} ms."
            );
        }
        let (start, since) = if due >= 0.0 {
            (
                format!("{due:.0} ms until retry {retry} was due (backoff: {backoff})"),
                "it was due",
            )
        } else {
            (
                format!(
                    "retry {retry} was due {:.0} ms before the server was back",
                    -due
                ),
                "the server was back",
            )
        };
        let failed = match self.failed_after {
            0 => String::new(),
            1 => " (1 retry failed after the server was back)".to_owned(),
            n => format!(" ({n} retries failed after the server was back)"),
        };
        format!(
            "{start}{failed}; connected {:.0} ms after {since} (a websocket-token request, the \
             socket, the identity), the subscription applied {:.0} ms after that.",
            connected - due.max(0.0),
            applied - connected,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_counts_the_samples_over_the_target() {
        let samples = [0.5, 0.8, 1.0, 4.5, 9.25];
        assert_eq!(
            tail(&samples, 4.0, "calls"),
            "no cause measured: 2 of 5 calls took over 4 ms, the slowest 9.2, 4.5, 1.0 ms; \
             the p50 is 1.00 ms."
        );
        assert_eq!(tail(&[], 4.0, "calls"), "no calls were measured.");
    }

    fn restart(retry: Option<(u32, f64)>, failed_after: u32) -> Restart {
        Restart {
            applied: 997.0,
            connected: 995.0,
            retry,
            failed_after,
        }
    }

    #[test]
    fn a_restart_splits_into_waiting_connecting_and_applying() {
        assert_eq!(
            restart(Some((2, 98.0)), 0).breakdown("100 ms, doubling"),
            "98 ms until retry 2 was due (backoff: 100 ms, doubling); connected 897 ms after \
             it was due (a websocket-token request, the socket, the identity), the subscription \
             applied 2 ms after that."
        );
        let early = restart(Some((3, -40.0)), 1).breakdown("b");
        assert!(
            early.starts_with(
                "retry 3 was due 40 ms before the server was back (1 retry failed after the \
                 server was back); connected 995 ms after the server was back"
            ),
            "{early}"
        );
        assert!(
            restart(Some((3, 0.0)), 2)
                .breakdown("b")
                .contains("(2 retries failed")
        );
    }

    #[test]
    fn a_restart_whose_times_do_not_fit_gets_no_breakdown() {
        let unseen = restart(None, 0).breakdown("b");
        assert!(
            unseen.starts_with("the client was not seen waiting"),
            "{unseen}"
        );
        let late_retry = restart(Some((2, 996.0)), 0).breakdown("b");
        assert!(
            late_retry.starts_with("no breakdown: retry 2 was due"),
            "{late_retry}"
        );
        let mut before_ping = restart(Some((1, 0.0)), 0);
        before_ping.connected = -5.0;
        assert!(
            before_ping
                .breakdown("b")
                .starts_with("no breakdown: the events")
        );
        let mut after_apply = restart(None, 0);
        after_apply.connected = 998.0;
        assert!(
            after_apply
                .breakdown("b")
                .starts_with("no breakdown: the events")
        );
    }
}
