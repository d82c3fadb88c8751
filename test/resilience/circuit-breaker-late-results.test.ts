import { describe, expect, it } from 'vitest';
import { createInference } from '../../src/inference.js';
import { functionModel } from '../../src/models/function-model.js';
import { deferred, failOnUnhandledRejections, sleep } from '../helpers/models.js';

failOnUnhandledRejections();

/**
 * Calls admitted while the breaker was closed report their result to opossum
 * themselves (the fast path). A result that arrives after the breaker opened
 * must not decide for the half-open probe.
 */
describe('late results of calls admitted while closed', () => {
  function setup() {
    const slow = deferred<number>();
    let mode: 'slow' | 'fail' | 'ok' = 'slow';
    const inference = createInference<number, number>({
      name: 'late',
      versions: {
        v1: functionModel(async (x) => {
          if (mode === 'slow') return slow.promise;
          if (mode === 'fail') throw new Error('down');
          return x;
        }),
      },
      timeoutMs: 2_000,
      breaker: { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeoutMs: 50 },
      fallback: () => -1,
    });
    return { inference, slow, setMode: (m: typeof mode) => (mode = m) };
  }

  it('a late success does not close a half-open breaker', async () => {
    const { inference, slow, setMode } = setup();
    const late = inference.infer(1); // admitted while closed, still running
    setMode('fail');
    for (let i = 0; i < 4; i++) await inference.infer(i);
    expect(inference.status().versions.v1!.breaker.state).toBe('open');
    await sleep(80);
    expect(inference.status().versions.v1!.breaker.state).toBe('half-open');
    slow.resolve(1);
    expect((await late).source).toBe('model');
    expect(inference.status().versions.v1!.breaker.state).toBe('half-open');
    // The probe decides: a failing probe re-opens.
    expect((await inference.infer(5)).reason).toBe('model-error');
    expect(inference.status().versions.v1!.breaker.state).toBe('open');
    await inference.close();
  });

  it('a late failure does not take the half-open probe', async () => {
    const { inference, slow, setMode } = setup();
    const late = inference.infer(1);
    setMode('fail');
    for (let i = 0; i < 4; i++) await inference.infer(i);
    await sleep(80);
    expect(inference.status().versions.v1!.breaker.state).toBe('half-open');
    slow.reject(new Error('late failure'));
    expect((await late).reason).toBe('model-error');
    expect(inference.status().versions.v1!.breaker.state).toBe('half-open');
    // The real probe succeeds and closes the breaker.
    setMode('ok');
    expect((await inference.infer(7)).source).toBe('model');
    expect(inference.status().versions.v1!.breaker.state).toBe('closed');
    await inference.close();
  });
});
