/**
 * OpenTelemetry traces and metrics for the pipeline, through
 * `@opentelemetry/api` only (a peer dependency): with no SDK registered it
 * records nothing and, per call, costs two global look-ups and returns a
 * shared no-op observer. Names, units and attributes are documented in
 * `docs/telemetry.md`; changing one is a breaking change for dashboards.
 *
 * Runtime-neutral: no Node built-ins, so it serves the browser entry too.
 */
import {
  ProxyTracerProvider,
  SpanKind,
  SpanStatusCode,
  context as otelContext,
  createNoopMeter,
  metrics as otelMetrics,
  trace,
  type Attributes,
  type Context,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  type Span,
  type SpanOptions,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import * as z from 'zod/mini';
import { ConfigurationError, isGracefulInferenceError, isInferenceError, type FailureReason } from '../errors.js';
import type { BreakerState } from '../events.js';
import { checkSchema } from '../schema-check.js';
import type { InferenceContext, Outcome, Route } from '../types.js';
import { noopObserver, type CallObserver, type Instrumentation, type ShadowResult } from './instrumentation.js';

/** Instrumentation scope name of the tracer and the meter. */
export const INSTRUMENTATION_SCOPE = 'graceful-inference';

/** Options of {@link openTelemetry}. */
export interface OpenTelemetryOptions {
  /** Tracer provider to use. Default: the global one, looked up on every call so an SDK registered later is used. */
  readonly tracerProvider?: TracerProvider;
  /** Meter provider to use. Default: the global one, looked up on every call so an SDK registered later is used. */
  readonly meterProvider?: MeterProvider;
  /**
   * Opt-in redaction function: the attributes it returns for an input are set
   * on the `infer` span, each key prefixed with `inference.input.`. Without it
   * no input value is ever recorded. It runs only for recording spans; if it
   * throws, nothing is recorded for that input.
   */
  readonly recordInput?: (input: unknown) => Attributes;
  /**
   * Records failures' messages and stacks (span status message and an
   * `exception` event). Off by default: a model's error message may quote the
   * input. `error.type` is always recorded.
   */
  readonly recordExceptions?: boolean;
  /** Emit spans. Default `true`. */
  readonly spans?: boolean;
  /** Emit metrics. Default `true`. */
  readonly metrics?: boolean;
}

/** Metric names, as documented in `docs/telemetry.md`. */
export const METRICS = {
  duration: 'inference.duration',
  outcomes: 'inference.outcomes',
  breakerTransitions: 'inference.breaker.transitions',
  inflight: 'inference.inflight',
  shadowAgreement: 'inference.shadow.agreement',
  canaryWeight: 'inference.canary.weight',
  canaryTransitions: 'inference.canary.transitions',
} as const;

/**
 * Bucket boundaries of `inference.duration`, in seconds: in-process models
 * answer in tens of microseconds, remote ones in hundreds of milliseconds, so
 * the SDK's default boundaries (0-10 000, meant for milliseconds) would put
 * every call in the first bucket.
 */
export const DURATION_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Figures reported through `record` that are counters (added); every other name is a gauge (last value). */
const RECORDED_COUNTERS: Readonly<Record<string, { unit: string; description: string }>> = {
  [METRICS.canaryTransitions]: { unit: '{transition}', description: 'Canary steps, rollbacks and promotions' },
};

/** Units and descriptions of the gauges reported through `record` that are known in advance. */
const RECORDED_GAUGES: Readonly<Record<string, { unit: string; description: string }>> = {
  [METRICS.canaryWeight]: { unit: '%', description: 'Share of traffic routed to the canary version' },
};

/**
 * The stable `error.type` of an error: the `code` of a graceful-inference
 * error (`ERR_TIMEOUT`...), the `name` of a `DOMException` (`AbortError`,
 * `TimeoutError`), else the constructor's name, else `_OTHER`.
 */
export function errorType(error: unknown): string {
  if (isGracefulInferenceError(error)) return error.code;
  if (typeof error === 'object' && error !== null) {
    const ctor = (error as { constructor?: { name?: unknown } }).constructor?.name;
    if (ctor === 'DOMException') {
      const name = (error as { name?: unknown }).name;
      if (typeof name === 'string' && name !== '') return name;
    }
    if (typeof ctor === 'string' && ctor !== '' && ctor !== 'Object') return ctor;
  }
  return '_OTHER';
}

/** OpenTelemetry feature-flag reasons (`feature_flag.result.reason`) for the built-in routes. */
const ROUTE_REASON: Readonly<Record<Route, string>> = {
  default: 'default',
  split: 'split',
  canary: 'split',
  targeting: 'targeting_match',
  override: 'static',
  flag: 'unknown',
};

/**
 * Where `@opentelemetry/api` 1.x keeps its registered globals (`trace`,
 * `metrics`...): the protocol through which copies of the API share them, so
 * stable within the major version. Reading it lets a call check "nothing was
 * (un)registered since the last call" with three property reads instead of
 * the API's look-ups; any change goes through the public API again.
 */
const API_GLOBALS = Symbol.for('opentelemetry.js.api.1');
const OTEL_GLOBAL = globalThis as { [API_GLOBALS]?: ApiGlobals };
type ApiGlobals = { readonly trace?: unknown; readonly metrics?: unknown } | undefined;
const UNSEEN = Symbol('unseen');

// Identities of the API's no-op singletons, to tell "no SDK" apart cheaply.
const NOOP_TRACER_PROVIDER = new ProxyTracerProvider().getDelegate();
const NOOP_COUNTER = createNoopMeter().createCounter('noop');

const providerSchema = (method: string) =>
  z.custom<object>((v) => typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>)[method] === 'function', {
    error: `expected an object with ${method}()`,
  });

