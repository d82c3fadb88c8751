/**
 * p-retry costs microseconds per call even when the first attempt succeeds, so
 * the pipeline must not load or enter it until a first attempt fails. The
 * module is mocked with a pass-through that counts imports and calls; the
 * tests run in order in this file (the import counter is per file).
 */
import { describe, expect, it, vi } from 'vitest';
import { createInference } from '../../src/inference.js';
import { failOnUnhandledRejections, scriptedModel } from '../helpers/models.js';

failOnUnhandledRejections();

const probe = vi.hoisted(() => ({ imports: 0, calls: 0 }));

vi.mock('p-retry', async (importOriginal) => {
  probe.imports++;
  const actual = await importOriginal<typeof import('p-retry')>();
  const wrapped = ((...args: Parameters<typeof actual.default>) => {
    probe.calls++;
    return actual.default(...args);
  }) as typeof actual.default;
  return { ...actual, default: wrapped };
});

describe('p-retry stays off the success path', () => {
  it('is neither imported nor called while first attempts succeed', async () => {
    const model = scriptedModel<number, number>((x) => x);
    const inference = createInference<number, number>({
      name: 'lazy',
      versions: { v1: model },
      retry: { retries: 3, minTimeoutMs: 1 },
      fallback: () => -1,
    });
    for (let i = 0; i < 50; i++) expect(await inference.infer(i)).toMatchObject({ source: 'model', attempts: 1 });
    // Failures that are never retried do not enter it either.
    model.behave(() => Promise.reject(new Error('fatal')));
    const noRetry = createInference<number, number>({
      name: 'no-retry',
      versions: { v1: model },
      retry: { retries: 3, minTimeoutMs: 1, retryIf: () => false },
      fallback: () => -1,
    });
    expect(await noRetry.infer(1)).toMatchObject({ source: 'fallback', attempts: 1 });
    expect(probe).toEqual({ imports: 0, calls: 0 });
    await Promise.all([inference.close(), noRetry.close()]);
  });

  it('is loaded and entered once a first attempt fails, then retries', async () => {
    let n = 0;
    const model = scriptedModel<number, number>((x) => (n++ === 0 ? Promise.reject(new Error('transient')) : x));
    const inference = createInference<number, number>({
      name: 'lazy',
      versions: { v1: model },
      retry: { retries: 3, minTimeoutMs: 1 },
    });
    expect(await inference.infer(9)).toMatchObject({ value: 9, source: 'model', attempts: 2 });
    expect(probe).toEqual({ imports: 1, calls: 1 });
    // Successful calls afterwards still skip it.
    await inference.infer(10);
    expect(probe.calls).toBe(1);
    await inference.close();
  });
});
