/**
 * Retries for transient faults, backed by p-retry.
 *
 * p-retry costs several microseconds per call even when the first attempt
 * succeeds, so it is only loaded and entered after a first failure: the
 * successful hot path never touches it.
 */
import type { ModelCallError } from '../errors.js';

/** Retry settings (validated by the options schema). */
export interface RetryOptions {
  /** Retries after the first attempt. Default 2. */
  readonly retries?: number;
  /** Delay before the first retry. Default 25 ms. */
  readonly minTimeoutMs?: number;
  /** Largest delay between retries. Default 1 000 ms. */
  readonly maxTimeoutMs?: number;
  /** Growth factor of the delay. Default 2. */
  readonly factor?: number;
  /** Which errors are worth retrying. Default: errors the model threw (not timeouts, open breakers or bad outputs). */
  readonly retryIf?: (error: unknown) => boolean;
}

/** Default `retryIf`: only plain model errors are transient candidates. */
export function isRetryableByDefault(error: unknown): boolean {
  const reason = (error as Partial<ModelCallError> | null)?.reason;
  return reason === undefined || reason === 'model-error';
}

type PRetry = typeof import('p-retry').default;
let pRetryPromise: Promise<PRetry> | undefined;
const loadPRetry = (): Promise<PRetry> => (pRetryPromise ??= import('p-retry').then((m) => m.default));

/**
 * Carries every failure through p-retry. p-retry needs `Error` instances and
 * never retries a `TypeError` (it treats one as a programming error), which
 * would override the user's `retryIf`; wrapping keeps that decision ours.
 */
class Carried extends Error {
  constructor(readonly original: unknown) {
    super(`Retry carrier: ${String(original)}`);
  }
}

const unwrap = (e: unknown): unknown => (e instanceof Carried ? e.original : e);

/**
 * Runs the retries that follow a failed first attempt. The first failure is
 * replayed as p-retry's first attempt so its backoff and limits apply from
 * there. Stops at `deadline`, when `canRetry` says no (breaker open, retryIf),
 * or when `signal` aborts.
 */
export async function retryAfterFailure<T>(
  firstError: unknown,
  attempt: () => Promise<T>,
  options: RetryOptions,
  deadline: number,
  canRetry: (error: unknown) => boolean,
  signal: AbortSignal | undefined,
): Promise<T> {
  const pRetry = await loadPRetry();
  const remaining = deadline - performance.now();
  if (remaining <= 0) throw firstError;
  const minTimeout = options.minTimeoutMs ?? 25;
  const maxTimeout = options.maxTimeoutMs ?? 1_000;
  const factor = options.factor ?? 2;
  let last = firstError;
  const first = new Carried(firstError);
  try {
    return await pRetry(
      async (n: number) => {
        if (n === 1) throw first;
        // A backoff timer can fire a little late; never call the model past its deadline.
        if (performance.now() >= deadline) throw new Carried(last);
        try {
          return await attempt();
        } catch (e) {
          last = e;
          throw new Carried(e);
        }
      },
      {
        retries: options.retries ?? 2,
        minTimeout,
        maxTimeout,
        factor,
        randomize: false,
        maxRetryTime: remaining,
        // p-retry would shorten the last backoff to end at the deadline and then
        // call the model with no time left; give up instead when the next delay
        // (p-retry's formula) does not end before the deadline.
        // The caller already approved the first error: retryIf runs once per failed attempt.
        shouldRetry: ({ error, retriesConsumed }) =>
          (error === first || canRetry(unwrap(error))) &&
          performance.now() + Math.min(Math.round(minTimeout * factor ** retriesConsumed), maxTimeout) < deadline,
        ...(signal ? { signal } : {}),
      },
    );
  } catch (e) {
    throw unwrap(e);
  }
}
