//! OnePulse as a Farcaster mini app: inside a host, the host wallet's address is shown (and
//! its wallet says GM on chain, see [`crate::wallet`]), the wallet can be linked to this
//! browser's identity, after which the user's fid and names are stored for it (`set_profile`),
//! and the host is told when the first screen is ready. Outside a host none of this shows and
//! the page works as a plain web page.

use crate::farcaster::{self, FarcasterUser};
use crate::link_message::LinkPage;
pub use crate::link_state::LinkState;
use crate::link_state::link_on_connect;
use crate::local_storage;
use crate::store::GmStore;
use leptos::prelude::*;
use onepulse_domain::siwe::nonce_from_bytes;
use onepulse_domain::{Address, SiweMessage};
use std::time::Duration;
use stdb_client::ConnectionStatus;

/// The longest the host's splash screen stays up when the data is slow to come.
const READY_AT_THE_LATEST: Duration = Duration::from_secs(4);

/// The mini app's state. `Copy`: every field is a signal. The public fields are read-only;
/// only the mini app's own methods change them.
#[derive(Clone, Copy)]
pub struct MiniApp {
    /// Whether the host check has finished (outside a host it finishes at once).
    pub checked: ReadSignal<bool>,
    /// Whether the page runs inside a Farcaster host (known once `checked`).
    pub in_host: ReadSignal<bool>,
    /// The Farcaster user, from the host's context.
    pub user: ReadSignal<Option<FarcasterUser>>,
    /// The host wallet's address.
    pub wallet: ReadSignal<Option<Address>>,
    /// The wallet's link to this browser's identity.
    pub link: ReadSignal<LinkState>,
    set_checked: WriteSignal<bool>,
    set_in_host: WriteSignal<bool>,
    set_user: WriteSignal<Option<FarcasterUser>>,
    set_wallet: WriteSignal<Option<Address>>,
    set_link: WriteSignal<LinkState>,
    /// The identity (hex) the wallet was linked to in this page, whether or not the browser
    /// could keep it in storage.
    linked_as: StoredValue<Option<String>>,
}

impl MiniApp {
    /// Detects the host, takes its user and wallet (the wallet's stats are then shown), and
    /// tells the host once the first screen is ready.
    pub fn start(store: GmStore) -> Self {
        let (checked, set_checked) = signal(false);
        let (in_host, set_in_host) = signal(false);
        let (user, set_user) = signal(None);
        let (wallet, set_wallet) = signal(None);
        let (link, set_link) = signal(LinkState::Unlinked);
        let mini_app = Self {
            checked,
            in_host,
            user,
            wallet,
            link,
            set_checked,
            set_in_host,
            set_user,
            set_wallet,
            set_link,
            linked_as: StoredValue::new(None),
        };
        wasm_bindgen_futures::spawn_local(async move {
            mini_app.detect(store).await;
            mini_app.set_checked.set(true);
        });
        mini_app.remember_links(store);
        mini_app.ready_when_shown(store);
        mini_app
    }

    async fn detect(&self, store: GmStore) {
        if !farcaster::is_in_mini_app().await {
            return;
        }
        self.set_in_host.set(true);
        match farcaster::user().await {
            Ok(user) => self.set_user.set(user),
            Err(e) => log::warn!("no Farcaster context: {e}"),
        }
        match farcaster::eth_accounts().await {
            Ok(accounts) => match accounts.first().map(|a| Address::parse(a)) {
                Some(Ok(wallet)) => {
                    store.set_address(wallet.as_str());
                    self.set_wallet.set(Some(wallet));
                }
                Some(Err(e)) => log::warn!("the host wallet's address is unusable: {e}"),
                None => log::info!("the host offers no wallet account"),
            },
            Err(e) => log::warn!("no wallet from the host: {e}"),
        }
    }

