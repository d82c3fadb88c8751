/**
 * Deadlines for model calls.
 *
 * A call's deadline is absolute (`performance.now()` milliseconds), so every
 * retry and every step of one call share the same budget. One timer per
 * attempt, cleared as soon as the result arrives.
 */
import { ModelCallError } from '../errors.js';

/** The error of a call that missed its deadline. */
export function timeoutError(timeoutMs: number): ModelCallError {
  return new ModelCallError('ERR_TIMEOUT', 'timeout', `Model call exceeded its ${timeoutMs} ms deadline`);
}

/**
 * Settles like `promise` unless `deadline` passes first, in which case it
 * rejects with a timeout error and calls `onTimeout` (to abort the work).
 *
 * A result that arrives after the deadline is also a timeout: in-process
 * runtimes such as onnxruntime-node block the event loop during a run, so the
 * timer cannot fire until the run is over, and a late answer must not be
 * served as if it were on time.
 */
export function withDeadline<T>(
  promise: Promise<T>,
  deadline: number,
  timeoutMs: number,
  onTimeout: (error: ModelCallError) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const expire = (): void => {
      if (settled) return;
      settled = true;
      const error = timeoutError(timeoutMs);
      onTimeout(error);
      reject(error);
    };
    const remaining = deadline - performance.now();
    const timer = setTimeout(expire, remaining > 0 ? remaining : 0);
    promise.then(
      (value) => {
        if (settled) return;
        clearTimeout(timer);
        if (performance.now() > deadline) return expire();
        settled = true;
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
      },
    );
  });
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
