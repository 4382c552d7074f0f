// OnePulse ⇄ Farcaster mini app SDK bridge.
//
// Bundled by esbuild (`npm run build`) into ONE self-contained ESM file, dist/onepulse-farcaster.js,
// with no `import` statements left, so the wasm app can load it as a wasm-bindgen snippet
// (`#[wasm_bindgen(module = "/farcaster/dist/onepulse-farcaster.js")]`).
//
// Every function is a plain async function taking/returning plain JS values (booleans, strings,
// arrays of strings, plain objects or null) so the Rust side needs no extra glue.
//
// None of them can hang outside a Farcaster host: the SDK talks to `window.parent` over
// postMessage (comlink) and a request nobody answers never settles, so each call is guarded by
// isInMiniApp() and, inside a host, by a timeout (except the wallet calls that wait for the user).

// LEAN BUILD: imports only the SDK's transport modules (comlink endpoint to window.parent /
// ReactNativeWebView, and its EIP-1193 provider built on ox). Importing '@farcaster/miniapp-sdk'
// itself drags in @farcaster/miniapp-core's index: every zod schema and @solana/web3.js (about
// 750 KB minified). The deep paths exist in the pinned version (the package has no "exports" map);
// re-check them when bumping the SDK. isInMiniApp/ready/context below repeat what sdk.js does
// with the same `miniAppHost` object.
import { miniAppHost } from '@farcaster/miniapp-sdk/dist/miniAppHost.js';
import { getEthereumProvider } from '@farcaster/miniapp-sdk/dist/ethereumProvider.js';

// Same logic as isInMiniApp in @farcaster/miniapp-sdk 0.3.0 (dist/sdk.js).
async function sdkIsInMiniApp(timeoutMs) {
  if (typeof window === 'undefined') return false;
  if (!window.ReactNativeWebView && window === window.parent) return false;
  return Promise.race([
    Promise.resolve(miniAppHost.context).then((ctx) => !!ctx),
    new Promise((resolve) => setTimeout(() => resolve(false), timeoutMs)),
  ]).catch(() => false);
}

