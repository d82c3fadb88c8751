/**
 * A pool of model workers, each holding its own session: one run at a time
 * per worker, a watchdog per run, and replacement of any worker that dies or
 * is killed. Runtime-agnostic: Node (`worker_threads`) and browsers (Web
 * Workers) plug in through {@link SpawnWorker}.
 */
import { ClosedError, ModelCallError, ModelInputError, ModelLoadError } from '../errors.js';
import type { ModelBytesOrPath, TensorMetadata, TensorSession } from './onnx-session.js';
import type { TensorData } from './tensor.js';
import { ownedCopy, transferables, type FromWorker, type WireError, type WireTensors } from './worker-protocol.js';

/** A started worker, as the pool drives it. */
export interface WorkerHandle {
  /** Posts a message, transferring the listed buffers. */
  post(message: import('./worker-protocol.js').ToWorker, transfer: ArrayBuffer[]): void;
  /** Stops the worker at once, even in the middle of a run. */
  terminate(): Promise<void> | void;
  /** Keeps the host alive while the worker has work (Node); a no-op in browsers. */
  ref(): void;
  /** Lets the host exit while the worker idles (Node); a no-op in browsers. */
  unref(): void;
}

/** What a worker reports to the pool. */
export interface WorkerListener {
  message(message: FromWorker): void;
  /** The worker is gone: it exited, threw, ran out of memory or could not start. */
  died(error: Error): void;
}

/** How a worker is started. */
export interface SpawnOptions {
  /** How long the host may poll for a due answer instead of sleeping (see `spinMs` of `onnxModel`); where supported. */
  readonly spinMs: number;
}

/** Starts one model worker (Node `worker_threads`, or a Web Worker). */
export type SpawnWorker = (listener: WorkerListener, options: SpawnOptions) => WorkerHandle;

/** Why a worker was replaced. */
export type WorkerReplacementCause = 'killed' | 'crashed';

/** Payload of the `worker-replaced` event. */
export interface WorkerReplacedEvent {
  /** Index of the worker in the pool. */
  readonly worker: number;
  /** `killed`: a run outlived `killAfterMs`; `crashed`: the worker died on its own. */
  readonly cause: WorkerReplacementCause;
  /** What happened, in words. */
  readonly message: string;
  /** Runs (single calls or batches) that were on the worker and failed with `model-error`. */
  readonly failedRuns: number;
}

/** Options of {@link startWorkerPool}. */
export interface WorkerPoolOptions {
  readonly spawn: SpawnWorker;
  /** Number of workers. */
  readonly size: number;
  /**
   * Runs sent to one worker before the previous ones return (default 1). With 2,
   * the next batch is already waiting in the worker when a run ends, which hides
   * the message round trip; the watchdog times each run from when it can start.
   */
  readonly depth?: number;
  /** A run that takes longer has its worker terminated and replaced. */
  readonly killAfterMs: number;
  /** See {@link SpawnOptions.spinMs}. Default 0. */
  readonly spinMs?: number;
  readonly source: ModelBytesOrPath;
  readonly sessionOptions?: Readonly<Record<string, unknown>>;
  /** Runtime settings sent to each worker (onnxruntime-web: `{ wasmPaths, numThreads }`). */
  readonly runtimeEnv?: Readonly<Record<string, unknown>>;
  /** Feeds each worker runs once after loading (also after a replacement). */
  readonly warmup?: Readonly<Record<string, TensorData>>;
  /** Describes the model in messages. */
  readonly label: string;
  /** A worker became ready (a replacement finished loading). */
  readonly onCapacity?: () => void;
  /** A worker was terminated or died; its replacement is loading. */
  readonly onReplaced?: (event: WorkerReplacedEvent) => void;
  /** No worker is ready and a replacement failed to load: calls waiting for a worker cannot be served soon. */
  readonly onUnavailable?: (error: Error) => void;
}

/** Counters of a {@link WorkerPool}. */
export interface WorkerPoolStats {
  /** Workers configured. */
  readonly size: number;
  /** Workers loaded and able to run (idle or busy). */
  readonly ready: number;
  /** Workers running something now. */
  readonly busy: number;
  /** Workers loading (replacements). */
  readonly starting: number;
  /** Workers replaced since creation (killed + crashed). */
  readonly replacements: number;
  /** Workers terminated because a run outlived `killAfterMs`. */
  readonly kills: number;
  /** Workers that died on their own (exit, uncaught error, out of memory). */
  readonly crashes: number;
  /** Replacement workers that failed to load (each is retried with backoff). */
  readonly startFailures: number;
}

