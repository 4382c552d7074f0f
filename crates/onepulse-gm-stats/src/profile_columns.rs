//! [`ProfileColumns`]: a row's three Farcaster profile columns, which the public table leaves
//! empty.

use std::fmt;

/// A row's `fid`, `display_name` and `username` columns. The module keeps a wallet's profile
/// out of the public `gm_stats_by_address` table (in `wallet_profile`, readable only by the
/// wallet's linked identities) and leaves these three empty, so they are kept behind one
/// pointer, none at all when all three are empty: 4 bytes a row in the browser instead of 40.
///
/// Built only by [`ProfileColumns::new`] (or [`Default`], all empty) and never changed in
/// place, so two values are equal exactly when their columns are.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ProfileColumns(Option<Box<Filled>>);

/// The columns when at least one is filled.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Filled {
    fid: Option<i64>,
    display_name: Option<String>,
    username: Option<String>,
}

impl ProfileColumns {
    /// The size of the box filled columns are kept in.
    pub(crate) const BOXED: usize = size_of::<Filled>();

    /// The three columns (each `None` when empty).
    pub fn new(fid: Option<i64>, display_name: Option<String>, username: Option<String>) -> Self {
        let any = fid.is_some() || display_name.is_some() || username.is_some();
        Self(any.then(|| {
            Box::new(Filled {
                fid,
                display_name,
                username,
            })
        }))
    }

    /// Whether all three columns are empty, as the module leaves them.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The `fid` column.
    pub fn fid(&self) -> Option<i64> {
        self.0.as_ref().and_then(|p| p.fid)
    }

    /// The `display_name` column.
    pub fn display_name(&self) -> Option<&str> {
        self.0.as_ref().and_then(|p| p.display_name.as_deref())
    }

    /// The `username` column.
    pub fn username(&self) -> Option<&str> {
        self.0.as_ref().and_then(|p| p.username.as_deref())
    }
}

impl fmt::Debug for ProfileColumns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProfileColumns")
            .field("fid", &self.fid())
            .field("display_name", &self.display_name())
            .field("username", &self.username())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_empty_columns_take_no_box() {
        assert!(ProfileColumns::new(None, None, None).is_empty());
        assert_eq!(
            ProfileColumns::new(None, None, None),
            ProfileColumns::default()
        );
        let named = ProfileColumns::new(None, None, Some(String::new()));
        assert!(!named.is_empty());
        assert_eq!(named.username(), Some(""));
        assert_ne!(named, ProfileColumns::default());
        let fid = ProfileColumns::new(Some(0), None, None);
        assert_eq!((fid.fid(), fid.display_name()), (Some(0), None));
        assert_eq!(size_of::<ProfileColumns>(), size_of::<usize>());
    }
}
