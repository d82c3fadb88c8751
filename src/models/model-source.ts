/**
 * Fetching model bytes ourselves instead of handing a URL to the runtime:
 * onnxruntime's `InferenceSession.create(url)` takes no AbortSignal and
 * reports no progress, so a download could neither honour the caller's
 * deadline nor show a progress bar. Browser-safe (fetch, streams, Cache
 * Storage, WebCrypto only) and usable from Node 20, which has all but Cache
 * Storage.
 */
import { ConfigurationError, IntegrityError, ModelLoadError } from '../errors.js';

/** Download progress: bytes received so far and, when the server said, the total. */
export interface ModelProgress {
  /** Bytes received so far. */
  readonly loaded: number;
  /** Size announced by the server (`Content-Length`), or `undefined` when unknown or compressed. */
  readonly total: number | undefined;
}

/** Options of {@link fetchModelBytes}. */
export interface FetchModelBytesOptions {
  /** Aborts the download (and the cache lookup); the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Called as bytes arrive: once at 0, after each chunk, and once more at the end. Errors thrown here are ignored. */
  readonly onProgress?: (progress: ModelProgress) => void;
  /**
   * Keeps the model in Cache Storage so the next page load reads it locally.
   * `true` uses the cache named {@link MODEL_CACHE_NAME}; a string names the
   * cache. Ignored where Cache Storage does not exist (Node, insecure pages).
   */
  readonly cache?: boolean | string;
  /**
   * Expected digest of the bytes, checked before they are used (and before
   * they are cached): Subresource Integrity syntax (`sha256-<base64>`,
   * `sha384-...`, `sha512-...`; several space-separated values mean any of
   * them) or a 64-digit hex SHA-256. A mismatch rejects with {@link IntegrityError}.
   */
  readonly integrity?: string;
  /** The fetch to use. Default: the global `fetch`. */
  readonly fetch?: typeof fetch;
  /** Extra request options (credentials, headers...). `signal` is always the one above. */
  readonly requestInit?: Omit<RequestInit, 'signal'>;
}

/** Name of the Cache Storage cache used by `cache: true`. */
export const MODEL_CACHE_NAME = 'graceful-inference-models';

type Algorithm = 'SHA-256' | 'SHA-384' | 'SHA-512';

interface ExpectedDigest {
  readonly algorithm: Algorithm;
  /** `base64` for SRI values, `hex` for bare hex. */
  readonly encoding: 'base64' | 'hex';
  readonly value: string;
}

const SRI = /^(sha256|sha384|sha512)-([A-Za-z0-9+/_-]+={0,2})(\?.*)?$/;
const HEX256 = /^(?:sha256:)?([0-9a-fA-F]{64})$/;

/**
 * Parses an integrity value (`sha256-<base64>`, `sha384-...`, `sha512-...`,
 * space-separated alternatives, or 64 hex digits, optionally `sha256:`-prefixed).
 *
 * @throws {ModelLoadError} When no part of the value is a supported digest.
 */
export function parseIntegrity(integrity: string): readonly ExpectedDigest[] {
  const out: ExpectedDigest[] = [];
  for (const part of integrity.trim().split(/\s+/)) {
    const sri = SRI.exec(part);
    if (sri) {
      const algorithm = `SHA-${sri[1]!.slice(3)}` as Algorithm;
      // base64url is accepted too; normalise to standard base64 with padding for comparison.
      let value = sri[2]!.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
      while (value.length % 4 !== 0) value += '=';
      out.push({ algorithm, encoding: 'base64', value });
      continue;
    }
    const hex = HEX256.exec(part);
    if (hex) out.push({ algorithm: 'SHA-256', encoding: 'hex', value: hex[1]!.toLowerCase() });
  }
  if (out.length === 0) {
    throw new ModelLoadError(
      `Invalid integrity value ${JSON.stringify(integrity)}: expected "sha256-<base64>" (or sha384/sha512) or 64 hex digits`,
    );
  }
  return out;
}

/**
 * Validates an `integrity` option at construction.
 *
 * @param what - Named in the error, e.g. `onnxModel options`.
 * @throws {ConfigurationError} With the path `integrity` when the value is not a supported digest.
 */
