//! The Farcaster mini app SDK, reached through `farcaster/dist/onepulse-farcaster.js` (the
//! pinned `@farcaster/miniapp-sdk` bundled by esbuild; `cargo xtask` builds it). Outside a
//! Farcaster host every call answers at once (`false`, `None`, nothing) and nothing waits.
//!
//! The values the host gives (its context, wallet errors) are decoded into the serde types
//! here ([`HostUser`], [`HostError`]) with `serde-wasm-bindgen` in the browser; a malformed
//! value is a [`FarcasterError`] saying what was wrong, never a panic. The types and their
//! checks are plain Rust, tested natively.

#[cfg(target_arch = "wasm32")]
mod bridge;

#[cfg(target_arch = "wasm32")]
pub use bridge::{eth_accounts, is_in_mini_app, personal_sign, ready, user};

use serde::Deserialize;

/// The Farcaster user who opened the app (from the host's context).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FarcasterUser {
    /// Farcaster id.
    pub fid: i64,
    /// `@username`, if the host gave one.
    pub username: Option<String>,
    /// Display name, if the host gave one.
    pub display_name: Option<String>,
}

/// A refused or failed call, with the EIP-1193 code when the wallet gave one (4001: the user
/// said no).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FarcasterError {
    /// EIP-1193 error code.
    pub code: Option<i64>,
    /// What went wrong.
    pub message: String,
}

impl FarcasterError {
    /// An error of ours (no wallet code).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            code: None,
            message: message.into(),
        }
    }

    /// The error for a value the host rejected a call with: `decoded` is that value read as a
    /// [`HostError`] (or why it could not be), `text` the value itself when it is a string.
    pub fn from_host(decoded: Result<HostError, String>, text: Option<String>) -> Self {
        match (decoded, text) {
            (Ok(error), text) => Self {
                code: error.code,
                message: error
                    .message
                    .or(text)
                    .unwrap_or_else(|| "the Farcaster host failed without a message".into()),
            },
            (Err(_), Some(text)) => Self::new(text),
            (Err(why), None) => Self::new(format!(
                "the Farcaster host failed with an unreadable error ({why})"
            )),
        }
    }
}

impl std::fmt::Display for FarcasterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(4001) => write!(f, "the wallet request was declined"),
            Some(code) => write!(f, "{} (wallet error {code})", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

impl std::error::Error for FarcasterError {}

/// The user in the bridge's `context()` answer: `{fid, username, displayName}` (`null`
/// outside a host). Unknown fields are tolerated.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostUser {
    /// Farcaster id: a positive integer.
    pub fid: i64,
    /// `@username`.
    #[serde(default)]
    pub username: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

impl HostUser {
    /// The user, once checked: the fid must be positive.
    pub fn into_user(self) -> Result<FarcasterUser, FarcasterError> {
        if self.fid <= 0 {
            return Err(FarcasterError::new(format!(
                "the Farcaster context is malformed: fid {} is not a positive Farcaster id",
                self.fid
            )));
        }
        Ok(FarcasterUser {
            fid: self.fid,
            username: self.username,
            display_name: self.display_name,
        })
    }
}

/// A value the host rejected a call with: an EIP-1193 error `{code, message}` or an `Error`.
/// Both fields are optional; unknown fields are tolerated.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct HostError {
    /// EIP-1193 error code (4001: the user said no).
    #[serde(default)]
    pub code: Option<i64>,
    /// What went wrong.
    #[serde(default)]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(json: &str) -> Result<Option<FarcasterUser>, String> {
        let decoded: Option<HostUser> = serde_json::from_str(json).map_err(|e| e.to_string())?;
        decoded
            .map(HostUser::into_user)
            .transpose()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_context_user_is_read() {
        assert_eq!(
            user(r#"{"fid":42,"username":"ann","displayName":"Ann","pfpUrl":"x"}"#),
            Ok(Some(FarcasterUser {
                fid: 42,
                username: Some("ann".into()),
                display_name: Some("Ann".into()),
            }))
        );
        assert_eq!(
            user(r#"{"fid":7,"username":null}"#),
            Ok(Some(FarcasterUser {
                fid: 7,
                username: None,
                display_name: None,
            }))
        );
        assert_eq!(user("null"), Ok(None), "outside a host");
    }

    #[test]
    fn a_malformed_context_is_a_clear_error() {
        let missing = user(r#"{"username":"ann"}"#).unwrap_err();
        assert!(missing.contains("missing field `fid`"), "{missing}");
        let text = user(r#"{"fid":"42"}"#).unwrap_err();
        assert!(text.contains("invalid type"), "{text}");
        let fraction = user(r#"{"fid":1.5}"#).unwrap_err();
        assert!(fraction.contains("invalid type"), "{fraction}");
        let zero = user(r#"{"fid":0}"#).unwrap_err();
        assert!(
            zero.contains("fid 0 is not a positive Farcaster id"),
            "{zero}"
        );
        let name = user(r#"{"fid":3,"displayName":5}"#).unwrap_err();
        assert!(name.contains("invalid type"), "{name}");
    }

    #[test]
    fn wallet_errors_keep_their_code_and_message() {
        let declined: HostError =
            serde_json::from_str(r#"{"code":4001,"message":"User rejected","data":{}}"#).unwrap();
        let error = FarcasterError::from_host(Ok(declined), None);
        assert_eq!(error.code, Some(4001));
        assert_eq!(error.message, "User rejected");
        assert_eq!(error.to_string(), "the wallet request was declined");

        let other: HostError =
            serde_json::from_str(r#"{"code":-32603,"message":"internal"}"#).unwrap();
        assert_eq!(
            FarcasterError::from_host(Ok(other), None).to_string(),
            "internal (wallet error -32603)"
        );

        let bare = FarcasterError::from_host(Ok(HostError::default()), None);
        assert_eq!(bare.code, None);
        assert!(
            bare.message.contains("without a message"),
            "{}",
            bare.message
        );
    }

    #[test]
    fn unreadable_wallet_errors_say_so() {
        let thrown_text =
            FarcasterError::from_host(Err("not an object".into()), Some("nope".into()));
        assert_eq!(thrown_text, FarcasterError::new("nope"));
        let odd: Result<HostError, _> = serde_json::from_str(r#"{"code":"E1","message":"m"}"#);
        let why = odd.map_err(|e| e.to_string());
        let unreadable = FarcasterError::from_host(why, None);
        assert!(
            unreadable.message.contains("unreadable error")
                && unreadable.message.contains("invalid type"),
            "{}",
            unreadable.message
        );
    }
}
