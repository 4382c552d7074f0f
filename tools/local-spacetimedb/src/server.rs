//! Running `spacetimedb-standalone` as a child process.

use crate::{Error, HttpApi};
use std::fs::{self, File};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How to run a local server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The `spacetimedb-standalone` executable.
    pub binary: PathBuf,
    /// Data directory: database files, the JWT key pair, `config.toml`. Kept across restarts.
    pub data_dir: PathBuf,
    /// Loopback port to listen on.
    pub port: u16,
    /// Keep data in memory only (for throw-away test servers).
    pub in_memory: bool,
    /// Where the server's output goes.
    pub log_file: PathBuf,
}

/// A running `spacetimedb-standalone`, killed when dropped.
#[derive(Debug)]
pub struct LocalServer {
    child: Child,
    api: HttpApi,
    log_file: PathBuf,
}

impl LocalServer {
    /// Starts the server and waits (up to `timeout`) until `GET /v1/ping` answers.
    pub fn start(config: &ServerConfig, timeout: Duration) -> Result<Self, Error> {
        fs::create_dir_all(&config.data_dir).map_err(|source| Error::Io {
            what: format!("creating {}", config.data_dir.display()),
            source,
        })?;
        let log = File::create(&config.log_file).map_err(|source| Error::Io {
            what: format!("creating {}", config.log_file.display()),
            source,
        })?;
        let log_err = log.try_clone().map_err(|source| Error::Io {
            what: "duplicating the log file handle".into(),
            source,
        })?;
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, config.port));
        let mut command = Command::new(&config.binary);
        command
            .arg("start")
            .arg("--data-dir")
            .arg(&config.data_dir)
            .arg("--listen-addr")
            .arg(listen.to_string())
            .arg("--jwt-pub-key-path")
            .arg(config.data_dir.join("id_ecdsa.pub"))
            .arg("--jwt-priv-key-path")
            .arg(config.data_dir.join("id_ecdsa"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        if config.in_memory {
            command.arg("--in-memory");
        }
        let child = command.spawn().map_err(|source| Error::Io {
            what: format!("starting {}", config.binary.display()),
            source,
        })?;
        let mut server = Self {
            child,
            api: HttpApi::new(&format!("http://{listen}")),
            log_file: config.log_file.clone(),
        };
        server.wait_until_up(timeout)?;
        Ok(server)
    }

    fn wait_until_up(&mut self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::Process(format!(
                    "exited with {status} before answering; see {}:\n{}",
                    self.log_file.display(),
                    tail(&self.log_file, 20)
                )));
            }
            if self.api.ping() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Process(format!(
                    "not answering on {} after {timeout:?}; see {}",
                    self.api.base_url(),
                    self.log_file.display()
                )));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The HTTP API of this server.
    pub fn api(&self) -> &HttpApi {
        &self.api
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        self.api.base_url()
    }

    /// The process id (to stop it from outside, e.g. in fault tests).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the server exits on its own (e.g. after Ctrl-C).
    pub fn wait(mut self) -> Result<std::process::ExitStatus, Error> {
        self.child.wait().map_err(|source| Error::Io {
            what: "waiting for spacetimedb-standalone".into(),
            source,
        })
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the server and waits for it to exit.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        if self.is_running() {
            // Killing a process that already exited only returns an error: nothing to do then.
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_loopback_port() -> Result<u16, Error> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| Error::Io {
            what: "finding a free loopback port".into(),
            source,
        })
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
