/**
 * Worker mode in real headless Chromium: sessions in module Web Workers
 * (onnxruntime-web), the page's main thread free during a long run.
 *
 * The page is generated here, built with Vite (which bundles the worker from
 * `new Worker(new URL('./worker-entry.browser.js', import.meta.url))`) and
 * served from 127.0.0.1. It builds its models with the runtime-agnostic core
 * and the Web Worker spawner (the browser `onnxModel` binding passes them the
 * same way), and the pipeline from the built browser entry.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { build as viteBuild } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onnxruntimeWebFiles } from '../../examples/browser/vite-plugin-ort.js';
import { MODELS_DIR, randomRows, reference } from '../fixtures/reference.js';
import { buildBrowserEntry } from './build-browser-entry.js';
import { hasChromium, launchChromium, warnIfNoChromium } from './chromium-launch.js';
import { startStaticServer, type StaticServer } from './static-server.js';

warnIfNoChromium('browser worker tests');

const src = (path: string): string => fileURLToPath(new URL(`../../src/${path}`, import.meta.url));

/** The page: `window.giw` runs the scenarios and returns JSON. */
const MAIN = `
import { createInference, tensor } from 'graceful-inference-dist';
import { createOnnxModel } from ${JSON.stringify(src('models/onnx-model.ts'))};
import { spawnWebWorker } from ${JSON.stringify(src('models/worker-spawn.browser.ts'))};

const wasmPaths = new URL('../ort/', import.meta.url).href;
const modelUrl = (name) => new URL('/fixtures/' + name + '.onnx', location.href).href;

function model(name, options) {
  return createOnnxModel(
    {
      loadRuntime: async () => {
        const ort = await import('onnxruntime-web');
        ort.env.wasm.wasmPaths = wasmPaths;
        ort.env.wasm.numThreads = 1;
        return ort;
      },
      loadSource: async (source) => ({ bytes: new Uint8Array(await (await fetch(source)).arrayBuffer()) }),
      spawnWorker: spawnWebWorker,
      workerRuntimeEnv: { wasmPaths, numThreads: 1 },
    },
    { source: modelUrl(name), ...options },
  );
}

const slowOptions = (extra) => ({
  encode: (iterations) => ({
    x: tensor('float32', new Float32Array(8).fill(0.25), [1, 8]),
    iterations: tensor('int64', [iterations], []),
  }),
  decode: (out) => Array.from(out.y.data),
  ...extra,
});

/** Calls the slow model once through the pipeline while a 5 ms ticker runs on the page's thread. */
async function tickingCall(inference, iterations) {
  let ticks = 0;
  let last = performance.now();
  let maxGap = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 5);
  const t0 = performance.now();
  const outcome = await inference.infer(iterations);
  const wall = performance.now() - t0;
  clearInterval(ticker);
  maxGap = Math.max(maxGap, performance.now() - last);
  return { source: outcome.source, reason: outcome.reason ?? null, latencyMs: outcome.latencyMs, wall, ticks, maxGap };
}

window.giw = {
  /** ms per loop iteration of the slow model in this page (inline). */
  async calibrate() {
    const m = model('slow-model', slowOptions({}));
    const ctx = { deadline: Infinity, context: undefined, signal: new AbortController().signal };
    await m.run(1, ctx);
    const t0 = performance.now();
    await m.run(40, ctx);
    const ms = (performance.now() - t0) / 40;
    await m.close();
    return ms;
  },
  async slowCall(execution, iterations, timeoutMs) {
    const inference = createInference({
      name: 'slow-' + execution,
      versions: { v1: model('slow-model', slowOptions({ execution, ...(execution === 'worker' ? { killAfterMs: 30000 } : {}) })) },
      timeoutMs,
      breaker: false,
      fallback: { name: 'rules', handle: () => [0.5, 0.5] },
    });
    await inference.ready();
    const result = await tickingCall(inference, iterations);
    const closing = performance.now();
    await inference.close();
    return { ...result, closeMs: performance.now() - closing };
  },
  async batch(rows) {
    const m = model('tiny-mlp', {
      execution: 'worker',
      workers: 2,
      batching: { maxBatchSize: 16, maxDelayMs: 2 },
      encode: (x) => ({ x: tensor('float32', Float32Array.from(x), [x.length / 8, 8]) }),
      decode: (out) => Array.from(out.probs.data),
    });
    const ctx = { deadline: Infinity, context: undefined, signal: new AbortController().signal };
    const outputs = await Promise.all(rows.map((x) => m.run(x, ctx)));
    const status = m.status();
    await m.close();
    return { outputs, status };
  },
  async kill(iterations) {
    const events = [];
    const m = model('slow-model', slowOptions({ execution: 'worker', killAfterMs: 100, onEvent: (name, e) => events.push({ name, cause: e.cause }) }));
    await m.load();
    const ctx = { deadline: Infinity, context: undefined, signal: new AbortController().signal };
    const t0 = performance.now();
    let error = null;
    try {
      await m.run(iterations, ctx);
    } catch (e) {
      error = { name: e.name, code: e.code, reason: e.reason, message: e.message };
    }
    const failedAfter = performance.now() - t0;
    const next = await m.run(0, ctx);
    const status = m.status();
    await m.close();
    return { error, failedAfter, events, next, workers: status.workers };
  },
};
document.getElementById('state').textContent = 'ready';
`;

