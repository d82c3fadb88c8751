/**
 * The dispatch queue in front of an ONNX session (inline or a worker pool):
 * bounded, deadline-aware and, when batching is on, a dynamic batcher in the
 * manner of Triton's: concurrent calls are stacked along the batch dimension,
 * run once, and each caller gets exactly its own rows back.
 *
 * Runtime-agnostic: no Node or browser APIs beyond timers.
 */
import { ClosedError, ModelCallError, ModelInputError, ModelLoadError } from '../errors.js';
import type { TensorMetadata } from './onnx-session.js';
import type { TensorData, TypedArray } from './tensor.js';

/** Feeds or outputs of one run, keyed by name. */
export type TensorMap = Readonly<Record<string, TensorData>>;

/** Dynamic batching settings. */
export interface BatchingOptions {
  /** Most rows stacked into one run (calls of several rows count each row). */
  readonly maxBatchSize: number;
  /**
   * Longest wait, in milliseconds, of the oldest queued call for others to
   * join its batch once a runner is free. A full batch runs at once. Default 1.
   */
  readonly maxDelayMs?: number;
}

/** What the queue dispatches to: the inline session or the worker pool. */
export interface BatchTarget {
  /**
   * Runs one (possibly stacked) set of feeds. `owned` is true when the feeds
   * were stacked by the batcher into fresh arrays, which may then be transferred
   * to a worker without a copy; the caller's own arrays are never detached.
   */
  run(feeds: TensorMap, owned: boolean): Promise<Record<string, TensorData>>;
  /** Runs that may be in flight at once right now (1 inline; the workers ready in worker mode). */
  capacity(): number;
  /** An error when no run can be served soon (no worker can be started): calls then fail at once instead of queueing. */
  unavailable?(): Error | undefined;
}

/** Options of {@link Batcher}. */
export interface BatcherOptions {
  readonly target: BatchTarget;
  /** Stack concurrent calls; `undefined` runs each call alone (still queued, bounded and deadline-aware). */
  readonly batching?: BatchingOptions;
  /** Most calls waiting in the queue (not yet running); more are refused with `overloaded`. Default unbounded. */
  readonly maxQueue?: number;
}

/** Counters of a {@link Batcher}. */
export interface BatcherStats {
  /** Calls waiting in the queue now. */
  readonly queued: number;
  /** Runs in flight now. */
  readonly running: number;
  /** Runs started since creation. */
  readonly runs: number;
  /** Calls sent to a run since creation. */
  readonly calls: number;
  /** Rows sent to a run since creation (calls of several rows count each row). */
  readonly rows: number;
  /** Calls refused because the queue was full. */
  readonly overloaded: number;
  /** Calls dropped from the queue because their deadline passed while they waited. */
  readonly expired: number;
}

interface Entry {
  readonly feeds: TensorMap;
  readonly rows: number;
  readonly deadline: number;
  readonly queuedAt: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  /** The caller's mapping of its own outputs, applied when they arrive (see {@link deliver}). */
  readonly map: ((outputs: Record<string, TensorData>) => unknown) | undefined;
}

/** Settles a call with its own outputs, mapped in the same step; what the mapping throws rejects the call. */
function deliver(e: Entry, outputs: Record<string, TensorData>): void {
  const map = e.map;
  if (map === undefined) return e.resolve(outputs);
  let value: unknown;
  try {
    value = map(outputs);
  } catch (error) {
    return e.reject(error);
  }
  e.resolve(value);
}

function expiredError(): ModelCallError {
  return new ModelCallError('ERR_TIMEOUT', 'timeout', 'The call reached its deadline while waiting in the queue');
}

function isFixedDim(d: number | string | undefined): boolean {
  return typeof d === 'number' && d >= 0;
}

/**
 * Checks that every input and output of a model has a dynamic first (batch)
 * dimension, so that calls can be stacked along it.
 *
 * @throws {ModelLoadError} Naming every value whose first dimension is fixed or that is a scalar.
 */
