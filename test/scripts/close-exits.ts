/**
 * Run in a child process by test/close.test.ts:
 *   node --import tsx test/scripts/close-exits.ts [leak]
 *
 * Builds an inference with a breaker (tripped, so its reset timer is pending),
 * retries, fallbacks with a timeout, and calls in flight (slow, hung, retrying),
 * closes it, then reports every timer created since start that is still alive
 * (ref'd or not) and lets the process end by itself. With `leak`, it leaves a
 * ref'd interval behind on purpose, to prove the parent detects a hang.
 */
import { createHook } from 'node:async_hooks';

Error.stackTraceLimit = 30;
import { createInference } from '../../src/inference.js';
import { functionModel } from '../../src/models/function-model.js';

const live = new Map<number, string>();
const hook = createHook({
  init(asyncId, type) {
    if (type !== 'Timeout') return;
    const frames = (new Error().stack ?? '').split('\n').filter((l) => l.includes(' at ') && !l.includes('node:internal'));
    live.set(asyncId, frames.slice(0, 4).map((l) => l.trim()).join(' | '));
  },
  destroy(asyncId) {
    live.delete(asyncId);
  },
});
hook.enable();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let mode: 'fail' | 'mixed' = 'fail';
let retried = 0;
const model = functionModel<number, number>(async (x) => {
  if (mode === 'fail') throw new Error('down');
  if (x === 1) {
    await sleep(150); // slow but in time
    return x;
  }
  if (x === 2) return new Promise<number>(() => {}); // hung: ignores its signal
  if (x === 3 && retried++ === 0) throw new Error('transient'); // retried after a backoff
  return x;
});

const inference = createInference<number, number>({
  name: 'close-exits',
  versions: { v1: model, v2: functionModel((x: number) => x) },
  timeoutMs: 60_000,
  breaker: { volumeThreshold: 2, resetTimeoutMs: 60_000, slowCallMs: 1_000 },
  retry: { retries: 2, minTimeoutMs: 50 },
  fallback: [{ name: 'never', handle: () => new Promise<number>(() => {}) }, { name: 'rules', handle: () => -1 }],
  fallbackTimeoutMs: 40,
});

// Trip v1's breaker: its 60 s reset timer is now pending.
await inference.infer(0);
await inference.infer(0);
const tripped = inference.status().versions.v1!.breaker.state;

// v2 has a breaker too (closed); calls in flight on it when close() is called.
const v2 = createInference<number, number>({
  name: 'close-exits-2',
  versions: { v1: model },
  timeoutMs: 60_000,
  breaker: { volumeThreshold: 100, resetTimeoutMs: 60_000 },
  retry: { retries: 2, minTimeoutMs: 50 },
  fallback: { name: 'rules', handle: () => -1 },
  fallbackTimeoutMs: 40,
});
mode = 'mixed';
const inflight = [
  v2.infer(1),
  v2.infer(2, { timeoutMs: 100 }),
  v2.infer(3),
  inference.infer(9, { version: 'v2' }),
];
await sleep(5);
const closing = Promise.all([inference.close(), v2.close()]);
const outcomes = await Promise.all(inflight.map((p) => p.then((o) => `${o.source}:${o.reason ?? ''}`, (e: Error) => `error:${e.message}`)));
await closing;
// Let any last callbacks run, then the destroy hooks of fired timers.
await sleep(10);
await new Promise((resolve) => setImmediate(resolve));
hook.disable();
const leftovers = [...live.values()];
if (process.argv[2] === 'leak') setInterval(() => {}, 1_000);
process.stdout.write(`${JSON.stringify({ tripped, outcomes, leftovers, resources: process.getActiveResourcesInfo() })}\n`);
