import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ClosedError, isGracefulInferenceError } from '../src/errors.js';
import { createInference } from '../src/inference.js';
import { deferred, failOnUnhandledRejections, rejectionOf, scriptedModel, sleep } from './helpers/models.js';

failOnUnhandledRejections();

const root = fileURLToPath(new URL('..', import.meta.url));
const script = fileURLToPath(new URL('./scripts/close-exits.ts', import.meta.url));

interface ChildResult {
  /** Whether the process ended by itself before `graceMs` after its report. */
  exitedByItself: boolean;
  code: number | null;
  report: { tripped: string; outcomes: string[]; leftovers: string[]; resources: string[] } | undefined;
  stderr: string;
}

/**
 * Runs the script and waits for it to exit by itself: at most `startupMs` for
 * its report, then `graceMs` more. A process that has to be killed failed.
 */
function runChild(args: string[], graceMs: number, startupMs = 15_000): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    let timer = setTimeout(kill, startupMs);
    function kill(): void {
      killed = true;
      child.kill('SIGKILL');
    }
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('\n')) {
        clearTimeout(timer);
        timer = setTimeout(kill, graceMs);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      resolve({ exitedByItself: !killed, code, report: line ? JSON.parse(line) : undefined, stderr });
    });
  });
}

describe('close() in a real process', () => {
  // Both children start at once: each spends most of its time starting tsx.
  let clean: Promise<ChildResult>;
  let leaking: Promise<ChildResult>;
  beforeAll(() => {
    clean = runChild([], 5_000);
    leaking = runChild(['leak'], 800);
  });

  it('leaves no timers or handles: the process exits by itself', async () => {
    const result = await clean;
    expect(result.stderr.replace(/npm warn.*\n/g, '')).toBe('');
    expect(result.report, 'the script reported').toBeDefined();
    expect(result.exitedByItself, 'exited without being killed').toBe(true);
    expect(result.code).toBe(0);
    const report = result.report!;
    expect(report.tripped).toBe('open');
    // Calls in flight when close() was called all finished first.
    expect(report.outcomes).toEqual(['model:', 'fallback:timeout', 'model:', 'model:']);
    // Not even unref'd timers remain (breaker intervals, reset timer, deadline queue).
    expect(report.leftovers).toEqual([]);
    expect(report.resources).not.toContain('Timeout');
  });

  it('the harness notices a process that would hang (control)', async () => {
    const result = await leaking;
    expect(result.report).toBeDefined();
    expect(result.exitedByItself).toBe(false);
  });
});

describe('close()', () => {
  it('rejects infer and ready afterwards with ClosedError', async () => {
    const model = scriptedModel<number, number>((x) => x);
    const inference = createInference<number, number>({ name: 'c', versions: { v1: model }, fallback: () => -1 });
    await inference.close();
    const error = await rejectionOf(inference.infer(1));
    expect(error).toBeInstanceOf(ClosedError);
    expect(isGracefulInferenceError(error)).toBe(true);
    expect((error as ClosedError).code).toBe('ERR_CLOSED');
    expect((error as Error).message).toContain('"c"');
    expect(await rejectionOf(inference.ready())).toBeInstanceOf(ClosedError);
    expect(model.calls).toHaveLength(0);
    expect(inference.status().closed).toBe(true);
  });

  it('waits for calls in flight, then closes every model once', async () => {
    const gate = deferred<number>();
    const v1 = scriptedModel<number, number>(() => gate.promise);
    const v2 = scriptedModel<number, number>((x) => x);
    const inference = createInference<number, number>({ name: 'c', versions: { v1, v2 }, timeoutMs: 2_000 });
    const pending = inference.infer(1);
    await sleep(1);
    let closed = false;
    const closing = inference.close().then(() => (closed = true));
    // New calls are refused at once while closing.
    expect(await rejectionOf(inference.infer(2))).toBeInstanceOf(ClosedError);
    await sleep(20);
    expect(closed).toBe(false);
    expect([v1.closes, v2.closes]).toEqual([0, 0]);
    gate.resolve(7);
    expect(await pending).toMatchObject({ value: 7, source: 'model' });
    await closing;
    expect(closed).toBe(true);
    expect([v1.closes, v2.closes]).toEqual([1, 1]);
    await inference.close();
    expect([v1.closes, v2.closes]).toEqual([1, 1]);
  });

  it('waits for a call that is retrying or falling back', async () => {
    let n = 0;
    const model = scriptedModel<number, number>((x) => (n++ === 0 ? Promise.reject(new Error('transient')) : x));
    const handler = deferred<number>();
    const inference = createInference<number, number>({
      name: 'c',
      versions: { v1: model },
      retry: { retries: 1, minTimeoutMs: 30 },
      fallback: () => handler.promise,
    });
    const retrying = inference.infer(5);
    await sleep(5);
    await inference.close();
    expect(await retrying).toMatchObject({ value: 5, attempts: 2 });

    const failing = scriptedModel<number, number>(() => Promise.reject(new Error('down')));
    const second = createInference<number, number>({ name: 'd', versions: { v1: failing }, fallback: () => handler.promise });
    const fallingBack = second.infer(1);
    await sleep(5);
    let closed = false;
    const closing = second.close().then(() => (closed = true));
    await sleep(10);
    expect(closed).toBe(false);
    handler.resolve(-1);
    expect(await fallingBack).toMatchObject({ source: 'fallback', value: -1 });
    await closing;
  });

  it('closes even when a model close fails', async () => {
    const broken = scriptedModel<number, number>((x) => x);
    const model = { ...broken, close: () => Promise.reject(new Error('close failed')) };
    const inference = createInference<number, number>({ name: 'c', versions: { v1: model } });
    await expect(inference.close()).resolves.toBeUndefined();
  });
});
