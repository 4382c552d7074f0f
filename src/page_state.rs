//! What the page shows for the address it was given, as a plain value with pure transitions.
//!
//! [`PageState`] knows nothing of sockets, timers or signals: the store feeds it what happened
//! (an address typed, live rows, a failed subscription, a fallback answer or failure) and asks
//! it what to show and whether the fallback service is needed. Every transition names the
//! address it is about, so anything that arrives late for an older address changes nothing.
//!
//! The rules:
//! - A new address clears the old numbers at once; an invalid one shows why and loads nothing.
//! - Live data (the subscription's rows) replaces whatever is shown, and while it is live no
//!   fallback answer or failure touches it.
//! - Fallback answers are shown until live data arrives; a fallback failure is shown beside the
//!   data and never replaces it.
//! - Live data that stops (its subscription failed, or the connection was lost) stays on
//!   screen as the last known numbers ([`Source::Cached`], as of that moment), with the reason;
//!   the fallback service is wanted, and the next live data or fallback answer replaces them.
//! - The last live numbers kept from an earlier visit ([`PageState::cached_snapshot`]) are shown
//!   while nothing else is, marked with their age; they are never live and never ready.

use crate::model::{ChainStreaks, DataSource};
use onepulse_domain::Address;

/// Where the numbers on screen come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The live subscription.
    Live,
    /// The fallback HTTP service.
    Fallback,
    /// The last live numbers known, no longer kept up to date: from an earlier visit, or from
    /// before live data stopped.
    Cached {
        /// When they were last live, in Unix milliseconds.
        as_of_ms: i64,
    },
}

/// Problems with the current address's data, shown beside it rather than swallowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems {
    /// Why live data is unavailable (the subscription failed).
    pub live: Option<String>,
    /// The fallback service's last failure.
    pub fallback: Option<String>,
}

/// What the page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PageState {
    /// No address given yet.
    #[default]
    NoAddress,
    /// The last input was not an address.
    InvalidAddress {
        /// Why, for a person.
        error: String,
    },
    /// Waiting for this address's first data.
    Loading {
        /// The address.
        address: Address,
        /// What went wrong meanwhile.
        problems: Problems,
    },
    /// This address's data is on screen.
    Shown {
        /// The address.
        address: Address,
        /// Stats per chain (chains without a GM are absent).
        streaks: ChainStreaks,
        /// Where they come from.
        source: Source,
        /// What went wrong meanwhile (never a live problem while the source is live).
        problems: Problems,
    },
}

/// What [`PageState::set_address`] asks of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressChange {
    /// The same address is already shown: nothing to do.
    Unchanged,
    /// The input was refused: end the old address's subscription and load nothing.
    Refused,
    /// End the old address's subscription and load this one.
    Load(Address),
}

/// No streaks (what every state but [`PageState::Shown`] shows).
static NO_STREAKS: ChainStreaks = ChainStreaks::new();

impl PageState {
    /// The address whose data is shown or loading.
    pub fn address(&self) -> Option<&Address> {
        match self {
            Self::Loading { address, .. } | Self::Shown { address, .. } => Some(address),
            Self::NoAddress | Self::InvalidAddress { .. } => None,
        }
    }

    /// Why the last input was refused.
    pub fn address_error(&self) -> Option<&str> {
        match self {
            Self::InvalidAddress { error } => Some(error),
            _ => None,
        }
    }

    /// The stats on screen (empty unless shown).
    pub fn streaks(&self) -> &ChainStreaks {
        match self {
            Self::Shown { streaks, .. } => streaks,
            _ => &NO_STREAKS,
        }
    }

    /// Where the numbers on screen come from.
    pub fn source(&self) -> DataSource {
        match self {
            Self::Shown {
                source: Source::Live,
                ..
            } => DataSource::Live,
            Self::Shown {
                source: Source::Fallback,
                ..
            } => DataSource::Fallback,
            Self::Shown {
                source: Source::Cached { .. },
                ..
            } => DataSource::Cached,
            _ => DataSource::None,
        }
    }

    /// Whether this address's current data (live or from the fallback service) is on screen;
    /// cached numbers are not.
    pub fn is_ready(&self) -> bool {
        matches!(
            self,
            Self::Shown {
                source: Source::Live | Source::Fallback,
                ..
            }
        )
    }

