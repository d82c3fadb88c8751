/**
 * `createInference`: the guarded pipeline.
 *
 * Order of the steps for one call:
 * 1. input schema (a failure rejects with `InputValidationError`; the model is never called);
 * 2. routing picks the version (override, targeting, canary, flag, split or
 *    default: see routing/router.ts);
 * 3. concurrency bound (`overloaded` when full);
 * 4. breaker, then the model run under the call's deadline, then the output
 *    schema; failures retried for transient faults while time remains;
 * 5. `accept` (a business check: `rejected-output`);
 * 6. on any failure of 3-5, the fallback chain;
 * 7. once the answer is settled, the canary analysis is fed and the shadow
 *    challenger is offered the call (off the caller's path).
 */
import {
  ClosedError,
  ConfigurationError,
  GracefulInferenceError,
  InferenceError,
  InputValidationError,
  ModelCallError,
  ModelLoadError,
  formatIssues,
  isGracefulInferenceError,
  isInferenceError,
  type FailureReason,
  type Issue,
} from './errors.js';
import { Emitter, type BreakerState, type InferenceEvents, type Unsubscribe } from './events.js';
import { runChain, toChain, type ChainLink, type CheckResult } from './fallback/fallback-chain.js';
import { toIssues, validateOptions, type InferenceOptions, type SchemaLike } from './options.js';
import { CircuitBreaker, type BreakerStats } from './resilience/circuit-breaker.js';
import { AttemptContext } from './resilience/attempt-context.js';
import { DeadlineQueue, type DeadlineEntry } from './resilience/deadline-queue.js';
import { runIntoOf, type AnswerSink } from './models/run-into.js';
import { CallerAborted, normalizeError, reasonOf } from './resilience/failure-reason.js';
import { abortable, timeoutError } from './resilience/deadline.js';
import { isRetryableByDefault, retryAfterFailure, type RetryOptions } from './resilience/retry.js';
import type { CanaryControls } from './routing/canary.js';
import { Router, type FlagEvaluation, type RoutingStatus } from './routing/router.js';
import type { DeployOptions, RoutingOptions } from './routing/routing-options.js';
import { validateRouting } from './routing/routing-schema.js';
import { noopInstrumentation, type CallObserver, type Instrumentation } from './telemetry/instrumentation.js';
import { guardInstrumentation } from './telemetry/guarded.js';
import { isOwnOpenTelemetry, openTelemetry } from './telemetry/otel.js';
import type { OnnxModelListener } from './models/worker-options.js';
import type { WorkerReplacedEvent } from './models/worker-pool.js';
import type { Failure, InferenceContext, InferOptions, Model, Outcome, Route } from './types.js';

export type { InferenceOptions } from './options.js';

/** Counters of one version since creation. */
export interface VersionCounts {
  /** Calls routed to this version. */
  readonly calls: number;
  /** Answers given by the model. */
  readonly model: number;
  /** Answers given by a fallback handler. */
  readonly fallback: number;
  /** Calls that rejected after every fallback failed. */
  readonly failed: number;
  /** Failures by reason (whether or not a fallback then answered). */
  readonly reasons: Readonly<Record<FailureReason, number>>;
}

/** State of one version, as reported by `status()`. */
export interface VersionStatus {
  /** Runner kind (`function`, `onnx`, `rules`...). */
  readonly kind: string;
  /** Calls in flight. */
  readonly inflight: number;
  /** Breaker state and rolling counters (`disabled` when the breaker is off). */
  readonly breaker: BreakerStats | { readonly state: 'disabled' };
  /** Counters since creation. */
  readonly counts: VersionCounts;
  /** The model's own state, when it reports one (`onnxModel`: queue, batches, workers). */
  readonly model?: Readonly<Record<string, unknown>>;
}

/** A snapshot of an inference's state. */
export interface InferenceStatus {
  readonly name: string;
  /** `true` once `close()` was called. */
  readonly closed: boolean;
  /** The default version now (the routing's, or the canary's once promoted). */
  readonly defaultVersion: string;
  readonly versions: Readonly<Record<string, VersionStatus>>;
  /** Routes taken, the split, the canary's step and figures, shadow counters. */
  readonly routing: RoutingStatus;
}

