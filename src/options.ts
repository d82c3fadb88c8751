/**
 * The options of `createInference`, validated with zod/mini at construction so a
 * misconfiguration fails at once with the path of the bad field.
 */
import * as z from 'zod/mini';
import { ConfigurationError, type Issue } from './errors.js';
import { checkSchema, type CheckableSchema } from './schema-check.js';
import type { BreakerOptions } from './resilience/circuit-breaker.js';
import type { RetryOptions } from './resilience/retry.js';
import type { RoutingOptions } from './routing/routing-options.js';
import type { Instrumentation } from './telemetry/instrumentation.js';
import type { FallbackHandler, Model } from './types.js';

/** A schema as accepted for `input` and `output`: any zod schema (or an object with zod's `safeParse`). */
export interface SchemaLike<T> {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
}

/** Options of `createInference`. */
export interface InferenceOptions<I, O> {
  /** Name of the inference, used in telemetry, errors and as the routing flag key. */
  readonly name: string;
  /** The model versions, by name. */
  readonly versions: Readonly<Record<string, Model<I, O>>>;
  /** Version used when nothing else chooses one. Default: the first key of `versions`. */
  readonly defaultVersion?: string;
  /** Validates (and may transform) each input before anything else; a failure rejects with `InputValidationError`. */
  readonly input?: SchemaLike<I>;
  /** Validates each model output (and fallback value); a failure is `invalid-output`. */
  readonly output?: SchemaLike<O>;
  /** Deadline of each call, in milliseconds, retries included. Default 1 000. */
  readonly timeoutMs?: number;
  /** Circuit breaker settings, per version; `false` disables it. */
  readonly breaker?: BreakerOptions | false;
  /** Retries for transient faults; off by default. */
  readonly retry?: RetryOptions | false;
  /** Business check of an output: `true` accepts, a string rejects with that reason (e.g. `'low-confidence'`). */
  readonly accept?: (output: O, input: I) => true | string;
  /** Fallback handlers tried in order when the model cannot answer. */
  readonly fallback?: FallbackHandler<I, O> | readonly FallbackHandler<I, O>[];
  /** Bound on each fallback handler, in milliseconds. Default: none. */
  readonly fallbackTimeoutMs?: number;
  /** Most calls in flight per version; more fall back at once with `overloaded`. Default: unbounded. */
  readonly maxConcurrency?: number;
  /**
   * Telemetry; defaults to `openTelemetry()` through `@opentelemetry/api` (a
   * no-op until an SDK is registered). `false` turns it off.
   */
  readonly instrumentation?: Instrumentation | false;
  /**
   * How calls pick a version (split, targeting, flag, canary) and shadow
   * traffic; validated by `routing/routing-schema.ts`. See docs/routing.md.
   */
  readonly routing?: RoutingOptions<I, O>;
}

const fn = (what = 'a function') =>
  z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', { error: `expected ${what}` });

const schemaLike = z.custom<SchemaLike<unknown>>(
  (v) => typeof v === 'object' && v !== null && typeof (v as { safeParse?: unknown }).safeParse === 'function',
  { error: 'expected a zod schema (an object with safeParse)' },
);

const modelLike = z.custom<Model<unknown, unknown>>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Model<unknown, unknown>).run === 'function' &&
    typeof (v as Model<unknown, unknown>).load === 'function' &&
    typeof (v as Model<unknown, unknown>).close === 'function',
  { error: 'expected a model (from functionModel, onnxModel, rulesModel...)' },
);

// zod 4's number() already refuses NaN and the infinities.
const positiveMs = z.number().check(z.positive());
const percent = z.number().check(z.gt(0), z.lte(100));
const opt = z.optional;

const breakerSchema = z.strictObject({
  errorThresholdPercentage: opt(percent),
  volumeThreshold: opt(z.int().check(z.gte(0))),
  resetTimeoutMs: opt(positiveMs),
  rollingWindowMs: opt(positiveMs),
  slowCallMs: opt(positiveMs),
  slowCallRatePercent: opt(percent),
});

