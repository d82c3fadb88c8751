import { afterEach, describe, expect, it } from 'vitest';
import { createInference, type Inference } from '../../src/inference.js';
import { functionModel } from '../../src/models/function-model.js';
import { isConfigurationError, isGracefulInferenceError, type ConfigurationError } from '../../src/errors.js';
import { fractionalSplit } from '../../src/routing/fractional.js';
import type { Model, Outcome } from '../../src/types.js';
import type { CallObserver, Instrumentation } from '../../src/telemetry/instrumentation.js';

type In = { x: number };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A model answering its own name, with optional behaviour. */
function named(name: string, behave?: (input: In) => void | Promise<void>): Model<In, string> {
  return functionModel(async (input: In) => {
    await behave?.(input);
    return name;
  });
}

const open: Inference<In, string>[] = [];
function track<T extends Inference<In, string>>(i: T): T {
  open.push(i);
  return i;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((i) => i.close()));
});

async function inBatches<T>(n: number, batch: number, f: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let start = 0; start < n; start += batch) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - start) }, (_, k) => f(start + k)))));
  }
  return out;
}

describe('routing through createInference', () => {
  it('splits 100,000 keys within 1 percentage point and says version and route', async () => {
    const scorer = track(
      createInference<In, string>({
        name: 'recommender',
        versions: { v1: named('v1'), v2: named('v2'), v3: named('v3') },
        routing: { split: { v1: 70, v2: 20, v3: 10 } },
      }),
    );
    const counts: Record<string, number> = { v1: 0, v2: 0, v3: 0 };
    await inBatches(100_000, 5_000, async (i) => {
      const out = await scorer.infer({ x: i }, { context: { targetingKey: `user-${i}` } });
      if (out.route !== 'split' || out.value !== out.version) throw new Error(`unexpected outcome ${JSON.stringify(out)}`);
      counts[out.version]!++;
    });
    expect(Math.abs(counts.v1! / 1000 - 70)).toBeLessThan(1);
    expect(Math.abs(counts.v2! / 1000 - 20)).toBeLessThan(1);
    expect(Math.abs(counts.v3! / 1000 - 10)).toBeLessThan(1);
    expect(scorer.status().routing.routes.split).toBe(100_000);
  });

  it('is sticky across calls and across a new instance, and agrees with flagd bucketing (non-ASCII keys too)', async () => {
    const make = () =>
      track(
        createInference<In, string>({
          name: 'recommender',
          versions: { v1: named('v1'), v2: named('v2') },
          routing: { split: { v1: 50, v2: 50 } },
        }),
      );
    const a = make();
    const b = make();
    const reference = fractionalSplit([
      ['v1', 50],
      ['v2', 50],
    ]);
    const keys = [...Array.from({ length: 500 }, (_, i) => `k${i}`), 'josé', 'Zoë', '张伟', 'Müller', '😀user', 'محمد'];
    for (const key of keys) {
      const context = { targetingKey: key };
      const [first, again, other] = await Promise.all([a.infer({ x: 1 }, { context }), a.infer({ x: 2 }, { context }), b.infer({ x: 3 }, { context })]);
      if (first.version !== again.version || first.version !== other.version || first.version !== reference.pick('recommender', key)) {
        expect.fail(`key ${key} moved: ${first.version} / ${again.version} / ${other.version}`);
      }
    }
    // values from an independent Python implementation hashing UTF-8 bytes
    const expected: Record<string, string> = { josé: 'v2', Zoë: 'v1', 张伟: 'v1', Müller: 'v2', '😀user': 'v1', محمد: 'v1' };
    for (const [key, version] of Object.entries(expected)) {
      expect((await a.infer({ x: 0 }, { context: { targetingKey: key } })).version, key).toBe(version);
    }
  });

  it('routes by targeting, override and default, and rejects an unknown override', async () => {
    const scorer = track(
      createInference<In, string>({
        name: 'recommender',
        versions: { v1: named('v1'), v2: named('v2'), v3: named('v3') },
        routing: { targeting: [{ when: { '>': [{ var: 'input.x' }, 100] }, version: 'v3' }] },
      }),
    );
    expect(await scorer.infer({ x: 500 })).toMatchObject({ version: 'v3', route: 'targeting', value: 'v3' });
    expect(await scorer.infer({ x: 5 })).toMatchObject({ version: 'v1', route: 'default' });
    expect(await scorer.infer({ x: 500 }, { version: 'v2' })).toMatchObject({ version: 'v2', route: 'override' });
    await expect(scorer.infer({ x: 1 }, { version: 'v9' })).rejects.toMatchObject({ code: 'ERR_UNKNOWN_VERSION' });
  });

  it('reports routing misconfiguration at construction with the path of the bad field', () => {
    try {
      createInference<In, string>({
        name: 'recommender',
        versions: { v1: named('v1'), v2: named('v2') },
        routing: { split: { v1: 50, v9: 50 }, canary: { version: 'v2', steps: [50, 10] } },
      });
      expect.unreachable();
    } catch (e) {
      expect(isConfigurationError(e)).toBe(true);
      expect((e as ConfigurationError).issues.map((i) => i.path.join('.'))).toEqual(['routing.split.v9', 'routing.canary.steps.1']);
    }
  });

  it('takes the version from a flag and reports flag errors', async () => {
    let answer: unknown = { value: 'v2' };
    const client = {
      getStringDetails: async () => {
        if (answer instanceof Error) throw answer;
        return answer as { value: string };
      },
    };
    const scorer = track(
      createInference<In, string>({
        name: 'recommender',
        versions: { v1: named('v1'), v2: named('v2') },
        routing: { flag: { client, key: 'model-version' } },
      }),
    );
    const errors: unknown[] = [];
    scorer.on('flag-error', (e) => errors.push(e));
    expect(await scorer.infer({ x: 1 })).toMatchObject({ version: 'v2', route: 'flag' });
    answer = { value: 'v7' };
    expect(await scorer.infer({ x: 1 })).toMatchObject({ version: 'v1', route: 'default' });
    answer = new Error('provider down');
    expect(await scorer.infer({ x: 1 })).toMatchObject({ version: 'v1', route: 'default' });
    expect(errors).toMatchObject([
      { cause: 'unknown-version', value: 'v7', version: 'v1' },
      { cause: 'error', version: 'v1' },
    ]);
  });
});

