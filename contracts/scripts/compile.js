// Compiles src/DailyGM.sol with the pinned solc-js (the npm `solc` package: no compiler is
// downloaded) and writes build/DailyGM.json: {contractName, abi, bytecode, deployedBytecode,
// compiler}. The Rust crates read the ABI and bytecode from there (alloy's `sol!`).
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const solc = require("solc");

const root = path.resolve(__dirname, "..");
const sourceName = "DailyGM.sol";
const contractName = "DailyGM";
const settings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
  outputSelection: {
    "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
  },
};

function main() {
  const source = fs.readFileSync(path.join(root, "src", sourceName), "utf8");
  const input = { language: "Solidity", sources: { [sourceName]: { content: source } }, settings };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  for (const diagnostic of output.errors || []) {
    console.error(diagnostic.formattedMessage || diagnostic.message);
  }
  if (errors.length > 0) {
    throw new Error(`${sourceName} did not compile (${errors.length} error(s), above)`);
  }
  const contract = output.contracts?.[sourceName]?.[contractName];
  if (!contract || !contract.evm?.bytecode?.object) {
    throw new Error(`solc produced no bytecode for ${contractName} in ${sourceName}`);
  }
  const artifact = {
    contractName,
    sourceName,
    abi: contract.abi,
    bytecode: `0x${contract.evm.bytecode.object}`,
    deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
    compiler: { name: "solc-js", version: solc.version(), settings },
  };
  const outDir = path.join(root, "build");
  fs.mkdirSync(outDir, { recursive: true });
  const outFile = path.join(outDir, `${contractName}.json`);
  // Written whole, then renamed: a reader never sees half a file.
  fs.writeFileSync(`${outFile}.tmp`, `${JSON.stringify(artifact, null, 2)}\n`);
  fs.renameSync(`${outFile}.tmp`, outFile);
  console.log(`compiled ${sourceName} with solc ${solc.version()} -> ${path.relative(root, outFile)}`);
}

try {
  main();
} catch (error) {
  console.error(`compile.js: ${error.message}`);
  process.exit(1);
}
