//! Helpers for the browser tests. `cargo xtask test` builds them with the test server's URL and
//! database in `ONEPULSE_SPACETIMEDB_URL` / `ONEPULSE_TEST_DATABASE` (a wasm test cannot read
//! the environment at run time) and runs them in headless Chromium.
#![cfg(target_arch = "wasm32")]

use onepulse_domain::Address;
use onepulse_gm_stats::GmStatsRow;
use std::time::Duration;
use stdb_client::ClientCore;
use stdb_client::browser::{BrowserConnection, BrowserOptions};
pub use test_kit::{today, unique_address};

/// Options for the test database.
pub fn options() -> BrowserOptions {
    let (Some(url), Some(database)) = (
        option_env!("ONEPULSE_SPACETIMEDB_URL"),
        option_env!("ONEPULSE_TEST_DATABASE"),
    ) else {
        panic!(
            "built without ONEPULSE_SPACETIMEDB_URL / ONEPULSE_TEST_DATABASE: run `cargo xtask test`"
        );
    };
    BrowserOptions::new(url, database)
}

/// Options for the database that [`control`] stops and starts.
pub fn restartable_options() -> BrowserOptions {
    let (Some(url), Some(database)) = (
        option_env!("ONEPULSE_RESTART_SPACETIMEDB_URL"),
        option_env!("ONEPULSE_RESTART_DATABASE"),
    ) else {
        panic!(
            "built without ONEPULSE_RESTART_SPACETIMEDB_URL / ONEPULSE_RESTART_DATABASE: run `cargo xtask test`"
        );
    };
    BrowserOptions::new(url, database)
}

/// Stops (`"stop"`) or starts (`"start"`) the restartable database through the control endpoint.
pub async fn control(action: &str) {
    if let Err(error) = try_control(action).await {
        panic!("{error}");
    }
}

/// [`control`], with its failure as a value (e.g. for a benchmark's optional floor).
pub async fn try_control(action: &str) -> Result<(), String> {
    let Some(base) = option_env!("ONEPULSE_CONTROL_URL") else {
        return Err("built without ONEPULSE_CONTROL_URL: run `cargo xtask test`".into());
    };
    let response = gloo_net::http::Request::post(&format!("{base}/{action}"))
        .send()
        .await
        .map_err(|e| format!("control {action}: {e}"))?;
    if response.status() != 200 {
        return Err(format!(
            "control {action}: {} {:?}",
            response.status(),
            response.text().await
        ));
    }
    Ok(())
}

/// The fallback service that reads the test database (`ONEPULSE_FALLBACK_URL`).
pub fn fallback_url() -> &'static str {
    match option_env!("ONEPULSE_FALLBACK_URL") {
        Some(url) => url,
        None => panic!("built without ONEPULSE_FALLBACK_URL: run `cargo xtask test`"),
    }
}

/// The fallback service that reads the restartable database (`ONEPULSE_RESTART_FALLBACK_URL`).
pub fn restart_fallback_url() -> &'static str {
    match option_env!("ONEPULSE_RESTART_FALLBACK_URL") {
        Some(url) => url,
        None => panic!("built without ONEPULSE_RESTART_FALLBACK_URL: run `cargo xtask test`"),
    }
}

/// Registers the GM table.
pub fn register(core: &mut ClientCore) {
    core.register_table::<GmStatsRow>();
}

/// Waits (up to 20 s) until `done` holds, checking every 20 ms.
pub async fn eventually(what: &str, done: impl FnMut() -> bool) {
    if let Err(error) = try_eventually(what, done).await {
        panic!("{error}");
    }
}

/// [`eventually`], with the timeout as a value (e.g. for a benchmark that reports it).
pub async fn try_eventually(what: &str, mut done: impl FnMut() -> bool) -> Result<(), String> {
    let step = Duration::from_millis(20);
    for _ in 0..1000 {
        if done() {
            return Ok(());
        }
        gloo_timers::future::sleep(step).await;
    }
    Err(format!("timed out waiting for {what}"))
}

/// Waits until `connection` is connected.
pub async fn connected(connection: &BrowserConnection) {
    eventually("the connection", || {
        matches!(
            connection.status(),
            stdb_client::ConnectionStatus::Connected(_)
        )
    })
    .await;
}