interface Job {
  readonly id: number;
  readonly feeds: WireTensors;
  readonly owned: boolean;
  readonly resolve: (outputs: Record<string, TensorData>) => void;
  readonly reject: (error: unknown) => void;
}

interface Slot {
  readonly index: number;
  handle: WorkerHandle | undefined;
  state: 'starting' | 'ready' | 'dead';
  /** Runs sent to the worker, oldest (the one running) first. */
  jobs: Job[];
  /** Times the oldest job. */
  watchdog: ReturnType<typeof setTimeout> | undefined;
  /** Replacement attempts that failed in a row (for backoff). */
  failures: number;
  retry: ReturnType<typeof setTimeout> | undefined;
  /** Settles the initial start of this slot. */
  started?: { resolve(): void; reject(error: Error): void };
}

const RETRY_BASE_MS = 100;
const RETRY_MAX_MS = 5_000;

/** Rebuilds an error that crossed the boundary, keeping input errors as {@link ModelInputError}. */
function fromWire(error: WireError): Error {
  if (error.code === 'ERR_MODEL_INPUT') return new ModelInputError(error.message);
  const e = new Error(error.message);
  e.name = error.name;
  return e;
}

/**
 * The pool. Implements {@link TensorSession} (so the ONNX model drives it like
 * an inline session) plus the capacity the batcher needs.
 */
export class WorkerPool implements TensorSession {
  inputMetadata: readonly TensorMetadata[] = [];
  outputMetadata: readonly TensorMetadata[] = [];
  private readonly slots: Slot[] = [];
  private readonly waiting: Job[] = [];
  private readonly warmup: WireTensors | undefined;
  private nextId = 1;
  private next = 0;
  private readonly depth: number;
  private closed = false;
  private releasing: Promise<void> | undefined;
  /** Terminations still under way (a thread inside onnxruntime stops at the end of its run). */
  private readonly terminations = new Set<Promise<void>>();
  /** Set while no worker is ready because a replacement failed to load. */
  private down: Error | undefined;
  private kills = 0;
  private crashes = 0;
  private startFailures = 0;

  private constructor(private readonly options: WorkerPoolOptions) {
    this.warmup = options.warmup === undefined ? undefined : ownedCopy(options.warmup);
    this.depth = options.depth ?? 1;
  }

