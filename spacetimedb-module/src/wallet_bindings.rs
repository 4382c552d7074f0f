//! Wallet links: a wallet binds itself to a SpacetimeDB identity by signing a Sign-In with
//! Ethereum (EIP-4361) message, and ends every such link with another.
//!
//! `bind_wallet(message, signature)` checks the signed message ([`verify_signed_message`]:
//! signature over the exact text, an accepted domain ([`crate::link_domains`]) and a URI on it,
//! one resource naming this database ([`crate::link_servers`]), one of OnePulse's chains, the
//! times) and then what needs the database:
//!
//! - the statement names the caller's own identity (a message signed for someone else links
//!   nothing when another identity sends it);
//! - the nonce was never used before by this wallet ([`LinkNonce`]): a signed message works
//!   once. A nonce is remembered until any message carrying it is too old to be accepted
//!   anyway (`Issued At` + [`MAX_MESSAGE_AGE_SECS`]), then forgotten;
//! - the message was issued after the wallet last revoked its links ([`LinkRevocation`]), so a
//!   message signed before a revocation cannot undo it;
//! - the wallet has fewer than [`MAX_LINKS_PER_WALLET`] live links (re-linking an identity
//!   already linked renews it and does not count twice). At the cap a new link is refused
//!   with an error saying how to make room; no link is dropped silently.
//!
//! A link lasts until the message's `Expiration Time` (at most 30 days): [`is_bound`] ignores
//! an expired link at once, and a scheduled reducer ([`expire_wallet_link`]) deletes it at
//! that moment, which also takes the wallet's profile out of that identity's view (row-level
//! security follows `wallet_binding`). `unbind_wallet(address)` ends the caller's own link;
//! `revoke_wallet_links(message, signature)`, a message the wallet signed with the revocation
//! statement, ends every link of the wallet, whoever sends it (a lost device).
//!
//! `wallet_binding` is public with a row-level security filter: each identity reads only its
//! own links (when they expire, with which domain). The other tables are private.

use crate::link_domains::accepted_domains;
use crate::link_servers::accepted_servers;
use onepulse_domain::siwe::{MAX_MESSAGE_AGE_SECS, rfc3339};
use onepulse_domain::{Address, IdentityHex, LinkPurpose, VerifiedMessage, verify_signed_message};
use spacetimedb::{
    Filter, Identity, ReducerContext, ScheduleAt, Table, Timestamp, client_visibility_filter,
    reducer, table,
};

/// Most live links one wallet may have (a phone, a laptop, a tablet, …).
pub const MAX_LINKS_PER_WALLET: usize = 5;

const MICROS: i64 = 1_000_000;

/// An identity a wallet linked itself to, until `expires_at`. One wallet may be bound to
/// several identities (devices), one identity to several wallets. Public, filtered by
/// [`WALLET_BINDING_VISIBLE_TO_ITS_IDENTITY`].
#[table(name = wallet_binding, public)]
#[derive(Clone, Debug)]
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
    /// The domain that asked for the signature.
    pub domain: String,
    /// The signed message's nonce.
    pub nonce: String,
    /// When the link was made.
    pub bound_at: Timestamp,
    /// When it ends: the signed message's `Expiration Time`.
    pub expires_at: Timestamp,
}

/// Row-level security: a client sees only its own links.
#[client_visibility_filter]
pub const WALLET_BINDING_VISIBLE_TO_ITS_IDENTITY: Filter =
    Filter::Sql("SELECT * FROM wallet_binding WHERE identity = :sender");

/// A nonce a wallet's signed message used, remembered while a message carrying it could still
/// be accepted. Private.
#[table(name = link_nonce)]
pub struct LinkNonce {
    /// `"{lowercase address}:{nonce}"`.
    #[primary_key]
    pub address_nonce: String,
    /// Lowercase `0x…` wallet address.
    #[index(btree)]
    pub address: String,
    /// When the message was accepted.
    pub used_at: Timestamp,
    /// After this, any message with this nonce is refused as too old: the row may go.
    pub forget_after: Timestamp,
}

/// When a wallet last revoked every link: messages issued up to then link nothing. Private.
#[table(name = link_revocation)]
pub struct LinkRevocation {
    /// Lowercase `0x…` wallet address.
    #[primary_key]
    pub address: String,
    /// When the revocation was accepted.
    pub revoked_at: Timestamp,
}

