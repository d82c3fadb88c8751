/**
 * Fault injection for the demo: wraps a model so that, by phase, some calls
 * fail, hang past the deadline or return garbage, the way production models
 * misbehave (a bad deploy, a saturated GPU node, a NaN from a feature bug).
 */
import type { Model, RunContext } from '../../src/index.js';

/** How a phase of the run misbehaves (each a probability per call). */
export interface FaultProfile {
  readonly errorRate: number;
  readonly slowRate: number;
  /** Extra delay of a slow call, in milliseconds. */
  readonly slowMs: number;
  /** Probability of a corrupted output (NaN risk). */
  readonly garbageRate: number;
}

/** Deterministic PRNG (mulberry32) so every demo run tells the same story. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class InjectedFault extends Error {
  override name = 'InjectedFault';
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    // The pipeline aborts ctx.signal at the deadline: stop waiting like a well-behaved client would.
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });

/**
 * Wraps `model`; `profile()` is read on every call so the faults can change
 * over the run.
 */
export function withFaults<I, O extends { risk: number }>(
  model: Model<I, O>,
  profile: () => FaultProfile,
  random: () => number,
): Model<I, O> {
  return {
    kind: `${model.kind}+faults`,
    load: (o) => model.load(o),
    close: () => model.close(),
    async run(input: I, ctx: RunContext): Promise<O> {
      const p = profile();
      const r = random();
      if (r < p.errorRate) throw new InjectedFault('upstream model server returned 503');
      if (r < p.errorRate + p.slowRate) await sleep(p.slowMs, ctx.signal);
      const out = await model.run(input, ctx);
      if (random() < p.garbageRate) return { ...out, risk: Number.NaN };
      return out;
    },
  };
}
