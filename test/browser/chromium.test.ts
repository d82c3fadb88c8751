/**
 * The SDK in real headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core; nothing downloads a browser).
 *
 * Setup, once for the file: build the SDK's browser entry with the project's
 * tsup config, build the example app and the test page with Vite against it,
 * serve them from 127.0.0.1, launch one Chromium. Then:
 * - the example app loads, predicts, falls back (404, slow run, integrity) and routes by user id;
 * - the test page (`window.gi`) gives the same model outputs as onnxruntime-node (1e-5),
 *   the same bucket picks and routes as Node, progress events, abortable downloads, the cache.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { build as viteBuild } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInference, functionModel, rules } from '../../src/index.js';
import { onnxModel as nodeOnnxModel } from '../../src/models/onnx-model.node.js';
import { tensor } from '../../src/models/tensor.js';
import { bucketOf } from '../../src/routing/fractional.js';
import { FEATURE_COUNT, SAMPLE_APPLICANTS, toFeatureVector } from '../../examples/demo/model/features.js';
import { legacyDecision } from '../../examples/legacy-rules/legacy-table.js';
import type { CreditApplicant } from '../../examples/demo/model/features.js';
import { CREDIT_RISK_PATH, MODELS_DIR, fixturePath, randomRows } from '../fixtures/reference.js';
import { buildBrowserEntry, scratchDir } from './build-browser-entry.js';
import type { JsonTensor } from './page/main.js';
import { hasChromium, launchChromium, warnIfNoChromium } from './chromium-launch.js';
import { startStaticServer, type StaticServer } from './static-server.js';

warnIfNoChromium('browser tests');

const ROOT = fileURLToPath(new URL('../../', import.meta.url));


let scratch: string;
let server: StaticServer;
let browser: Browser;
let page: Page;
let app: Page;
const pageErrors: string[] = [];

async function buildWithVite(configFile: string, outDir: string): Promise<void> {
  await viteBuild({ configFile, logLevel: 'error', build: { outDir, emptyOutDir: true } });
}

/** Opens a fresh tab on `path` and waits for `ready`. */
async function open(path: string, ready: (p: Page) => Promise<unknown>): Promise<Page> {
  const p = await browser.newPage();
  p.on('pageerror', (e) => pageErrors.push(`${path}: ${e.message}`));
  await p.goto(`${server.origin}${path}`);
  await ready(p);
  return p;
}

beforeAll(async () => {
  if (!hasChromium) return;
  const entry = await buildBrowserEntry();
  scratch = dirname(entry);
  process.env.GRACEFUL_INFERENCE_ENTRY = entry;
  try {
    await buildWithVite(join(ROOT, 'examples/browser/vite.config.ts'), join(scratch, 'example'));
    await buildWithVite(join(ROOT, 'test/browser/page/vite.config.ts'), join(scratch, 'page'));
  } finally {
    delete process.env.GRACEFUL_INFERENCE_ENTRY;
  }
  server = await startStaticServer({
    example: join(scratch, 'example'),
    page: join(scratch, 'page'),
    fixtures: MODELS_DIR,
    demo: dirname(CREDIT_RISK_PATH),
  });
  browser = await launchChromium();
  page = await open('/page/', (p) => p.waitForFunction(() => document.getElementById('state')?.textContent === 'ready'));
  app = await open('/example/', waitForModel);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** Waits until the example app has finished loading the model (or failed to). */
async function waitForModel(p: Page): Promise<string> {
  await p.waitForFunction(() => document.getElementById('status')?.dataset.state !== 'loading', null, { timeout: 20_000 });
  return (await p.textContent('#status')) ?? '';
}

/** Clicks Predict in the example app and returns the result panel's fields. */
async function predict(p: Page, userId?: string) {
  if (userId !== undefined) await p.fill('#user', userId);
  const before = Number((await p.getAttribute('#result', 'data-calls')) ?? 0);
  await p.click('#predict');
  await p.waitForFunction((n) => Number(document.getElementById('result')?.dataset.calls ?? 0) > n, before, { timeout: 10_000 });
  const text = async (id: string) => ((await p.textContent(`#${id}`)) ?? '').trim();
  return {
    decision: await text('decision'),
    risk: Number(await text('risk')),
    source: await text('source'),
    version: await text('version'),
    route: await text('route'),
    reason: await text('reason'),
    rule: await text('rule'),
  };
}

async function setMode(p: Page, mode: string): Promise<string> {
  await p.selectOption('#mode', mode);
  return waitForModel(p);
}

/** Node's answer for the same model and feeds, with onnxruntime-node through the SDK's Node binding. */
async function nodeRun(path: string, feeds: Record<string, JsonTensor>, output: string) {
  const model = nodeOnnxModel<null, { data: number[]; dims: number[] }>({
    source: path,
    encode: () =>
      Object.fromEntries(
        Object.entries(feeds).map(([k, t]) => [k, t.type === 'int64' ? tensor('int64', [...t.data], t.dims) : tensor('float32', [...t.data], t.dims)]),
      ),
    decode: (out) => ({ data: Array.from(out[output]!.data as Float32Array), dims: [...out[output]!.dims] }),
  });
  try {
    return await model.run(null, { signal: new AbortController().signal, deadline: Infinity, context: undefined });
  } finally {
    await model.close();
  }
}

function expectClose(actual: readonly number[], expected: readonly number[], tolerance = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e)) expect(a, `element ${i}`).toBeNaN();
    else worst = Math.max(worst, Math.abs(a - e));
  }
  expect(worst).toBeLessThanOrEqual(tolerance);
}

