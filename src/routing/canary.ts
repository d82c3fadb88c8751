/**
 * The canary analysis state machine, in the spirit of Argo Rollouts: traffic
 * to the canary moves step by step while the canary's measured figures pass
 * the checks; failed analyses roll it back to 0 %; after the last step the
 * canary is promoted.
 *
 * It needs no timer: each observation (and each `status()` / `tick()`) checks
 * whether the current step has been measured long enough, from timestamps.
 * A step is judged once it has at least `minRequestsPerStep` canary calls
 * *and* `intervalMs` have passed since it started; until then it waits.
 */
import type { FailureReason } from '../errors.js';
import type { CanaryChecks, CanaryOptions } from './routing-options.js';

/** Default traffic steps, in percent. */
export const DEFAULT_CANARY_STEPS: readonly number[] = Object.freeze([5, 25, 50, 100]);

/** How one call ended, as the canary needs it. */
export interface CanaryObservation {
  /** The version that served the call. */
  readonly version: string;
  /** `model`, `fallback`, or `failed` when the call rejected with no answer. */
  readonly source: 'model' | 'fallback' | 'failed';
  /** Why the model's answer was not used, when it was not. */
  readonly reason?: FailureReason | undefined;
  /** Wall time of the call, in milliseconds. */
  readonly latencyMs: number;
}

/** Figures of one version over the current step's window. */
export interface CanaryFigures {
  readonly requests: number;
  /** Calls where the model failed (every reason but `rejected-output`, or no answer). */
  readonly errors: number;
  /** Calls answered by a fallback handler. */
  readonly fallbacks: number;
  /** `errors / requests` (0 without requests). */
  readonly errorRate: number;
  /** `fallbacks / requests` (0 without requests). */
  readonly fallbackRate: number;
  /** p99 latency in milliseconds (nearest rank; `undefined` without requests). */
  readonly latencyP99Ms: number | undefined;
}

/** One check that did not pass. */
export interface FailedCheck {
  readonly check: keyof CanaryChecks;
  /** The configured limit. */
  readonly limit: number;
  /** The measured value. */
  readonly actual: number;
}

/** Where the canary is. */
export type CanaryPhase = 'progressing' | 'paused' | 'rolled-back' | 'aborted' | 'promoted';

/** A snapshot of the canary, as reported by `status()`. */
export interface CanaryStatus {
  readonly version: string;
  readonly baseline: string;
  readonly phase: CanaryPhase;
  /** Index of the current step in `steps`. */
  readonly step: number;
  readonly steps: readonly number[];
  /** Share of traffic the canary gets now, in percent. */
  readonly weight: number;
  /** Failed analyses so far, and the limit that rolls the canary back. */
  readonly failures: number;
  readonly failureLimit: number;
  /** Milliseconds spent in the current step's window. */
  readonly windowMs: number;
  /** The canary's figures in the current window. */
  readonly canary: CanaryFigures;
  /** The baseline's figures in the current window. */
  readonly baselineFigures: CanaryFigures;
  /** Checks that failed at the last failed analysis. */
  readonly lastFailedChecks: readonly FailedCheck[];
}

/** Payload of `canary-step`. */
export interface CanaryStepEvent {
  readonly version: string;
  readonly baseline: string;
  readonly step: number;
  readonly weight: number;
  readonly previousWeight: number;
  /** The figures that passed. */
  readonly canary: CanaryFigures;
  readonly baselineFigures: CanaryFigures;
}

/** Payload of `canary-rollback`. */
export interface CanaryRollbackEvent {
  readonly version: string;
  readonly baseline: string;
  /** `checks` when analyses failed `failureLimit` times, `aborted` after `abort()`. */
  readonly cause: 'checks' | 'aborted';
  readonly step: number;
  /** Weight before the rollback, in percent. */
  readonly weight: number;
  readonly failures: number;
  /** The checks that failed last (empty after `abort()` without failures). */
  readonly failed: readonly FailedCheck[];
  readonly canary: CanaryFigures;
  readonly baselineFigures: CanaryFigures;
}

