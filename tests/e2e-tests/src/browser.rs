//! ChromeDriver, and headless Chromium sessions with a fresh profile each.

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// A running `chromedriver` (from `CHROMEDRIVER`, else `/usr/bin/chromedriver`), killed on drop
/// together with every Chromium it started (they share its process group).
pub struct Chromedriver {
    child: Child,
    url: String,
    profiles: PathBuf,
    sessions: AtomicUsize,
}

impl Chromedriver {
    /// Starts chromedriver on a free loopback port and waits until it answers.
    pub async fn start() -> Self {
        let binary =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let port = local_spacetimedb::free_loopback_port().expect("a free port for chromedriver");
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {binary}: {e} (cargo xtask test installs chromium-driver)")
            });
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profiles =
            std::env::temp_dir().join(format!("e2e-tests-{}-{port}", std::process::id()));
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profiles,
            sessions: AtomicUsize::new(0),
        }
    }

    /// A new headless Chromium with an empty profile, `width` × `height` CSS pixels.
    pub async fn session(&self, width: u32, height: u32) -> Client {
        let n = self.sessions.fetch_add(1, Ordering::Relaxed);
        let profile = self.profiles.join(format!("profile-{n}"));
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-quic",
            "--no-first-run",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--window-size={width},{height}"),
        ];
        let mut capabilities = Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), json!({ "args": args }));
        capabilities.insert("pageLoadStrategy".into(), Value::from("normal"));
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("no Chromium session from chromedriver: {e}"))
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id().and_then(|p| libc::pid_t::try_from(p).ok()) {
            // SAFETY: plain system calls on a process id; the group is killed only when it is
            // chromedriver's own (it was started with `process_group(0)`).
            unsafe {
                if pid > 1 && libc::getpgid(pid) == pid {
                    libc::killpg(pid, libc::SIGKILL);
                }
            }
        }
        std::fs::remove_dir_all(&self.profiles).ok();
    }
}
