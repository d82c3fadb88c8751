/**
 * Error classes of graceful-inference.
 *
 * Every error carries a stable `code` and a brand property so that the type
 * guards work across two copies of the library in one bundle (where
 * `instanceof` would fail).
 */

const BRAND = Symbol.for('graceful-inference.error');

/** Why the model's answer was not used. */
export type FailureReason =
  | 'timeout'
  | 'circuit-open'
  | 'model-error'
  | 'invalid-output'
  | 'rejected-output'
  | 'overloaded';

/** Stable error codes. */
export type ErrorCode =
  | 'ERR_INFERENCE_FAILED'
  | 'ERR_INVALID_INPUT'
  | 'ERR_INVALID_OPTIONS'
  | 'ERR_MODEL_LOAD'
  | 'ERR_MODEL_INPUT'
  | 'ERR_TIMEOUT'
  | 'ERR_CIRCUIT_OPEN'
  | 'ERR_INVALID_OUTPUT'
  | 'ERR_REJECTED_OUTPUT'
  | 'ERR_OVERLOADED'
  | 'ERR_CLOSED'
  | 'ERR_INVALID_RULES'
  | 'ERR_NO_RULE_MATCHED'
  | 'ERR_UNKNOWN_VERSION'
  | 'ERR_INTEGRITY'
  | 'ERR_WORKER';

/** One problem found while validating something, with the path of the bad field. */
export interface Issue {
  /** Path of the offending field, e.g. `['breaker', 'resetTimeoutMs']`. */
  readonly path: readonly (string | number)[];
  /** Human-readable description. */
  readonly message: string;
}

/** Base class of every error thrown by graceful-inference. */
export class GracefulInferenceError extends Error {
  override name = 'GracefulInferenceError';
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  readonly [BRAND] = true as const;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

function hasCode(e: unknown, code?: ErrorCode): boolean {
  return (
    typeof e === 'object' &&
    e !== null &&
    (e as Record<symbol, unknown>)[BRAND] === true &&
    (code === undefined || (e as { code?: unknown }).code === code)
  );
}

/** True for any error raised by graceful-inference (any copy of it). */
export function isGracefulInferenceError(e: unknown): e is GracefulInferenceError {
  return hasCode(e);
}

/**
 * Raised by `infer` when the model could not answer and no fallback handler
 * could either. `cause` is an `AggregateError`-like chain: `causes` holds the
 * model's error followed by every handler's error, in order.
 */
export class InferenceError extends GracefulInferenceError {
  // Spelled out: minifiers rename classes, and error names must stay stable.
  override name = 'InferenceError';
  /** Why the model's answer was not used. */
  readonly reason: FailureReason;
  /** The model's error, then each fallback handler's error, in order. */
  readonly causes: readonly unknown[];
  /** Version that was tried. */
  readonly version: string | undefined;

  constructor(
    message: string,
    init: { reason: FailureReason; causes: readonly unknown[]; version?: string },
  ) {
    super('ERR_INFERENCE_FAILED', message, { cause: init.causes[0] });
    this.reason = init.reason;
    this.causes = init.causes;
    this.version = init.version;
  }
}

/** True when `e` is an {@link InferenceError} from any copy of the library. */
export function isInferenceError(e: unknown): e is InferenceError {
  return hasCode(e, 'ERR_INFERENCE_FAILED');
}

/** Input rejected by the `input` schema; the model was never called. */
export class InputValidationError extends GracefulInferenceError {
  // Spelled out: minifiers rename classes, and error names must stay stable.
  override name = 'InputValidationError';
  /** Each problem with the path of the bad field. */
  readonly issues: readonly Issue[];
  constructor(issues: readonly Issue[]) {
    super('ERR_INVALID_INPUT', `Invalid input: ${formatIssues(issues)}`);
    this.issues = issues;
  }
}

/** True when `e` is an {@link InputValidationError} from any copy of the library. */
export function isInputValidationError(e: unknown): e is InputValidationError {
  return hasCode(e, 'ERR_INVALID_INPUT');
}

/** Misconfiguration detected at construction. */
export class ConfigurationError extends GracefulInferenceError {
  // Spelled out: minifiers rename classes, and error names must stay stable.
  override name = 'ConfigurationError';
  /** Each problem with the path of the bad field. */
  readonly issues: readonly Issue[];
  constructor(what: string, issues: readonly Issue[]) {
    super('ERR_INVALID_OPTIONS', `Invalid ${what}: ${formatIssues(issues)}`);
    this.issues = issues;
  }
}

/** True when `e` is a {@link ConfigurationError} from any copy of the library. */
export function isConfigurationError(e: unknown): e is ConfigurationError {
  return hasCode(e, 'ERR_INVALID_OPTIONS');
}

/**
 * An error raised while calling a model or a guard step, carrying the
 * {@link FailureReason} it maps to. Models may throw it themselves (for
 * example `overloaded`) to choose the reason.
 */
export class ModelCallError extends GracefulInferenceError {
  // Spelled out: minifiers rename classes, and error names must stay stable.
  override name = 'ModelCallError';
  /** The reason this failure maps to. */
  readonly reason: FailureReason;
  constructor(code: ErrorCode, reason: FailureReason, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.reason = reason;
  }
}

/** True when `e` is a {@link ModelCallError} from any copy of the library. */
export function isModelCallError(e: unknown): e is ModelCallError {
  return hasCode(e) && typeof (e as { reason?: unknown }).reason === 'string';
}

/** A model could not be loaded (bad path, bad bytes, failed download, failed warmup). */
export class ModelLoadError extends GracefulInferenceError {
  // Spelled out: minifiers rename classes, and error names must stay stable.
  override name = 'ModelLoadError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_MODEL_LOAD', message, options);
  }
}

