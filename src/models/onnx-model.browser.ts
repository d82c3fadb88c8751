/**
 * `onnxModel` for the browser, bound to onnxruntime-web. Same contract as the
 * Node `onnxModel` (it reuses the runtime-agnostic core), plus what a page
 * needs: the SDK downloads the model itself so the download honours
 * `ready({ signal })`, reports progress, can be kept in Cache Storage and is
 * checked against an `integrity` digest before onnxruntime sees a byte.
 *
 * onnxruntime-web is imported on first load only (a separate chunk for the
 * application's bundler), and never bundled into this SDK, so the bundler
 * emits its `.wasm` files itself.
 */
import * as z from 'zod/mini';
import { checkSchema } from '../schema-check.js';
import { ConfigurationError, ModelLoadError, isConfigurationError, type Issue } from '../errors.js';
import type { RunContext } from '../types.js';
import { fetchModelBytes, parseIntegrity, verifyIntegrity, type ModelProgress } from './model-source.js';
import {
  createOnnxModel,
  validateOnnxModelOptions,
  type OnnxModel,
  type OnnxModelOptions,
  type OnnxModelSource,
} from './onnx-model.js';
import type { ModelBytesOrPath, OrtLike } from './onnx-session.js';
import { spawnWebWorker } from './worker-spawn.browser.js';

/** The part of onnxruntime-web's `env` set from {@link BrowserOnnxModelOptions}. */
interface OrtWebEnvLike {
  readonly wasm: { wasmPaths?: unknown; numThreads?: number };
}

/** A module or a loader of one: how a model gets its onnxruntime-web. */
export type OrtWebRuntime = OrtLike | (() => Promise<OrtLike>);

/** Options of the browser `onnxModel`. */
export interface BrowserOnnxModelOptions<I, O> extends Omit<OnnxModelOptions<I, O>, 'source'> {
  /**
   * The model: a URL (absolute, or relative to the page) that the SDK
   * downloads itself, or the model's bytes.
   */
  readonly source: OnnxModelSource;
  /** Download progress (`total` is `undefined` when the server does not announce the size). */
  readonly onProgress?: (progress: ModelProgress) => void;
  /**
   * Keep the downloaded model in Cache Storage (`true`: the cache
   * `graceful-inference-models`; a string: that cache). Off by default.
   */
  readonly cache?: boolean | string;
  /**
   * Expected digest of the model (`sha256-<base64>` as in Subresource
   * Integrity, or 64 hex digits). Mismatching bytes are never loaded: the
   * load fails with `IntegrityError` (code `ERR_INTEGRITY`) and calls fall back.
   */
  readonly integrity?: string;
  /**
   * Sets onnxruntime-web's `env.wasm.wasmPaths` before the first session:
   * where its `.wasm` (and `.mjs`) files are served. Use an absolute path or
   * URL (`'/ort/'`, `'https://cdn.example.com/ort/'`): a relative one is
   * resolved against onnxruntime's own module URL, not the page. Default:
   * left to onnxruntime-web, which loads the files next to its module, i.e.
   * wherever the application's bundler emitted them.
   */
  readonly wasmPaths?: string | Readonly<Record<string, string>>;
  /**
   * Sets onnxruntime-web's `env.wasm.numThreads` before the first session.
   * Default: left to onnxruntime-web (half the cores, at most 4, when the page
   * is cross-origin isolated; 1 otherwise, since threads need COOP/COEP).
   */
  readonly numThreads?: number;
  /**
   * The onnxruntime-web module to use, or a function importing it, e.g.
   * `() => import('onnxruntime-web/webgpu')`. Default: `import('onnxruntime-web')`.
   */
  readonly runtime?: OrtWebRuntime;
  /** The fetch used to download the model. Default: the global `fetch`. */
  readonly fetch?: typeof fetch;
}

const BROWSER_KEYS = ['onProgress', 'cache', 'integrity', 'wasmPaths', 'numThreads', 'runtime', 'fetch'] as const;

const fn = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', { error: 'expected a function' });

const integritySchema = z.string().check(
  z.refine(
    (v) => {
      try {
        parseIntegrity(v);
        return true;
      } catch {
        return false;
      }
    },
    { error: 'expected "sha256-<base64>" (or sha384/sha512) or 64 hex digits' },
  ),
);

