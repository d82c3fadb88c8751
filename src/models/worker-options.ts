/**
 * Execution options of `onnxModel` (inline or worker mode, batching, queue
 * bound), their validation and the status a model reports about them.
 * Runtime-agnostic.
 */
import * as z from 'zod/mini';
import type { BatcherStats, BatchingOptions } from './batcher.js';
import type { WorkerPoolStats, WorkerReplacedEvent } from './worker-pool.js';

export type { BatchingOptions } from './batcher.js';
export type { WorkerReplacedEvent, WorkerReplacementCause } from './worker-pool.js';

/** Where an ONNX model's runs execute. */
export type ExecutionMode = 'inline' | 'worker';

/** How worker mode isolates sessions in Node. */
export type WorkerIsolation = 'thread' | 'process';

/** Events of an ONNX model, by name. */
export interface OnnxModelEvents {
  /** A worker was terminated (a run outlived `killAfterMs`) or died, and is being replaced. */
  'worker-replaced': WorkerReplacedEvent;
}

/** A listener of {@link OnnxModelEvents}. */
export type OnnxModelListener = <K extends keyof OnnxModelEvents>(event: K, payload: OnnxModelEvents[K]) => void;

/** The execution options of `onnxModel`. */
export interface ExecutionOptions {
  /**
   * `inline` (default) runs on the calling thread: cheapest, but a run blocks
   * it, so a deadline can only be noticed after the run. `worker` runs in
   * worker threads (Node `worker_threads`, browser Web Workers): the caller's
   * thread stays free, deadlines hold during a run, a runaway or crashing run
   * is contained and its worker replaced.
   */
  readonly execution?: ExecutionMode;
  /** Worker mode: number of workers, each with its own session. Default 1. */
  readonly workers?: number;
  /**
   * Worker mode in Node: `thread` (default) runs each session in a
   * `worker_threads` thread (cheapest messages, tensors transferred);
   * `process` runs it in a child process, the only way to contain a native
   * crash of onnxruntime (an abort takes every thread of its process down) and
   * to stop a run mid-computation (a thread inside onnxruntime cannot be
   * terminated safely, so it is stopped when its run returns). Browsers have
   * Web Workers only.
   */
  readonly isolation?: WorkerIsolation;
  /**
   * Worker mode: a run that takes longer has its worker terminated and
   * replaced (the session reloads in the background); its calls fail with
   * `model-error`. A worker thread inside onnxruntime is terminated when that
   * run returns (see `isolation`); a worker process is killed at once.
   * Default 5 000 ms.
   */
  readonly killAfterMs?: number;
  /**
   * Stacks concurrent calls along the batch (first) dimension into one run
   * and gives each caller its own rows back. Refused at load for models whose
   * inputs or outputs lack a dynamic first dimension.
   */
  readonly batching?: BatchingOptions;
  /**
   * Most calls waiting for a run (per model, i.e. per version); more fall back
   * at once with `overloaded`. Time spent waiting counts toward the call's
   * deadline, and calls whose deadline passes while they wait are never run.
   * Default: unbounded.
   */
  readonly maxQueue?: number;
  /**
   * Worker mode in Node with `isolation: 'thread'`: after sending a run, the
   * calling thread polls for the answer for up to this many milliseconds
   * instead of going to sleep, as long as this worker's recent round trips
   * were shorter than that. Waking a sleeping thread costs 10-20 µs on the
   * machines measured, more than a small model's whole batch, so for fast
   * models this roughly doubles throughput; runs that take longer are never
   * waited for, so the event loop is held at most this long per run. Like
   * onnxruntime's own `allow_spinning`, it trades CPU for latency. `0` turns
   * it off. Default 0.1 ms; at most 1 ms. Browsers cannot poll a Web Worker,
   * and processes answer over IPC: ignored there.
   */
  readonly spinMs?: number;
  /** Receives the model's events (also available through `subscribe`). */
  readonly onEvent?: OnnxModelListener;
}

