import { describe, expect, it, vi } from 'vitest';
import { functionModel } from '../../src/models/function-model.js';
import type { RunContext } from '../../src/types.js';
import { deferred, rejectionOf } from '../helpers/models.js';

const ctx = (over: Partial<RunContext> = {}): RunContext => ({
  signal: new AbortController().signal,
  deadline: performance.now() + 1000,
  context: undefined,
  ...over,
});

describe('functionModel', () => {
  it('is a model of kind "function" that passes input and context through', async () => {
    const fn = vi.fn((x: number, c: RunContext) => (c.context?.['k'] === 'v' ? x + 1 : -1));
    const model = functionModel(fn);
    expect(model.kind).toBe('function');
    const c = ctx({ context: { k: 'v' } });
    await expect(model.run(41, c)).resolves.toBe(42);
    expect(fn).toHaveBeenCalledWith(41, c);
  });

  it('turns a synchronous value into a promise and awaits an async one', async () => {
    const sync = functionModel((x: number) => x * 2);
    const pending = sync.run(2, ctx());
    expect(pending).toBeInstanceOf(Promise);
    await expect(pending).resolves.toBe(4);
    const d = deferred<string>();
    const asyncModel = functionModel(() => d.promise);
    const running = asyncModel.run(0, ctx());
    d.resolve('done');
    await expect(running).resolves.toBe('done');
  });

  it('returns a rejected promise instead of throwing when the function throws synchronously', async () => {
    for (const thrown of [new Error('sync'), 'a string', undefined, null, 42]) {
      const model = functionModel(() => {
        throw thrown;
      });
      let result: Promise<unknown> | undefined;
      expect(() => (result = model.run(1, ctx()))).not.toThrow();
      expect(await rejectionOf(result!)).toBe(thrown);
    }
  });

  it('refuses a non-function', () => {
    expect(() => functionModel(42 as never)).toThrow(TypeError);
  });

  it('loads as a no-op without a load option, and closes safely twice', async () => {
    const model = functionModel((x: number) => x);
    await expect(model.load()).resolves.toBeUndefined();
    await expect(model.close()).resolves.toBeUndefined();
    await expect(model.close()).resolves.toBeUndefined();
  });

  it('shares one load between concurrent callers and passes the signal', async () => {
    const gate = deferred<void>();
    const load = vi.fn(() => gate.promise);
    const model = functionModel((x: number) => x, { load });
    const signal = new AbortController().signal;
    const a = model.load({ signal });
    const b = model.load();
    gate.resolve();
    await Promise.all([a, b]);
    await model.load();
    expect(load).toHaveBeenCalledTimes(1);
    expect(load).toHaveBeenCalledWith({ signal });
  });

  it('does not cache a failed load, so the next call tries again', async () => {
    let n = 0;
    const model = functionModel((x: number) => x, {
      load: () => {
        if (++n === 1) throw new Error('first load fails');
      },
    });
    await expect(model.load()).rejects.toThrow('first load fails');
    await expect(model.load()).resolves.toBeUndefined();
    expect(n).toBe(2);
  });

  it('calls the close option', async () => {
    const close = vi.fn();
    const model = functionModel((x: number) => x, { close });
    await model.close();
    expect(close).toHaveBeenCalledTimes(1);
  });
});
