import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ClosedError, isModelCallError, isModelLoadError, ModelInputError } from '../../src/errors.js';
import { Batcher, assertBatchable, splitOutputs, stackFeeds, type BatchTarget, type TensorMap } from '../../src/models/batcher.js';
import type { TensorData } from '../../src/models/tensor.js';
import { deferred, failOnUnhandledRejections, rejectionOf, sleep } from '../helpers/models.js';

failOnUnhandledRejections();

const isClosed = (e: unknown): boolean => e instanceof ClosedError;

/** One call's feeds: `rows` rows of `width` floats, row r of call c filled with c * 1000 + r. */
function feeds(c: number, rows = 1, width = 3): TensorMap {
  const data = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) for (let k = 0; k < width; k++) data[r * width + k] = c * 1000 + r + k / 10;
  return { x: { type: 'float32', data, dims: [rows, width] } };
}

/**
 * A fake session: output `y [rows, 2]` with, per row, the row's first element
 * and the run's number, so tests see which rows came back to whom and which
 * run carried them.
 */
function fakeTarget(options: { capacity?: () => number; delayMs?: number } = {}) {
  const runs: { rows: number; owned: boolean; feeds: TensorMap }[] = [];
  const target: BatchTarget = {
    capacity: options.capacity ?? (() => 1),
    async run(f, owned) {
      const x = f.x!;
      const rows = x.dims[0]!;
      const width = x.dims[1]!;
      runs.push({ rows, owned, feeds: f });
      const n = runs.length;
      if (options.delayMs) await sleep(options.delayMs);
      else await Promise.resolve();
      const y = new Float32Array(rows * 2);
      for (let r = 0; r < rows; r++) {
        y[r * 2] = (x.data as Float32Array)[r * width]!;
        y[r * 2 + 1] = n;
      }
      return { y: { type: 'float32', data: y, dims: [rows, 2] } };
    },
  };
  return { target, runs };
}

const batchers: Batcher[] = [];
function make(target: BatchTarget, options: { maxBatchSize?: number; maxDelayMs?: number; maxQueue?: number; batching?: boolean } = {}) {
  const b = new Batcher(
    {
      target,
      ...(options.batching === false ? {} : { batching: { maxBatchSize: options.maxBatchSize ?? 8, maxDelayMs: options.maxDelayMs ?? 5 } }),
      ...(options.maxQueue !== undefined ? { maxQueue: options.maxQueue } : {}),
    },
    ['x'],
  );
  batchers.push(b);
  return b;
}

afterEach(() => {
  for (const b of batchers.splice(0)) b.close();
});

const far = () => performance.now() + 60_000;

function firstColumn(t: TensorData): number[] {
  const out: number[] = [];
  for (let i = 0; i < t.dims[0]!; i++) out.push((t.data as Float32Array)[i * t.dims[1]!]!);
  return out;
}

