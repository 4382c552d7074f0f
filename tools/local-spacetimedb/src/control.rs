//! A tiny HTTP endpoint on loopback that stops and starts a [`LocalServer`], so tests running
//! where processes cannot be controlled (a browser page) can take the database away and bring it
//! back: `POST /stop`, `POST /start` (same port, same data directory). Answers carry
//! `Access-Control-Allow-Origin: *`.

use crate::{Error, LocalServer, ServerConfig};
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The control endpoint; stops its server and itself when dropped.
pub struct ControlServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    server: Arc<Mutex<Option<LocalServer>>>,
}

impl ControlServer {
    /// Starts `config`'s server and the control endpoint on a free loopback port.
    pub fn start(config: ServerConfig) -> Result<Self, Error> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| Error::Io { what, source }
        };
        let first = LocalServer::start(&config, Duration::from_secs(60))?;
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io("binding the control port"))?;
        let port = listener
            .local_addr()
            .map_err(io("reading the control port"))?
            .port();
        listener
            .set_nonblocking(true)
            .map_err(io("configuring the control port"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let server = Arc::new(Mutex::new(Some(first)));
        let thread = {
            let stop = Arc::clone(&stop);
            let server = Arc::clone(&server);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => handle(stream, &config, &server),
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Ok(Self {
            port,
            stop,
            thread: Some(thread),
            server,
        })
    }

    /// `http://127.0.0.1:PORT` of the control endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs `f` with the database server, if it is running.
    pub fn with_server<R>(&self, f: impl FnOnce(&LocalServer) -> R) -> Option<R> {
        self.server
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(f)
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(server) = self.server.lock().unwrap_or_else(|e| e.into_inner()).take() {
            server.stop();
        }
    }
}

fn handle(mut stream: TcpStream, config: &ServerConfig, server: &Mutex<Option<LocalServer>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request_line = String::new();
    let mut reader = BufReader::new(&stream);
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Skip the headers.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let (status, body) = match (method, path) {
        ("OPTIONS", _) => ("204 No Content", String::new()),
        ("POST", "/stop") => {
            if let Some(running) = server.lock().unwrap_or_else(|e| e.into_inner()).take() {
                running.stop();
            }
            ("200 OK", "stopped".to_owned())
        }
        ("POST", "/start") => {
            let mut slot = server.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_some() {
                ("200 OK", "already running".to_owned())
            } else {
                match LocalServer::start(config, Duration::from_secs(60)) {
                    Ok(started) => {
                        *slot = Some(started);
                        ("200 OK", "started".to_owned())
                    }
                    Err(e) => ("500 Internal Server Error", e.to_string()),
                }
            }
        }
        _ => ("404 Not Found", format!("no route {method} {path}")),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nAccess-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: POST, OPTIONS\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}