export function checkIntegrityOption(value: unknown, what: string): void {
  if (value === undefined) return;
  let message: string | undefined;
  if (typeof value !== 'string') message = `expected a string, got ${value === null ? 'null' : typeof value}`;
  else {
    try {
      parseIntegrity(value);
    } catch {
      message = 'expected "sha256-<base64>" (or sha384/sha512) or 64 hex digits';
    }
  }
  if (message !== undefined) throw new ConfigurationError(what, [{ path: ['integrity'], message }]);
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return btoa(s);
}

function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += bytes[i]!.toString(16).padStart(2, '0');
  return s;
}

function subtle(): SubtleCrypto {
  const s = (globalThis.crypto as Crypto | undefined)?.subtle;
  if (s === undefined) {
    throw new ModelLoadError(
      'Cannot verify model integrity: crypto.subtle is unavailable (browsers only expose it on secure pages: https or localhost)',
    );
  }
  return s;
}

/**
 * Checks `bytes` against an integrity value with WebCrypto.
 *
 * @param what - How to name the bytes in the error (usually the URL).
 * @throws {IntegrityError} When no expected digest matches; the message gives the expected and the actual digest.
 * @throws {ModelLoadError} When the integrity value is malformed or WebCrypto is unavailable.
 */
export async function verifyIntegrity(bytes: Uint8Array, integrity: string, what = 'model'): Promise<void> {
  const expected = parseIntegrity(integrity);
  const digests = new Map<Algorithm, Uint8Array>();
  for (const e of expected) {
    let digest = digests.get(e.algorithm);
    if (digest === undefined) {
      digest = new Uint8Array(await subtle().digest(e.algorithm, bytes as Uint8Array<ArrayBuffer>));
      digests.set(e.algorithm, digest);
    }
    const actual = e.encoding === 'hex' ? toHex(digest) : toBase64(digest);
    if (actual === e.value) return;
  }
  const first = expected[0]!;
  const digest = digests.get(first.algorithm)!;
  const actual =
    first.encoding === 'hex' ? toHex(digest) : `${first.algorithm.replace('SHA-', 'sha')}-${toBase64(digest)}`;
  throw new IntegrityError(
    `Integrity check failed for ${what}: expected ${integrity.trim()}, got ${actual} (${bytes.byteLength} bytes). The model was not loaded.`,
    { expected: integrity.trim(), actual },
  );
}

function report(onProgress: FetchModelBytesOptions['onProgress'], loaded: number, total: number | undefined): void {
  if (onProgress === undefined) return;
  try {
    onProgress({ loaded, total });
  } catch {
    // A broken progress bar must not fail the download.
  }
}

