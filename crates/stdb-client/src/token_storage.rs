//! The long-lived token in `localStorage`, stored as a JSON string (as `gloo-storage` stored
//! it, so a token kept by an earlier version stays readable), read and written through the
//! browser's own `JSON`.
//!
//! A page whose storage is denied (a sandboxed iframe, storage blocked by the user) has no
//! `localStorage`: the browser throws instead of returning it. Then no token is read or kept —
//! every socket connects anonymously, with a new identity — and nothing panics.

use js_sys::JSON;
use wasm_bindgen::{JsCast, JsValue};

/// The page's `localStorage`, if the browser grants it.
fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The token kept under `key`: `None` when there is none, storage is denied, or what is kept
/// is not a JSON string.
pub(crate) fn read(key: &str) -> Option<String> {
    let text = storage()?.get_item(key).ok()??;
    JSON::parse(&text).ok()?.as_string()
}

/// Keeps `token` under `key` (unless it is kept there already); says why it could not.
pub(crate) fn write(key: &str, token: &str) -> Result<(), String> {
    let storage = storage().ok_or("localStorage is not available to this page")?;
    let text = JSON::stringify(&JsValue::from_str(token))
        .ok()
        .and_then(|text| text.as_string())
        .ok_or("the token could not be written as JSON")?;
    if storage.get_item(key).ok().flatten().as_deref() == Some(&*text) {
        return Ok(());
    }
    storage
        .set_item(key, &text)
        .map_err(|e| format!("localStorage refused the token: {}", describe(&e)))
}

/// Forgets the token kept under `key`, if any.
pub(crate) fn forget(key: &str) {
    if let Some(storage) = storage()
        && let Err(e) = storage.remove_item(key)
    {
        log::warn!("could not forget the token: {}", describe(&e));
    }
}

/// A thrown JS value, as it goes in a log line.
fn describe(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "unknown error".into())
}
