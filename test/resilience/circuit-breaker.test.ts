import { describe, expect, it } from 'vitest';
import { isModelCallError, type ModelCallError } from '../../src/errors.js';
import type { InferenceEvents } from '../../src/events.js';
import { createInference, type Inference, type InferenceOptions } from '../../src/inference.js';
import { CircuitBreaker, type BreakerStats } from '../../src/resilience/circuit-breaker.js';
import type { Failure } from '../../src/types.js';
import { after, busyWait, deferred, failOnUnhandledRejections, hang, rejectionOf, scriptedModel, sleep } from '../helpers/models.js';

failOnUnhandledRejections();

const FALLBACK = -1;
const fail = (): Promise<number> => Promise.reject(new Error('model down'));
const ok = (x: number): number => x;

type BreakerEvent = { name: 'breaker-open' | 'breaker-half-open' | 'breaker-close'; payload: unknown };

function record(inference: Inference<number, number>): BreakerEvent[] {
  const events: BreakerEvent[] = [];
  for (const name of ['breaker-open', 'breaker-half-open', 'breaker-close'] as const) {
    inference.on(name, (payload: InferenceEvents[typeof name]) => events.push({ name, payload }));
  }
  return events;
}

function build(breaker: InferenceOptions<number, number>['breaker'], over: Partial<InferenceOptions<number, number>> = {}) {
  const model = scriptedModel<number, number>(fail);
  const failures: Failure[] = [];
  const inference = createInference<number, number>({
    name: 'guarded',
    versions: { v1: model },
    timeoutMs: 200,
    breaker,
    fallback: (_input, failure) => {
      failures.push(failure);
      return FALLBACK;
    },
    ...over,
  });
  const events = record(inference);
  return { model, inference, events, failures };
}

const names = (events: BreakerEvent[]) => events.map((e) => e.name);
const stateOf = (inference: Inference<number, number>, version = 'v1') => inference.status().versions[version]!.breaker.state;

async function callTimes(inference: Inference<number, number>, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await inference.infer(i);
}

/** Polls until `predicate` holds (breaker timers are real timers). */
async function until(predicate: () => boolean, timeoutMs = 1000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > end) throw new Error('condition not reached in time');
    await sleep(2);
  }
}