function announcedLength(response: Response): number | undefined {
  // With Content-Encoding the header counts compressed bytes while the reader yields decompressed ones.
  if (response.headers.get('content-encoding')) return undefined;
  const header = response.headers.get('content-length');
  if (header === null) return undefined;
  const n = Number(header);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Reads a response body to the end, reporting progress; honours `signal` between chunks. */
async function readBody(
  response: Response,
  onProgress: FetchModelBytesOptions['onProgress'],
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  const total = announcedLength(response);
  report(onProgress, 0, total);
  const body = response.body;
  if (body === null) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    report(onProgress, bytes.byteLength, total ?? bytes.byteLength);
    return bytes;
  }
  const reader = body.getReader();
  const onAbort = (): void => {
    reader.cancel(signal!.reason).catch(() => undefined);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    // One allocation when the size is known; chunks joined at the end otherwise (or if the server lied).
    let buffer = total !== undefined ? new Uint8Array(total) : undefined;
    const chunks: Uint8Array[] = [];
    let loaded = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (signal?.aborted) throw signal.reason;
      if (done) break;
      if (buffer !== undefined && loaded + value.byteLength <= buffer.byteLength) {
        buffer.set(value, loaded);
      } else {
        if (buffer !== undefined) {
          chunks.push(buffer.subarray(0, loaded));
          buffer = undefined;
        }
        chunks.push(value);
      }
      loaded += value.byteLength;
      report(onProgress, loaded, total);
    }
    let bytes: Uint8Array;
    if (buffer !== undefined) {
      bytes = loaded === buffer.byteLength ? buffer : buffer.slice(0, loaded);
    } else {
      bytes = new Uint8Array(loaded);
      let offset = 0;
      for (const c of chunks) {
        bytes.set(c, offset);
        offset += c.byteLength;
      }
    }
    if (total === undefined) report(onProgress, loaded, loaded);
    return bytes;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

async function openCache(name: string): Promise<Cache | undefined> {
  const storage = (globalThis as { caches?: CacheStorage }).caches;
  if (storage === undefined) return undefined;
  try {
    return await storage.open(name);
  } catch {
    // Cache Storage can refuse (private mode, storage quota, opaque origins): download instead.
    return undefined;
  }
}

function urlString(url: string | URL): string {
  if (url instanceof URL) return url.href;
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  try {
    return new URL(url, base).href;
  } catch {
    return url;
  }
}

/**
 * Downloads a model's bytes with `fetch`, so the download honours `signal`,
 * reports progress, can be kept in Cache Storage and checked against an
 * integrity digest before anything uses it.
 *
 * With `cache`, a cached copy is used when present; a cached copy that fails
 * the integrity check is deleted and downloaded again. Only bytes that passed
 * the check are stored.
 *
 * @param url - Absolute URL, or a URL relative to the page.
 * @throws {ModelLoadError} On an HTTP error status, a network failure or a malformed integrity value.
 * @throws {IntegrityError} When the bytes do not match `integrity`.
 * @throws The signal's reason when `signal` aborts.
 *
 * @example
 * ```ts
 * const bytes = await fetchModelBytes('/models/risk.onnx', {
 *   signal: AbortSignal.timeout(10_000),
 *   onProgress: ({ loaded, total }) => bar.update(loaded / (total ?? loaded)),
 *   cache: true,
 *   integrity: 'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=',
 * });
 * ```
 */
export async function fetchModelBytes(url: string | URL, options: FetchModelBytesOptions = {}): Promise<Uint8Array> {
  const { signal, onProgress, integrity } = options;
  const href = urlString(url);
  if (integrity !== undefined) parseIntegrity(integrity);
  signal?.throwIfAborted();

  const cacheName = options.cache === true ? MODEL_CACHE_NAME : typeof options.cache === 'string' ? options.cache : undefined;
  const cache = cacheName === undefined ? undefined : await openCache(cacheName);
  signal?.throwIfAborted();
  if (cache !== undefined) {
    const hit = await cache.match(href).catch(() => undefined);
    if (hit !== undefined) {
      const bytes = await readBody(hit, onProgress, signal);
      if (integrity === undefined) return bytes;
      try {
        await verifyIntegrity(bytes, integrity, `${href} (cached)`);
        return bytes;
      } catch {
        // A stale or corrupted copy: forget it and download afresh.
        await cache.delete(href).catch(() => false);
      }
    }
  }

  const doFetch = options.fetch ?? globalThis.fetch;
  if (typeof doFetch !== 'function') throw new ModelLoadError(`Cannot download model ${href}: fetch is not available`);
  let response: Response;
  try {
    response = await doFetch(href, { ...options.requestInit, ...(signal ? { signal } : {}) });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw new ModelLoadError(
      `Could not download model ${href}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  if (!response.ok) {
    response.body?.cancel().catch(() => undefined);
    throw new ModelLoadError(
      `Could not download model ${href}: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = await readBody(response, onProgress, signal);
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw new ModelLoadError(
      `Download of model ${href} failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  if (integrity !== undefined) await verifyIntegrity(bytes, integrity, href);
  if (cache !== undefined) {
    const headers = new Headers({ 'content-type': response.headers.get('content-type') ?? 'application/octet-stream' });
    headers.set('content-length', String(bytes.byteLength));
    // Storing is best effort (quota...): the bytes are already good to use.
    await cache.put(href, new Response(bytes as Uint8Array<ArrayBuffer>, { headers })).catch(() => undefined);
  }
  return bytes;
}
