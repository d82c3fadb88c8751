/**
 * The worker pool's bookkeeping with fake workers: start, least-busy pick,
 * pipeline depth, watchdog, replacement, start failures with backoff, release.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ClosedError, isModelCallError, isModelLoadError } from '../../src/errors.js';
import type { TensorData } from '../../src/models/tensor.js';
import { WorkerPool, type WorkerListener, type WorkerPoolOptions, type WorkerReplacedEvent } from '../../src/models/worker-pool.js';
import type { RunMessage, ToWorker } from '../../src/models/worker-protocol.js';
import { failOnUnhandledRejections, rejectionOf, sleep } from '../helpers/models.js';

failOnUnhandledRejections();

interface FakeWorker {
  readonly listener: WorkerListener;
  readonly posted: { message: ToWorker; transfer: ArrayBuffer[] }[];
  terminated: boolean;
  refs: number;
  /** Answers the load message. */
  ready(): void;
  /** Answers the oldest unanswered run with `y = x`. */
  answer(): void;
  runs(): RunMessage[];
}

function fakeSpawner(behaviour: { failLoad?: (index: number) => boolean } = {}) {
  const workers: FakeWorker[] = [];
  const spawn = (listener: WorkerListener) => {
    let answered = 0;
    const w: FakeWorker = {
      listener,
      posted: [],
      terminated: false,
      refs: 0,
      ready() {
        listener.message({ t: 'ready', inputs: [{ name: 'x', type: 'float32', shape: ['batch', 2] }], outputs: [{ name: 'y', type: 'float32', shape: ['batch', 2] }] });
      },
      answer() {
        const run = w.runs()[answered++]!;
        listener.message({ t: 'result', id: run.id, outputs: { y: run.feeds.x! } });
      },
      runs: () => w.posted.filter((p) => p.message.t === 'run').map((p) => p.message as RunMessage),
    };
    const index = workers.length;
    workers.push(w);
    queueMicrotask(() => {
      if (behaviour.failLoad?.(index)) listener.message({ t: 'load-error', error: { name: 'Error', message: `bad model #${index}` } });
    });
    return {
      post: (message: ToWorker, transfer: ArrayBuffer[]) => void w.posted.push({ message, transfer }),
      terminate: () => {
        w.terminated = true;
      },
      ref: () => void w.refs++,
      unref: () => void w.refs--,
    };
  };
  return { spawn, workers };
}

const pools: WorkerPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.release()));
});

async function startPool(spawner: ReturnType<typeof fakeSpawner>, options: Partial<WorkerPoolOptions> = {}): Promise<WorkerPool> {
  const starting = WorkerPool.start({
    spawn: spawner.spawn,
    size: 2,
    killAfterMs: 10_000,
    source: { bytes: new Uint8Array([1]) },
    label: "'fake.onnx'",
    ...options,
  });
  await Promise.resolve();
  for (const w of spawner.workers) w.ready();
  const pool = await starting;
  pools.push(pool);
  return pool;
}

const feeds = (v: number): Record<string, TensorData> => ({ x: { type: 'float32', data: Float32Array.from([v, v]), dims: [1, 2] } });

