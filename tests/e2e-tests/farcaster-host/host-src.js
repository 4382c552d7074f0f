// A test Farcaster host: what a Farcaster client does around a mini app, minus the UI.
//
// host.html?app=<url>[&chainId=8453][&rpc8453=<url>][&rpc42220=<url>][&rpc10=<url>]
//          [&tx=reject|fake][&fid=12345]
//
// Embeds <url> in a 424×695 iframe and exposes to it, through @farcaster/miniapp-host's
// exposeToIframe (comlink over postMessage, restricted to the app's origin), a fixed user
// context and an EIP-1193 provider for a test wallet with a PUBLICLY KNOWN private key
// (Hardhat/Anvil account #0; never use it for anything real).
//
// The wallet is on one chain at a time (chainId, switched by wallet_switchEthereumChain). When
// the page has an RPC URL for that chain (rpc<chainId>=, a local Hardhat node of
// tools/local-chain, where account #0 is unlocked), the chain's methods — eth_sendTransaction,
// eth_call, eth_estimateGas, eth_getTransactionReceipt, eth_blockNumber, … — are forwarded to
// it as they are; its errors keep their code, message and data. Without one,
// eth_sendTransaction is refused (4001) or, with tx=fake, answered with a made-up hash;
// tx=reject refuses it even with an RPC URL (the user saying no).
//
// Everything a WebDriver/Playwright test needs is observable:
//   document.body.dataset.ready        "true" once the app called sdk.actions.ready()
//   document.body.dataset.readyCount   how many times it did
//   document.body.dataset.rpcMethods   comma-separated EIP-1193 methods, in call order
//   document.body.dataset.hostCalls    comma-separated host (sdk) calls, in call order
//   document.body.dataset.walletAddress  the test wallet's checksummed address
//   #wallet-address, #ready-state, #log (one JSON line per event)
//   window.__fcHost = { address, privateKey, chainId, appUrl, appOrigin, ready, readyCount,
//                       readyOptions, hostCalls: [..], rpc: [{method, params, result?, error?}],
//                       messages: [{type, path}] (raw comlink messages from the iframe),
//                       signatures: [{message (hex as sent), address, signature}],
//                       transactions: [params] }

import { exposeToIframe } from '@farcaster/miniapp-host';
import * as secp from '@noble/secp256k1';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';

secp.hashes.hmacSha256 = (key, msg) => hmac(sha256, key, msg);
secp.hashes.sha256 = sha256;

// ---------------------------------------------------------------- test wallet (EIP-191 signer)

export const TEST_PRIVATE_KEY =
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

const hexToBytes = (hex) => {
  const h = hex.startsWith('0x') || hex.startsWith('0X') ? hex.slice(2) : hex;
  if (h.length % 2 !== 0 || /[^0-9a-fA-F]/.test(h)) throw new Error(`not hex: ${hex}`);
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
};
const bytesToHex = (bytes) =>
  '0x' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const utf8 = (s) => new TextEncoder().encode(s);

function toChecksumAddress(lowerHex40) {
  const hash = bytesToHex(keccak_256(utf8(lowerHex40))).slice(2);
  let out = '0x';
  for (let i = 0; i < 40; i++) {
    const c = lowerHex40[i];
    out += parseInt(hash[i], 16) >= 8 ? c.toUpperCase() : c;
  }
  return out;
}

function addressOf(privateKeyHex) {
  const pub = secp.getPublicKey(hexToBytes(privateKeyHex), false); // 65 bytes, 0x04 ‖ X ‖ Y
  const hash = keccak_256(pub.slice(1));
  return toChecksumAddress(bytesToHex(hash.slice(12)).slice(2));
}

const PRIV = hexToBytes(TEST_PRIVATE_KEY);
export const TEST_ADDRESS = addressOf(TEST_PRIVATE_KEY);

/** EIP-191 version 0x45 ("personal_sign") hash of raw message bytes. */
function personalMessageHash(bytes) {
  const prefix = utf8(`\x19Ethereum Signed Message:\n${bytes.length}`);
  const buf = new Uint8Array(prefix.length + bytes.length);
  buf.set(prefix);
  buf.set(bytes, prefix.length);
  return keccak_256(buf);
}

/** 0x ‖ r(32) ‖ s(32) ‖ v(1), v ∈ {27, 28}, low-s, RFC 6979 deterministic. */
function signPersonal(bytes) {
  const rec = secp.sign(personalMessageHash(bytes), PRIV, { prehash: false, format: 'recovered' });
  // noble-secp256k1 v3 'recovered' layout is recovery ‖ r ‖ s
  const out = new Uint8Array(65);
  out.set(rec.slice(1, 65), 0);
  out[64] = 27 + rec[0];
  return bytesToHex(out);
}

// ---------------------------------------------------------------- observable state