/** Defaults applied. */
export interface ResolvedExecution {
  readonly execution: ExecutionMode;
  readonly isolation: WorkerIsolation;
  readonly workers: number;
  readonly killAfterMs: number;
  readonly batching: Required<BatchingOptions> | undefined;
  readonly maxQueue: number;
  readonly spinMs: number;
  /** True when calls go through the queue (worker mode, batching, or a queue bound). */
  readonly queued: boolean;
}

/** Default of `killAfterMs`. */
export const DEFAULT_KILL_AFTER_MS = 5_000;
/** Default of `spinMs`. */
export const DEFAULT_SPIN_MS = 0.1;
/** Default of `batching.maxDelayMs`. */
export const DEFAULT_MAX_DELAY_MS = 1;

const positiveInt = (max: number) => z.int().check(z.gte(1), z.lte(max));

/** The zod/mini fields of {@link ExecutionOptions}, merged into the `onnxModel` options schema. */
export const executionOptionsShape = {
  execution: z.optional(z.enum(['inline', 'worker'])),
  workers: z.optional(positiveInt(256)),
  isolation: z.optional(z.enum(['thread', 'process'])),
  killAfterMs: z.optional(z.number().check(z.positive(), z.lte(2_147_483_647))),
  batching: z.optional(
    z.strictObject({
      maxBatchSize: positiveInt(1 << 20),
      maxDelayMs: z.optional(z.number().check(z.gte(0), z.lte(60_000))),
    }),
  ),
  maxQueue: z.optional(z.union([z.int().check(z.gte(1)), z.literal(Number.POSITIVE_INFINITY)])),
  spinMs: z.optional(z.number().check(z.gte(0), z.lte(1))),
  onEvent: z.optional(z.custom<OnnxModelListener>((v) => typeof v === 'function', { error: 'expected a function' })),
};

/**
 * Cross-field checks of {@link ExecutionOptions}: `workers` and `killAfterMs`
 * only mean something in worker mode, so setting them inline is a mistake.
 */
export function executionIssues(options: ExecutionOptions): { path: string[]; message: string }[] {
  const issues: { path: string[]; message: string }[] = [];
  if (options.execution !== 'worker') {
    for (const key of ['workers', 'killAfterMs', 'isolation', 'spinMs'] as const) {
      if (options[key] !== undefined) issues.push({ path: [key], message: `only used with execution: 'worker'` });
    }
  }
  return issues;
}

/** Applies the defaults. */
export function resolveExecution(options: ExecutionOptions): ResolvedExecution {
  const execution = options.execution ?? 'inline';
  const batching = options.batching === undefined ? undefined : { maxBatchSize: options.batching.maxBatchSize, maxDelayMs: options.batching.maxDelayMs ?? DEFAULT_MAX_DELAY_MS };
  const maxQueue = options.maxQueue ?? Number.POSITIVE_INFINITY;
  return {
    execution,
    isolation: options.isolation ?? 'thread',
    workers: options.workers ?? 1,
    killAfterMs: options.killAfterMs ?? DEFAULT_KILL_AFTER_MS,
    batching,
    maxQueue,
    spinMs: options.spinMs ?? DEFAULT_SPIN_MS,
    queued: execution === 'worker' || batching !== undefined || options.maxQueue !== undefined,
  };
}

/** What an ONNX model reports through `status()`. */
export interface OnnxModelStatus {
  readonly execution: ExecutionMode;
  /** Worker mode only. */
  readonly isolation?: WorkerIsolation;
  /** True once the session (or every worker's) is loaded. */
  readonly loaded: boolean;
  readonly closed: boolean;
  /** The queue and batching counters; absent inline without batching or queue bound (calls go straight to the session). */
  readonly queue?: BatcherStats & {
    readonly maxQueue: number;
    /** Mean rows per run since creation (1 without batching). */
    readonly meanBatchSize: number;
  };
  /** Worker mode only. */
  readonly workers?: WorkerPoolStats;
}