describe('canary through createInference', () => {
  it('rolls back a canary that fails 30 % of its calls, with the figures that failed', async () => {
    let n = 0;
    const scorer = track(
      createInference<In, string>({
        name: 'recommender',
        versions: {
          v1: named('v1'),
          v2: named('v2', () => {
            if (n++ % 10 < 3) throw new Error('bad canary');
          }),
        },
        fallback: () => 'rules',
        routing: {
          canary: { version: 'v2', steps: [20, 50, 100], minRequestsPerStep: 50, intervalMs: 0, checks: { maxErrorRate: 0.05 }, failureLimit: 2 },
        },
      }),
    );
    const events: string[] = [];
    const rollbacks: unknown[] = [];
    scorer.on('canary-step', () => events.push('step'));
    scorer.on('canary-promoted', () => events.push('promoted'));
    scorer.on('canary-rollback', (e) => {
      events.push('rollback');
      rollbacks.push(e);
    });
    let i = 0;
    while (events.length === 0 && i < 5_000) {
      await scorer.infer({ x: i }, { context: { targetingKey: `u${i}` } });
      i++;
    }
    expect(events).toEqual(['rollback']);
    expect(rollbacks[0]).toMatchObject({ version: 'v2', baseline: 'v1', cause: 'checks', weight: 20, failures: 2 });
    const failed = (rollbacks[0] as { failed: { check: string; actual: number }[] }).failed;
    expect(failed).toHaveLength(1);
    expect(failed[0]!.check).toBe('maxErrorRate');
    expect(failed[0]!.actual).toBeCloseTo(0.3, 1);
    expect(scorer.status().routing.canary).toMatchObject({ phase: 'rolled-back', weight: 0 });
    // nothing reaches the canary any more
    const after = await inBatches(500, 100, (k) => scorer.infer({ x: k }, { context: { targetingKey: `after-${k}` } }));
    expect(after.every((o) => o.version === 'v1' && o.route === 'default')).toBe(true);
  });

  it('promotes a healthy canary step by step; it becomes the default', async () => {
    const scorer = track(
      createInference<In, string>({
        name: 'recommender',
        versions: { v1: named('v1'), v2: named('v2') },
        routing: {
          split: { v1: 100 },
          canary: {
            version: 'v2',
            steps: [10, 50, 100],
            minRequestsPerStep: 30,
            intervalMs: 0,
            checks: { maxErrorRate: 0.01, maxFallbackRate: 0.01, maxLatencyP99Ms: 1_000, maxLatencyRatio: 50 },
          },
        },
      }),
    );
    const events: { name: string; weight?: number }[] = [];
    scorer.on('canary-step', (e) => events.push({ name: 'step', weight: e.weight }));
    scorer.on('canary-promoted', () => events.push({ name: 'promoted' }));
    scorer.on('canary-rollback', () => events.push({ name: 'rollback' }));
    let i = 0;
    const routes = new Set<string>();
    while (!events.some((e) => e.name !== 'step') && i < 5_000) {
      const out = await scorer.infer({ x: i }, { context: { targetingKey: `u${i}` } });
      routes.add(out.route);
      i++;
    }
    expect(events).toEqual([{ name: 'step', weight: 50 }, { name: 'step', weight: 100 }, { name: 'promoted' }]);
    expect(routes).toEqual(new Set(['canary', 'split']));
    const status = scorer.status();
    expect(status.defaultVersion).toBe('v2');
    expect(status.routing.canary).toMatchObject({ phase: 'promoted' });
    expect(scorer.routing).toMatchObject({ defaultVersion: 'v2' });
    expect(await scorer.infer({ x: 1 }, { context: { targetingKey: 'anyone' } })).toMatchObject({ version: 'v2', route: 'default' });
  });

  it('pause, resume, abort and promote through inference.canary', async () => {
    const scorer = track(
      createInference<In, string>({
        name: 'recommender',
        versions: { v1: named('v1'), v2: named('v2') },
        routing: { canary: { version: 'v2', steps: [30, 100], minRequestsPerStep: 5, intervalMs: 0 } },
      }),
    );
    expect(scorer.canary.pause()).toBe(true);
    await inBatches(200, 50, (k) => scorer.infer({ x: k }, { context: { targetingKey: `p${k}` } }));
    expect(scorer.canary.status()).toMatchObject({ phase: 'paused', weight: 30 });
    expect(scorer.canary.resume()).toBe(true);
    expect(scorer.canary.status()).toMatchObject({ phase: 'progressing', weight: 100 });
    expect(scorer.canary.promote()).toBe(true);
    expect(scorer.status().defaultVersion).toBe('v2');
    expect(scorer.canary.abort()).toBe(false);

    const other = track(
      createInference<In, string>({
        name: 'other',
        versions: { v1: named('v1'), v2: named('v2') },
        routing: { canary: { version: 'v2', steps: [100] } },
      }),
    );
    expect(await other.infer({ x: 1 })).toMatchObject({ version: 'v2', route: 'canary' });
    expect(other.canary.abort()).toBe(true);
    expect(await other.infer({ x: 1 })).toMatchObject({ version: 'v1', route: 'default' });
    const plain = track(createInference<In, string>({ name: 'plain', versions: { v1: named('v1') } }));
    expect(plain.canary.pause()).toBe(false);
    expect(plain.canary.status()).toBeUndefined();
  });
});