    /// Links the host wallet to this browser's identity: the wallet signs a Sign-In with
    /// Ethereum message for this page's domain naming the identity ([`sign_in_message`]), the
    /// module checks it (reducer `bind_wallet`); then the Farcaster user's fid and names are
    /// stored for the wallet (reducer `set_profile`, which the link authorizes). The link
    /// lasts [`MAX_LINK_LIFETIME_SECS`](onepulse_domain::siwe::MAX_LINK_LIFETIME_SECS) (30
    /// days); linking again renews it.
    pub async fn link_wallet(&self, store: GmStore) -> Result<(), String> {
        let wallet = self
            .wallet
            .get_untracked()
            .ok_or("no wallet: open OnePulse in a Farcaster client with a wallet")?;
        let identity = store
            .identity()
            .ok_or("not connected yet: try again when the pill says Live")?;
        let identity = identity.to_hex().to_string();
        self.set_link.set(LinkState::Linking);
        let outcome = match sign_in_message(&wallet, Some(&identity), &store.database()) {
            Ok(message) => {
                let expires_at = message.expiration_time.unwrap_or(message.issued_at);
                let text = message.to_string();
                match farcaster::personal_sign(wallet.as_str(), &text).await {
                    Ok(signature) => store
                        .bind_wallet(text, signature)
                        .await
                        .map(|()| expires_at),
                    Err(e) => Err(e.to_string()),
                }
            }
            Err(e) => Err(e),
        };
        let outcome = match (outcome, self.user.get_untracked()) {
            (Ok(expires_at), Some(user)) => store
                .set_profile(&wallet, &user)
                .await
                .map(|()| expires_at)
                .map_err(|e| format!("linked, but the Farcaster profile was not saved: {e}")),
            (outcome, _) => outcome,
        };
        match &outcome {
            Ok(expires_at) => {
                forget_links(&wallet);
                if let Err(e) = local_storage::set_i64(&link_key(&identity, &wallet), *expires_at) {
                    log::warn!("could not remember the link: {e}");
                }
                self.linked_as.set_value(Some(identity));
                self.set_link.set(LinkState::Linked);
            }
            Err(message) => self.set_link.set(LinkState::Failed(message.clone())),
        }
        outcome.map(drop)
    }

    /// Ends every link of the host wallet, on every device (a lost phone): the wallet signs a
    /// Sign-In with Ethereum message with the revocation statement (reducer
    /// `revoke_wallet_links`).
    pub async fn revoke_links(&self, store: GmStore) -> Result<(), String> {
        let wallet = self
            .wallet
            .get_untracked()
            .ok_or("no wallet: open OnePulse in a Farcaster client with a wallet")?;
        self.set_link.set(LinkState::Linking);
        let outcome = match sign_in_message(&wallet, None, &store.database()) {
            Ok(message) => {
                let text = message.to_string();
                match farcaster::personal_sign(wallet.as_str(), &text).await {
                    Ok(signature) => store.revoke_wallet_links(text, signature).await,
                    Err(e) => Err(e.to_string()),
                }
            }
            Err(e) => Err(e),
        };
        match &outcome {
            Ok(()) => {
                forget_links(&wallet);
                self.linked_as.set_value(None);
                self.set_link.set(LinkState::Unlinked);
            }
            Err(message) => self.set_link.set(LinkState::Failed(message.clone())),
        }
        outcome
    }

    /// Follows who this browser is: a link made earlier from this browser (same stored token,
    /// same identity) shows as linked; a link made by an earlier identity of this browser (the
    /// database was reset, its token refused, a new identity given) shows that the link must
    /// be made again ([`link_on_connect`]).
    fn remember_links(&self, store: GmStore) {
        let (link, set_link, wallet, linked_as) =
            (self.link, self.set_link, self.wallet, self.linked_as);
        Effect::new(move |_| {
            let (ConnectionStatus::Connected(identity), Some(wallet)) =
                (store.status.get(), wallet.get())
            else {
                return;
            };
            let identity = identity.to_hex().to_string();
            let (mut linked_here, mut linked_elsewhere) = stored_links(&identity, &wallet);
            match linked_as.get_value() {
                Some(linked) if linked == identity => linked_here = true,
                Some(_) => linked_elsewhere = true,
                None => {}
            }
            if let Some(next) =
                link_on_connect(&link.get_untracked(), linked_here, linked_elsewhere)
            {
                if next != LinkState::Linked {
                    log::info!("connected as {identity}: the wallet's link is now {next:?}");
                }
                set_link.set(next);
            }
        });
    }