const optionsSchema = z.strictObject({
  tracerProvider: z.optional(providerSchema('getTracer')),
  meterProvider: z.optional(providerSchema('getMeter')),
  recordInput: z.optional(z.custom<(input: unknown) => Attributes>((v) => typeof v === 'function', { error: 'expected a function' })),
  recordExceptions: z.optional(z.boolean()),
  spans: z.optional(z.boolean()),
  metrics: z.optional(z.boolean()),
});

/** The instruments of one meter, created once per meter provider. */
interface Instruments {
  readonly meter: Meter;
  readonly duration: Histogram;
  readonly outcomes: Counter;
  readonly transitions: Counter;
  readonly shadow: Counter;
  readonly recorded: Map<string, (value: number, attributes: Attributes) => void>;
}

function createInstruments(meter: Meter, inflight: () => Iterable<VersionAttributes>): Instruments | undefined {
  const outcomes = meter.createCounter(METRICS.outcomes, {
    unit: '{call}',
    description: 'Calls of infer by version, answer source and failure reason',
  });
  // A no-op meter hands out shared no-op instruments: nothing would be recorded.
  if (outcomes === NOOP_COUNTER) return undefined;
  // Asynchronous: the pipeline keeps plain counts and the SDK reads them at
  // collection, instead of two synchronous recordings (attribute hashing) per call.
  meter
    .createObservableUpDownCounter(METRICS.inflight, {
      unit: '{call}',
      description: 'Calls of infer in flight (routed, not yet answered)',
    })
    .addCallback((result) => {
      for (const v of inflight()) result.observe(v.inflight, v.base);
    });
  return {
    meter,
    outcomes,
    duration: meter.createHistogram(METRICS.duration, {
      unit: 's',
      description: 'Wall time of infer calls, from the call to the answer or the rejection',
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS] },
    }),
    transitions: meter.createCounter(METRICS.breakerTransitions, {
      unit: '{transition}',
      description: 'Circuit breaker state changes by version and new state',
    }),
    shadow: meter.createCounter(METRICS.shadowAgreement, {
      unit: '{comparison}',
      description: 'Shadow calls by challenger version and result (agree, disagree, error, dropped)',
    }),
    recorded: new Map(),
  };
}

/** A last-value instrument, with a fallback for API versions before 1.9 (no synchronous gauge). */
function lastValue(meter: Meter, name: string, unit: string | undefined, description: string | undefined): (value: number, attributes: Attributes) => void {
  const opts = { ...(unit !== undefined ? { unit } : {}), ...(description !== undefined ? { description } : {}) };
  if (typeof meter.createGauge === 'function') {
    const gauge = meter.createGauge(name, opts);
    return (value, attributes) => gauge.record(value, attributes);
  }
  const values = new Map<string, { value: number; attributes: Attributes }>();
  meter.createObservableGauge(name, opts).addCallback((result) => {
    for (const v of values.values()) result.observe(v.value, v.attributes);
  });
  return (value, attributes) => {
    const key = JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : 1)));
    values.set(key, { value, attributes });
  };
}