export function assertBatchable(
  inputs: readonly TensorMetadata[],
  outputs: readonly TensorMetadata[],
  label: string,
): void {
  const problems: string[] = [];
  const check = (kind: string, m: TensorMetadata): void => {
    // Shape [] with a known type is a scalar; with an unknown type the runtime did not say, so we cannot refuse.
    if (m.shape.length === 0) {
      if (m.type !== 'unknown') problems.push(`${kind} '${m.name}' is a scalar`);
    } else if (isFixedDim(m.shape[0])) {
      problems.push(`${kind} '${m.name}' has a fixed first dimension (shape [${m.shape.join(', ')}])`);
    }
  };
  for (const m of inputs) check('input', m);
  for (const m of outputs) check('output', m);
  if (problems.length > 0) {
    throw new ModelLoadError(
      `Batching needs a dynamic first (batch) dimension on every input and output of ONNX model ${label}, but ${problems.join('; ')}. ` +
        'Export the model with a dynamic batch axis, or turn batching off.',
    );
  }
}

/** Rows of one call: the first dim shared by all its feeds. */
function rowsOf(feeds: TensorMap, names: readonly string[]): number {
  let rows = -1;
  for (let i = 0; i < names.length; i++) {
    const t = feeds[names[i]!]!;
    const d = t.dims.length > 0 ? t.dims[0]! : -1;
    if (rows === -1) rows = d;
    else if (d !== rows) {
      throw new ModelInputError(
        `With batching, every input's first dimension is the batch: '${names[0]}' has ${rows} rows but '${names[i]}' has ${d}`,
      );
    }
  }
  if (rows < 1) throw new ModelInputError(`With batching, each call must have at least one row along the first dimension`);
  return rows;
}

/** True when two calls can share a run: same element types and same dims after the first, for every input. */
function stackable(a: TensorMap, b: TensorMap, names: readonly string[]): boolean {
  for (let i = 0; i < names.length; i++) {
    const x = a[names[i]!]!;
    const y = b[names[i]!]!;
    if (x.type !== y.type) return false;
    const dx = x.dims;
    const dy = y.dims;
    if (dx.length !== dy.length) return false;
    for (let k = 1; k < dx.length; k++) if (dx[k] !== dy[k]) return false;
  }
  return true;
}

/** Stacks the feeds of several calls along dim 0 into fresh arrays (owned by the run, so they may be transferred). */
export function stackFeeds(
  entries: readonly { readonly feeds: TensorMap; readonly rows: number }[],
  names: readonly string[],
  totalRows: number,
): Record<string, TensorData> {
  const out: Record<string, TensorData> = {};
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const first = entries[0]!.feeds[name]!;
    const dims = first.dims.slice();
    dims[0] = totalRows;
    if (Array.isArray(first.data)) {
      const data: string[] = [];
      for (let e = 0; e < entries.length; e++) {
        const d = entries[e]!.feeds[name]!.data as string[];
        for (let k = 0; k < d.length; k++) data.push(d[k]!);
      }
      out[name] = { type: first.type, data, dims } as TensorData;
      continue;
    }
    const firstData = first.data as TypedArray;
    const rowSize = firstData.length / entries[0]!.rows;
    const Ctor = firstData.constructor as new (length: number) => TypedArray;
    const data = new Ctor(rowSize * totalRows);
    let offset = 0;
    for (let e = 0; e < entries.length; e++) {
      const d = entries[e]!.feeds[name]!.data as Float32Array;
      const n = d.length;
      // TypedArray#set has a fixed cost that dominates for a few elements (a row of 8 floats).
      if (n <= 64) for (let k = 0; k < n; k++) (data as Float32Array)[offset + k] = d[k]!;
      else (data as Float32Array).set(d, offset);
      offset += n;
    }
    out[name] = { type: first.type, data, dims } as TensorData;
  }
  return out;
}

/**
 * Splits a run's outputs back to the calls along dim 0. Typed arrays are
 * split as views (`subarray`, no copy).
 *
 * @throws {ModelCallError} (`model-error`) when an output is not batch-major.
 */
export function splitOutputs(
  outputs: Readonly<Record<string, TensorData>>,
  rows: readonly number[],
  totalRows: number,
): Record<string, TensorData>[] {
  const parts: Record<string, TensorData>[] = rows.map(() => ({}));
  for (const name in outputs) {
    const t = outputs[name]!;
    if (t.dims.length === 0 || t.dims[0] !== totalRows) {
      throw new ModelCallError(
        'ERR_WORKER',
        'model-error',
        `Output '${name}' has dims [${t.dims.join(', ')}], but the batch has ${totalRows} rows: batching needs outputs whose first dimension is the batch`,
      );
    }
    const rowSize = totalRows === 0 ? 0 : t.data.length / totalRows;
    const isArray = Array.isArray(t.data);
    let offset = 0;
    for (let i = 0; i < rows.length; i++) {
      const n = rows[i]!;
      const end = offset + n * rowSize;
      const data = isArray ? (t.data as string[]).slice(offset, end) : (t.data as TypedArray).subarray(offset, end);
      const dims = t.dims.slice();
      dims[0] = n;
      parts[i]![name] = { type: t.type, data, dims } as TensorData;
      offset = end;
    }
  }
  return parts;
}

