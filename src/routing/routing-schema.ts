/**
 * Validation of the `routing` option: structure with zod/mini, plus every version
 * name checked against the inference's versions, so a typo fails at
 * construction with the path of the bad field (`routing.split.v3`,
 * `routing.canary.version`...).
 */
import * as z from 'zod/mini';
import { ConfigurationError } from '../errors.js';
import { validateLogic } from '../fallback/json-logic.js';
import { checkSchema } from '../schema-check.js';
import { MAX_TOTAL_WEIGHT } from './fractional.js';
import type { RoutingOptions } from './routing-options.js';

/** What the schema checks version names against. */
export interface RoutingSchemaContext {
  /** Names of the inference's versions. */
  readonly versions: readonly string[];
  /** The inference's own default version (used when `routing.defaultVersion` is not set). */
  readonly defaultVersion: string;
}

const fn = (what: string) =>
  z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', { error: `expected ${what}` });

const rate = z.number().check(z.gte(0), z.lte(1));
const opt = z.optional;
const nonEmpty = () => z.string().check(z.minLength(1));
const atLeast1 = () => z.int().check(z.gte(1));

/**
 * The zod schema of the `routing` option for an inference with the given
 * versions. Unknown version names are reported at their path.
 */
export function routingSchema(ctx: RoutingSchemaContext) {
  const known = new Set(ctx.versions);
  const list = ctx.versions.join(', ');
  const unknown = (v: string) => `unknown version "${v}" (versions: ${list})`;
  const version = nonEmpty().check(z.refine((v) => known.has(v), { error: (iss) => unknown(String(iss.input)) }));
  // Checked by hand rather than with a zod union, whose errors would only say "Invalid input".
  const split = z.unknown().check(z.superRefine((s, c) => {
    let entries: [unknown, unknown, (string | number)[]][];
    if (Array.isArray(s)) {
      entries = [];
      for (let i = 0; i < s.length; i++) {
        const e: unknown = s[i];
        if (!Array.isArray(e) || e.length !== 2) {
          c.addIssue({ code: 'custom', path: [i], message: 'expected a [version, weight] pair' });
          return;
        }
        entries.push([e[0], e[1], [i]]);
      }
    } else if (typeof s === 'object' && s !== null) {
      entries = Object.entries(s).map(([name, w]) => [name, w, [name]]);
    } else {
      c.addIssue({ code: 'custom', message: 'expected { version: weight, ... } or [[version, weight], ...]' });
      return;
    }
    if (entries.length === 0) {
      c.addIssue({ code: 'custom', message: 'a split needs at least one version' });
      return;
    }
    const seen = new Set<string>();
    let total = 0;
    for (const [name, w, path] of entries) {
      if (typeof name !== 'string' || !known.has(name)) {
        c.addIssue({ code: 'custom', path, message: typeof name === 'string' ? unknown(name) : 'expected a version name' });
      } else if (seen.has(name)) c.addIssue({ code: 'custom', path, message: `version "${name}" appears twice` });
      else seen.add(name);
      if (typeof w !== 'number' || !Number.isInteger(w) || w < 0) {
        c.addIssue({ code: 'custom', path, message: `weights must be non-negative integers, got ${JSON.stringify(w)}` });
        return;
      }
      total += w;
    }
    if (total <= 0) c.addIssue({ code: 'custom', message: 'the weights must not all be 0' });
    if (total > MAX_TOTAL_WEIGHT) c.addIssue({ code: 'custom', message: `the weights must add up to at most ${MAX_TOTAL_WEIGHT}` });
  }));

  const targeting = z.array(
    z.strictObject({
      when: z.unknown().check(
        z.superRefine((expr, c) => {
          if (expr === undefined) {
            c.addIssue({ code: 'custom', message: 'expected a JsonLogic condition' });
            return;
          }
          for (const issue of validateLogic(expr, [])) c.addIssue({ code: 'custom', path: [...issue.path], message: issue.message });
        }),
      ),
      version,
    }),
  );

  const flag = z.strictObject({
    client: z.custom<object>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        (typeof (v as { getStringDetails?: unknown }).getStringDetails === 'function' ||
          typeof (v as { getStringValue?: unknown }).getStringValue === 'function'),
      { error: 'expected an OpenFeature client (with getStringDetails or getStringValue)' },
    ),
    key: nonEmpty(),
  });

  const shadow = z.strictObject({
    version,
    sampleRate: opt(rate),
    compare: opt(fn('a function (primary, shadow, input) => boolean')),
    maxConcurrent: opt(atLeast1()),
  });

  const checks = z.strictObject({
    maxErrorRate: opt(rate),
    maxFallbackRate: opt(rate),
    maxLatencyP99Ms: opt(z.number().check(z.positive())),
    maxLatencyRatio: opt(z.number().check(z.positive())),
  });

  const percentage = 'steps are percentages in (0, 100]';
  const canary = z.strictObject({
    version,
    baseline: opt(version),
    steps: opt(
      z.array(z.number().check(z.gt(0, percentage), z.lte(100, percentage))).check(
        z.minLength(1),
        z.superRefine((steps, c) => {
          for (let i = 1; i < steps.length; i++) {
            if (steps[i]! <= steps[i - 1]!) c.addIssue({ code: 'custom', path: [i], message: 'steps must increase' });
          }
        }),
      ),
    ),
    minRequestsPerStep: opt(atLeast1()),
    intervalMs: opt(z.number().check(z.gte(0))),
    checks: opt(checks),
    failureLimit: opt(atLeast1()),
  });

  return z
    .strictObject({
      defaultVersion: opt(version),
      split: opt(split),
      key: opt(fn('a function (input, context) => string | undefined')),
      flagKey: opt(nonEmpty()),
      targeting: opt(targeting),
      flag: opt(flag),
      shadow: opt(shadow),
      canary: opt(canary),
    })
    .check(z.superRefine((r, issues) => {
      const defaultVersion = r.defaultVersion ?? ctx.defaultVersion;
      if (r.defaultVersion === undefined && !known.has(defaultVersion)) {
        issues.addIssue({
          code: 'custom',
          path: ['defaultVersion'],
          message: `required: the inference's default version "${defaultVersion}" is gone (versions: ${list})`,
        });
      }
      const c = r.canary;
      if (c === undefined) return;
      const baseline = c.baseline ?? defaultVersion;
      if (c.version === baseline) {
        issues.addIssue({
          code: 'custom',
          path: ['canary', c.baseline === undefined ? 'version' : 'baseline'],
          message: `the canary must differ from its baseline ("${baseline}")`,
        });
      }
    }));
}

/**
 * Validates a `routing` option; throws `ConfigurationError` listing every bad
 * field, with paths under `prefix` (default `['routing']`).
 *
 * @param what - what is being validated, for the message (e.g. `createInference options`)
 */
export function validateRouting<I, O>(
  routing: unknown,
  ctx: RoutingSchemaContext,
  what = 'routing',
  prefix: readonly (string | number)[] = ['routing'],
): RoutingOptions<I, O> {
  const issues = checkSchema(routingSchema(ctx), routing, prefix);
  if (issues.length) throw new ConfigurationError(what, issues);
  // The parsed copy would drop nothing but may reorder; keep the caller's object (functions, client identity).
  return routing as RoutingOptions<I, O>;
}