    /// Whether numbers are on screen (current or cached).
    pub fn shows_numbers(&self) -> bool {
        matches!(self, Self::Shown { .. })
    }

    /// When the cached numbers on screen were last live (Unix milliseconds), if they are.
    pub fn cached_as_of(&self) -> Option<i64> {
        match self {
            Self::Shown {
                source: Source::Cached { as_of_ms },
                ..
            } => Some(*as_of_ms),
            _ => None,
        }
    }

    /// The problems of the current address (none without one).
    pub fn problems(&self) -> Option<&Problems> {
        match self {
            Self::Loading { problems, .. } | Self::Shown { problems, .. } => Some(problems),
            Self::NoAddress | Self::InvalidAddress { .. } => None,
        }
    }

    /// Why live data is unavailable, if it is.
    pub fn live_error(&self) -> Option<&str> {
        self.problems()?.live.as_deref()
    }

    /// The fallback service's last failure, if it is in use.
    pub fn fallback_error(&self) -> Option<&str> {
        self.problems()?.fallback.as_deref()
    }

    /// Whether live data is on screen.
    pub fn is_live(&self) -> bool {
        self.source() == DataSource::Live
    }

    /// Whether the fallback service should be asked: there is an address and its live data is
    /// not on screen.
    pub fn wants_fallback(&self) -> bool {
        self.address().is_some() && !self.is_live()
    }

    /// The user (or the URL, or the host wallet) gave `input`: a valid new address starts
    /// loading with nothing on screen, the same address changes nothing, anything else is
    /// refused with the reason.
    pub fn set_address(&mut self, input: &str) -> AddressChange {
        match Address::parse(input) {
            Ok(address) if self.address() == Some(&address) => AddressChange::Unchanged,
            Ok(address) => {
                *self = Self::Loading {
                    address: address.clone(),
                    problems: Problems::default(),
                };
                AddressChange::Load(address)
            }
            Err(error) => {
                *self = Self::InvalidAddress {
                    error: error.to_string(),
                };
                AddressChange::Refused
            }
        }
    }

    /// `address`'s subscription delivered its rows: live data replaces whatever was shown and
    /// clears the problems. Returns whether the state changed.
    pub fn subscription_applied(&mut self, address: &Address, streaks: ChainStreaks) -> bool {
        if self.address() != Some(address) {
            return false;
        }
        let shown = Self::Shown {
            address: address.clone(),
            streaks,
            source: Source::Live,
            problems: Problems::default(),
        };
        replace(self, shown)
    }

    /// `address`'s rows changed while its live data is on screen. Ignored otherwise (before
    /// the subscription is applied, or after it failed). Returns whether the state changed.
    pub fn live_rows_changed(&mut self, address: &Address, new: ChainStreaks) -> bool {
        match self {
            Self::Shown {
                address: shown,
                streaks,
                source: Source::Live,
                ..
            } if shown == address && *streaks != new => {
                *streaks = new;
                true
            }
            _ => false,
        }
    }

    /// The last live numbers of `address`, kept from an earlier visit (live at `as_of_ms`):
    /// shown while nothing else is (the address is loading), never replacing current data.
    /// Returns whether the state changed.
    pub fn cached_snapshot(
        &mut self,
        address: &Address,
        streaks: ChainStreaks,
        as_of_ms: i64,
    ) -> bool {
        let Self::Loading {
            address: shown,
            problems,
        } = self
        else {
            return false;
        };
        if shown != address {
            return false;
        }
        *self = Self::Shown {
            address: address.clone(),
            streaks,
            source: Source::Cached { as_of_ms },
            problems: std::mem::take(problems),
        };
        true
    }

    /// Live data of `address` stopped at `now_ms` because of `error` (its subscription failed,
    /// or the connection was lost). Live numbers stay on screen as cached numbers as of `now_ms`
    /// (nothing keeps them up to date any more); other numbers stay as they are. Returns
    /// whether the state changed.
    pub fn subscription_failed(&mut self, address: &Address, error: &str, now_ms: i64) -> bool {
        match self {
            Self::Shown {
                address: shown,
                source: source @ Source::Live,
                problems,
                ..
            } if shown == address => {
                *source = Source::Cached { as_of_ms: now_ms };
                *problems = Problems {
                    live: Some(error.to_owned()),
                    fallback: None,
                };
                true
            }
            Self::Loading {
                address: shown,
                problems,
            }
            | Self::Shown {
                address: shown,
                problems,
                ..
            } if shown == address => set_problem(&mut problems.live, error),
            _ => false,
        }
    }