/**
 * A bounded, deadline-aware queue in front of a session, optionally batching.
 *
 * - `submit` refuses at once with `overloaded` when `maxQueue` calls already wait.
 * - A call whose deadline passes while it waits is dropped, never run
 *   (it rejects with a `timeout` error, which the pipeline has already answered).
 * - With batching, a batch runs when `maxBatchSize` rows wait, or when the
 *   oldest call has waited `maxDelayMs` and a runner is free: one timer at most.
 */
export class Batcher {
  private readonly target: BatchTarget;
  private readonly maxBatchSize: number;
  private readonly maxDelayMs: number;
  private readonly batching: boolean;
  private readonly maxQueue: number;
  private readonly names: readonly string[];
  // FIFO as an array plus a head index: shift() would be O(n) per call under load.
  private queue: (Entry | undefined)[] = [];
  private head = 0;
  private queuedRows = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = 0;
  private running = 0;
  private closedError: Error | undefined;
  private runs = 0;
  private calls = 0;
  private rows = 0;
  private overloaded = 0;
  private expired = 0;

  /**
   * @param inputNames - The model's input names, in order.
   */
  constructor(options: BatcherOptions, inputNames: readonly string[]) {
    this.target = options.target;
    this.batching = options.batching !== undefined;
    this.maxBatchSize = options.batching?.maxBatchSize ?? 1;
    this.maxDelayMs = options.batching?.maxDelayMs ?? 1;
    this.maxQueue = options.maxQueue ?? Number.POSITIVE_INFINITY;
    this.names = inputNames;
  }

  /**
   * Queues one call's feeds (already checked against the model's inputs).
   * Resolves with `map` of this call's outputs only; `map` runs when the
   * outputs arrive (one promise per call, not two) and what it throws rejects
   * the call.
   */
  submit<T = Record<string, TensorData>>(
    feeds: TensorMap,
    deadline: number,
    map?: (outputs: Record<string, TensorData>) => T,
  ): Promise<Awaited<T>> {
    if (this.closedError !== undefined) return Promise.reject(this.closedError);
    const down = this.target.unavailable?.();
    if (down !== undefined) return Promise.reject(down);
    const rows = this.batching ? rowsOf(feeds, this.names) : 1;
    const now = performance.now();
    if (this.queue.length - this.head >= this.maxQueue) {
      this.dropExpired(now, true);
      if (this.queue.length - this.head >= this.maxQueue) {
        this.overloaded++;
        return Promise.reject(
          new ModelCallError('ERR_OVERLOADED', 'overloaded', `The model's queue is full (${this.maxQueue} calls waiting)`),
        );
      }
    }
    return new Promise<Awaited<T>>((resolve, reject) => {
      this.queue.push({ feeds, rows, deadline, queuedAt: now, resolve: resolve as (value: unknown) => void, reject, map });
      this.queuedRows += rows;
      this.pump(now);
    });
  }

  /** Starts whatever can start now. Runners call it when capacity comes back (a worker ready again). */
  pump(now = performance.now()): void {
    if (this.closedError !== undefined) return;
    // Expired calls leave even when nothing can run (no worker ready): they must not wait for capacity to fail.
    this.dropExpired(now, false);
    while (this.head < this.queue.length && this.running < this.target.capacity()) {
      this.dropExpired(now, false);
      if (this.head >= this.queue.length) break;
      if (this.batching && this.queuedRows < this.maxBatchSize) {
        const due = this.queue[this.head]!.queuedAt + this.maxDelayMs;
        if (due > now) {
          this.arm(due - now, due);
          return;
        }
      }
      this.dispatch();
    }
    if (this.head >= this.queue.length) this.disarm();
  }

  private arm(delay: number, due: number): void {
    if (this.timer !== undefined) {
      if (this.timerAt <= due) return;
      clearTimeout(this.timer);
    }
    this.timerAt = due;
    this.timer = setTimeout(this.onTimer, delay);
  }

  private disarm(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.pump();
  };

