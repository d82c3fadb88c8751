/**
 * The browser test page: exposes `window.gi`, a set of functions the
 * Chromium tests call through `page.evaluate`. Everything here goes through
 * the SDK's public browser API: the built `dist/browser.js` (see `vite.config.ts`).
 */
import {
  bucketOf,
  createInference,
  functionModel,
  onnxModel,
  rules,
  tensor,
  type Outcome,
  type ModelProgress,
  type TensorData,
  type TensorType,
} from '../../../src/browser.js';

/** A tensor as JSON can carry it (int64 as numbers). */
export interface JsonTensor {
  readonly type: 'float32' | 'int64';
  readonly data: readonly number[];
  readonly dims: readonly number[];
}

/** An error as JSON can carry it. */
export interface JsonError {
  readonly name: string;
  readonly code: string | undefined;
  readonly message: string;
}

type JsonOutcome = Omit<Outcome<unknown>, 'value'> & { readonly value: unknown };

const toJsonError = (e: unknown): JsonError => ({
  name: e instanceof Error ? e.name : typeof e,
  code: (e as { code?: string } | null)?.code,
  message: e instanceof Error ? e.message : String(e),
});

const toTensor = (t: JsonTensor): TensorData =>
  tensor(t.type as TensorType, t.type === 'int64' ? t.data.map((v) => BigInt(v)) : [...t.data], t.dims) as TensorData;

const plain = (o: Outcome<unknown>): JsonOutcome => ({ ...o, error: undefined } as JsonOutcome);

/** Model options shared by the helpers: feeds given as JSON, one output read back. */
/** Where `vite-plugin-ort` serves onnxruntime-web's runtime: an absolute URL, as wasmPaths needs. */
const WASM_PATHS = new URL('./ort/', location.href).href;

function jsonModel(url: string, feeds: Readonly<Record<string, JsonTensor>>, output: string, extra: Record<string, unknown> = {}) {
  return onnxModel<null, { data: number[]; dims: number[] }>({
    source: url,
    wasmPaths: WASM_PATHS,
    encode: () => Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, toTensor(t)])),
    decode: (out) => ({ data: Array.from(out[output]!.data as Float32Array), dims: [...out[output]!.dims] }),
    ...extra,
  });
}

const api = {
  /** Runs a model once; returns the output as numbers (NaN survives: evaluate returns it as NaN). */
  async run(url: string, feeds: Record<string, JsonTensor>, output: string, extra: Record<string, unknown> = {}) {
    const model = jsonModel(url, feeds, output, extra);
    try {
      await model.load();
      return await model.run(null, { signal: new AbortController().signal, deadline: Infinity, context: undefined });
    } finally {
      await model.close();
    }
  },

  /** flagd-compatible bucket picks, straight from the routing code. */
  buckets(flagKey: string, keys: readonly string[], weights: readonly number[]): number[] {
    return keys.map((k) => bucketOf(flagKey, k, weights));
  },

  /** The versions `createInference` routes each key to with a split. */
  async routes(name: string, split: Record<string, number>, keys: readonly string[]) {
    const versions = Object.fromEntries(Object.keys(split).map((v) => [v, functionModel(() => v)]));
    const inference = createInference<null, string>({ name, versions, routing: { split } });
    const out: { version: string; route: string; value: string }[] = [];
    for (const key of keys) {
      const o = await inference.infer(null, { context: { targetingKey: key } });
      out.push({ version: o.version, route: o.route, value: o.value });
    }
    await inference.close();
    return out;
  },

  /**
   * A rule set (JSON text) as the fallback of an inference whose model always
   * fails: the answer, rule id and rule set name for each input.
   */
  async rules(ruleSet: string, inputs: readonly unknown[]) {
    const inference = createInference<unknown, unknown>({
      name: 'rules-parity',
      versions: {
        v1: functionModel(() => {
          throw new Error('model down');
        }),
      },
      breaker: false,
      fallback: rules(ruleSet),
    });
    const out: { value: unknown; ruleId: string | undefined; fallbackName: string | undefined; reason: string | undefined }[] = [];
    for (const input of inputs) {
      const o = await inference.infer(input, { context: { targetingKey: 'parity' } });
      out.push({ value: o.value, ruleId: o.ruleId, fallbackName: o.fallbackName, reason: o.reason });
    }
    await inference.close();
    return out;
  },

  /** A guarded call whose model is `url`, with a constant fallback; `ready` errors are reported, not thrown. */
  async guarded(url: string, feeds: Record<string, JsonTensor>, output: string, options: { timeoutMs?: number; extra?: Record<string, unknown>; readyTimeoutMs?: number } = {}) {
    const inference = createInference<null, unknown>({
      name: 'page',
      versions: { v1: jsonModel(url, feeds, output, options.extra) },
      timeoutMs: options.timeoutMs ?? 5_000,
      fallback: { name: 'constant', explain: () => ({ value: 'fallback', ruleId: 'constant-rule' }), handle: () => 'fallback' },
    });
    let readyError: JsonError | undefined;
    let fallbackError: JsonError | undefined;
    inference.on('fallback', ({ error }) => (fallbackError = toJsonError(error)));
    const started = performance.now();
    try {
      await inference.ready({ signal: AbortSignal.timeout(options.readyTimeoutMs ?? 20_000) });
    } catch (e) {
      readyError = toJsonError(e);
    }
    const readyMs = performance.now() - started;
    const outcome = plain(await inference.infer(null));
    await inference.close();
    return { readyError, readyMs, outcome, fallbackError };
  },

  /** Loads a model and records its progress events. */
  async progress(url: string) {
    const events: ModelProgress[] = [];
    const model = onnxModel<null, null>({ source: url, wasmPaths: WASM_PATHS, encode: () => ({}), decode: () => null, onProgress: (p) => events.push(p) });
    try {
      await model.load();
    } finally {
      await model.close();
    }
    return events;
  },

  /** `ready({ signal })` on a download that never finishes: how long until it rejects, and with what. */
  async abortReady(url: string, ms: number) {
    const model = onnxModel<null, null>({ source: url, wasmPaths: WASM_PATHS, encode: () => ({}), decode: () => null });
    const started = performance.now();
    const error = await model.load({ signal: AbortSignal.timeout(ms) }).then(
      () => undefined,
      (e: unknown) => toJsonError(e),
    );
    const elapsed = performance.now() - started;
    await model.close();
    return { error, elapsed };
  },

  /** Loads the same URL twice with `cache: true` (a fresh model each time). */
  async cachedTwice(url: string, integrity: string) {
    await caches.delete('graceful-inference-models');
    for (let i = 0; i < 2; i++) {
      const model = onnxModel<null, null>({ source: url, wasmPaths: WASM_PATHS, encode: () => ({}), decode: () => null, cache: true, integrity });
      await model.load();
      await model.close();
    }
    const cache = await caches.open('graceful-inference-models');
    return (await cache.keys()).map((r) => r.url);
  },

  /** What the page can do with threads. */
  isolation() {
    return { crossOriginIsolated: globalThis.crossOriginIsolated, sharedArrayBuffer: typeof SharedArrayBuffer === 'function' };
  },
};

declare global {
  interface Window {
    gi: typeof api;
  }
}

window.gi = api;
document.getElementById('state')!.textContent = 'ready';
