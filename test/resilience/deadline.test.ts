import { afterEach, describe, expect, it, vi } from 'vitest';
import { isModelCallError, type ModelCallError } from '../../src/errors.js';
import { createInference } from '../../src/inference.js';
import { DeadlineQueue } from '../../src/resilience/deadline-queue.js';
import { abortable, timeoutError } from '../../src/resilience/deadline.js';
import { busyWait, deferred, failOnUnhandledRejections, hang, rejectionOf, scriptedModel, sleep } from '../helpers/models.js';

failOnUnhandledRejections();

describe('timeoutError', () => {
  it('is a ModelCallError with reason timeout naming the budget', () => {
    const e = timeoutError(25);
    expect(isModelCallError(e)).toBe(true);
    expect(e).toMatchObject({ code: 'ERR_TIMEOUT', reason: 'timeout' });
    expect(e.message).toContain('25 ms');
  });
});

describe('abortable', () => {
  it('rejects with the reason when the signal aborts, and at once if already aborted', async () => {
    const controller = new AbortController();
    const pending = abortable(new Promise(() => {}), controller.signal);
    controller.abort('why');
    expect(await rejectionOf(pending)).toBe('why');
    expect(await rejectionOf(abortable(Promise.resolve(1), AbortSignal.abort('already')))).toBe('already');
  });

  it('settles like the promise otherwise and removes its listener', async () => {
    const add = vi.fn();
    const remove = vi.fn();
    const signal = { aborted: false, reason: undefined, addEventListener: add, removeEventListener: remove } as unknown as AbortSignal;
    await expect(abortable(Promise.resolve(3), signal)).resolves.toBe(3);
    await expect(abortable(Promise.reject(new Error('e')), signal)).rejects.toThrow('e');
    expect(add).toHaveBeenCalledTimes(2);
    expect(remove).toHaveBeenCalledTimes(2);
    expect(remove.mock.calls[0]![1]).toBe(add.mock.calls[0]![1]);
  });
});

describe('DeadlineQueue', () => {
  it('expires entries in order at their deadlines, not those settled in time', async () => {
    const queue = new DeadlineQueue();
    const expired: string[] = [];
    const now = performance.now();
    const a = queue.add(now + 10, () => expired.push('a'))!;
    const b = queue.add(now + 20, () => expired.push('b'))!;
    queue.add(now + 30, () => expired.push('c'));
    expect(a).toBeDefined();
    queue.settle(b);
    await sleep(45);
    expect(expired).toEqual(['a', 'c']);
    queue.close();
  });

  it('refuses a deadline earlier than its tail (the caller uses its own timer)', () => {
    const queue = new DeadlineQueue();
    const now = performance.now();
    expect(queue.add(now + 100, () => {})).toBeDefined();
    expect(queue.add(now + 50, () => {})).toBeUndefined();
    queue.close();
    expect(queue.add(now + 200, () => {})).toBeUndefined();
  });

  it('fires an earlier deadline on time once the queue emptied, even with a timer armed for later', async () => {
    const queue = new DeadlineQueue();
    const now = performance.now();
    const long = queue.add(now + 1000, () => {})!;
    queue.settle(long);
    const fired = deferred<number>();
    expect(queue.add(performance.now() + 15, () => fired.resolve(performance.now()))).toBeDefined();
    const t0 = performance.now();
    const at = await Promise.race([fired.promise, sleep(900).then(() => Number.NaN)]);
    expect(at - t0).toBeLessThan(700);
    queue.close();
  });

  it('close clears the timer; waiting entries never expire', async () => {
    const queue = new DeadlineQueue();
    const onExpire = vi.fn();
    queue.add(performance.now() + 5, onExpire);
    queue.close();
    await sleep(15);
    expect(onExpire).not.toHaveBeenCalled();
  });
});

describe('deadlines in the pipeline', () => {
  it('a short per-call timeout fires on time after calls with long ones', async () => {
    const model = scriptedModel<number, number>((x) => x);
    const inference = createInference<number, number>({ name: 'd', versions: { v1: model }, timeoutMs: 40, fallback: () => -1 });
    expect(await inference.infer(1, { timeoutMs: 2000 })).toMatchObject({ source: 'model' });
    model.behave((_x, ctx) => hang(ctx));
    const t0 = performance.now();
    expect(await inference.infer(2)).toMatchObject({ reason: 'timeout' });
    expect(performance.now() - t0).toBeLessThan(1000);
    const t1 = performance.now();
    expect(await inference.infer(3, { timeoutMs: 15 })).toMatchObject({ reason: 'timeout' });
    expect(performance.now() - t1).toBeLessThan(1000);
    await inference.close();
  });

  it('mixed deadlines among concurrent calls each fire near their own deadline', async () => {
    const model = scriptedModel<number, number>((_x, ctx) => hang(ctx));
    const inference = createInference<number, number>({ name: 'd', versions: { v1: model }, timeoutMs: 60, fallback: () => -1 });
    const t0 = performance.now();
    const timed = (p: Promise<unknown>) => p.then(() => performance.now() - t0);
    const [a, b, c] = await Promise.all([
      timed(inference.infer(1, { timeoutMs: 120 })),
      timed(inference.infer(2)),
      timed(inference.infer(3, { timeoutMs: 20 })),
    ]);
    expect(c).toBeGreaterThanOrEqual(19);
    expect(c).toBeLessThan(20 + 150);
    expect(b).toBeGreaterThanOrEqual(59);
    expect(b).toBeLessThan(60 + 150);
    expect(a).toBeGreaterThanOrEqual(119);
    expect(c).toBeLessThan(a);
    await inference.close();
  });
});
