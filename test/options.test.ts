import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import * as zm from 'zod/mini';
import { ConfigurationError, isConfigurationError, type Issue } from '../src/errors.js';
import { createInference, type InferenceOptions } from '../src/inference.js';
import { functionModel } from '../src/models/function-model.js';
import { validateOptions } from '../src/options.js';

const model = functionModel((x: number) => x * 2);
const base: InferenceOptions<number, number> = { name: 'double', versions: { v1: model } };

/** Builds with `patch` merged over valid options and returns the ConfigurationError. */
function configError(patch: Record<string, unknown>): ConfigurationError {
  try {
    createInference({ ...base, ...patch } as InferenceOptions<number, number>);
  } catch (error) {
    expect(isConfigurationError(error)).toBe(true);
    return error as ConfigurationError;
  }
  throw new Error(`expected a ConfigurationError for ${JSON.stringify(patch)}`);
}

const paths = (issues: readonly Issue[]) => issues.map((i) => i.path);

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

describe('createInference options', () => {
  it('accepts minimal options and defaults the version to the first key', async () => {
    const inference = createInference({ name: 'n', versions: { b: model, a: functionModel((x: number) => x) } });
    expect(inference.name).toBe('n');
    expect(inference.status().defaultVersion).toBe('b');
    expect((await inference.infer(2)).value).toBe(4);
    await inference.close();
  });

  it('accepts every documented option at once', async () => {
    const inference = createInference<number, number>({
      name: 'full',
      versions: { v1: model, v2: functionModel((x: number) => x) },
      defaultVersion: 'v2',
      input: z.number(),
      output: z.number(),
      timeoutMs: 50,
      breaker: {
        errorThresholdPercentage: 50,
        volumeThreshold: 5,
        resetTimeoutMs: 1000,
        rollingWindowMs: 5000,
        slowCallMs: 20,
        slowCallRatePercent: 80,
      },
      retry: { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 10, factor: 2, retryIf: () => true },
      accept: () => true,
      fallback: [() => 0, { name: 'named', handle: () => 1 }],
      fallbackTimeoutMs: 20,
      maxConcurrency: 4,
    });
    const outcome = await inference.infer(3);
    expect(outcome).toMatchObject({ value: 3, version: 'v2', source: 'model' });
    await inference.close();
  });

  it('accepts false for breaker and retry', async () => {
    const inference = createInference({ ...base, breaker: false, retry: false });
    expect(inference.status().versions.v1!.breaker.state).toBe('disabled');
    await inference.close();
  });

  it.each<[string, Record<string, unknown>, (string | number)[]]>([
    ['empty name', { name: '' }, ['name']],
    ['missing name', { name: undefined }, ['name']],
    ['no versions', { versions: {} }, ['versions']],
    ['a version that is not a model', { versions: { v1: model, v2: { run: () => 1 } } }, ['versions', 'v2']],
    ['unknown default version', { defaultVersion: 'v9' }, ['defaultVersion']],
    ['zero timeout', { timeoutMs: 0 }, ['timeoutMs']],
    ['negative timeout', { timeoutMs: -5 }, ['timeoutMs']],
    ['NaN timeout', { timeoutMs: Number.NaN }, ['timeoutMs']],
    ['infinite timeout', { timeoutMs: Number.POSITIVE_INFINITY }, ['timeoutMs']],
    ['string timeout', { timeoutMs: '50' }, ['timeoutMs']],
    ['breaker: true', { breaker: true }, ['breaker']],
    ['breaker reset 0', { breaker: { resetTimeoutMs: 0 } }, ['breaker', 'resetTimeoutMs']],
    ['breaker threshold 101', { breaker: { errorThresholdPercentage: 101 } }, ['breaker', 'errorThresholdPercentage']],
    ['breaker threshold 0', { breaker: { errorThresholdPercentage: 0 } }, ['breaker', 'errorThresholdPercentage']],
    ['fractional volume', { breaker: { volumeThreshold: 1.5 } }, ['breaker', 'volumeThreshold']],
    ['negative window', { breaker: { rollingWindowMs: -1 } }, ['breaker', 'rollingWindowMs']],
    ['slow call 0 ms', { breaker: { slowCallMs: 0 } }, ['breaker', 'slowCallMs']],
    ['slow rate 0', { breaker: { slowCallRatePercent: 0 } }, ['breaker', 'slowCallRatePercent']],
    ['slow rate 150', { breaker: { slowCallRatePercent: 150 } }, ['breaker', 'slowCallRatePercent']],
    ['breaker typo', { breaker: { resetTimeout: 10 } }, ['breaker']],
    ['negative retries', { retry: { retries: -1 } }, ['retry', 'retries']],
    ['fractional retries', { retry: { retries: 1.5 } }, ['retry', 'retries']],
    ['min above max', { retry: { minTimeoutMs: 100, maxTimeoutMs: 10 } }, ['retry', 'minTimeoutMs']],
    ['factor below 1', { retry: { factor: 0.5 } }, ['retry', 'factor']],
    ['retryIf not a function', { retry: { retryIf: 'yes' } }, ['retry', 'retryIf']],
    ['retry typo', { retry: { attempts: 3 } }, ['retry']],
    ['accept not a function', { accept: 'always' }, ['accept']],
    ['fallback a number', { fallback: 42 }, ['fallback']],
    ['fallback object without name', { fallback: { handle: () => 1 } }, ['fallback', 'name']],
    ['fallback list item without name', { fallback: [() => 1, { handle: () => 1 }] }, ['fallback', 1, 'name']],
    ['fallback list item with empty name', { fallback: [{ name: '', handle: () => 1 }] }, ['fallback', 0, 'name']],
    ['fallback handle not a function', { fallback: [{ name: 'x', handle: 1 }] }, ['fallback', 0, 'handle']],
    ['fallback list item null', { fallback: [() => 1, null] }, ['fallback', 1]],
    ['fallback timeout 0', { fallbackTimeoutMs: 0 }, ['fallbackTimeoutMs']],
    ['maxConcurrency 0', { maxConcurrency: 0 }, ['maxConcurrency']],
    ['fractional maxConcurrency', { maxConcurrency: 2.5 }, ['maxConcurrency']],
    ['input not a schema', { input: { parse: () => 1 } }, ['input']],
    ['output not a schema', { output: 'number' }, ['output']],
  ])('rejects %s with the path of the bad field', (_label, patch, path) => {
    const error = configError(patch);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.code).toBe('ERR_INVALID_OPTIONS');
    expect(paths(error.issues)).toContainEqual(path);
    expect(error.message).toContain('Invalid createInference options');
  });

  it('names unknown keys', () => {
    const top = configError({ timeout: 50 });
    expect(top.message).toContain('"timeout"');
    const nested = configError({ breaker: { resetTimeout: 10 } });
    expect(nested.message).toContain('breaker');
    expect(nested.message).toContain('"resetTimeout"');
  });

  it('lists every bad field at once, with formatted paths in the message', () => {
    const error = configError({ timeoutMs: -1, maxConcurrency: 0, breaker: { resetTimeoutMs: -1 } });
    expect(paths(error.issues)).toEqual(
      expect.arrayContaining([['timeoutMs'], ['maxConcurrency'], ['breaker', 'resetTimeoutMs']]),
    );
    expect(error.message).toContain('breaker.resetTimeoutMs');
    expect(error.message).toContain('timeoutMs');
  });

  it('words the reason of each bad field (the SDK builds its schemas with zod/mini, which has no locale)', () => {
    const error = configError({ timeoutMs: '50', maxConcurrency: 0, breaker: { volumeThreshold: 1.5 }, retry: { attempts: 3 } });
    expect(error.issues).toEqual(
      expect.arrayContaining([
        { path: ['timeoutMs'], message: 'Invalid input: expected number, received string' },
        { path: ['maxConcurrency'], message: 'Too small: expected number to be >0' },
        { path: ['breaker', 'volumeThreshold'], message: 'Invalid input: expected int, received number' },
        { path: ['retry'], message: 'Unrecognized key: "attempts"' },
      ]),
    );
    for (const issue of error.issues) expect(issue.message).not.toBe('Invalid input');
  });

  it('accepts zod/mini schemas as input and output, as well as classic ones', async () => {
    const inference = createInference<number, number>({ ...base, input: zm.number(), output: zm.number().check(zm.gte(0)) });
    expect((await inference.infer(2)).value).toBe(4);
    await expect(inference.infer('2' as unknown as number)).rejects.toThrow(/Invalid input/);
    await inference.close();
  });

  it('rejects a missing or non-object options argument with a ConfigurationError', () => {
    for (const bad of [undefined, null, 42, 'x']) {
      expect(() => createInference(bad as never)).toThrow(ConfigurationError);
    }
    expect(() => validateOptions({} as never)).toThrow(/name/);
  });

  it('neither mutates nor needs to mutate the options (deep-frozen options work)', async () => {
    const options = deepFreeze({
      name: 'frozen',
      versions: { v1: functionModel((x: number) => x + 1) },
      breaker: { volumeThreshold: 2, resetTimeoutMs: 1000 },
      retry: { retries: 1, minTimeoutMs: 1 },
      fallback: [() => -1],
    });
    const snapshot = JSON.stringify(options);
    const a = createInference<number, number>(options);
    const b = createInference<number, number>(options);
    expect((await a.infer(1)).value).toBe(2);
    expect((await b.infer(1)).value).toBe(2);
    expect(JSON.stringify(options)).toBe(snapshot);
    await Promise.all([a.close(), b.close()]);
  });
});