const params = new URLSearchParams(location.search);
const appUrl = params.get('app');
const CHAINS = { 8453: 'Base', 42220: 'Celo', 10: 'OP Mainnet' };
let chainId = Number(params.get('chainId') || 8453);
const txMode = params.get('tx') || 'forward';
/** RPC URL per chain id (rpc8453=…), only http(s) URLs. */
const rpcUrls = {};
for (const id of Object.keys(CHAINS)) {
  const url = params.get(`rpc${id}`);
  if (url && /^https?:\/\//.test(url)) rpcUrls[id] = url;
}

const state = {
  address: TEST_ADDRESS,
  privateKey: TEST_PRIVATE_KEY,
  chainId,
  appUrl,
  appOrigin: null,
  ready: false,
  readyCount: 0,
  readyOptions: null,
  hostCalls: [],
  rpc: [],
  messages: [],
  signatures: [],
  transactions: [],
  errors: [],
};
window.__fcHost = state;

const logEl = () => document.getElementById('log');
function log(event) {
  const line = JSON.stringify(event);
  const el = logEl();
  if (el) el.textContent += line + '\n';
}
function hostCall(name, args) {
  state.hostCalls.push(name);
  document.body.dataset.hostCalls = state.hostCalls.join(',');
  log({ host: name, args });
}

// ---------------------------------------------------------------- EIP-1193 provider

class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    // What @farcaster/miniapp-host passes on to the app as the error's message.
    this.details = message;
    if (data !== undefined) this.data = data;
  }
}

/** Methods a wallet answers from its chain's node. */
const FORWARDED = new Set([
  'eth_sendTransaction', 'eth_call', 'eth_estimateGas', 'eth_getTransactionReceipt',
  'eth_getTransactionByHash', 'eth_blockNumber', 'eth_getBalance', 'eth_getCode',
  'eth_getTransactionCount', 'eth_gasPrice', 'eth_maxPriorityFeePerGas', 'eth_feeHistory',
  'eth_getBlockByNumber', 'eth_getLogs',
]);
let rpcId = 0;

/** `method(params)` on the node of the wallet's current chain. */
async function forward(url, method, p) {
  rpcId += 1;
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: rpcId, method, params: p }),
  });
  const answer = await response.json();
  if (answer.error) {
    throw new RpcError(answer.error.code ?? -32603, answer.error.message ?? 'node error', answer.error.data);
  }
  return answer.result;
}

const listeners = new Map();
const ethProvider = {
  on(event, fn) {
    if (!listeners.has(event)) listeners.set(event, new Set());
    listeners.get(event).add(fn);
    return ethProvider;
  },
  removeListener(event, fn) {
    listeners.get(event)?.delete(fn);
    return ethProvider;
  },
  emit(event, ...args) {
    for (const fn of listeners.get(event) ?? []) fn(...args);
  },
  async request({ method, params: rpcParams }) {
    const entry = { method, params: rpcParams ?? null };
    state.rpc.push(entry);
    document.body.dataset.rpcMethods = state.rpc.map((r) => r.method).join(',');
    try {
      const result = await handle(method, rpcParams ?? []);
      entry.result = result;
      log({ rpc: method, params: rpcParams, result });
      return result;
    } catch (e) {
      entry.error = { code: e.code ?? -32603, message: e.message };
      log({ rpc: method, params: rpcParams, error: entry.error });
      throw e;
    }
  },
};

async function handle(method, p) {
  const rpcUrl = rpcUrls[chainId];
  if (method === 'eth_sendTransaction') state.transactions.push(p[0]);
  if (FORWARDED.has(method) && rpcUrl && !(method === 'eth_sendTransaction' && txMode === 'reject')) {
    return forward(rpcUrl, method, p);
  }
  switch (method) {
    case 'eth_accounts':
    case 'eth_requestAccounts':
      return [TEST_ADDRESS];
    case 'eth_chainId':
      return '0x' + chainId.toString(16);
    case 'net_version':
      return String(chainId);
    case 'wallet_switchEthereumChain': {
      const id = Number(BigInt(p[0]?.chainId));
      if (!CHAINS[id]) throw new RpcError(4902, `unrecognized chain ${p[0]?.chainId}`);
      if (id !== chainId) {
        chainId = id;
        state.chainId = id;
        ethProvider.emit('chainChanged', '0x' + id.toString(16));
      }
      return null;
    }
    case 'personal_sign': {
      // EIP-1193 / MetaMask order: [data, address]; data is 0x-hex bytes (a non-hex string is
      // taken as UTF-8 text, as MetaMask does).
      const [data, address] = p;
      if (typeof data !== 'string' || typeof address !== 'string')
        throw new RpcError(-32602, 'personal_sign expects [data, address]');
      if (address.toLowerCase() !== TEST_ADDRESS.toLowerCase())
        throw new RpcError(4100, `unknown account ${address}`);
      const bytes = /^0x([0-9a-fA-F]{2})*$/.test(data) ? hexToBytes(data) : utf8(data);
      const signature = signPersonal(bytes);
      state.signatures.push({ message: data, address, signature });
      return signature;
    }
    case 'eth_sendTransaction': {
      if (txMode === 'fake') return bytesToHex(keccak_256(utf8(JSON.stringify(p[0]) + state.transactions.length)));
      throw new RpcError(4001, 'test host: transaction rejected (give ?rpc<chainId>= to send it, or ?tx=fake for a fake hash)');
    }
    default:
      throw new RpcError(4200, `test host: unsupported method ${method}`);
  }
}

