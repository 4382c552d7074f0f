//! `local-chain [--chain-id ID]… [--first-port N] [--log-dir DIR]`: local chains with DailyGM
//! deployed, in the foreground, until standard input closes or Ctrl-C.

use anyhow::{Context, Result};
use clap::Parser;
use local_chain::{CHAIN_IDS, ChainConfig, start_all};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Runs a Hardhat node per chain id on 127.0.0.1 with DailyGM deployed from Hardhat's account
/// #0; prints one JSON line per chain ({"chain_id", "rpc_url", "contract", "deploy_block"})
/// and then `ready`; stops the nodes when standard input closes or on Ctrl-C.
#[derive(Debug, Parser)]
#[command(name = "local-chain", version, long_about = None)]
struct Cli {
    /// A chain id to run; repeat for several (default: 8453, 42220 and 10).
    #[arg(long = "chain-id", value_name = "ID", value_parser = clap::value_parser!(u64).range(1..))]
    chain_ids: Vec<u64>,
    /// Port of the first chain's node on 127.0.0.1, the next chains on the following ports
    /// (default: free ports).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    first_port: Option<u16>,
    /// Where the nodes' logs go (hardhat-{chain id}.log).
    #[arg(long, value_name = "DIR", default_value = "target/local-chain")]
    log_dir: PathBuf,
    /// How long a node may take to start, in seconds.
    #[arg(long, value_name = "S", default_value_t = 60)]
    start_timeout: u64,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(&cli) {
        eprintln!("local-chain: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: &Cli) -> Result<()> {
    let ids = if cli.chain_ids.is_empty() {
        CHAIN_IDS.to_vec()
    } else {
        cli.chain_ids.clone()
    };
    let mut configs = Vec::with_capacity(ids.len());
    for (i, &id) in ids.iter().enumerate() {
        let mut config = ChainConfig::new(id, &cli.log_dir);
        if let Some(first) = cli.first_port {
            let offset = u16::try_from(i).context("too many chains")?;
            config.port = first
                .checked_add(offset)
                .context("--first-port leaves no room for every chain")?;
        }
        configs.push(config);
    }
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<&'static str>();
    let on_signal = stop_tx.clone();
    ctrlc::set_handler(move || {
        // Only fails when main is already leaving.
        let _ = on_signal.send("interrupted");
    })
    .context("installing the Ctrl-C handler")?;

    let chains = start_all(&configs, Duration::from_secs(cli.start_timeout))?;
    let mut out = std::io::stdout().lock();
    for chain in &chains {
        let line = serde_json::json!({
            "chain_id": chain.chain_id(),
            "rpc_url": chain.url(),
            "contract": format!("{:#x}", chain.contract()),
            "deploy_block": chain.deploy_block(),
        });
        writeln!(out, "{line}").context("writing to standard output")?;
    }
    writeln!(out, "ready").context("writing to standard output")?;
    out.flush().context("writing to standard output")?;
    drop(out);

    std::thread::spawn(move || {
        // Whatever arrives on stdin is ignored; its end (the parent went away) stops us.
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
        }
        let _ = stop_tx.send("standard input closed");
    });
    let reason = stop_rx.recv().unwrap_or("stopped");
    eprintln!("local-chain: {reason}: stopping the nodes");
    drop(chains);
    Ok(())
}