describe('shadow through createInference', () => {
  it('never delays the caller, even with a slow or thread-blocking challenger, and counts agreement', async () => {
    const scorer = track(
      createInference<In, string>({
        name: 'recommender',
        timeoutMs: 2_000,
        versions: {
          v1: functionModel(async (i: In) => (i.x % 2 === 0 ? 'even' : 'odd')),
          slow: functionModel(async (i: In) => {
            await sleep(150);
            return i.x % 4 === 0 ? 'even' : 'odd';
          }),
          blocking: functionModel((i: In) => {
            const until = performance.now() + 120;
            while (performance.now() < until) {
              /* a native run blocks the thread like this */
            }
            return i.x % 2 === 0 ? 'even' : 'odd';
          }),
        },
        routing: { shadow: { version: 'slow', maxConcurrent: 100 } },
      }),
    );
    const mismatches: unknown[] = [];
    scorer.on('shadow-mismatch', (e) => mismatches.push(e));
    const t0 = performance.now();
    const outs = await Promise.all(Array.from({ length: 8 }, (_, x) => scorer.infer({ x })));
    expect(performance.now() - t0).toBeLessThan(100);
    expect(outs.map((o) => o.version)).toEqual(Array(8).fill('v1'));
    await waitFor(() => scorer.status().routing.shadow.slow?.inflight === 0);
    expect(scorer.status().routing.shadow.slow).toMatchObject({ runs: 8, agreements: 6, mismatches: 2, errors: 0, dropped: 0 });
    expect(mismatches).toHaveLength(2);
    expect(mismatches[0]).toMatchObject({ version: 'slow', primaryVersion: 'v1' });

    scorer.setRouting({ shadow: { version: 'blocking' } });
    for (let x = 0; x < 3; x++) {
      const t = performance.now();
      await scorer.infer({ x });
      // The challenger blocks the thread for 120 ms per call; none of it may reach the caller.
      expect(performance.now() - t).toBeLessThan(80);
    }
    await waitFor(() => scorer.status().routing.shadow.blocking?.inflight === 0);
    expect(scorer.status().routing.shadow.blocking).toMatchObject({ runs: 3, agreements: 3 });
  });

  it('bounds shadow work and keeps shadow errors away from the caller', async () => {
    const scorer = track(
      createInference<In, string>({
        name: 'recommender',
        versions: {
          v1: named('v1'),
          broken: functionModel(async () => {
            await sleep(30);
            throw new Error('challenger crashed');
          }),
        },
        routing: { shadow: { version: 'broken', maxConcurrent: 2 } },
      }),
    );
    const outs = await Promise.all(Array.from({ length: 10 }, (_, x) => scorer.infer({ x })));
    expect(outs.every((o) => o.source === 'model' && o.version === 'v1')).toBe(true);
    await waitFor(() => scorer.status().routing.shadow.broken?.inflight === 0);
    expect(scorer.status().routing.shadow.broken).toMatchObject({ runs: 2, errors: 2, dropped: 8 });
  });
});