/** Payload of `canary-promoted`. */
export interface CanaryPromotedEvent {
  readonly version: string;
  readonly baseline: string;
  /** `true` after `promote()`, `false` when the last step passed. */
  readonly manual: boolean;
  readonly canary: CanaryFigures;
  readonly baselineFigures: CanaryFigures;
}

/** Events of a canary, by name (the same names as the inference's events). */
export interface CanaryEvents {
  'canary-step': CanaryStepEvent;
  'canary-rollback': CanaryRollbackEvent;
  'canary-promoted': CanaryPromotedEvent;
}

/** Receives the canary's events. */
export type CanaryListener = <K extends keyof CanaryEvents>(event: K, payload: CanaryEvents[K]) => void;

/** Most latency samples kept per window; beyond that a uniform reservoir sample. */
const RESERVOIR = 4096;

/** Counters and a latency reservoir of one version over one window. */
class Window {
  requests = 0;
  errors = 0;
  fallbacks = 0;
  private seen = 0;
  private readonly latencies: number[] = [];

  constructor(private readonly random: () => number) {}

  add(o: CanaryObservation): void {
    this.requests++;
    if (o.source === 'failed' || (o.reason !== undefined && o.reason !== 'rejected-output')) this.errors++;
    if (o.source === 'fallback') this.fallbacks++;
    const i = this.seen++;
    if (i < RESERVOIR) this.latencies.push(o.latencyMs);
    else {
      const j = Math.floor(this.random() * (i + 1));
      if (j < RESERVOIR) this.latencies[j] = o.latencyMs;
    }
  }

  reset(): void {
    this.requests = 0;
    this.errors = 0;
    this.fallbacks = 0;
    this.seen = 0;
    this.latencies.length = 0;
  }

  figures(): CanaryFigures {
    const n = this.requests;
    let p99: number | undefined;
    if (this.latencies.length > 0) {
      const sorted = [...this.latencies].sort((a, b) => a - b);
      p99 = sorted[Math.max(0, Math.ceil(0.99 * sorted.length) - 1)];
    }
    return {
      requests: n,
      errors: this.errors,
      fallbacks: this.fallbacks,
      errorRate: n === 0 ? 0 : this.errors / n,
      fallbackRate: n === 0 ? 0 : this.fallbacks / n,
      latencyP99Ms: p99,
    };
  }
}

/** Runs the checks; returns the ones that failed. A check with no data to judge passes. */
export function runChecks(checks: CanaryChecks, canary: CanaryFigures, baseline: CanaryFigures): FailedCheck[] {
  const failed: FailedCheck[] = [];
  if (checks.maxErrorRate !== undefined && canary.errorRate > checks.maxErrorRate) {
    failed.push({ check: 'maxErrorRate', limit: checks.maxErrorRate, actual: canary.errorRate });
  }
  if (checks.maxFallbackRate !== undefined && canary.fallbackRate > checks.maxFallbackRate) {
    failed.push({ check: 'maxFallbackRate', limit: checks.maxFallbackRate, actual: canary.fallbackRate });
  }
  const p99 = canary.latencyP99Ms;
  if (checks.maxLatencyP99Ms !== undefined && p99 !== undefined && p99 > checks.maxLatencyP99Ms) {
    failed.push({ check: 'maxLatencyP99Ms', limit: checks.maxLatencyP99Ms, actual: p99 });
  }
  const base = baseline.latencyP99Ms;
  // Without baseline traffic in the window there is nothing to compare with.
  if (checks.maxLatencyRatio !== undefined && p99 !== undefined && base !== undefined && base > 0) {
    const ratio = p99 / base;
    if (ratio > checks.maxLatencyRatio) failed.push({ check: 'maxLatencyRatio', limit: checks.maxLatencyRatio, actual: ratio });
  }
  return failed;
}

