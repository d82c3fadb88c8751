/**
 * Runs the SDK's own option schemas (built with `zod/mini`, which carries no
 * locale) and words their issues. The messages are given per parse, never
 * through zod's global `z.config()`, so the application's own zod keeps its
 * configuration; they read like zod's English locale (`Invalid input:
 * expected number, received string`, `Too small: expected number to be >0`,
 * `Unrecognized key: "timeout"`), which the SDK's messages used before.
 * Checks that give their own message (`{ error: '...' }`, custom issues)
 * keep it.
 */
import type { core } from 'zod/mini';
import type { Issue } from './errors.js';

/** The part of a zod/mini schema this module uses. */
export interface CheckableSchema {
  safeParse(value: unknown, params?: { error?: (issue: core.$ZodRawIssue) => string }): {
    success: boolean;
    error?: { issues: readonly { path: readonly PropertyKey[]; message: string; code?: string; keys?: readonly string[] }[] };
  };
}

const SIZED: Readonly<Record<string, string>> = { string: 'characters', array: 'items', set: 'items', map: 'entries', file: 'bytes' };

function typeOf(v: unknown): string {
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : Number.isFinite(v) ? 'number' : String(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v) as { constructor?: { name?: unknown } } | null;
    const name = proto && proto !== Object.prototype ? proto.constructor?.name : undefined;
    return typeof name === 'string' && name ? name : 'object';
  }
  return typeof v;
}

const show = (v: unknown): string => (typeof v === 'string' ? `"${v}"` : typeof v === 'bigint' ? `${v}n` : String(v));

/** The message of a raw zod issue that has none of its own. */
export function issueMessage(issue: core.$ZodRawIssue): string {
  const i = issue as core.$ZodRawIssue & Record<string, unknown>;
  switch (i.code) {
    case 'invalid_type':
      return `Invalid input: expected ${String(i.expected)}, received ${typeOf(i.input)}`;
    case 'invalid_value': {
      const values = i.values as readonly unknown[];
      return values.length === 1
        ? `Invalid input: expected ${show(values[0])}`
        : `Invalid option: expected one of ${values.map(show).join('|')}`;
    }
    case 'too_big':
    case 'too_small': {
      const big = i.code === 'too_big';
      const bound = String(big ? i.maximum : i.minimum);
      const rel = `${i.exact ? 'exactly ' : i.inclusive ? (big ? '<=' : '>=') : big ? '<' : '>'}${bound}`;
      const origin = String(i.origin ?? 'value');
      const unit = SIZED[origin];
      return `Too ${big ? 'big' : 'small'}: expected ${origin} to ${unit ? `have ${rel} ${unit}` : `be ${rel}`}`;
    }
    case 'not_multiple_of':
      return `Invalid number: must be a multiple of ${String(i.divisor)}`;
    case 'unrecognized_keys': {
      const keys = i.keys as readonly string[];
      return `Unrecognized key${keys.length > 1 ? 's' : ''}: ${keys.map(show).join(', ')}`;
    }
    default:
      return 'Invalid input';
  }
}

/** Validates `value`; returns every issue (empty when valid), paths under `prefix`. */
export function checkSchema(schema: CheckableSchema, value: unknown, prefix: readonly (string | number)[] = []): Issue[] {
  const result = schema.safeParse(value, { error: issueMessage });
  if (result.success || !result.error) return [];
  return result.error.issues.map((i) => ({
    path: [...prefix, ...i.path.map((p) => (typeof p === 'number' ? p : String(p)))],
    message: i.message,
  }));
}

/** Like {@link checkSchema}, with the raw zod fields (`code`, `keys`) kept for callers that split unknown keys. */
export function checkSchemaRaw(schema: CheckableSchema, value: unknown) {
  const result = schema.safeParse(value, { error: issueMessage });
  return result.success || !result.error ? [] : result.error.issues;
}
