//! A SpacetimeDB 1.x client speaking the v1 WebSocket protocol (`v1.bsatn.spacetimedb`).
//!
//! The protocol lives in a sans-IO core, [`ClientCore`]: it takes server frames (bytes) and
//! returns client frames (bytes) and typed [`Event`]s. It owns no socket, no timer and no task, so
//! the hard parts — decoding, the client cache, subscriptions, reducer calls — are tested with
//! plain `cargo test`. Transports are thin shells around it: `native` (tokio, feature `native`)
//! and `browser` (web-sys, feature `browser`, wasm32). Both report failures as one
//! [`ConnectionError`].
//!
//! The connection's lifecycle is in the core too, the way `quinn-proto` handles time: once
//! [`ClientCore::start`]ed, the transport passes the time in ([`ClientCore::handle_timeout`],
//! [`ClientCore::poll_timeout`]) and carries out the [`Action`]s the core asks for (open a
//! socket, close this one); the core owns the retry schedule ([`Backoff`], with jitter from a
//! seed the transport supplies), the [`ConnectionStatus`], the token-refusal policy
//! ([`ClientCore::token_refused`]) and the [`Heartbeat`] that notices a dead link. Both
//! transports therefore behave the same.
//!
//! Row types are the application's: implement [`Row`] (a BSATN-decodable struct with its table
//! name and primary key) and register it with [`ClientCore::register_table`].

mod client_cache;
mod connect;
mod core;
mod error;
mod event;
mod far_frame;
mod frame;
mod heartbeat;
mod lifecycle;
mod one_off;
mod reconnect;
mod reducer;
mod row;
mod row_list;
mod shape;
mod subscription;
#[cfg(test)]
mod tests;
#[cfg(any(feature = "native", all(feature = "browser", target_arch = "wasm32")))]
mod waiters;

#[cfg(all(feature = "browser", target_arch = "wasm32"))]
pub mod browser;
#[cfg(feature = "native")]
pub mod native;
#[cfg(all(feature = "browser", target_arch = "wasm32"))]
mod token_storage;

pub use client_cache::{DEFAULT_MAX_CACHE_BYTES, ROW_OVERHEAD, TableCache};
pub use connect::{Compression, ConnectOptions, Credentials, SUBPROTOCOL};
pub use core::ClientCore;
pub use error::{ClientError, ConnectionError, FrameError};
pub use event::{AnyRow, Cause, Change, Event, ReducerEvent, RowChanges};
pub use far_frame::{FAR_FRAME_MIN, FrameSource};
pub use frame::DEFAULT_MAX_FRAME_BYTES;
pub use heartbeat::{DEFAULT_PROBE_QUERY, Heartbeat};
pub use lifecycle::{Action, DEFAULT_CONNECT_TIMEOUT};
pub use one_off::{OneOffQueryId, OneOffResult, OneOffTable};
pub use reconnect::{Backoff, ConnectionStatus};
pub use reducer::{DEFAULT_REQUEST_TIMEOUT, ReducerOutcome, RequestId};
pub use row::{Row, decode_row};
pub use subscription::{MAX_SUBSCRIPTIONS, SubscriptionId, SubscriptionState};

pub use core::Stats;
/// The SATS crate the `SpacetimeType` derive refers to: `#[sats(crate = stdb_client::spacetimedb_lib)]`.
pub use spacetimedb_lib;
pub use spacetimedb_lib::{ConnectionId, Identity, Timestamp};
/// The derive and traits a [`Row`] type needs, re-exported so applications use the same version.
pub use spacetimedb_lib::{SpacetimeType, de::Deserialize, ser::Serialize};
/// BSATN encoding, e.g. for reducer arguments.
pub use spacetimedb_sats::bsatn;
