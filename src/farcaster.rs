//! The Farcaster mini app SDK, reached through `farcaster/dist/onepulse-farcaster.js` (the
//! pinned `@farcaster/miniapp-sdk` bundled by esbuild; `cargo xtask` builds it). Outside a
//! Farcaster host every call answers at once (`false`, `None`, nothing) and nothing waits.

use wasm_bindgen::prelude::*;

mod js {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen(module = "/farcaster/dist/onepulse-farcaster.js")]
    extern "C" {
        #[wasm_bindgen(js_name = isInMiniApp)]
        pub async fn is_in_mini_app() -> JsValue;
        #[wasm_bindgen(catch)]
        pub async fn ready() -> Result<(), JsValue>;
        #[wasm_bindgen(catch)]
        pub async fn context() -> Result<JsValue, JsValue>;
        #[wasm_bindgen(catch, js_name = ethAccounts)]
        pub async fn eth_accounts() -> Result<JsValue, JsValue>;
        #[wasm_bindgen(catch, js_name = personalSign)]
        pub async fn personal_sign(address: &str, message: &str) -> Result<JsValue, JsValue>;
    }
}

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

impl std::fmt::Display for FarcasterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(4001) => write!(f, "the wallet request was declined"),
            Some(code) => write!(f, "{} (wallet error {code})", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

impl From<JsValue> for FarcasterError {
    fn from(error: JsValue) -> Self {
        let field = |name: &str| js_sys::Reflect::get(&error, &JsValue::from_str(name)).ok();
        Self {
            code: field("code").and_then(|c| c.as_f64()).map(|c| c as i64),
            message: field("message")
                .and_then(|m| m.as_string())
                .or_else(|| error.as_string())
                .unwrap_or_else(|| "unknown error from the Farcaster host".into()),
        }
    }
}

/// Whether the page runs inside a Farcaster host (answered once, then cached).
pub async fn is_in_mini_app() -> bool {
    js::is_in_mini_app().await.as_bool().unwrap_or(false)
}

/// Tells the host to hide its splash screen (nothing outside a host).
pub async fn ready() -> Result<(), FarcasterError> {
    js::ready().await.map_err(FarcasterError::from)
}

/// The user from the host's context; `None` outside a host or without a usable fid.
pub async fn user() -> Result<Option<FarcasterUser>, FarcasterError> {
    let context = js::context().await?;
    if context.is_null() || context.is_undefined() {
        return Ok(None);
    }
    let field = |name: &str| {
        js_sys::Reflect::get(&context, &JsValue::from_str(name)).unwrap_or(JsValue::NULL)
    };
    let Some(fid) = field("fid")
        .as_f64()
        .filter(|f| f.fract() == 0.0 && *f > 0.0)
    else {
        return Ok(None);
    };
    Ok(Some(FarcasterUser {
        fid: fid as i64,
        username: field("username").as_string(),
        display_name: field("displayName").as_string(),
    }))
}

/// The host wallet's accounts as the wallet spells them (validate before use); empty outside a
/// host or without a wallet.
pub async fn eth_accounts() -> Result<Vec<String>, FarcasterError> {
    let accounts = js::eth_accounts().await?;
    Ok(js_sys::Array::from(&accounts)
        .iter()
        .filter_map(|a| a.as_string())
        .collect())
}

/// EIP-191 `personal_sign` of `message` by `address` in the host wallet: `0x` + r‖s‖v.
pub async fn personal_sign(address: &str, message: &str) -> Result<String, FarcasterError> {
    js::personal_sign(address, message)
        .await?
        .as_string()
        .ok_or_else(|| FarcasterError {
            code: None,
            message: "the wallet's signature is not text".into(),
        })
}
