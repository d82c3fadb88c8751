/**
 * `createInference`: the guarded pipeline.
 *
 * Order of the steps for one call:
 * 1. input schema (a failure rejects with `InputValidationError`; the model is never called);
 * 2. routing picks the version (override, or the default);
 * 3. concurrency bound (`overloaded` when full);
 * 4. breaker, then the model run under the call's deadline, then the output
 *    schema; failures retried for transient faults while time remains;
 * 5. `accept` (a business check: `rejected-output`);
 * 6. on any failure of 3-5, the fallback chain.
 */
import {
  ClosedError,
  GracefulInferenceError,
  InferenceError,
  InputValidationError,
  ModelCallError,
  formatIssues,
  isModelCallError,
  type FailureReason,
} from './errors.js';
import { Emitter, type BreakerState, type InferenceEvents, type Unsubscribe } from './events.js';
import { runChain, toChain, type ChainLink } from './fallback/fallback-chain.js';
import { toIssues, validateOptions, type InferenceOptions, type SchemaLike } from './options.js';
import { CircuitBreaker, circuitOpenError, type BreakerStats } from './resilience/circuit-breaker.js';
import { DeadlineQueue } from './resilience/deadline-queue.js';
import { abortable, timeoutError } from './resilience/deadline.js';
import { isRetryableByDefault, retryAfterFailure, type RetryOptions } from './resilience/retry.js';
import { noopInstrumentation, type CallObserver, type Instrumentation } from './telemetry/instrumentation.js';
import type { Failure, InferenceContext, InferOptions, Model, Outcome, Route, RunContext } from './types.js';

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
}

/** A snapshot of an inference's state. */
export interface InferenceStatus {
  readonly name: string;
  /** `true` once `close()` was called. */
  readonly closed: boolean;
  readonly defaultVersion: string;
  readonly versions: Readonly<Record<string, VersionStatus>>;
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
}

/** @internal How the version of a call was chosen. */
export interface RouteDecision {
  readonly version: string;
  readonly route: Route;
}

const EMPTY: InferOptions = Object.freeze({});

/**
 * The context a model sees during one attempt. The AbortController is created
 * only if the model reads `signal`, so uncancellable runners (ONNX in-process)
 * pay nothing for it.
 */
class AttemptContext implements RunContext {
  private controller: AbortController | undefined;
  private abortReason: unknown;
  private aborted = false;
  private released = false;
  private onCallerAbort: (() => void) | undefined;
  constructor(
    readonly deadline: number,
    readonly context: InferenceContext | undefined,
    private readonly callerSignal: AbortSignal | undefined,
  ) {}

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      const caller = this.callerSignal;
      if (this.aborted) this.controller.abort(this.abortReason);
      else if (caller !== undefined && !this.released) {
        if (caller.aborted) this.controller.abort(caller.reason);
        else {
          this.onCallerAbort = () => this.controller!.abort(caller.reason);
          caller.addEventListener('abort', this.onCallerAbort, { once: true });
        }
      }
    }
    return this.controller.signal;
  }

  /**
   * Stops listening to the caller's signal once the attempt is over: a
   * long-lived signal shared by many calls would otherwise collect one
   * listener per attempt (a leak, and Node's MaxListenersExceededWarning).
   */
  release(): void {
    this.released = true;
    if (this.onCallerAbort !== undefined) {
      this.callerSignal!.removeEventListener('abort', this.onCallerAbort);
      this.onCallerAbort = undefined;
    }
  }

  abort(reason: unknown): void {
    this.aborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}

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
}

/** Wraps errors that happened because the caller aborted, so the breaker does not count them. */
class CallerAborted {
  constructor(readonly error: unknown) {}
}

/** The reason a model-side error maps to. */
function reasonOf(error: unknown): FailureReason {
  if (isModelCallError(error)) return error.reason;
  if (isOpenBreakerError(error)) return 'circuit-open';
  return 'model-error';
}

/** opossum's rejection while open (mapped here rather than with an extra promise per call). */
function isOpenBreakerError(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'EOPENBREAKER';
}

