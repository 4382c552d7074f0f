//! Errors.

/// A server frame that could not be understood. The connection goes on; the frame is dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame has no bytes at all.
    #[error("empty frame")]
    Empty,
    /// The first byte is not a known compression tag.
    #[error("unknown compression tag {0}")]
    UnknownCompression(u8),
    /// Brotli is not supported: connect with `compression=None` (or `Gzip`, with the `gzip`
    /// feature).
    #[error(
        "brotli-compressed {0} received, which this client cannot read: connect with None (or Gzip, in a build with the `gzip` feature)"
    )]
    Brotli(&'static str),
    /// Gzip-compressed data received by a build without the `gzip` feature: connect with
    /// [`Compression::None`](crate::Compression::None) (its default there).
    #[error(
        "gzip-compressed {0} received, but gzip frames are not supported by this build (feature `gzip`): connect with compression None"
    )]
    GzipUnsupported(&'static str),
    /// Gzip data that does not inflate.
    #[error("gzip {what}: {message}")]
    Gzip {
        /// What was compressed.
        what: &'static str,
        /// The inflater's complaint.
        message: String,
    },
    /// Bytes that do not have the shape of a server message.
    #[error("malformed {what} at byte {offset}: {message}")]
    Malformed {
        /// The message or part being read.
        what: &'static str,
        /// Where in the (decompressed) bytes.
        offset: usize,
        /// What was wrong.
        message: String,
    },
    /// The official decoder refused the bytes.
    #[error("undecodable {what}: {message}")]
    Decode {
        /// The message or part being read.
        what: &'static str,
        /// The decoder's complaint.
        message: String,
    },
    /// A row list whose size hint does not match its data.
    #[error("bad row list in table {table}: {message}")]
    RowList {
        /// The table.
        table: String,
        /// What was wrong.
        message: String,
    },
    /// A frame over one of this client's memory limits: what it inflates to, or its elements
    /// (`what` names the part; see
    /// [`ConnectOptions::max_frame_bytes`](crate::ConnectOptions::max_frame_bytes)), or the
    /// memory its new rows are charged (`what` is `"rows"`; see
    /// [`ConnectOptions::max_cache_bytes`](crate::ConnectOptions::max_cache_bytes)). The whole
    /// update was refused; nothing of it was applied.
    #[error("{what} refused: {message}")]
    Limit {
        /// The message or part being read.
        what: &'static str,
        /// Which limit, and by how much.
        message: String,
    },
    /// Handling a frame panicked (a bug, e.g. in a row type's decoding). The transport rebuilt
    /// the connection's state (cache emptied, subscriptions kept and sent again, calls in flight
    /// ended as [`ReducerOutcome::ConnectionLost`](crate::ReducerOutcome::ConnectionLost)) and
    /// opened a new socket.
    #[error("handling a server frame panicked ({0}); the connection state was rebuilt")]
    Panicked(String),
    /// An update that would leave two rows with one primary key in a table's cache (a table
    /// holds at most one row per key). The update was refused as a whole.
    #[error("table {table} would hold two rows with primary key {key}: {message}")]
    DuplicateKey {
        /// The table.
        table: String,
        /// The key, as `Debug` prints it (shortened).
        key: String,
        /// How it came about.
        message: String,
    },
    /// A row that does not decode as the registered row type.
    #[error("bad row in table {table}: {message}")]
    Row {
        /// The table.
        table: String,
        /// The decoder's complaint.
        message: String,
    },
}

/// A request the client refused to make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Too many live subscriptions on this connection.
    #[error("at most {max} live subscriptions per connection; unsubscribe one first")]
    TooManySubscriptions {
        /// The limit.
        max: usize,
    },
    /// A subscription needs at least one query.
    #[error("a subscription needs at least one query")]
    NoQueries,
    /// The handle is not (or no longer) a live subscription.
    #[error("unknown subscription {0}")]
    UnknownSubscription(u32),
    /// The arguments could not be encoded.
    #[error("could not encode arguments for {reducer}: {message}")]
    Encode {
        /// The reducer.
        reducer: String,
        /// The encoder's complaint.
        message: String,
    },
}

/// Why a call on a connection failed, from either transport (`native` or `browser`).
///
/// Most variants can come from both. A few are specific to one transport, because only that
/// transport can fail that way: the native one reports a failed connect (the browser one keeps
/// retrying instead) and a refused stored token (the browser one drops it and connects
/// anonymously); the browser one refuses unencrypted sockets to other machines in release builds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// The request was refused locally.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The server refused a subscription.
    #[error("subscription failed: {0}")]
    Subscription(String),
    /// The subscription was ended (unsubscribed) before it applied.
    #[error("subscription {0} was ended before it applied")]
    Unsubscribed(u32),
    /// The server refused a one-off query.
    #[error("query failed: {0}")]
    Query(String),
    /// The answer's rows did not decode.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The connection is closed for good.
    #[error("connection closed: {0}")]
    Closed(String),
    /// Native only: SpacetimeDB said the stored token is not valid on this server (its own
    /// answer to the token exchange, e.g. a token signed by another server; a proxy's refusal or
    /// a server error is a [`ConnectionError::Connect`] instead).
    #[error("the server rejected the stored token: {0}")]
    TokenRejected(String),
    /// Native only: the connection could not be made.
    #[error("could not connect: {0}")]
    Connect(String),
    /// Browser only: release builds refuse unencrypted sockets to other machines (SEC-001).
    #[error("refusing unencrypted {0} in a release build: use wss:// or allow it explicitly")]
    InsecureRemote(String),
}
