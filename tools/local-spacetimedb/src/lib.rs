//! A local SpacetimeDB for development, tests and benchmarks.
//!
//! [`LocalServer`] runs `spacetimedb-standalone` on a loopback address and stops it when dropped;
//! [`HttpApi`] speaks the server's HTTP API: identities, publishing a module, calling reducers and
//! SQL; [`ControlServer`] lets a browser test stop and start one. Used by `cargo xtask` and by
//! the integration tests.

mod control;
mod http_api;
mod server;

pub use control::ControlServer;
pub use http_api::{CallOutcome, HttpApi, NewIdentity, SqlResult, identity_arg};
pub use server::{LocalServer, ServerConfig, free_loopback_port};

/// What went wrong talking to or running the local server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request did not get an HTTP answer.
    #[error("{what}: {source}")]
    Transport {
        /// The request.
        what: String,
        /// The transport error.
        source: Box<ureq::Error>,
    },
    /// The server answered with an unexpected status.
    #[error("{what}: HTTP {status}: {body}")]
    Status {
        /// The request.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The response body.
        body: String,
    },
    /// The server's answer was not the JSON expected.
    #[error("{what}: unexpected answer {body:?}: {source}")]
    Json {
        /// The request.
        what: String,
        /// The response body.
        body: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The server process could not be started or stopped answering.
    #[error("spacetimedb-standalone: {0}")]
    Process(String),
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// The operation.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
}
