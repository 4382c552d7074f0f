// Hardhat 2 runs the local chains (`hardhat node`, started by tools/local-chain): one per chain
// id, given in ONEPULSE_CHAIN_ID. Hardhat compiles nothing here: scripts/compile.js builds the
// contract with solc-js, so no compiler is ever downloaded.
"use strict";

const chainId = Number(process.env.ONEPULSE_CHAIN_ID || "31337");
if (!Number.isSafeInteger(chainId) || chainId <= 0) {
  throw new Error(`ONEPULSE_CHAIN_ID must be a positive integer, not ${process.env.ONEPULSE_CHAIN_ID}`);
}

module.exports = {
  // No Solidity sources for Hardhat: an empty folder that always exists.
  paths: { sources: "./scripts/no-hardhat-sources", cache: "./build/hardhat-cache", artifacts: "./build/hardhat-artifacts" },
  networks: {
    hardhat: {
      chainId,
      // Blocks are mined per transaction, with the wall clock's timestamps (GM days are UTC days).
      mining: { auto: true },
    },
  },
};