/** Options of {@link Canary} besides the user's canary options. */
export interface CanaryRuntime {
  /** The baseline when `options.baseline` is not set (the inference's default version). */
  readonly defaultBaseline: string;
  /** Receives `canary-step`, `canary-rollback` and `canary-promoted`. */
  readonly onEvent?: CanaryListener;
  /** Clock in milliseconds. Default `performance.now`. */
  readonly now?: () => number;
  /** Random source for latency reservoir sampling. Default `Math.random`. */
  readonly random?: () => number;
}

/**
 * The state of one canary. Feed it every call's figures with
 * {@link Canary.observe}; read {@link Canary.weight} to route.
 */
export class Canary {
  readonly version: string;
  readonly baseline: string;
  readonly steps: readonly number[];
  readonly minRequestsPerStep: number;
  readonly intervalMs: number;
  readonly checks: CanaryChecks;
  readonly failureLimit: number;
  private phase_: CanaryPhase = 'progressing';
  private step_ = 0;
  private weight_: number;
  private failures = 0;
  private lastFailed: readonly FailedCheck[] = [];
  private passedWhilePaused: { canary: CanaryFigures; baselineFigures: CanaryFigures } | undefined;
  private windowStart: number;
  private readonly canaryWindow: Window;
  private readonly baselineWindow: Window;
  private readonly now: () => number;
  private readonly onEvent: CanaryListener | undefined;

  constructor(options: CanaryOptions, runtime: CanaryRuntime) {
    this.version = options.version;
    this.baseline = options.baseline ?? runtime.defaultBaseline;
    this.steps = Object.freeze([...(options.steps ?? DEFAULT_CANARY_STEPS)]);
    this.minRequestsPerStep = options.minRequestsPerStep ?? 100;
    this.intervalMs = options.intervalMs ?? 60_000;
    this.checks = { ...options.checks };
    this.failureLimit = options.failureLimit ?? 1;
    this.now = runtime.now ?? (() => performance.now());
    this.onEvent = runtime.onEvent;
    const random = runtime.random ?? Math.random;
    this.canaryWindow = new Window(random);
    this.baselineWindow = new Window(random);
    this.weight_ = this.steps[0] ?? 100;
    this.windowStart = this.now();
  }

  /** Share of traffic the canary gets now, in percent (0 once rolled back or aborted). */
  get weight(): number {
    return this.weight_;
  }

  /** Where the canary is. */
  get phase(): CanaryPhase {
    return this.phase_;
  }

  /** `true` while the canary still takes a share of traffic and is analysed. */
  get active(): boolean {
    return this.phase_ === 'progressing' || this.phase_ === 'paused';
  }

  /** Records one call of the canary or the baseline (others are ignored), then judges the step if it is due. */
  observe(o: CanaryObservation, now = this.now()): void {
    if (!this.active) return;
    if (o.version === this.version) this.canaryWindow.add(o);
    else if (o.version === this.baseline) this.baselineWindow.add(o);
    else return;
    this.tick(now);
  }

  /** Judges the current step if it has enough calls and time. */
  tick(now = this.now()): void {
    if (!this.active) return;
    if (this.canaryWindow.requests < this.minRequestsPerStep) return;
    if (now - this.windowStart < this.intervalMs) return;
    const canary = this.canaryWindow.figures();
    const baselineFigures = this.baselineWindow.figures();
    const failed = runChecks(this.checks, canary, baselineFigures);
    this.newWindow(now);
    if (failed.length > 0) {
      this.passedWhilePaused = undefined;
      this.failures++;
      this.lastFailed = failed;
      if (this.failures >= this.failureLimit) {
        const weight = this.weight_;
        this.phase_ = 'rolled-back';
        this.weight_ = 0;
        this.emit('canary-rollback', {
          version: this.version,
          baseline: this.baseline,
          cause: 'checks',
          step: this.step_,
          weight,
          failures: this.failures,
          failed,
          canary,
          baselineFigures,
        });
      }
      return;
    }
    // A paused canary keeps being analysed (and can still roll back) but does
    // not move; a pass while paused moves it on at `resume()`.
    if (this.phase_ === 'paused') {
      this.passedWhilePaused = { canary, baselineFigures };
      return;
    }
    this.advance(canary, baselineFigures);
  }