describe('circuit breaker in the pipeline', () => {
  it('stays closed below volumeThreshold, opens once it is reached, then answers circuit-open without calling the model', async () => {
    const { inference, model, events, failures } = build({ volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeoutMs: 10_000 });
    await callTimes(inference, 3);
    expect(stateOf(inference)).toBe('closed');
    expect(events).toEqual([]);
    await inference.infer(3);
    expect(stateOf(inference)).toBe('open');
    expect(events).toEqual([{ name: 'breaker-open', payload: { version: 'v1', cause: 'failures' } }]);
    expect(model.calls).toHaveLength(4);

    model.behave(ok);
    const outcome = await inference.infer(99);
    expect(outcome).toMatchObject({ value: FALLBACK, source: 'fallback', reason: 'circuit-open', attempts: 0 });
    expect(model.calls).toHaveLength(4);
    const error = failures.at(-1)!.error as ModelCallError;
    expect(isModelCallError(error)).toBe(true);
    expect(error.code).toBe('ERR_CIRCUIT_OPEN');
    expect(failures.at(-1)!.attempts).toBe(0);
    const status = inference.status().versions.v1!;
    expect(status.counts.reasons['circuit-open']).toBe(1);
    expect(status.breaker).toMatchObject({ state: 'open', failures: 4 });
    await inference.close();
  });

  it('opens when the failure rate reaches the threshold, not only above it', async () => {
    const half = build({ volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeoutMs: 10_000 });
    half.model.behave(ok);
    await callTimes(half.inference, 2);
    half.model.behave(fail);
    await callTimes(half.inference, 1);
    expect(stateOf(half.inference)).toBe('closed'); // 1 of 3, below volume
    await callTimes(half.inference, 1); // 2 of 4 = 50 %
    expect(stateOf(half.inference)).toBe('open');
    await half.inference.close();

    const all = build({ volumeThreshold: 3, errorThresholdPercentage: 100, resetTimeoutMs: 10_000 });
    await callTimes(all.inference, 3);
    expect(stateOf(all.inference)).toBe('open');
    await all.inference.close();
  });

  it('does not open while the failure rate stays below the threshold', async () => {
    const { inference, model } = build({ volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeoutMs: 10_000 });
    for (let i = 0; i < 12; i++) {
      model.behave(i % 4 === 0 ? fail : ok);
      await inference.infer(i);
    }
    expect(stateOf(inference)).toBe('closed');
    await inference.close();
  });

  it('forgets failures that left the rolling window', async () => {
    const { inference } = build({ volumeThreshold: 2, rollingWindowMs: 100, resetTimeoutMs: 10_000 });
    await inference.infer(1);
    // opossum rotates its buckets with an interval, which a loaded machine delays.
    await until(() => (inference.status().versions.v1!.breaker as BreakerStats).calls === 0, 3000);
    await inference.infer(2);
    expect(stateOf(inference)).toBe('closed');
    await inference.infer(3);
    expect(stateOf(inference)).toBe('open');
    await inference.close();
  });

  it('after resetTimeoutMs lets one probe through; success closes it (events in order)', async () => {
    const { inference, model, events } = build({ volumeThreshold: 2, resetTimeoutMs: 150 });
    await callTimes(inference, 2);
    expect(stateOf(inference)).toBe('open');
    model.behave(ok);
    expect(await inference.infer(1)).toMatchObject({ reason: 'circuit-open' });
    await until(() => stateOf(inference) === 'half-open');
    expect(names(events)).toEqual(['breaker-open', 'breaker-half-open']);
    const probe = await inference.infer(7);
    expect(probe).toMatchObject({ value: 7, source: 'model', attempts: 1 });
    expect(stateOf(inference)).toBe('closed');
    expect(events).toEqual([
      { name: 'breaker-open', payload: { version: 'v1', cause: 'failures' } },
      { name: 'breaker-half-open', payload: { version: 'v1' } },
      { name: 'breaker-close', payload: { version: 'v1' } },
    ]);
    expect(await inference.infer(8)).toMatchObject({ value: 8, source: 'model' });
    await inference.close();
  });

  it('a failed probe re-opens the breaker, which probes again later', async () => {
    const { inference, model, events } = build({ volumeThreshold: 2, resetTimeoutMs: 30 });
    await callTimes(inference, 2);
    await until(() => stateOf(inference) === 'half-open');
    const before = model.calls.length;
    expect(await inference.infer(1)).toMatchObject({ reason: 'model-error', attempts: 1 });
    expect(model.calls.length).toBe(before + 1);
    expect(stateOf(inference)).toBe('open');
    expect(names(events)).toEqual(['breaker-open', 'breaker-half-open', 'breaker-open']);
    model.behave(ok);
    await until(() => stateOf(inference) === 'half-open');
    expect(await inference.infer(5)).toMatchObject({ source: 'model' });
    expect(names(events)).toEqual(['breaker-open', 'breaker-half-open', 'breaker-open', 'breaker-half-open', 'breaker-close']);
    await inference.close();
  });

  it('in half-open only one probe runs; concurrent calls get circuit-open', async () => {
    const { inference, model } = build({ volumeThreshold: 2, resetTimeoutMs: 30 });
    await callTimes(inference, 2);
    await until(() => stateOf(inference) === 'half-open');
    const gate = deferred<number>();
    model.behave(() => gate.promise);
    const probe = inference.infer(1);
    const others = await Promise.all([inference.infer(2), inference.infer(3)]);
    for (const o of others) expect(o).toMatchObject({ reason: 'circuit-open', attempts: 0 });
    gate.resolve(1);
    expect(await probe).toMatchObject({ source: 'model', value: 1 });
    expect(stateOf(inference)).toBe('closed');
    await inference.close();
  });

  it('a half-open probe abandoned by the caller does not close the breaker', async () => {
    const { inference, model, events } = build({ volumeThreshold: 2, resetTimeoutMs: 30 });
    await callTimes(inference, 2);
    await until(() => stateOf(inference) === 'half-open');
    model.behave((_x, ctx) => hang(ctx));
    const controller = new AbortController();
    const probe = inference.infer(1, { signal: controller.signal });
    await sleep(2);
    controller.abort('caller left');
    expect(await rejectionOf(probe)).toBe('caller left');
    await sleep(2);
    expect(names(events)).not.toContain('breaker-close');
    expect(stateOf(inference)).not.toBe('closed');
    // The next probe decides.
    model.behave(ok);
    await until(() => stateOf(inference) === 'half-open');
    expect(await inference.infer(4)).toMatchObject({ source: 'model' });
    expect(stateOf(inference)).toBe('closed');
    await inference.close();
  });

  it('timeouts count as failures', async () => {
    const { inference, model, events } = build({ volumeThreshold: 2, resetTimeoutMs: 10_000 }, { timeoutMs: 15 });
    model.behave((_x, ctx) => hang(ctx));
    await callTimes(inference, 2);
    expect(events).toEqual([{ name: 'breaker-open', payload: { version: 'v1', cause: 'failures' } }]);
    await inference.close();
  });

  it('a blocking run that misses its deadline counts against the breaker', async () => {
    const { inference, model } = build({ volumeThreshold: 2, resetTimeoutMs: 10_000 }, { timeoutMs: 10 });
    model.behave((x) => {
      busyWait(25);
      return x;
    });
    expect(await inference.infer(1)).toMatchObject({ reason: 'timeout', source: 'fallback' });
    expect(inference.status().versions.v1!.breaker).toMatchObject({ failures: 1 });
    await inference.infer(2);
    expect(stateOf(inference)).toBe('open');
    await inference.close();
  });

  it('errors of the caller (input validation) never reach the breaker', async () => {
    const { inference, model } = build(
      { volumeThreshold: 1, resetTimeoutMs: 10_000 },
      { input: { safeParse: (v: unknown) => (typeof v === 'number' && v >= 0 ? { success: true as const, data: v } : { success: false as const, error: { issues: [{ path: [], message: 'negative' }] } }) } },
    );
    model.behave(ok);
    for (let i = 0; i < 5; i++) await rejectionOf(inference.infer(-1));
    expect(stateOf(inference)).toBe('closed');
    expect(inference.status().versions.v1!.breaker).toMatchObject({ calls: 0 });
    await inference.close();
  });

  it('breaker: false never opens', async () => {
    const { inference, model } = build(false);
    await callTimes(inference, 20);
    expect(model.calls).toHaveLength(20);
    expect(stateOf(inference)).toBe('disabled');
    await inference.close();
  });
});

