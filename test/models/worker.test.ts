/**
 * Worker mode of onnxModel in Node (`worker_threads`): answers, deadlines that
 * hold during a blocking run, the watchdog, crash containment and
 * replacement, load shedding, batching in a worker, and close.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Options } from 'tsup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isModelCallError, isModelLoadError } from '../../src/errors.js';
import { createInference } from '../../src/inference.js';
import type { OnnxModel, OnnxModelOptions } from '../../src/models/onnx-model.js';
import { onnxModel } from '../../src/models/onnx-model.node.js';
import { tensor, type TensorData } from '../../src/models/tensor.js';
import { TEST_ABORT_VALUE, TEST_EXIT_VALUE, TEST_HANG_VALUE } from '../../src/models/worker-host.js';
import type { WorkerReplacedEvent } from '../../src/models/worker-pool.js';
import { calibrateSlowModel, fixturePath, randomRows, reference } from '../fixtures/reference.js';
import { failOnUnhandledRejections, rejectionOf, sleep } from '../helpers/models.js';
import tsupConfigs from '../../tsup.config.js';

failOnUnhandledRejections();

// Worker threads copy the environment when they start: the crash hooks are on for every worker of this file.
process.env.GRACEFUL_INFERENCE_WORKER_TEST_HOOKS = '1';

const TINY = fixturePath('tiny-mlp');
const SLOW = fixturePath('slow-model');

const open: OnnxModel<unknown, unknown>[] = [];
afterAll(async () => {
  await Promise.all(open.map((m) => m.close()));
});

function tiny(options: Partial<OnnxModelOptions<Float32Array, number[]>> = {}): OnnxModel<Float32Array, number[]> {
  const m = onnxModel<Float32Array, number[]>({
    source: TINY,
    encode: (row) => ({ x: tensor('float32', row, [row.length / 8, 8]) }),
    decode: (out) => Array.from(out.probs!.data as Float32Array),
    ...options,
  });
  open.push(m as OnnxModel<unknown, unknown>);
  return m;
}

const row = (i: number): Float32Array => randomRows(1000 + i, 1, 8);
const poison = (value: number): Float32Array => Float32Array.from({ length: 8 }, () => value);

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i]! - expected[i]!)).toBeLessThan(1e-5);
}

/** An interval timer that records the longest gap between its ticks (how long the event loop was held). */
function gapMeter(everyMs: number): { stop(): number } {
  let last = performance.now();
  let maxGap = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, everyMs);
  return {
    stop() {
      clearInterval(ticker);
      return maxGap;
    },
  };
}