/** Attribute sets of one version, built once so a recorded call allocates none. */
class VersionAttributes {
  readonly base: Attributes;
  readonly model: Attributes;
  readonly fallback: Attributes;
  /** Calls in flight counted while metrics were on (read by the `inference.inflight` callback). */
  inflight = 0;
  /** True once a call was counted, so the version reports 0 rather than nothing afterwards. */
  counted = false;
  private readonly byReason: Partial<Record<FailureReason, Attributes>> = {};

  constructor(
    readonly name: string,
    readonly version: string,
  ) {
    this.base = { 'inference.name': name, 'inference.version': version };
    this.model = { ...this.base, 'inference.source': 'model' };
    this.fallback = { ...this.base, 'inference.source': 'fallback' };
  }

  /** Attributes of a fallback outcome with its reason. */
  fallbackOutcome(reason: FailureReason | undefined): Attributes {
    if (reason === undefined) return this.fallback;
    return (this.byReason[reason] ??= { ...this.fallback, 'inference.fallback.reason': reason });
  }
}

/** What one inference name needs on each call, computed once. */
class NameState {
  readonly spanName: string;
  readonly attemptName: string;
  readonly fallbackName: string;
  readonly shadowName: string;
  readonly spanOptions: SpanOptions;
  readonly nameAttributes: Attributes;
  readonly breakers = new Map<string, BreakerState>();
  readonly versions = new Map<string, VersionAttributes>();

  constructor(readonly name: string) {
    this.spanName = `infer ${name}`;
    this.attemptName = `attempt ${name}`;
    this.fallbackName = `fallback ${name}`;
    this.shadowName = `shadow ${name}`;
    this.nameAttributes = { 'inference.name': name };
    this.spanOptions = { kind: SpanKind.INTERNAL, attributes: this.nameAttributes };
  }

  version(version: string): VersionAttributes {
    let v = this.versions.get(version);
    if (v === undefined) {
      v = new VersionAttributes(this.name, version);
      this.versions.set(version, v);
    }
    return v;
  }
}


const noopShadowDone = (): void => {};

/** Observes one call: the `infer` span, its children, and the call's metrics. */
class OtelCall implements CallObserver {
  private childParent: Context | undefined;
  private attemptSpan: Span | undefined;
  private fallbackSpan: Span | undefined;
  private versionAttributes: VersionAttributes | undefined;
  private inflight = false;
  private attempts = 0;
  private reason: FailureReason | undefined;
  private done = false;

  constructor(
    private readonly owner: OtelInstrumentation,
    private readonly names: NameState,
    private readonly tracer: Tracer | undefined,
    private readonly span: Span | undefined,
    private readonly parent: Context,
    private readonly instruments: Instruments | undefined,
    private readonly start: number,
  ) {}

  private children(): Context {
    return (this.childParent ??= trace.setSpan(this.parent, this.span!));
  }

  private startChild(name: string, attributes: Attributes): Span {
    return this.tracer!.startSpan(name, { kind: SpanKind.INTERNAL, attributes }, this.children());
  }

  routed(version: string, route: Route, flag?: { key: string; variant: string | undefined; reason: string; provider?: string }): void {
    if (this.done || this.versionAttributes !== undefined) return;
    const va = this.names.version(version);
    this.versionAttributes = va;
    if (this.instruments !== undefined) {
      this.inflight = true;
      va.counted = true;
      va.inflight++;
    }
    const span = this.span;
    if (span === undefined) return;
    span.setAttribute('inference.version', version);
    span.setAttribute('inference.route', route);
    if (flag !== undefined) {
      span.setAttribute('feature_flag.key', flag.key);
      span.setAttribute('feature_flag.result.variant', flag.variant ?? version);
      span.setAttribute('feature_flag.result.reason', flag.reason.toLowerCase());
      if (flag.provider !== undefined) span.setAttribute('feature_flag.provider.name', flag.provider);
    } else {
      // The built-in router is itself a flag evaluation: its key is the inference's name.
      span.setAttribute('feature_flag.key', this.names.name);
      span.setAttribute('feature_flag.result.variant', version);
      span.setAttribute('feature_flag.result.reason', ROUTE_REASON[route] ?? 'unknown');
      span.setAttribute('feature_flag.provider.name', INSTRUMENTATION_SCOPE);
    }
  }

