import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { isConfigurationError, isIntegrityError, isModelLoadError } from '../../src/errors.js';
import { createInference } from '../../src/inference.js';
import { onnxModel } from '../../src/models/onnx-model.node.js';
import { tensor } from '../../src/models/tensor.js';
import {
  MODEL_CACHE_NAME,
  fetchModelBytes,
  parseIntegrity,
  verifyIntegrity,
  type ModelProgress,
} from '../../src/models/model-source.js';

const BYTES = new Uint8Array(300_000);
for (let i = 0; i < BYTES.length; i++) BYTES[i] = (i * 31 + 7) & 0xff;
const SRI = `sha256-${createHash('sha256').update(BYTES).digest('base64')}`;
const HEX = createHash('sha256').update(BYTES).digest('hex');
const WRONG = `sha256-${createHash('sha256').update('something else').digest('base64')}`;

/** Byte equality without vitest's slow element-by-element diff of 300 000 entries. */
function same(a: Uint8Array, b: Uint8Array = BYTES): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

let server: Server;
let base: string;
let requests = 0;
/** Resolves the `/stall` request's hold so tests can end it. */
let releaseStall: (() => void) | undefined;

beforeAll(async () => {
  server = createServer((req, res) => {
    requests++;
    if (req.url === '/model.onnx') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BYTES.length });
      // Several writes so the reader sees several chunks.
      for (let i = 0; i < BYTES.length; i += 65_536) res.write(BYTES.subarray(i, i + 65_536));
      res.end();
    } else if (req.url === '/chunked.onnx') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(BYTES.subarray(0, 1000));
      setTimeout(() => res.end(BYTES.subarray(1000)), 5);
    } else if (req.url === '/stall.onnx') {
      res.writeHead(200, { 'content-length': BYTES.length });
      res.write(BYTES.subarray(0, 1000));
      releaseStall = () => res.destroy();
    } else {
      res.writeHead(404, 'Not Found');
      res.end('not here');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  releaseStall?.();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('fetchModelBytes', () => {
  it('downloads the bytes and reports progress from 0 to the announced total', async () => {
    const events: ModelProgress[] = [];
    const bytes = await fetchModelBytes(`${base}/model.onnx`, { onProgress: (p) => events.push(p) });
    expect(same(bytes)).toBe(true);
    expect(events[0]).toEqual({ loaded: 0, total: BYTES.length });
    expect(events.at(-1)).toEqual({ loaded: BYTES.length, total: BYTES.length });
    expect(events.length).toBeGreaterThan(2);
    for (let i = 1; i < events.length; i++) expect(events[i]!.loaded).toBeGreaterThanOrEqual(events[i - 1]!.loaded);
  });

  it('reports an unknown total without Content-Length, then the final size', async () => {
    const events: ModelProgress[] = [];
    const bytes = await fetchModelBytes(`${base}/chunked.onnx`, { onProgress: (p) => events.push(p) });
    expect(same(bytes)).toBe(true);
    expect(events[0]).toEqual({ loaded: 0, total: undefined });
    expect(events.at(-1)).toEqual({ loaded: BYTES.length, total: BYTES.length });
  });

  it('ignores a throwing progress listener', async () => {
    const bytes = await fetchModelBytes(`${base}/model.onnx`, {
      onProgress: () => {
        throw new Error('broken bar');
      },
    });
    expect(bytes.byteLength).toBe(BYTES.length);
  });

  it('rejects an HTTP error with a ModelLoadError naming the status and URL', async () => {
    const error = await fetchModelBytes(`${base}/missing.onnx`).catch((e: unknown) => e);
    expect(isModelLoadError(error)).toBe(true);
    expect((error as Error).message).toMatch(/missing\.onnx: HTTP 404 Not Found/);
  });

  it('rejects a network failure with a ModelLoadError', async () => {
    const error = await fetchModelBytes('http://127.0.0.1:1/model.onnx').catch((e: unknown) => e);
    expect(isModelLoadError(error)).toBe(true);
    expect((error as Error).message).toMatch(/Could not download model http:\/\/127\.0\.0\.1:1\/model\.onnx/);
  });

  it('stops a download in progress when the signal aborts, with the signal reason', async () => {
    const controller = new AbortController();
    const reason = new Error('deadline');
    const pending = fetchModelBytes(`${base}/stall.onnx`, {
      signal: controller.signal,
      onProgress: ({ loaded }) => {
        if (loaded > 0) controller.abort(reason);
      },
    });
    await expect(pending).rejects.toBe(reason);
    releaseStall?.();
  });

  it('rejects at once when the signal is already aborted', async () => {
    const before = requests;
    await expect(fetchModelBytes(`${base}/model.onnx`, { signal: AbortSignal.abort('gone') })).rejects.toBe('gone');
    expect(requests).toBe(before);
  });

  it('accepts matching SRI and hex integrity values', async () => {
    expect(same(await fetchModelBytes(`${base}/model.onnx`, { integrity: SRI }))).toBe(true);
    expect(same(await fetchModelBytes(`${base}/model.onnx`, { integrity: HEX }))).toBe(true);
    expect(same(await fetchModelBytes(`${base}/model.onnx`, { integrity: `${WRONG} ${SRI}` }))).toBe(true);
  });

  it('rejects mismatching bytes with an IntegrityError giving both digests', async () => {
    const error = await fetchModelBytes(`${base}/model.onnx`, { integrity: WRONG }).catch((e: unknown) => e);
    expect(isIntegrityError(error)).toBe(true);
    expect((error as { code: string }).code).toBe('ERR_INTEGRITY');
    expect((error as Error).message).toContain(WRONG);
    expect((error as Error).message).toContain(SRI);
    expect((error as { actual: string }).actual).toBe(SRI);
  });

  it('rejects a malformed integrity value before downloading', async () => {
    const before = requests;
    const error = await fetchModelBytes(`${base}/model.onnx`, { integrity: 'md5-abc' }).catch((e: unknown) => e);
    expect(isModelLoadError(error)).toBe(true);
    expect((error as Error).message).toMatch(/Invalid integrity value "md5-abc"/);
    expect(requests).toBe(before);
  });
});

describe('fetchModelBytes with Cache Storage', () => {
  /** A Map-backed CacheStorage, enough for the calls fetchModelBytes makes. */
  function fakeCaches() {
    const stores = new Map<string, Map<string, Response>>();
    const caches = {
      async open(name: string) {
        let store = stores.get(name);
        if (!store) stores.set(name, (store = new Map()));
        const s = store;
        return {
          async match(url: string) {
            return s.get(url)?.clone();
          },
          async put(url: string, response: Response) {
            s.set(url, response);
          },
          async delete(url: string) {
            return s.delete(url);
          },
        };
      },
    };
    return { caches, stores };
  }

  it('stores the download and serves the next call from the cache', async () => {
    const { caches, stores } = fakeCaches();
    vi.stubGlobal('caches', caches);
    const before = requests;
    await fetchModelBytes(`${base}/model.onnx`, { cache: true, integrity: SRI });
    expect(requests).toBe(before + 1);
    expect(stores.get(MODEL_CACHE_NAME)?.has(`${base}/model.onnx`)).toBe(true);
    const events: ModelProgress[] = [];
    const again = await fetchModelBytes(`${base}/model.onnx`, { cache: true, integrity: SRI, onProgress: (p) => events.push(p) });
    expect(same(again)).toBe(true);
    expect(requests).toBe(before + 1);
    expect(events.at(-1)).toEqual({ loaded: BYTES.length, total: BYTES.length });
  });

  it('replaces a cached copy that fails the integrity check', async () => {
    const { caches, stores } = fakeCaches();
    vi.stubGlobal('caches', caches);
    const store = new Map<string, Response>([[`${base}/model.onnx`, new Response(new Uint8Array([1, 2, 3]))]]);
    stores.set('custom', store);
    const before = requests;
    const bytes = await fetchModelBytes(`${base}/model.onnx`, { cache: 'custom', integrity: SRI });
    expect(same(bytes)).toBe(true);
    expect(requests).toBe(before + 1);
    const cached = new Uint8Array(await store.get(`${base}/model.onnx`)!.clone().arrayBuffer());
    expect(cached.byteLength).toBe(BYTES.length);
  });

  it('does not cache bytes that fail the integrity check', async () => {
    const { caches, stores } = fakeCaches();
    vi.stubGlobal('caches', caches);
    await expect(fetchModelBytes(`${base}/model.onnx`, { cache: true, integrity: WRONG })).rejects.toMatchObject({ code: 'ERR_INTEGRITY' });
    expect(stores.get(MODEL_CACHE_NAME)?.size ?? 0).toBe(0);
  });

  it('downloads normally when Cache Storage refuses to open', async () => {
    vi.stubGlobal('caches', { open: () => Promise.reject(new Error('SecurityError')) });
    expect(same(await fetchModelBytes(`${base}/model.onnx`, { cache: true }))).toBe(true);
  });
});

describe('integrity helpers', () => {
  it('parses SRI (standard and url-safe base64), sha384/512 and hex', () => {
    expect(parseIntegrity(SRI)).toEqual([{ algorithm: 'SHA-256', encoding: 'base64', value: SRI.slice(7) }]);
    const urlSafe = SRI.slice(7).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    expect(parseIntegrity(`sha256-${urlSafe}`)[0]!.value).toBe(SRI.slice(7));
    expect(parseIntegrity(`sha256:${HEX.toUpperCase()}`)).toEqual([{ algorithm: 'SHA-256', encoding: 'hex', value: HEX }]);
    expect(parseIntegrity('sha384-abcd sha512-efgh').map((d) => d.algorithm)).toEqual(['SHA-384', 'SHA-512']);
  });

  it('verifies sha512 SRI values', async () => {
    const sri512 = `sha512-${createHash('sha512').update(BYTES).digest('base64')}`;
    await expect(verifyIntegrity(BYTES, sri512)).resolves.toBeUndefined();
    await expect(verifyIntegrity(BYTES.subarray(1), sri512, 'x.onnx')).rejects.toThrow(/Integrity check failed for x\.onnx/);
  });

  it('reports the actual digest as hex when hex was expected', async () => {
    const error = await verifyIntegrity(new Uint8Array([1]), '0'.repeat(64)).catch((e: unknown) => e);
    expect((error as { actual: string }).actual).toBe(createHash('sha256').update(new Uint8Array([1])).digest('hex'));
  });
});

describe('onnxModel (Node) with integrity', () => {
  const TINY = fileURLToPath(new URL('../fixtures/models/tiny-mlp.onnx', import.meta.url));
  const tinyBytes = new Uint8Array(readFileSync(TINY));
  const tinySri = `sha256-${createHash('sha256').update(tinyBytes).digest('base64')}`;
  const encode = () => ({ x: tensor('float32', new Float32Array(8).fill(0.5), [1, 8]) });
  const decode = (out: Readonly<Record<string, { data: unknown }>>) => Array.from(out.probs!.data as Float32Array);

  it('loads a file, a URL or bytes whose digest matches', async () => {
    for (const source of [TINY, pathToFileURL(TINY), tinyBytes]) {
      const model = onnxModel({ source, integrity: tinySri, encode, decode });
      await model.load();
      const probs = await model.run(undefined, { signal: new AbortController().signal, deadline: Infinity, context: undefined });
      expect(probs).toHaveLength(2);
      await model.close();
    }
  });

  it('refuses a file whose digest does not match: IntegrityError at load, fallback in the pipeline', async () => {
    const model = onnxModel({ source: TINY, integrity: WRONG, encode, decode });
    const error = await model.load().catch((e: unknown) => e);
    expect(isIntegrityError(error)).toBe(true);
    expect((error as Error).message).toContain(`expected ${WRONG}, got ${tinySri}`);
    expect((error as Error).message).toContain('tiny-mlp.onnx');
    const inference = createInference({ name: 'integrity', versions: { v1: model }, fallback: { name: 'constant', handle: () => [0.5, 0.5] } });
    const outcome = await inference.infer(undefined);
    expect(outcome).toMatchObject({ source: 'fallback', reason: 'model-error', fallbackName: 'constant' });
    await inference.close();
  });

  it('checks a download from an http URL', async () => {
    const model = onnxModel({ source: `${base}/model.onnx`, integrity: SRI, encode, decode });
    // The bytes match; onnxruntime then refuses them (they are not a model): the integrity check came first.
    const error = await model.load().catch((e: unknown) => e);
    expect(isModelLoadError(error)).toBe(true);
    expect((error as Error).message).toMatch(/Could not create an ONNX session/);
    await model.close();
  });

  it('rejects a malformed integrity at construction, with the field path', () => {
    const error = (() => {
      try {
        onnxModel({ source: TINY, integrity: 'sha1-abc', encode, decode });
      } catch (e) {
        return e;
      }
    })();
    expect(isConfigurationError(error)).toBe(true);
    expect((error as { issues: unknown }).issues).toEqual([{ path: ['integrity'], message: expect.stringMatching(/sha256-<base64>/) }]);
  });
});
