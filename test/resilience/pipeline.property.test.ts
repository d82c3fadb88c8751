/**
 * Property: whatever the model and the fallbacks do, every call settles with
 * an outcome or a documented error, on time. Random mixes of model behaviours
 * (resolve, reject, hang, slow, blocking, NaN output, sync throws of any
 * value...) run concurrently through random configurations (breaker, retry,
 * concurrency bound, accept, fallback chain).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ModelCallError, isInferenceError, type FailureReason, type InferenceError } from '../../src/errors.js';
import { createInference, type InferenceOptions } from '../../src/inference.js';
import { functionModel } from '../../src/models/function-model.js';
import type { FallbackHandler, Outcome } from '../../src/types.js';
import { busyWait, failOnUnhandledRejections, hang, sleep } from '../helpers/models.js';

failOnUnhandledRejections();

const output = z.object({ score: z.number().min(0).max(1) });
type Out = z.infer<typeof output>;

const BEHAVIOURS = [
  'resolve',
  'resolve-late-in-time',
  'reject',
  'reject-type-error',
  'reject-overloaded',
  'hang',
  'hang-ignoring-signal',
  'slow',
  'busy',
  'nan',
  'missing-field',
  'out-of-range',
  'throw-sync',
  'throw-string',
  'throw-undefined',
  'high-score',
] as const;
type Behaviour = (typeof BEHAVIOURS)[number];

const HANDLERS = ['answer', 'throw', 'reject-undefined', 'hang', 'invalid'] as const;
type HandlerKind = (typeof HANDLERS)[number];

interface Input {
  readonly id: number;
  readonly behaviour: Behaviour;
}

const REASONS: readonly FailureReason[] = ['timeout', 'circuit-open', 'model-error', 'invalid-output', 'rejected-output', 'overloaded'];
const TIMEOUT_MS = 25;
const FALLBACK_TIMEOUT_MS = 15;
const BUSY_MS = TIMEOUT_MS + 10;
// Fixed slack on top of the budget, plus twice the worst event-loop delay seen
// during the run (a loaded machine delays every timer hop): still far below the
// lateness of real bugs (a timer armed for a 300 ms per-call timeout firing a
// 25 ms deadline).
const MARGIN_MS = 80;

function run(behaviour: Behaviour, id: number, signal: AbortSignal): Out | Promise<Out> {
  switch (behaviour) {
    case 'resolve':
      return { score: (id % 10) / 10 };
    case 'resolve-late-in-time':
      return sleep(TIMEOUT_MS / 5).then(() => ({ score: 0.5 }));
    case 'reject':
      return Promise.reject(new Error(`model error ${id}`));
    case 'reject-type-error':
      return Promise.reject(new TypeError('fetch failed'));
    case 'reject-overloaded':
      return Promise.reject(new ModelCallError('ERR_OVERLOADED', 'overloaded', 'remote busy'));
    case 'hang':
      return hang({ signal, deadline: 0, context: undefined });
    case 'hang-ignoring-signal':
      return new Promise<Out>(() => {});
    case 'slow':
      return sleep(TIMEOUT_MS * 3).then(() => ({ score: 0.1 }));
    case 'busy':
      busyWait(BUSY_MS);
      return { score: 0.2 };
    case 'nan':
      return { score: Number.NaN };
    case 'missing-field':
      return {} as Out;
    case 'out-of-range':
      return { score: 7 };
    case 'throw-sync':
      throw new Error('sync throw');
    case 'throw-string':
      // eslint-disable-next-line @typescript-eslint/only-throw-error
      throw 'a string';
    case 'throw-undefined':
      // eslint-disable-next-line @typescript-eslint/only-throw-error
      throw undefined;
    case 'high-score':
      return { score: 0.95 };
  }
}

function handler(kind: HandlerKind, i: number): FallbackHandler<Input, Out> {
  const name = `${kind}-${i}`;
  switch (kind) {
    case 'answer':
      return { name, handle: () => ({ score: 0.5 }) };
    case 'throw':
      return {
        name,
        handle: () => {
          throw new Error(name);
        },
      };
    case 'reject-undefined':
      return { name, handle: () => Promise.reject(undefined) };
    case 'hang':
      return { name, handle: () => new Promise<Out>(() => {}) };
    case 'invalid':
      return { name, handle: () => ({ score: Number.NaN }) };
  }
}

const configArb = fc.record({
  breaker: fc.option(
    fc.record({
      volumeThreshold: fc.integer({ min: 1, max: 4 }),
      resetTimeoutMs: fc.integer({ min: 10, max: 40 }),
      slowCallMs: fc.option(fc.constantFrom(5, 15), { nil: undefined }),
    }),
    { nil: undefined },
  ),
  retry: fc.option(fc.record({ retries: fc.integer({ min: 0, max: 2 }), minTimeoutMs: fc.integer({ min: 0, max: 8 }) }), { nil: undefined }),
  maxConcurrency: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
  accept: fc.boolean(),
  handlers: fc.array(fc.constantFrom(...HANDLERS), { maxLength: 2 }),
});

const callsArb = fc.array(
  fc.record({
    behaviour: fc.constantFrom(...BEHAVIOURS),
    startAfterMs: fc.integer({ min: 0, max: 10 }),
    abortAfterMs: fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined, freq: 5 }),
    // A per-call timeout, shorter or longer than the inference's.
    timeoutMs: fc.option(fc.constantFrom(10, 300), { nil: undefined, freq: 3 }),
  }),
  { minLength: 1, maxLength: 6 },
);

describe('the guarded pipeline under random faults', () => {
  it('always settles with an outcome or a documented error, before the deadline + fallback budget', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, callsArb, async (config, calls) => {
        const handlers = config.handlers.map(handler);
        const options: InferenceOptions<Input, Out> = {
          name: 'property',
          versions: { v1: functionModel<Input, Out>((input, ctx) => run(input.behaviour, input.id, ctx.signal)) },
          output,
          timeoutMs: TIMEOUT_MS,
          breaker: config.breaker ? { ...config.breaker, errorThresholdPercentage: 50 } : false,
          retry: config.retry ?? false,
          fallback: handlers,
          fallbackTimeoutMs: FALLBACK_TIMEOUT_MS,
          ...(config.maxConcurrency !== undefined ? { maxConcurrency: config.maxConcurrency } : {}),
          ...(config.accept ? { accept: (o: Out) => (o.score < 0.9 ? true : 'low-confidence') } : {}),
        };
        const inference = createInference(options);
        const busyCalls = calls.filter((c) => c.behaviour === 'busy').length;
        const budget = (timeoutMs: number) => timeoutMs + handlers.length * FALLBACK_TIMEOUT_MS + busyCalls * BUSY_MS + MARGIN_MS;
        let aborted = 0;
        const lag = monitorEventLoopDelay({ resolution: 5 });
        lag.enable();

        const results = await Promise.all(
          calls.map(async (call, id) => {
            await sleep(call.startAfterMs);
            const controller = new AbortController();
            const abortReason = new Error(`abort ${id}`);
            const abortTimer =
              call.abortAfterMs === undefined ? undefined : setTimeout(() => controller.abort(abortReason), call.abortAfterMs);
            const t0 = performance.now();
            try {
              const outcome = await inference.infer(
                { id, behaviour: call.behaviour },
                { signal: controller.signal, ...(call.timeoutMs !== undefined ? { timeoutMs: call.timeoutMs } : {}) },
              );
              return { ok: true as const, outcome, elapsed: performance.now() - t0, abortReason };
            } catch (error) {
              return { ok: false as const, error, elapsed: performance.now() - t0, abortReason };
            } finally {
              clearTimeout(abortTimer);
            }
          }),
        );

        lag.disable();
        const slack = 2 * (lag.max / 1e6);
        for (const [i, r] of results.entries()) {
          const where = `call ${i} (${calls[i]!.behaviour})`;
          expect(r.elapsed, `${where} settled late`).toBeLessThan(budget(calls[i]!.timeoutMs ?? TIMEOUT_MS) + slack);
          if (r.ok) {
            const o: Outcome<Out> = r.outcome;
            expect(output.safeParse(o.value).success, `${where} value`).toBe(true);
            expect(o.version).toBe('v1');
            expect(o.attempts).toBeGreaterThanOrEqual(0);
            if (o.source === 'model') {
              expect(o.reason).toBeUndefined();
              expect(o.attempts).toBeGreaterThanOrEqual(1);
            } else {
              expect(o.source).toBe('fallback');
              expect(REASONS).toContain(o.reason);
              expect(config.handlers.map((k, j) => `${k}-${j}`)).toContain(o.fallbackName);
            }
          } else if (r.error === r.abortReason) {
            aborted++;
          } else {
            expect(isInferenceError(r.error), `${where} rejected with ${String(r.error)}`).toBe(true);
            const e = r.error as InferenceError;
            expect(REASONS).toContain(e.reason);
            // The model's error, then one error per handler.
            expect(e.causes).toHaveLength(1 + handlers.length);
          }
        }

        const counts = inference.status().versions.v1!;
        expect(counts.inflight).toBe(0);
        const settled = counts.counts.model + counts.counts.fallback + counts.counts.failed;
        expect(settled).toBeLessThanOrEqual(counts.counts.calls);
        expect(counts.counts.calls - settled).toBeLessThanOrEqual(aborted);
        await inference.close();
      }),
      { numRuns: Number(process.env['PROPERTY_RUNS'] ?? 50) },
    );
  });
});
