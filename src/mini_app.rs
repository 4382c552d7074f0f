//! OnePulse as a Farcaster mini app: inside a host, the host wallet's address is shown, the
//! user's fid and names go with reports, the wallet can be linked to this browser's identity
//! (so `report_gm` is authorized for it), and the host is told when the first screen is ready.
//! Outside a host none of this shows and the page works as a plain web page.

use crate::farcaster::{self, FarcasterUser};
use crate::store::GmStore;
use gloo_storage::{LocalStorage, Storage};
use leptos::prelude::*;
use onepulse_domain::{Address, GmDay, link_message};
use std::time::Duration;
use stdb_client::ConnectionStatus;

/// The longest the host's splash screen stays up when the data is slow to come.
const READY_AT_THE_LATEST: Duration = Duration::from_secs(4);

/// Where a wallet's link to this browser's identity stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Not linked (or not known to be).
    Unlinked,
    /// Waiting for the wallet's signature or the database.
    Linking,
    /// Linked: reports for the wallet are authorized from this browser.
    Linked,
    /// The last attempt failed, and why.
    Failed(String),
}

/// The mini app's state. `Copy`: every field is a signal. The public fields are read-only;
/// only the mini app's own methods change them.
#[derive(Clone, Copy)]
pub struct MiniApp {
    /// Whether the host check has finished (outside a host it finishes at once).
    pub checked: ReadSignal<bool>,
    /// The Farcaster user, from the host's context.
    pub user: ReadSignal<Option<FarcasterUser>>,
    /// The host wallet's address.
    pub wallet: ReadSignal<Option<Address>>,
    /// The wallet's link to this browser's identity.
    pub link: ReadSignal<LinkState>,
    set_checked: WriteSignal<bool>,
    set_user: WriteSignal<Option<FarcasterUser>>,
    set_wallet: WriteSignal<Option<Address>>,
    set_link: WriteSignal<LinkState>,
}

impl MiniApp {
    /// Detects the host, takes its user and wallet (the wallet's stats are then shown), and
    /// tells the host once the first screen is ready.
    pub fn start(store: GmStore) -> Self {
        let (checked, set_checked) = signal(false);
        let (user, set_user) = signal(None);
        let (wallet, set_wallet) = signal(None);
        let (link, set_link) = signal(LinkState::Unlinked);
        let mini_app = Self {
            checked,
            user,
            wallet,
            link,
            set_checked,
            set_user,
            set_wallet,
            set_link,
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

    /// Links the host wallet to this browser's identity: the wallet signs the link message for
    /// `today`, the module checks the signature (reducer `bind_wallet`).
    pub async fn link_wallet(&self, store: GmStore, today: GmDay) -> Result<(), String> {
        let wallet = self
            .wallet
            .get_untracked()
            .ok_or("no wallet: open OnePulse in a Farcaster client with a wallet")?;
        let identity = store
            .identity()
            .ok_or("not connected yet: try again when the pill says Live")?;
        let identity = identity.to_hex().to_string();
        self.set_link.set(LinkState::Linking);
        let message = link_message(&wallet, &identity, today);
        let outcome = match farcaster::personal_sign(wallet.as_str(), &message).await {
            Ok(signature) => store.bind_wallet(&wallet, today, signature).await,
            Err(e) => Err(e.to_string()),
        };
        match &outcome {
            Ok(()) => {
                if let Err(e) = LocalStorage::set(link_key(&identity, &wallet), true) {
                    log::warn!("could not remember the link: {e}");
                }
                self.set_link.set(LinkState::Linked);
            }
            Err(message) => self.set_link.set(LinkState::Failed(message.clone())),
        }
        outcome
    }

    /// Shows a link made earlier from this browser (same stored token, same identity) as
    /// linked.
    fn remember_links(&self, store: GmStore) {
        let (link, set_link, wallet) = (self.link, self.set_link, self.wallet);
        Effect::new(move |_| {
            let (ConnectionStatus::Connected(identity), Some(wallet)) =
                (store.status.get(), wallet.get())
            else {
                return;
            };
            let key = link_key(identity.to_hex().as_ref(), &wallet);
            if LocalStorage::get::<bool>(&key).unwrap_or(false)
                && link.get_untracked() == LinkState::Unlinked
            {
                set_link.set(LinkState::Linked);
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
