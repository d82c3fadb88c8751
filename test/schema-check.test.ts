// No classic `zod` import in this file: classic zod installs its English locale globally when imported,
// which would hide what these tests check.
import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { isConfigurationError, type ConfigurationError } from '../src/errors.js';
import { validateOptions } from '../src/options.js';
import { functionModel } from '../src/models/function-model.js';
import { checkSchema, issueMessage } from '../src/schema-check.js';

const model = functionModel((x: number) => x);

function configError(options: unknown): ConfigurationError {
  try {
    validateOptions(options as never);
  } catch (e) {
    expect(isConfigurationError(e)).toBe(true);
    return e as ConfigurationError;
  }
  throw new Error('expected a ConfigurationError');
}

describe('schema-check', () => {
  it("words the SDK's issues without touching zod's global configuration", () => {
    expect(z.config().localeError).toBeUndefined();
    const error = configError({ name: 'n', versions: { v1: model }, timeoutMs: '5', breaker: { resetTimeoutMs: 0 }, nope: 1 });
    expect(error.issues).toEqual([
      { path: ['timeoutMs'], message: 'Invalid input: expected number, received string' },
      { path: ['breaker', 'resetTimeoutMs'], message: 'Too small: expected number to be >0' },
      { path: [], message: 'Unrecognized key: "nope"' },
    ]);
    expect(z.config().localeError).toBeUndefined();
    // The application's own zod/mini schemas keep zod's bare message.
    expect(z.number().safeParse('x').error!.issues[0]!.message).toBe('Invalid input');
  });

  it('keeps the messages a check gives itself', () => {
    const schema = z.object({ a: z.string().check(z.minLength(2, 'too short')), b: z.number() });
    expect(checkSchema(schema, { a: 'x', b: null }, ['p'])).toEqual([
      { path: ['p', 'a'], message: 'too short' },
      { path: ['p', 'b'], message: 'Invalid input: expected number, received null' },
    ]);
  });

  it.each<[z.ZodMiniType, unknown, string]>([
    [z.enum(['a', 'b']), 'c', 'Invalid option: expected one of "a"|"b"'],
    [z.literal(3), 4, 'Invalid input: expected 3'],
    [z.number().check(z.lte(1)), 2, 'Too big: expected number to be <=1'],
    [z.number().check(z.lt(1)), 2, 'Too big: expected number to be <1'],
    [z.string().check(z.maxLength(1)), 'ab', 'Too big: expected string to have <=1 characters'],
    [z.array(z.number()).check(z.minLength(1)), [], 'Too small: expected array to have >=1 items'],
    [z.number(), Number.NaN, 'Invalid input: expected number, received NaN'],
    [z.number(), Number.NEGATIVE_INFINITY, 'Invalid input: expected number, received -Infinity'],
    [z.number(), new Map(), 'Invalid input: expected number, received Map'],
    [z.number().check(z.multipleOf(2)), 3, 'Invalid number: must be a multiple of 2'],
    [z.strictObject({}), { x: 1, y: 2 }, 'Unrecognized keys: "x", "y"'],
  ])('words %# like zod\'s English locale', (schema, value, message) => {
    expect(checkSchema(schema, value).map((i) => i.message)).toEqual([message]);
  });

  it('falls back to "Invalid input" for codes the SDK never raises', () => {
    expect(issueMessage({ code: 'invalid_union', errors: [], input: 1 } as never)).toBe('Invalid input');
  });
});