/** Polls `condition` every 10 ms for up to 10 s. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1_000 && !condition(); i++) await sleep(10);
  expect(condition()).toBe(true);
}

const far = () => ({ deadline: performance.now() + 30_000, context: undefined, signal: new AbortController().signal });

describe('worker mode: answers', () => {
  it('answers like the reference, and never detaches the caller\'s arrays', async () => {
    const m = tiny({ execution: 'worker', workers: 2 });
    await m.load();
    const rows = Array.from({ length: 24 }, (_, i) => row(i));
    const outs = await Promise.all(rows.map((r) => m.run(r, far())));
    outs.forEach((o, i) => expectClose(o, reference.tinyMlp(rows[i]!, 1)));
    // The feeds were the caller's own arrays: they must still be whole.
    for (const r of rows) expect(r.length).toBe(8);
    const status = m.status();
    expect(status.execution).toBe('worker');
    expect(status.workers).toMatchObject({ size: 2, ready: 2, busy: 0, replacements: 0 });
    expect(status.queue).toMatchObject({ runs: 24, calls: 24, queued: 0 });
  });

  it('batches concurrent callers in a worker: each gets exactly its own rows', async () => {
    const m = tiny({ execution: 'worker', batching: { maxBatchSize: 16, maxDelayMs: 2 } });
    await m.load();
    const inputs = Array.from({ length: 80 }, (_, i) => (i % 5 === 0 ? randomRows(2000 + i, 3, 8) : row(i)));
    const outs = await Promise.all(inputs.map((x) => m.run(x, far())));
    outs.forEach((o, i) => expectClose(o, reference.tinyMlp(inputs[i]!, inputs[i]!.length / 8)));
    const q = m.status().queue!;
    expect(q.calls).toBe(80);
    expect(q.meanBatchSize).toBeGreaterThan(2);
    expect(q.runs).toBeLessThan(80);
  });

  it('checks feeds on the caller\'s side, with the usual clear errors', async () => {
    const m = onnxModel<number, number>({
      source: TINY,
      execution: 'worker',
      encode: (n) => ({ x: tensor('float32', new Float32Array(n), [1, n]) }),
      decode: () => 0,
    });
    open.push(m as OnnxModel<unknown, unknown>);
    const error = await rejectionOf(m.run(5, far()));
    expect((error as Error).message).toMatch(/Input 'x' must have shape \[batch, 8\]: dim 1 must be 8/);
  });

  it('refuses batching at load for models without a batch dimension, with a clear error', async () => {
    for (const [name, pattern] of [
      ['fixed-batch', /input 'x' has a fixed first dimension \(shape \[1, 8\]\)/],
      ['slow-model', /input 'iterations' is a scalar/],
    ] as const) {
      const m = onnxModel({
        source: fixturePath(name),
        execution: 'worker',
        batching: { maxBatchSize: 8 },
        encode: () => ({}),
        decode: () => 0,
      });
      const error = await rejectionOf(m.load());
      expect(isModelLoadError(error)).toBe(true);
      expect((error as Error).message).toMatch(pattern);
      await m.close();
    }
  });

  it('rejects the load with ModelLoadError when the worker cannot load the model', async () => {
    const m = onnxModel({ source: new Uint8Array([1, 2, 3, 4]), execution: 'worker', workers: 2, encode: () => ({}), decode: () => 0 });
    const error = await rejectionOf(m.load());
    expect(isModelLoadError(error)).toBe(true);
    expect((error as Error).message).toMatch(/A model worker could not load ONNX model 4 bytes/);
    await m.close();
  });
});

describe('worker mode: deadlines, watchdog and crashes', () => {
  let msPerIteration = 0.52;
  beforeAll(async () => {
    const probe = onnxModel<number, number>({
      source: SLOW,
      encode: (n) => ({ x: tensor('float32', new Float32Array(8), [1, 8]), iterations: tensor('int64', [n], []) }),
      decode: () => 0,
    });
    msPerIteration = await calibrateSlowModel((n) => probe.run(n, far()));
    await probe.close();
  });

  function slow(options: Partial<OnnxModelOptions<number, number[]>> = {}): OnnxModel<number, number[]> {
    const m = onnxModel<number, number[]>({
      source: SLOW,
      encode: (ms) => ({
        x: tensor('float32', row(0), [1, 8]),
        iterations: tensor('int64', [Math.max(0, Math.round(ms / msPerIteration))], []),
      }),
      decode: (out) => Array.from(out.y!.data as Float32Array),
      ...options,
    });
    open.push(m as OnnxModel<unknown, unknown>);
    return m;
  }

  it('returns the fallback at the deadline while a run blocks the worker, and the event loop keeps ticking', async () => {
    const m = slow({ execution: 'worker' });
    const inference = createInference<number, number[]>({
      name: 'slow',
      versions: { v1: m },
      timeoutMs: 60,
      breaker: false,
      fallback: { name: 'rules', handle: () => [0.5, 0.5] },
    });
    await inference.ready();
    const ticks = gapMeter(2);
    const outcome = await inference.infer(500);
    const maxGap = ticks.stop();
    expect(outcome).toMatchObject({ source: 'fallback', reason: 'timeout', fallbackName: 'rules' });
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(55);
    expect(outcome.latencyMs).toBeLessThan(400);
    // Inline, the first timer would only fire after the 500 ms run.
    expect(maxGap).toBeLessThan(200);
    await inference.close();
  });

  it('terminates a run that outlives killAfterMs, fails its call with model-error and replaces the worker', async () => {
    const events: WorkerReplacedEvent[] = [];
    const m = tiny({ execution: 'worker', killAfterMs: 150, onEvent: (_name, e) => events.push(e) });
    const inference = createInference<Float32Array, number[]>({
      name: 'kill',
      versions: { v1: m },
      timeoutMs: 10_000,
      breaker: false,
      fallback: { name: 'rules', handle: () => [0.5, 0.5] },
    });
    await inference.ready();
    const t0 = performance.now();
    const outcome = await inference.infer(poison(TEST_HANG_VALUE));
    const took = performance.now() - t0;
    expect(outcome).toMatchObject({ source: 'fallback', reason: 'model-error' });
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(2_000);
    expect(events).toEqual([expect.objectContaining({ worker: 0, cause: 'killed', failedRuns: 1 })]);
    expect(events[0]!.message).toMatch(/killAfterMs \(150 ms\)/);
    expect(m.status().workers).toMatchObject({ kills: 1, crashes: 0, replacements: 1 });
    // The replacement loads in the background; the next call waits for it and succeeds.
    const next = await inference.infer(row(1));
    expect(next.source).toBe('model');
    expectClose(next.value, reference.tinyMlp(row(1), 1));
    expect(m.status().workers).toMatchObject({ ready: 1, starting: 0 });
    await inference.close();
  });

  it('a run stuck inside onnxruntime fails at killAfterMs; its thread stops when the run returns, and the host survives', async () => {
    // Terminating a thread inside onnxruntime-node aborts the process; the pool must wait for the run to return.
    const events: WorkerReplacedEvent[] = [];
    const m = slow({ execution: 'worker', killAfterMs: 100, onEvent: (_name, e) => events.push(e) });
    await m.load();
    const t0 = performance.now();
    const error = await rejectionOf(m.run(800, far()));
    const failedAfter = performance.now() - t0;
    expect(isModelCallError(error) && error.reason).toBe('model-error');
    expect(isModelCallError(error) && error.code).toBe('ERR_WORKER');
    expect(failedAfter).toBeGreaterThanOrEqual(95);
    // Well before the 800 ms run ends.
    expect(failedAfter).toBeLessThan(600);
    expect(events).toEqual([expect.objectContaining({ cause: 'killed' })]);
    // The replacement serves while the old thread finishes its run.
    const next = await m.run(0, far());
    expectClose(next, reference.slowModel(row(0), 1));
    expect(m.status().workers).toMatchObject({ kills: 1, ready: 1 });
    await m.close(); // waits for the old thread's run to return, then terminates it
  });

  it('contains a worker that exits in the middle of a run: the host survives, the call falls back, the next one succeeds', async () => {
    const events: WorkerReplacedEvent[] = [];
    const m = tiny({ execution: 'worker', workers: 2 });
    const unsubscribe = m.subscribe((_name, e) => events.push(e));
    const inference = createInference<Float32Array, number[]>({
      name: 'crash',
      versions: { v1: m },
      timeoutMs: 10_000,
      breaker: false,
      fallback: { name: 'rules', handle: () => [0.5, 0.5] },
    });
    const forwarded: unknown[] = [];
    inference.on('worker-replaced', (e) => forwarded.push(e));
    await inference.ready();
    const crashed = await inference.infer(poison(TEST_EXIT_VALUE));
    expect(crashed).toMatchObject({ source: 'fallback', reason: 'model-error' });
    expect(events).toEqual([expect.objectContaining({ cause: 'crashed', failedRuns: 1 })]);
    expect(events[0]!.message).toMatch(/exited with code 1/);
    expect(m.status().workers).toMatchObject({ crashes: 1, kills: 0, replacements: 1 });
    // The inference forwards the model's events and status, by version.
    expect(forwarded).toEqual([expect.objectContaining({ version: 'v1', cause: 'crashed' })]);
    expect(inference.status().versions.v1!.model).toMatchObject({ execution: 'worker', workers: { crashes: 1 } });
    const outs = await Promise.all([1, 2, 3, 4].map((i) => inference.infer(row(i))));
    for (const o of outs) expect(o.source).toBe('model');
    unsubscribe();
    await inference.close();
  });

  it('fails calls at once while no worker can be started, and serves again once one is', async () => {
    // The workers read the model from a path: removing the file makes replacements fail to load.
    const dir = mkdtempSync(join(tmpdir(), 'gi-worker-'));
    const path = join(dir, 'model.onnx');
    copyFileSync(TINY, path);
    const m = tiny({ execution: 'worker', source: path });
    try {
      await m.load();
      unlinkSync(path);
      expect(isModelCallError(await rejectionOf(m.run(poison(TEST_EXIT_VALUE), far())))).toBe(true);
      await until(() => m.status().workers!.startFailures >= 1);
      const t0 = performance.now();
      const refused = await rejectionOf(m.run(row(1), far()));
      expect(performance.now() - t0).toBeLessThan(100);
      expect(isModelCallError(refused) && refused.reason).toBe('model-error');
      expect((refused as Error).message).toMatch(/No model worker is available: .*could not load ONNX model/);
      // The replacement is retried with backoff: once the file is back, calls succeed again.
      copyFileSync(TINY, path);
      await until(() => m.status().workers!.ready === 1);
      expectClose(await m.run(row(2), far()), reference.tinyMlp(row(2), 1));
    } finally {
      await m.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a retry after a crash succeeds on another worker', async () => {
    let attempts = 0;
    const m = onnxModel<number, number[]>({
      source: TINY,
      execution: 'worker',
      workers: 2,
      // The first attempt crashes its worker; the retry encodes a normal row.
      encode: () => ({ x: tensor('float32', attempts++ === 0 ? poison(TEST_EXIT_VALUE) : row(7), [1, 8]) }),
      decode: (out) => Array.from(out.probs!.data as Float32Array),
    });
    open.push(m as OnnxModel<unknown, unknown>);
    const inference = createInference<number, number[]>({
      name: 'retry',
      versions: { v1: m },
      timeoutMs: 10_000,
      retry: { retries: 2, minTimeoutMs: 1 },
      fallback: { name: 'rules', handle: () => [0.5, 0.5] },
    });
    await inference.ready();
    const outcome = await inference.infer(0);
    expect(outcome).toMatchObject({ source: 'model', attempts: 2 });
    expectClose(outcome.value, reference.tinyMlp(row(7), 1));
    await inference.close();
  });

  it('sheds load with overloaded when maxQueue calls wait, and never runs queued calls past their deadline', async () => {
    const m = tiny({ execution: 'worker', killAfterMs: 400, maxQueue: 2 });
    const inference = createInference<Float32Array, number[]>({
      name: 'shed',
      versions: { v1: m },
      timeoutMs: 100,
      breaker: false,
      fallback: { name: 'rules', handle: () => [0.5, 0.5] },
    });
    await inference.ready();
    const blocked = inference.infer(poison(TEST_HANG_VALUE)); // occupies the only worker
    await sleep(10);
    const queued = [inference.infer(row(1)), inference.infer(row(2))];
    await sleep(5);
    const t0 = performance.now();
    const shed = await Promise.all([inference.infer(row(3)), inference.infer(row(4))]);
    expect(performance.now() - t0).toBeLessThan(100);
    for (const o of shed) expect(o).toMatchObject({ source: 'fallback', reason: 'overloaded' });
    for (const o of await Promise.all(queued)) expect(o).toMatchObject({ source: 'fallback', reason: 'timeout' });
    expect(await blocked).toMatchObject({ source: 'fallback', reason: 'timeout' });
    expect(inference.status().versions.v1!.counts.reasons).toMatchObject({ overloaded: 2, timeout: 3 });
    // Once the watchdog has replaced the worker, the expired calls are dropped, never run.
    await until(() => m.status().workers!.kills === 1 && m.status().workers!.ready === 1);
    const q = m.status().queue!;
    expect(q).toMatchObject({ overloaded: 2, expired: 2, queued: 0 });
    expect(q.calls).toBe(1);
    await inference.close();
  });
});

describe('process isolation', () => {
  it('contains a native abort of the worker process and kills a run mid-computation', async () => {
    const events: WorkerReplacedEvent[] = [];
    const m = tiny({ execution: 'worker', isolation: 'process', killAfterMs: 150, onEvent: (_n, e) => events.push(e) });
    await m.load();
    expect(m.status()).toMatchObject({ isolation: 'process', workers: { ready: 1 } });
    const ok = await m.run(row(1), far());
    expectClose(ok, reference.tinyMlp(row(1), 1));

    const aborted = await rejectionOf(m.run(poison(TEST_ABORT_VALUE), far()));
    expect(isModelCallError(aborted) && aborted.reason).toBe('model-error');
    expect((aborted as Error).message).toMatch(/worker process exited with signal SIGABRT/);

    const t0 = performance.now();
    const killed = await rejectionOf(m.run(poison(TEST_HANG_VALUE), far()));
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect((killed as Error).message).toMatch(/killAfterMs \(150 ms\)/);
    expect(events.map((e) => e.cause)).toEqual(['crashed', 'killed']);

    const again = await m.run(row(2), far());
    expectClose(again, reference.tinyMlp(row(2), 1));
    expect(m.status().workers).toMatchObject({ crashes: 1, kills: 1, replacements: 2, ready: 1 });
    await m.close();
  });

  it('refuses isolation outside worker mode', () => {
    expect(() => tiny({ isolation: 'process' })).toThrow(/isolation: only used with execution: 'worker'/);
  });
});

describe('polling for answers (spinMs)', () => {
  /** 32 closed-loop callers for `ms`, with a 5 ms interval timer on the side; returns calls made and the timer's longest gap. */
  async function hammer(m: OnnxModel<Float32Array, number[]>, ms: number): Promise<{ calls: number; maxGap: number; wrong: number }> {
    let stop = false;
    let calls = 0;
    let wrong = 0;
    const ticks = gapMeter(5);
    const timer = setTimeout(() => (stop = true), ms);
    await Promise.all(
      Array.from({ length: 32 }, async (_, c) => {
        const x = row(c);
        const expected = reference.tinyMlp(x, 1);
        while (!stop) {
          const out = await m.run(x, far());
          if (Math.abs(out[1]! - expected[1]!) > 1e-5) wrong++;
          calls++;
        }
      }),
    );
    clearTimeout(timer);
    return { calls, maxGap: ticks.stop(), wrong };
  }

  it('keeps timers firing while 32 callers keep a fast worker busy with polling on (the budget itself: answer-poller.test.ts)', async () => {
    // The longest poll, so that answers nearly always arrive while polling: the case that could starve the loop.
    const m = tiny({ execution: 'worker', spinMs: 1, batching: { maxBatchSize: 32, maxDelayMs: 1 } });
    await m.load();
    const { calls, maxGap, wrong } = await hammer(m, 400);
    expect(wrong).toBe(0);
    expect(calls).toBeGreaterThan(1_000);
    // A 5 ms interval over a 400 ms window: starved, it would see one gap of ~400 ms. Gaps of 15-35 ms are
    // seen with and without polling (GC, the test runner); the bound leaves room for loaded CI machines.
    expect(maxGap).toBeLessThan(200);
  });

  it('works with polling off (spinMs: 0), answers arriving as messages only', async () => {
    const m = tiny({ execution: 'worker', spinMs: 0, batching: { maxBatchSize: 32, maxDelayMs: 1 } });
    await m.load();
    const { calls, wrong } = await hammer(m, 150);
    expect(wrong).toBe(0);
    expect(calls).toBeGreaterThan(100);
  });

  it('validates spinMs: at most 1 ms, and only in worker mode', () => {
    expect(() => tiny({ execution: 'worker', spinMs: 5 })).toThrow(/spinMs/);
    expect(() => tiny({ execution: 'worker', spinMs: -1 })).toThrow(/spinMs/);
    expect(() => tiny({ spinMs: 0.1 })).toThrow(/spinMs: only used with execution: 'worker'/);
  });
});

