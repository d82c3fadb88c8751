/**
 * The seam between the pipeline and telemetry. The pipeline reports each
 * call's milestones to a {@link CallObserver}; the OpenTelemetry
 * implementation turns them into spans and metrics. The no-op observer is a
 * shared object, so a call without telemetry allocates nothing for it.
 */
import type { BreakerState } from '../events.js';
import type { FailureReason } from '../errors.js';
import type { InferenceContext, Outcome, Route } from '../types.js';

/** Observes one `infer` call. Every method must be cheap and must not throw. */
export interface CallObserver {
  /** The version was chosen. */
  routed(version: string, route: Route, flag?: { key: string; variant: string | undefined; reason: string; provider?: string }): void;
  /** A model attempt starts (1-based). */
  attemptStart(attempt: number): void;
  /** A model attempt ended; `error` is undefined on success. */
  attemptEnd(attempt: number, error: unknown, reason: FailureReason | undefined): void;
  /** The fallback chain starts after a failure. */
  fallbackStart(reason: FailureReason): void;
  /** The call ends with an outcome. Called exactly once, or `fail` is. */
  end(outcome: Outcome<unknown>): void;
  /** The call ends with an error (input invalid, caller abort, all fallbacks failed, closed). */
  fail(error: unknown): void;
  /**
   * Shadow work for this call starts (a challenger version runs on the same
   * input, off the caller's path). Returns the function that reports how it
   * ended; it may be called after `end`. Optional: only for traces (a child
   * span of the call's span); the agreement counter comes from
   * {@link Instrumentation.shadowResult}.
   */
  shadowStart?(version: string): (result: ShadowResult, error?: unknown) => void;
}

/** How shadow work for a version ended. */
export type ShadowResult = 'agree' | 'disagree' | 'error' | 'dropped';

/** Observes an inference: starts call observers and hears state changes. */
export interface Instrumentation {
  /** Starts observing one call. `input` must not be recorded unless the user opted in. */
  startCall(name: string, input: unknown, context: InferenceContext | undefined): CallObserver;
  /** A version's breaker changed state. */
  breakerTransition(name: string, version: string, state: BreakerState): void;
  /** Shadow work finished for a version. */
  shadowResult?(name: string, version: string, result: ShadowResult): void;
  /** Other figures (canary state, queue lengths) as they land. */
  record?(name: string, metric: string, value: number, attributes: Readonly<Record<string, string | number | boolean>>): void;
}

/** An observer that records nothing (shared: no allocation per call). */
export const noopObserver: CallObserver = {
  routed() {},
  attemptStart() {},
  attemptEnd() {},
  fallbackStart() {},
  end() {},
  fail() {},
};

/** Instrumentation that records nothing. */
export const noopInstrumentation: Instrumentation = {
  startCall: () => noopObserver,
  breakerTransition() {},
};