  attemptStart(attempt: number): void {
    if (attempt > this.attempts) this.attempts = attempt;
    if (this.span === undefined || this.done) return;
    // Attempts are sequential; one still open here was never reported as ended.
    this.attemptSpan?.end();
    const va = this.versionAttributes;
    this.attemptSpan = this.startChild(this.names.attemptName, {
      'inference.name': this.names.name,
      ...(va !== undefined ? { 'inference.version': va.version } : {}),
      'inference.attempt': attempt,
    });
  }

  attemptEnd(_attempt: number, error: unknown, reason: FailureReason | undefined): void {
    const span = this.attemptSpan;
    if (span === undefined) return;
    this.attemptSpan = undefined;
    // `reason` marks a failure: a model may reject with `undefined` itself.
    if (reason !== undefined) {
      span.setAttribute('inference.failure.reason', reason);
      this.failSpan(span, error);
    }
    span.end();
  }

  fallbackStart(reason: FailureReason): void {
    if (this.done) return;
    this.reason = reason;
    if (this.span === undefined) return;
    this.fallbackSpan?.end();
    const va = this.versionAttributes;
    this.fallbackSpan = this.startChild(this.names.fallbackName, {
      'inference.name': this.names.name,
      ...(va !== undefined ? { 'inference.version': va.version } : {}),
      'inference.fallback.reason': reason,
    });
  }

  end(outcome: Outcome<unknown>): void {
    if (this.done) return;
    this.done = true;
    const m = this.instruments;
    if (m !== undefined) {
      const va = this.versionAttributes ?? this.names.version(outcome.version);
      const seconds = outcome.latencyMs / 1000;
      if (outcome.source === 'model') {
        m.duration.record(seconds, va.model);
        m.outcomes.add(1, va.model);
      } else {
        m.duration.record(seconds, va.fallback);
        m.outcomes.add(1, va.fallbackOutcome(outcome.reason));
      }
    }
    if (this.inflight) this.versionAttributes!.inflight--;
    const span = this.span;
    if (span === undefined) return;
    const open = this.attemptSpan;
    if (open !== undefined) {
      this.attemptSpan = undefined;
      open.end();
    }
    span.setAttribute('inference.source', outcome.source);
    span.setAttribute('inference.attempts', outcome.attempts);
    if (outcome.source === 'fallback') {
      if (outcome.reason !== undefined) span.setAttribute('inference.fallback.reason', outcome.reason);
      if (outcome.fallbackName !== undefined) span.setAttribute('inference.fallback.name', outcome.fallbackName);
      if (outcome.ruleId !== undefined) span.setAttribute('inference.rule.id', outcome.ruleId);
      const fb = this.fallbackSpan;
      if (fb !== undefined) {
        this.fallbackSpan = undefined;
        if (outcome.fallbackName !== undefined) fb.setAttribute('inference.fallback.name', outcome.fallbackName);
        if (outcome.ruleId !== undefined) fb.setAttribute('inference.rule.id', outcome.ruleId);
        fb.end();
      }
    }
    this.endCallSpan(span);
  }

  fail(error: unknown): void {
    if (this.done) return;
    this.done = true;
    const type = errorType(error);
    const reason = isInferenceError(error) ? error.reason : this.reason;
    const va = this.versionAttributes;
    const m = this.instruments;
    if (m !== undefined) {
      const attributes: Attributes = va !== undefined ? { ...va.base } : { ...this.names.nameAttributes };
      attributes['inference.source'] = 'error';
      m.duration.record((performance.now() - this.start) / 1000, attributes);
      attributes['error.type'] = type;
      if (reason !== undefined) attributes['inference.fallback.reason'] = reason;
      m.outcomes.add(1, attributes);
    }
    if (this.inflight) va!.inflight--;
    const span = this.span;
    if (span === undefined) return;
    // Children still open were abandoned with the call (caller abort): they end with it.
    const open = this.attemptSpan;
    if (open !== undefined) {
      this.attemptSpan = undefined;
      this.failSpan(open, error);
      open.end();
    }
    const fb = this.fallbackSpan;
    if (fb !== undefined) {
      this.fallbackSpan = undefined;
      this.failSpan(fb, error);
      fb.end();
    }
    span.setAttribute('inference.attempts', this.attempts);
    if (reason !== undefined) span.setAttribute('inference.fallback.reason', reason);
    this.failSpan(span, error, type);
    this.endCallSpan(span);
  }

