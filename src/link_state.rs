//! Where a wallet's link to this browser's identity stands, and how that changes when the
//! connection says who this browser is (the same identity, or a new one after the database
//! was reset). Pure: the mini app (`mini_app`, browser only) keeps the state and the stored
//! links.

/// Where a wallet's link to this browser's identity stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Not linked (or not known to be).
    Unlinked,
    /// Waiting for the wallet's signature or the database.
    Linking,
    /// Linked: this browser's identity may set the wallet's Farcaster profile.
    Linked,
    /// The last attempt failed, and why.
    Failed(String),
    /// This browser had linked the wallet, but the database no longer knows its identity (it
    /// was reset: the stored token was refused and a new identity given): the link must be
    /// made again.
    LinkAgain,
}

/// What the link state becomes when the connection says who this browser is: `current` is
/// the state now, `linked_here` whether this identity holds a live link of the wallet, and
/// `linked_elsewhere` whether another identity of this browser (an earlier one) does. `None`:
/// unchanged. A link in progress or a failure shown stays as it is.
pub fn link_on_connect(
    current: &LinkState,
    linked_here: bool,
    linked_elsewhere: bool,
) -> Option<LinkState> {
    if matches!(current, LinkState::Linking | LinkState::Failed(_)) {
        return None;
    }
    let next = if linked_here {
        LinkState::Linked
    } else if linked_elsewhere {
        LinkState::LinkAgain
    } else if *current == LinkState::LinkAgain {
        return None;
    } else {
        LinkState::Unlinked
    };
    (next != *current).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::{LinkState, link_on_connect};

    #[test]
    fn a_new_identity_after_a_link_asks_for_the_link_again() {
        assert_eq!(
            link_on_connect(&LinkState::Linked, false, true),
            Some(LinkState::LinkAgain)
        );
        assert_eq!(
            link_on_connect(&LinkState::Unlinked, false, true),
            Some(LinkState::LinkAgain)
        );
        assert_eq!(link_on_connect(&LinkState::LinkAgain, false, true), None);
    }

    #[test]
    fn the_same_identity_keeps_or_finds_its_link() {
        assert_eq!(link_on_connect(&LinkState::Linked, true, false), None);
        assert_eq!(
            link_on_connect(&LinkState::Unlinked, true, false),
            Some(LinkState::Linked)
        );
        assert_eq!(
            link_on_connect(&LinkState::LinkAgain, true, true),
            Some(LinkState::Linked)
        );
    }

    #[test]
    fn a_link_no_identity_holds_is_not_shown_as_linked() {
        assert_eq!(
            link_on_connect(&LinkState::Linked, false, false),
            Some(LinkState::Unlinked)
        );
        assert_eq!(link_on_connect(&LinkState::Unlinked, false, false), None);
        assert_eq!(link_on_connect(&LinkState::LinkAgain, false, false), None);
    }

    #[test]
    fn a_link_in_progress_or_a_failure_shown_is_left_alone() {
        for linked_here in [false, true] {
            for linked_elsewhere in [false, true] {
                assert_eq!(
                    link_on_connect(&LinkState::Linking, linked_here, linked_elsewhere),
                    None
                );
                assert_eq!(
                    link_on_connect(
                        &LinkState::Failed("no".into()),
                        linked_here,
                        linked_elsewhere
                    ),
                    None
                );
            }
        }
    }
}