describe('close', () => {
  it('rejects calls in flight with ClosedError and terminates the workers at once', async () => {
    const m = tiny({ execution: 'worker', killAfterMs: 60_000 });
    await m.load();
    const hung = rejectionOf(m.run(poison(TEST_HANG_VALUE), far()));
    await sleep(20);
    const t0 = performance.now();
    await m.close();
    expect(performance.now() - t0).toBeLessThan(2_000);
    const error = await hung;
    expect((error as Error).name).toBe('ClosedError');
    expect(m.status()).toMatchObject({ closed: true, workers: { ready: 0 } });
  });

  it('leaves no handle behind: a process that used worker mode exits by itself', async () => {
    const models = fileURLToPath(new URL('../../src/models/onnx-model.node.ts', import.meta.url));
    const tensors = fileURLToPath(new URL('../../src/models/tensor.ts', import.meta.url));
    const host = fileURLToPath(new URL('../../src/models/worker-host.ts', import.meta.url));
    const script = `
      import { onnxModel } from ${JSON.stringify(models)};
      import { tensor } from ${JSON.stringify(tensors)};
      import { TEST_HANG_VALUE } from ${JSON.stringify(host)};
      const ctx = { deadline: Infinity, context: undefined, signal: new AbortController().signal };
      const make = (extra) => onnxModel({ source: ${JSON.stringify(TINY)}, execution: 'worker', workers: 2,
        encode: (v) => ({ x: tensor('float32', new Float32Array(8).fill(v), [1, 8]) }), decode: (o) => o.probs.data[0], ...extra });
      const closed = make({ batching: { maxBatchSize: 4, maxDelayMs: 50 } });
      await Promise.all([closed.run(0.5, ctx), closed.run(0.1, ctx)]);
      const hung = closed.run(TEST_HANG_VALUE, ctx).catch((e) => e.name);
      await new Promise((r) => setTimeout(r, 20));
      await closed.close();
      // A model never closed: its idle workers must not keep the process alive either.
      const forgotten = make({});
      await forgotten.run(0.5, ctx);
      process.stdout.write(JSON.stringify({ hung: await hung }));
    `;
    const { code, out, err } = await runNode(['--import', 'tsx', '--input-type=module', '-e', script], fileURLToPath(new URL('../..', import.meta.url)));
    expect(code, err).toBe(0);
    expect(JSON.parse(out)).toEqual({ hung: 'ClosedError' });
  });
});

