import { describe, expect, it, vi } from 'vitest';
import {
  ClosedError,
  ConfigurationError,
  GracefulInferenceError,
  InferenceError,
  InputValidationError,
  ModelCallError,
  ModelInputError,
  ModelLoadError,
  formatIssues,
  formatPath,
  isConfigurationError,
  isGracefulInferenceError,
  isInferenceError,
  isInputValidationError,
  isModelCallError,
  isModelLoadError,
} from '../src/errors.js';

type ErrorsModule = typeof import('../src/errors.js');

describe('error classes', () => {
  it('carry a stable code, their class name and the base class', () => {
    const cases: [GracefulInferenceError, string, string][] = [
      [new InferenceError('m', { reason: 'timeout', causes: [1] }), 'ERR_INFERENCE_FAILED', 'InferenceError'],
      [new InputValidationError([{ path: ['a'], message: 'bad' }]), 'ERR_INVALID_INPUT', 'InputValidationError'],
      [new ConfigurationError('x', [{ path: ['b'], message: 'bad' }]), 'ERR_INVALID_OPTIONS', 'ConfigurationError'],
      [new ModelCallError('ERR_TIMEOUT', 'timeout', 'late'), 'ERR_TIMEOUT', 'ModelCallError'],
      [new ModelLoadError('nope'), 'ERR_MODEL_LOAD', 'ModelLoadError'],
      [new ModelInputError('feeds'), 'ERR_MODEL_INPUT', 'ModelInputError'],
      [new ClosedError(), 'ERR_CLOSED', 'ClosedError'],
    ];
    for (const [error, code, name] of cases) {
      expect(error.code).toBe(code);
      expect(error.name).toBe(name);
      expect(error).toBeInstanceOf(GracefulInferenceError);
      expect(error).toBeInstanceOf(Error);
      expect(isGracefulInferenceError(error)).toBe(true);
      expect(typeof error.stack).toBe('string');
    }
  });

  it('InferenceError keeps the reason, the version and the whole cause chain', () => {
    const modelError = new Error('model broke');
    const handlerError = new TypeError('handler broke');
    const e = new InferenceError('failed', { reason: 'model-error', causes: [modelError, handlerError], version: 'v2' });
    expect(e.reason).toBe('model-error');
    expect(e.version).toBe('v2');
    expect(e.cause).toBe(modelError);
    expect(e.causes).toEqual([modelError, handlerError]);
    expect(e.message).toBe('failed');
  });

  it('InputValidationError and ConfigurationError list every issue with its path', () => {
    const e = new InputValidationError([
      { path: ['features', 2], message: 'expected number' },
      { path: [], message: 'too many keys' },
    ]);
    expect(e.issues).toHaveLength(2);
    expect(e.message).toBe('Invalid input: features[2]: expected number; too many keys');
    const c = new ConfigurationError('createInference options', [{ path: ['breaker', 'resetTimeoutMs'], message: 'too small' }]);
    expect(c.message).toBe('Invalid createInference options: breaker.resetTimeoutMs: too small');
    expect(c.issues[0]!.path).toEqual(['breaker', 'resetTimeoutMs']);
  });

  it('ModelCallError carries the failure reason it maps to and an optional cause', () => {
    const cause = new Error('root');
    const e = new ModelCallError('ERR_OVERLOADED', 'overloaded', 'full', { cause });
    expect(e.reason).toBe('overloaded');
    expect(e.cause).toBe(cause);
    expect(isModelCallError(e)).toBe(true);
    expect(isModelCallError(new ModelLoadError('x'))).toBe(false);
  });
});

