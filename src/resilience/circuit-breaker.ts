/**
 * The circuit breaker of one model version, backed by opossum and configured
 * so that none of opossum's shared or costly behaviour reaches users:
 * - a fresh options object per breaker (opossum mutates and shares it);
 * - no opossum timeout and no AbortController (opossum's is breaker-wide: one
 *   timeout would abort every call in flight); deadlines are ours, per call;
 * - rolling percentiles off (otherwise every failure re-sorts every latency in
 *   the window: milliseconds per failing call under load), snapshots off;
 * - no cache, no coalescing.
 * On top of opossum it trips on slow calls (a model that turns slow is as bad
 * as one that fails), measured in a timer-free sliding window.
 */
import OpossumBreaker from 'opossum';
import { ModelCallError } from '../errors.js';
import type { BreakerState } from '../events.js';
import { SlidingWindow } from './sliding-window.js';

/** Breaker settings (validated by the options schema). */
export interface BreakerOptions {
  /** Percentage of failed calls in the window that opens the breaker. Default 50. */
  readonly errorThresholdPercentage?: number;
  /** Calls needed in the window before the breaker may open. Default 10. */
  readonly volumeThreshold?: number;
  /** Time the breaker stays open before letting one probe through. Default 30 000. */
  readonly resetTimeoutMs?: number;
  /** Length of the rolling statistics window. Default 10 000. */
  readonly rollingWindowMs?: number;
  /** A successful call at least this slow counts as slow. Off when absent. */
  readonly slowCallMs?: number;
  /** Percentage of slow calls in the window that opens the breaker. Default 50. */
  readonly slowCallRatePercent?: number;
}

/** Counters of a breaker's rolling window. */
export interface BreakerStats {
  readonly state: BreakerState;
  readonly calls: number;
  readonly failures: number;
  readonly rejects: number;
  readonly slowCalls: number;
}

/** What a breaker reports on each state change. */
export type TransitionListener = (state: BreakerState, cause: 'failures' | 'slow-calls' | 'manual') => void;

/** Marks errors that must not count against the breaker (the caller aborted). */
export type ErrorFilter = (error: unknown) => boolean;

const BUCKETS = 10;

/** The error a call gets while the breaker is open. */
export function circuitOpenError(): ModelCallError {
  return new ModelCallError('ERR_CIRCUIT_OPEN', 'circuit-open', 'Circuit breaker is open: the model was not called');
}

type Thunk = () => Promise<unknown>;
/** The part of opossum's `Status` that its own event listeners call to count a call. */
interface CountingStatus {
  increment(property: 'fires'): void;
}
const NO_ARGS: readonly unknown[] = [];
const ignore = (): void => {};
const runThunk = (thunk: Thunk): Promise<unknown> => thunk();

/** A circuit breaker guarding one model version. */
export class CircuitBreaker {
  private readonly breaker: OpossumBreaker<[Thunk], unknown>;
  private readonly slow: SlidingWindow | undefined;
  private readonly slowCallMs: number;
  private readonly slowRate: number;
  private readonly volumeThreshold: number;
  private openCause: 'failures' | 'slow-calls' | 'manual' = 'failures';
  /** opossum's rolling counters, when they expose `increment` (opossum 9 does); else events are used. */
  private readonly status: CountingStatus | undefined;

  constructor(options: BreakerOptions, onTransition: TransitionListener, errorFilter: ErrorFilter) {
    const rollingWindowMs = options.rollingWindowMs ?? 10_000;
    this.volumeThreshold = options.volumeThreshold ?? 10;
    this.breaker = new OpossumBreaker<[Thunk], unknown>(runThunk, {
      timeout: false,
      // opossum opens only *above* the threshold, so 100 would never open; a
      // hair less makes reaching the threshold open, like slowCallRatePercent.
      errorThresholdPercentage: (options.errorThresholdPercentage ?? 50) - 1e-9,
      volumeThreshold: this.volumeThreshold,
      resetTimeout: options.resetTimeoutMs ?? 30_000,
      rollingCountTimeout: rollingWindowMs,
      rollingCountBuckets: BUCKETS,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      cache: false,
      coalesce: false,
      // opossum counts a filtered error as a success, which would close a
      // half-open breaker on a probe the caller abandoned: no evidence the
      // model recovered. In half-open it counts as a failure (re-open) instead.
      errorFilter: (error: unknown) => errorFilter(error) && !this.breaker.halfOpen,
    } as OpossumBreaker.Options);
    const status = this.breaker.status as unknown as Partial<CountingStatus>;
    this.status = typeof status.increment === 'function' ? (status as CountingStatus) : undefined;
    this.slowCallMs = options.slowCallMs ?? Number.POSITIVE_INFINITY;
    this.slowRate = options.slowCallRatePercent ?? 50;
    this.slow = options.slowCallMs === undefined ? undefined : new SlidingWindow(rollingWindowMs, BUCKETS);
    this.breaker.on('open', () => {
      const cause = this.openCause;
      this.openCause = 'failures';
      this.slow?.reset();
      onTransition('open', cause);
    });
    this.breaker.on('halfOpen', () => onTransition('half-open', 'failures'));
    this.breaker.on('close', () => {
      // opossum keeps the rolling window across close, so the failures that
      // opened the breaker would re-open it at the first failure after a
      // successful probe (a flapping breaker). A closed breaker starts afresh.
      const status = this.breaker.status as unknown as { rotateBucket?: () => void };
      if (typeof status.rotateBucket === 'function') for (let i = 0; i < BUCKETS; i++) status.rotateBucket();
      this.slow?.reset();
      onTransition('closed', 'failures');
    });
  }