  private advance(canary: CanaryFigures, baselineFigures: CanaryFigures): void {
    if (this.step_ + 1 >= this.steps.length) {
      this.finishPromotion(false, canary, baselineFigures);
      return;
    }
    const previousWeight = this.weight_;
    this.step_++;
    this.weight_ = this.steps[this.step_]!;
    this.emit('canary-step', {
      version: this.version,
      baseline: this.baseline,
      step: this.step_,
      weight: this.weight_,
      previousWeight,
      canary,
      baselineFigures,
    });
  }

  /** Stops moving between steps; traffic stays at the current weight and analysis goes on. */
  pause(): void {
    if (this.phase_ === 'progressing') this.phase_ = 'paused';
  }

  /** Moves on again after {@link Canary.pause}. */
  resume(): void {
    if (this.phase_ === 'paused') {
      this.phase_ = 'progressing';
      const passed = this.passedWhilePaused;
      this.passedWhilePaused = undefined;
      if (passed !== undefined) {
        this.newWindow(this.now());
        this.advance(passed.canary, passed.baselineFigures);
      } else this.tick();
    }
  }

  /** Sends the canary back to 0 % at once; emits `canary-rollback` with cause `aborted`. */
  abort(): void {
    if (!this.active) return;
    const weight = this.weight_;
    this.phase_ = 'aborted';
    this.weight_ = 0;
    this.emit('canary-rollback', {
      version: this.version,
      baseline: this.baseline,
      cause: 'aborted',
      step: this.step_,
      weight,
      failures: this.failures,
      failed: this.lastFailed,
      canary: this.canaryWindow.figures(),
      baselineFigures: this.baselineWindow.figures(),
    });
  }

  /** Skips the remaining steps and promotes the canary now; emits `canary-promoted`. */
  promote(): void {
    if (!this.active) return;
    this.finishPromotion(true, this.canaryWindow.figures(), this.baselineWindow.figures());
  }

  /** A snapshot of the step, the weight and the current window's figures. */
  status(now = this.now()): CanaryStatus {
    this.tick(now);
    return {
      version: this.version,
      baseline: this.baseline,
      phase: this.phase_,
      step: this.step_,
      steps: this.steps,
      weight: this.weight_,
      failures: this.failures,
      failureLimit: this.failureLimit,
      windowMs: Math.max(0, now - this.windowStart),
      canary: this.canaryWindow.figures(),
      baselineFigures: this.baselineWindow.figures(),
      lastFailedChecks: this.lastFailed,
    };
  }

  private finishPromotion(manual: boolean, canary: CanaryFigures, baselineFigures: CanaryFigures): void {
    this.phase_ = 'promoted';
    this.weight_ = 100;
    this.emit('canary-promoted', { version: this.version, baseline: this.baseline, manual, canary, baselineFigures });
  }

  private newWindow(now: number): void {
    this.windowStart = now;
    this.canaryWindow.reset();
    this.baselineWindow.reset();
  }

  private emit<K extends keyof CanaryEvents>(event: K, payload: CanaryEvents[K]): void {
    this.onEvent?.(event, payload);
  }
}

/**
 * Manual control of the inference's current canary (`inference.canary`).
 * Each method returns `false` when there is no canary still in progress.
 */
export interface CanaryControls {
  /** Holds traffic at the current step; analysis goes on and can still roll back. */
  pause(): boolean;
  /** Moves on again after `pause()`. */
  resume(): boolean;
  /** Rolls back to 0 % now (emits `canary-rollback` with cause `aborted`). */
  abort(): boolean;
  /** Promotes now: the canary becomes the default (emits `canary-promoted`). */
  promote(): boolean;
  /** The canary's step, weight and figures; `undefined` without a canary. */
  status(): CanaryStatus | undefined;
}
