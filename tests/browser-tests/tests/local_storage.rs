//! The app's `localStorage` values in headless Chromium: what `gloo-storage` kept stays
//! readable, what is not the expected JSON reads as nothing, and a page denied storage reads
//! nothing and says why it cannot write, without a panic.
#![cfg(target_arch = "wasm32")]

use browser_tests::StorageDenied;
use gloo_storage::{LocalStorage, Storage};
use onepulse::local_storage;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const KEY: &str = "onepulse.test.local-storage";

#[wasm_bindgen_test]
fn values_kept_by_gloo_storage_read_back_and_the_other_way_round() {
    LocalStorage::set(KEY, "0xabc \"quoted\" é").unwrap();
    assert_eq!(
        local_storage::get_string(KEY).as_deref(),
        Some("0xabc \"quoted\" é")
    );
    LocalStorage::set(KEY, 1_796_220_150_i64).unwrap();
    assert_eq!(local_storage::get_i64(KEY), Some(1_796_220_150));

    local_storage::set_string(KEY, "0xdef\n").unwrap();
    assert_eq!(LocalStorage::get::<String>(KEY).unwrap(), "0xdef\n");
    local_storage::set_i64(KEY, -42).unwrap();
    assert_eq!(LocalStorage::get::<i64>(KEY).unwrap(), -42);
    local_storage::delete(KEY);
    assert_eq!(local_storage::get_text(KEY), None);
}

#[wasm_bindgen_test]
fn what_is_not_the_expected_json_reads_as_nothing() {
    for (text, string, number) in [
        ("not json", None, None),
        ("\"text\"", Some("text"), None),
        ("12", None, Some(12)),
        ("1.5", None, None),
        ("1e300", None, None),
        ("9007199254740993", None, None),
        ("null", None, None),
        ("{\"a\":1}", None, None),
    ] {
        local_storage::set_text(KEY, text).unwrap();
        assert_eq!(local_storage::get_string(KEY).as_deref(), string, "{text}");
        assert_eq!(local_storage::get_i64(KEY), number, "{text}");
    }
    local_storage::delete(KEY);
}

#[wasm_bindgen_test]
fn a_page_denied_storage_reads_nothing_and_says_why_it_cannot_write() {
    local_storage::set_string(KEY, "kept").unwrap();
    let denied = StorageDenied::deny();
    assert_eq!(local_storage::get_string(KEY), None);
    assert_eq!(local_storage::get_text(KEY), None);
    assert!(local_storage::keys().is_empty());
    let refused = local_storage::set_string(KEY, "new").unwrap_err();
    assert!(refused.contains("not available"), "{refused}");
    local_storage::delete(KEY);
    drop(denied);
    assert_eq!(local_storage::get_string(KEY).as_deref(), Some("kept"));
    local_storage::delete(KEY);
}