  /** Removes calls whose deadline passed: from the head only, or (when the queue is full) everywhere. */
  private dropExpired(now: number, everywhere: boolean): void {
    while (this.head < this.queue.length && this.queue[this.head]!.deadline <= now) this.expire(this.take());
    if (!everywhere) return;
    let kept = this.head;
    for (let i = this.head; i < this.queue.length; i++) {
      const e = this.queue[i]!;
      if (e.deadline <= now) {
        this.queuedRows -= e.rows;
        this.expire(e);
      } else this.queue[kept++] = e;
    }
    this.queue.length = kept;
  }

  private expire(e: Entry): void {
    this.expired++;
    e.reject(expiredError());
  }

  private take(): Entry {
    const e = this.queue[this.head]!;
    this.queue[this.head++] = undefined;
    this.queuedRows -= e.rows;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return e;
  }

  /** Takes the next batch from the head (stackable calls, up to maxBatchSize rows) and runs it. */
  private dispatch(): void {
    const first = this.take();
    if (!this.batching || first.rows >= this.maxBatchSize || this.head >= this.queue.length) {
      this.runOne(first);
      return;
    }
    const batch: Entry[] = [first];
    let total = first.rows;
    // Calls that cannot join (other dims, too many rows) keep their place for the next batch.
    let skipped = false;
    const q = this.queue;
    for (let i = this.head; i < q.length && total < this.maxBatchSize; i++) {
      const e = q[i]!;
      if (total + e.rows > this.maxBatchSize || !stackable(first.feeds, e.feeds, this.names)) {
        skipped = true;
        continue;
      }
      batch.push(e);
      total += e.rows;
      this.queuedRows -= e.rows;
      q[i] = undefined;
      if (!skipped) this.head = i + 1;
    }
    if (skipped) this.compact();
    else if (this.head === q.length) {
      this.queue = [];
      this.head = 0;
    }
    if (batch.length === 1) this.runOne(first);
    else this.runBatch(batch, total);
  }

  /** Drops the holes left by calls taken from behind a call that could not join. */
  private compact(): void {
    const q: Entry[] = [];
    for (let i = this.head; i < this.queue.length; i++) {
      const e = this.queue[i];
      if (e !== undefined) q.push(e);
    }
    this.queue = q;
    this.head = 0;
  }

  private runOne(e: Entry): void {
    this.started(1, e.rows);
    let running: Promise<Record<string, TensorData>>;
    try {
      running = this.target.run(e.feeds, false);
    } catch (error) {
      running = Promise.reject(error);
    }
    running.then(
      (outputs) => {
        this.finished();
        deliver(e, outputs);
      },
      (error: unknown) => {
        this.finished();
        e.reject(error);
      },
    );
  }

  private runBatch(batch: Entry[], total: number): void {
    this.started(batch.length, total);
    let running: Promise<Record<string, TensorData>>;
    try {
      running = this.target.run(stackFeeds(batch, this.names, total), true);
    } catch (error) {
      running = Promise.reject(error);
    }
    running.then(
      (outputs) => {
        this.finished();
        let parts: Record<string, TensorData>[];
        try {
          parts = splitOutputs(
            outputs,
            batch.map((e) => e.rows),
            total,
          );
        } catch (error) {
          for (const e of batch) e.reject(error);
          return;
        }
        for (let i = 0; i < batch.length; i++) deliver(batch[i]!, parts[i]!);
      },
      (error: unknown) => {
        this.finished();
        for (const e of batch) e.reject(error);
      },
    );
  }

  private started(calls: number, rows: number): void {
    this.running++;
    this.runs++;
    this.calls += calls;
    this.rows += rows;
  }

  private finished(): void {
    this.running--;
    if (this.head < this.queue.length) this.pump();
  }

  /** Counters since creation. */
  stats(): BatcherStats {
    return {
      queued: this.queue.length - this.head,
      running: this.running,
      runs: this.runs,
      calls: this.calls,
      rows: this.rows,
      overloaded: this.overloaded,
      expired: this.expired,
    };
  }

  /** Rejects every queued call with `error` and refuses new ones. Runs in flight settle on their own. */
  close(error: Error = new ClosedError('The model is closed')): void {
    if (this.closedError !== undefined) return;
    this.closedError = error;
    this.failQueued(error);
  }

  /** Rejects every queued call with `error` (e.g. no worker can be started), keeping the queue open. */
  failQueued(error: Error): void {
    this.disarm();
    const waiting = this.queue.slice(this.head);
    this.queue = [];
    this.head = 0;
    this.queuedRows = 0;
    for (const e of waiting) e?.reject(error);
  }
}