  shadowStart(version: string): (result: ShadowResult, error?: unknown) => void {
    if (this.span === undefined) return noopShadowDone;
    const span = this.startChild(this.names.shadowName, { 'inference.name': this.names.name, 'inference.version': version });
    let ended = false;
    return (result, error) => {
      if (ended) return;
      ended = true;
      span.setAttribute('inference.shadow.result', result);
      if (result === 'error') this.failSpan(span, error);
      span.end();
    };
  }

  private failSpan(span: Span, error: unknown, type = errorType(error)): void {
    span.setAttribute('error.type', type);
    if (this.owner.recordExceptions) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      if (error instanceof Error) span.recordException(error);
    } else {
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
  }

  private endCallSpan(span: Span): void {
    const va = this.versionAttributes;
    if (va !== undefined) {
      const state = this.names.breakers.get(va.version);
      if (state !== undefined) span.setAttribute('inference.breaker.state', state);
    }
    span.end();
  }
}

/** The OpenTelemetry {@link Instrumentation}. */
class OtelInstrumentation implements Instrumentation {
  readonly recordExceptions: boolean;
  private readonly spans: boolean;
  private readonly metrics: boolean;
  private readonly tracerProvider: TracerProvider | undefined;
  private readonly meterProvider: MeterProvider | undefined;
  private readonly recordInput: ((input: unknown) => Attributes) | undefined;
  // Resolved lazily and re-resolved when the provider changes.
  private tracerFrom: TracerProvider | undefined;
  private tracer: Tracer | undefined;
  private meterFrom: MeterProvider | undefined;
  private instruments: Instruments | undefined;
  // The registered globals the current resolution was made with.
  private seenTrace: unknown = UNSEEN;
  /** Nothing to record and no API global registered at the last look: while that lasts, calls get the no-op observer at once. */
  private quiet = false;
  private seenMetrics: unknown = UNSEEN;
  /** An explicit provider that is a proxy may get its delegate at any time: resolve on every call. */
  private readonly alwaysResolve: boolean;
  private lastName: string | undefined;
  private lastState: NameState | undefined;
  private readonly names = new Map<string, NameState>();

  constructor(options: OpenTelemetryOptions) {
    this.spans = options.spans ?? true;
    this.metrics = options.metrics ?? true;
    this.tracerProvider = options.tracerProvider;
    this.meterProvider = options.meterProvider;
    this.recordInput = options.recordInput;
    this.recordExceptions = options.recordExceptions ?? false;
    this.alwaysResolve = typeof (options.tracerProvider as Partial<ProxyTracerProvider> | undefined)?.getDelegate === 'function';
  }

  private state(name: string): NameState {
    if (name === this.lastName) return this.lastState!;
    let s = this.names.get(name);
    if (s === undefined) {
      s = new NameState(name);
      this.names.set(name, s);
    }
    this.lastName = name;
    this.lastState = s;
    return s;
  }

  /** The tracer to use now, or `undefined` when no SDK would record anything. */
  private currentTracer(): Tracer | undefined {
    let provider = this.tracerProvider ?? trace.getTracerProvider();
    // The global provider is a proxy whose delegate is set when an SDK registers.
    const proxy = provider as Partial<ProxyTracerProvider>;
    if (typeof proxy.getDelegate === 'function') provider = proxy.getDelegate();
    if (provider !== this.tracerFrom) {
      this.tracerFrom = provider;
      this.tracer = provider === NOOP_TRACER_PROVIDER ? undefined : provider.getTracer(INSTRUMENTATION_SCOPE);
    }
    return this.tracer;
  }

  private *countedVersions(): Iterable<VersionAttributes> {
    for (const names of this.names.values()) {
      for (const v of names.versions.values()) if (v.counted) yield v;
    }
  }

  /** The instruments to use now, or `undefined` when no SDK would record anything. */
  private currentInstruments(): Instruments | undefined {
    const provider = this.meterProvider ?? otelMetrics.getMeterProvider();
    if (provider !== this.meterFrom) {
      this.meterFrom = provider;
      this.instruments = createInstruments(provider.getMeter(INSTRUMENTATION_SCOPE), () => this.countedVersions());
    }
    return this.instruments;
  }

