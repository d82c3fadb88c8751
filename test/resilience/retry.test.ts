import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { ModelCallError } from '../../src/errors.js';
import { createInference, type InferenceOptions } from '../../src/inference.js';
import { isRetryableByDefault } from '../../src/resilience/retry.js';
import type { Failure } from '../../src/types.js';
import { failOnUnhandledRejections, hang, rejectionOf, scriptedModel, sleep } from '../helpers/models.js';

failOnUnhandledRejections();

const FALLBACK = -1;

function build(over: Partial<InferenceOptions<number, number>> = {}) {
  const model = scriptedModel<number, number>((x) => x);
  const times: number[] = [];
  const t0 = { value: 0 };
  const failures: Failure[] = [];
  const inference = createInference<number, number>({
    name: 'retrying',
    versions: { v1: model },
    timeoutMs: 500,
    breaker: false,
    fallback: (_i, failure) => {
      failures.push(failure);
      return FALLBACK;
    },
    ...over,
  });
  /** Makes the model fail `n` times (with `error`), then answer; records call times. */
  const failTimes = (n: number, error: () => unknown = () => new Error('transient')) => {
    let calls = 0;
    t0.value = performance.now();
    model.behave((x) => {
      times.push(performance.now() - t0.value);
      if (calls++ < n) return Promise.reject(error());
      return x;
    });
  };
  return { model, inference, failures, times, failTimes };
}

describe('retries', () => {
  it('are off by default', async () => {
    const { inference, model, failTimes } = build();
    failTimes(1);
    expect(await inference.infer(1)).toMatchObject({ source: 'fallback', reason: 'model-error', attempts: 1 });
    expect(model.calls).toHaveLength(1);
    await inference.close();
  });

  it('retry a transient failure and report the attempts', async () => {
    const { inference, model, failTimes } = build({ retry: { retries: 2, minTimeoutMs: 1 } });
    failTimes(2);
    expect(await inference.infer(5)).toMatchObject({ value: 5, source: 'model', attempts: 3 });
    expect(model.calls).toHaveLength(3);
    failTimes(1);
    expect(await inference.infer(6)).toMatchObject({ value: 6, source: 'model', attempts: 2 });
    await inference.close();
  });

  it('stop after `retries`; the failure has every attempt and the last error', async () => {
    const { inference, model, failures } = build({ retry: { retries: 2, minTimeoutMs: 1 } });
    let n = 0;
    const errors: Error[] = [];
    model.behave(() => {
      const e = new Error(`attempt ${++n}`);
      errors.push(e);
      return Promise.reject(e);
    });
    expect(await inference.infer(1)).toMatchObject({ source: 'fallback', reason: 'model-error', attempts: 3 });
    expect(model.calls).toHaveLength(3);
    expect(failures[0]!.attempts).toBe(3);
    expect(failures[0]!.error).toBe(errors[2]);
    await inference.close();
  });

  it('without a fallback, the InferenceError keeps the last model error', async () => {
    const model = scriptedModel<number, number>(() => Promise.reject(new Error('always')));
    const inference = createInference<number, number>({ name: 'n', versions: { v1: model }, retry: { retries: 1, minTimeoutMs: 1 } });
    const e = await rejectionOf(inference.infer(1));
    expect(e).toMatchObject({ code: 'ERR_INFERENCE_FAILED', reason: 'model-error' });
    expect(model.calls).toHaveLength(2);
    await inference.close();
  });

  it('only for errors retryIf accepts; retryIf sees the original error', async () => {
    const seen: unknown[] = [];
    const retryIf = vi.fn((e: unknown) => {
      seen.push(e);
      return (e as Error).message === 'retry me';
    });
    const { inference, model, failTimes } = build({ retry: { retries: 3, minTimeoutMs: 1, retryIf } });
    const fatal = new Error('fatal');
    failTimes(5, () => fatal);
    expect(await inference.infer(1)).toMatchObject({ source: 'fallback', attempts: 1 });
    expect(model.calls).toHaveLength(1);
    expect(seen).toEqual([fatal]);
    failTimes(2, () => new Error('retry me'));
    expect(await inference.infer(1)).toMatchObject({ source: 'model', attempts: 3 });
    // Once per failed attempt: the fatal one, then the two transient ones.
    expect(retryIf).toHaveBeenCalledTimes(3);
    await inference.close();
  });

  it('retry a TypeError when retryIf accepts it (p-retry alone never would)', async () => {
    const { inference, model, failTimes } = build({ retry: { retries: 2, minTimeoutMs: 1, retryIf: () => true } });
    failTimes(2, () => new TypeError('socket hang up'));
    expect(await inference.infer(3)).toMatchObject({ source: 'model', value: 3, attempts: 3 });
    expect(model.calls).toHaveLength(3);
    await inference.close();
  });

  it('retry non-Error values and hand the original value to the fallback', async () => {
    for (const thrown of ['a string', undefined, null, 42]) {
      const { inference, model, failures } = build({ retry: { retries: 1, minTimeoutMs: 1 } });
      model.behave(() => Promise.reject(thrown));
      expect(await inference.infer(1)).toMatchObject({ source: 'fallback', reason: 'model-error', attempts: 2 });
      expect(failures[0]!.error).toBe(thrown);
      await inference.close();
    }
  });

  it('never retry timeouts, invalid outputs or an open breaker, even when retryIf says yes', async () => {
    const retryIf = () => true;
    const timeout = build({ retry: { retries: 3, minTimeoutMs: 1, retryIf }, timeoutMs: 20 });
    timeout.model.behave((_x, ctx) => hang(ctx));
    expect(await timeout.inference.infer(1)).toMatchObject({ reason: 'timeout', attempts: 1 });
    await timeout.inference.close();

    const invalid = build({ retry: { retries: 3, minTimeoutMs: 1, retryIf }, output: z.number().finite() });
    invalid.model.behave(() => Number.NaN);
    expect(await invalid.inference.infer(1)).toMatchObject({ reason: 'invalid-output', attempts: 1 });
    await invalid.inference.close();

    const open = build({ retry: { retries: 5, minTimeoutMs: 1, retryIf }, breaker: { volumeThreshold: 2, resetTimeoutMs: 10_000 } });
    open.failTimes(10);
    const outcome = await open.inference.infer(1);
    // The breaker opened after the second failure and refused the third attempt: the
    // call reports what happened to it (the model failed), not the breaker's refusal.
    expect(outcome).toMatchObject({ reason: 'model-error', attempts: 2 });
    expect(open.model.calls).toHaveLength(2);
    // A call arriving now is refused outright.
    expect(await open.inference.infer(2)).toMatchObject({ reason: 'circuit-open', attempts: 0 });
    await open.inference.close();
  });

  it('by default skip errors that carry another reason (a model saying it is overloaded)', async () => {
    expect(isRetryableByDefault(new Error('x'))).toBe(true);
    expect(isRetryableByDefault('x')).toBe(true);
    expect(isRetryableByDefault(undefined)).toBe(true);
    expect(isRetryableByDefault(new ModelCallError('ERR_OVERLOADED', 'overloaded', 'busy'))).toBe(false);
    const { inference, model } = build({ retry: { retries: 3, minTimeoutMs: 1 } });
    model.behave(() => Promise.reject(new ModelCallError('ERR_OVERLOADED', 'overloaded', 'busy')));
    expect(await inference.infer(1)).toMatchObject({ reason: 'overloaded', attempts: 1 });
    await inference.close();
  });
});