let scratch: string;
let server: StaticServer;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!hasChromium) return;
  const entry = await buildBrowserEntry();
  scratch = dirname(entry);
  expect(existsSync(join(scratch, 'worker-entry.browser.js')), 'tsup emits the Web Worker entry next to browser.js').toBe(true);
  const root = join(scratch, 'worker-page');
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'index.html'), '<!doctype html><html><body><p id="state">loading</p><script type="module" src="./main.js"></script></body></html>');
  writeFileSync(join(root, 'main.js'), MAIN);
  await viteBuild({
    root,
    base: './',
    configFile: false,
    logLevel: 'error',
    resolve: {
      alias: [{ find: 'graceful-inference-dist', replacement: entry }],
      conditions: ['onnxruntime-web-use-extern-wasm', 'module', 'browser', 'development|production'],
    },
    plugins: [onnxruntimeWebFiles()],
    worker: { format: 'es' },
    build: { outDir: join(scratch, 'worker-dist'), emptyOutDir: true, target: 'es2022', assetsInlineLimit: 0, chunkSizeWarningLimit: 4096 },
  });
  server = await startStaticServer({ page: join(scratch, 'worker-dist'), fixtures: MODELS_DIR });
  browser = await launchChromium();
  page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${server.origin}/page/`);
  await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready', null, { timeout: 20_000 });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

interface TickingResult {
  source: string;
  reason: string | null;
  latencyMs: number;
  wall: number;
  ticks: number;
  maxGap: number;
  closeMs: number;
}

describe.skipIf(!hasChromium)('worker mode in Chromium', () => {
  let msPerIteration = 1;
  beforeAll(async () => {
    msPerIteration = await page.evaluate(() => (window as unknown as { giw: { calibrate(): Promise<number> } }).giw.calibrate());
  });

  const slowCall = (execution: 'inline' | 'worker', runMs: number, timeoutMs: number) =>
    page.evaluate(
      ([e, n, t]) => (window as unknown as { giw: { slowCall(...a: unknown[]): Promise<TickingResult> } }).giw.slowCall(e, n, t),
      [execution, Math.max(1, Math.round(runMs / msPerIteration)), timeoutMs] as const,
    );

  it('keeps the page responsive during a long run and falls back at the deadline', async () => {
    const worker = await slowCall('worker', 600, 80);
    expect(worker).toMatchObject({ source: 'fallback', reason: 'timeout' });
    expect(worker.latencyMs).toBeGreaterThanOrEqual(75);
    expect(worker.latencyMs).toBeLessThan(300);
    // A 5 ms ticker kept ticking on the page's thread while the worker computed.
    expect(worker.ticks).toBeGreaterThanOrEqual(8);
    expect(worker.maxGap).toBeLessThan(100);
    // close() stops the worker at once, mid-run (WebAssembly in a Web Worker can be terminated).
    expect(worker.closeMs).toBeLessThan(300);

    // Inline, the same call blocks the page until the run is over.
    const inline = await slowCall('inline', 600, 80);
    expect(inline).toMatchObject({ source: 'fallback', reason: 'timeout' });
    expect(inline.maxGap).toBeGreaterThan(300);
    expect(inline.latencyMs).toBeGreaterThan(300);
    expect(pageErrors).toEqual([]);
  });

  it('batches concurrent callers in Web Workers: each gets exactly its own rows', async () => {
    const rows = Array.from({ length: 40 }, (_, i) => Array.from(randomRows(3000 + i, i % 7 === 0 ? 2 : 1, 8)));
    const result = await page.evaluate(
      (r) => (window as unknown as { giw: { batch(rows: number[][]): Promise<{ outputs: number[][]; status: { queue: { calls: number; runs: number }; workers: { ready: number } } }> } }).giw.batch(r),
      rows,
    );
    result.outputs.forEach((out, i) => {
      const want = reference.tinyMlp(rows[i]!, rows[i]!.length / 8);
      expect(out.length).toBe(want.length);
      out.forEach((v, k) => expect(Math.abs(v - want[k]!)).toBeLessThan(1e-5));
    });
    expect(result.status.queue.calls).toBe(40);
    expect(result.status.queue.runs).toBeLessThan(40);
    expect(result.status.workers.ready).toBe(2);
  });

  it('terminates a run that outlives killAfterMs and replaces the worker', async () => {
    const result = await page.evaluate(
      (n) =>
        (window as unknown as { giw: { kill(n: number): Promise<{ error: { code: string; reason: string; message: string } | null; failedAfter: number; events: { name: string; cause: string }[]; next: number[]; workers: { kills: number; ready: number } }> } }).giw.kill(n),
      Math.round(3_000 / msPerIteration),
    );
    expect(result.error).toMatchObject({ code: 'ERR_WORKER', reason: 'model-error' });
    expect(result.error!.message).toMatch(/killAfterMs \(100 ms\)/);
    expect(result.failedAfter).toBeGreaterThanOrEqual(95);
    expect(result.failedAfter).toBeLessThan(1_000);
    expect(result.events).toEqual([{ name: 'worker-replaced', cause: 'killed' }]);
    expect(result.next).toHaveLength(2);
    expect(result.workers).toMatchObject({ kills: 1, ready: 1 });
  });
});
