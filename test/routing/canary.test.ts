import { describe, expect, it } from 'vitest';
import { Canary, runChecks, type CanaryEvents, type CanaryObservation } from '../../src/routing/canary.js';
import type { CanaryOptions } from '../../src/routing/routing-options.js';

function harness(options: Partial<CanaryOptions> = {}) {
  let t = 0;
  const events: { name: keyof CanaryEvents; payload: CanaryEvents[keyof CanaryEvents] }[] = [];
  const canary = new Canary(
    { version: 'v2', minRequestsPerStep: 10, intervalMs: 1000, ...options },
    { defaultBaseline: 'v1', now: () => t, onEvent: (name, payload) => events.push({ name, payload }) },
  );
  const obs = (version: string, over: Partial<CanaryObservation> = {}): CanaryObservation => ({
    version,
    source: 'model',
    latencyMs: 10,
    ...over,
  });
  return {
    canary,
    events,
    advance: (ms: number) => (t += ms),
    now: () => t,
    feed(n: number, version = 'v2', over: Partial<CanaryObservation> = {}) {
      for (let i = 0; i < n; i++) canary.observe(obs(version, over));
    },
  };
}

describe('Canary', () => {
  it('starts at the first step with default steps', () => {
    const { canary } = harness();
    expect(canary.weight).toBe(5);
    expect(canary.steps).toEqual([5, 25, 50, 100]);
    expect(canary.baseline).toBe('v1');
    expect(canary.phase).toBe('progressing');
  });

  it('waits for both minRequestsPerStep and intervalMs before judging a step', () => {
    const h = harness();
    h.feed(50);
    expect(h.canary.weight).toBe(5); // enough calls, not enough time
    h.advance(999);
    h.feed(1);
    expect(h.canary.weight).toBe(5);
    h.advance(1);
    h.feed(1);
    expect(h.canary.weight).toBe(25);
    expect(h.events.map((e) => e.name)).toEqual(['canary-step']);
    expect(h.events[0]!.payload).toMatchObject({ step: 1, weight: 25, previousWeight: 5, version: 'v2', baseline: 'v1' });
    // new window: time alone is not enough
    h.advance(5000);
    h.feed(9);
    expect(h.canary.weight).toBe(25);
    h.feed(1);
    expect(h.canary.weight).toBe(50);
  });

  it('judges a due step on status() without new observations', () => {
    const h = harness();
    h.feed(10);
    h.advance(1000);
    expect(h.canary.status().weight).toBe(25);
  });

  it('promotes after the last step and reports the figures', () => {
    const h = harness({ steps: [10, 100], checks: { maxErrorRate: 0.05 } });
    for (let s = 0; s < 2; s++) {
      h.advance(1000);
      h.feed(10);
    }
    expect(h.canary.phase).toBe('promoted');
    expect(h.canary.active).toBe(false);
    const promoted = h.events.find((e) => e.name === 'canary-promoted')!.payload as CanaryEvents['canary-promoted'];
    expect(promoted).toMatchObject({ version: 'v2', manual: false });
    expect(promoted.canary.requests).toBe(10);
    // observations after the end are ignored
    h.feed(100, 'v2', { source: 'failed' });
    expect(h.events).toHaveLength(2);
  });

  it('rolls back to 0 % after failureLimit failed analyses, with the failed figures', () => {
    const h = harness({ failureLimit: 2, checks: { maxErrorRate: 0.1 } });
    h.advance(1000);
    // 30 % of the canary's calls fail
    for (let i = 0; i < 10; i++) h.canary.observe({ version: 'v2', source: i < 3 ? 'fallback' : 'model', reason: i < 3 ? 'model-error' : undefined, latencyMs: 5 });
    expect(h.canary.phase).toBe('progressing');
    expect(h.canary.status().failures).toBe(1);
    expect(h.canary.status().lastFailedChecks).toEqual([{ check: 'maxErrorRate', limit: 0.1, actual: 0.3 }]);
    expect(h.canary.weight).toBe(5); // stays at the step, measured again
    h.advance(1000);
    for (let i = 0; i < 10; i++) h.canary.observe({ version: 'v2', source: i < 3 ? 'failed' : 'model', latencyMs: 5 });
    expect(h.canary.phase).toBe('rolled-back');
    expect(h.canary.weight).toBe(0);
    const rb = h.events.find((e) => e.name === 'canary-rollback')!.payload as CanaryEvents['canary-rollback'];
    expect(rb).toMatchObject({ cause: 'checks', weight: 5, failures: 2, step: 0 });
    expect(rb.failed[0]).toMatchObject({ check: 'maxErrorRate', actual: 0.3 });
    expect(rb.canary.errors).toBe(3);
  });

  it('counts rejected-output as a fallback but not an error', () => {
    const h = harness({ checks: { maxErrorRate: 0, maxFallbackRate: 0.5 } });
    h.advance(1000);
    h.feed(10, 'v2', { source: 'fallback', reason: 'rejected-output' });
    const rb = h.events[0]!;
    expect(rb.name).toBe('canary-rollback');
    expect((rb.payload as CanaryEvents['canary-rollback']).failed.map((f) => f.check)).toEqual(['maxFallbackRate']);
  });

  it('compares p99 latency with an absolute limit and with the baseline', () => {
    const h = harness({ checks: { maxLatencyP99Ms: 100, maxLatencyRatio: 1.5 } });
    h.feed(20, 'v1', { latencyMs: 10 });
    h.advance(1000);
    h.feed(10, 'v2', { latencyMs: 20 });
    const rb = h.events[0]!.payload as CanaryEvents['canary-rollback'];
    expect(rb.failed).toEqual([{ check: 'maxLatencyRatio', limit: 1.5, actual: 2 }]);
    expect(rb.baselineFigures.requests).toBe(20);
  });

  it('ignores calls of other versions', () => {
    const h = harness();
    h.advance(1000);
    h.feed(100, 'v3');
    expect(h.canary.weight).toBe(5);
    expect(h.canary.status().canary.requests).toBe(0);
  });

  it('pause holds the step but still rolls back on failures; resume moves on', () => {
    const h = harness({ checks: { maxErrorRate: 0.5 }, failureLimit: 1 });
    h.canary.pause();
    expect(h.canary.phase).toBe('paused');
    h.advance(1000);
    h.feed(10);
    expect(h.canary.weight).toBe(5);
    h.advance(1000);
    h.feed(10);
    h.canary.resume();
    expect(h.canary.phase).toBe('progressing');
    expect(h.canary.weight).toBe(25);
    h.canary.pause();
    h.advance(1000);
    h.feed(10, 'v2', { source: 'failed' });
    expect(h.canary.phase).toBe('rolled-back');
  });

  it('abort() rolls back at once; promote() promotes at once; both are final', () => {
    const a = harness();
    a.canary.abort();
    expect(a.canary.weight).toBe(0);
    expect(a.events[0]).toMatchObject({ name: 'canary-rollback', payload: { cause: 'aborted', weight: 5 } });
    a.canary.promote();
    expect(a.canary.phase).toBe('aborted');

    const p = harness();
    p.canary.promote();
    expect(p.canary.phase).toBe('promoted');
    expect(p.events[0]).toMatchObject({ name: 'canary-promoted', payload: { manual: true } });
    p.canary.abort();
    expect(p.canary.phase).toBe('promoted');
  });

  it('keeps a bounded latency sample and an exact count', () => {
    const h = harness({ minRequestsPerStep: 1_000_000 });
    for (let i = 0; i < 20_000; i++) h.canary.observe({ version: 'v2', source: 'model', latencyMs: i % 100 });
    const s = h.canary.status();
    expect(s.canary.requests).toBe(20_000);
    expect(s.canary.latencyP99Ms).toBeGreaterThanOrEqual(95);
  });
});

describe('runChecks', () => {
  const fig = (o: Partial<ReturnType<typeof base>>) => ({ ...base(), ...o });
  const base = () => ({ requests: 10, errors: 0, fallbacks: 0, errorRate: 0, fallbackRate: 0, latencyP99Ms: 10 as number | undefined });
  it('passes checks without data to judge', () => {
    expect(runChecks({ maxLatencyRatio: 1 }, fig({ latencyP99Ms: 50 }), fig({ requests: 0, latencyP99Ms: undefined }))).toEqual([]);
    expect(runChecks({}, fig({ errorRate: 1 }), fig({}))).toEqual([]);
  });
  it('limits are inclusive', () => {
    expect(runChecks({ maxErrorRate: 0.1, maxLatencyP99Ms: 10 }, fig({ errorRate: 0.1 }), fig({}))).toEqual([]);
  });
});
