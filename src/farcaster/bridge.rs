//! The calls into the bundled bridge, and the decoding of what they answer.

use super::{FarcasterError, FarcasterUser, HostError, HostUser};
use crate::gm_tx::InjectedWallet;
use serde::de::DeserializeOwned;
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
        #[wasm_bindgen(catch, js_name = injectedWallets)]
        pub async fn injected_wallets(wait_ms: u32) -> Result<JsValue, JsValue>;
        #[wasm_bindgen(catch, js_name = walletRequest)]
        pub async fn wallet_request(
            wallet: &str,
            method: &str,
            params_json: &str,
        ) -> Result<JsValue, JsValue>;
    }
}

/// `value` as a `T`; the error names the field's path (`fid: invalid type: …`).
pub(crate) fn decode<T: DeserializeOwned>(value: JsValue) -> Result<T, String> {
    serde_path_to_error::deserialize(serde_wasm_bindgen::Deserializer::from(value))
        .map_err(|e| e.to_string())
}

impl From<JsValue> for FarcasterError {
    fn from(error: JsValue) -> Self {
        let text = error.as_string();
        Self::from_host(decode::<HostError>(error), text)
    }
}

/// Whether the page runs inside a Farcaster host (answered once, then cached).
pub async fn is_in_mini_app() -> bool {
    match decode::<bool>(js::is_in_mini_app().await) {
        Ok(inside) => inside,
        Err(e) => {
            log::warn!(
                "the Farcaster bridge's isInMiniApp answer is malformed ({e}): not in a host"
            );
            false
        }
    }
}

/// Tells the host to hide its splash screen (nothing outside a host).
pub async fn ready() -> Result<(), FarcasterError> {
    js::ready().await.map_err(FarcasterError::from)
}

/// The user from the host's context; `None` outside a host. A malformed context (no fid, a
/// fid that is not a positive integer, names that are not text) is an error saying so.
pub async fn user() -> Result<Option<FarcasterUser>, FarcasterError> {
    let context = js::context().await?;
    decode::<Option<HostUser>>(context)
        .map_err(|e| FarcasterError::new(format!("the Farcaster context is malformed: {e}")))?
        .map(HostUser::into_user)
        .transpose()
}

/// The host wallet's accounts as the wallet spells them (validate before use); empty outside a
/// host or without a wallet.
pub async fn eth_accounts() -> Result<Vec<String>, FarcasterError> {
    let accounts = js::eth_accounts().await?;
    decode::<Vec<String>>(accounts)
        .map_err(|e| FarcasterError::new(format!("the host wallet's accounts are malformed: {e}")))
}

/// EIP-191 `personal_sign` of `message` by `address` in the host wallet: `0x` + r‖s‖v.
pub async fn personal_sign(address: &str, message: &str) -> Result<String, FarcasterError> {
    let signature = js::personal_sign(address, message).await?;
    decode::<String>(signature)
        .map_err(|e| FarcasterError::new(format!("the wallet's signature is not text: {e}")))
}

/// The browser wallets that announce themselves within `wait_ms` of an EIP-6963
/// `eip6963:requestProvider` (and any that announced earlier); malformed announcements are
/// left out by the bridge.
pub async fn injected_wallets(wait_ms: u32) -> Result<Vec<InjectedWallet>, FarcasterError> {
    let wallets = js::injected_wallets(wait_ms).await?;
    decode::<Vec<InjectedWallet>>(wallets).map_err(|e| {
        FarcasterError::new(format!(
            "the browser wallets' announcements are malformed: {e}"
        ))
    })
}

/// An EIP-1193 request (`params_json`: the parameters as a JSON array) to a wallet: the
/// Farcaster host's when `wallet` is empty, else the browser wallet announced with that id.
/// The answer is decoded as a `T`; a wallet's refusal keeps its code, message and text data.
pub async fn wallet_request<T: DeserializeOwned>(
    wallet: &str,
    method: &str,
    params_json: &str,
) -> Result<T, FarcasterError> {
    let answer = js::wallet_request(wallet, method, params_json).await?;
    decode::<T>(answer).map_err(|e| {
        FarcasterError::new(format!("the wallet's answer to {method} is malformed: {e}"))
    })
}
