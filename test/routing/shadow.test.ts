import { describe, expect, it } from 'vitest';
import { ShadowRunner, defaultCompare, type ShadowMismatchEvent } from '../../src/routing/shadow.js';

const primary = <O>(value: O, version = 'v1', source: 'model' | 'fallback' = 'model') => ({ value, version, source });

describe('defaultCompare', () => {
  const same = defaultCompare();
  it('compares numbers within 1e-6 relative or absolute', () => {
    expect(same(1, 1 + 1e-7)).toBe(true);
    expect(same(0, 5e-7)).toBe(true);
    expect(same(1e9, 1e9 + 100)).toBe(true);
    expect(same(1, 1.001)).toBe(false);
    expect(same(NaN, NaN)).toBe(true);
    expect(same(NaN, 1)).toBe(false);
  });
  it('compares arrays and typed arrays of numbers by argmax', () => {
    expect(same([0.1, 0.7, 0.2], [0.3, 0.4, 0.3])).toBe(true);
    expect(same([0.1, 0.7, 0.2], [0.5, 0.4, 0.1])).toBe(false);
    expect(same(new Float32Array([0.2, 0.8]), [0.1, 0.9])).toBe(true);
    expect(same([1, 2], [1, 2, 3])).toBe(false);
  });
  it('compares objects field by field and nested arrays element-wise', () => {
    expect(same({ label: 'a', scores: [0.1, 0.9] }, { label: 'a', scores: [0.2, 0.8] })).toBe(true);
    expect(same({ label: 'a', p: 0.5 }, { label: 'b', p: 0.5 })).toBe(false);
    expect(same({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(same({ a: 1, c: 2 }, { a: 1, b: 2 })).toBe(false);
    expect(same([[0, 1], [1, 0]], [[0.4, 0.6], [0.9, 0.1]])).toBe(true);
    expect(same(['x', 'y'], ['x', 'y'])).toBe(true);
    expect(same({ a: [1] }, [1])).toBe(false);
    expect(same('1', 1)).toBe(false);
  });
  it('takes a tolerance', () => {
    expect(defaultCompare(0.01)(1, 1.005)).toBe(true);
  });
});

describe('ShadowRunner', () => {
  it('runs the challenger after the caller continues and counts agreement', async () => {
    const order: string[] = [];
    const runner = new ShadowRunner<number, number>(
      {
        run: async (version, input) => {
          order.push(`shadow ${version}`);
          return input * 2;
        },
      },
      { version: 'v2' },
    );
    runner.offer(1, undefined, primary(2));
    order.push('caller');
    runner.offer(1, undefined, primary(3));
    await runner.drain();
    expect(order).toEqual(['caller', 'shadow v2', 'shadow v2']);
    expect(runner.stats().v2).toMatchObject({ runs: 2, agreements: 1, mismatches: 1, errors: 0, agreementRate: 0.5, inflight: 0 });
  });

  it('a slow or blocking challenger does not delay the caller', async () => {
    const runner = new ShadowRunner<number, number>(
      {
        run: async () => {
          const until = performance.now() + 50;
          while (performance.now() < until) {
            /* blocks the thread like a native run */
          }
          return 0;
        },
      },
      { version: 'v2' },
    );
    const t0 = performance.now();
    runner.offer(1, undefined, primary(0));
    const callerDone = performance.now() - t0;
    await Promise.resolve();
    expect(performance.now() - t0).toBeLessThan(40);
    expect(callerDone).toBeLessThan(40);
    await runner.drain();
  });

  it('never throws into the caller and counts errors (also from compare)', async () => {
    const runner = new ShadowRunner<number, number>(
      { run: async (_v, input) => (input < 0 ? Promise.reject(new Error('boom')) : input) },
      {
        version: 'v2',
        compare: (a, b) => {
          if (a === 99) throw new Error('bad compare');
          return a === b;
        },
      },
    );
    expect(() => runner.offer(-1, undefined, primary(1))).not.toThrow();
    runner.offer(1, undefined, primary(99));
    runner.offer(1, undefined, primary(1));
    await runner.drain();
    expect(runner.stats().v2).toMatchObject({ runs: 3, errors: 2, agreements: 1 });
  });

  it('bounds concurrency and counts what it drops', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let running = 0;
    let peak = 0;
    const runner = new ShadowRunner<number, number>(
      {
        run: async (_v, x) => {
          peak = Math.max(peak, ++running);
          await gate;
          running--;
          return x;
        },
      },
      { version: 'v2', maxConcurrent: 3 },
    );
    for (let i = 0; i < 10; i++) runner.offer(i, undefined, primary(i));
    expect(runner.stats().v2).toMatchObject({ inflight: 3, dropped: 7 });
    await new Promise((r) => setTimeout(r, 5));
    release();
    await runner.drain();
    expect(peak).toBe(3);
    expect(runner.stats().v2).toMatchObject({ runs: 3, agreements: 3, dropped: 7, inflight: 0 });
  });

  it('samples at sampleRate', async () => {
    let i = 0;
    const randoms = [0.05, 0.5, 0.09, 0.95];
    const runner = new ShadowRunner<number, number>(
      { run: async (_v, x) => x, random: () => randoms[i++ % randoms.length]! },
      { version: 'v2', sampleRate: 0.1 },
    );
    for (let k = 0; k < 4; k++) runner.offer(k, undefined, primary(k));
    await runner.drain();
    expect(runner.stats().v2!.runs).toBe(2);
  });

  it('emits mismatches with both answers; does not compare with fallback answers', async () => {
    const seen: ShadowMismatchEvent<number, number>[] = [];
    const runner = new ShadowRunner<number, number>(
      { run: async () => 5, onMismatch: (e) => seen.push(e) },
      { version: 'v2' },
    );
    runner.offer(7, undefined, primary(4));
    runner.offer(7, undefined, primary(4, 'v1', 'fallback'));
    await runner.drain();
    expect(seen).toEqual([{ version: 'v2', primaryVersion: 'v1', input: 7, primary: 4, shadow: 5 }]);
    expect(runner.stats().v2).toMatchObject({ mismatches: 1, uncompared: 1 });
  });

  it('skips calls already served by the challenger; keeps counts per version across reconfiguration; stops when closed', async () => {
    const runner = new ShadowRunner<number, number>({ run: async (_v, x) => x }, { version: 'v2' });
    runner.offer(1, undefined, primary(1, 'v2'));
    runner.offer(1, undefined, primary(1));
    runner.configure({ version: 'v3' });
    runner.offer(1, undefined, primary(1));
    runner.configure(undefined);
    runner.offer(1, undefined, primary(1));
    await runner.drain();
    expect(runner.stats()).toMatchObject({ v2: { runs: 1 }, v3: { runs: 1 } });
    runner.configure({ version: 'v2' });
    await runner.close();
    runner.offer(1, undefined, primary(1));
    await runner.drain();
    expect(runner.stats().v2!.runs).toBe(1);
  });

  it('reports results (dropped included) and traces compared calls only', async () => {
    const results: string[] = [];
    const spans: string[] = [];
    const tracer = {
      shadowStart: (v: string) => {
        spans.push(`start ${v}`);
        return (r: string) => spans.push(`end ${r}`);
      },
    };
    const runner = new ShadowRunner<number, number>(
      { run: async (_v, x) => (x < 0 ? Promise.reject(new Error('x')) : x), onResult: (v, r) => results.push(`${v}:${r}`) },
      { version: 'v2', maxConcurrent: 3 },
    );
    runner.offer(1, undefined, primary(1), tracer);
    runner.offer(1, undefined, primary(2), tracer);
    runner.offer(-1, undefined, primary(2), tracer);
    runner.offer(1, undefined, primary(1), tracer);
    await runner.drain();
    runner.offer(1, undefined, primary(1, 'v1', 'fallback'), tracer);
    await runner.drain();
    expect(results).toEqual(['v2:dropped', 'v2:agree', 'v2:disagree', 'v2:error']);
    expect(spans).toEqual(['start v2', 'end agree', 'start v2', 'end disagree', 'start v2', 'end error']);
  });
});
