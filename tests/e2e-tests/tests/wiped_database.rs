//! "Live means live" (issue 14) when the database comes back wiped: SpacetimeDB restarts on
//! the same port with new signing keys and the module published again. The page, inside the
//! test Farcaster host with its wallet linked, must notice that its stored token is refused,
//! go on with a new identity without a reload and without a reconnect loop, and say that the
//! wallet link must be made again — which then works.

use e2e_tests::{Chromedriver, FarcasterHost, Page, Stack};
use serde_json::Value;
use std::time::Duration;

/// How long the page may take to be live again once the wiped database is back (reconnect
/// backoff, then the refused token and an anonymous connection).
const BACK_LIVE: Duration = Duration::from_secs(60);
/// At most this many WebSocket connections from the wipe to live again (the attempts while
/// the server was down, then the new identity's): more would be a loop.
const MAX_SOCKETS_TO_RECOVER: usize = 8;
/// How long the page is watched, once live again, for sockets it should not open.
const QUIET_FOR: Duration = Duration::from_secs(10);

/// The page's stored SpacetimeDB token (`stdb-client.token:…`) and the identity it names
/// (its `hex_identity` claim), read in the app's frame.
async fn stored_token(page: &Page) -> (String, String) {
    let found = page
        .run(
            "for (let i = 0; i < localStorage.length; i++) {\
               const key = localStorage.key(i);\
               if (key.startsWith('stdb-client.token:')) {\
                 const token = JSON.parse(localStorage.getItem(key));\
                 const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');\
                 return [token, JSON.parse(atob(part)).hex_identity];\
               }\
             }\
             return null;",
            vec![],
        )
        .await;
    match found {
        Value::Array(pair) => match (pair.first(), pair.get(1)) {
            (Some(Value::String(token)), Some(Value::String(identity))) => {
                (token.clone(), identity.to_lowercase())
            }
            _ => panic!("an unreadable stored token: {pair:?}"),
        },
        other => panic!("no stored token: {other}"),
    }
}

/// The identities this browser keeps wallet links for (`onepulse.linked:IDENTITY:WALLET`).
async fn linked_identities(page: &Page) -> Vec<String> {
    let keys = page
        .run(
            "return Object.keys(localStorage).filter(k => k.startsWith('onepulse.linked:'));",
            vec![],
        )
        .await;
    keys.as_array()
        .into_iter()
        .flatten()
        .filter_map(|key| key.as_str()?.split(':').nth(1).map(str::to_lowercase))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wiped_database_gives_a_new_identity_without_reload_or_loop_and_asks_to_link_again() {
    let mut stack = Stack::start("e2e-wiped", true).await;
    let host = FarcasterHost::start().await;
    let driver = Chromedriver::start().await;

    let page = Page::open_sized(&driver, 1000, 900, &host.url(&stack.page_url(""))).await;
    page.until("the host page", || async {
        let started = page
            .run("return document.body.dataset.hostStarted || '';", vec![])
            .await;
        if started == "true" {
            Ok(())
        } else {
            Err(started.to_string())
        }
    })
    .await;
    page.client()
        .enter_frame(0)
        .await
        .expect("into the app's frame");
    page.until_pill("live").await;
    page.until_text("#link-wallet", "Link wallet").await;
    page.click("#link-wallet").await;
    page.until_text("#link-state", "Linked").await;
    let (old_token, old_identity) = stored_token(&page).await;
    assert_eq!(
        linked_identities(&page).await,
        vec![old_identity.clone()],
        "the link is kept for the identity of the stored token"
    );
    // Gone if the page reloads.
    page.run("window.__beforeTheWipe = 'still here';", vec![])
        .await;

    let sockets_before = stack.gate.websockets();
    stack.wipe_and_republish_database();

    page.until_within(BACK_LIVE, "live again, asked to link again", || async {
        let pill = page.pill().await;
        let again = page.text("#link-again").await;
        match again {
            Some(text) if pill == "live" && text.contains("link your wallet again") => Ok(()),
            _ => Err(format!("pill {pill:?}, #link-again {again:?}")),
        }
    })
    .await;
    assert_eq!(
        page.run("return window.__beforeTheWipe || null;", vec![])
            .await,
        Value::from("still here"),
        "no reload"
    );
    assert_eq!(
        page.text("#link-state").await,
        None,
        "no longer shown as linked"
    );
    let (new_token, new_identity) = stored_token(&page).await;
    assert_ne!(new_token, old_token, "the refused token was replaced");
    assert_ne!(new_identity, old_identity, "a new identity");
    let sockets_to_recover = stack.gate.websockets() - sockets_before;
    println!("wipe → live again: {sockets_to_recover} WebSocket connection(s)");
    assert!(
        (1..=MAX_SOCKETS_TO_RECOVER).contains(&sockets_to_recover),
        "{sockets_to_recover} WebSocket connections to recover"
    );

    // Live and quiet: no socket opened again and again.
    let live_sockets = stack.gate.websockets();
    tokio::time::sleep(QUIET_FOR).await;
    assert_eq!(stack.gate.websockets(), live_sockets, "a reconnect loop");
    assert_eq!(page.pill().await, "live");
    assert_eq!(
        stored_token(&page).await.1,
        new_identity,
        "the identity stays"
    );

    // A reload keeps the new token and still asks for the link.
    page.client()
        .enter_parent_frame()
        .await
        .expect("back to the host");
    page.client().refresh().await.expect("reload the host");
    page.client()
        .enter_frame(0)
        .await
        .expect("into the app's frame");
    page.until_pill("live").await;
    page.until_text("#link-again", "link your wallet again")
        .await;
    assert_eq!(
        stored_token(&page).await.1,
        new_identity,
        "the new identity is kept"
    );

    // Linking again works for the new identity, against the republished module.
    page.click("#link-wallet").await;
    page.until_text("#link-state", "Linked").await;
    assert_eq!(page.text("#link-again").await, None);
    assert_eq!(
        linked_identities(&page).await,
        vec![new_identity],
        "the new link replaces the old one"
    );
    page.close().await;
}