describe('slow calls', () => {
  it('trip the breaker like failures (cause slow-calls); the slow answers themselves are served', async () => {
    const { inference, model, events } = build({ volumeThreshold: 2, slowCallMs: 15, slowCallRatePercent: 50, resetTimeoutMs: 10_000 });
    model.behave((x) => after(25, x));
    expect(await inference.infer(1)).toMatchObject({ source: 'model', value: 1 });
    expect(inference.status().versions.v1!.breaker).toMatchObject({ state: 'closed', slowCalls: 1 });
    expect(await inference.infer(2)).toMatchObject({ source: 'model', value: 2 });
    expect(events).toEqual([{ name: 'breaker-open', payload: { version: 'v1', cause: 'slow-calls' } }]);
    const calls = model.calls.length;
    expect(await inference.infer(3)).toMatchObject({ reason: 'circuit-open', attempts: 0 });
    expect(model.calls).toHaveLength(calls);
    await inference.close();
  });

  it('fast calls and a low slow rate do not trip it', async () => {
    const fast = build({ volumeThreshold: 2, slowCallMs: 200, resetTimeoutMs: 10_000 });
    fast.model.behave(ok);
    await callTimes(fast.inference, 10);
    expect(stateOf(fast.inference)).toBe('closed');
    await fast.inference.close();

    const mixed = build({ volumeThreshold: 4, slowCallMs: 100, slowCallRatePercent: 60, resetTimeoutMs: 10_000 });
    for (let i = 0; i < 4; i++) {
      mixed.model.behave(i % 2 === 0 ? (x) => after(120, x) : ok);
      await mixed.inference.infer(i);
    }
    expect(stateOf(mixed.inference)).toBe('closed'); // 50 % slow < 60 %
    await mixed.inference.close();
  });

  it('after a slow-call trip the half-open probe closes it when fast again', async () => {
    const { inference, model, events } = build({ volumeThreshold: 2, slowCallMs: 15, resetTimeoutMs: 30 });
    model.behave((x) => after(20, x));
    await callTimes(inference, 2);
    expect(stateOf(inference)).toBe('open');
    model.behave(ok);
    await until(() => stateOf(inference) === 'half-open');
    expect(await inference.infer(1)).toMatchObject({ source: 'model' });
    expect(names(events)).toEqual(['breaker-open', 'breaker-half-open', 'breaker-close']);
    expect(events[0]!.payload).toEqual({ version: 'v1', cause: 'slow-calls' });
    await inference.close();
  });
});