/// The owner token of the database of `options` (compiled in by xtask): the restartable
/// database's (`ONEPULSE_RESTART_OWNER_TOKEN`) or the test database's (`ONEPULSE_OWNER_TOKEN`).
fn owner_token(options: &BrowserOptions) -> &'static str {
    if option_env!("ONEPULSE_RESTART_DATABASE") == Some(options.connect.database.as_str()) {
        match option_env!("ONEPULSE_RESTART_OWNER_TOKEN") {
            Some(token) => token,
            None => panic!(
                "built without ONEPULSE_RESTART_OWNER_TOKEN (owner of {}): run `cargo xtask test`",
                options.connect.database
            ),
        }
    } else {
        match option_env!("ONEPULSE_OWNER_TOKEN") {
            Some(token) => token,
            None => panic!(
                "built without ONEPULSE_OWNER_TOKEN (owner of {}): run `cargo xtask test`",
                options.connect.database
            ),
        }
    }
}

/// Waits until `connection` (to the database of `options`) is connected, then lets its identity
/// call `report_gm`: `add_reporter` over HTTP with the database owner's token (idempotent).
/// Panics unless it commits.
pub async fn make_reporter(options: &BrowserOptions, connection: &BrowserConnection) {
    connected(connection).await;
    let identity = connection
        .identity()
        .expect("a connected connection has an identity");
    let hex = identity.to_hex().to_ascii_lowercase();
    assert_eq!(hex.len(), 64, "identity hex {hex}");
    let url = format!(
        "{}/v1/database/{}/call/add_reporter",
        options.connect.http_base().trim_end_matches('/'),
        options.connect.database
    );
    let response = gloo_net::http::Request::post(&url)
        .header("Authorization", &format!("Bearer {}", owner_token(options)))
        .header("Content-Type", "application/json")
        .body(format!(r#"[{{"__identity__":"0x{hex}"}}]"#))
        .expect("the add_reporter request")
        .send()
        .await
        .unwrap_or_else(|e| panic!("add_reporter 0x{hex}: {e}"));
    let status = response.status();
    assert_eq!(
        status,
        200,
        "add_reporter 0x{hex} on {}: {:?}",
        options.connect.database,
        response.text().await
    );
}

/// A second connection to the database of `options` (through `localhost` instead of
/// `127.0.0.1`, so it is not the tab's shared one): plays another device reporting GMs. Returns
/// once it is connected and a reporter (see [`make_reporter`]), ready for [`report`].
pub async fn other_device(options: &BrowserOptions) -> BrowserConnection {
    let uri = options.connect.uri.replace("127.0.0.1", "localhost");
    let device_options = BrowserOptions::new(&uri, &options.connect.database);
    let connection =
        BrowserConnection::shared(device_options.clone(), register).expect("a second connection");
    make_reporter(&device_options, &connection).await;
    connection
}

/// Reports a GM of `address` on `chain` for `day` through `connection`, which must be a reporter
/// (as [`other_device`]'s are); panics unless it commits.
pub async fn report(
    connection: &BrowserConnection,
    address: &Address,
    chain: onepulse_domain::Chain,
    day: i32,
) {
    let args = onepulse_domain::GmReport::new(
        address.clone(),
        chain,
        onepulse_domain::GmDay::from_number(day),
    )
    .args();
    let outcome = connection
        .call_reducer(onepulse_gm_stats::REPORT_GM, &args)
        .await
        .expect("call report_gm");
    assert_eq!(
        outcome,
        stdb_client::ReducerOutcome::Committed,
        "report of {address} on {chain}"
    );
}

/// Makes `window.localStorage` throw, as a browser does for a page denied storage (a sandboxed
/// iframe, storage blocked by the user), until the guard is dropped.
pub struct StorageDenied(js_sys::Object);

impl StorageDenied {
    /// Denies storage to the page.
    pub fn deny() -> Self {
        let window = web_sys::window().unwrap();
        let name = wasm_bindgen::JsValue::from_str("localStorage");
        let original = js_sys::Object::get_own_property_descriptor(&window, &name);
        assert!(
            original.is_object(),
            "localStorage is an own property of window"
        );
        let throwing = js_sys::Function::new_no_args(
            "throw new DOMException('The operation is insecure.', 'SecurityError')",
        );
        let denied = js_sys::Object::new();
        js_sys::Reflect::set(&denied, &"get".into(), &throwing).unwrap();
        js_sys::Reflect::set(&denied, &"configurable".into(), &true.into()).unwrap();
        js_sys::Object::define_property(&window, &name, &denied);
        assert!(
            js_sys::Reflect::get(&window, &name).is_err(),
            "reading localStorage now throws"
        );
        Self(original.into())
    }
}

impl Drop for StorageDenied {
    fn drop(&mut self) {
        let window = web_sys::window().unwrap();
        js_sys::Object::define_property(&window, &"localStorage".into(), &self.0);
    }
}