  /**
   * Starts `size` workers and resolves once every one has loaded the model.
   *
   * @throws {ModelLoadError} When a worker cannot load it (every worker is then terminated).
   */
  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    const starts: Promise<void>[] = [];
    for (let i = 0; i < options.size; i++) {
      const slot: Slot = { index: i, handle: undefined, state: 'starting', jobs: [], watchdog: undefined, failures: 0, retry: undefined };
      starts.push(new Promise<void>((resolve, reject) => (slot.started = { resolve, reject })));
      pool.slots.push(slot);
      pool.spawn(slot);
    }
    try {
      await Promise.all(starts);
    } catch (error) {
      await pool.release();
      throw error;
    }
    return pool;
  }

  private spawn(slot: Slot): void {
    slot.state = 'starting';
    let handle: WorkerHandle | undefined;
    const current = (): boolean => handle !== undefined && slot.handle === handle && !this.closed;
    const listener: WorkerListener = {
      message: (m) => {
        if (current()) this.onMessage(slot, m);
      },
      died: (error) => {
        if (current()) this.onDied(slot, error);
      },
    };
    try {
      handle = this.options.spawn(listener, { spinMs: this.options.spinMs ?? 0 });
    } catch (error) {
      this.onStartFailed(slot, error instanceof Error ? error : new Error(String(error)));
      return;
    }
    slot.handle = handle;
    handle.post(
      {
        t: 'load',
        source: this.options.source,
        ...(this.options.sessionOptions !== undefined ? { sessionOptions: this.options.sessionOptions } : {}),
        ...(this.options.runtimeEnv !== undefined ? { runtimeEnv: this.options.runtimeEnv } : {}),
        ...(this.warmup !== undefined ? { warmup: this.warmup } : {}),
      },
      [],
    );
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    switch (m.t) {
      case 'ready': {
        if (slot.state !== 'starting') return;
        if (this.inputMetadata.length === 0 && this.outputMetadata.length === 0) {
          this.inputMetadata = m.inputs;
          this.outputMetadata = m.outputs;
        }
        slot.failures = 0;
        slot.state = 'ready';
        this.down = undefined;
        this.fill(slot);
        const started = slot.started;
        slot.started = undefined;
        started?.resolve();
        if (!started) this.options.onCapacity?.();
        return;
      }
      case 'load-error': {
        const error = new ModelLoadError(`A model worker could not load ONNX model ${this.options.label}: ${m.error.message}`);
        this.retire(slot);
        this.onStartFailed(slot, error);
        return;
      }
      case 'result':
      case 'error': {
        // The worker answers in order, so this is the oldest job.
        const job = slot.jobs[0];
        if (job === undefined || job.id !== m.id) return;
        slot.jobs.shift();
        clearTimeout(slot.watchdog);
        slot.watchdog = undefined;
        if (slot.jobs.length > 0) this.arm(slot);
        this.fill(slot);
        if (m.t === 'result') job.resolve(m.outputs);
        else job.reject(fromWire(m.error));
        return;
      }
    }
  }

  /** Gives a ready worker waiting jobs up to its depth; lets the host exit while it idles. */
  private fill(slot: Slot): void {
    while (slot.jobs.length < this.depth && this.waiting.length > 0) this.send(slot, this.waiting.shift()!);
    if (slot.jobs.length === 0) slot.handle?.unref();
  }

  /** Starts the watchdog of the slot's oldest job: it may run from now on. */
  private arm(slot: Slot): void {
    const job = slot.jobs[0]!;
    slot.watchdog = setTimeout(() => {
      slot.watchdog = undefined;
      if (slot.jobs[0] !== job) return;
      this.kills++;
      this.replace(slot, 'killed', `A run took longer than killAfterMs (${this.options.killAfterMs} ms) and its worker was terminated`);
    }, this.options.killAfterMs);
  }

  private onDied(slot: Slot, error: Error): void {
    if (slot.state === 'starting') {
      this.retire(slot);
      this.onStartFailed(slot, new ModelLoadError(`A model worker for ONNX model ${this.options.label} died while loading: ${error.message}`, { cause: error }));
      return;
    }
    this.crashes++;
    this.replace(slot, 'crashed', `The model worker died: ${error.message}`, error);
  }

  private onStartFailed(slot: Slot, error: Error): void {
    slot.state = 'dead';
    if (slot.started) {
      const started = slot.started;
      slot.started = undefined;
      started.reject(error instanceof ModelLoadError ? error : new ModelLoadError(error.message, { cause: error }));
      return;
    }
    this.startFailures++;
    if (this.ready() === 0) {
      this.down = error;
      this.failWaiting(error);
      this.options.onUnavailable?.(error);
    }
    if (this.closed) return;
    const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** slot.failures++);
    slot.retry = setTimeout(() => {
      slot.retry = undefined;
      if (!this.closed) this.spawn(slot);
    }, delay);
    // A pool that cannot load must not keep the host alive on its own.
    (slot.retry as { unref?: () => void }).unref?.();
  }

  /** Terminates the slot's worker (if any) without waiting; later events of that worker are ignored. */
  private retire(slot: Slot): void {
    const handle = slot.handle;
    slot.handle = undefined;
    clearTimeout(slot.watchdog);
    slot.watchdog = undefined;
    if (handle !== undefined) {
      let done: Promise<void>;
      try {
        done = Promise.resolve(handle.terminate()).catch(() => undefined);
      } catch {
        // A worker that is already gone cannot be terminated; nothing to do.
        return;
      }
      this.terminations.add(done);
      void done.then(() => this.terminations.delete(done));
    }
  }

  private replace(slot: Slot, cause: WorkerReplacementCause, message: string, error?: Error): void {
    const jobs = slot.jobs;
    slot.jobs = [];
    this.retire(slot);
    slot.state = 'dead';
    const failure = new ModelCallError('ERR_WORKER', 'model-error', `${message}; the worker is being replaced`, { cause: error });
    for (const job of jobs) job.reject(failure);
    this.options.onReplaced?.({ worker: slot.index, cause, message, failedRuns: jobs.length });
    if (!this.closed) this.spawn(slot);
  }

  private send(slot: Slot, job: Job): void {
    const handle = slot.handle!;
    let feeds = job.feeds;
    try {
      if (!job.owned) feeds = ownedCopy(feeds);
      handle.post({ t: 'run', id: job.id, feeds }, transferables(feeds));
    } catch (error) {
      // Feeds that cannot be cloned (a plain object holding a function...) never reach the worker.
      job.reject(new ModelInputError(`Feeds cannot be sent to a worker: ${error instanceof Error ? error.message : String(error)}`));
      return;
    }
    slot.jobs.push(job);
    if (slot.jobs.length === 1) {
      handle.ref();
      this.arm(slot);
    }
  }

  /**
   * Runs feeds on the least busy worker (an idle one; else the call waits for one).
   *
   * @param owned - True when the feeds' buffers belong to this run (stacked by the batcher)
   *   and may be transferred as they are; otherwise they are copied first, so that the
   *   caller's arrays are never detached.
   */
  run(feeds: Readonly<Record<string, TensorData>>, owned = false): Promise<Record<string, TensorData>> {
    if (this.closed) return Promise.reject(new ClosedError('The model is closed'));
    return new Promise((resolve, reject) => {
      const job: Job = { id: this.nextId++, feeds: feeds as WireTensors, owned, resolve, reject };
      const slot = this.leastBusy();
      if (slot !== undefined) this.send(slot, job);
      else this.waiting.push(job);
    });
  }

  /** The ready worker with the fewest runs (below its depth); ties go round robin so load spreads. */
  private leastBusy(): Slot | undefined {
    const n = this.slots.length;
    let best: Slot | undefined;
    for (let k = 0; k < n; k++) {
      const slot = this.slots[(this.next + k) % n]!;
      if (slot.state !== 'ready' || slot.jobs.length >= this.depth) continue;
      if (best === undefined || slot.jobs.length < best.jobs.length) best = slot;
      if (slot.jobs.length === 0) break;
    }
    if (best !== undefined) this.next = (best.index + 1) % n;
    return best;
  }

  private failWaiting(error: Error): void {
    const jobs = this.waiting.splice(0);
    for (const job of jobs) job.reject(new ModelCallError('ERR_WORKER', 'model-error', `No model worker is available: ${error.message}`, { cause: error }));
  }

  /**
   * Why no run can be served soon: set while no worker is ready and the last
   * replacement failed to load (it is retried with backoff); `undefined` otherwise.
   */
  unavailable(): Error | undefined {
    return this.down;
  }

  /** Workers loaded and able to run now (idle or busy). */
  ready(): number {
    let n = 0;
    for (const s of this.slots) if (s.state === 'ready') n++;
    return n;
  }

  /** Runs that may be in flight at once right now: ready workers times the depth. */
  capacity(): number {
    return this.ready() * this.depth;
  }

  /** Counters since creation. */
  stats(): WorkerPoolStats {
    let ready = 0;
    let busy = 0;
    let starting = 0;
    for (const s of this.slots) {
      if (s.state === 'ready') {
        ready++;
        if (s.jobs.length > 0) busy++;
      } else if (s.state === 'starting' || s.retry !== undefined) starting++;
    }
    return {
      size: this.options.size,
      ready,
      busy,
      starting,
      replacements: this.kills + this.crashes,
      kills: this.kills,
      crashes: this.crashes,
      startFailures: this.startFailures,
    };
  }

  /** Terminates every worker; calls still running reject with {@link ClosedError}. Idempotent. */
  release(): Promise<void> {
    this.releasing ??= (async () => {
      this.closed = true;
      const error = new ClosedError('The model was closed');
      for (const slot of this.slots) {
        clearTimeout(slot.retry);
        slot.retry = undefined;
        const jobs = slot.jobs;
        slot.jobs = [];
        this.retire(slot);
        slot.state = 'dead';
        for (const job of jobs) job.reject(error);
        slot.started?.reject(error);
        slot.started = undefined;
      }
      for (const job of this.waiting.splice(0)) job.reject(error);
      await Promise.all([...this.terminations]);
    })();
    return this.releasing;
  }
}
