//! Where things live in the repository.

use std::path::{Path, PathBuf};

/// The repository root (the app crate).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The SpacetimeDB module's crate (a workspace of its own).
pub fn module() -> PathBuf {
    root().join("spacetimedb-module")
}

/// `target/` of the workspace.
pub fn target() -> PathBuf {
    root().join("target")
}