/// A link's end, scheduled: [`expire_wallet_link`] runs at `scheduled_at`. Private.
#[table(name = link_expiry, scheduled(expire_wallet_link))]
pub struct LinkExpiry {
    /// The schedule's id.
    #[primary_key]
    #[auto_inc]
    pub scheduled_id: u64,
    /// The link's `expires_at`.
    pub scheduled_at: ScheduleAt,
    /// The link ([`binding_key`]).
    pub address_identity: String,
}

/// The primary key of a binding: `"{lowercase address}:{64 hex digits of the identity}"`.
pub fn binding_key(address: &Address, identity: Identity) -> String {
    format!("{}:{}", address.as_str(), identity.to_hex())
}

/// Whether `identity` has a live (not expired) link to `address`.
pub fn is_bound(ctx: &ReducerContext, address: &Address, identity: Identity) -> bool {
    ctx.db
        .wallet_binding()
        .address_identity()
        .find(binding_key(address, identity))
        .is_some_and(|binding| binding.expires_at > ctx.timestamp)
}

/// Links the wallet that signed `message` to the caller's identity until the message's
/// `Expiration Time`.
///
/// `message` is the exact EIP-4361 text the wallet signed (see
/// `onepulse_domain::SiweMessage::link`), `signature` its `personal_sign` (`0x` + 130 hex
/// digits). Every check is in the [module documentation](self); a refusal names what was
/// wrong and records nothing. Linking an identity already linked renews the link.
#[reducer]
pub fn bind_wallet(ctx: &ReducerContext, message: String, signature: String) -> Result<(), String> {
    let verified = verify(ctx, &message, &signature)?;
    let identity = match &verified.purpose {
        LinkPurpose::Link(identity) => identity.clone(),
        LinkPurpose::RevokeAll => {
            return Err(
                "this message revokes the wallet's links; send it to revoke_wallet_links".into(),
            );
        }
    };
    let caller = caller_hex(ctx)?;
    if identity != caller {
        return Err(format!(
            "the message links SpacetimeDB identity {identity}, not the caller's identity \
             {caller}: the wallet must sign a message naming the identity that sends it"
        ));
    }
    let address = verified.address.clone();
    if let Some(revocation) = ctx
        .db
        .link_revocation()
        .address()
        .find(address.as_str().to_owned())
        && verified.issued_at_micros <= revocation.revoked_at.to_micros_since_unix_epoch()
    {
        return Err(format!(
            "the message was issued at {}, before wallet {address} revoked its links at {}: \
             sign a new message",
            rfc3339(verified.issued_at_micros.div_euclid(MICROS)),
            rfc3339(
                revocation
                    .revoked_at
                    .to_micros_since_unix_epoch()
                    .div_euclid(MICROS)
            ),
        ));
    }
    let expires_at = verified
        .expires_at_micros
        .map(Timestamp::from_micros_since_unix_epoch)
        .ok_or("a link message must have an Expiration Time")?;
    use_nonce(ctx, &verified)?;

    let key = binding_key(&address, ctx.sender);
    let bindings = ctx.db.wallet_binding();
    let live_others = live_bindings(ctx, &address)
        .into_iter()
        .filter(|binding| binding.address_identity != key)
        .count();
    if live_others >= MAX_LINKS_PER_WALLET {
        return Err(format!(
            "wallet {address} already has {live_others} links, the most allowed \
             ({MAX_LINKS_PER_WALLET}): unlink one from its device (unbind_wallet) or have the \
             wallet revoke them all (revoke_wallet_links), then link again"
        ));
    }
    bindings.address_identity().delete(&key);
    bindings
        .try_insert(WalletBinding {
            address_identity: key.clone(),
            address: address.as_str().to_owned(),
            identity: ctx.sender,
            domain: verified.domain.clone(),
            nonce: verified.nonce.clone(),
            bound_at: ctx.timestamp,
            expires_at,
        })
        .map_err(|e| format!("could not store the binding {key}: {e}"))?;
    ctx.db
        .link_expiry()
        .try_insert(LinkExpiry {
            scheduled_id: 0,
            scheduled_at: expires_at.into(),
            address_identity: key.clone(),
        })
        .map_err(|e| format!("could not schedule the end of the binding {key}: {e}"))?;
    log::info!(
        "bind_wallet {key} until {}",
        rfc3339(expires_at.to_micros_since_unix_epoch().div_euclid(MICROS))
    );
    Ok(())
}