/** Timeout for the host's answer to the first `context` request (the SDK's default is 1000 ms). */
const DETECT_TIMEOUT_MS = 1000;
/** Timeout for host calls that need no user interaction (context, ready, capabilities). */
const HOST_TIMEOUT_MS = 5000;

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`farcaster: ${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

let inMiniAppPromise = null;

/**
 * True when the page runs inside a Farcaster host (iframe with a miniapp-host parent, or the
 * React Native WebView of the mobile clients). A top-level page answers `false` at once; an
 * iframe whose parent is not a host answers `false` after `timeoutMs`. The first answer is cached.
 * @param {number} [timeoutMs]
 * @returns {Promise<boolean>}
 */
export function isInMiniApp(timeoutMs = DETECT_TIMEOUT_MS) {
  if (inMiniAppPromise === null) {
    inMiniAppPromise = sdkIsInMiniApp(timeoutMs).catch(() => false);
  }
  return inMiniAppPromise;
}

/**
 * Tells the host to hide its splash screen. A no-op outside a host. Call it once the first
 * screen is rendered.
 * @returns {Promise<void>}
 */
export async function ready() {
  if (!(await isInMiniApp())) return;
  await withTimeout(miniAppHost.ready({}), HOST_TIMEOUT_MS, 'ready');
}

/**
 * The Farcaster user who opened the mini app, or null outside a host.
 * @returns {Promise<{fid: number, username: string | null, displayName: string | null} | null>}
 */
export async function context() {
  if (!(await isInMiniApp())) return null;
  const ctx = await withTimeout(Promise.resolve(miniAppHost.context), HOST_TIMEOUT_MS, 'context');
  const user = ctx && ctx.user;
  if (!user || typeof user.fid !== 'number') return null;
  return {
    fid: user.fid,
    username: typeof user.username === 'string' ? user.username : null,
    displayName: typeof user.displayName === 'string' ? user.displayName : null,
  };
}

let providerPromise = null;

async function ethProvider() {
  if (!(await isInMiniApp())) return undefined;
  if (providerPromise === null) {
    providerPromise = withTimeout(
      getEthereumProvider(),
      HOST_TIMEOUT_MS,
      'getEthereumProvider',
    ).catch((e) => {
      providerPromise = null; // let a later call try again
      throw e;
    });
  }
  return providerPromise;
}

/**
 * The host wallet's accounts (0x addresses, as the wallet spells them). Asks `eth_accounts`
 * first and `eth_requestAccounts` (which may show a prompt) only if that is empty. Returns []
 * outside a host or when the host offers no Ethereum wallet. Rejects if the user refuses
 * (error.code 4001).
 * @returns {Promise<string[]>}
 */
export async function ethAccounts() {
  const provider = await ethProvider();
  if (!provider) return [];
  let accounts = await provider.request({ method: 'eth_accounts' });
  if (!Array.isArray(accounts) || accounts.length === 0) {
    accounts = await provider.request({ method: 'eth_requestAccounts' });
  }
  return Array.isArray(accounts) ? accounts.filter((a) => typeof a === 'string') : [];
}

function utf8ToHex(message) {
  const bytes = new TextEncoder().encode(message);
  let hex = '0x';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return hex;
}

/**
 * EIP-191 `personal_sign` of a UTF-8 text message by `address` through the host wallet.
 * Sends params `[0x-hex of the UTF-8 bytes, address]` (the order and encoding of MetaMask,
 * viem and EIP-1193 wallets). Resolves to the 65-byte signature `0x` + r‖s‖v (132 chars).
 * Rejects outside a host, or if the user refuses (error.code 4001).
 * @param {string} address
 * @param {string} message
 * @returns {Promise<string>}
 */
export async function personalSign(address, message) {
  const provider = await ethProvider();
  if (!provider) throw new Error('farcaster: no Ethereum wallet (not in a mini app host)');
  return provider.request({
    method: 'personal_sign',
    params: [utf8ToHex(message), address],
  });
}

/**
 * Any other EIP-1193 request to the host wallet (eth_chainId, wallet_switchEthereumChain,
 * eth_sendTransaction, …). `params` is an array (or undefined). Rejects outside a host.
 * @param {string} method
 * @param {unknown[] | undefined} params
 * @returns {Promise<unknown>}
 */
export async function ethRequest(method, params) {
  const provider = await ethProvider();
  if (!provider) throw new Error('farcaster: no Ethereum wallet (not in a mini app host)');
  return provider.request(params === undefined || params === null ? { method } : { method, params });
}

// ---------------------------------------------------------------- wallets for saying GM on chain

/**
 * A wallet's refusal as a plain object the Rust side decodes: `{code, message, data}`, `code` a
 * number or null, `message` text, `data` the first revert data found as text (`0x…`) or null.
 * Wallets put the data in different places (`data`, `data.data`, `data.originalError.data`,
 * `error.data`, `cause.data`); nothing else of the error is passed on.
 * @param {unknown} e
 */
function walletError(e) {
  const object = e !== null && typeof e === 'object' ? e : {};
  const text = (v) => (typeof v === 'string' ? v : null);
  const dataOf = (v) => {
    if (typeof v === 'string') return v;
    if (v !== null && typeof v === 'object') {
      return text(v.data) ?? text(v.originalError?.data) ?? null;
    }
    return null;
  };
  const message =
    text(object.message) ?? text(object.details) ?? (typeof e === 'string' ? e : 'the wallet failed without a message');
  return {
    code: typeof object.code === 'number' && Number.isInteger(object.code) ? object.code : null,
    message: message.slice(0, 2000),
    data:
      dataOf(object.data) ?? dataOf(object.error?.data) ?? dataOf(object.cause?.data) ?? dataOf(object.info?.error?.data),
  };
}

/** EIP-6963 announcements seen so far, by their uuid: `{info, provider}`. */
const injected = new Map();
let listeningForWallets = false;

/**
 * The browser wallets that announce themselves (EIP-6963): dispatches
 * `eip6963:requestProvider`, waits `waitMs` for `eip6963:announceProvider` answers and returns
 * every wallet seen so far as `{id, name, rdns}` (announcements without a uuid or a provider
 * with `request` are ignored). Outside a browser window: [].
 * @param {number} waitMs
 * @returns {Promise<{id: string, name: string, rdns: string | null}[]>}
 */
export async function injectedWallets(waitMs) {
  if (typeof window === 'undefined') return [];
  if (!listeningForWallets) {
    listeningForWallets = true;
    window.addEventListener('eip6963:announceProvider', (event) => {
      const detail = event && event.detail;
      const info = detail && detail.info;
      const provider = detail && detail.provider;
      if (!info || typeof info.uuid !== 'string' || info.uuid === '') return;
      if (!provider || typeof provider.request !== 'function') return;
      injected.set(info.uuid, { info, provider });
    });
  }
  window.dispatchEvent(new Event('eip6963:requestProvider'));
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  return Array.from(injected.values(), ({ info }) => ({
    id: info.uuid,
    name: typeof info.name === 'string' && info.name.trim() !== '' ? info.name.slice(0, 64) : 'Browser wallet',
    rdns: typeof info.rdns === 'string' ? info.rdns.slice(0, 128) : null,
  }));
}

/**
 * An EIP-1193 request to a wallet: the Farcaster host's when `wallet` is '', else the browser
 * wallet announced (EIP-6963) with that uuid. `paramsJson` is the parameters as a JSON array
 * ('' for none). Rejects with `{code, message, data}` (see walletError).
 * @param {string} wallet
 * @param {string} method
 * @param {string} paramsJson
 * @returns {Promise<unknown>}
 */
export async function walletRequest(wallet, method, paramsJson) {
  let params;
  try {
    params = paramsJson === '' ? undefined : JSON.parse(paramsJson);
  } catch (e) {
    throw walletError(new Error(`bad parameters for ${method}: ${e}`));
  }
  const provider = wallet === '' ? await ethProvider().catch(() => undefined) : injected.get(wallet)?.provider;
  if (!provider) {
    throw walletError(
      new Error(wallet === '' ? 'no wallet: not in a Farcaster host with a wallet' : 'the browser wallet is gone: reload the page'),
    );
  }
  try {
    return await provider.request(params === undefined ? { method } : { method, params });
  } catch (e) {
    throw walletError(e);
  }
}
