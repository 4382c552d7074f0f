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
    /// Brotli is not supported: connect with `compression=None` or `Gzip`.
    #[error(
        "brotli-compressed {0} received, but this client only supports gzip: connect with Gzip or None"
    )]
    Brotli(&'static str),
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
