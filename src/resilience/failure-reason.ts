/**
 * How a failed attempt maps to the {@link FailureReason} an outcome reports.
 */
import { isModelCallError, type FailureReason } from '../errors.js';
import { circuitOpenError } from './circuit-breaker.js';

/** Wraps errors that happened because the caller aborted, so the breaker does not count them. */
export class CallerAborted {
  constructor(readonly error: unknown) {}
}

/** The reason a model-side error maps to. */
export function reasonOf(error: unknown): FailureReason {
  if (isModelCallError(error)) return error.reason;
  if (isOpenBreakerError(error)) return 'circuit-open';
  return 'model-error';
}

/** opossum's rejection while open (mapped here rather than with an extra promise per call). */
export function isOpenBreakerError(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'EOPENBREAKER';
}

/** The error a failure reports: ours for an open breaker, the original one for a caller abort. */
export function normalizeError(error: unknown): unknown {
  if (error instanceof CallerAborted) return error.error;
  if (isOpenBreakerError(error)) return circuitOpenError();
  return error;
}
