import { describe, expect, it } from 'vitest';
import { isConfigurationError, type ConfigurationError } from '../../src/errors.js';
import { validateRouting } from '../../src/routing/routing-schema.js';

const ctx = { versions: ['v1', 'v2', 'v3'], defaultVersion: 'v1' };

function issues(routing: unknown): { path: string; message: string }[] {
  try {
    validateRouting(routing, ctx);
  } catch (e) {
    expect(isConfigurationError(e)).toBe(true);
    return (e as ConfigurationError).issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  }
  return [];
}

describe('validateRouting', () => {
  it('accepts a full, valid routing and returns the same object', () => {
    const routing = {
      split: { v1: 90, v2: 10 },
      key: () => 'k',
      flagKey: 'flag',
      targeting: [{ when: { '==': [{ var: 'context.tier' }, 'beta'] }, version: 'v3' }],
      flag: { client: { getStringDetails: () => ({ value: 'v1' }) }, key: 'model-version' },
      shadow: { version: 'v3', sampleRate: 0.1, maxConcurrent: 2, compare: () => true },
      canary: {
        version: 'v2',
        baseline: 'v1',
        steps: [5, 25, 50, 100],
        minRequestsPerStep: 50,
        intervalMs: 0,
        checks: { maxErrorRate: 0.05, maxFallbackRate: 0.1, maxLatencyP99Ms: 200, maxLatencyRatio: 1.5 },
        failureLimit: 2,
      },
    };
    expect(validateRouting(routing, ctx)).toBe(routing);
    expect(issues({ split: [['v1', 1], ['v2', 0]] })).toEqual([]);
    expect(issues({})).toEqual([]);
  });

  it('reports unknown versions with their path everywhere', () => {
    expect(
      issues({
        split: { v1: 50, v9: 50 },
        targeting: [{ when: true, version: 'v1' }, { when: true, version: 'nope' }],
        shadow: { version: 'v8' },
        canary: { version: 'v7', baseline: 'v6' },
      }),
    ).toEqual([
      { path: 'routing.split.v9', message: 'unknown version "v9" (versions: v1, v2, v3)' },
      { path: 'routing.targeting.1.version', message: 'unknown version "nope" (versions: v1, v2, v3)' },
      { path: 'routing.shadow.version', message: 'unknown version "v8" (versions: v1, v2, v3)' },
      { path: 'routing.canary.version', message: 'unknown version "v7" (versions: v1, v2, v3)' },
      { path: 'routing.canary.baseline', message: 'unknown version "v6" (versions: v1, v2, v3)' },
    ]);
    expect(issues({ split: [['v1', 1], ['v4', 1]] })).toEqual([{ path: 'routing.split.1', message: 'unknown version "v4" (versions: v1, v2, v3)' }]);
  });

  it('checks split weights', () => {
    expect(issues({ split: { v1: 1.5 } })[0]).toMatchObject({ path: 'routing.split.v1', message: expect.stringContaining('non-negative integers') });
    expect(issues({ split: { v1: -1 } })[0]!.path).toBe('routing.split.v1');
    expect(issues({ split: { v1: 0, v2: 0 } })).toEqual([{ path: 'routing.split', message: 'the weights must not all be 0' }]);
    expect(issues({ split: {} })[0]!.message).toContain('at least one');
    expect(issues({ split: { v1: 2 ** 31, v2: 1 } })[0]!.message).toContain('at most');
    expect(issues({ split: [['v1', 1], ['v1', 2]] })[0]!.message).toContain('twice');
    expect(issues({ split: 'v1' })[0]!.message).toContain('expected { version: weight');
    expect(issues({ split: [['v1']] })[0]).toMatchObject({ path: 'routing.split.0', message: 'expected a [version, weight] pair' });
  });

  it('validates targeting conditions as JsonLogic, with the path inside the condition', () => {
    const found = issues({ targeting: [{ when: { and: [{ '==': [1, 1] }, { nope: [] }] }, version: 'v2' }] });
    expect(found).toEqual([{ path: 'routing.targeting.0.when.and.1', message: 'unknown operator "nope"' }]);
    expect(issues({ targeting: [{ version: 'v2' }] })[0]!.path).toBe('routing.targeting.0.when');
    expect(issues({ targeting: [{ when: true, version: 'v2', extra: 1 }] })[0]!.message).toContain('extra');
  });

  it('checks the flag client, shadow and canary fields', () => {
    expect(issues({ flag: { client: {}, key: 'k' } })[0]).toMatchObject({ path: 'routing.flag.client', message: expect.stringContaining('OpenFeature client') });
    expect(issues({ flag: { client: { getStringValue: () => '' } } })[0]!.path).toBe('routing.flag.key');
    expect(issues({ shadow: { version: 'v2', sampleRate: 2 } })[0]!.path).toBe('routing.shadow.sampleRate');
    expect(issues({ shadow: { version: 'v2', maxConcurrent: 0 } })[0]!.path).toBe('routing.shadow.maxConcurrent');
    expect(issues({ canary: { version: 'v2', steps: [5, 50, 25] } })).toEqual([{ path: 'routing.canary.steps.2', message: 'steps must increase' }]);
    expect(issues({ canary: { version: 'v2', steps: [0, 100] } })[0]!.path).toBe('routing.canary.steps.0');
    expect(issues({ canary: { version: 'v2', steps: [150] } })[0]!.path).toBe('routing.canary.steps.0');
    expect(issues({ canary: { version: 'v2', checks: { maxErrorRate: 5 } } })[0]!.path).toBe('routing.canary.checks.maxErrorRate');
    expect(issues({ canary: { version: 'v2', checks: { maxLatency: 5 } } })[0]!.path).toBe('routing.canary.checks');
    expect(issues({ canary: { version: 'v2', failureLimit: 0 } })[0]!.path).toBe('routing.canary.failureLimit');
    expect(issues({ canary: { version: 'v1' } })).toEqual([{ path: 'routing.canary.version', message: 'the canary must differ from its baseline ("v1")' }]);
    expect(issues({ canary: { version: 'v2', baseline: 'v2' } })[0]!.path).toBe('routing.canary.baseline');
    expect(issues({ key: 'targetingKey' })[0]!.path).toBe('routing.key');
    expect(issues({ splits: {} })[0]!.message).toContain('splits');
  });

  it('checks routing.defaultVersion, and requires it when the inference default is gone', () => {
    expect(issues({ defaultVersion: 'v2', canary: { version: 'v1' } })).toEqual([]);
    expect(issues({ defaultVersion: 'v2', canary: { version: 'v2' } })).toEqual([
      { path: 'routing.canary.version', message: 'the canary must differ from its baseline ("v2")' },
    ]);
    expect(issues({ defaultVersion: 'v0' })[0]!.path).toBe('routing.defaultVersion');
    try {
      validateRouting({}, { versions: ['v2'], defaultVersion: 'v1' });
      expect.unreachable();
    } catch (e) {
      expect((e as ConfigurationError).issues[0]).toMatchObject({ path: ['routing', 'defaultVersion'], message: expect.stringContaining('required') });
    }
  });

  it('prefixes paths and names what was validated', () => {
    try {
      validateRouting({ split: { v9: 1 } }, ctx, 'setRouting(routing)', []);
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toBe('Invalid setRouting(routing): split.v9: unknown version "v9" (versions: v1, v2, v3)');
    }
  });
});
