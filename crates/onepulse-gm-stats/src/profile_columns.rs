//! [`ProfileColumns`]: a row's three Farcaster profile columns, which the public table leaves
//! empty.

/// A row's `fid`, `display_name` and `username` columns. The module keeps a wallet's profile
/// out of the public `gm_stats_by_address` table (in `wallet_profile`, readable only by the
/// wallet's linked identities) and leaves these three empty, so a row keeps them behind one
/// pointer ([`GmStatsRow::profile`](crate::GmStatsRow::profile)), `None` when all three are
/// empty: 4 bytes a row in the browser instead of 40.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileColumns {
    /// Farcaster id.
    pub fid: Option<i64>,
    /// Display name.
    pub display_name: Option<String>,
    /// Username, without `@`.
    pub username: Option<String>,
}

impl ProfileColumns {
    /// The columns as a row keeps them: `None` when all three are empty, so two rows with the
    /// same columns are equal however they were built.
    pub fn boxed(self) -> Option<Box<Self>> {
        (self != Self::default()).then(|| Box::new(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_empty_columns_are_left_out() {
        assert_eq!(ProfileColumns::default().boxed(), None);
        let named = ProfileColumns {
            username: Some(String::new()),
            ..ProfileColumns::default()
        };
        assert_eq!(named.clone().boxed(), Some(Box::new(named)));
        let fid = ProfileColumns {
            fid: Some(0),
            ..ProfileColumns::default()
        };
        assert!(fid.boxed().is_some());
    }
}
