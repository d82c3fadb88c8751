/**
 * The runtime-agnostic ONNX {@link Model}: options, lazy shared loading,
 * warmup, encode -> run -> decode, and close. A runtime binding (Node, web,
 * a test double) supplies the onnxruntime module and the source loader.
 */
import * as z from 'zod/mini';
import { checkSchema } from '../schema-check.js';
import {
  ClosedError,
  ConfigurationError,
  ModelCallError,
  ModelLoadError,
  isGracefulInferenceError,
} from '../errors.js';
import type { Model, RunContext } from '../types.js';
import type { Batcher } from './batcher.js';
import { createFeedChecker, createTensorSession, type InlineTensorSession, type ModelBytesOrPath, type OrtLike, type TensorSession } from './onnx-session.js';
import type { TensorData } from './tensor.js';
import { RUN_INTO, type AnswerSink, type RunsInto } from './run-into.js';
import {
  executionIssues,
  executionOptionsShape,
  resolveExecution,
  type ExecutionOptions,
  type OnnxModelEvents,
  type OnnxModelListener,
  type OnnxModelStatus,
} from './worker-options.js';
import type { SpawnWorker, WorkerPool } from './worker-pool.js';

/** Where an ONNX model comes from: a file path, a `file:`/`http(s):` URL, or the model's bytes. */
export type OnnxModelSource = string | URL | Uint8Array | ArrayBuffer;

/** Options of `onnxModel`. */
export interface OnnxModelOptions<I, O> extends ExecutionOptions {
  /** The model: a file path, a `file:` or `http(s):` URL (string or `URL`), or its bytes. */
  readonly source: OnnxModelSource;
  /** Passed as is to onnxruntime's `InferenceSession.create` (execution providers, threads...). */
  readonly sessionOptions?: Readonly<Record<string, unknown>>;
  /**
   * Turns an input into the model's feeds, keyed by input name. Build them
   * with `tensor()`. They are checked against the model's inputs (names,
   * element types, ranks, fixed dims) before each run.
   */
  readonly encode: (input: I) => Readonly<Record<string, TensorData>>;
  /** Turns the model's outputs (keyed by output name) into the answer. */
  readonly decode: (outputs: Readonly<Record<string, TensorData>>, input: I) => O;
  /**
   * An input run once right after loading, so the first real call does not
   * pay for lazy allocations. A failing warmup fails the load.
   */
  readonly warmup?: I;
}

/**
 * Loads a source into a path the runtime can read or into bytes. `signal`
 * aborts when the model is closed during loading.
 */
export type OnnxSourceLoader = (source: OnnxModelSource, signal: AbortSignal) => Promise<ModelBytesOrPath>;

/** What binds the runtime-agnostic model to a runtime. */
export interface OnnxRuntimeBinding {
  /** Loads the onnxruntime module; should reject with {@link ModelLoadError} when it is not installed. */
  readonly loadRuntime: () => Promise<OrtLike>;
  /** Resolves the model source. */
  readonly loadSource: OnnxSourceLoader;
  /** Starts a model worker (a thread); needed for `execution: 'worker'`. */
  readonly spawnWorker?: SpawnWorker;
  /** Starts a model worker process; needed for `isolation: 'process'` (Node only). */
  readonly spawnProcess?: SpawnWorker;
  /** Runtime settings the workers apply before their first session (onnxruntime-web: `{ wasmPaths, numThreads }`). */
  readonly workerRuntimeEnv?: Readonly<Record<string, unknown>>;
}

/**
 * An ONNX model: a {@link Model} that also reports its execution state
 * (queue, batches, workers) and emits worker events.
 */
export interface OnnxModel<I, O> extends Model<I, O> {
  /** A snapshot of the queue, batching and worker counters. */
  status(): OnnxModelStatus;
  /** Listens to the model's events (`worker-replaced`); returns a function that unsubscribes. */
  subscribe(listener: OnnxModelListener): () => void;
}

const fn = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', { error: 'expected a function' });

const optionsSchema = z.strictObject({
  source: z.union([z.string().check(z.minLength(1)), z.instanceof(URL), z.instanceof(Uint8Array), z.instanceof(ArrayBuffer)], {
    error: 'expected a file path, a URL, a Uint8Array or an ArrayBuffer',
  }),
  sessionOptions: z.optional(
    z.custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
      error: 'expected an object (onnxruntime SessionOptions)',
    }),
  ),
  encode: fn,
  decode: fn,
  warmup: z.optional(z.unknown()),
  ...executionOptionsShape,
});

/** Validates `onnxModel` options; throws {@link ConfigurationError} listing every bad field. */
export function validateOnnxModelOptions(options: unknown): void {
  const invalid = checkSchema(optionsSchema, options);
  if (invalid.length) throw new ConfigurationError('onnxModel options', invalid);
  const issues = executionIssues(options as ExecutionOptions);
  if (issues.length > 0) throw new ConfigurationError('onnxModel options', issues);
}

function describeSource(source: OnnxModelSource): string {
  if (typeof source === 'string') return `'${source}'`;
  if (source instanceof URL) return `'${source.href}'`;
  return `${source.byteLength} bytes`;
}