/// Ends every link of the wallet that signed `message` with the revocation statement
/// (`onepulse_domain::SiweMessage::revoke_all`), whoever sends it: the signature is the
/// wallet's word. Messages linking that wallet issued up to now are refused from then on.
/// Checked like [`bind_wallet`]'s message (domain, times, single-use nonce).
#[reducer]
pub fn revoke_wallet_links(
    ctx: &ReducerContext,
    message: String,
    signature: String,
) -> Result<(), String> {
    let verified = verify(ctx, &message, &signature)?;
    if let LinkPurpose::Link(_) = verified.purpose {
        return Err("this message links an identity; send it to bind_wallet".into());
    }
    use_nonce(ctx, &verified)?;
    let address = verified.address.as_str().to_owned();
    let bindings = ctx.db.wallet_binding();
    let keys: Vec<String> = bindings
        .address()
        .filter(&address)
        .map(|binding| binding.address_identity)
        .collect();
    for key in &keys {
        bindings.address_identity().delete(key);
    }
    let revocations = ctx.db.link_revocation();
    revocations.address().delete(&address);
    revocations
        .try_insert(LinkRevocation {
            address: address.clone(),
            revoked_at: ctx.timestamp,
        })
        .map_err(|e| format!("could not record the revocation of {address}: {e}"))?;
    log::info!("revoke_wallet_links {address}: {} links ended", keys.len());
    Ok(())
}

/// Removes the caller's own link to `address`; `Err` if there is none.
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

/// Deletes a link when it expires (scheduled by [`bind_wallet`]); a link renewed since is kept.
/// Only the scheduler may call it.
#[reducer]
pub fn expire_wallet_link(ctx: &ReducerContext, expiry: LinkExpiry) -> Result<(), String> {
    if ctx.sender != ctx.identity() {
        return Err("expire_wallet_link is called by the module's scheduler only".into());
    }
    let bindings = ctx.db.wallet_binding();
    if let Some(binding) = bindings.address_identity().find(&expiry.address_identity)
        && binding.expires_at <= ctx.timestamp
    {
        bindings.address_identity().delete(&expiry.address_identity);
        log::info!("expire_wallet_link {}", expiry.address_identity);
    }
    Ok(())
}

/// The message's checks that need no database, at the server's time with the accepted domains.
fn verify(ctx: &ReducerContext, message: &str, signature: &str) -> Result<VerifiedMessage, String> {
    verify_signed_message(
        message,
        signature,
        &accepted_domains(ctx),
        &accepted_servers(ctx),
        ctx.timestamp.to_micros_since_unix_epoch(),
    )
    .map_err(|e| e.to_string())
}

/// The caller's identity in the form a statement names it.
fn caller_hex(ctx: &ReducerContext) -> Result<IdentityHex, String> {
    IdentityHex::parse(&ctx.sender.to_hex()).map_err(|e| format!("the caller's identity: {e}"))
}

/// Records the message's nonce for its wallet, or refuses a nonce already used. Forgets the
/// wallet's nonces that no acceptable message can carry any more.
fn use_nonce(ctx: &ReducerContext, verified: &VerifiedMessage) -> Result<(), String> {
    let address = verified.address.as_str().to_owned();
    let nonces = ctx.db.link_nonce();
    let stale: Vec<String> = nonces
        .address()
        .filter(&address)
        .filter(|nonce| nonce.forget_after < ctx.timestamp)
        .map(|nonce| nonce.address_nonce)
        .collect();
    for key in stale {
        nonces.address_nonce().delete(&key);
    }
    let key = format!("{address}:{}", verified.nonce);
    if nonces.address_nonce().find(&key).is_some() {
        return Err(format!(
            "nonce {} was already used by a message of wallet {address}: a signed message \
             works once; sign a new one",
            verified.nonce
        ));
    }
    let forget_after = verified
        .issued_at_micros
        .saturating_add(MAX_MESSAGE_AGE_SECS * MICROS);
    nonces
        .try_insert(LinkNonce {
            address_nonce: key.clone(),
            address,
            used_at: ctx.timestamp,
            forget_after: Timestamp::from_micros_since_unix_epoch(forget_after),
        })
        .map(drop)
        .map_err(|e| format!("could not record the nonce {key}: {e}"))
}

/// The wallet's live links; expired ones found on the way are deleted.
fn live_bindings(ctx: &ReducerContext, address: &Address) -> Vec<WalletBinding> {
    let bindings = ctx.db.wallet_binding();
    let (live, expired): (Vec<_>, Vec<_>) = bindings
        .address()
        .filter(address.as_str())
        .partition(|binding| binding.expires_at > ctx.timestamp);
    for binding in expired {
        bindings
            .address_identity()
            .delete(&binding.address_identity);
    }
    live
}
