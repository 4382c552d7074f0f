//! The page's `localStorage`: values kept as JSON (as `gloo-storage` kept them, so what an
//! earlier version stored stays readable), read and written through the browser's own `JSON`.
//!
//! A page denied storage (a sandboxed iframe, storage blocked by the user) has none: the
//! browser throws instead of returning it. Then nothing is read (as if nothing were kept),
//! writing says why it failed, and nothing panics.

use js_sys::JSON;
use wasm_bindgen::{JsCast, JsValue};

/// The page's `localStorage`, if the browser grants it.
pub fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The text kept under `key`, as it is stored.
pub fn get_text(key: &str) -> Option<String> {
    storage()?.get_item(key).ok()?
}

/// The JSON value kept under `key`: `None` when there is none, storage is denied or it is not
/// JSON.
fn get_json(key: &str) -> Option<JsValue> {
    JSON::parse(&get_text(key)?).ok()
}

/// The string kept under `key` (a JSON string).
pub fn get_string(key: &str) -> Option<String> {
    get_json(key)?.as_string()
}

/// The whole number kept under `key` (a JSON number without a fraction, within ±2^53).
pub fn get_i64(key: &str) -> Option<i64> {
    let number = get_json(key)?.as_f64()?;
    let whole = number.fract() == 0.0 && number.abs() <= 9_007_199_254_740_991.0;
    whole.then_some(number as i64)
}

/// Keeps `text` under `key` as it is.
pub fn set_text(key: &str, text: &str) -> Result<(), String> {
    storage()
        .ok_or("localStorage is not available to this page")?
        .set_item(key, text)
        .map_err(|e| format!("localStorage refused it: {}", describe(&e)))
}

/// Keeps `value` under `key` as JSON.
fn set_json(key: &str, value: &JsValue) -> Result<(), String> {
    let text = JSON::stringify(value)
        .ok()
        .and_then(|text| text.as_string())
        .ok_or("the value could not be written as JSON")?;
    set_text(key, &text)
}

/// Keeps `value` under `key` as a JSON string.
pub fn set_string(key: &str, value: &str) -> Result<(), String> {
    set_json(key, &JsValue::from_str(value))
}

/// Keeps `value` under `key` as a JSON number (exact within ±2^53, as every Unix time is).
pub fn set_i64(key: &str, value: i64) -> Result<(), String> {
    set_json(key, &JsValue::from_f64(value as f64))
}

/// Forgets what is kept under `key`.
pub fn delete(key: &str) {
    if let Some(storage) = storage()
        && let Err(e) = storage.remove_item(key)
    {
        log::warn!("could not forget {key}: {}", describe(&e));
    }
}

/// Every key kept, in the browser's order.
pub fn keys() -> Vec<String> {
    let Some(storage) = storage() else {
        return Vec::new();
    };
    let count = storage.length().unwrap_or(0);
    (0..count)
        .filter_map(|i| storage.key(i).ok().flatten())
        .collect()
}

/// A thrown JS value, as it goes in a log line.
fn describe(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "unknown error".into())
}