const nonEmpty = z.string().check(z.minLength(1));

const browserSchema = z.strictObject({
  onProgress: z.optional(fn),
  cache: z.optional(z.union([z.boolean(), nonEmpty])),
  integrity: z.optional(integritySchema),
  wasmPaths: z.optional(z.union([nonEmpty, z.record(z.string(), z.string())])),
  numThreads: z.optional(z.int().check(z.gte(0))),
  runtime: z.optional(
    z.custom<OrtWebRuntime>(
      (v) => typeof v === 'function' || (typeof v === 'object' && v !== null && 'InferenceSession' in v && 'Tensor' in v),
      { error: 'expected the onnxruntime-web module or a function importing it' },
    ),
  ),
  fetch: z.optional(fn),
});

function split<I, O>(options: BrowserOnnxModelOptions<I, O>): [Record<string, unknown>, OnnxModelOptions<I, O>] {
  const browser: Record<string, unknown> = {};
  const core: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    if ((BROWSER_KEYS as readonly string[]).includes(k)) browser[k] = v;
    else core[k] = v;
  }
  return [browser, core as unknown as OnnxModelOptions<I, O>];
}

/** Validates every option at once, so one error lists all the bad fields. */
function validate<I, O>(options: BrowserOnnxModelOptions<I, O>): [BrowserOnlyOptions, OnnxModelOptions<I, O>] {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError('onnxModel options', [{ path: [], message: 'expected an object' }]);
  }
  const [browser, core] = split(options);
  const issues: Issue[] = [];
  issues.push(...checkSchema(browserSchema, browser));
  try {
    validateOnnxModelOptions(core);
  } catch (error) {
    if (!isConfigurationError(error)) throw error;
    issues.unshift(...error.issues);
  }
  if (issues.length > 0) throw new ConfigurationError('onnxModel options', issues);
  return [browser as BrowserOnlyOptions, core];
}

type BrowserOnlyOptions = Pick<BrowserOnnxModelOptions<unknown, unknown>, (typeof BROWSER_KEYS)[number]>;

let defaultRuntime: Promise<OrtLike> | undefined;