/** A guarded model: every call comes back, on time, with an explained answer. */
export interface Inference<I, O> {
  /** The inference's name. */
  readonly name: string;
  /**
   * Runs one input through the pipeline. Resolves with the model's answer or a
   * fallback's, and says which and why; rejects with `InputValidationError`
   * for bad input, with the signal's reason when the caller aborts, and with
   * `InferenceError` when no handler could answer.
   */
  infer(input: I, options?: InferOptions): Promise<Outcome<O>>;
  /** Loads and warms every version; rejects if one cannot load. Optional: models also load on first use. */
  ready(options?: { signal?: AbortSignal }): Promise<void>;
  /** A snapshot of breakers, counters and in-flight calls. */
  status(): InferenceStatus;
  /** Subscribes to an event; returns a function that unsubscribes. */
  on<K extends keyof InferenceEvents>(event: K, listener: (payload: InferenceEvents[K]) => void): Unsubscribe;
  /** Rejects new calls, waits for calls in flight, releases every model and timer. */
  close(): Promise<void>;
  /**
   * The routing in force (after a canary promotion: with the canary as
   * `defaultVersion` and no split). Keep it to roll back with `setRouting`.
   */
  readonly routing: RoutingOptions<I, O> | undefined;
  /**
   * Replaces the routing atomically: calls routed from now on use the new
   * one. Validated against the current versions first.
   *
   * @throws ConfigurationError with the path of every bad field
   */
  setRouting(routing: RoutingOptions<I, O> | undefined): void;
  /**
   * Loads and warms a new version while the others serve; it becomes
   * routable (by `setRouting` or an override) once this resolves.
   *
   * @throws ConfigurationError for a name already in use; ModelLoadError when loading or warming fails
   */
  deploy(version: string, model: Model<I, O>, options?: DeployOptions<I>): Promise<void>;
  /**
   * Stops routing to a version at once, waits for its calls in flight, then
   * releases it. The default version cannot be retired.
   */
  retire(version: string): Promise<void>;
  /** Manual control of the canary: `pause`, `resume`, `abort`, `promote`, `status`. */
  readonly canary: CanaryControls;
}

/** @internal One version's runtime state. */
interface VersionSlot<I, O> {
  readonly name: string;
  readonly model: Model<I, O>;
  readonly breaker: CircuitBreaker | undefined;
  inflight: number;
  calls: number;
  model_: number;
  fallback: number;
  failed: number;
  readonly reasons: Record<FailureReason, number>;
  /** Set by `retire` to learn when the last call in flight ends. */
  drained?: () => void;
}

/** @internal How the version of a call was chosen. */
export interface RouteDecision {
  readonly version: string;
  readonly route: Route;
  /** For route `flag`: the evaluation, for the `feature_flag.*` telemetry attributes. */
  readonly flag?: FlagEvaluation;
}

const EMPTY: InferOptions = Object.freeze({});

/** @internal Per-call state shared by the attempts of one call. */
interface Call<I> {
  readonly input: I;
  readonly context: InferenceContext | undefined;
  readonly start: number;
  readonly deadline: number;
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
  readonly observer: CallObserver;
  attempts: number;
  /** The error of the last attempt that reached the model (kept when a retry is then refused by the breaker). */
  lastError?: unknown;
  /** When the last successful attempt's answer arrived (one clock read serves the deadline check and the latency). */
  answeredAt: number;
}

/**
 * The state of one attempt: settles it exactly once, from the model's answer,
 * its failure or the deadline, whichever comes first. One object (and its
 * expiry callback) per attempt rather than five closures: this is the hot path.
 */
class Attempt<I, O> implements AnswerSink<O> {
  private settled = false;
  private entry: DeadlineEntry | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly n: number,
    private readonly started: number,
    private readonly call: Call<I>,
    private readonly ctx: AttemptContext,
    /** Set when the pipeline ran the attempt itself past a closed breaker: the result is reported to it. */
    private readonly report: CircuitBreaker | undefined,
    private readonly breaker: CircuitBreaker | undefined,
    private readonly schema: SchemaLike<O> | undefined,
    private readonly deadlines: DeadlineQueue,
    private readonly resolve: (value: O) => void,
    private readonly reject: (error: unknown) => void,
  ) {}

  /** One shared timer for calls with the usual timeout; a private one otherwise. */
  arm(): void {
    const deadline = this.call.deadline;
    const entry = this.deadlines.add(deadline, () => this.expire());
    this.entry = entry;
    if (entry === undefined) {
      const remaining = deadline - performance.now();
      this.timer = setTimeout(() => this.expire(), remaining > 0 ? remaining : 0);
    }
  }

  answered(value: O): void {
    if (this.settled) return;
    const call = this.call;
    // A late answer is a timeout: a blocking run may have kept the timer from firing.
    const now = performance.now();
    if (now > call.deadline) return this.expire();
    this.finish();
    let out = value;
    const schema = this.schema;
    if (schema !== undefined) {
      let r: ReturnType<SchemaLike<O>['safeParse']>;
      try {
        r = schema.safeParse(value);
      } catch (error) {
        // A refinement in the application's schema threw: the output could not be checked.
        return this.fail(new ModelCallError('ERR_INVALID_OUTPUT', 'invalid-output', `The output schema threw: ${describe(error)}`, { cause: error }));
      }
      if (!r.success) {
        return this.fail(
          new ModelCallError('ERR_INVALID_OUTPUT', 'invalid-output', `Invalid model output: ${formatIssues(toIssues(r.error.issues))}`),
        );
      }
      out = r.data;
    }
    const latency = now - this.started;
    if (this.report !== undefined) this.report.recordSuccess(latency, now);
    else this.breaker?.recordLatency(latency, now);
    call.observer.attemptEnd(this.n, undefined, undefined);
    call.answeredAt = now;
    this.resolve(out);
  }

  failed(error: unknown): void {
    if (this.settled) return;
    this.finish();
    this.fail(error);
  }

  private expire(): void {
    if (this.settled) return;
    this.settled = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const call = this.call;
    const error = timeoutError(call.timeoutMs);
    this.ctx.abort(error);
    if (call.signal !== undefined) this.ctx.release();
    this.fail(error);
  }

  private finish(): void {
    this.settled = true;
    if (this.entry !== undefined) this.deadlines.settle(this.entry);
    else clearTimeout(this.timer);
    if (this.call.signal !== undefined) this.ctx.release();
  }

  private fail(error: unknown): void {
    const call = this.call;
    call.lastError = error;
    call.observer.attemptEnd(this.n, error, reasonOf(error));
    const aborted = call.signal?.aborted === true;
    // A caller's abort says nothing about the model's health.
    const report = this.report;
    if (report !== undefined) {
      if (aborted) report.recordSuccess(performance.now() - this.started);
      else report.recordFailure(error);
    }
    this.reject(aborted ? new CallerAborted(error) : error);
  }
}

