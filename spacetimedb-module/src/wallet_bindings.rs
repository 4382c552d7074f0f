//! Wallet bindings: a wallet proves, by signing the link message of `onepulse-domain` with
//! `personal_sign`, that an identity may report GMs for it.

use onepulse_domain::{Address, GmDay, check_link_day, verify_link};
use spacetimedb::{Identity, ReducerContext, Table, Timestamp, reducer, table};

/// An identity a wallet allowed to report for it. One wallet may be bound to several identities
/// (a phone and a laptop), and one identity to several wallets. Private: only the module reads
/// it.
#[table(name = wallet_binding)]
pub struct WalletBinding {
    /// `"{lowercase address}:{identity hex}"` (see [`binding_key`]).
    #[primary_key]
    pub address_identity: String,
    /// Lowercase `0x…` wallet address.
    #[index(btree)]
    pub address: String,
    /// The bound identity.
    #[index(btree)]
    pub identity: Identity,
    /// The UTC day number named in the signed message.
    pub signed_day: i32,
    /// When the binding was recorded.
    pub bound_at: Timestamp,
}

/// The primary key of a binding: `"{lowercase address}:{64 hex digits of the identity}"`.
pub fn binding_key(address: &Address, identity: Identity) -> String {
    format!("{}:{}", address.as_str(), identity.to_hex())
}

/// Whether `identity` is bound to `address`.
pub fn is_bound(ctx: &ReducerContext, address: &Address, identity: Identity) -> bool {
    ctx.db
        .wallet_binding()
        .address_identity()
        .find(binding_key(address, identity))
        .is_some()
}

/// Binds the caller's identity to the wallet `address`.
///
/// `signature` must be the wallet's `personal_sign` (`0x` + 130 hex digits) of
/// `link_message(address, caller identity hex, day)`, and `day` today or yesterday (UTC, by the
/// server's clock). The message is rebuilt here for the caller, so a signature made for another
/// identity or day recovers some other signer and is refused. Binding again is harmless.
#[reducer]
pub fn bind_wallet(
    ctx: &ReducerContext,
    address: String,
    day: i32,
    signature: String,
) -> Result<(), String> {
    let address = Address::parse(&address).map_err(|e| format!("invalid address: {e}"))?;
    let today = GmDay::from_unix_micros(ctx.timestamp.to_micros_since_unix_epoch());
    let day = check_link_day(i64::from(day), today).map_err(|e| e.to_string())?;
    let identity = ctx.sender;
    verify_link(&address, &identity.to_hex(), day, &signature).map_err(|e| e.to_string())?;

    let key = binding_key(&address, identity);
    let table = ctx.db.wallet_binding();
    if table.address_identity().find(&key).is_some() {
        log::info!("bind_wallet {key}: already bound");
        return Ok(());
    }
    table
        .try_insert(WalletBinding {
            address_identity: key.clone(),
            address: address.as_str().to_owned(),
            identity,
            signed_day: day.number(),
            bound_at: ctx.timestamp,
        })
        .map(|_| log::info!("bind_wallet {key}"))
        .map_err(|e| format!("could not store the binding {key}: {e}"))
}

/// Removes the binding of the caller's identity to `address`; `Err` if there is none.
#[reducer]
pub fn unbind_wallet(ctx: &ReducerContext, address: String) -> Result<(), String> {
    let address = Address::parse(&address).map_err(|e| format!("invalid address: {e}"))?;
    let key = binding_key(&address, ctx.sender);
    if ctx.db.wallet_binding().address_identity().delete(&key) {
        log::info!("unbind_wallet {key}");
        Ok(())
    } else {
        Err(format!(
            "identity {} is not bound to wallet {address}",
            ctx.sender.to_hex()
        ))
    }
}