function importOnnxruntimeWeb(): Promise<OrtLike> {
  defaultRuntime ??= import('onnxruntime-web').then(
    (m) => ((m as { InferenceSession?: unknown }).InferenceSession ? m : (m as { default: OrtLike }).default) as OrtLike,
    (error: unknown) => {
      defaultRuntime = undefined;
      throw new ModelLoadError(
        `onnxModel needs the onnxruntime-web package (npm install onnxruntime-web): ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    },
  );
  return defaultRuntime;
}

/** Applies `wasmPaths` / `numThreads` to onnxruntime-web's global `env` (effective until its first session). */
function configureEnv(ort: OrtLike, options: BrowserOnlyOptions): void {
  if (options.wasmPaths === undefined && options.numThreads === undefined) return;
  const env = (ort as unknown as { env?: OrtWebEnvLike }).env;
  if (env?.wasm === undefined) return;
  if (options.wasmPaths !== undefined) env.wasm.wasmPaths = options.wasmPaths;
  if (options.numThreads !== undefined) env.wasm.numThreads = options.numThreads;
}

function sourceLabel(source: OnnxModelSource): string {
  if (typeof source === 'string') return source;
  if (source instanceof URL) return source.href;
  return `${source.byteLength} bytes`;
}

/**
 * Who is waiting for the current download. The download is shared; it is
 * aborted only when every caller of `load({ signal })` has aborted and no
 * `run` is waiting (a run never aborts the download: the call falls back at
 * its deadline and the model keeps loading for the next calls).
 */
interface LoadScope {
  readonly controller: AbortController;
  waiting: number;
  pinned: boolean;
}

/**
 * An ONNX model run in the page by onnxruntime-web (WebAssembly by default).
 *
 * Like onnxruntime-node, a WASM run blocks the page's thread while it
 * computes and cannot be cancelled: the deadline stops the wait and the call
 * falls back, but the compute goes on. Run heavy models in a worker.
 *
 * @throws {ConfigurationError} When an option is invalid (every bad field, with its path).
 *
 * @example
 * ```ts
 * import { createInference, onnxModel, tensor } from 'graceful-inference';
 *
 * const model = onnxModel({
 *   source: '/models/credit-risk.onnx',
 *   integrity: 'sha256-...',
 *   cache: true,
 *   onProgress: ({ loaded, total }) => console.log(loaded, total),
 *   encode: (row: Float32Array) => ({ features: tensor('float32', row, [1, 8]) }),
 *   decode: (out) => (out.risk!.data as Float32Array)[0]!,
 * });
 * ```
 */
export function onnxModel<I, O>(options: BrowserOnnxModelOptions<I, O>): OnnxModel<I, O> {
  const [browser, core] = validate(options);
  const { onProgress, cache, integrity, runtime } = browser;
  const label = sourceLabel(core.source);

  let scope: LoadScope | undefined;
  let loaded = false;

  const loadRuntime = async (): Promise<OrtLike> => {
    let ort: OrtLike;
    if (runtime === undefined) ort = await importOnnxruntimeWeb();
    else if (typeof runtime === 'function') {
      try {
        ort = await runtime();
      } catch (error) {
        throw new ModelLoadError(`Could not load onnxruntime-web: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
    } else ort = runtime;
    configureEnv(ort, browser);
    return ort;
  };

  const loadSource = async (source: OnnxModelSource, closeSignal: AbortSignal): Promise<ModelBytesOrPath> => {
    const signal = scope ? AbortSignal.any([closeSignal, scope.controller.signal]) : closeSignal;
    if (typeof source === 'string' || source instanceof URL) {
      return {
        bytes: await fetchModelBytes(source, {
          signal,
          ...(onProgress ? { onProgress } : {}),
          ...(cache !== undefined ? { cache } : {}),
          ...(integrity !== undefined ? { integrity } : {}),
          ...(browser.fetch ? { fetch: browser.fetch } : {}),
        }),
      };
    }
    const bytes = source instanceof Uint8Array ? source : new Uint8Array(source);
    if (integrity !== undefined) await verifyIntegrity(bytes, integrity, label);
    return { bytes };
  };

  // Worker mode: module Web Workers speaking the same protocol as Node's
  // threads; they import onnxruntime-web themselves, so a custom `runtime`
  // cannot follow them, but `wasmPaths` and `numThreads` do.
  const workerRuntimeEnv: Record<string, unknown> = {};
  if (browser.wasmPaths !== undefined) workerRuntimeEnv.wasmPaths = browser.wasmPaths;
  if (browser.numThreads !== undefined) workerRuntimeEnv.numThreads = browser.numThreads;
  const inner = createOnnxModel({ loadRuntime, loadSource, spawnWorker: spawnWebWorker, workerRuntimeEnv }, core);

  /** Joins (or starts) the shared load; `signal` undefined pins the download. */
  function join(signal: AbortSignal | undefined): void {
    if (scope === undefined) {
      const s: LoadScope = { controller: new AbortController(), waiting: 0, pinned: false };
      scope = s;
      inner.load().then(
        () => {
          loaded = true;
          if (scope === s) scope = undefined;
        },
        () => {
          if (scope === s) scope = undefined;
        },
      );
    }
    const s = scope;
    if (signal === undefined) {
      s.pinned = true;
      return;
    }
    s.waiting++;
    const onAbort = (): void => {
      if (--s.waiting === 0 && !s.pinned && scope === s) s.controller.abort(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    // Forget this waiter once the load is over, whatever the outcome.
    inner.load().then(
      () => signal.removeEventListener('abort', onAbort),
      () => signal.removeEventListener('abort', onAbort),
    );
  }

  return {
    kind: inner.kind,
    load(opts = {}) {
      if (loaded) return inner.load(opts);
      join(opts.signal);
      const pending = inner.load(opts);
      const signal = opts.signal;
      if (signal === undefined) return pending;
      // Browsers run microtasks between abort listeners, so the aborted download's
      // own error can settle the shared load first: the caller gets its signal's reason.
      return pending.catch((error: unknown) => {
        throw signal.aborted ? signal.reason : error;
      });
    },
    run(input: I, ctx: RunContext): Promise<O> {
      if (!loaded) join(undefined);
      return inner.run(input, ctx);
    },
    close() {
      return inner.close();
    },
    status: () => inner.status(),
    subscribe: (listener) => inner.subscribe(listener),
  };
}
