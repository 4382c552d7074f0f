//! The contract's ABI and bytecode come from `contracts/build/DailyGM.json`, written by
//! `npm run build` in `contracts/` (which `cargo xtask` runs). Without it, say how to make it.

use std::path::Path;

fn main() {
    let artifact = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/build/DailyGM.json");
    println!("cargo:rerun-if-changed={}", artifact.display());
    if !artifact.is_file() {
        // A build script can only stop the build by panicking; this is its error message.
        panic!(
            "{} is missing: the DailyGM contract is compiled by solc-js. Run any `cargo xtask` \
             command (it installs the npm packages and compiles the contract), or by hand: \
             `cd contracts && npm ci && npm run build`",
            artifact.display()
        );
    }
}