// ---------------------------------------------------------------- the host SDK object

const context = {
  user: { fid: Number(params.get('fid') || 12345), username: 'alice', displayName: 'Alice' },
  client: {
    platformType: 'web',
    clientFid: 9152,
    added: false,
    safeAreaInsets: { top: 0, bottom: 0, left: 0, right: 0 },
  },
  location: { type: 'launcher' },
  features: { haptics: false },
};

const noop = (name) => (...args) => {
  hostCall(name, args);
};

const hostSdk = {
  context,
  ready: (options) => {
    hostCall('ready', [options]);
    state.ready = true;
    state.readyCount += 1;
    state.readyOptions = options ?? null;
    document.body.dataset.ready = 'true';
    document.body.dataset.readyCount = String(state.readyCount);
    document.getElementById('ready-state').textContent = 'ready';
    document.getElementById('splash').hidden = true;
  },
  getCapabilities: async () => {
    hostCall('getCapabilities', []);
    return ['wallet.getEthereumProvider', 'actions.ready', 'actions.openUrl', 'actions.close',
      'actions.composeCast', 'actions.addMiniApp', 'actions.viewProfile'];
  },
  getChains: async () => {
    hostCall('getChains', []);
    return Object.keys(CHAINS).map((id) => `eip155:${id}`);
  },
  close: noop('close'),
  openUrl: noop('openUrl'),
  setPrimaryButton: noop('setPrimaryButton'),
  eip6963RequestProvider: noop('eip6963RequestProvider'),
  viewProfile: async (...a) => hostCall('viewProfile', a),
  viewCast: async (...a) => hostCall('viewCast', a),
  viewToken: async (...a) => hostCall('viewToken', a),
  sendToken: async (...a) => { hostCall('sendToken', a); return { success: false, reason: 'rejected_by_user' }; },
  swapToken: async (...a) => { hostCall('swapToken', a); return { success: false, reason: 'rejected_by_user' }; },
  openMiniApp: async (...a) => hostCall('openMiniApp', a),
  composeCast: async (...a) => { hostCall('composeCast', a); return { cast: null }; },
  addMiniApp: async (...a) => { hostCall('addMiniApp', a); return {}; },
  signIn: async (...a) => { hostCall('signIn', a); throw new Error('test host: signIn not supported'); },
  signManifest: async (...a) => { hostCall('signManifest', a); throw new Error('test host: signManifest not supported'); },
  requestCameraAndMicrophoneAccess: async (...a) => hostCall('requestCameraAndMicrophoneAccess', a),
  impactOccurred: async (...a) => hostCall('impactOccurred', a),
  notificationOccurred: async (...a) => hostCall('notificationOccurred', a),
  selectionChanged: async (...a) => hostCall('selectionChanged', a),
  updateBackState: async (...a) => hostCall('updateBackState', a),
  ethProviderRequest: async (req) => ethProvider.request(req), // v1 fallback path of old SDKs
};

// ---------------------------------------------------------------- wire it up

function start() {
  document.body.dataset.walletAddress = TEST_ADDRESS;
  document.getElementById('wallet-address').textContent = TEST_ADDRESS;
  if (!appUrl) {
    document.getElementById('ready-state').textContent = 'missing ?app=<url>';
    document.body.dataset.error = 'missing app';
    return;
  }
  const appOrigin = new URL(appUrl, location.href).origin;
  state.appOrigin = appOrigin;

  const iframe = document.createElement('iframe');
  iframe.id = 'miniapp';
  iframe.width = '424';
  iframe.height = '695';
  iframe.setAttribute('allow', 'clipboard-write; web-share');
  document.getElementById('frame-box').appendChild(iframe);

  // Record every raw message the app sends (comlink GET/APPLY/… with a path) before
  // exposing, so even calls the host object cannot see (a `context` read) are visible.
  window.addEventListener('message', (ev) => {
    if (ev.source !== iframe.contentWindow) return;
    const d = ev.data;
    if (d && typeof d === 'object' && 'type' in d) {
      state.messages.push({ origin: ev.origin, type: d.type, path: Array.isArray(d.path) ? d.path.join('.') : undefined });
    }
  });

  // miniAppOrigin: comlink drops messages from any other origin; replies are posted with
  // targetOrigin = appOrigin.
  exposeToIframe({ iframe, sdk: hostSdk, ethProvider, miniAppOrigin: appOrigin, debug: false });
  iframe.src = new URL(appUrl, location.href).href;
  document.body.dataset.hostStarted = 'true';
}

start();
