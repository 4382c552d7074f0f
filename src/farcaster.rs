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
pub use bridge::{
    eth_accounts, injected_wallets, is_in_mini_app, personal_sign, ready, user, wallet_request,
};

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

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
    /// The error's `data` when it is text, e.g. a contract's revert data (`0x08c379a0…`).
    pub data: Option<String>,
}

impl FarcasterError {
    /// An error of ours (no wallet code).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            code: None,
            message: message.into(),
            data: None,
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
                data: error.data,
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

/// A value the host or a wallet rejected a call with: an EIP-1193 error `{code, message,
/// data}` or an `Error`. Every field is optional; unknown fields are tolerated, and so is a
/// `data` that is not text (it is then ignored, without being walked).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct HostError {
    /// EIP-1193 error code (4001: the user said no); a code that is not an integer (some
    /// libraries use names such as `"ACTION_REJECTED"`) is dropped, keeping the message.
    #[serde(default, deserialize_with = "integer_or_nothing")]
    pub code: Option<i64>,
    /// What went wrong (dropped when it is not text).
    #[serde(default, deserialize_with = "text_or_nothing")]
    pub message: Option<String>,
    /// The error's data when it is text (revert data), or bytes that are UTF-8 text;
    /// anything else is dropped.
    #[serde(default, deserialize_with = "text_or_nothing")]
    pub data: Option<String>,
}

/// A field of a [`HostError`] as far as it matters: text, an integer, or anything else. Objects
/// and lists are skipped without their entries being decoded. (Hand-written rather than a
/// `#[serde(untagged)]` enum, which buffers the value and costs the wasm several kB.)
enum Loose {
    Text(String),
    Integer(i64),
    Other,
}

/// A value kept only when it is an integer that fits an `i64`; anything else becomes `None`.
fn integer_or_nothing<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    Ok(match deserializer.deserialize_any(LooseVisitor)? {
        Loose::Integer(value) => Some(value),
        Loose::Text(_) | Loose::Other => None,
    })
}

/// A value kept only when it is text: objects, lists and numbers become `None` without being
/// read further (their entries are skipped, not decoded).
fn text_or_nothing<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match deserializer.deserialize_any(LooseVisitor)? {
        Loose::Text(text) => Some(text),
        Loose::Integer(_) | Loose::Other => None,
    })
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any value")
    }
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Loose, E> {
        Ok(Loose::Text(text.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Loose, E> {
        Ok(Loose::Text(text))
    }
    fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Loose, E> {
        Ok(std::str::from_utf8(bytes).map_or(Loose::Other, |text| Loose::Text(text.to_owned())))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Loose, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Loose::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Loose, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Loose::Other)
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Loose, E> {
        Ok(Loose::Other)
    }
    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Loose, E> {
        Ok(Loose::Integer(value))
    }
    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Loose, E> {
        Ok(i64::try_from(value).map_or(Loose::Other, Loose::Integer))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Loose, E> {
        Ok(Loose::Other)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Loose, E> {
        Ok(Loose::Other)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Loose, E> {
        Ok(Loose::Other)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Loose, D::Error> {
        d.deserialize_any(LooseVisitor)
    }
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
    fn wallet_errors_keep_text_data_and_drop_the_rest() {
        let with_data: HostError =
            serde_json::from_str(r#"{"code":-32603,"message":"reverted","data":"0x08c379a0"}"#)
                .unwrap();
        let error = FarcasterError::from_host(Ok(with_data), None);
        assert_eq!(error.data.as_deref(), Some("0x08c379a0"));
        for data in [
            r#"{"data":"0x08c379a0","message":"m"}"#,
            "[1,2]",
            "42",
            "null",
            "true",
        ] {
            let odd: HostError =
                serde_json::from_str(&format!(r#"{{"code":3,"message":"m","data":{data}}}"#))
                    .unwrap_or_else(|e| panic!("{data}: {e}"));
            assert_eq!(odd.code, Some(3), "{data}");
            assert_eq!(odd.data, None, "{data}");
        }
    }

    #[test]
    fn codes_that_are_not_whole_i64_numbers_and_messages_that_are_not_text_are_dropped() {
        for code in ["1.5", "18446744073709551615", "true", "[4001]", "null"] {
            let odd: HostError =
                serde_json::from_str(&format!(r#"{{"code":{code},"message":"m"}}"#))
                    .unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(odd.code, None, "{code}");
            assert_eq!(odd.message.as_deref(), Some("m"), "{code}");
        }
        for message in ["42", "[\"m\"]", "false", "null"] {
            let odd: HostError =
                serde_json::from_str(&format!(r#"{{"code":-1,"message":{message}}}"#))
                    .unwrap_or_else(|e| panic!("{message}: {e}"));
            assert_eq!(odd.code, Some(-1), "{message}");
            assert_eq!(odd.message, None, "{message}");
        }
    }

    #[test]
    fn unreadable_wallet_errors_say_so() {
        let thrown_text =
            FarcasterError::from_host(Err("not an object".into()), Some("nope".into()));
        assert_eq!(thrown_text, FarcasterError::new("nope"));
        let not_an_object: Result<HostError, _> = serde_json::from_str(r#""nope""#);
        let why = not_an_object.map_err(|e| e.to_string());
        let unreadable = FarcasterError::from_host(why, None);
        assert!(
            unreadable.message.contains("unreadable error")
                && unreadable.message.contains("invalid type"),
            "{}",
            unreadable.message
        );
        // A named code (as ethers gives) or a message that is not text costs only that field.
        let named: HostError =
            serde_json::from_str(r#"{"code":"ACTION_REJECTED","message":"m"}"#).unwrap();
        assert_eq!(FarcasterError::from_host(Ok(named), None).message, "m");
        let odd_message: HostError =
            serde_json::from_str(r#"{"code":4001,"message":{"a":1}}"#).unwrap();
        assert_eq!(odd_message.code, Some(4001));
        assert_eq!(odd_message.message, None);
    }
}
