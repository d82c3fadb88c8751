/**
 * An application's own instrumentation that throws never changes an answer:
 * every call still comes back (the model's answer, a fallback, or the typed
 * error it would get anyway), and close() still finds nothing in flight.
 */
import { describe, expect, it } from 'vitest';
import { isInputValidationError } from '../../src/errors.js';
import { createInference } from '../../src/inference.js';
import { functionModel } from '../../src/models/function-model.js';
import type { CallObserver, Instrumentation } from '../../src/telemetry/instrumentation.js';
import { z } from 'zod';
import { failOnUnhandledRejections } from '../helpers/models.js';

failOnUnhandledRejections();

const boom = (): never => {
  throw new Error('telemetry exploded');
};

/** Every method throws; counts how often each was reached. */
function throwingInstrumentation(where: 'startCall' | 'observer'): { instrumentation: Instrumentation; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const hit = (name: string) => {
    calls.set(name, (calls.get(name) ?? 0) + 1);
    boom();
  };
  const observer: CallObserver = {
    routed: () => hit('routed'),
    attemptStart: () => hit('attemptStart'),
    attemptEnd: () => hit('attemptEnd'),
    fallbackStart: () => hit('fallbackStart'),
    end: () => hit('end'),
    fail: () => hit('fail'),
    shadowStart: () => {
      hit('shadowStart');
      return () => undefined;
    },
  };
  return {
    calls,
    instrumentation: {
      startCall: () => (where === 'startCall' ? (hit('startCall') as never) : observer),
      breakerTransition: () => hit('breakerTransition'),
      shadowResult: () => hit('shadowResult'),
      record: () => hit('record'),
    },
  };
}

describe('an instrumentation that throws', () => {
  for (const where of ['startCall', 'observer'] as const) {
    it(`(${where} throws) leaves answers, fallbacks, errors and close() as they would be`, async () => {
      const { instrumentation, calls } = throwingInstrumentation(where);
      let fail = false;
      const inference = createInference<number, number>({
        name: 'telemetry-throws',
        versions: {
          v1: functionModel(async (x: number) => {
            if (fail) throw new Error('model down');
            return x * 2;
          }),
        },
        input: z.number(),
        breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 },
        fallback: { name: 'rules', handle: () => -1 },
        instrumentation,
      });
      expect(await inference.infer(21)).toMatchObject({ source: 'model', value: 42 });
      fail = true;
      for (let i = 0; i < 3; i++) expect(await inference.infer(1)).toMatchObject({ source: 'fallback', value: -1 });
      // The breaker opened meanwhile (its transition was reported to the throwing instrumentation).
      expect(await inference.infer(1)).toMatchObject({ source: 'fallback', reason: 'circuit-open' });
      const invalid = await inference.infer('x' as unknown as number).catch((e: unknown) => e);
      expect(isInputValidationError(invalid)).toBe(true);
      await inference.close();
      expect(inference.status().versions.v1!.inflight).toBe(0);
      if (where === 'observer') {
        expect(calls.get('end')).toBe(5);
        expect(calls.get('fail')).toBe(1);
      } else expect(calls.get('startCall')).toBe(6);
      expect(calls.get('breakerTransition')).toBeGreaterThanOrEqual(1);
    });
  }
});