describe('Batcher: stacking and splitting', () => {
  it('stacks concurrent single-row calls into one run and gives each caller exactly its own row', async () => {
    const { target, runs } = fakeTarget();
    const b = make(target, { maxBatchSize: 64 });
    const outs = await Promise.all(Array.from({ length: 64 }, (_, c) => b.submit(feeds(c), far())));
    expect(runs).toHaveLength(1);
    expect(runs[0]!.rows).toBe(64);
    expect(runs[0]!.owned).toBe(true);
    outs.forEach((o, c) => {
      expect(o.y!.dims).toEqual([1, 2]);
      expect(firstColumn(o.y!)).toEqual([c * 1000]);
    });
    expect(b.stats()).toMatchObject({ runs: 1, calls: 64, rows: 64, queued: 0, running: 0 });
  });

  it('splits into runs of at most maxBatchSize rows, in arrival order', async () => {
    const { target, runs } = fakeTarget();
    const b = make(target, { maxBatchSize: 8 });
    const outs = await Promise.all(Array.from({ length: 20 }, (_, c) => b.submit(feeds(c), far())));
    expect(runs.map((r) => r.rows)).toEqual([8, 8, 4]);
    outs.forEach((o, c) => {
      expect(firstColumn(o.y!)).toEqual([c * 1000]);
      expect((o.y!.data as Float32Array)[1]).toBe(Math.floor(c / 8) + 1);
    });
  });

  it('gives every caller its own rows for any mix of row counts and arrival times (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ rows: fc.integer({ min: 1, max: 5 }), gap: fc.integer({ min: 0, max: 2 }) }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 12 }),
        async (calls, maxBatchSize) => {
          const { target, runs } = fakeTarget();
          const b = make(target, { maxBatchSize, maxDelayMs: 1 });
          const pending: Promise<Record<string, TensorData>>[] = [];
          for (let c = 0; c < calls.length; c++) {
            if (calls[c]!.gap === 2) await Promise.resolve();
            if (calls[c]!.gap === 1) await sleep(0);
            pending.push(b.submit(feeds(c, calls[c]!.rows), far()));
          }
          const outs = await Promise.all(pending);
          outs.forEach((o, c) => {
            const rows = calls[c]!.rows;
            expect(o.y!.dims).toEqual([rows, 2]);
            expect(firstColumn(o.y!)).toEqual(Array.from({ length: rows }, (_, r) => c * 1000 + r));
          });
          // Only a call bigger than maxBatchSize (up to 5 rows here) makes a run exceed the bound.
          expect(runs.every((r) => r.rows <= Math.max(maxBatchSize, 5))).toBe(true);
          b.close();
        },
      ),
      { numRuns: 60 },
    );
  });

  it('keeps calls whose other dims differ for a later run, without reordering the rest', async () => {
    const { target, runs } = fakeTarget();
    const b = make(target, { maxBatchSize: 8 });
    const outs = await Promise.all([
      b.submit(feeds(0, 1, 3), far()),
      b.submit(feeds(1, 1, 4), far()),
      b.submit(feeds(2, 1, 3), far()),
      b.submit(feeds(3, 1, 4), far()),
    ]);
    expect(runs.map((r) => r.feeds.x!.dims)).toEqual([
      [2, 3],
      [2, 4],
    ]);
    outs.forEach((o, c) => expect(firstColumn(o.y!)).toEqual([c * 1000]));
  });

  it('refuses a call whose inputs disagree on the number of rows', async () => {
    const { target } = fakeTarget();
    const b = new Batcher({ target, batching: { maxBatchSize: 4 } }, ['x', 'z']);
    batchers.push(b);
    const bad = { x: feeds(0, 2).x!, z: feeds(0, 1).x! };
    expect(() => b.submit(bad, far())).toThrow(ModelInputError);
  });

  it('runs a lone call after maxDelayMs, and a full batch at once', async () => {
    const { target, runs } = fakeTarget();
    const b = make(target, { maxBatchSize: 4, maxDelayMs: 40 });
    const t0 = performance.now();
    await b.submit(feeds(0), far());
    const waited = performance.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(35);
    expect(waited).toBeLessThan(1_000);

    const t1 = performance.now();
    await Promise.all([0, 1, 2, 3].map((c) => b.submit(feeds(c), far())));
    expect(performance.now() - t1).toBeLessThan(30);
    expect(runs.map((r) => r.rows)).toEqual([1, 4]);
  });

  it('fills the batch while the runner is busy and sends the waiting calls as soon as it is free', async () => {
    const gate = deferred<void>();
    const runs: number[] = [];
    const target: BatchTarget = {
      capacity: () => 1,
      async run(f) {
        runs.push(f.x!.dims[0]!);
        if (runs.length === 1) await gate.promise;
        const rows = f.x!.dims[0]!;
        return { y: { type: 'float32', data: new Float32Array(rows), dims: [rows] } };
      },
    };
    const b = make(target, { maxBatchSize: 16, maxDelayMs: 0 });
    const first = b.submit(feeds(0), far());
    const rest = Array.from({ length: 10 }, (_, c) => b.submit(feeds(c + 1), far()));
    await sleep(5);
    expect(b.stats()).toMatchObject({ queued: 10, running: 1 });
    gate.resolve();
    await Promise.all([first, ...rest]);
    expect(runs).toEqual([1, 10]);
  });

  it('runs each call alone without batching, one at a time per capacity', async () => {
    const { target, runs } = fakeTarget({ capacity: () => 2, delayMs: 5 });
    const b = make(target, { batching: false });
    const outs = await Promise.all(Array.from({ length: 6 }, (_, c) => b.submit(feeds(c, 2), far())));
    expect(runs.map((r) => [r.rows, r.owned])).toEqual(Array.from({ length: 6 }, () => [2, false]));
    outs.forEach((o, c) => expect(firstColumn(o.y!)).toEqual([c * 1000, c * 1000 + 1]));
  });

  it('rejects every call of a batch when the run fails, and when an output is not batch-major', async () => {
    const failing: BatchTarget = { capacity: () => 1, run: () => Promise.reject(new Error('boom')) };
    const b = make(failing, { maxBatchSize: 4, maxDelayMs: 1 });
    const errors = await Promise.all([0, 1, 2].map((c) => rejectionOf(b.submit(feeds(c), far()))));
    for (const e of errors) expect((e as Error).message).toBe('boom');

    const notBatchMajor: BatchTarget = {
      capacity: () => 1,
      run: async () => ({ y: { type: 'float32', data: new Float32Array(2), dims: [2] } }),
    };
    const b2 = make(notBatchMajor, { maxBatchSize: 3, maxDelayMs: 1 });
    const errors2 = await Promise.all([0, 1, 2].map((c) => rejectionOf(b2.submit(feeds(c), far()))));
    for (const e of errors2) {
      expect(isModelCallError(e) && e.reason).toBe('model-error');
      expect((e as Error).message).toMatch(/Output 'y' has dims \[2\], but the batch has 3 rows/);
    }
  });
});