  /** Re-resolves the tracer and the instruments when a global provider was (un)registered. */
  private refresh(): void {
    const globals = OTEL_GLOBAL[API_GLOBALS];
    const t = globals?.trace;
    const m = globals?.metrics;
    if (t === this.seenTrace && m === this.seenMetrics && !this.alwaysResolve) return;
    this.seenTrace = t;
    this.seenMetrics = m;
    if (this.spans) this.currentTracer();
    if (this.metrics) this.currentInstruments();
    this.quiet = globals === undefined && this.tracer === undefined && this.instruments === undefined && !this.alwaysResolve;
  }

  startCall(name: string, input: unknown, _context: InferenceContext | undefined): CallObserver {
    // The common case of an application without OpenTelemetry: no API global was ever registered.
    if (OTEL_GLOBAL[API_GLOBALS] === undefined && this.quiet) return noopObserver;
    this.refresh();
    const tracer = this.tracer;
    const instruments = this.instruments;
    if (tracer === undefined && instruments === undefined) return noopObserver;
    const names = this.state(name);
    const parent = otelContext.active();
    let span: Span | undefined;
    if (tracer !== undefined) {
      const started = tracer.startSpan(names.spanName, names.spanOptions, parent);
      if (started.isRecording()) {
        span = started;
        if (this.recordInput !== undefined) this.setInput(span, input);
      }
    }
    if (span === undefined && instruments === undefined) return noopObserver;
    return new OtelCall(this, names, tracer, span, parent, instruments, instruments === undefined ? 0 : performance.now());
  }

  private setInput(span: Span, input: unknown): void {
    let attributes: Attributes;
    try {
      attributes = this.recordInput!(input);
    } catch {
      return;
    }
    if (typeof attributes !== 'object' || attributes === null) return;
    for (const [key, value] of Object.entries(attributes)) {
      if (value !== undefined && value !== null) span.setAttribute(`inference.input.${key}`, value);
    }
  }

  breakerTransition(name: string, version: string, state: BreakerState): void {
    this.state(name).breakers.set(version, state);
    if (!this.metrics) return;
    this.currentInstruments()?.transitions.add(1, {
      'inference.name': name,
      'inference.version': version,
      'inference.breaker.state': state,
    });
  }

  shadowResult(name: string, version: string, result: ShadowResult): void {
    if (!this.metrics) return;
    this.currentInstruments()?.shadow.add(1, {
      'inference.name': name,
      'inference.version': version,
      'inference.shadow.result': result,
    });
  }

  record(name: string, metric: string, value: number, attributes: Readonly<Record<string, string | number | boolean>>): void {
    if (!this.metrics) return;
    const m = this.currentInstruments();
    if (m === undefined) return;
    let write = m.recorded.get(metric);
    if (write === undefined) {
      const counter = RECORDED_COUNTERS[metric];
      if (counter !== undefined) {
        const c = m.meter.createCounter(metric, counter);
        write = (v, a) => c.add(v, a);
      } else {
        const known = RECORDED_GAUGES[metric];
        write = lastValue(m.meter, metric, known?.unit, known?.description);
      }
      m.recorded.set(metric, write);
    }
    write(value, { ...attributes, 'inference.name': name });
  }
}

/** @internal True for instrumentations made by `openTelemetry()` of this copy of the library (trusted not to throw). */
export function isOwnOpenTelemetry(instrumentation: Instrumentation): boolean {
  return instrumentation instanceof OtelInstrumentation;
}

/**
 * OpenTelemetry instrumentation for `createInference`: one `infer {name}`
 * span per call (a child of the caller's active span) with a child span per
 * model attempt, for the fallback and for shadow work, plus the
 * `inference.*` metrics. It is the default instrumentation; pass
 * `instrumentation: openTelemetry({...})` to change its options, or
 * `instrumentation: false` to turn telemetry off.
 *
 * Uses only `@opentelemetry/api`: until an SDK is registered (globally, or
 * passed as `tracerProvider` / `meterProvider`) it records nothing and costs
 * next to nothing. Input values are never recorded unless `recordInput` is
 * given.
 *
 * @example
 * ```ts
 * const scorer = createInference({
 *   name: 'credit-risk',
 *   versions: { v1: model },
 *   instrumentation: openTelemetry({ recordInput: (a) => ({ country: (a as Applicant).country }) }),
 * });
 * ```
 * @throws ConfigurationError when an option is invalid, with the path of the bad field.
 */
export function openTelemetry(options: OpenTelemetryOptions = {}): Instrumentation {
  const issues = checkSchema(optionsSchema, options);
  if (issues.length) throw new ConfigurationError('openTelemetry options', issues);
  return new OtelInstrumentation(options);
}