describe('retry backoff and deadline', () => {
  it('waits at least minTimeoutMs, growing by factor', async () => {
    const { inference, times, failTimes } = build({ retry: { retries: 2, minTimeoutMs: 20, factor: 2 } });
    failTimes(2);
    expect(await inference.infer(1)).toMatchObject({ source: 'model', attempts: 3 });
    const gaps = [times[1]! - times[0]!, times[2]! - times[1]!];
    expect(gaps[0]).toBeGreaterThanOrEqual(19);
    expect(gaps[1]).toBeGreaterThanOrEqual(39);
    await inference.close();
  });

  it('caps the delay at maxTimeoutMs', async () => {
    const { inference, times, failTimes } = build({ retry: { retries: 3, minTimeoutMs: 10, factor: 10, maxTimeoutMs: 15 } });
    failTimes(3);
    const t0 = performance.now();
    expect(await inference.infer(1)).toMatchObject({ source: 'model', attempts: 4 });
    expect(times[3]! - times[2]!).toBeGreaterThanOrEqual(14);
    // Without the cap the last delay alone would be 1 000 ms.
    expect(performance.now() - t0).toBeLessThan(800);
    await inference.close();
  });

  it('stops at the deadline: no model call past it, and the call settles in time', async () => {
    const timeoutMs = 80;
    const { inference, times, failTimes, model } = build({ timeoutMs, retry: { retries: 10, minTimeoutMs: 30, factor: 2 } });
    failTimes(100);
    const t0 = performance.now();
    const outcome = await inference.infer(1);
    const elapsed = performance.now() - t0;
    expect(outcome).toMatchObject({ source: 'fallback', reason: 'model-error' });
    // Attempts at ~0 and ~30 ms; the next one would start at ~90 ms, past the
    // deadline, so the call gives up at ~30 ms instead of sleeping into it.
    // (Under heavy load the first backoff may itself overrun: then 1 attempt.)
    expect(model.calls.length).toBeGreaterThanOrEqual(1);
    expect(model.calls.length).toBeLessThanOrEqual(2);
    expect(outcome.attempts).toBe(model.calls.length);
    for (const t of times) expect(t).toBeLessThan(timeoutMs);
    expect(elapsed).toBeLessThan(timeoutMs + 150);
    await inference.close();
  });

  it('a retry shares the call deadline: a hung retry times out at the original deadline', async () => {
    const { inference, model } = build({ timeoutMs: 100, retry: { retries: 3, minTimeoutMs: 5 } });
    let n = 0;
    model.behave((_x, ctx) => (n++ === 0 ? sleep(50).then(() => Promise.reject(new Error('first'))) : hang(ctx)));
    const t0 = performance.now();
    const outcome = await inference.infer(1);
    const elapsed = performance.now() - t0;
    expect(outcome).toMatchObject({ reason: 'timeout', attempts: 2 });
    expect(model.calls[1]!.ctx.deadline).toBe(model.calls[0]!.ctx.deadline);
    expect(elapsed).toBeGreaterThanOrEqual(98);
    await inference.close();
  });

  it('a caller abort during the backoff rejects at once and stops retrying', async () => {
    const { inference, model, failTimes } = build({ timeoutMs: 2000, retry: { retries: 5, minTimeoutMs: 300 } });
    failTimes(100);
    const controller = new AbortController();
    const pending = inference.infer(1, { signal: controller.signal });
    await sleep(20);
    const t0 = performance.now();
    controller.abort('stop');
    expect(await rejectionOf(pending)).toBe('stop');
    expect(performance.now() - t0).toBeLessThan(250);
    await sleep(350);
    expect(model.calls).toHaveLength(1);
    await inference.close();
  });
});
