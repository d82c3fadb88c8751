import { describe, expect, it, vi } from 'vitest';
import { OpenFeature as ServerOpenFeature, InMemoryProvider as ServerInMemoryProvider } from '@openfeature/server-sdk';
import { OpenFeature as WebOpenFeature, InMemoryProvider as WebInMemoryProvider } from '@openfeature/web-sdk';
import { isGracefulInferenceError } from '../../src/errors.js';
import { fractionalSplit } from '../../src/routing/fractional.js';
import { Router, type FlagErrorEvent, type RouteDecision, type RouterHost } from '../../src/routing/router.js';
import type { RoutingOptions } from '../../src/routing/routing-options.js';

type In = { tier?: string; amount?: number };

function host<I = In, O = unknown>(
  versions = ['v1', 'v2', 'v3'],
  extra: Partial<RouterHost<I, O>> = {},
): RouterHost<I, O> & { flagErrors: FlagErrorEvent[]; versions: Set<string> } {
  const set = new Set(versions);
  const flagErrors: FlagErrorEvent[] = [];
  return {
    name: 'recommender',
    hasVersion: (v) => set.has(v),
    versionNames: () => [...set],
    onFlagError: (e) => flagErrors.push(e),
    flagErrors,
    versions: set,
    ...extra,
  };
}

const ctx = (targetingKey: string, more: Record<string, unknown> = {}) => ({ targetingKey, ...more });

function sync(d: RouteDecision | Promise<RouteDecision>): RouteDecision {
  // Plain check (no expect) so hot loops stay cheap.
  if (d instanceof Promise) throw new Error('expected a synchronous decision');
  return d;
}

describe('Router: default, override, split', () => {
  it('routes to the default version without routing, with interned decisions', () => {
    const r = new Router<In>(host(), 'v1');
    const a = sync(r.route({}, undefined));
    expect(a).toEqual({ version: 'v1', route: 'default' });
    expect(sync(r.route({}, ctx('u')))).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(r.status().routes.default).toBe(2);
  });

  it('honours an override and rejects unknown versions with ERR_UNKNOWN_VERSION', () => {
    const r = new Router<In>(host(), 'v1', { split: { v1: 100 } });
    expect(sync(r.route({}, undefined, 'v2'))).toEqual({ version: 'v2', route: 'override' });
    try {
      r.route({}, undefined, 'v9');
      expect.unreachable();
    } catch (e) {
      expect(isGracefulInferenceError(e) && e.code).toBe('ERR_UNKNOWN_VERSION');
      expect((e as Error).message).toContain('v9');
    }
  });

  it('splits stickily by context.targetingKey, exactly as flagd would for a flag named after the inference', () => {
    const r = new Router<In>(host(), 'v1', { split: { v1: 90, v2: 10 } });
    const reference = fractionalSplit([
      ['v1', 90],
      ['v2', 10],
    ]);
    let v2 = 0;
    for (let i = 0; i < 20_000; i++) {
      const key = `user-${i}`;
      const d = sync(r.route({}, ctx(key)));
      if (d.route !== 'split' || d.version !== reference.pick('recommender', key)) expect.fail(`key ${key}: ${JSON.stringify(d)}`);
      if (d.version === 'v2') v2++;
    }
    expect(Math.abs(v2 / 200 - 10)).toBeLessThan(1);
    // the same key always lands on the same version, also in a new instance
    const again = new Router<In>(host(), 'v1', { split: { v1: 90, v2: 10 } });
    let differ = 0;
    for (let i = 0; i < 1000; i++) if (sync(again.route({}, ctx(`user-${i}`))).version !== sync(r.route({}, ctx(`user-${i}`))).version) differ++;
    expect(differ).toBe(0);
  });

  it('uses routing.flagKey and routing.key when given', () => {
    const r = new Router<In>(host(), 'v1', {
      split: [
        ['v1', 50],
        ['v2', 50],
      ],
      flagKey: 'shared-flag',
      key: (input) => input.tier,
    });
    const reference = fractionalSplit([
      ['v1', 50],
      ['v2', 50],
    ]);
    for (const k of ['a', 'b', 'c', 'josé', '张伟']) expect(sync(r.route({ tier: k }, undefined)).version).toBe(reference.pick('shared-flag', k));
    expect(r.status()).toMatchObject({ flagKey: 'shared-flag', split: { v1: 50, v2: 50 } });
  });

  it('picks at random without a key', () => {
    const randoms = [0.1, 0.6, 0.4, 0.9];
    let i = 0;
    const r = new Router<In>(host(['v1', 'v2'], { random: () => randoms[i++]! }), 'v1', { split: { v1: 50, v2: 50 } });
    expect([0, 1, 2, 3].map(() => sync(r.route({}, undefined)).version)).toEqual(['v1', 'v2', 'v1', 'v2']);
  });

  it('falls back to the default when the split picks a version that is gone', () => {
    const h = host();
    const r = new Router<In>(h, 'v1', { split: { v2: 1 } });
    h.versions.delete('v2');
    expect(sync(r.route({}, ctx('x')))).toEqual({ version: 'v1', route: 'default' });
  });
});