describe('Batcher: queue bound and deadlines', () => {
  it('refuses calls at once with overloaded when maxQueue calls wait', async () => {
    const gate = deferred<void>();
    const target: BatchTarget = {
      capacity: () => 1,
      async run(f) {
        await gate.promise;
        const rows = f.x!.dims[0]!;
        return { y: { type: 'float32', data: new Float32Array(rows), dims: [rows] } };
      },
    };
    const b = make(target, { batching: false, maxQueue: 2 });
    const running = b.submit(feeds(0), far()); // runs (not queued)
    const queued = [b.submit(feeds(1), far()), b.submit(feeds(2), far())];
    const t0 = performance.now();
    const refused = await rejectionOf(b.submit(feeds(3), far()));
    expect(performance.now() - t0).toBeLessThan(20);
    expect(isModelCallError(refused) && refused.reason).toBe('overloaded');
    expect(isModelCallError(refused) && refused.code).toBe('ERR_OVERLOADED');
    expect(b.stats()).toMatchObject({ queued: 2, running: 1, overloaded: 1 });
    gate.resolve();
    await Promise.all([running, ...queued]);
  });

  it('never runs a call whose deadline passed while it waited, and makes room for new calls', async () => {
    const gate = deferred<void>();
    const ran: number[] = [];
    const target: BatchTarget = {
      capacity: () => 1,
      async run(f) {
        ran.push((f.x!.data as Float32Array)[0]! / 1000);
        if (ran.length === 1) await gate.promise;
        return { y: { type: 'float32', data: new Float32Array(1), dims: [1] } };
      },
    };
    const b = make(target, { batching: false, maxQueue: 2 });
    const first = b.submit(feeds(0), far());
    const soon = performance.now() + 20;
    const late = [rejectionOf(b.submit(feeds(1), soon)), rejectionOf(b.submit(feeds(2), soon))];
    await sleep(40);
    // The queue is full of expired calls: a new call purges them instead of being refused.
    const fresh = b.submit(feeds(3), far());
    for (const e of await Promise.all(late)) {
      expect(isModelCallError(e) && e.reason).toBe('timeout');
      expect((e as Error).message).toMatch(/deadline while waiting in the queue/);
    }
    gate.resolve();
    await Promise.all([first, fresh]);
    expect(ran).toEqual([0, 3]);
    expect(b.stats()).toMatchObject({ expired: 2, overloaded: 0 });
  });
});