/** Deterministic applicants spread over every row of the credit policy. */
function randomApplicants(n: number): CreditApplicant[] {
  const u = randomRows(0xc0ffee, n, 8, 0, 1);
  const pick = (i: number, k: number) => u[i * 8 + k]!;
  return Array.from({ length: n }, (_, i) => ({
    annualIncome: Math.round(10_000 + pick(i, 0) * 140_000),
    debtToIncome: Math.round(pick(i, 1) * 80) / 100,
    age: 16 + Math.floor(pick(i, 2) * 60),
    monthsEmployed: Math.floor(pick(i, 3) * 120),
    latePayments: Math.floor(pick(i, 4) * 5),
    creditUtilization: Math.round(pick(i, 5) * 110) / 100,
    openAccounts: Math.floor(pick(i, 6) * 12),
    loanAmount: Math.round(1_000 + pick(i, 7) * 60_000),
  }));
}

const sri = (path: string): string => `sha256-${createHash('sha256').update(readFileSync(path)).digest('base64')}`;

describe.skipIf(!hasChromium)('example app (examples/browser) in Chromium', () => {
  it('loads the model and predicts with it', async () => {
    expect(await setMode(app, 'ok')).toMatch(/Model ready/);
    const r = await predict(app);
    expect(r.source).toBe('model');
    expect(['v1', 'v2']).toContain(r.version);
    expect(['approve', 'review', 'decline']).toContain(r.decision);
    expect(r.reason).toBe('-');
    // The typical applicant's risk, as onnxruntime-node computes it (the page shows 3 decimals).
    const features = Array.from(toFeatureVector(SAMPLE_APPLICANTS.typical));
    const node = await nodeRun(CREDIT_RISK_PATH, { features: { type: 'float32', data: features, dims: [1, FEATURE_COUNT] } }, 'risk');
    expect(r.risk).toBeCloseTo(node.data[0]!, 3);
  });

  it('predicts with the same answer when runs move to a Web Worker (the worker switch)', async () => {
    expect(await setMode(app, 'ok')).toMatch(/Model ready/);
    const inline = await predict(app, 'user-7');
    await app.selectOption('#execution', 'worker');
    expect(await waitForModel(app)).toMatch(/Model ready/);
    const worker = await predict(app, 'user-7');
    expect(worker.source).toBe('model');
    expect(worker).toMatchObject({ version: inline.version, decision: inline.decision, risk: inline.risk });
    await app.selectOption('#execution', 'inline');
    expect(await waitForModel(app)).toMatch(/Model ready/);
  });

  it('falls back to the legacy policy when the model URL returns 404', async () => {
    expect(await setMode(app, 'bad-url')).toMatch(/Model failed to load: Could not download model .*missing\.onnx: HTTP 404/);
    const r = await predict(app);
    const legacy = legacyDecision(SAMPLE_APPLICANTS.typical);
    expect(r).toMatchObject({ source: 'fallback (credit-policy-v7)', reason: 'model-error', rule: legacy.row, decision: legacy.decision });
  });

  it('answers with the fallback when a run goes past its deadline', async () => {
    expect(await setMode(app, 'slow')).toMatch(/Model ready/);
    const r = await predict(app);
    expect(r).toMatchObject({ source: 'fallback (credit-policy-v7)', reason: 'timeout' });
  });

  it('refuses a model that fails its integrity check, with a clear message, and falls back', async () => {
    const status = await setMode(app, 'tampered');
    expect(status).toMatch(/Model failed to load: Integrity check failed for .*credit-risk.*\.onnx: expected sha256-AAAA.*, got sha256-/);
    expect(status).toContain(sri(CREDIT_RISK_PATH));
    const r = await predict(app);
    expect(r).toMatchObject({ source: 'fallback (credit-policy-v7)', reason: 'model-error' });
  });

  it('predicts on a cross-origin isolated page, with onnxruntime-web loaded from /ort/', async () => {
    const isolated = await open('/example/?isolated', waitForModel);
    try {
      expect(await isolated.textContent('#status')).toMatch(/Model ready/);
      expect(await isolated.evaluate(() => globalThis.crossOriginIsolated)).toBe(true);
      expect((await predict(isolated)).source).toBe('model');
      // The runtime came from wasmPaths (vite-plugin-ort.ts), not from a bundled copy.
      expect(server.requests).toContain('/example/ort/ort-wasm-simd-threaded.jsep.wasm');
      expect(server.requests.some((r) => r.startsWith('/example/assets/') && r.endsWith('.wasm'))).toBe(false);
    } finally {
      await isolated.close();
    }
  });

  it('routes each user id to the version Node picks for it, every time', async () => {
    expect(await setMode(app, 'ok')).toMatch(/Model ready/);
    const users = ['user-42', 'alice', 'bob', 'zoë', 'user-7'];
    for (const user of users) {
      const r = await predict(app, user);
      const expected = ['v1', 'v2'][bucketOf('credit-risk', user, [50, 50])];
      expect({ user, version: r.version, route: r.route, source: r.source }).toEqual({ user, version: expected, route: 'split', source: 'model' });
      expect((await predict(app, user)).version).toBe(expected);
    }
  });
});