  /** Current state. */
  get state(): BreakerState {
    if (this.breaker.opened) return 'open';
    if (this.breaker.halfOpen) return 'half-open';
    return 'closed';
  }

  /**
   * Runs `thunk` through the breaker. While open, rejects at once with
   * opossum's error (code `EOPENBREAKER`) and never calls `thunk`; the
   * pipeline maps that error to {@link circuitOpenError} on the failure path
   * rather than adding a promise to every call here.
   */
  fire<T>(thunk: () => Promise<T>): Promise<T> {
    return this.breaker.fire(thunk as Thunk) as Promise<T>;
  }

  /**
   * True while the breaker is closed. A closed breaker admits every call, so
   * the pipeline runs the model directly and reports the result with
   * {@link recordSuccess} / {@link recordFailure} instead of going through
   * opossum's `fire` (about a microsecond per call: an events round, two
   * promises and an arguments copy). opossum still holds the state, the
   * rolling statistics and the decision to open; open and half-open breakers
   * always go through `fire`, so the probe logic is opossum's own.
   */
  get isClosed(): boolean {
    return this.breaker.closed;
  }

  /**
   * Reports a successful call made while closed: counted as a call in
   * opossum's window, as `fire` would count it for the error rate.
   * `now` is the caller's clock reading at the answer, if it has one.
   */
  recordSuccess(latencyMs: number, now?: number): void {
    const b = this.breaker;
    // A call admitted before the breaker opened says nothing about the model
    // now: it must not close a half-open breaker (only the probe may).
    if (!b.closed) return;
    const status = this.status;
    if (status !== undefined) {
      // opossum's decision to open reads only `fires` and `failures`; counting
      // the success itself would also keep its latency in an array per bucket
      // (opossum does even with percentiles off): memory that grows with the
      // call rate, and the largest cost of a guarded call after the model.
      status.increment('fires');
    } else {
      b.emit('fire', NO_ARGS);
      b.emit('success', undefined, latencyMs);
    }
    this.recordLatency(latencyMs, now);
  }

  /**
   * Reports a failed call made while closed: replayed through opossum's
   * `fire` so its failure accounting and its decision to open apply unchanged.
   */
  recordFailure(error: unknown): void {
    // Once open or half-open, a late failure of an earlier call is moot, and
    // replaying it through fire would take the half-open probe's place.
    if (!this.breaker.closed) return;
    this.breaker.fire(() => Promise.reject(error)).catch(ignore);
  }

  /**
   * Records the duration of a successful call and opens the breaker when the
   * share of slow calls in the window reaches the configured rate.
   */
  recordLatency(ms: number, now = performance.now()): void {
    const slow = this.slow;
    if (slow === undefined) return;
    const isSlow = ms >= this.slowCallMs;
    slow.record(isSlow, now);
    if (!isSlow) return;
    const { total, hits } = slow.counts(now);
    if (total >= this.volumeThreshold && (hits / total) * 100 >= this.slowRate && !this.breaker.opened) {
      this.openCause = 'slow-calls';
      this.breaker.open();
    }
  }

  /** Opens the breaker by hand (e.g. an operator's kill switch). */
  open(): void {
    this.openCause = 'manual';
    this.breaker.open();
  }

  /** Closes the breaker by hand. */
  close(): void {
    this.breaker.close();
  }

  /** Rolling-window counters. */
  stats(): BreakerStats {
    const s = this.breaker.stats;
    return {
      state: this.state,
      calls: s.fires,
      failures: s.failures,
      rejects: s.rejects,
      slowCalls: this.slow?.counts().hits ?? 0,
    };
  }

  /** Clears opossum's timers; the breaker rejects every call afterwards. */
  shutdown(): void {
    this.breaker.shutdown();
  }
}
