/**
 * Deadline and abort helpers for model calls.
 *
 * A call's deadline is absolute (`performance.now()` milliseconds), so every
 * retry and every step of one call share the same budget; the pipeline arms
 * it through a shared DeadlineQueue (see deadline-queue.ts).
 */
import { ModelCallError } from '../errors.js';

/** The error of a call that missed its deadline. */
export function timeoutError(timeoutMs: number): ModelCallError {
  return new ModelCallError('ERR_TIMEOUT', 'timeout', `Model call exceeded its ${timeoutMs} ms deadline`);
}

/**
 * Rejects with the signal's reason as soon as `signal` aborts; otherwise
 * settles like `promise`. The listener is removed once settled.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