describe.skipIf(!hasChromium)('browser API (test/browser/page) in Chromium', () => {
  it('gives the same outputs as onnxruntime-node on the fixture models (within 1e-5)', async () => {
    const cases = [
      { file: 'tiny-mlp.onnx', path: fixturePath('tiny-mlp'), input: 'x', width: 8, batch: 16, output: 'probs', url: '/fixtures/tiny-mlp.onnx' },
      { file: 'mid-mlp.onnx', path: fixturePath('mid-mlp'), input: 'x', width: 256, batch: 4, output: 'probs', url: '/fixtures/mid-mlp.onnx' },
      { file: 'nan-model.onnx', path: fixturePath('nan-model'), input: 'x', width: 8, batch: 8, output: 'probs', url: '/fixtures/nan-model.onnx' },
      { file: 'credit-risk.onnx', path: CREDIT_RISK_PATH, input: 'features', width: 8, batch: 8, output: 'risk', url: '/demo/credit-risk.onnx' },
    ];
    for (const c of cases) {
      const rows = Array.from(randomRows(0xb10 + c.width, c.batch, c.width));
      const feeds = { [c.input]: { type: 'float32' as const, data: rows, dims: [c.batch, c.width] } };
      const node = await nodeRun(c.path, feeds, c.output);
      const web = await page.evaluate(([url, f, o]) => window.gi.run(url, f, o), [`${server.origin}${c.url}`, feeds, c.output] as const);
      expect(web.dims, c.file).toEqual(node.dims);
      expectClose(web.data, node.data);
    }
  });

  it('picks the same buckets as Node for the same keys (ASCII and not)', async () => {
    const keys = Array.from({ length: 500 }, (_, i) => (i % 5 === 0 ? `usér-${i}-ü` : `user-${i}`));
    const weights = [10, 30, 60];
    const web = await page.evaluate(([k, w]) => window.gi.buckets('credit-risk', k, w), [keys, weights] as const);
    expect(web).toEqual(keys.map((k) => bucketOf('credit-risk', k, weights)));
    expect(new Set(web).size).toBe(3);
  });

  it('routes the same keys to the same versions as createInference in Node', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `customer-${i * 7}`);
    const split = { stable: 80, candidate: 20 };
    const versions = { stable: functionModel(() => 'stable'), candidate: functionModel(() => 'candidate') };
    const inference = createInference<null, string>({ name: 'parity', versions, routing: { split } });
    const node: { version: string; route: string; value: string }[] = [];
    for (const key of keys) {
      const o = await inference.infer(null, { context: { targetingKey: key } });
      node.push({ version: o.version, route: o.route, value: o.value });
    }
    await inference.close();
    const web = await page.evaluate(([s, k]) => window.gi.routes('parity', s, k), [split, keys] as const);
    expect(web).toEqual(node);
    expect(node.every((r) => r.route === 'split')).toBe(true);
  });

  it('evaluates the credit policy rules exactly as Node does (and as the legacy table)', async () => {
    const policy = readFileSync(join(ROOT, 'examples/legacy-rules/credit-policy.rules.json'), 'utf8');
    const applicants = randomApplicants(300);
    const failing = functionModel<CreditApplicant, unknown>(() => {
      throw new Error('model down');
    });
    const inference = createInference<CreditApplicant, unknown>({ name: 'rules-parity', versions: { v1: failing }, breaker: false, fallback: rules(policy) });
    const node = [];
    for (const a of applicants) {
      const o = await inference.infer(a, { context: { targetingKey: 'parity' } });
      node.push({ value: o.value, ruleId: o.ruleId, fallbackName: o.fallbackName, reason: o.reason });
    }
    await inference.close();
    const web = await page.evaluate(([p, a]) => window.gi.rules(p, a), [policy, applicants] as const);
    expect(web).toEqual(node);
    // Every rule of the table is exercised, and the rules agree with the legacy code.
    expect(new Set(web.map((r) => r.ruleId)).size).toBeGreaterThanOrEqual(6);
    web.forEach((r, i) => {
      const { row, ...value } = legacyDecision(applicants[i]!);
      expect({ ruleId: r.ruleId, value: r.value }).toEqual({ ruleId: row, value });
    });
  });

  it('falls back when the model URL returns 404, and ready() says why', async () => {
    const feeds = { x: { type: 'float32' as const, data: Array(8).fill(0), dims: [1, 8] } };
    const r = await page.evaluate(([url, f]) => window.gi.guarded(url, f, 'probs'), [`${server.origin}/fixtures/nope.onnx`, feeds] as const);
    expect(r.readyError).toMatchObject({ code: 'ERR_MODEL_LOAD' });
    expect(r.readyError!.message).toMatch(/nope\.onnx: HTTP 404 Not Found/);
    expect(r.outcome).toMatchObject({ source: 'fallback', reason: 'model-error', value: 'fallback', fallbackName: 'constant', ruleId: 'constant-rule' });
    expect(r.fallbackError).toMatchObject({ code: 'ERR_MODEL_LOAD' });
  });

  it('answers with the fallback when a run (blocking WASM compute) goes past its deadline', async () => {
    const feeds = (iterations: number) => ({
      x: { type: 'float32' as const, data: Array.from(randomRows(3, 1, 8)), dims: [1, 8] },
      iterations: { type: 'int64' as const, data: [iterations], dims: [] },
    });
    const url = `${server.origin}/fixtures/slow-model.onnx`;
    const fast = await page.evaluate(([u, f]) => window.gi.guarded(u, f, 'y', { timeoutMs: 5_000 }), [url, feeds(0)] as const);
    expect(fast.outcome.source).toBe('model');
    // Each iteration is a 512x512 MatMul: ~25 ms in single-threaded WASM here, so 30 iterations
    // are far past a 30 ms deadline (still past it on a machine ten times faster).
    const slow = await page.evaluate(([u, f]) => window.gi.guarded(u, f, 'y', { timeoutMs: 30 }), [url, feeds(30)] as const);
    expect(slow.readyError).toBeUndefined();
    expect(slow.outcome).toMatchObject({ source: 'fallback', reason: 'timeout', value: 'fallback' });
    expect(slow.outcome.latencyMs).toBeGreaterThan(30);
  });

  it('reports download progress, with and without Content-Length', async () => {
    const size = readFileSync(fixturePath('mid-mlp')).byteLength;
    const known = await page.evaluate((u) => window.gi.progress(u), `${server.origin}/trickle/fixtures/mid-mlp.onnx`);
    expect(known[0]).toEqual({ loaded: 0, total: size });
    expect(known.at(-1)).toEqual({ loaded: size, total: size });
    // 8 pieces 10 ms apart: the page sees them arrive.
    expect(known.filter((e) => e.loaded > 0 && e.loaded < size).length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < known.length; i++) expect(known[i]!.loaded).toBeGreaterThanOrEqual(known[i - 1]!.loaded);
    const unknown = await page.evaluate((u) => window.gi.progress(u), `${server.origin}/no-length/fixtures/mid-mlp.onnx`);
    expect(unknown[0]!.total).toBeUndefined();
    expect(unknown.at(-1)).toEqual({ loaded: size, total: size });
  });

  it('rejects bytes that fail the integrity check with ERR_INTEGRITY, and falls back', async () => {
    const good = sri(fixturePath('tiny-mlp'));
    const wrong = sri(fixturePath('fixed-batch'));
    const feeds = { x: { type: 'float32' as const, data: Array(8).fill(0.5), dims: [1, 8] } };
    const url = `${server.origin}/fixtures/tiny-mlp.onnx`;
    const bad = await page.evaluate(([u, f, i]) => window.gi.guarded(u, f, 'probs', { extra: { integrity: i } }), [url, feeds, wrong] as const);
    expect(bad.readyError).toMatchObject({ name: 'IntegrityError', code: 'ERR_INTEGRITY' });
    expect(bad.readyError!.message).toContain(`expected ${wrong}, got ${good}`);
    expect(bad.outcome).toMatchObject({ source: 'fallback', reason: 'model-error' });
    expect(bad.fallbackError).toMatchObject({ code: 'ERR_INTEGRITY' });
    const ok = await page.evaluate(([u, f, i]) => window.gi.guarded(u, f, 'probs', { extra: { integrity: i } }), [url, feeds, good] as const);
    expect(ok.readyError).toBeUndefined();
    expect(ok.outcome.source).toBe('model');
  });

  it('aborts a download in progress when the ready() signal fires', async () => {
    const before = server.requests.filter((r) => r.startsWith('/stall/')).length;
    const r = await page.evaluate((u) => window.gi.abortReady(u, 300), `${server.origin}/stall/fixtures/mid-mlp.onnx`);
    expect(r.error).toMatchObject({ name: 'TimeoutError' });
    expect(r.elapsed).toBeGreaterThanOrEqual(250);
    expect(r.elapsed).toBeLessThan(5_000);
    expect(server.requests.filter((p) => p.startsWith('/stall/')).length).toBe(before + 1);
    // The browser closed the connection: the server no longer holds the stalled response.
    await expect.poll(() => server.stalled(), { timeout: 5_000 }).toBe(0);
  });

  it('serves the second load from Cache Storage (cache: true)', async () => {
    const path = '/fixtures/tiny-mlp.onnx';
    const before = server.requests.filter((r) => r === path).length;
    const keys = await page.evaluate(([u, i]) => window.gi.cachedTwice(u, i), [`${server.origin}${path}`, sri(fixturePath('tiny-mlp'))] as const);
    expect(keys).toEqual([`${server.origin}${path}`]);
    expect(server.requests.filter((r) => r === path).length).toBe(before + 1);
  });

  it('runs with threads on a cross-origin isolated page, same outputs', async () => {
    const isolated = await open('/page/?isolated', (p) => p.waitForFunction(() => document.getElementById('state')?.textContent === 'ready'));
    try {
      expect(await isolated.evaluate(() => window.gi.isolation())).toEqual({ crossOriginIsolated: true, sharedArrayBuffer: true });
      const rows = Array.from(randomRows(11, 4, 8));
      const feeds = { x: { type: 'float32' as const, data: rows, dims: [4, 8] } };
      const node = await nodeRun(fixturePath('tiny-mlp'), feeds, 'probs');
      const web = await isolated.evaluate(([u, f]) => window.gi.run(u, f, 'probs', { numThreads: 2 }), [`${server.origin}/fixtures/tiny-mlp.onnx?isolated`, feeds] as const);
      expectClose(web.data, node.data);
    } finally {
      await isolated.close();
    }
  });

  it('raised no uncaught page error', () => {
    expect(pageErrors).toEqual([]);
  });
});
