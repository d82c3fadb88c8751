/**
 * The shared contracts of graceful-inference: models, outcomes, failures and
 * fallback handlers. Every runner (inline, worker, remote) implements
 * {@link Model}; every guard step and fallback speaks in these types.
 */
import type { FailureReason } from './errors.js';

export type { FailureReason } from './errors.js';

/** Free-form, caller-supplied context (user id, tenant, locale...). Never recorded by telemetry. */
export type InferenceContext = Readonly<Record<string, unknown>>;

/** What a model receives alongside the input on each call. */
export interface RunContext {
  /**
   * Aborted when the call's deadline passes or the caller aborts. Created on
   * first access, so models that cannot be cancelled pay nothing for it.
   */
  readonly signal: AbortSignal;
  /** Absolute deadline of this attempt, in `performance.now()` milliseconds. */
  readonly deadline: number;
  /** The caller's context. */
  readonly context: InferenceContext | undefined;
}

/**
 * A model runner. `functionModel` and `onnxModel` build these; a worker or a
 * remote runner implements the same interface.
 */
export interface Model<I, O> {
  /** Short description of the runner kind (`function`, `onnx`, `rules`, ...). */
  readonly kind: string;
  /** Loads and warms the model. Idempotent: concurrent calls share one load. */
  load(options?: { signal?: AbortSignal }): Promise<void>;
  /** Runs the model on one input. Rejections are counted as `model-error` unless they carry a reason. */
  run(input: I, ctx: RunContext): Promise<O>;
  /** Releases every resource. Safe to call more than once. */
  close(): Promise<void>;
}

/** Where the answer came from. */
export type Source = 'model' | 'fallback';

/** How the version was chosen. */
export type Route = 'default' | 'split' | 'targeting' | 'override' | 'flag' | 'canary';

/** The result of `infer`: the answer, where it came from and why. */
export interface Outcome<O> {
  /** The answer. */
  readonly value: O;
  /** `model` when the model answered, `fallback` when a handler did. */
  readonly source: Source;
  /** The model version that was chosen (and tried). */
  readonly version: string;
  /** How the version was chosen. */
  readonly route: Route;
  /** Why the model's answer was not used (only when `source` is `fallback`). */
  readonly reason?: FailureReason;
  /** Name of the fallback handler (or rule set) that answered. */
  readonly fallbackName?: string;
  /** Id of the rule that answered, or `default`, when a rule set answered. */
  readonly ruleId?: string;
  /** Wall time of the whole call, in milliseconds. */
  readonly latencyMs: number;
  /** Model attempts made (0 when the breaker was open). */
  readonly attempts: number;
}

/** Why the model could not answer, as given to fallback handlers. */
export interface Failure {
  /** The reason. */
  readonly reason: FailureReason;
  /** The underlying error (a timeout error, the model's error, the schema error...). */
  readonly error: unknown;
  /** Version that was tried. */
  readonly version: string;
  /** Model attempts made. */
  readonly attempts: number;
  /** The caller's context. */
  readonly context: InferenceContext | undefined;
}

/** A fallback answer with an optional explanation (which rule answered). */
export interface FallbackAnswer<O> {
  readonly value: O;
  /** Id of the rule that answered, when the handler is rule-based. */
  readonly ruleId?: string;
}

/** A fallback handler as a plain function. Throw to pass to the next handler. */
export type FallbackFunction<I, O> = (input: I, failure: Failure) => O | Promise<O>;

/** A named fallback handler. Throw to pass to the next handler. */
export interface FallbackHandlerObject<I, O> {
  /** Name reported as `fallbackName`. */
  readonly name: string;
  /** Produces the fallback value. */
  handle(input: I, failure: Failure): O | Promise<O>;
  /**
   * Optional richer form used instead of `handle` when present: returns the
   * value together with an explanation (for example the rule id).
   */
  explain?(input: I, failure: Failure): FallbackAnswer<O> | Promise<FallbackAnswer<O>>;
}

/** A fallback handler: a function or a named object. */
export type FallbackHandler<I, O> = FallbackFunction<I, O> | FallbackHandlerObject<I, O>;

/** Per-call options of `infer`. */
export interface InferOptions {
  /** Aborting rejects the call with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Overrides the inference's `timeoutMs` for this call. */
  readonly timeoutMs?: number;
  /** Caller context: routing key, targeting attributes, anything handlers need. */
  readonly context?: InferenceContext;
  /** Forces a version for this call (route `override`). */
  readonly version?: string;
}