/** The error a failure reports: ours for an open breaker, the original one for a caller abort. */
function normalizeError(error: unknown): unknown {
  if (error instanceof CallerAborted) return error.error;
  if (isOpenBreakerError(error)) return circuitOpenError();
  return error;
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
  private readonly defaultVersion: string;
  private readonly defaultDecision: RouteDecision;
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
  private readonly checkFallback: ((value: O) => string | undefined) | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private inflight = 0;
  private drained: (() => void) | undefined;

  constructor(private readonly options: InferenceOptions<I, O>) {
    validateOptions(options);
    this.name = options.name;
    this.defaultVersion = options.defaultVersion ?? Object.keys(options.versions)[0]!;
    this.defaultDecision = Object.freeze({ version: this.defaultVersion, route: 'default' as const });
    this.inputSchema = options.input;
    this.outputSchema = options.output;
    this.timeoutMs = options.timeoutMs ?? 1_000;
    this.retry = options.retry === false ? undefined : options.retry;
    this.retryIf = this.retry?.retryIf ?? isRetryableByDefault;
    this.accept = options.accept;
    this.chain = toChain(options.fallback);
    this.fallbackTimeoutMs = options.fallbackTimeoutMs;
    this.maxConcurrency = options.maxConcurrency ?? Number.POSITIVE_INFINITY;
    this.instrumentation = options.instrumentation ?? noopInstrumentation;
    const schema = this.outputSchema;
    this.checkFallback = schema
      ? (value) => {
          const r = schema.safeParse(value);
          return r.success ? undefined : formatIssues(toIssues(r.error.issues));
        }
      : undefined;
    for (const [name, model] of Object.entries(options.versions)) this.addVersion(name, model);
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

  /** @internal Chooses the version of a call. Routing layers replace this. */
  protected route(_input: I, options: InferOptions): RouteDecision | Promise<RouteDecision> {
    const v = options.version;
    if (v === undefined) return this.defaultDecision;
    if (!this.slots.has(v)) {
      throw new GracefulInferenceError(
        'ERR_UNKNOWN_VERSION',
        `Unknown version "${v}" for inference "${this.name}" (versions: ${[...this.slots.keys()].join(', ')})`,
      );
    }
    return { version: v, route: 'override' };
  }

  infer(input: I, options: InferOptions = EMPTY): Promise<Outcome<O>> {
    const start = performance.now();
    const observer = this.instrumentation.startCall(this.name, input, options.context);
    let value = input;
    let decision: RouteDecision;
    try {
      if (this.closed) throw new ClosedError(`Inference "${this.name}" is closed`);
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
    let decision: RouteDecision;
    try {
      decision = await routed;
    } catch (error) {
      observer.fail(error);
      throw error;
    }
    return this.dispatch(decision, input, options, start, observer);
  }

  private dispatch(decision: RouteDecision, input: I, options: InferOptions, start: number, observer: CallObserver): Promise<Outcome<O>> {
    observer.routed(decision.version, decision.route);
    const slot = this.slots.get(decision.version)!;
    return this.run(slot, input, options, start, decision.route, observer);
  }

  private async run(
    slot: VersionSlot<I, O>,
    input: I,
    options: InferOptions,
    start: number,
    route: Route,
    observer: CallObserver,
  ): Promise<Outcome<O>> {
    const signal = options.signal;
    if (signal?.aborted) {
      observer.fail(signal.reason);
      throw signal.reason;
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
    };
    slot.calls++;
    slot.inflight++;
    this.inflight++;
    try {
      let error: unknown;
      if (slot.inflight > this.maxConcurrency) {
        error = overloadedError(this.maxConcurrency);
      } else {
        try {
          let value: O;
          try {
            const pending = this.attemptOnce(slot, call);
            value = await (signal === undefined ? pending : abortable(pending, signal));
          } catch (first) {
            // Retries live on the failure path only: no promise is added to a successful call.
            if (signal?.aborted || this.retry === undefined || !this.canRetry(first)) throw first;
            const retried = retryAfterFailure(first, () => this.attemptOnce(slot, call), this.retry, call.deadline, this.canRetry, signal);
            value = await (signal === undefined ? retried : abortable(retried, signal));
          }
          const accept = this.accept;
          const verdict = accept === undefined ? true : accept(value, input);
          if (verdict === true) {
            slot.model_++;
            const outcome: Outcome<O> = { value, source: 'model', version: slot.name, route, latencyMs: performance.now() - start, attempts: call.attempts };
            observer.end(outcome);
            return outcome;
          }
          error = new ModelCallError('ERR_REJECTED_OUTPUT', 'rejected-output', String(verdict));
        } catch (e) {
          if (signal?.aborted) throw signal.reason;
          error = normalizeError(e);
        }
      }
      const outcome = await this.fallback(slot, call, error, start, route);
      observer.end(outcome);
      return outcome;
    } catch (error) {
      observer.fail(error);
      throw error;
    } finally {
      slot.inflight--;
      if (--this.inflight === 0) this.drained?.();
    }
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

  /**
   * One model run under the call's deadline, with the output check. Counted
   * here, inside the breaker: a call refused by an open breaker made no
   * attempt. Settles exactly once; whatever the model does afterwards is ignored.
   */
  private exec(slot: VersionSlot<I, O>, call: Call<I>, report: CircuitBreaker | undefined): Promise<O> {
    const n = ++call.attempts;
    const observer = call.observer;
    observer.attemptStart(n);
    // The first attempt starts with the call: one clock read fewer on the hot path.
    const started = n === 1 ? call.start : performance.now();
    const ctx = new AttemptContext(call.deadline, call.context, call.signal);
    let running: Promise<O>;
    try {
      running = slot.model.run(call.input, ctx);
    } catch (e) {
      running = Promise.reject(e);
    }
    return new Promise<O>((resolve, reject) => {
      let settled = false;
      const fail = (error: unknown): void => {
        observer.attemptEnd(n, error, reasonOf(error));
        const aborted = call.signal?.aborted === true;
        // A caller's abort says nothing about the model's health.
        if (report !== undefined) {
          if (aborted) report.recordSuccess(performance.now() - started);
          else report.recordFailure(error);
        }
        reject(aborted ? new CallerAborted(error) : error);
      };
      const expire = (): void => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        const error = timeoutError(call.timeoutMs);
        ctx.abort(error);
        if (call.signal !== undefined) ctx.release();
        fail(error);
      };
      // One shared timer for calls with the usual timeout; a private one otherwise.
      const entry = this.deadlines.add(call.deadline, expire);
      let timer: ReturnType<typeof setTimeout> | undefined;
      if (entry === undefined) {
        const remaining = call.deadline - performance.now();
        timer = setTimeout(expire, remaining > 0 ? remaining : 0);
      }
      const finish = (): void => {
        settled = true;
        if (entry !== undefined) this.deadlines.settle(entry);
        else clearTimeout(timer);
        if (call.signal !== undefined) ctx.release();
      };
      running.then(
        (value) => {
          if (settled) return;
          // A late answer is a timeout: a blocking run may have kept the timer from firing.
          const now = performance.now();
          if (now > call.deadline) return expire();
          finish();
          let out = value;
          const schema = this.outputSchema;
          if (schema !== undefined) {
            const r = schema.safeParse(value);
            if (!r.success) {
              return fail(
                new ModelCallError('ERR_INVALID_OUTPUT', 'invalid-output', `Invalid model output: ${formatIssues(toIssues(r.error.issues))}`),
              );
            }
            out = r.data;
          }
          const latency = now - started;
          if (report !== undefined) report.recordSuccess(latency);
          else slot.breaker?.recordLatency(latency);
          observer.attemptEnd(n, undefined, undefined);
          resolve(out);
        },
        (error: unknown) => {
          if (settled) return;
          finish();
          fail(error);
        },
      );
    });
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
    await Promise.all([...this.slots.values()].map((slot) => slot.model.load(options)));
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
      };
    }
    return { name: this.name, closed: this.closed, defaultVersion: this.defaultVersion, versions };
  }

  close(): Promise<void> {
    this.closed = true;
    this.closing ??= (async () => {
      if (this.inflight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
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