const retrySchema = z
  .strictObject({
    retries: opt(z.int().check(z.gte(0), z.lte(100))),
    minTimeoutMs: opt(z.number().check(z.gte(0))),
    maxTimeoutMs: opt(z.number().check(z.gte(0))),
    factor: opt(z.number().check(z.gte(1))),
    retryIf: opt(fn()),
  })
  .check(
    z.refine((r) => r.minTimeoutMs === undefined || r.maxTimeoutMs === undefined || r.minTimeoutMs <= r.maxTimeoutMs, {
      error: 'minTimeoutMs must not exceed maxTimeoutMs',
      path: ['minTimeoutMs'],
    }),
  );

const handlerObject = z.looseObject(
  { name: z.string().check(z.minLength(1)), handle: fn() },
  { error: 'expected a fallback handler: a function or { name, handle }' },
);
const handlerSchema = z.pipe(
  z.transform((v: unknown) => (typeof v === 'function' ? { name: 'function', handle: v } : v)),
  handlerObject,
);
const handlerList = z.array(handlerSchema);

/**
 * A schema chosen by the value's shape. A zod union whose branches all fail
 * with a type error reports only "Invalid input" at the parent (e.g. for
 * `retry: { retryIf: 'yes' }` or `fallback: [{ handle }]`); choosing the
 * branch first keeps the path of the bad field (`retry.retryIf`,
 * `fallback[0].name`). `pick` returns undefined for an accepted value.
 */
const byShape = (pick: (v: unknown) => CheckableSchema | undefined) =>
  z.unknown().check(
    z.superRefine((v, ctx) => {
      const schema = pick(v);
      if (schema) for (const i of checkSchema(schema, v)) ctx.addIssue({ code: 'custom', message: i.message, path: [...i.path] });
    }),
  );

const fallbackSchema = byShape((v) => (Array.isArray(v) ? handlerList : handlerSchema));

/** Fields other layers add to the options object (routing...), validated by them. */
const extensionKeys = ['routing'] as const;

const optionsSchema = z
  .strictObject({
    name: z.string().check(z.minLength(1)),
    versions: z.record(z.string().check(z.minLength(1)), modelLike).check(
      z.refine((v) => Object.keys(v).length > 0, { error: 'at least one version is required' }),
    ),
    defaultVersion: opt(z.string().check(z.minLength(1))),
    input: opt(schemaLike),
    output: opt(schemaLike),
    timeoutMs: opt(positiveMs),
    breaker: opt(byShape((v) => (v === false ? undefined : breakerSchema))),
    retry: opt(byShape((v) => (v === false ? undefined : retrySchema))),
    accept: opt(fn()),
    fallback: opt(fallbackSchema),
    fallbackTimeoutMs: opt(positiveMs),
    maxConcurrency: opt(z.int().check(z.positive())),
    instrumentation: opt(
      z.custom<Instrumentation | false>(
        (v) => v === false || (typeof v === 'object' && v !== null && typeof (v as Instrumentation).startCall === 'function'),
        { error: 'expected an Instrumentation (e.g. openTelemetry()) or false' },
      ),
    ),
    ...Object.fromEntries(extensionKeys.map((k) => [k, opt(z.unknown())])),
  })
  .check(
    z.superRefine((o, ctx) => {
      if (o.defaultVersion !== undefined && !(o.defaultVersion in o.versions)) {
        ctx.addIssue({
          code: 'custom',
          path: ['defaultVersion'],
          message: `unknown version "${o.defaultVersion}" (versions: ${Object.keys(o.versions).join(', ')})`,
        });
      }
    }),
  );

/** Converts zod issues into the library's issue shape. */
export function toIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): Issue[] {
  return issues.map((i) => ({
    path: i.path.map((p) => (typeof p === 'number' ? p : String(p))),
    message: i.message,
  }));
}

/** Validates `createInference` options; throws `ConfigurationError` listing every bad field. */
export function validateOptions<I, O>(options: InferenceOptions<I, O>): void {
  const issues = checkSchema(optionsSchema, options);
  if (issues.length) throw new ConfigurationError('createInference options', issues);
}