    /// The fallback service answered `streaks` for `address`: shown unless live data is (live
    /// data replaces fallback data for good; fallback data replaces cached numbers). Returns
    /// whether the state changed.
    pub fn fallback_answer(&mut self, address: &Address, streaks: ChainStreaks) -> bool {
        let live = match self {
            Self::Loading {
                address: shown,
                problems,
            }
            | Self::Shown {
                address: shown,
                source: Source::Fallback | Source::Cached { .. },
                problems,
                ..
            } if shown == address => problems.live.clone(),
            _ => return false,
        };
        let shown = Self::Shown {
            address: address.clone(),
            streaks,
            source: Source::Fallback,
            problems: Problems {
                live,
                fallback: None,
            },
        };
        replace(self, shown)
    }

    /// Asking the fallback service for `address` failed with `error`: shown beside the data,
    /// never replacing it; ignored while live data is shown. Returns whether the state changed.
    pub fn fallback_failed(&mut self, address: &Address, error: &str) -> bool {
        match self {
            Self::Loading {
                address: shown,
                problems,
            }
            | Self::Shown {
                address: shown,
                source: Source::Fallback | Source::Cached { .. },
                problems,
                ..
            } if shown == address => set_problem(&mut problems.fallback, error),
            _ => false,
        }
    }
}

/// Replaces `state` with `new`; whether that changed it.
fn replace(state: &mut PageState, new: PageState) -> bool {
    if *state == new {
        return false;
    }
    *state = new;
    true
}

