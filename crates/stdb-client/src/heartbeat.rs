//! Noticing a dead link: a socket that has carried nothing for a while is asked a question the
//! server must answer, and counts as lost when no answer comes in time.
//!
//! A browser never tells a page that a socket stopped carrying bytes while its TCP connection
//! stays open (a dead mobile network, a NAT that forgot the connection), so the client must
//! notice by itself. The question is a one-off query ([`Heartbeat::query`]); any answer counts,
//! an error too (it proves the link carries bytes both ways). Probes never become events and
//! never touch the cache.

use std::time::Duration;

/// The default probe: a one-off query on SpacetimeDB's own table catalogue (present in every
/// database, and public: SpacetimeDB 1.2 answers it for any identity) that matches no row. If a
/// server refuses it, the refusal is an answer too.
pub const DEFAULT_PROBE_QUERY: &str = "SELECT * FROM st_table WHERE table_id = 4294967295";

/// When to probe a silent socket, and how long to wait for the answer.
///
/// With the defaults a dead link is noticed within 14 s (10 s of silence, then 4 s without an
/// answer; a second under the 15 s budget, for timers that fire late) and a silent link
/// carries at most one probe per 10 s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// Silence (nothing received) after which a probe is sent (default 10 s).
    pub idle: Duration,
    /// How long a probe may stay unanswered before the socket counts as lost (default 4 s).
    pub timeout: Duration,
    /// The same when the page just became visible (default 1.5 s): a socket that died while
    /// the tab was hidden is replaced at once, so the data is live again within 2 s. A probe
    /// already in flight then gets this long too (if that is sooner than its own due time).
    pub wake_timeout: Duration,
    /// The probe, a SQL query the server answers once (default [`DEFAULT_PROBE_QUERY`]).
    pub query: String,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(10),
            timeout: Duration::from_secs(4),
            wake_timeout: Duration::from_millis(1500),
            query: DEFAULT_PROBE_QUERY.to_owned(),
        }
    }
}

impl Heartbeat {
    /// The longest a dead link can go unnoticed: [`idle`](Self::idle) + [`timeout`](Self::timeout).
    pub fn worst_case(&self) -> Duration {
        self.idle.saturating_add(self.timeout)
    }
}

/// What the heartbeat wants at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Beat {
    /// Nothing to do.
    Quiet,
    /// Send a probe now.
    Probe,
    /// The probe in flight got no answer in time: the socket is lost.
    Dead,
}

/// The heartbeat's state on one open socket.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pulse {
    /// When the socket last carried something to us.
    last_heard: Duration,
    /// The probe in flight: its query id and the time its answer is due.
    probe: Option<(u32, Duration)>,
}

impl Pulse {
    /// A new socket, heard from at `now`, no probe in flight.
    pub fn reset(&mut self, now: Duration) {
        self.last_heard = now;
        self.probe = None;
    }

    /// Something arrived at `now`.
    pub fn heard(&mut self, now: Duration) {
        self.last_heard = self.last_heard.max(now);
    }

    /// What to do at `now`.
    pub fn check(&self, now: Duration, settings: &Heartbeat) -> Beat {
        match self.probe {
            Some((_, due)) if now >= due => Beat::Dead,
            Some(_) => Beat::Quiet,
            None if now >= self.last_heard.saturating_add(settings.idle) => Beat::Probe,
            None => Beat::Quiet,
        }
    }

    /// When [`check`](Self::check) has something to do next.
    pub fn next_deadline(&self, settings: &Heartbeat) -> Duration {
        match self.probe {
            Some((_, due)) => due,
            None => self.last_heard.saturating_add(settings.idle),
        }
    }

    /// Whether a probe is in flight.
    pub fn probing(&self) -> bool {
        self.probe.is_some()
    }

    /// A probe with query id `id` was sent at `now`; its answer is due after `timeout`.
    pub fn sent(&mut self, id: u32, now: Duration, timeout: Duration) {
        self.probe = Some((id, now.saturating_add(timeout)));
    }

    /// The probe in flight, if any, must be answered by `due` at the latest.
    pub fn hurry(&mut self, due: Duration) {
        if let Some((_, at)) = &mut self.probe {
            *at = (*at).min(due);
        }
    }

    /// Whether the answer to query `id` is the probe's (then the probe is done).
    pub fn answered(&mut self, id: u32) -> bool {
        let ours = self.probe.is_some_and(|(probe, _)| probe == id);
        if ours {
            self.probe = None;
        }
        ours
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_silent_socket_is_probed_after_idle_and_dead_after_timeout() {
        let settings = Heartbeat::default();
        let mut pulse = Pulse::default();
        pulse.reset(secs(100));
        assert_eq!(pulse.check(secs(109), &settings), Beat::Quiet);
        assert_eq!(pulse.next_deadline(&settings), secs(110));
        assert_eq!(pulse.check(secs(110), &settings), Beat::Probe);
        pulse.sent(7, secs(110), settings.timeout);
        assert!(pulse.probing());
        assert_eq!(pulse.check(secs(113), &settings), Beat::Quiet);
        assert_eq!(pulse.next_deadline(&settings), secs(114));
        assert_eq!(pulse.check(secs(114), &settings), Beat::Dead);
        assert!(settings.worst_case() <= secs(14));
    }

    #[test]
    fn only_the_probes_own_answer_ends_it() {
        let settings = Heartbeat::default();
        let mut pulse = Pulse::default();
        pulse.sent(7, secs(10), settings.timeout);
        assert!(!pulse.answered(8));
        assert!(pulse.probing());
        assert!(pulse.answered(7));
        assert!(!pulse.probing());
        assert!(!pulse.answered(7), "answered once");
    }

    #[test]
    fn traffic_postpones_the_probe_and_time_never_goes_back() {
        let settings = Heartbeat::default();
        let mut pulse = Pulse::default();
        pulse.reset(secs(0));
        pulse.heard(secs(8));
        pulse.heard(secs(3));
        assert_eq!(pulse.check(secs(17), &settings), Beat::Quiet);
        assert_eq!(pulse.check(secs(18), &settings), Beat::Probe);
    }

    #[test]
    fn huge_settings_do_not_overflow() {
        let settings = Heartbeat {
            idle: Duration::MAX,
            timeout: Duration::MAX,
            wake_timeout: Duration::MAX,
            query: String::new(),
        };
        let mut pulse = Pulse::default();
        pulse.reset(secs(5));
        assert_eq!(pulse.check(Duration::MAX - secs(1), &settings), Beat::Quiet);
        pulse.sent(1, secs(5), settings.timeout);
        assert_eq!(pulse.next_deadline(&settings), Duration::MAX);
        assert_eq!(settings.worst_case(), Duration::MAX);
    }
}
