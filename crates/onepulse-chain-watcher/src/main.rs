//! `onepulse-chain-watcher --base-rpc URL --base-contract ADDRESS … --token-file FILE`;
//! `onepulse-chain-watcher --help` lists every flag.

use onepulse_chain_watcher::{Config, run};

/// Prints `log` records to standard error, one line each.
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record) {
        // Only this crate's records: the transport's own are for debugging it.
        if self.enabled(record.metadata()) && record.target().starts_with("onepulse_chain_watcher")
        {
            eprintln!(
                "onepulse-chain-watcher: {}: {}",
                record.level().as_str().to_lowercase(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

static LOGGER: StderrLog = StderrLog;

fn main() {
    // On a bad command line this prints a one-line error and the usage and exits with status
    // 2; `--help`/`-h` print the help and exit 0.
    let config = Config::from_command_line(std::env::args_os()).unwrap_or_else(|e| e.exit());
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    if let Err(e) = start(&config) {
        eprintln!("onepulse-chain-watcher: error: {e:#}");
        std::process::exit(1);
    }
}

#[tokio::main]
async fn start(config: &Config) -> anyhow::Result<()> {
    tokio::select! {
        outcome = run(config) => outcome?,
        _ = tokio::signal::ctrl_c() => eprintln!("onepulse-chain-watcher: stopping"),
    }
    Ok(())
}
