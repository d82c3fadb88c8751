/**
 * The fallback chain: handlers tried in order until one answers.
 *
 * A handler that throws, times out (`fallbackTimeoutMs`) or returns a value
 * that fails the output check passes to the next; every such error is kept so
 * that, when all fail, the final error explains each step.
 */
import { GracefulInferenceError } from '../errors.js';
import type { FallbackAnswer, FallbackHandler, Failure } from '../types.js';

/** A handler in the uniform shape the chain runs. */
export interface ChainLink<I, O> {
  readonly name: string;
  run(input: I, failure: Failure): Promise<FallbackAnswer<O>>;
  /** The handler's own `ready()` (rule sets: the JsonLogic engine loaded), awaited by the inference's `ready()`. */
  ready?(): Promise<void>;
}

/** What the chain produced. */
export type ChainResult<O> =
  | { readonly ok: true; readonly value: O; readonly name: string; readonly ruleId: string | undefined; readonly errors: readonly unknown[] }
  | { readonly ok: false; readonly errors: readonly unknown[] };

/** A fallback handler that did not answer in time. */
export class FallbackTimeoutError extends GracefulInferenceError {
  // Spelled out: minifiers rename classes, and error names must stay stable.
  override name = 'FallbackTimeoutError';
  constructor(readonly handler: string, timeoutMs: number) {
    super('ERR_TIMEOUT', `Fallback handler "${handler}" did not answer within ${timeoutMs} ms`);
  }
}

/** A fallback value rejected by the output check. */
export class FallbackOutputError extends GracefulInferenceError {
  // Spelled out: minifiers rename classes, and error names must stay stable.
  override name = 'FallbackOutputError';
  constructor(readonly handler: string, message: string) {
    super('ERR_INVALID_OUTPUT', `Fallback handler "${handler}" returned an invalid output: ${message}`);
  }
}

/** Normalises user handlers (functions or `{ name, handle }` objects) into links. */
export function toChain<I, O>(handlers: FallbackHandler<I, O> | readonly FallbackHandler<I, O>[] | undefined): ChainLink<I, O>[] {
  if (handlers === undefined) return [];
  const list = Array.isArray(handlers) ? handlers : [handlers as FallbackHandler<I, O>];
  return list.map((h, i): ChainLink<I, O> => {
    if (typeof h === 'function') {
      const name = h.name && h.name !== 'anonymous' ? h.name : `fallback[${i}]`;
      return { name, run: async (input, failure) => ({ value: await h(input, failure) }) };
    }
    const explain = h.explain;
    const ready = (h as { ready?: unknown }).ready;
    const link: ChainLink<I, O> = explain
      ? { name: h.name, run: async (input, failure) => explain.call(h, input, failure) }
      : { name: h.name, run: async (input, failure) => ({ value: await h.handle(input, failure) }) };
    return typeof ready === 'function' ? { ...link, ready: () => Promise.resolve(ready.call(h)).then(() => undefined) } : link;
  });
}

function bounded<T>(promise: Promise<T>, ms: number | undefined, name: string): Promise<T> {
  if (ms === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new FallbackTimeoutError(name, ms)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** What the output check says about a fallback value: the value as parsed, or the problem. */
export type CheckResult<O> = { readonly ok: true; readonly value: O } | { readonly ok: false; readonly problem: string };

/**
 * Tries each link in order. `check` validates a value and returns it as
 * parsed (so a fallback value gets the schema's defaults and stripping, like a
 * model output). `signal` stops the chain when the caller aborts.
 */
export async function runChain<I, O>(
  chain: readonly ChainLink<I, O>[],
  input: I,
  failure: Failure,
  options: { timeoutMs: number | undefined; check: ((value: O) => CheckResult<O>) | undefined; signal: AbortSignal | undefined },
): Promise<ChainResult<O>> {
  const errors: unknown[] = [];
  for (const link of chain) {
    if (options.signal?.aborted) throw options.signal.reason;
    try {
      const answer = await bounded(link.run(input, failure), options.timeoutMs, link.name);
      let value = answer.value;
      if (options.check !== undefined) {
        const checked = options.check(value);
        if (!checked.ok) {
          errors.push(new FallbackOutputError(link.name, checked.problem));
          continue;
        }
        value = checked.value;
      }
      return { ok: true, value, name: link.name, ruleId: answer.ruleId, errors };
    } catch (error) {
      errors.push(error);
    }
  }
  return { ok: false, errors };
}