describe('Router: targeting', () => {
  it('tries JsonLogic rules over { input, context } in order, before the split (synchronously once ready)', async () => {
    const r = new Router<In>(host(), 'v1', {
      split: { v1: 100 },
      targeting: [
        { when: { '==': [{ var: 'context.tier' }, 'beta'] }, version: 'v2' },
        { when: { '>': [{ var: 'input.amount' }, 1000] }, version: 'v3' },
        { when: { var: 'context.list' }, version: 'v2' },
      ],
    });
    await r.ready();
    expect(sync(r.route({ amount: 5000 }, ctx('u', { tier: 'beta' })))).toEqual({ version: 'v2', route: 'targeting' });
    expect(sync(r.route({ amount: 5000 }, ctx('u')))).toEqual({ version: 'v3', route: 'targeting' });
    expect(sync(r.route({ amount: 5 }, ctx('u')))).toEqual({ version: 'v1', route: 'split' });
    // JsonLogic truthiness: an empty array is false
    expect(sync(r.route({}, ctx('u', { list: [] }))).route).toBe('split');
    expect(sync(r.route({}, ctx('u', { list: [1] }))).route).toBe('targeting');
  });
});

describe('Router: canary', () => {
  it('sends the canary its share of traffic, stickily, and keeps earlier users as the share grows', () => {
    const at = (steps: number[]) => new Router<In>(host(), 'v1', { canary: { version: 'v2', steps } });
    const r5 = at([5]);
    const r25 = at([25]);
    let in5 = 0;
    let in25 = 0;
    for (let i = 0; i < 100_000; i++) {
      const c = ctx(`k${i}`);
      const a = sync(r5.route({}, c));
      const b = sync(r25.route({}, c));
      if (a.route === 'canary') {
        in5++;
        if (a.version !== 'v2' || b.route !== 'canary') expect.fail(`key k${i} left the canary when it grew`);
      }
      if (b.route === 'canary') in25++;
    }
    expect(Math.abs(in5 / 1000 - 5)).toBeLessThan(1);
    expect(Math.abs(in25 / 1000 - 25)).toBeLessThan(1);
  });

  it('canary membership does not follow the split buckets', () => {
    const r = new Router<In>(host(), 'v1', { split: { v1: 50, v3: 50 }, canary: { version: 'v2', steps: [50] } });
    const counts: Record<string, number> = { v1: 0, v2: 0, v3: 0 };
    for (let i = 0; i < 20_000; i++) counts[sync(r.route({}, ctx(`k${i}`))).version]!++;
    // independent hashes: the canary takes half of each split arm
    expect(counts.v2! / 200).toBeGreaterThan(48);
    expect(counts.v1! / 200).toBeGreaterThan(23);
    expect(counts.v3! / 200).toBeGreaterThan(23);
  });

  it('a promoted canary becomes the default and the split is dropped', () => {
    let t = 0;
    const events: string[] = [];
    const r = new Router<In>(host(['v1', 'v2'], { now: () => t, onCanaryEvent: (e) => events.push(e) }), 'v1', {
      split: { v1: 100 },
      canary: { version: 'v2', steps: [50, 100], minRequestsPerStep: 5, intervalMs: 10 },
    });
    for (let step = 0; step < 2; step++) {
      t += 10;
      for (let i = 0; i < 5; i++) r.observe({ version: 'v2', source: 'model', latencyMs: 1 });
    }
    expect(events).toEqual(['canary-step', 'canary-promoted']);
    expect(r.defaultVersion).toBe('v2');
    expect(sync(r.route({}, ctx('anyone')))).toEqual({ version: 'v2', route: 'default' });
    expect(r.status()).toMatchObject({ defaultVersion: 'v2', split: {}, canary: { phase: 'promoted' } });
    // the routing in force says so: setting it again keeps the promotion
    expect(r.routing).toMatchObject({ defaultVersion: 'v2' });
    expect(r.routing!.split).toBeUndefined();
    r.setRouting(r.routing);
    expect(sync(r.route({}, ctx('anyone')))).toEqual({ version: 'v2', route: 'default' });
    expect(r.canary!.phase).toBe('promoted');
  });

  it('is fed by settled and failed calls', () => {
    let t = 0;
    const events: string[] = [];
    const r = new Router<In, number>(host<In, number>(['v1', 'v2'], { now: () => t, onCanaryEvent: (e) => events.push(e) }), 'v1', {
      canary: { version: 'v2', steps: [50, 100], minRequestsPerStep: 4, intervalMs: 0, checks: { maxErrorRate: 0.25 } },
    });
    r.settled({}, undefined, { value: 1, source: 'model', version: 'v2', latencyMs: 1 });
    r.settled({}, undefined, { value: 1, source: 'fallback', reason: 'timeout', version: 'v2', latencyMs: 1 });
    r.failed('v2', 'model-error', 1);
    r.settled({}, undefined, { value: 1, source: 'model', version: 'v1', latencyMs: 1 });
    r.settled({}, undefined, { value: 1, source: 'model', version: 'v2', latencyMs: 1 });
    expect(events).toEqual(['canary-rollback']);
    expect(r.status().canary).toMatchObject({ phase: 'rolled-back', lastFailedChecks: [{ check: 'maxErrorRate', actual: 0.5 }] });
  });

  it('a rolled-back canary gets no traffic', () => {
    const r = new Router<In>(host(), 'v1', { canary: { version: 'v2', steps: [100] } });
    expect(sync(r.route({}, ctx('a'))).route).toBe('canary');
    r.canary!.abort();
    expect(sync(r.route({}, ctx('a')))).toEqual({ version: 'v1', route: 'default' });
  });

  it('setRouting keeps the canary state only for the same canary object', () => {
    const canary = { version: 'v2', steps: [10, 100] };
    const r = new Router<In>(host(), 'v1', { canary });
    const first = r.canary;
    r.setRouting({ canary, split: { v1: 1, v3: 1 } });
    expect(r.canary).toBe(first);
    r.setRouting({ canary: { ...canary } });
    expect(r.canary).not.toBe(first);
    r.setRouting(undefined);
    expect(r.canary).toBeUndefined();
    expect(sync(r.route({}, ctx('a'))).route).toBe('default');
  });
});