/** The error of calls that cannot be served because no worker can be started. */
function unavailableError(cause: Error): ModelCallError {
  return new ModelCallError('ERR_WORKER', 'model-error', `No model worker is available: ${cause.message}`, { cause });
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Builds an ONNX {@link Model} on top of a runtime binding. Runtime entry
 * points (`onnxModel` for Node) call this; it knows nothing about Node or the
 * browser.
 *
 * - Loads on `load()` or on the first `run`; concurrent calls share one load.
 *   A failed load rejects with {@link ModelLoadError} and the next call tries again.
 * - Runs `warmup` once per successful load.
 * - `close()` waits for runs in flight, then releases the session; later calls
 *   reject with {@link ClosedError}.
 *
 * @throws {ConfigurationError} When the options are invalid.
 */
export function createOnnxModel<I, O>(binding: OnnxRuntimeBinding, options: OnnxModelOptions<I, O>): OnnxModel<I, O> {
  validateOnnxModelOptions(options);
  const { source, sessionOptions, encode, decode } = options;
  const hasWarmup = options.warmup !== undefined;
  const label = describeSource(source);
  const exec = resolveExecution(options);
  const spawn = exec.isolation === 'process' ? binding.spawnProcess : binding.spawnWorker;
  if (exec.execution === 'worker' && spawn === undefined) {
    throw new ConfigurationError('onnxModel options', [
      exec.isolation === 'process'
        ? { path: ['isolation'], message: `process isolation is not available in this runtime (Node only)` }
        : { path: ['execution'], message: `worker mode is not available in this runtime` },
    ]);
  }
  const listeners = new Set<OnnxModelListener>();
  if (options.onEvent) listeners.add(options.onEvent);
  const emit = <K extends keyof OnnxModelEvents>(event: K, payload: OnnxModelEvents[K]): void => {
    for (const listener of listeners) {
      try {
        listener(event, payload);
      } catch {
        // A listener's error must never break the model.
      }
    }
  };
  // Set once loaded when calls go through the queue (worker mode, batching, maxQueue).
  let queue: Batcher | undefined;
  let checkFeeds: ((feeds: Readonly<Record<string, TensorData>>) => void) | undefined;
  let pool: WorkerPool | undefined;

  let session: TensorSession | undefined;
  let loading: Promise<TensorSession> | undefined;
  let closed = false;
  let closing: Promise<void> | undefined;
  const closeController = new AbortController();

  async function doLoad(): Promise<TensorSession> {
    // Loaded on demand: applications that use neither workers nor batching do not ship them.
    const workers = exec.execution === 'worker' ? await import('./worker-pool.js') : undefined;
    const batcher = exec.queued ? await import('./batcher.js') : undefined;
    // Worker mode never loads the runtime on this thread: each worker loads its own.
    const ort = workers !== undefined ? undefined : await binding.loadRuntime();
    let resolved: ModelBytesOrPath;
    try {
      resolved = await binding.loadSource(source, closeController.signal);
    } catch (error) {
      if (closed) throw new ClosedError('The ONNX model was closed while loading');
      if (isGracefulInferenceError(error)) throw error;
      throw new ModelLoadError(`Could not read ONNX model ${label}: ${message(error)}`, { cause: error });
    }
    if (closed) throw new ClosedError('The ONNX model was closed while loading');
    const s =
      ort !== undefined
        ? await createTensorSession(ort, resolved, sessionOptions)
        : await workers!.WorkerPool.start({
            spawn: spawn!,
            size: exec.workers,
            killAfterMs: exec.killAfterMs,
            spinMs: exec.spinMs,
            source: resolved,
            ...(sessionOptions !== undefined ? { sessionOptions } : {}),
            ...(binding.workerRuntimeEnv !== undefined ? { runtimeEnv: binding.workerRuntimeEnv } : {}),
            ...(hasWarmup ? { warmup: encode(options.warmup as I) } : {}),
            label,
            onCapacity: () => queue?.pump(),
            onReplaced: (event) => emit('worker-replaced', event),
            // No worker ready and a replacement failed to load: queued calls fail now rather than wait.
            onUnavailable: (error) => queue?.failQueued(unavailableError(error)),
          });
    if (closed) {
      await s.release();
      throw new ClosedError('The ONNX model was closed while loading');
    }
    if (exec.batching !== undefined) {
      try {
        batcher!.assertBatchable(s.inputMetadata, s.outputMetadata, label);
      } catch (error) {
        await s.release().catch(() => undefined);
        throw error;
      }
    }
    if (hasWarmup) {
      try {
        const input = options.warmup as I;
        decode(await s.run(encode(input)), input);
      } catch (error) {
        await s.release().catch(() => undefined);
        throw new ModelLoadError(`Warmup of ONNX model ${label} failed: ${message(error)}`, { cause: error });
      }
      if (closed) {
        await s.release();
        throw new ClosedError('The ONNX model was closed while loading');
      }
    }
    if (batcher !== undefined) {
      const p = workers !== undefined ? (s as WorkerPool) : undefined;
      pool = p;
      checkFeeds = createFeedChecker(s.inputMetadata);
      queue = new batcher.Batcher(
        {
          target: p
            ? {
                run: (feeds, owned) => p.run(feeds, owned),
                capacity: () => p.capacity(),
                unavailable: () => {
                  const down = p.unavailable();
                  return down === undefined ? undefined : unavailableError(down);
                },
              }
            : { run: (feeds) => s.run(feeds), capacity: () => 1 },
          ...(exec.batching !== undefined ? { batching: exec.batching } : {}),
          maxQueue: exec.maxQueue,
        },
        s.inputMetadata.map((m) => m.name),
      );
    }
    return s;
  }

  function ensureLoaded(): Promise<TensorSession> {
    if (closed) return Promise.reject(new ClosedError('The ONNX model is closed'));
    if (session) return Promise.resolve(session);
    loading ??= doLoad().then(
      (s) => {
        session = s;
        return s;
      },
      (error: unknown) => {
        // Not cached: the next call tries again.
        loading = undefined;
        throw isGracefulInferenceError(error)
          ? error
          : new ModelLoadError(`Could not load ONNX model ${label}: ${message(error)}`, { cause: error });
      },
    );
    return loading;
  }



  // Promise chains rather than async functions: with batching this path runs
  // once per row, and each async frame costs a promise and a microtask hop.
  function runOn(s: TensorSession, input: I, ctx: RunContext): Promise<O> {
    // close() may have released the session while this call awaited the load.
    if (closed) return Promise.reject(new ClosedError('The ONNX model is closed'));
    const q = queue;
    try {
      const feeds = encode(input);
      // Decoded in the same step as the run's answer: one promise per call.
      if (q !== undefined) {
        // Checked before queueing, so a bad feed fails its own call and never a whole batch.
        checkFeeds!(feeds);
        return q.submit(feeds, ctx.deadline, (outputs) => decode(outputs, input));
      }
      // No queue means a session on this thread (worker mode always queues);
      // it holds its release until its runs end.
      return (s as InlineTensorSession).runMapped(feeds, (outputs) => decode(outputs, input));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  const model: OnnxModel<I, O> = {
    kind: 'onnx',
    load(opts = {}) {
      const shared = ensureLoaded();
      const signal = opts.signal;
      if (!signal) return shared.then(() => undefined);
      // Aborting stops this caller's wait only: others share the same load.
      if (signal.aborted) return Promise.reject(signal.reason);
      return new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        shared.then(
          () => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          },
          (error: unknown) => {
            signal.removeEventListener('abort', onAbort);
            reject(error);
          },
        );
      });
    },
    // onnxruntime cannot cancel a run: the deadline only lets queued calls be dropped;
    // answering on time is the pipeline's job (worker mode keeps this thread free for it).
    run(input: I, ctx: RunContext): Promise<O> {
      if (closed) return Promise.reject(new ClosedError('The ONNX model is closed'));
      const s = session;
      if (s !== undefined) return runOn(s, input, ctx);
      return ensureLoaded().then((loaded) => runOn(loaded, input, ctx));
    },
    status(): OnnxModelStatus {
      const q = queue?.stats();
      return {
        execution: exec.execution,
        ...(exec.execution === 'worker' ? { isolation: exec.isolation } : {}),
        loaded: session !== undefined,
        closed,
        ...(q !== undefined ? { queue: { ...q, maxQueue: exec.maxQueue, meanBatchSize: q.runs === 0 ? 0 : q.rows / q.runs } } : {}),
        ...(pool !== undefined ? { workers: pool.stats() } : {}),
      };
    },
    subscribe(listener: OnnxModelListener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    close() {
      closing ??= (async () => {
        closed = true;
        closeController.abort(new ClosedError('The ONNX model was closed while loading'));
        queue?.close(new ClosedError('The ONNX model is closed'));
        // Workers can be stopped mid-run (their calls reject), unlike an inline session.
        await pool?.release();
        const s = session;
        session = undefined;
        // An inline session releases after its runs in flight (they still answer);
        // a load in flight releases its own session when it sees `closed`.
        await s?.release();
      })();
      return closing;
    },
  };
  // The pipeline's fast path (run-into.ts): an inline run without a queue
  // settles the attempt from the session's answer, with no promise between.
  const fast: RunsInto<I, O>[typeof RUN_INTO] = (input, ctx, sink) => {
    const s = session;
    if (closed || s === undefined || queue !== undefined) {
      model.run(input, ctx).then(
        (v) => sink.answered(v),
        (e: unknown) => sink.failed(e),
      );
      return;
    }
    let feeds: Readonly<Record<string, TensorData>>;
    try {
      feeds = encode(input);
    } catch (error) {
      return sink.failed(error);
    }
    (s as InlineTensorSession).runInto(feeds, (outputs) => decode(outputs, input), sink as AnswerSink<Awaited<O>>);
  };
  (model as OnnxModel<I, O> & RunsInto<I, O>)[RUN_INTO] = fast;
  return model;
}