    /// Calls the host's `ready()` once real content is on screen: this address's numbers, or
    /// the address form when there is no address; at the latest after
    /// [`READY_AT_THE_LATEST`].
    fn ready_when_shown(&self, store: GmStore) {
        let told = StoredValue::new(false);
        let tell = move || {
            if told.get_value() {
                return;
            }
            told.set_value(true);
            wasm_bindgen_futures::spawn_local(async {
                if let Err(e) = farcaster::ready().await {
                    log::warn!("the host did not take ready(): {e}");
                }
            });
        };
        let checked = self.checked;
        Effect::new(move |_| {
            let nothing_to_load = store.address.get().is_none();
            if checked.get() && (store.is_ready.get() || nothing_to_load) {
                tell();
            }
        });
        wasm_bindgen_futures::spawn_local(async move {
            gloo_timers::future::sleep(READY_AT_THE_LATEST).await;
            tell();
        });
    }
}

fn link_key(identity_hex: &str, wallet: &Address) -> String {
    format!("onepulse.linked:{identity_hex}:{}", wallet.as_str())
}

/// The keys of every link of `wallet` this browser keeps, whatever the identity.
fn stored_link_keys(wallet: &Address) -> Vec<String> {
    let suffix = format!(":{}", wallet.as_str());
    local_storage::keys()
        .into_iter()
        .filter(|key| key.starts_with("onepulse.linked:") && key.ends_with(&suffix))
        .collect()
}

/// Whether this browser keeps a live (unexpired) link of `wallet` for `identity_hex`, and for
/// another identity. An unreadable entry counts as none.
fn stored_links(identity_hex: &str, wallet: &Address) -> (bool, bool) {
    let now = now_secs();
    let here = link_key(identity_hex, wallet);
    let (mut linked_here, mut linked_elsewhere) = (false, false);
    for key in stored_link_keys(wallet) {
        if local_storage::get_i64(&key).is_none_or(|expires_at| expires_at <= now) {
            continue;
        }
        if key == here {
            linked_here = true;
        } else {
            linked_elsewhere = true;
        }
    }
    (linked_here, linked_elsewhere)
}

/// Forgets every link of `wallet` this browser keeps (a new link replaces them; a revocation
/// ends them all).
fn forget_links(wallet: &Address) {
    for key in stored_link_keys(wallet) {
        local_storage::delete(&key);
    }
}

/// Now, in Unix seconds, by the browser's clock.
fn now_secs() -> i64 {
    // `as` saturates; the clock is never out of range in practice.
    (js_sys::Date::now() / 1000.0).floor() as i64
}

/// The Sign-In with Ethereum message `wallet` signs here ([`LinkPage::message`]): linking it
/// to `identity_hex` or, with `None`, revoking every link it made. It names this page's
/// domain (`location.host`) and origin, so a wallet can tell the user which site asks and the
/// module accepts it only from its listed domains, and, as its resource, the SpacetimeDB
/// server and database the store connects to (`database`: URL and name), so a page pointed
/// at another server yields a signature no other database accepts; the nonce is 16 random
/// letters and digits from `crypto.getRandomValues`, issued now.
fn sign_in_message(
    wallet: &Address,
    identity_hex: Option<&str>,
    database: &(String, String),
) -> Result<SiweMessage, String> {
    let window = web_sys::window().ok_or("no browser window")?;
    let location = window.location();
    let domain = location
        .host()
        .map_err(|e| format!("the page's host is unreadable: {e:?}"))?;
    let origin = location
        .origin()
        .map_err(|e| format!("the page's origin is unreadable: {e:?}"))?;
    let mut random = [0u8; 16];
    window
        .crypto()
        .and_then(|crypto| crypto.get_random_values_with_u8_array(&mut random))
        .map_err(|e| format!("no random numbers for the message's nonce: {e:?}"))?;
    let page = LinkPage {
        domain: &domain,
        origin: &origin,
        server: &database.0,
        database: &database.1,
    };
    page.message(wallet, identity_hex, &nonce_from_bytes(&random), now_secs())
}