describe('Router: defaultVersion in the routing', () => {
  it('moves everyone to another version and back', () => {
    const r = new Router<In>(host(), 'v1');
    r.setRouting({ defaultVersion: 'v2' });
    expect(sync(r.route({}, undefined))).toEqual({ version: 'v2', route: 'default' });
    expect(r.versionsInUse()).toEqual(new Set(['v2']));
    r.setRouting(undefined);
    expect(sync(r.route({}, undefined)).version).toBe('v1');
  });

  it('is the default baseline of a canary', () => {
    const r = new Router<In>(host(), 'v1', { defaultVersion: 'v3', canary: { version: 'v2' } });
    expect(r.canary!.baseline).toBe('v3');
  });
});

describe('Router: shadow', () => {
  it('offers settled answers to the challenger and reports the counts', async () => {
    const mismatches: unknown[] = [];
    const r = new Router<number, number>(
      { ...host<number, number>(), runShadow: async (v, input) => (v === 'v2' ? input * 2 : 0), onShadowMismatch: (e) => mismatches.push(e) },
      'v1',
      { shadow: { version: 'v2' } },
    );
    r.settled(1, undefined, { value: 2, source: 'model', version: 'v1', latencyMs: 1 });
    r.settled(2, undefined, { value: 5, source: 'model', version: 'v1', latencyMs: 1 });
    await r.drainShadow();
    expect(r.status().shadow.v2).toMatchObject({ runs: 2, agreements: 1, mismatches: 1 });
    expect(r.status().shadowVersion).toBe('v2');
    expect(mismatches).toEqual([{ version: 'v2', primaryVersion: 'v1', input: 2, primary: 5, shadow: 4 }]);
    r.setRouting(undefined);
    expect(r.status().shadowVersion).toBeUndefined();
    r.settled(2, undefined, { value: 5, source: 'model', version: 'v1', latencyMs: 1 });
    await r.close();
    expect(r.status().shadow.v2!.runs).toBe(2);
  });
});

