/**
 * The options of `createInference`, validated with zod at construction so a
 * misconfiguration fails at once with the path of the bad field.
 */
import { z } from 'zod';
import { ConfigurationError, type Issue } from './errors.js';
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

const fn = (what = 'a function') => z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', { message: `expected ${what}` });

const schemaLike = z.custom<SchemaLike<unknown>>(
  (v) => typeof v === 'object' && v !== null && typeof (v as { safeParse?: unknown }).safeParse === 'function',
  { message: 'expected a zod schema (an object with safeParse)' },
);

const modelLike = z.custom<Model<unknown, unknown>>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Model<unknown, unknown>).run === 'function' &&
    typeof (v as Model<unknown, unknown>).load === 'function' &&
    typeof (v as Model<unknown, unknown>).close === 'function',
  { message: 'expected a model (from functionModel, onnxModel, rulesModel...)' },
);

const positiveMs = z.number().finite().positive();

const breakerSchema = z
  .object({
    errorThresholdPercentage: z.number().gt(0).max(100).optional(),
    volumeThreshold: z.number().int().min(0).optional(),
    resetTimeoutMs: positiveMs.optional(),
    rollingWindowMs: positiveMs.optional(),
    slowCallMs: positiveMs.optional(),
    slowCallRatePercent: z.number().gt(0).max(100).optional(),
  })
  .strict();

const retrySchema = z
  .object({
    retries: z.number().int().min(0).max(100).optional(),
    minTimeoutMs: z.number().finite().min(0).optional(),
    maxTimeoutMs: z.number().finite().min(0).optional(),
    factor: z.number().finite().min(1).optional(),
    retryIf: fn().optional(),
  })
  .strict()
  .refine((r) => r.minTimeoutMs === undefined || r.maxTimeoutMs === undefined || r.minTimeoutMs <= r.maxTimeoutMs, {
    message: 'minTimeoutMs must not exceed maxTimeoutMs',
    path: ['minTimeoutMs'],
  });

const handlerObject = z
  .object({ name: z.string().min(1), handle: fn() }, { error: 'expected a fallback handler: a function or { name, handle }' })
  .passthrough();
const handlerSchema = z.preprocess((v) => (typeof v === 'function' ? { name: 'function', handle: v } : v), handlerObject);
const handlerList = z.array(handlerSchema);

/**
 * A schema chosen by the value's shape. A zod union whose branches all fail
 * with a type error reports only "Invalid input" at the parent (e.g. for
 * `retry: { retryIf: 'yes' }` or `fallback: [{ handle }]`); choosing the
 * branch first keeps the path of the bad field (`retry.retryIf`,
 * `fallback[0].name`). `pick` returns undefined for an accepted value.
 */
const byShape = (pick: (v: unknown) => z.ZodType | undefined) =>
  z.unknown().superRefine((v, ctx) => {
    const r = pick(v)?.safeParse(v);
    if (r && !r.success) for (const i of r.error.issues) ctx.addIssue({ code: 'custom', message: i.message, path: [...i.path] });
  });

const fallbackSchema = byShape((v) => (Array.isArray(v) ? handlerList : handlerSchema));

/** Fields other layers add to the options object (routing...), validated by them. */
const extensionKeys = ['routing'] as const;

const optionsSchema = z
  .object({
    name: z.string().min(1),
    versions: z.record(z.string().min(1), modelLike).refine((v) => Object.keys(v).length > 0, {
      message: 'at least one version is required',
    }),
    defaultVersion: z.string().min(1).optional(),
    input: schemaLike.optional(),
    output: schemaLike.optional(),
    timeoutMs: positiveMs.optional(),
    breaker: byShape((v) => (v === false ? undefined : breakerSchema)).optional(),
    retry: byShape((v) => (v === false ? undefined : retrySchema)).optional(),
    accept: fn().optional(),
    fallback: fallbackSchema.optional(),
    fallbackTimeoutMs: positiveMs.optional(),
    maxConcurrency: z.number().int().positive().optional(),
    instrumentation: z
      .custom<Instrumentation | false>(
        (v) => v === false || (typeof v === 'object' && v !== null && typeof (v as Instrumentation).startCall === 'function'),
        { message: 'expected an Instrumentation (e.g. openTelemetry()) or false' },
      )
      .optional(),
    ...Object.fromEntries(extensionKeys.map((k) => [k, z.unknown().optional()])),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.defaultVersion !== undefined && !(o.defaultVersion in o.versions)) {
      ctx.addIssue({
        code: 'custom',
        path: ['defaultVersion'],
        message: `unknown version "${o.defaultVersion}" (versions: ${Object.keys(o.versions).join(', ')})`,
      });
    }
  });

/** Converts zod issues into the library's issue shape. */
export function toIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): Issue[] {
  return issues.map((i) => ({
    path: i.path.map((p) => (typeof p === 'number' ? p : String(p))),
    message: i.message,
  }));
}

/** Validates `createInference` options; throws `ConfigurationError` listing every bad field. */
export function validateOptions<I, O>(options: InferenceOptions<I, O>): void {
  const result = optionsSchema.safeParse(options);
  if (!result.success) throw new ConfigurationError('createInference options', toIssues(result.error.issues));
}
