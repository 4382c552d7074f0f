//! The long-lived token in `localStorage`, stored as a JSON string (as `gloo-storage` stored
//! it, so a token kept by an earlier version stays readable), read and written through the
//! browser's own `JSON`.
//!
//! A page whose storage is denied (a sandboxed iframe, storage blocked by the user) has no
//! `localStorage`: the browser throws instead of returning it; and a full storage refuses to
//! write. Then the token is kept in the page's memory instead, for as long as the page lives:
//! a token given in the options, or the one the server gave an anonymous connect, is still the
//! one every later socket of the page connects with. Nothing panics.

use js_sys::JSON;
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::{JsCast, JsValue};

thread_local! {
    /// Tokens storage would not keep, by key: newer than what storage holds under that key.
    static IN_MEMORY: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
}

/// The page's `localStorage`, if the browser grants it.
fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The token kept under `key`: the one kept in memory when storage refused it, else the one in
/// storage; `None` when there is none or what storage holds is not a JSON string.
pub(crate) fn read(key: &str) -> Option<String> {
    if let Some(token) = IN_MEMORY.with(|memory| memory.borrow().get(key).cloned()) {
        // Storage may take it now (space freed, storage granted again).
        if write_to_storage(key, &token).is_ok() {
            IN_MEMORY.with(|memory| memory.borrow_mut().remove(key));
        }
        return Some(token);
    }
    stored(&storage()?, key)
}

/// The token `storage` keeps under `key`, if it is a JSON string.
fn stored(storage: &web_sys::Storage, key: &str) -> Option<String> {
    let text = storage.get_item(key).ok()??;
    JSON::parse(&text).ok()?.as_string()
}

/// Keeps `token` under `key` (unless storage holds it already). When storage refuses, the
/// token is kept in memory and the error says why storage would not.
pub(crate) fn write(key: &str, token: &str) -> Result<(), String> {
    let stored = write_to_storage(key, token);
    IN_MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        match &stored {
            Ok(()) => memory.remove(key),
            Err(_) => memory.insert(key.to_owned(), token.to_owned()),
        }
    });
    stored
}

fn write_to_storage(key: &str, token: &str) -> Result<(), String> {
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

/// Forgets the token kept under `key`, in memory and in storage.
pub(crate) fn forget(key: &str) {
    IN_MEMORY.with(|memory| memory.borrow_mut().remove(key));
    if let Some(storage) = storage()
        && let Err(e) = storage.remove_item(key)
    {
        log::warn!("could not forget the token: {}", describe(&e));
    }
}

/// Forgets `token` (refused by the server) wherever it is kept under `key`, and only it: a
/// token another tab stored meanwhile, or one storage kept while this one was in memory, stays.
pub(crate) fn forget_if(key: &str, token: &str) {
    IN_MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.get(key).is_some_and(|kept| kept == token) {
            memory.remove(key);
        }
    });
    if let Some(storage) = storage()
        && stored(&storage, key).is_some_and(|kept| kept == token)
        && let Err(e) = storage.remove_item(key)
    {
        log::warn!("could not forget the refused token: {}", describe(&e));
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
