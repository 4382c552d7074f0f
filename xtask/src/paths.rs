//! Where things live in the repository.

use std::path::{Path, PathBuf};

/// The repository root (the app crate).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The SpacetimeDB module's crate.
pub fn server() -> PathBuf {
    root().join("server")
}

/// `target/` of the workspace.
pub fn target() -> PathBuf {
    root().join("target")
}