describe('WorkerPool', () => {
  it('starts every worker with the load message and reports their metadata', async () => {
    const spawner = fakeSpawner();
    const pool = await startPool(spawner, { sessionOptions: { a: 1 }, runtimeEnv: { wasmPaths: '/ort/' }, warmup: feeds(1) });
    expect(spawner.workers).toHaveLength(2);
    for (const w of spawner.workers) {
      expect(w.posted[0]!.message).toMatchObject({ t: 'load', source: { bytes: new Uint8Array([1]) }, sessionOptions: { a: 1 }, runtimeEnv: { wasmPaths: '/ort/' } });
    }
    expect(pool.inputMetadata.map((m) => m.name)).toEqual(['x']);
    expect(pool.stats()).toMatchObject({ size: 2, ready: 2, busy: 0, starting: 0 });
    expect(pool.capacity()).toBe(2);
  });

  it('rejects the start with ModelLoadError when a worker cannot load, and terminates them all', async () => {
    const spawner = fakeSpawner({ failLoad: (i) => i === 1 });
    const starting = WorkerPool.start({ spawn: spawner.spawn, size: 2, killAfterMs: 1_000, source: { path: 'm.onnx' }, label: "'m.onnx'" });
    const error = await rejectionOf(starting);
    expect(isModelLoadError(error)).toBe(true);
    expect((error as Error).message).toMatch(/could not load ONNX model 'm.onnx': bad model #1/);
    expect(spawner.workers.every((w) => w.terminated)).toBe(true);
  });

  it('sends each run to the least busy worker, copies the caller\'s arrays and transfers the copies', async () => {
    const spawner = fakeSpawner();
    const pool = await startPool(spawner, { depth: 2 });
    const mine = feeds(1);
    const runs = [pool.run(mine), pool.run(feeds(2)), pool.run(feeds(3)), pool.run(feeds(4)), pool.run(feeds(5))];
    const [a, b] = spawner.workers;
    expect([a!.runs().length, b!.runs().length]).toEqual([2, 2]);
    expect(pool.stats().busy).toBe(2);
    const sent = a!.runs()[0]!.feeds.x!.data as Float32Array;
    expect(sent).not.toBe(mine.x!.data);
    expect(a!.posted.find((p) => p.message.t === 'run')!.transfer).toEqual([sent.buffer]);
    // The fifth waits for a free place and goes where one opens.
    b!.answer();
    expect(b!.runs()).toHaveLength(3);
    a!.answer();
    a!.answer();
    b!.answer();
    b!.answer();
    const outs = await Promise.all(runs);
    expect(outs.map((o) => (o.y!.data as Float32Array)[0])).toEqual([1, 2, 3, 4, 5]);
    expect(pool.stats().busy).toBe(0);
  });

  it('fails the runs of a worker that dies, replaces it, and serves again once the replacement is ready', async () => {
    const spawner = fakeSpawner();
    const events: WorkerReplacedEvent[] = [];
    let capacityCalls = 0;
    const pool = await startPool(spawner, { size: 1, onReplaced: (e) => events.push(e), onCapacity: () => capacityCalls++ });
    const running = pool.run(feeds(1));
    spawner.workers[0]!.listener.died(new Error('exited with code 1'));
    const error = await rejectionOf(running);
    expect(isModelCallError(error) && error.reason).toBe('model-error');
    expect((error as Error).message).toMatch(/The model worker died: exited with code 1; the worker is being replaced/);
    expect(events).toEqual([{ worker: 0, cause: 'crashed', message: 'The model worker died: exited with code 1', failedRuns: 1 }]);
    expect(spawner.workers[0]!.terminated).toBe(true);
    expect(pool.stats()).toMatchObject({ ready: 0, starting: 1, crashes: 1, replacements: 1 });
    expect(pool.capacity()).toBe(0);

    const waiting = pool.run(feeds(2));
    const replacement = spawner.workers[1]!;
    replacement.ready();
    expect(capacityCalls).toBe(1);
    replacement.answer();
    expect(((await waiting).y!.data as Float32Array)[0]).toBe(2);
    // Late messages of the dead worker are ignored.
    spawner.workers[0]!.listener.message({ t: 'result', id: 1, outputs: {} });
    expect(pool.stats()).toMatchObject({ ready: 1, crashes: 1 });
  });

  it('kills a run that outlives killAfterMs; the watchdog of a queued run starts when it can start', async () => {
    const spawner = fakeSpawner();
    const events: WorkerReplacedEvent[] = [];
    const pool = await startPool(spawner, { size: 1, depth: 2, killAfterMs: 60, onReplaced: (e) => events.push(e) });
    const first = pool.run(feeds(1));
    const second = pool.run(feeds(2));
    await sleep(40);
    spawner.workers[0]!.answer(); // the first ends in time; the second's watchdog starts now
    await first;
    await sleep(40);
    expect(events).toEqual([]);
    const error = await rejectionOf(second);
    expect((error as Error).message).toMatch(/longer than killAfterMs \(60 ms\)/);
    expect(events).toEqual([expect.objectContaining({ cause: 'killed', failedRuns: 1 })]);
    expect(pool.stats()).toMatchObject({ kills: 1, starting: 1 });
  });

  it('retries a replacement that cannot load, with backoff, and fails waiting runs while no worker is ready', async () => {
    let failing = true;
    const spawner = fakeSpawner({ failLoad: (i) => i > 0 && failing });
    const unavailable: Error[] = [];
    const pool = await startPool(spawner, { size: 1, onUnavailable: (e) => unavailable.push(e) });
    spawner.workers[0]!.listener.died(new Error('gone'));
    const waiting = rejectionOf(pool.run(feeds(1)));
    await sleep(5);
    expect(isModelCallError(await waiting)).toBe(true);
    expect(unavailable).toHaveLength(1);
    expect(pool.unavailable()?.message).toMatch(/bad model #1/);
    expect(pool.stats()).toMatchObject({ startFailures: 1, ready: 0, starting: 1 });
    // First retry after 100 ms (fails again), then after 200 ms.
    await sleep(130);
    expect(spawner.workers).toHaveLength(3);
    failing = false;
    await sleep(250);
    expect(spawner.workers).toHaveLength(4);
    spawner.workers[3]!.ready();
    expect(pool.stats()).toMatchObject({ ready: 1, startFailures: 2 });
    expect(pool.unavailable()).toBeUndefined();
  });

  it('release rejects runs in flight and waiting with ClosedError, terminates every worker and stops retrying', async () => {
    const spawner = fakeSpawner({ failLoad: (i) => i > 1 });
    const pool = await startPool(spawner, { size: 2 });
    const inFlight = [pool.run(feeds(1)), pool.run(feeds(2)), pool.run(feeds(3))].map(rejectionOf);
    spawner.workers[0]!.listener.died(new Error('gone')); // its replacement fails and schedules a retry
    await sleep(5);
    await pool.release();
    const errors = await Promise.all(inFlight);
    // The dead worker's run failed with model-error; the others were still in flight or waiting.
    expect(errors.filter((e) => e instanceof ClosedError)).toHaveLength(2);
    expect(errors.filter((e) => isModelCallError(e))).toHaveLength(1);
    expect(spawner.workers.every((w) => w.terminated)).toBe(true);
    const count = spawner.workers.length;
    await sleep(150);
    expect(spawner.workers).toHaveLength(count);
    expect(await rejectionOf(pool.run(feeds(4)))).toBeInstanceOf(ClosedError);
  });
});