/// Records `error` in `slot`; whether that changed it.
fn set_problem(slot: &mut Option<String>, error: &str) -> bool {
    if slot.as_deref() == Some(error) {
        return false;
    }
    *slot = Some(error.to_owned());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use onepulse_domain::{Chain, GmDay, Streak};

    const A: &str = "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    /// A moment, in Unix milliseconds.
    const NOW: i64 = 1_796_213_000_000;

    fn address(text: &str) -> Address {
        Address::parse(text).expect("a test address")
    }

    fn streaks(chain: Chain, current: i32) -> ChainStreaks {
        let streak = Streak {
            current,
            highest: current,
            all_time: current,
            last_day: GmDay::from_number(20_000),
        };
        ChainStreaks::from([(chain, streak)])
    }

    /// A state loading `text`.
    fn loading(text: &str) -> PageState {
        let mut state = PageState::default();
        assert_eq!(state.set_address(text), AddressChange::Load(address(text)));
        state
    }

    /// A state showing `text`'s live data.
    fn live(text: &str, data: ChainStreaks) -> PageState {
        let mut state = loading(text);
        assert!(state.subscription_applied(&address(text), data));
        state
    }

    /// A state showing `text`'s fallback data.
    fn fallback(text: &str, data: ChainStreaks) -> PageState {
        let mut state = loading(text);
        assert!(state.fallback_answer(&address(text), data));
        state
    }

    #[test]
    fn nothing_is_shown_before_an_address() {
        let state = PageState::default();
        assert_eq!(state.address(), None);
        assert_eq!(state.address_error(), None);
        assert!(!state.is_ready());
        assert_eq!(state.source(), DataSource::None);
        assert!(state.streaks().is_empty());
        assert!(
            !state.wants_fallback(),
            "nothing to ask the fallback service"
        );
    }

    #[test]
    fn a_valid_address_loads_with_nothing_on_screen() {
        let state = loading(&A.to_ascii_uppercase().replacen("0X", "0x", 1));
        assert_eq!(state.address(), Some(&address(A)));
        assert!(!state.is_ready());
        assert_eq!(state.source(), DataSource::None);
        assert!(state.streaks().is_empty());
        assert!(state.wants_fallback());
        assert_eq!(state.problems(), Some(&Problems::default()));
    }

    #[test]
    fn the_same_address_again_changes_nothing() {
        let mut state = live(A, streaks(Chain::Base, 3));
        let before = state.clone();
        assert_eq!(
            state.set_address(&A.to_ascii_uppercase().replacen("0X", "0x", 1)),
            AddressChange::Unchanged
        );
        assert_eq!(state, before);
    }

    #[test]
    fn a_new_address_clears_the_old_numbers_at_once() {
        let mut state = live(A, streaks(Chain::Base, 3));
        assert_eq!(state.set_address(B), AddressChange::Load(address(B)));
        assert_eq!(state.address(), Some(&address(B)));
        assert!(state.streaks().is_empty());
        assert!(!state.is_ready());
        assert_eq!(state.source(), DataSource::None);
    }

    #[test]
    fn an_invalid_address_is_refused_with_its_reason_and_clears_everything() {
        let mut state = fallback(A, streaks(Chain::Celo, 1));
        assert_eq!(state.set_address("0x12345"), AddressChange::Refused);
        assert_eq!(state.address(), None);
        let error = state.address_error().expect("a reason");
        assert!(error.contains("40 hex digits"), "{error}");
        assert!(state.streaks().is_empty());
        assert!(!state.is_ready());
        assert!(!state.wants_fallback());
        assert_eq!(state.problems(), None);
        // A valid address afterwards loads and forgets the error.
        assert_eq!(state.set_address(A), AddressChange::Load(address(A)));
        assert_eq!(state.address_error(), None);
    }

    #[test]
    fn subscription_applied_shows_live_data_and_clears_the_problems() {
        let mut state = loading(A);
        assert!(state.subscription_failed(&address(A), "boom", NOW));
        assert!(state.fallback_failed(&address(A), "down"));
        assert!(state.subscription_applied(&address(A), streaks(Chain::Base, 2)));
        assert!(state.is_ready());
        assert!(state.is_live());
        assert_eq!(state.source(), DataSource::Live);
        assert_eq!(state.streaks(), &streaks(Chain::Base, 2));
        assert_eq!(state.problems(), Some(&Problems::default()));
        assert!(!state.wants_fallback(), "no fallback while live");
    }

    #[test]
    fn live_rows_change_the_numbers_only_while_live() {
        let mut state = loading(A);
        assert!(
            !state.live_rows_changed(&address(A), streaks(Chain::Base, 1)),
            "rows before the subscription is applied are not live data"
        );
        assert!(!state.is_ready());

        let mut state = live(A, streaks(Chain::Base, 1));
        assert!(state.live_rows_changed(&address(A), streaks(Chain::Base, 2)));
        assert_eq!(state.streaks(), &streaks(Chain::Base, 2));
        assert!(
            !state.live_rows_changed(&address(A), streaks(Chain::Base, 2)),
            "the same rows again change nothing"
        );

        let mut state = fallback(A, streaks(Chain::Base, 1));
        assert!(!state.live_rows_changed(&address(A), streaks(Chain::Base, 5)));
        assert_eq!(state.source(), DataSource::Fallback);
        assert_eq!(state.streaks(), &streaks(Chain::Base, 1));
    }

    #[test]
    fn a_subscription_failing_before_live_data_is_shown_and_wants_the_fallback() {
        let mut state = loading(A);
        assert!(state.subscription_failed(&address(A), "no such table", NOW));
        assert_eq!(state.live_error(), Some("no such table"));
        assert!(!state.is_ready());
        assert!(state.wants_fallback());
        assert!(
            !state.subscription_failed(&address(A), "no such table", NOW),
            "the same error again changes nothing"
        );
    }

    #[test]
    fn live_data_that_stops_stays_on_screen_as_cached_numbers_and_the_fallback_takes_over() {
        let mut state = live(A, streaks(Chain::Base, 4));
        assert!(state.subscription_failed(&address(A), "dropped", NOW));
        assert!(!state.is_live());
        assert!(
            !state.is_ready(),
            "numbers no longer kept up to date are not ready"
        );
        assert!(state.shows_numbers(), "the last numbers stay");
        assert_eq!(state.streaks(), &streaks(Chain::Base, 4));
        assert_eq!(state.source(), DataSource::Cached);
        assert_eq!(
            state.cached_as_of(),
            Some(NOW),
            "as of the moment live data stopped"
        );
        assert_eq!(state.live_error(), Some("dropped"));
        assert!(
            state.wants_fallback(),
            "the fallback polls while live data is not shown"
        );
        assert!(
            !state.live_rows_changed(&address(A), streaks(Chain::Base, 9)),
            "rows of the failed subscription are not live data"
        );
        assert!(
            !state.subscription_failed(&address(A), "dropped", NOW + 5),
            "the same error again changes nothing, not even the age"
        );
        assert_eq!(state.cached_as_of(), Some(NOW));

        // A fallback failure is shown beside the cached numbers, which stay.
        assert!(state.fallback_failed(&address(A), "unreachable"));
        assert_eq!(state.streaks(), &streaks(Chain::Base, 4));
        assert_eq!(state.fallback_error(), Some("unreachable"));
        assert_eq!(state.source(), DataSource::Cached);

        // The fallback takes over, the live problem stays visible.
        assert!(state.fallback_answer(&address(A), streaks(Chain::Base, 5)));
        assert!(state.is_ready());
        assert_eq!(state.source(), DataSource::Fallback);
        assert_eq!(state.cached_as_of(), None);
        assert_eq!(state.live_error(), Some("dropped"));
        assert!(state.wants_fallback());

        // Resubscribing works: live again, problems gone.
        assert!(state.subscription_applied(&address(A), streaks(Chain::Base, 6)));
        assert_eq!(state.source(), DataSource::Live);
        assert_eq!(state.streaks(), &streaks(Chain::Base, 6));
        assert_eq!(state.live_error(), None);
        assert!(!state.wants_fallback());
    }

    #[test]
    fn a_snapshot_from_an_earlier_visit_shows_at_once_but_is_never_live_or_ready() {
        let mut state = loading(A);
        assert!(state.cached_snapshot(&address(A), streaks(Chain::Celo, 3), NOW));
        assert!(state.shows_numbers());
        assert_eq!(state.streaks(), &streaks(Chain::Celo, 3));
        assert_eq!(state.source(), DataSource::Cached);
        assert_eq!(state.cached_as_of(), Some(NOW));
        assert!(!state.is_ready());
        assert!(!state.is_live());
        assert!(
            state.wants_fallback(),
            "cached numbers do not stop the fallback"
        );
        assert!(
            !state.live_rows_changed(&address(A), streaks(Chain::Celo, 9)),
            "rows before the subscription is applied are not live data"
        );

        // Live data replaces it.
        assert!(state.subscription_applied(&address(A), streaks(Chain::Celo, 4)));
        assert_eq!(state.source(), DataSource::Live);
        assert_eq!(state.cached_as_of(), None);
        assert!(state.is_ready());

        // So does fallback data.
        let mut state = loading(A);
        assert!(state.cached_snapshot(&address(A), streaks(Chain::Celo, 3), NOW));
        assert!(state.fallback_answer(&address(A), streaks(Chain::Celo, 4)));
        assert_eq!(state.source(), DataSource::Fallback);
        assert_eq!(state.streaks(), &streaks(Chain::Celo, 4));
    }

    #[test]
    fn a_snapshot_never_replaces_current_data_nor_shows_under_another_address() {
        for mut state in [
            live(A, streaks(Chain::Base, 1)),
            fallback(A, streaks(Chain::Base, 1)),
        ] {
            let before = state.clone();
            assert!(!state.cached_snapshot(&address(A), streaks(Chain::Base, 9), NOW));
            assert_eq!(state, before);
        }
        let mut state = loading(B);
        assert!(!state.cached_snapshot(&address(A), streaks(Chain::Base, 9), NOW));
        assert!(!state.shows_numbers());
        for mut state in [
            PageState::default(),
            PageState::InvalidAddress {
                error: "bad".into(),
            },
        ] {
            assert!(!state.cached_snapshot(&address(A), streaks(Chain::Base, 9), NOW));
            assert!(!state.shows_numbers());
        }
        // A new address clears cached numbers like any other.
        let mut state = loading(A);
        assert!(state.cached_snapshot(&address(A), streaks(Chain::Base, 9), NOW));
        assert_eq!(state.set_address(B), AddressChange::Load(address(B)));
        assert!(!state.shows_numbers());
        assert_eq!(state.cached_as_of(), None);
    }

    #[test]
    fn problems_met_before_the_snapshot_stay_beside_it() {
        let mut state = loading(A);
        assert!(state.subscription_failed(&address(A), "refused", NOW));
        assert!(state.fallback_failed(&address(A), "unreachable"));
        assert!(state.cached_snapshot(&address(A), streaks(Chain::Base, 2), NOW));
        assert_eq!(state.live_error(), Some("refused"));
        assert_eq!(state.fallback_error(), Some("unreachable"));
    }

    #[test]
    fn a_subscription_failing_while_fallback_data_is_shown_keeps_the_data() {
        let mut state = fallback(A, streaks(Chain::Celo, 2));
        assert!(state.subscription_failed(&address(A), "refused", NOW));
        assert!(state.is_ready());
        assert_eq!(state.source(), DataSource::Fallback);
        assert_eq!(state.streaks(), &streaks(Chain::Celo, 2));
        assert_eq!(state.live_error(), Some("refused"));
    }

    #[test]
    fn live_data_replaces_fallback_data_for_good() {
        let mut state = fallback(A, streaks(Chain::Base, 1));
        assert!(state.subscription_applied(&address(A), streaks(Chain::Base, 2)));
        assert_eq!(state.source(), DataSource::Live);
        // A fallback answer or failure arriving after that changes nothing.
        assert!(!state.fallback_answer(&address(A), streaks(Chain::Base, 1)));
        assert!(!state.fallback_failed(&address(A), "timeout"));
        assert_eq!(state.source(), DataSource::Live);
        assert_eq!(state.streaks(), &streaks(Chain::Base, 2));
        assert_eq!(state.fallback_error(), None);
    }

    #[test]
    fn fallback_answers_refresh_fallback_data_and_clear_its_error() {
        let mut state = fallback(A, streaks(Chain::Base, 1));
        assert!(state.fallback_failed(&address(A), "HTTP 503"));
        assert!(state.fallback_answer(&address(A), streaks(Chain::Base, 2)));
        assert_eq!(state.streaks(), &streaks(Chain::Base, 2));
        assert_eq!(state.fallback_error(), None);
        assert!(
            !state.fallback_answer(&address(A), streaks(Chain::Base, 2)),
            "the same answer again changes nothing"
        );
    }

    #[test]
    fn a_fallback_failure_never_replaces_data() {
        let mut state = fallback(A, streaks(Chain::Optimism, 3));
        assert!(state.fallback_failed(&address(A), "unreachable"));
        assert!(state.is_ready());
        assert_eq!(state.source(), DataSource::Fallback);
        assert_eq!(state.streaks(), &streaks(Chain::Optimism, 3));
        assert_eq!(state.fallback_error(), Some("unreachable"));

        // While loading it is shown, and the page keeps loading.
        let mut state = loading(A);
        assert!(state.fallback_failed(&address(A), "unreachable"));
        assert!(!state.is_ready());
        assert_eq!(state.fallback_error(), Some("unreachable"));
        assert!(state.wants_fallback());
    }

    #[test]
    fn late_answers_for_an_old_address_change_nothing() {
        let mut state = loading(A);
        assert_eq!(state.set_address(B), AddressChange::Load(address(B)));
        let before = state.clone();
        assert!(!state.fallback_answer(&address(A), streaks(Chain::Base, 7)));
        assert!(!state.fallback_failed(&address(A), "late"));
        assert!(!state.subscription_applied(&address(A), streaks(Chain::Base, 7)));
        assert!(!state.subscription_failed(&address(A), "late", NOW));
        assert_eq!(state, before);

        // Also once B shows live data.
        assert!(state.subscription_applied(&address(B), streaks(Chain::Celo, 1)));
        let before = state.clone();
        assert!(!state.live_rows_changed(&address(A), streaks(Chain::Base, 7)));
        assert!(!state.subscription_failed(&address(A), "late", NOW));
        assert_eq!(state, before);
    }

    #[test]
    fn nothing_but_an_address_changes_a_state_without_one() {
        for mut state in [
            PageState::default(),
            PageState::InvalidAddress {
                error: "bad".into(),
            },
        ] {
            let before = state.clone();
            assert!(!state.subscription_applied(&address(A), streaks(Chain::Base, 1)));
            assert!(!state.live_rows_changed(&address(A), streaks(Chain::Base, 1)));
            assert!(!state.subscription_failed(&address(A), "x", NOW));
            assert!(!state.fallback_answer(&address(A), streaks(Chain::Base, 1)));
            assert!(!state.fallback_failed(&address(A), "x"));
            assert_eq!(state, before);
        }
    }
}