/** True when `e` is a {@link ModelLoadError} from any copy of the library. */
export function isModelLoadError(e: unknown): e is ModelLoadError {
  return hasCode(e, 'ERR_MODEL_LOAD');
}

/** Feeds produced by `encode` do not match the model's inputs (names, types, ranks). */
export class ModelInputError extends GracefulInferenceError {
  // Spelled out: minifiers rename classes, and error names must stay stable.
  override name = 'ModelInputError';
  constructor(message: string) {
    super('ERR_MODEL_INPUT', message);
  }
}

/** True when `e` is a {@link ModelInputError} from any copy of the library. */
export function isModelInputError(e: unknown): e is ModelInputError {
  return hasCode(e, 'ERR_MODEL_INPUT');
}

/** The inference (or the version) was closed. */
export class ClosedError extends GracefulInferenceError {
  // Spelled out: minifiers rename classes, and error names must stay stable.
  override name = 'ClosedError';
  constructor(message = 'The inference is closed') {
    super('ERR_CLOSED', message);
  }
}

/** True when `e` is a {@link ClosedError} from any copy of the library. */
export function isClosedError(e: unknown): e is ClosedError {
  return hasCode(e, 'ERR_CLOSED');
}

/**
 * A rule set is invalid (raised at load with every problem listed by path),
 * or a rule could not be evaluated for one input (a computed output failed
 * the output check, or an evaluation limit was hit).
 */
export class RulesError extends GracefulInferenceError {
  // Spelled out: minifiers rename classes, and error names must stay stable.
  override name = 'RulesError';
  /** Each problem with the path of the bad field, e.g. `rules[3].when`. */
  readonly issues: readonly Issue[];
  /** Name of the rule set, when known. */
  readonly ruleSet: string | undefined;
  constructor(message: string, init?: { issues?: readonly Issue[]; ruleSet?: string; cause?: unknown }) {
    super('ERR_INVALID_RULES', message, init?.cause === undefined ? undefined : { cause: init.cause });
    this.issues = init?.issues ?? [];
    this.ruleSet = init?.ruleSet;
  }
}

/** True when `e` is a {@link RulesError} from any copy of the library. */
export function isRulesError(e: unknown): e is RulesError {
  return hasCode(e, 'ERR_INVALID_RULES');
}

/** No rule of a rule set matched the input and the rule set has no `default`. */
export class NoRuleMatchedError extends GracefulInferenceError {
  // Spelled out: minifiers rename classes, and error names must stay stable.
  override name = 'NoRuleMatchedError';
  /** Name of the rule set. */
  readonly ruleSet: string;
  constructor(ruleSet: string) {
    super('ERR_NO_RULE_MATCHED', `No rule of rule set "${ruleSet}" matched and it has no default`);
    this.ruleSet = ruleSet;
  }
}

/** True when `e` is a {@link NoRuleMatchedError} from any copy of the library. */
export function isNoRuleMatchedError(e: unknown): e is NoRuleMatchedError {
  return hasCode(e, 'ERR_NO_RULE_MATCHED');
}

/** Formats issues as `path: message; path: message`. */
export function formatIssues(issues: readonly Issue[]): string {
  return issues
    .map((i) => (i.path.length ? `${formatPath(i.path)}: ${i.message}` : i.message))
    .join('; ');
}

/** Formats a path as `a.b[2].c`. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${p}` : p;
  }
  return out;
}

/**
 * Downloaded (or cached, or read) model bytes do not match the expected
 * `integrity` digest: the model is not loaded, and calls fall back.
 */
export class IntegrityError extends GracefulInferenceError {
  // Spelled out: minifiers rename classes, and error names must stay stable.
  override name = 'IntegrityError';
  /** The integrity the caller expected (as given). */
  readonly expected: string;
  /** The digest of the bytes received, in the same format as the expected one (`sha256-<base64>` or hex). */
  readonly actual: string;
  constructor(message: string, init: { expected: string; actual: string }) {
    super('ERR_INTEGRITY', message);
    // Spelled out: minifiers rename classes, so `new.target.name` is a random letter in a production bundle.
    this.expected = init.expected;
    this.actual = init.actual;
  }
}

/** True when `e` is an {@link IntegrityError} from any copy of the library. */
export function isIntegrityError(e: unknown): e is IntegrityError {
  return hasCode(e, 'ERR_INTEGRITY');
}
