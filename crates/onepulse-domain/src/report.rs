//! Validation of a `report_gm` call: every argument is untrusted.

use crate::{Address, AddressError, Chain, ChainError, DayError, GmDay};

/// The longest display name or username accepted, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Why a GM report was refused. The message names the argument that was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The address argument.
    #[error("invalid address: {0}")]
    Address(#[from] AddressError),
    /// The chain id argument.
    #[error("invalid chain: {0}")]
    Chain(#[from] ChainError),
    /// The day argument.
    #[error("invalid last_gm_day: {0}")]
    Day(#[from] DayError),
    /// The transaction hash argument.
    #[error("invalid tx_hash: must be 0x followed by 64 hex digits")]
    TxHash,
    /// The Farcaster id argument.
    #[error("invalid fid {0}: must be positive")]
    Fid(i64),
    /// A display name or username that is too long.
    #[error("{field} is {chars} characters long; at most {MAX_NAME_CHARS} are allowed")]
    NameTooLong {
        /// `display_name` or `username`.
        field: &'static str,
        /// Its length in characters.
        chars: usize,
    },
}

/// A transaction hash: `0x` + 64 hex digits, stored lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TxHash(String);

impl TxHash {
    /// Parses `0x` + 64 hex digits in any case.
    pub fn parse(input: &str) -> Result<Self, ReportError> {
        let digits = input.strip_prefix("0x").ok_or(ReportError::TxHash)?;
        if digits.len() != 64 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ReportError::TxHash);
        }
        Ok(Self(format!("0x{}", digits.to_ascii_lowercase())))
    }

    /// The lowercase `0x…` form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lowercase `0x…` form, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// `report_gm`'s arguments in the reducer's order: address, chain id, day, tx hash, fid,
/// display name, username. Plain types, ready for BSATN; see [`GmReport::args`].
pub type GmReportArgs = (
    String,
    i32,
    i32,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

/// A validated GM report: what `report_gm` may act on, and what clients send it.
///
/// The module builds one from the reducer's arguments with [`validate`](Self::validate); a client
/// builds one from validated values with [`new`](Self::new) and sends [`args`](Self::args).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GmReport {
    /// The wallet.
    pub address: Address,
    /// The chain the GM was said on.
    pub chain: Chain,
    /// The GM's day, as read on chain.
    pub day: GmDay,
    /// The GM transaction, when known.
    pub tx_hash: Option<TxHash>,
    /// The Farcaster id, when known.
    pub fid: Option<i64>,
    /// The Farcaster display name, when known.
    pub display_name: Option<String>,
    /// The Farcaster username, when known.
    pub username: Option<String>,
}

impl GmReport {
    /// A report of a GM by `address` on `chain` on `day`, without the optional fields.
    pub fn new(address: Address, chain: Chain, day: GmDay) -> Self {
        Self {
            address,
            chain,
            day,
            tx_hash: None,
            fid: None,
            display_name: None,
            username: None,
        }
    }

    /// The `report_gm` arguments that carry this report, in the reducer's order.
    pub fn args(&self) -> GmReportArgs {
        (
            self.address.as_str().to_owned(),
            self.chain.id(),
            self.day.number(),
            self.tx_hash.as_ref().map(|h| h.as_str().to_owned()),
            self.fid,
            self.display_name.clone(),
            self.username.clone(),
        )
    }

    /// Checks every argument of a report made on `today` (by the checker's clock).
    ///
    /// Arguments are checked in order and the first problem is returned.
    #[allow(clippy::too_many_arguments)]
    pub fn validate(
        address: &str,
        chain_id: i64,
        day: i64,
        tx_hash: Option<&str>,
        fid: Option<i64>,
        display_name: Option<&str>,
        username: Option<&str>,
        today: GmDay,
    ) -> Result<Self, ReportError> {
        Ok(Self {
            address: Address::parse(address)?,
            chain: Chain::from_id(chain_id)?,
            day: GmDay::checked(day, today)?,
            tx_hash: tx_hash.map(TxHash::parse).transpose()?,
            fid: match fid {
                Some(fid) if fid <= 0 => return Err(ReportError::Fid(fid)),
                other => other,
            },
            display_name: checked_name("display_name", display_name)?,
            username: checked_name("username", username)?,
        })
    }
}

fn checked_name(field: &'static str, value: Option<&str>) -> Result<Option<String>, ReportError> {
    match value {
        None => Ok(None),
        Some(name) => {
            let chars = name.chars().count();
            if chars > MAX_NAME_CHARS {
                Err(ReportError::NameTooLong { field, chars })
            } else {
                Ok(Some(name.to_owned()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDRESS: &str = "0xAbCdEf0123456789ABCDEF0123456789abcdef01";
    const HASH: &str = "0xABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789";
    const TODAY: GmDay = GmDay::from_number(20_000);

    fn report(chain: i64, day: i64) -> Result<GmReport, ReportError> {
        GmReport::validate(
            ADDRESS,
            chain,
            day,
            Some(HASH),
            Some(7),
            Some("Ann"),
            Some("ann"),
            TODAY,
        )
    }

    #[test]
    fn a_good_report_is_normalised() {
        let r = report(8453, 20_000).unwrap();
        assert_eq!(r.address.as_str(), ADDRESS.to_ascii_lowercase());
        assert_eq!(r.chain, Chain::Base);
        assert_eq!(r.tx_hash.unwrap().as_str(), HASH.to_ascii_lowercase());
        assert_eq!(r.display_name.as_deref(), Some("Ann"));
    }

    #[test]
    fn args_validate_back_to_the_same_report() {
        let full = report(42220, 19_999).unwrap();
        let bare = GmReport::new(full.address.clone(), Chain::Optimism, TODAY);
        assert_eq!(bare.tx_hash, None);
        assert_eq!(bare.username, None);
        for original in [full, bare] {
            let (address, chain, day, tx_hash, fid, display_name, username) = original.args();
            let back = GmReport::validate(
                &address,
                chain.into(),
                day.into(),
                tx_hash.as_deref(),
                fid,
                display_name.as_deref(),
                username.as_deref(),
                TODAY,
            );
            assert_eq!(back, Ok(original));
        }
    }

    #[test]
    fn args_are_in_the_reducers_order() {
        let args = report(8453, 20_000).unwrap().args();
        assert_eq!(
            args,
            (
                ADDRESS.to_ascii_lowercase(),
                8453,
                20_000,
                Some(HASH.to_ascii_lowercase()),
                Some(7),
                Some("Ann".to_owned()),
                Some("ann".to_owned()),
            )
        );
    }

    #[test]
    fn each_bad_argument_is_named() {
        let msg = |r: Result<GmReport, ReportError>| r.unwrap_err().to_string();
        assert!(msg(report(1, 20_000)).starts_with("invalid chain"));
        assert!(msg(report(10, -1)).starts_with("invalid last_gm_day"));
        assert!(msg(report(10, 20_002)).contains("future"));
        let bad_hash = GmReport::validate(ADDRESS, 10, 1, Some("0x12"), None, None, None, TODAY);
        assert_eq!(bad_hash, Err(ReportError::TxHash));
        let bad_fid = GmReport::validate(ADDRESS, 10, 1, None, Some(0), None, None, TODAY);
        assert_eq!(bad_fid, Err(ReportError::Fid(0)));
        let long = "é".repeat(65);
        let bad_name = GmReport::validate(ADDRESS, 10, 1, None, None, Some(&long), None, TODAY);
        assert_eq!(
            bad_name,
            Err(ReportError::NameTooLong {
                field: "display_name",
                chars: 65
            })
        );
        let ok_name = "é".repeat(64);
        assert!(
            GmReport::validate(ADDRESS, 10, 1, None, None, None, Some(&ok_name), TODAY).is_ok()
        );
        let bad_address = GmReport::validate("0x1", 10, 1, None, None, None, None, TODAY);
        assert!(
            bad_address
                .unwrap_err()
                .to_string()
                .starts_with("invalid address")
        );
    }
}
