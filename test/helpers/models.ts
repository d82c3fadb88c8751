/**
 * Test helpers for the guarded pipeline: controllable models, clocks and an
 * unhandled-rejection tracker. Shared by the core suites.
 */
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { functionModel } from '../../src/models/function-model.js';
import type { Model, RunContext } from '../../src/types.js';

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Blocks the event loop for `ms` milliseconds, like an in-process ONNX run does. */
export function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // Spinning on purpose: timers cannot fire while this runs.
  }
}

/** A promise with its settle functions exposed. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** Creates a {@link Deferred}. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A model whose behaviour each test switches at will, recording every call. */
export interface ScriptedModel<I, O> extends Model<I, O> {
  /** Inputs and contexts of every `run`, in order. */
  readonly calls: { input: I; ctx: RunContext }[];
  /** Replaces what the next runs do. */
  behave(fn: (input: I, ctx: RunContext) => O | Promise<O>): void;
  /** Times `load` and `close` were called. */
  readonly loads: number;
  readonly closes: number;
}

/** A function model whose behaviour can be switched between calls. */
export function scriptedModel<I, O>(initial: (input: I, ctx: RunContext) => O | Promise<O>): ScriptedModel<I, O> {
  let behaviour = initial;
  const calls: { input: I; ctx: RunContext }[] = [];
  let loads = 0;
  let closes = 0;
  const inner = functionModel<I, O>(
    (input, ctx) => {
      calls.push({ input, ctx });
      return behaviour(input, ctx);
    },
    {
      load: () => {
        loads++;
      },
      close: () => {
        closes++;
      },
    },
  );
  return {
    kind: inner.kind,
    load: (o) => inner.load(o),
    run: (i, c) => inner.run(i, c),
    close: () => inner.close(),
    calls,
    behave(fn) {
      behaviour = fn;
    },
    get loads() {
      return loads;
    },
    get closes() {
      return closes;
    },
  };
}

/** Never settles unless the run's signal aborts (then rejects with its reason). */
export function hang<O>(ctx: RunContext): Promise<O> {
  return new Promise<O>((_resolve, reject) => {
    ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
  });
}

/** Resolves with `value` after `ms`, ignoring any signal. */
export function after<O>(ms: number, value: O): Promise<O> {
  return new Promise<O>((resolve) => setTimeout(() => resolve(value), ms));
}

/**
 * Fails the current test file if any promise rejection goes unhandled: each
 * test is checked after it ends (with a short grace period for late ones).
 */
export function failOnUnhandledRejections(): void {
  const seen: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    seen.push(reason);
  };
  beforeAll(() => {
    process.on('unhandledRejection', onUnhandled);
  });
  afterEach(async () => {
    // Unhandled rejections are reported after a macrotask turn.
    await sleep(5);
    const found = seen.splice(0);
    expect(found, 'unhandled rejections').toEqual([]);
  });
  afterAll(() => {
    process.off('unhandledRejection', onUnhandled);
  });
}

/** Awaits a promise that must reject and returns the rejection value. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}