describe('breaker isolation', () => {
  it('two inferences built from one options object never share breaker state, and the options are untouched', async () => {
    const model = scriptedModel<number, number>(fail);
    const breaker = { volumeThreshold: 2, resetTimeoutMs: 10_000 };
    const options: InferenceOptions<number, number> = { name: 'shared', versions: { v1: model }, breaker, fallback: () => FALLBACK };
    const keys = Object.keys(breaker).sort();
    const snapshot = JSON.stringify(options.breaker);
    const a = createInference(options);
    const b = createInference(options);
    await callTimes(a, 2);
    expect(stateOf(a)).toBe('open');
    expect(stateOf(b)).toBe('closed');
    model.behave(ok);
    expect(await b.infer(5)).toMatchObject({ source: 'model', value: 5 });
    expect(await a.infer(5)).toMatchObject({ reason: 'circuit-open' });
    // opossum mutates the options object it is given; ours must stay as written.
    expect(Object.keys(breaker).sort()).toEqual(keys);
    expect(JSON.stringify(options.breaker)).toBe(snapshot);
    // A third inference from the same object starts closed.
    const c = createInference(options);
    expect(stateOf(c)).toBe('closed');
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('each version has its own breaker', async () => {
    const v1 = scriptedModel<number, number>(fail);
    const v2 = scriptedModel<number, number>(ok);
    const inference = createInference<number, number>({
      name: 'two',
      versions: { v1, v2 },
      breaker: { volumeThreshold: 2, resetTimeoutMs: 10_000 },
      fallback: () => FALLBACK,
    });
    const events = record(inference);
    await callTimes(inference, 2);
    expect(stateOf(inference, 'v1')).toBe('open');
    expect(stateOf(inference, 'v2')).toBe('closed');
    expect(events.map((e) => e.payload)).toEqual([{ version: 'v1', cause: 'failures' }]);
    expect(await inference.infer(3, { version: 'v2' })).toMatchObject({ source: 'model', version: 'v2' });
    await inference.close();
  });
});

describe('CircuitBreaker', () => {
  it('reports manual open and close, and its state', () => {
    const transitions: [string, string][] = [];
    const breaker = new CircuitBreaker({ resetTimeoutMs: 10_000 }, (state, cause) => transitions.push([state, cause]), () => false);
    expect(breaker.state).toBe('closed');
    breaker.open();
    expect(breaker.state).toBe('open');
    breaker.close();
    expect(breaker.state).toBe('closed');
    expect(transitions).toEqual([
      ['open', 'manual'],
      ['closed', 'failures'],
    ]);
    expect(breaker.stats()).toEqual({ state: 'closed', calls: 0, failures: 0, rejects: 0, slowCalls: 0 });
    breaker.shutdown();
  });

  it('never calls the thunk while open', async () => {
    const breaker = new CircuitBreaker({ resetTimeoutMs: 10_000 }, () => {}, () => false);
    breaker.open();
    let called = false;
    await rejectionOf(
      breaker.fire(async () => {
        called = true;
        return 1;
      }),
    );
    expect(called).toBe(false);
    expect(breaker.stats().rejects).toBe(1);
    breaker.shutdown();
  });
});