describe('hot swap', () => {
  it('deploys, switches and retires under concurrent load without losing or failing a request', async () => {
    let v1Inflight = 0;
    let v1InflightAtClose = -1;
    const v1 = functionModel(
      async () => {
        v1Inflight++;
        await sleep(Math.random() * 4);
        v1Inflight--;
        return 'v1';
      },
      { close: () => void (v1InflightAtClose = v1Inflight) },
    );
    let warmed = 0;
    const v2 = functionModel(async () => {
      await sleep(Math.random() * 4);
      return 'v2';
    }, { load: () => sleep(20) });
    const v2Warm: Model<In, string> = {
      ...v2,
      run: (input, ctx) => {
        if (input.x < 0) warmed++;
        return v2.run(input, ctx);
      },
    };
    // No fallback: any failure would reject the call.
    const scorer = track(createInference<In, string>({ name: 'recommender', timeoutMs: 1_000, versions: { v1 } }));
    const before = scorer.routing;

    let stop = false;
    const outcomes: Outcome<string>[] = [];
    const errors: unknown[] = [];
    const worker = async (w: number) => {
      for (let k = 0; !stop; k++) {
        try {
          outcomes.push(await scorer.infer({ x: k }, { context: { targetingKey: `w${w}-${k % 50}` } }));
        } catch (e) {
          errors.push(e);
        }
      }
    };
    const load = Promise.all(Array.from({ length: 32 }, (_, w) => worker(w)));
    await sleep(30);
    await scorer.deploy('v2', v2Warm, { warmup: [{ x: -1 }, { x: -2 }] });
    expect(warmed).toBe(2);
    await sleep(20);
    scorer.setRouting({ split: { v1: 50, v2: 50 } });
    await sleep(30);
    scorer.setRouting({ defaultVersion: 'v2' });
    await scorer.retire('v1');
    expect(v1InflightAtClose).toBe(0);
    const retiredAt = outcomes.length;
    await sleep(30);
    stop = true;
    await load;

    expect(errors).toEqual([]);
    expect(outcomes.every((o) => o.source === 'model')).toBe(true);
    const versions = new Set(outcomes.map((o) => o.version));
    expect(versions).toEqual(new Set(['v1', 'v2']));
    expect(outcomes.slice(retiredAt).every((o) => o.version === 'v2')).toBe(true);
    expect(outcomes.some((o) => o.route === 'split')).toBe(true);
    expect(Object.keys(scorer.status().versions)).toEqual(['v2']);
    await expect(scorer.infer({ x: 1 }, { version: 'v1' })).rejects.toMatchObject({ code: 'ERR_UNKNOWN_VERSION' });
    expect(before).toBeUndefined();
  });

  it('rolls back with setRouting to the previous routing', async () => {
    const scorer = track(
      createInference<In, string>({
        name: 'recommender',
        versions: { v1: named('v1'), v2: named('v2') },
        routing: { split: { v1: 90, v2: 10 } },
      }),
    );
    const previous = scorer.routing;
    scorer.setRouting({ defaultVersion: 'v2' });
    expect((await scorer.infer({ x: 1 }, { context: { targetingKey: 'a' } })).version).toBe('v2');
    scorer.setRouting(previous);
    expect(await scorer.infer({ x: 1 }, { context: { targetingKey: 'a' } })).toMatchObject({ route: 'split' });
    expect(() => scorer.setRouting({ split: { v3: 1 } })).toThrow(/routing\.split\.v3|split\.v3/);
  });

  it('refuses bad deploys and retires, and a failed warmup leaves the version out', async () => {
    const scorer = track(
      createInference<In, string>({
        name: 'recommender',
        versions: { v1: named('v1') },
      }),
    );
    await expect(scorer.deploy('v1', named('again'))).rejects.toSatisfy(isGracefulInferenceError);
    await expect(scorer.retire('v1')).rejects.toSatisfy(isGracefulInferenceError);
    await expect(scorer.retire('nope')).rejects.toMatchObject({ code: 'ERR_UNKNOWN_VERSION' });
    let closed = false;
    const broken = functionModel(
      async () => {
        throw new Error('cannot warm');
      },
      { close: () => void (closed = true) },
    );
    await expect(scorer.deploy('v2', broken, { warmup: [{ x: 1 }] })).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD' });
    expect(closed).toBe(true);
    expect(Object.keys(scorer.status().versions)).toEqual(['v1']);
    await expect(scorer.infer({ x: 1 }, { version: 'v2' })).rejects.toMatchObject({ code: 'ERR_UNKNOWN_VERSION' });
  });
});

