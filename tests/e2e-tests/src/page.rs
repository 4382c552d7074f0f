//! The app open in a browser session, read the way a user sees it (text in the DOM).

use crate::Chromedriver;
use fantoccini::Client;
use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How long a wait for something on the page lasts before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// One browser session showing the app.
pub struct Page {
    client: Client,
}

impl Page {
    /// A fresh browser (empty profile) at the size of a Farcaster host's frame, showing `url`.
    pub async fn open(driver: &Chromedriver, url: &str) -> Self {
        Self::open_sized(driver, 424, 695, url).await
    }

    /// A fresh browser of `width` × `height` showing `url`.
    pub async fn open_sized(driver: &Chromedriver, width: u32, height: u32, url: &str) -> Self {
        let page = Self {
            client: driver.session(width, height).await,
        };
        page.goto(url).await;
        page
    }

    /// Clicks the first element matching `selector`; fails the test if there is none.
    pub async fn click(&self, selector: &str) {
        let clicked = self
            .run(
                "const e = document.querySelector(arguments[0]); if (e) { e.click(); } return !!e;",
                vec![selector.into()],
            )
            .await;
        assert_eq!(clicked, Value::Bool(true), "nothing to click at {selector}");
    }

    /// Waits until the first element matching `selector` has text containing `expected`;
    /// returns that text.
    pub async fn until_text(&self, selector: &str, expected: &str) -> String {
        self.until(&format!("{selector} containing {expected:?}"), || async {
            let text = self.text(selector).await.unwrap_or_default();
            if text.contains(expected) {
                Ok(text)
            } else {
                Err(text)
            }
        })
        .await
    }

    /// The WebDriver session (for windows and tabs).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Navigates the current tab to `url`.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its result.
    pub async fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Text of the first element matching `selector`, or `None`.
    pub async fn text(&self, selector: &str) -> Option<String> {
        self.run(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
            vec![selector.into()],
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    /// The status pill's state: `live`, `fallback`, `reconnecting`, `connecting` or `offline`.
    pub async fn pill(&self) -> String {
        self.run(
            "const p = document.getElementById('status-pill'); \
             return p ? p.className.replace('pill', '').trim() : '';",
            vec![],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Text of `field` (`current`, `highest`, `all-time`, `last-day`, `today`) on a chain's card.
    pub async fn card(&self, chain_id: i32, field: &str) -> Option<String> {
        self.text(&format!("article[data-chain='{chain_id}'] .{field}"))
            .await
    }

    /// Waits until `check` gives `Some`, polling every 25 ms; fails the test after [`WAIT`],
    /// naming `what` and the last thing seen.
    pub async fn until<T, F, Fut>(&self, what: &str, check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, String>>,
    {
        self.until_within(WAIT, what, check).await
    }

    /// [`Page::until`] with a deadline of `wait`.
    pub async fn until_within<T, F, Fut>(&self, wait: Duration, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, String>>,
    {
        let deadline = Instant::now() + wait;
        loop {
            match check().await {
                Ok(value) => return value,
                Err(seen) if Instant::now() >= deadline => {
                    panic!("waited {wait:?} for {what}; last seen: {seen}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
            }
        }
    }

    /// Waits until the pill shows `state`.
    pub async fn until_pill(&self, state: &str) {
        self.until(&format!("the {state} pill"), || async {
            let pill = self.pill().await;
            if pill == state { Ok(()) } else { Err(pill) }
        })
        .await
    }

    /// Waits until a chain card's `field` reads `expected`.
    pub async fn until_card(&self, chain_id: i32, field: &str, expected: &str) {
        self.until(&format!("card {chain_id} {field} = {expected}"), || async {
            let text = self.card(chain_id, field).await;
            if text.as_deref() == Some(expected) {
                Ok(())
            } else {
                Err(format!("{text:?}"))
            }
        })
        .await
    }

    /// Starts watching, in the page, for the first moment `selector`'s text equals `expected`
    /// (a `MutationObserver`); [`Page::until_seen`] returns that moment.
    pub async fn watch_text(&self, selector: &str, expected: &str) {
        self.run(WATCH_TEXT, vec![selector.into(), expected.into()])
            .await;
    }

    /// Waits for the moment [`Page::watch_text`] saw its text, in Unix milliseconds with a
    /// fraction (`performance.timeOrigin + performance.now()`).
    pub async fn until_seen(&self) -> f64 {
        self.until("the watched text on screen", || async {
            match self.run("return window.__seenAt;", vec![]).await {
                Value::Number(n) => n.as_f64().ok_or_else(|| "not a number".to_owned()),
                other => Err(other.to_string()),
            }
        })
        .await
    }

    /// Milliseconds from navigation start to the performance mark `name` (set by the app,
    /// e.g. `onepulse:numbers-on-screen`), once it is set.
    pub async fn until_mark(&self, name: &str) -> f64 {
        self.until(&format!("the {name} mark"), || async {
            let mark = self
                .run(
                    "const m = performance.getEntriesByName(arguments[0]); \
                     return m.length ? m[0].startTime : null;",
                    vec![name.into()],
                )
                .await;
            mark.as_f64().ok_or_else(|| mark.to_string())
        })
        .await
    }

    /// Runs the Chrome DevTools Protocol command `cmd` with `params` on this tab (through
    /// ChromeDriver's `goog/cdp/execute`); returns its result.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        let command = Cdp {
            cmd: cmd.to_owned(),
            params,
        };
        self.client
            .issue_cmd(command)
            .await
            .unwrap_or_else(|e| panic!("CDP {cmd} failed: {e}"))
    }

    /// Hides the tab as far as the page can tell: `document.visibilityState` becomes
    /// `"hidden"` (with its `visibilitychange` event), then the page is frozen (CDP
    /// `Page.setWebLifecycleState`): no timer, no script runs, as in a background tab the
    /// browser froze; the network stack still holds the sockets.
    pub async fn hide(&self) {
        self.run(SET_VISIBILITY, vec!["hidden".into()]).await;
        self.cdp("Page.setWebLifecycleState", json!({ "state": "frozen" }))
            .await;
    }

    /// Shows the tab again: the page is resumed, then becomes `"visible"` (with its
    /// `visibilitychange` event).
    pub async fn show(&self) {
        self.cdp("Page.setWebLifecycleState", json!({ "state": "active" }))
            .await;
        self.run(SET_VISIBILITY, vec!["visible".into()]).await;
    }

    /// Ends the browser session.
    pub async fn close(self) {
        self.client.close().await.ok();
    }
}

/// Records in `window.__seenAt` when `arguments[0]`'s text first equals `arguments[1]`.
const WATCH_TEXT: &str = r#"
    const [selector, expected] = arguments;
    window.__seenAt = null;
    const check = () => {
        const e = document.querySelector(selector);
        if (window.__seenAt === null && e && e.textContent === expected) {
            window.__seenAt = performance.timeOrigin + performance.now();
        }
    };
    new MutationObserver(check).observe(document.body,
        { subtree: true, childList: true, characterData: true });
    check();
"#;

/// Makes `document.visibilityState` (and `document.hidden`) read `arguments[0]` and tells
/// the page with a `visibilitychange` event, as a browser does when a tab is hidden or shown.
const SET_VISIBILITY: &str = r#"
    const [state] = arguments;
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => state === 'hidden' });
    document.dispatchEvent(new Event('visibilitychange', { bubbles: true }));
"#;

/// A Chrome DevTools Protocol command, sent through ChromeDriver.
#[derive(Debug)]
struct Cdp {
    cmd: String,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/goog/cdp/execute"))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}