describe('type guards', () => {
  it('accept their own class only', () => {
    const inference = new InferenceError('m', { reason: 'timeout', causes: [] });
    const input = new InputValidationError([]);
    expect(isInferenceError(inference)).toBe(true);
    expect(isInferenceError(input)).toBe(false);
    expect(isInputValidationError(input)).toBe(true);
    expect(isInputValidationError(inference)).toBe(false);
    expect(isConfigurationError(new ConfigurationError('x', []))).toBe(true);
    expect(isModelLoadError(new ModelLoadError('x'))).toBe(true);
    expect(isModelLoadError(input)).toBe(false);
  });

  it('reject look-alikes without the brand and non-objects', () => {
    const fake = Object.assign(new Error('fake'), { code: 'ERR_INFERENCE_FAILED', reason: 'timeout' });
    expect(isInferenceError(fake)).toBe(false);
    expect(isGracefulInferenceError(fake)).toBe(false);
    expect(isModelCallError(fake)).toBe(false);
    for (const value of [undefined, null, 0, '', 'ERR_INFERENCE_FAILED', Symbol('x'), () => 1]) {
      expect(isInferenceError(value)).toBe(false);
      expect(isGracefulInferenceError(value)).toBe(false);
    }
  });

  it('work across two copies of the library (query-string copies)', async () => {
    const base = new URL('../src/errors.ts', import.meta.url).href;
    const a = (await import(/* @vite-ignore */ `${base}?copy=a`)) as ErrorsModule;
    const b = (await import(/* @vite-ignore */ `${base}?copy=b`)) as ErrorsModule;
    // Two distinct copies: instanceof cannot recognise the other's errors.
    expect(a.InferenceError).not.toBe(b.InferenceError);
    const fromB = new b.InferenceError('m', { reason: 'circuit-open', causes: [] });
    expect(fromB instanceof a.InferenceError).toBe(false);
    expect(a.isInferenceError(fromB)).toBe(true);
    expect(a.isGracefulInferenceError(fromB)).toBe(true);
    const inputFromA = new a.InputValidationError([{ path: ['x'], message: 'bad' }]);
    expect(b.isInputValidationError(inputFromA)).toBe(true);
    expect(b.isInferenceError(inputFromA)).toBe(false);
    // And with the copy this file imported statically.
    expect(isInferenceError(fromB)).toBe(true);
    expect(b.isModelCallError(new ModelCallError('ERR_TIMEOUT', 'timeout', 'late'))).toBe(true);
  });

  it('work across two copies of the library (module registry reset)', async () => {
    vi.resetModules();
    const a = (await import('../src/errors.js')) as ErrorsModule;
    vi.resetModules();
    const b = (await import('../src/errors.js')) as ErrorsModule;
    expect(a.InputValidationError).not.toBe(b.InputValidationError);
    const fromB = new b.InputValidationError([]);
    expect(fromB instanceof a.InputValidationError).toBe(false);
    expect(a.isInputValidationError(fromB)).toBe(true);
    expect(a.isInferenceError(new b.InferenceError('m', { reason: 'overloaded', causes: [] }))).toBe(true);
  });
});

describe('formatting', () => {
  it('formats paths with dots and indices', () => {
    expect(formatPath([])).toBe('');
    expect(formatPath(['a'])).toBe('a');
    expect(formatPath(['a', 'b', 2, 'c'])).toBe('a.b[2].c');
    expect(formatPath([0, 'a'])).toBe('[0].a');
    expect(formatPath(['versions', 'v1'])).toBe('versions.v1');
  });

  it('formats issues, leaving out empty paths', () => {
    expect(formatIssues([])).toBe('');
    expect(
      formatIssues([
        { path: ['timeoutMs'], message: 'must be positive' },
        { path: [], message: 'unknown key' },
      ]),
    ).toBe('timeoutMs: must be positive; unknown key');
  });
});

describe('guards of the model-input and closed errors', () => {
  it('recognise their own class only', async () => {
    const { ModelInputError, ClosedError, isModelInputError, isClosedError } = await import('../src/errors.js');
    expect(isModelInputError(new ModelInputError('bad feed'))).toBe(true);
    expect(isModelInputError(new ClosedError())).toBe(false);
    expect(isClosedError(new ClosedError())).toBe(true);
    expect(isClosedError({ code: 'ERR_CLOSED' })).toBe(false);
  });
});