/**
 * A per-call `timeoutMs` must be a finite number > 0: a NaN deadline never
 * expires and stalls the shared deadline timer for every later call, and an
 * infinite one overflows `setTimeout`.
 */
function checkCallTimeout(ms: unknown): void {
  if (typeof ms !== 'number' || !(ms > 0) || ms === Number.POSITIVE_INFINITY) {
    throw new ConfigurationError('infer options', [{ path: ['timeoutMs'], message: `expected a finite number > 0, received ${String(ms)}` }]);
  }
}

/** `{ model: model.status() }` for models that report a state, else `{}`. */
function modelStatus(model: object): { model?: Readonly<Record<string, unknown>> } {
  const status = (model as { status?: unknown }).status;
  return typeof status === 'function' ? { model: (status as () => Readonly<Record<string, unknown>>).call(model) } : {};
}

function emptyReasons(): Record<FailureReason, number> {
  return { timeout: 0, 'circuit-open': 0, 'model-error': 0, 'invalid-output': 0, 'rejected-output': 0, overloaded: 0 };
}

function overloadedError(limit: number): ModelCallError {
  return new ModelCallError('ERR_OVERLOADED', 'overloaded', `More than ${limit} calls in flight for this version`);
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

class InferenceImpl<I, O> implements Inference<I, O> {
  readonly name: string;
  private readonly slots = new Map<string, VersionSlot<I, O>>();
  private readonly events = new Emitter<InferenceEvents>();
  private readonly deadlines = new DeadlineQueue();
  private readonly baseDefault: string;
  private readonly router: Router<I, O>;
  private readonly deploying = new Set<string>();
  private readonly inputSchema: SchemaLike<I> | undefined;
  private readonly outputSchema: SchemaLike<O> | undefined;
  private readonly timeoutMs: number;
  private readonly retry: RetryOptions | undefined;
  private readonly retryIf: (error: unknown) => boolean;
  private readonly accept: ((output: O, input: I) => true | string) | undefined;
  private readonly chain: ChainLink<I, O>[];
  private readonly fallbackTimeoutMs: number | undefined;
  private readonly maxConcurrency: number;
  private readonly instrumentation: Instrumentation;
  private readonly checkFallback: ((value: O) => CheckResult<O>) | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private inflight = 0;
  private drained: (() => void) | undefined;

  constructor(private readonly options: InferenceOptions<I, O>) {
    validateOptions(options);
    this.name = options.name;
    this.baseDefault = options.defaultVersion ?? Object.keys(options.versions)[0]!;
    if (options.routing !== undefined) {
      validateRouting(options.routing, { versions: Object.keys(options.versions), defaultVersion: this.baseDefault }, 'createInference options');
    }
    this.inputSchema = options.input;
    this.outputSchema = options.output;
    this.timeoutMs = options.timeoutMs ?? 1_000;
    this.retry = options.retry === false ? undefined : options.retry;
    this.retryIf = this.retry?.retryIf ?? isRetryableByDefault;
    this.accept = options.accept;
    this.chain = toChain(options.fallback);
    this.fallbackTimeoutMs = options.fallbackTimeoutMs;
    this.maxConcurrency = options.maxConcurrency ?? Number.POSITIVE_INFINITY;
    // OpenTelemetry by default: a no-op until an SDK is registered, so users without it pay next to nothing.
    const given = options.instrumentation;
    // The application's own instrumentation is wrapped so that nothing it throws reaches a call.
    this.instrumentation =
      given === false
        ? noopInstrumentation
        : given === undefined
          ? openTelemetry()
          : given === noopInstrumentation || isOwnOpenTelemetry(given)
            ? given
            : guardInstrumentation(given);
    const schema = this.outputSchema;
    this.checkFallback = schema
      ? (value) => {
          const r = schema.safeParse(value);
          return r.success ? { ok: true, value: r.data } : { ok: false, problem: formatIssues(toIssues(r.error.issues)) };
        }
      : undefined;
    for (const [name, model] of Object.entries(options.versions)) this.addVersion(name, model);
    this.router = new Router<I, O>(
      {
        name: this.name,
        hasVersion: (v) => this.slots.has(v),
        versionNames: () => [...this.slots.keys()],
        onFlagError: (e) => this.events.emit('flag-error', e),
        onCanaryEvent: (event, payload) => {
          this.recordCanary(event, payload);
          this.events.emit(event, payload as InferenceEvents[typeof event]);
        },
        runShadow: (v, input, context) => this.runShadow(v, input, context),
        onShadowMismatch: (e) => this.events.emit('shadow-mismatch', e),
        onShadowResult: (version, result) => this.instrumentation.shadowResult?.(this.name, version, result),
        onCanaryStart: (canary) => this.recordCanaryWeight(canary.version, canary.baseline, canary.weight),
      },
      this.baseDefault,
      options.routing,
    );
  }

  /** @internal Registers a version (construction, and hot deploys later). */
  protected addVersion(name: string, model: Model<I, O>): VersionSlot<I, O> {
    const breakerOptions = this.options.breaker;
    const breaker =
      breakerOptions === false
        ? undefined
        : new CircuitBreaker(
            { ...breakerOptions },
            (state, cause) => this.onBreaker(name, state, cause),
            (error) => error instanceof CallerAborted,
          );
    const slot: VersionSlot<I, O> = {
      name,
      model,
      breaker,
      inflight: 0,
      calls: 0,
      model_: 0,
      fallback: 0,
      failed: 0,
      reasons: emptyReasons(),
    };
    this.slots.set(name, slot);
    // Models with events of their own (onnxModel's worker replacements) report them here, with the version.
    const subscribe = (model as { subscribe?: unknown }).subscribe;
    if (typeof subscribe === 'function') {
      (subscribe as (listener: OnnxModelListener) => unknown).call(model, (event, payload) => {
        if (event === 'worker-replaced') this.events.emit('worker-replaced', { ...(payload as WorkerReplacedEvent), version: name });
      });
    }
    return slot;
  }

  private onBreaker(version: string, state: BreakerState, cause: 'failures' | 'slow-calls' | 'manual'): void {
    this.instrumentation.breakerTransition(this.name, version, state);
    if (state === 'open') this.events.emit('breaker-open', { version, cause });
    else if (state === 'half-open') this.events.emit('breaker-half-open', { version });
    else if (state === 'closed') this.events.emit('breaker-close', { version });
  }

  on<K extends keyof InferenceEvents>(event: K, listener: (payload: InferenceEvents[K]) => void): Unsubscribe {
    return this.events.on(event, listener);
  }

  /** @internal Chooses the version of a call (synchronous unless a flag is configured). */
  protected route(input: I, options: InferOptions): RouteDecision | Promise<RouteDecision> {
    return this.router.route(input, options.context, options.version);
  }

  /** Canary figures for telemetry: the traffic share (gauge) and each transition (counter). */
  private recordCanary(event: 'canary-step' | 'canary-rollback' | 'canary-promoted', payload: { version: string; baseline: string; weight?: number }): void {
    const record = this.instrumentation.record;
    if (record === undefined) return;
    const weight = event === 'canary-step' ? (payload.weight ?? 0) : event === 'canary-rollback' ? 0 : 100;
    this.recordCanaryWeight(payload.version, payload.baseline, weight);
    const transition = event === 'canary-step' ? 'step' : event === 'canary-rollback' ? 'rollback' : 'promotion';
    record.call(this.instrumentation, this.name, 'inference.canary.transitions', 1, {
      'inference.version': payload.version,
      'inference.canary.transition': transition,
    });
  }

  private recordCanaryWeight(version: string, baseline: string, weight: number): void {
    this.instrumentation.record?.(this.name, 'inference.canary.weight', weight, { 'inference.version': version, 'inference.canary.baseline': baseline });
  }

  private unknownVersion(v: string): GracefulInferenceError {
    return new GracefulInferenceError(
      'ERR_UNKNOWN_VERSION',
      `Unknown version "${v}" for inference "${this.name}" (versions: ${[...this.slots.keys()].join(', ')})`,
    );
  }

  infer(input: I, options: InferOptions = EMPTY): Promise<Outcome<O>> {
    const start = performance.now();
    const observer = this.instrumentation.startCall(this.name, input, options.context);
    let value = input;
    let decision: RouteDecision;
    try {
      if (this.closed) throw new ClosedError(`Inference "${this.name}" is closed`);
      if (options.timeoutMs !== undefined) checkCallTimeout(options.timeoutMs);
      if (this.inputSchema !== undefined) {
        const r = this.inputSchema.safeParse(input);
        if (!r.success) throw new InputValidationError(toIssues(r.error.issues));
        value = r.data;
      }
      const routed = this.route(value, options);
      if (routed instanceof Promise) return this.routeLater(routed, value, options, start, observer);
      decision = routed;
    } catch (error) {
      observer.fail(error);
      return Promise.reject(error);
    }
    return this.dispatch(decision, value, options, start, observer);
  }

  private async routeLater(
    routed: Promise<RouteDecision>,
    input: I,
    options: InferOptions,
    start: number,
    observer: CallObserver,
  ): Promise<Outcome<O>> {
    // Counted in flight while the (flag) decision is pending, so close() waits for it.
    this.inflight++;
    let decision: RouteDecision;
    try {
      decision = await routed;
    } catch (error) {
      this.settle();
      observer.fail(error);
      throw error;
    }
    // dispatch() counts the call itself (synchronously) before this releases it.
    const running = this.dispatch(decision, input, options, start, observer);
    this.settle();
    return running;
  }

  private settle(): void {
    if (--this.inflight === 0) this.drained?.();
  }

  private dispatch(decision: RouteDecision, input: I, options: InferOptions, start: number, observer: CallObserver): Promise<Outcome<O>> {
    let slot = this.slots.get(decision.version);
    if (slot === undefined) {
      // Retired while an asynchronous (flag) decision was pending: the default serves the call.
      decision = this.router.decide(this.router.defaultVersion, 'default');
      slot = this.slots.get(decision.version)!;
    }
    observer.routed(decision.version, decision.route, decision.flag);
    const running = this.run(slot, input, options, start, decision.route, observer);
    // Without a canary or shadow no promise is added to the call.
    return this.router.watching ? this.watch(running, slot.name, input, options.context, start, observer) : running;
  }

  /** Feeds the canary and the shadow runner once the call is settled. */
  private watch(
    running: Promise<Outcome<O>>,
    version: string,
    input: I,
    context: InferenceContext | undefined,
    start: number,
    observer: CallObserver,
  ): Promise<Outcome<O>> {
    return running.then(
      (outcome) => {
        this.router.settled(input, context, outcome, observer);
        return outcome;
      },
      (error: unknown) => {
        // Caller aborts and closed inferences say nothing about the version.
        if (isInferenceError(error)) this.router.failed(version, error.reason, performance.now() - start);
        throw error;
      },
    );
  }

  /** One shadow call: a single attempt through the challenger's breaker and deadline, no retries, no fallbacks. */
  private runShadow(version: string, input: I, context: InferenceContext | undefined): Promise<O> {
    const slot = this.slots.get(version);
    if (slot === undefined) return Promise.reject(this.unknownVersion(version));
    const start = performance.now();
    const call: Call<I> = {
      input,
      context,
      start,
      deadline: start + this.timeoutMs,
      timeoutMs: this.timeoutMs,
      signal: undefined,
      // Shadow calls stay out of the inference's telemetry: they are not calls of the caller.
      observer: noopInstrumentation.startCall(this.name, input, context),
      attempts: 0,
      answeredAt: 0,
    };
    return this.attemptOnce(slot, call);
  }

  private run(slot: VersionSlot<I, O>, input: I, options: InferOptions, start: number, route: Route, observer: CallObserver): Promise<Outcome<O>> {
    const signal = options.signal;
    if (signal?.aborted) {
      observer.fail(signal.reason);
      return Promise.reject(signal.reason);
    }
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const call: Call<I> = {
      input,
      context: options.context,
      start,
      deadline: start + timeoutMs,
      timeoutMs,
      signal,
      observer,
      attempts: 0,
      answeredAt: 0,
    };
    slot.calls++;
    slot.inflight++;
    this.inflight++;
    if (slot.inflight > this.maxConcurrency) return this.recover(slot, call, route, overloadedError(this.maxConcurrency), false);
    const breaker = slot.breaker;
    if (signal === undefined && (breaker === undefined || breaker.isClosed)) {
      // The common case in one promise: the attempt settles the call's own promise.
      return new Promise<Outcome<O>>((resolve) => {
        this.attempt(
          slot,
          call,
          breaker,
          (value) => resolve(this.answer(slot, call, route, value)),
          (error) => resolve(this.recover(slot, call, route, error, true)),
        );
      });
    }
    return this.runGuarded(slot, call, route);
  }

  /** A call with a caller's signal, or through a breaker that is not closed. */
  private async runGuarded(slot: VersionSlot<I, O>, call: Call<I>, route: Route): Promise<Outcome<O>> {
    const signal = call.signal;
    let value: O;
    try {
      const pending = this.attemptOnce(slot, call);
      value = await (signal === undefined ? pending : abortable(pending, signal));
    } catch (first) {
      return this.recover(slot, call, route, first, true);
    }
    return this.answer(slot, call, route, value);
  }

  /** The model answered: `accept` decides; a refusal goes to the fallbacks. */
  private answer(slot: VersionSlot<I, O>, call: Call<I>, route: Route, value: O): Outcome<O> | Promise<Outcome<O>> {
    let rejected: ModelCallError | undefined;
    try {
      rejected = this.rejection(value, call.input);
    } catch (error) {
      return this.recover(slot, call, route, error, false);
    }
    if (rejected !== undefined) return this.recover(slot, call, route, rejected, false);
    const outcome = this.modelOutcome(slot, call, route, value);
    this.release(slot);
    return outcome;
  }

  /** `accept`'s verdict on an answer: undefined when accepted, else the `rejected-output` error. */
  private rejection(value: O, input: I): ModelCallError | undefined {
    const accept = this.accept;
    const verdict = accept === undefined ? true : accept(value, input);
    return verdict === true ? undefined : new ModelCallError('ERR_REJECTED_OUTPUT', 'rejected-output', String(verdict));
  }

  /** Counts and reports an accepted model answer as the call's outcome. */
  private modelOutcome(slot: VersionSlot<I, O>, call: Call<I>, route: Route, value: O): Outcome<O> {
    slot.model_++;
    const outcome: Outcome<O> = {
      value,
      source: 'model',
      version: slot.name,
      route,
      latencyMs: call.answeredAt - call.start,
      attempts: call.attempts,
    };
    call.observer.end(outcome);
    return outcome;
  }

  /**
   * The failure path: retries (when `retryable` and allowed), then the
   * fallbacks. Ends the call (counters, telemetry) whatever happens.
   */
  private async recover(slot: VersionSlot<I, O>, call: Call<I>, route: Route, failure: unknown, retryable: boolean): Promise<Outcome<O>> {
    const signal = call.signal;
    try {
      let error: unknown = failure;
      if (signal?.aborted) throw signal.reason;
      try {
        // Retries live on the failure path only: no promise is added to a successful call.
        if (!retryable || this.retry === undefined || !this.canRetry(failure)) throw failure;
        const retried = retryAfterFailure(failure, () => this.attemptOnce(slot, call), this.retry, call.deadline, this.canRetry, signal);
        const value = await (signal === undefined ? retried : abortable(retried, signal));
        const rejected = this.rejection(value, call.input);
        if (rejected === undefined) return this.modelOutcome(slot, call, route, value);
        error = rejected;
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        error = normalizeError(e);
        // A retry refused because the breaker opened meanwhile: the model's own
        // failure is what happened to this call, not the breaker's refusal.
        if (call.attempts > 0 && call.lastError !== undefined && reasonOf(error) === 'circuit-open') error = call.lastError;
      }
      const outcome = await this.fallback(slot, call, error, call.start, route);
      call.observer.end(outcome);
      return outcome;
    } catch (error) {
      call.observer.fail(error);
      throw error;
    } finally {
      this.release(slot);
    }
  }

  /** A call of `slot` has ended (answered, fallen back or failed). */
  private release(slot: VersionSlot<I, O>): void {
    if (--slot.inflight === 0 && slot.drained !== undefined) slot.drained();
    this.settle();
  }

  /** Whether a failed attempt is worth retrying: never timeouts, open breakers, bad outputs or caller aborts. */
  private readonly canRetry = (e: unknown): boolean => {
    const reason = reasonOf(e);
    return reason !== 'circuit-open' && reason !== 'timeout' && reason !== 'invalid-output' && !(e instanceof CallerAborted) && this.retryIf(e);
  };

  private attemptOnce(slot: VersionSlot<I, O>, call: Call<I>): Promise<O> {
    const breaker = slot.breaker;
    // A closed breaker admits the call: run it directly and report the result
    // (see CircuitBreaker.isClosed). Otherwise opossum decides (reject or probe).
    if (breaker === undefined || breaker.isClosed) return this.exec(slot, call, breaker);
    return breaker.fire(() => this.exec(slot, call, undefined));
  }

  private exec(slot: VersionSlot<I, O>, call: Call<I>, report: CircuitBreaker | undefined): Promise<O> {
    return new Promise<O>((resolve, reject) => this.attempt(slot, call, report, resolve, reject));
  }

  /**
   * One model run under the call's deadline, with the output check. Counted
   * here, inside the breaker: a call refused by an open breaker made no
   * attempt. Settles exactly once; whatever the model does afterwards is ignored.
   */
  private attempt(
    slot: VersionSlot<I, O>,
    call: Call<I>,
    report: CircuitBreaker | undefined,
    resolve: (value: O) => void,
    reject: (error: unknown) => void,
  ): void {
    const n = ++call.attempts;
    call.observer.attemptStart(n);
    // The first attempt starts with the call: one clock read fewer on the hot path.
    const started = n === 1 ? call.start : performance.now();
    const ctx = new AttemptContext(call.deadline, call.context, call.signal);
    const a = new Attempt<I, O>(n, started, call, ctx, report, slot.breaker, this.outputSchema, this.deadlines, resolve, reject);
    // Armed first: a model may fail synchronously, and a settled attempt must not leave a deadline queued.
    a.arm();
    const model = slot.model;
    const fast = runIntoOf(model);
    try {
      if (fast !== undefined) {
        fast.call(model, call.input, ctx, a);
        return;
      }
      model.run(call.input, ctx).then(
        (value) => a.answered(value),
        (error: unknown) => a.failed(error),
      );
    } catch (e) {
      a.failed(e);
    }
  }

  private async fallback(slot: VersionSlot<I, O>, call: Call<I>, error: unknown, start: number, route: Route): Promise<Outcome<O>> {
    const reason = reasonOf(error);
    slot.reasons[reason]++;
    const failure: Failure = { reason, error, version: slot.name, attempts: call.attempts, context: call.context };
    call.observer.fallbackStart(reason);
    const running = runChain(this.chain, call.input, failure, {
      timeoutMs: this.fallbackTimeoutMs,
      check: this.checkFallback,
      signal: call.signal,
    });
    const result = await (call.signal === undefined ? running : abortable(running, call.signal));
    if (result.ok) {
      slot.fallback++;
      if (this.events.has('fallback')) {
        this.events.emit('fallback', { version: slot.name, reason, fallbackName: result.name, ruleId: result.ruleId, error });
      }
      return {
        value: result.value,
        source: 'fallback',
        version: slot.name,
        route,
        reason,
        fallbackName: result.name,
        ...(result.ruleId !== undefined ? { ruleId: result.ruleId } : {}),
        latencyMs: performance.now() - start,
        attempts: call.attempts,
      };
    }
    slot.failed++;
    this.events.emit('fallback', { version: slot.name, reason, fallbackName: undefined, ruleId: undefined, error });
    const tried = this.chain.length === 0 ? 'no fallback is configured' : `all ${this.chain.length} fallback handler(s) failed`;
    throw new InferenceError(
      `Inference "${this.name}" (version ${slot.name}) failed with ${reason} (${describe(error)}) and ${tried}`,
      { reason, causes: [error, ...result.errors], version: slot.name },
    );
  }

  async ready(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.closed) throw new ClosedError(`Inference "${this.name}" is closed`);
    await Promise.all([
      ...[...this.slots.values()].map((slot) => slot.model.load(options)),
      // Rule sets and targeting: the JsonLogic engine, loaded on demand since construction.
      this.router.ready(),
      ...this.chain.map((link) => link.ready?.()),
    ]);
  }

  status(): InferenceStatus {
    const versions: Record<string, VersionStatus> = {};
    for (const slot of this.slots.values()) {
      versions[slot.name] = {
        kind: slot.model.kind,
        inflight: slot.inflight,
        breaker: slot.breaker?.stats() ?? { state: 'disabled' },
        counts: {
          calls: slot.calls,
          model: slot.model_,
          fallback: slot.fallback,
          failed: slot.failed,
          reasons: { ...slot.reasons },
        },
        ...modelStatus(slot.model),
      };
    }
    return { name: this.name, closed: this.closed, defaultVersion: this.router.defaultVersion, versions, routing: this.router.status() };
  }

  get routing(): RoutingOptions<I, O> | undefined {
    return this.router.routing;
  }

  setRouting(routing: RoutingOptions<I, O> | undefined): void {
    if (this.closed) throw new ClosedError(`Inference "${this.name}" is closed`);
    // Validating {} catches an inference default that was retired: the routing must then name one.
    validateRouting(routing ?? {}, { versions: [...this.slots.keys()], defaultVersion: this.baseDefault }, 'setRouting(routing)');
    this.router.setRouting(routing);
  }

  async deploy(version: string, model: Model<I, O>, options: DeployOptions<I> = {}): Promise<void> {
    if (this.closed) throw new ClosedError(`Inference "${this.name}" is closed`);
    const issues: Issue[] = [];
    if (typeof version !== 'string' || version === '') issues.push({ path: ['version'], message: 'expected a non-empty string' });
    else if (this.slots.has(version) || this.deploying.has(version)) {
      issues.push({ path: ['version'], message: `version "${version}" already exists (retire it first)` });
    }
    if (typeof model !== 'object' || model === null || typeof model.run !== 'function' || typeof model.load !== 'function' || typeof model.close !== 'function') {
      issues.push({ path: ['model'], message: 'expected a model (from functionModel, onnxModel, rulesModel...)' });
    }
    if (options.warmup !== undefined && !Array.isArray(options.warmup)) issues.push({ path: ['options', 'warmup'], message: 'expected an array of inputs' });
    if (issues.length > 0) throw new ConfigurationError('deploy', issues);
    this.deploying.add(version);
    const signal = options.signal;
    try {
      await model.load(signal === undefined ? {} : { signal });
      for (const input of options.warmup ?? []) await this.warm(model, input, signal);
      if (this.closed) throw new ClosedError(`Inference "${this.name}" was closed during the deploy`);
      // Only now can routing (overrides, setRouting) reach the version.
      this.addVersion(version, model);
    } catch (error) {
      await Promise.resolve()
        .then(() => model.close())
        .catch(() => undefined);
      if (isGracefulInferenceError(error) && error.code === 'ERR_CLOSED') throw error;
      if (signal?.aborted && error === signal.reason) throw error;
      throw new ModelLoadError(`Deploying version "${version}" of "${this.name}" failed: ${describe(error)}`, { cause: error });
    } finally {
      this.deploying.delete(version);
    }
  }

  /** Runs one warmup input through a model being deployed, under the timeout and the schemas. */
  private async warm(model: Model<I, O>, raw: I, signal: AbortSignal | undefined): Promise<void> {
    let input = raw;
    if (this.inputSchema !== undefined) {
      const r = this.inputSchema.safeParse(raw);
      if (!r.success) throw new InputValidationError(toIssues(r.error.issues));
      input = r.data;
    }
    const ctx = new AttemptContext(performance.now() + this.timeoutMs, undefined, signal);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = timeoutError(this.timeoutMs);
        ctx.abort(error);
        reject(error);
      }, this.timeoutMs);
    });
    try {
      const running = Promise.race([Promise.resolve().then(() => model.run(input, ctx)), expired]);
      const value = await (signal === undefined ? running : abortable(running, signal));
      if (this.outputSchema !== undefined) {
        const r = this.outputSchema.safeParse(value);
        if (!r.success) {
          throw new ModelCallError('ERR_INVALID_OUTPUT', 'invalid-output', `Invalid model output: ${formatIssues(toIssues(r.error.issues))}`);
        }
      }
    } finally {
      clearTimeout(timer);
      ctx.release();
    }
  }

  async retire(version: string): Promise<void> {
    const slot = this.slots.get(version);
    if (slot === undefined) throw this.unknownVersion(version);
    if (version === this.router.defaultVersion) {
      throw new ConfigurationError('retire(version)', [
        { path: ['version'], message: `"${version}" is the default version: move the default first (setRouting({ defaultVersion }))` },
      ]);
    }
    // From here no new call can reach the version: not the routing, not an override, not a flag.
    const next = this.router.withoutVersion(version);
    this.slots.delete(version);
    this.router.setRouting(next);
    if (slot.inflight > 0) await new Promise<void>((resolve) => (slot.drained = resolve));
    await this.router.drainShadow();
    slot.breaker?.shutdown();
    await slot.model.close();
  }

  readonly canary: CanaryControls = {
    pause: () => this.withCanary((c) => c.pause()),
    resume: () => this.withCanary((c) => c.resume()),
    abort: () => this.withCanary((c) => c.abort()),
    promote: () => this.withCanary((c) => c.promote()),
    status: () => this.router.canary?.status(),
  };

  private withCanary(action: (canary: NonNullable<Router['canary']>) => void): boolean {
    const canary = this.router.canary;
    if (canary === undefined || !canary.active) return false;
    action(canary);
    return true;
  }

  close(): Promise<void> {
    this.closed = true;
    this.closing ??= (async () => {
      if (this.inflight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
      // Shadow calls still running use the models: let them finish first.
      await this.router.close();
      await Promise.allSettled(
        [...this.slots.values()].map(async (slot) => {
          slot.breaker?.shutdown();
          await slot.model.close();
        }),
      );
      this.deadlines.close();
      this.events.clear();
    })();
    return this.closing;
  }
}

/**
 * Creates a guarded inference over one or more model versions.
 *
 * @example
 * ```ts
 * const scorer = createInference({
 *   name: 'credit-risk',
 *   versions: { v1: onnxModel({ source: './risk.onnx', encode, decode }) },
 *   output: z.object({ risk: z.number().min(0).max(1) }),
 *   timeoutMs: 50,
 *   fallback: { name: 'legacy-rules', handle: legacyScore },
 * });
 * const { value, source, reason } = await scorer.infer(applicant);
 * ```
 * @throws ConfigurationError when an option is invalid, with the path of the bad field.
 */
export function createInference<I, O>(options: InferenceOptions<I, O>): Inference<I, O> {
  return new InferenceImpl(options);
}
