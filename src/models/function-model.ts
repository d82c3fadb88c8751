import type { Model, RunContext } from '../types.js';

/** The function wrapped by {@link functionModel}. */
export type ModelFunction<I, O> = (input: I, ctx: RunContext) => O | Promise<O>;

/** Options of {@link functionModel}. */
export interface FunctionModelOptions {
  /** Called by `ready()` / first call, e.g. to open a connection. */
  readonly load?: (options: { signal?: AbortSignal }) => Promise<void> | void;
  /** Called by `close()`. */
  readonly close?: () => Promise<void> | void;
}

/**
 * Wraps any async model call (a remote endpoint, a hand-written scorer, a
 * client library) as a {@link Model}. The function receives the input and a
 * context whose `signal` aborts at the deadline or when the caller aborts:
 * pass it on to `fetch` so abandoned calls stop using resources.
 *
 * @example
 * ```ts
 * const remote = functionModel(async (input, { signal }) => {
 *   const res = await fetch(url, { method: 'POST', body: JSON.stringify(input), signal });
 *   return res.json();
 * });
 * ```
 */
export function functionModel<I, O>(fn: ModelFunction<I, O>, options: FunctionModelOptions = {}): Model<I, O> {
  if (typeof fn !== 'function') throw new TypeError('functionModel(fn): fn must be a function');
  let loading: Promise<void> | undefined;
  return {
    kind: 'function',
    load(opts = {}) {
      if (!options.load) return Promise.resolve();
      const load = options.load;
      // A failed load is not cached, so the next call tries again. A load that
      // throws synchronously must still reject (not throw out of `load()`).
      loading ??= new Promise<void>((resolve) => resolve(load(opts))).catch((e: unknown) => {
        loading = undefined;
        throw e;
      });
      return loading;
    },
    run(input, ctx) {
      try {
        return Promise.resolve(fn(input, ctx));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    async close() {
      await options.close?.();
    },
  };
}
