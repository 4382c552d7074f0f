//! A temporary directory for Chromium and ChromeDriver, removed when the run ends.
//!
//! ChromeDriver makes a profile directory per session in `$TMPDIR` (`org.chromium.Chromium.*`,
//! up to ~90 MiB each) and leaves it behind when it is killed instead of asked to quit, as the
//! wasm-bindgen test runner does: a few hundred runs left 2.6 GB in `/tmp` on a machine whose
//! disk then filled. Every command that starts a browser gets `TMPDIR` pointing here.

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// `target/browser-tmp/<xtask's process id>`, removed on drop.
pub struct BrowserTemp(PathBuf);

impl BrowserTemp {
    /// Creates the directory (one per xtask process, so a test and a bench run side by side
    /// never remove each other's).
    pub fn new() -> Result<Self> {
        let dir = crate::paths::target()
            .join("browser-tmp")
            .join(std::process::id().to_string());
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        Ok(Self(dir))
    }

    /// Points `command`'s temporary files (and so its browsers') here.
    pub fn apply(&self, command: &mut Command) {
        command.env("TMPDIR", &self.0);
    }
}

impl Drop for BrowserTemp {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_is_given_to_commands_and_removed_with_what_they_left() {
        let temp = BrowserTemp::new().unwrap();
        let dir = temp.0.clone();
        let mut command = Command::new("sh");
        command.args(["-c", "mkdir \"$TMPDIR/org.chromium.Chromium.left\""]);
        temp.apply(&mut command);
        assert!(command.status().unwrap().success());
        assert!(dir.join("org.chromium.Chromium.left").is_dir());
        drop(temp);
        assert!(!dir.exists());
    }
}
