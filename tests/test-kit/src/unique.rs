//! Addresses no other test uses.

use onepulse_domain::Address;
use std::sync::atomic::{AtomicU64, Ordering};

/// A wallet address no other test uses (random, also across processes).
pub fn unique_address() -> Address {
    let mut state = seed();
    let hex: String = (0..3)
        .map(|_| format!("{:016x}", splitmix64(&mut state)))
        .collect();
    Address::parse(&format!("0x{}", &hex[..40])).expect("40 hex digits make an address")
}

/// 32 bytes no other test uses, e.g. for a private key.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn unique_bytes() -> [u8; 32] {
    let mut state = seed();
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_exact_mut(8) {
        chunk.copy_from_slice(&splitmix64(&mut state).to_be_bytes());
    }
    bytes
}

/// A seed that differs per call, per process and per run.
fn seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    #[cfg(target_arch = "wasm32")]
    let entropy = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64
        ^ ((js_sys::Date::now() as u64) << 11);
    #[cfg(not(target_arch = "wasm32"))]
    let entropy = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
        ^ (u64::from(std::process::id()) << 32);
    let mut state = entropy ^ count.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    splitmix64(&mut state)
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn addresses_differ_from_call_to_call() {
        let a = unique_address();
        let b = unique_address();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 42);
        assert_ne!(unique_bytes(), unique_bytes());
    }
}