describe('routing telemetry', () => {
  it('reports flag evaluations, shadow results with spans, and canary weight and transitions', async () => {
    const log: unknown[][] = [];
    const observer: CallObserver = {
      routed: (...args) => log.push(['routed', ...args]),
      attemptStart() {},
      attemptEnd() {},
      fallbackStart() {},
      end() {},
      fail() {},
      shadowStart: (version) => {
        log.push(['shadowStart', version]);
        return (result) => log.push(['shadowEnd', version, result]);
      },
    };
    const instrumentation: Instrumentation = {
      startCall: () => observer,
      breakerTransition() {},
      shadowResult: (...args) => log.push(['shadowResult', ...args]),
      record: (...args) => log.push(['record', ...args]),
    };
    const client = {
      metadata: { providerMetadata: { name: 'test-provider' } },
      getStringDetails: async () => ({ value: 'v1', variant: 'stable', reason: 'TARGETING_MATCH' }),
    };
    const scorer = track(
      createInference<In, string>({
        name: 'recommender',
        instrumentation,
        versions: { v1: named('v1'), v2: named('v2'), v3: named('v3') },
        routing: { flag: { client, key: 'model-version' }, shadow: { version: 'v3', compare: () => false } },
      }),
    );
    await scorer.infer({ x: 1 });
    await waitFor(() => log.some((e) => e[0] === 'shadowEnd'));
    expect(log).toEqual([
      ['routed', 'v1', 'flag', { key: 'model-version', variant: 'stable', reason: 'TARGETING_MATCH', provider: 'test-provider' }],
      ['shadowStart', 'v3'],
      ['shadowResult', 'recommender', 'v3', 'disagree'],
      ['shadowEnd', 'v3', 'disagree'],
    ]);

    log.length = 0;
    scorer.setRouting({ canary: { version: 'v2', steps: [40, 100], minRequestsPerStep: 1, intervalMs: 0 } });
    for (let i = 0; log.filter((e) => e[0] === 'record').length < 5 && i < 1000; i++) await scorer.infer({ x: i }, { context: { targetingKey: `t${i}` } });
    const records = log.filter((e) => e[0] === 'record').map((e) => e.slice(2));
    expect(records).toEqual([
      ['inference.canary.weight', 40, { 'inference.version': 'v2', 'inference.canary.baseline': 'v1' }],
      ['inference.canary.weight', 100, { 'inference.version': 'v2', 'inference.canary.baseline': 'v1' }],
      ['inference.canary.transitions', 1, { 'inference.version': 'v2', 'inference.canary.transition': 'step' }],
      ['inference.canary.weight', 100, { 'inference.version': 'v2', 'inference.canary.baseline': 'v1' }],
      ['inference.canary.transitions', 1, { 'inference.version': 'v2', 'inference.canary.transition': 'promotion' }],
    ]);
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 3_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}