describe('Batcher: close and handles', () => {
  it('rejects queued calls on close, refuses new ones and leaves no timer behind', async () => {
    const { target } = fakeTarget({ capacity: () => 0 });
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const b = make(target, { maxBatchSize: 8, maxDelayMs: 10_000 });
    const queued = [b.submit(feeds(0), far()), b.submit(feeds(1), far())];
    b.close();
    for (const e of await Promise.all(queued.map(rejectionOf))) expect(isClosed(e)).toBe(true);
    expect(isClosed(await rejectionOf(b.submit(feeds(2), far())))).toBe(true);

    const { target: t2 } = fakeTarget();
    const b2 = make(t2, { maxBatchSize: 8, maxDelayMs: 10_000 });
    const lone = b2.submit(feeds(0), far());
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(timersBefore + 1);
    b2.close();
    expect(isClosed(await rejectionOf(lone))).toBe(true);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(timersBefore);
  });

  it('fails expired calls even while nothing can run (no worker ready)', async () => {
    const { target } = fakeTarget({ capacity: () => 0 });
    const b = make(target, { batching: false });
    const expiring = rejectionOf(b.submit(feeds(0), performance.now() + 10));
    await sleep(20);
    const later = b.submit(feeds(1), far()).catch(() => undefined);
    const e = await expiring;
    expect(isModelCallError(e) && e.reason).toBe('timeout');
    expect(b.stats()).toMatchObject({ expired: 1, queued: 1 });
    b.close();
    await later;
  });

  it('starts queued calls when the target reports capacity again', async () => {
    let capacity = 0;
    const { target, runs } = fakeTarget({ capacity: () => capacity });
    const b = make(target, { batching: false });
    const p = b.submit(feeds(0), far());
    await sleep(5);
    expect(runs).toHaveLength(0);
    capacity = 1;
    b.pump();
    await p;
    expect(runs).toHaveLength(1);
  });
});

describe('stackFeeds, splitOutputs and assertBatchable', () => {
  it('stacks into fresh arrays (never the callers\') and splits into views', () => {
    const a = feeds(1, 2);
    const c = feeds(2, 1);
    const stacked = stackFeeds(
      [
        { feeds: a, rows: 2 },
        { feeds: c, rows: 1 },
      ],
      ['x'],
      3,
    );
    expect(stacked.x!.dims).toEqual([3, 3]);
    expect((stacked.x!.data as Float32Array).buffer).not.toBe((a.x!.data as Float32Array).buffer);
    expect(Array.from(stacked.x!.data as Float32Array)).toEqual([...(a.x!.data as Float32Array), ...(c.x!.data as Float32Array)]);

    const out = { y: { type: 'float32', data: Float32Array.from([1, 2, 3, 4, 5, 6]), dims: [3, 2] } } as Record<string, TensorData>;
    const parts = splitOutputs(out, [2, 1], 3);
    expect(parts[0]!.y!.dims).toEqual([2, 2]);
    expect(Array.from(parts[1]!.y!.data as Float32Array)).toEqual([5, 6]);
    expect((parts[1]!.y!.data as Float32Array).buffer).toBe((out.y!.data as Float32Array).buffer);
  });

  it('stacks string tensors', () => {
    const s = (v: string[]): TensorMap => ({ x: { type: 'string', data: v, dims: [v.length] } });
    const stacked = stackFeeds(
      [
        { feeds: s(['a']), rows: 1 },
        { feeds: s(['b', 'c']), rows: 2 },
      ],
      ['x'],
      3,
    );
    expect(stacked.x).toEqual({ type: 'string', data: ['a', 'b', 'c'], dims: [3] });
  });

  it('refuses models without a dynamic first dimension, naming each value', () => {
    expect(() =>
      assertBatchable(
        [{ name: 'x', type: 'float32', shape: ['batch', 8] }],
        [{ name: 'probs', type: 'float32', shape: ['batch', 2] }],
        "'m.onnx'",
      ),
    ).not.toThrow();
    let error: unknown;
    try {
      assertBatchable(
        [
          { name: 'x', type: 'float32', shape: [1, 8] },
          { name: 'iterations', type: 'int64', shape: [] },
        ],
        [{ name: 'probs', type: 'float32', shape: [1, 2] }],
        "'m.onnx'",
      );
    } catch (e) {
      error = e;
    }
    expect(isModelLoadError(error)).toBe(true);
    const message = (error as Error).message;
    expect(message).toMatch(/dynamic first \(batch\) dimension/);
    expect(message).toMatch(/input 'x' has a fixed first dimension \(shape \[1, 8\]\)/);
    expect(message).toMatch(/input 'iterations' is a scalar/);
    expect(message).toMatch(/output 'probs' has a fixed first dimension/);
  });
});