describe('Router: withoutVersion', () => {
  it('removes a version from the split, targeting and shadow, and aborts its canary', () => {
    const r = new Router<In>(host(), 'v1', {
      split: { v1: 50, v2: 50 },
      targeting: [{ when: true, version: 'v2' }],
      shadow: { version: 'v2' },
      canary: { version: 'v2' },
    });
    expect(r.versionsInUse()).toEqual(new Set(['v1', 'v2']));
    const next = r.withoutVersion('v2')!;
    expect(next.split).toEqual([['v1', 50]]);
    expect(next.targeting).toEqual([]);
    expect(next.shadow).toBeUndefined();
    expect(next.canary).toBeUndefined();
    expect(r.canary!.phase).toBe('aborted');
    r.setRouting(next);
    expect(r.versionsInUse()).toEqual(new Set(['v1']));
  });
});

describe('Router: OpenFeature flag', () => {
  it('takes the version from a server-SDK flag with the context as evaluation context', async () => {
    const provider = new ServerInMemoryProvider({
      'model-version': {
        variants: { old: 'v1', new: 'v2', bogus: 'v9' },
        defaultVariant: 'old',
        disabled: false,
        contextEvaluator: (c) => (c.targetingKey === 'broken' ? 'bogus' : c.tier === 'beta' ? 'new' : 'old'),
      },
    });
    await ServerOpenFeature.setProviderAndWait('router-test', provider);
    const client = ServerOpenFeature.getClient('router-test');
    const h = host();
    const r = new Router<In>(h, 'v1', { flag: { client, key: 'model-version' }, split: { v3: 1 } });
    const d = r.route({}, ctx('u1', { tier: 'beta' }));
    expect(d).toBeInstanceOf(Promise);
    expect(await d).toMatchObject({ version: 'v2', route: 'flag', flag: { key: 'model-version', variant: 'new', reason: 'TARGETING_MATCH', provider: 'in-memory' } });
    expect(await r.route({}, ctx('u1'))).toMatchObject({ version: 'v1', route: 'flag' });
    // unknown version -> static routing + flag-error
    expect(await r.route({}, ctx('broken'))).toEqual({ version: 'v3', route: 'split' });
    expect(h.flagErrors).toEqual([{ flagKey: 'model-version', cause: 'unknown-version', value: 'v9', version: 'v3', route: 'split' }]);
    // missing flag -> provider error code
    const r2 = new Router<In>(h, 'v1', { flag: { client, key: 'no-such-flag' } });
    expect(await r2.route({}, ctx('u1'))).toEqual({ version: 'v1', route: 'default' });
    expect(h.flagErrors[1]).toMatchObject({ cause: 'error', errorCode: 'FLAG_NOT_FOUND', version: 'v1', route: 'default' });
    await ServerOpenFeature.clearProviders();
  });

  it('uses a web-SDK client synchronously, without passing the context', async () => {
    const provider = new WebInMemoryProvider({
      'model-version': { variants: { a: 'v1', b: 'v2' }, defaultVariant: 'a', disabled: false, contextEvaluator: (c) => (c.plan === 'pro' ? 'b' : 'a') },
    });
    await WebOpenFeature.setProviderAndWait('router-web-test', provider);
    await WebOpenFeature.setContext('router-web-test', { plan: 'pro' });
    const client = WebOpenFeature.getClient('router-web-test');
    const r = new Router<In>(host(), 'v1', { flag: { client, key: 'model-version' } });
    expect(sync(r.route({}, ctx('x')))).toMatchObject({ version: 'v2', route: 'flag', flag: { key: 'model-version', variant: 'b' } });
    await WebOpenFeature.clearProviders();
  });

  it('structural clients: getStringValue, throwing and rejecting clients fall back to static routing', async () => {
    const h = host();
    const calls: unknown[][] = [];
    const valueClient = { getStringValue: (...args: unknown[]) => (calls.push(args), Promise.resolve('v3')) };
    const r = new Router<In>(h, 'v1', { flag: { client: valueClient, key: 'k' }, key: (i) => i.tier });
    expect(await r.route({ tier: 'abc' }, { plan: 'x' })).toMatchObject({ version: 'v3', route: 'flag', flag: { key: 'k', variant: undefined, reason: 'UNKNOWN' } });
    expect(calls[0]).toEqual(['k', '', { plan: 'x', targetingKey: 'abc' }]);

    const throwing = { getStringDetails: () => { throw new Error('down'); } };
    const r2 = new Router<In>(h, 'v2', { flag: { client: throwing, key: 'k' } });
    expect(sync(r2.route({}, undefined))).toEqual({ version: 'v2', route: 'default' });
    expect(h.flagErrors.at(-1)).toMatchObject({ cause: 'error', version: 'v2' });

    const rejecting = { getStringDetails: () => Promise.reject(new Error('timeout')) };
    const r3 = new Router<In>(h, 'v2', { flag: { client: rejecting, key: 'k' } });
    expect(await r3.route({}, undefined)).toEqual({ version: 'v2', route: 'default' });

    const erroring = { getStringDetails: () => ({ value: '', reason: 'ERROR', errorCode: 'PARSE_ERROR', errorMessage: 'bad' }) };
    const r4 = new Router<In>(h, 'v2', { flag: { client: erroring, key: 'k' } });
    expect(sync(r4.route({}, undefined))).toEqual({ version: 'v2', route: 'default' });
    expect(h.flagErrors.at(-1)).toMatchObject({ cause: 'error', errorCode: 'PARSE_ERROR', error: 'bad' });
  });

  it('targeting and the canary come before the flag', async () => {
    const client = { getStringDetails: vi.fn(() => ({ value: 'v3' })) };
    const r = new Router<In>(host(), 'v1', {
      flag: { client, key: 'k' },
      targeting: [{ when: { '==': [{ var: 'input.tier' }, 'vip'] }, version: 'v1' }],
      canary: { version: 'v2', steps: [100] },
    });
    await r.ready();
    expect(sync(r.route({ tier: 'vip' }, undefined)).route).toBe('targeting');
    expect(sync(r.route({}, undefined)).route).toBe('canary');
    expect(client.getStringDetails).not.toHaveBeenCalled();
  });
});

describe('Router: hot path', () => {
  it('routes a split call cheaply (about 0.1 µs here), with no promise', () => {
    const r = new Router<In>(host(), 'v1', { split: { v1: 90, v2: 10 } } satisfies RoutingOptions<In>);
    const contexts = Array.from({ length: 1000 }, (_, i) => ctx(`user-${i}`));
    let sink = 0;
    const t0 = performance.now();
    for (let round = 0; round < 100; round++) for (const c of contexts) sink += sync(r.route({}, c)).version === 'v2' ? 1 : 0;
    const perCall = ((performance.now() - t0) * 1000) / 100_000;
    expect(sink).toBeGreaterThan(0);
    // Wide margin for slow CI machines.
    expect(perCall).toBeLessThan(5);
  });
});