/** Runs `node <args>` in `cwd`; resolves with its exit code (or a hang message) and output. */
function runNode(args: string[], cwd: string, timeoutMs = 20_000): Promise<{ code: number | string; out: string; err: string }> {
  const child = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, GRACEFUL_INFERENCE_WORKER_TEST_HOOKS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ code: 'hung: the process did not exit by itself', out, err });
    }, timeoutMs);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve({ code: c ?? -1, out, err });
    });
  });
}

describe('the built package', () => {
  it('starts its workers from dist (ESM and CJS builds, threads and processes) and exits cleanly', async () => {
    const node = (tsupConfigs as Options[]).find((c) => typeof c.entry === 'object' && c.entry !== null && 'index' in c.entry)!;
    expect(Object.keys(node.entry as Record<string, string>)).toContain('worker-entry.node');
    const cache = fileURLToPath(new URL('../../node_modules/.cache/', import.meta.url));
    mkdirSync(cache, { recursive: true });
    const outDir = mkdtempSync(join(cache, 'gi-worker-dist-'));
    try {
      await build({ ...node, outDir, dts: false, sourcemap: false, clean: false, config: false, silent: true });
      writeFileSync(
        join(outDir, 'smoke.mjs'),
        `
        import { createRequire } from 'node:module';
        const sdk = process.argv[2] === 'cjs' ? createRequire(import.meta.url)('./index.cjs') : await import('./index.js');
        const ctx = { deadline: Infinity, context: undefined, signal: new AbortController().signal };
        const results = [];
        for (const isolation of ['thread', 'process']) {
          const m = sdk.onnxModel({ source: ${JSON.stringify(TINY)}, execution: 'worker', isolation, workers: 2, batching: { maxBatchSize: 8 },
            encode: (v) => ({ x: sdk.tensor('float32', new Float32Array(8).fill(v), [1, 8]) }), decode: (o) => o.probs.data[0] });
          const outs = await Promise.all([0.1, 0.2, 0.3].map((v) => m.run(v, ctx)));
          results.push({ isolation, outs, ready: m.status().workers.ready });
          await m.close();
        }
        process.stdout.write(JSON.stringify(results));
      `,
      );
      for (const format of ['esm', 'cjs']) {
        const { code, out, err } = await runNode(['smoke.mjs', format], outDir);
        expect(code, err).toBe(0);
        const results = JSON.parse(out) as { isolation: string; outs: number[]; ready: number }[];
        expect(results.map((r) => [r.isolation, r.ready])).toEqual([
          ['thread', 2],
          ['process', 2],
        ]);
        for (const r of results) {
          r.outs.forEach((v, i) => expect(Math.abs(v - reference.tinyMlp(new Float32Array(8).fill((i + 1) / 10), 1)[0]!)).toBeLessThan(1e-5));
        }
      }
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  });
});

describe('the pipeline\'s guarantees hold in both modes', () => {
  for (const execution of ['inline', 'worker'] as const) {
    describe(execution, () => {
      it('answers, and falls back with invalid-output on NaN until the breaker opens', async () => {
        const m = onnxModel<Float32Array, number>({
          source: fixturePath('nan-model'),
          execution,
          encode: (x) => ({ x: tensor('float32', x, [1, 8]) }),
          decode: (out) => (out.probs!.data as Float32Array)[1]!,
        });
        open.push(m as OnnxModel<unknown, unknown>);
        const inference = createInference<Float32Array, number>({
          name: `nan-${execution}`,
          versions: { v1: m },
          output: z.number().finite(),
          timeoutMs: 5_000,
          breaker: { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 },
          fallback: { name: 'rules', handle: () => 0.5 },
        });
        const good = Float32Array.from({ length: 8 }, (_, i) => i / 10);
        const ok = await inference.infer(good);
        expect(ok.source).toBe('model');
        expect(Math.abs(ok.value - reference.nanModel(good, 1)[1]!)).toBeLessThan(1e-5);
        const reasons: string[] = [];
        for (let i = 0; i < 6; i++) reasons.push((await inference.infer(poison(-1))).reason ?? 'none');
        expect(reasons.slice(0, 2)).toEqual(['invalid-output', 'invalid-output']);
        expect(reasons.at(-1)).toBe('circuit-open');
        expect(inference.status().versions.v1!.breaker.state).toBe('open');
        await inference.close();
      });

      it('a bad feed fails its own call only, as model-error, and close ends every call', async () => {
        const m = onnxModel<number, number>({
          source: TINY,
          execution,
          batching: { maxBatchSize: 8, maxDelayMs: 2 },
          encode: (n) => ({ x: tensor('float32', new Float32Array(n * 8).fill(0.1), [n, 8]) as TensorData }),
          decode: (out) => out.probs!.dims[0]!,
        });
        open.push(m as OnnxModel<unknown, unknown>);
        const inference = createInference<number, number>({
          name: `feeds-${execution}`,
          versions: { v1: m },
          timeoutMs: 5_000,
          breaker: false,
          fallback: { name: 'rules', handle: () => -1 },
        });
        const outs = await Promise.all([1, 0, 2, 3].map((n) => inference.infer(n)));
        expect(outs.map((o) => [o.source, o.value, o.reason ?? ''])).toEqual([
          ['model', 1, ''],
          ['fallback', -1, 'model-error'],
          ['model', 2, ''],
          ['model', 3, ''],
        ]);
        await inference.close();
        expect(m.status().closed).toBe(true);
        const after = await rejectionOf(m.run(1, far()));
        expect((after as Error).name).toBe('ClosedError');
        expect(isModelCallError(after)).toBe(false);
      });
    });
  }
});
