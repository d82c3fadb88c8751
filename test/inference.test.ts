import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import {
  ConfigurationError,
  GracefulInferenceError,
  InferenceError,
  InputValidationError,
  ModelCallError,
  isConfigurationError,
  isGracefulInferenceError,
  isInferenceError,
  isInputValidationError,
  isModelCallError,
} from '../src/errors.js';
import { createInference, type InferenceOptions } from '../src/inference.js';
import { functionModel } from '../src/models/function-model.js';
import type { Failure, Model, RunContext } from '../src/types.js';
import { after, busyWait, deferred, failOnUnhandledRejections, hang, rejectionOf, scriptedModel, sleep } from './helpers/models.js';

failOnUnhandledRejections();

interface Applicant {
  readonly income: number;
  readonly features: readonly number[];
}
interface Score {
  readonly risk: number;
  readonly label: string;
}

const applicant: Applicant = { income: 50_000, features: [1, 2, 3] };
const inputSchema = z.object({ income: z.number().nonnegative(), features: z.array(z.number()).min(1) });
const outputSchema = z.object({ risk: z.number().min(0).max(1), label: z.string() });
const goodScore: Score = { risk: 0.2, label: 'low' };
const ruleScore: Score = { risk: 0.5, label: 'rules' };

function build(over: Partial<InferenceOptions<Applicant, Score>> = {}) {
  const model = scriptedModel<Applicant, Score>(() => goodScore);
  const inference = createInference<Applicant, Score>({
    name: 'credit-risk',
    versions: { v1: model },
    input: inputSchema,
    output: outputSchema,
    timeoutMs: 50,
    breaker: false,
    ...over,
  });
  return { model, inference };
}

/** Builds with a fallback that records what it was given. */
function buildWithFallback(over: Partial<InferenceOptions<Applicant, Score>> = {}) {
  const failures: Failure[] = [];
  const built = build({
    fallback: {
      name: 'rules',
      handle: (_input, failure) => {
        failures.push(failure);
        return ruleScore;
      },
    },
    ...over,
  });
  return { ...built, failures };
}

describe('infer: the model answers', () => {
  it('resolves with an outcome that says the model answered', async () => {
    const { inference, model } = build();
    const outcome = await inference.infer(applicant);
    expect(outcome).toEqual({
      value: goodScore,
      source: 'model',
      version: 'v1',
      route: 'default',
      latencyMs: expect.any(Number),
      attempts: 1,
    });
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(0);
    expect(outcome.latencyMs).toBeLessThan(1000);
    expect(outcome).not.toHaveProperty('reason');
    expect(outcome).not.toHaveProperty('fallbackName');
    expect(model.calls).toHaveLength(1);
    await inference.close();
  });

  it('gives the model the parsed input, the caller context and the deadline', async () => {
    const { inference, model } = build({
      input: inputSchema.transform((a) => ({ ...a, income: a.income / 1000 })),
      timeoutMs: 40,
    });
    const context = { tenant: 'acme' };
    const before = performance.now();
    await inference.infer(applicant, { context });
    const { input, ctx } = model.calls[0]!;
    expect(input.income).toBe(50);
    expect(ctx.context).toBe(context);
    expect(ctx.deadline).toBeGreaterThanOrEqual(before + 40 - 1);
    expect(ctx.deadline).toBeLessThanOrEqual(performance.now() + 40);
    expect(ctx.signal.aborted).toBe(false);
    await inference.close();
  });

  it('returns the output as parsed by the output schema', async () => {
    const { inference, model } = build();
    model.behave(() => ({ ...goodScore, extra: 'stripped' }) as Score);
    const outcome = await inference.infer(applicant);
    expect(outcome.value).toEqual(goodScore);
    await inference.close();
  });

  it('uses defaultVersion, and a per-call version override with route "override"', async () => {
    const v1 = scriptedModel<Applicant, Score>(() => ({ risk: 0.1, label: 'v1' }));
    const v2 = scriptedModel<Applicant, Score>(() => ({ risk: 0.2, label: 'v2' }));
    const inference = createInference<Applicant, Score>({ name: 'n', versions: { v1, v2 }, defaultVersion: 'v2' });
    expect(await inference.infer(applicant)).toMatchObject({ version: 'v2', route: 'default', value: { label: 'v2' } });
    expect(await inference.infer(applicant, { version: 'v1' })).toMatchObject({
      version: 'v1',
      route: 'override',
      value: { label: 'v1' },
    });
    await inference.close();
  });

  it('rejects an unknown override version with a typed error, without calling any model', async () => {
    const { inference, model } = buildWithFallback();
    const error = await rejectionOf(inference.infer(applicant, { version: 'v9' }));
    expect(isGracefulInferenceError(error)).toBe(true);
    expect((error as GracefulInferenceError).code).toBe('ERR_UNKNOWN_VERSION');
    expect((error as Error).message).toContain('v9');
    expect(model.calls).toHaveLength(0);
    await inference.close();
  });

  it('runs many concurrent calls independently', async () => {
    const { inference, model } = build({ timeoutMs: 500 });
    model.behave(async (a) => {
      await sleep(a.income % 7);
      return { risk: (a.income % 10) / 10, label: String(a.income) };
    });
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, (_, i) => inference.infer({ income: i, features: [i] })),
    );
    outcomes.forEach((o, i) => expect(o.value.label).toBe(String(i)));
    expect(inference.status().versions.v1!.counts.model).toBe(50);
    await inference.close();
  });
});

describe('infer: input validation', () => {
  it('rejects bad input with InputValidationError listing each field path; model and fallback untouched', async () => {
    const { inference, model, failures } = buildWithFallback();
    const error = await rejectionOf(inference.infer({ income: -1, features: [1, 'x' as unknown as number] }));
    expect(error).toBeInstanceOf(InputValidationError);
    expect(isInputValidationError(error)).toBe(true);
    const e = error as InputValidationError;
    expect(e.code).toBe('ERR_INVALID_INPUT');
    expect(e.issues.map((i) => i.path)).toEqual(expect.arrayContaining([['income'], ['features', 1]]));
    expect(e.message).toContain('features[1]');
    expect(model.calls).toHaveLength(0);
    expect(failures).toHaveLength(0);
    await inference.close();
  });

  it('rejects a missing field and a non-object input', async () => {
    const { inference, model } = build();
    const missing = (await rejectionOf(inference.infer({ income: 1 } as Applicant))) as InputValidationError;
    expect(missing.issues.map((i) => i.path)).toContainEqual(['features']);
    const notObject = await rejectionOf(inference.infer(null as unknown as Applicant));
    expect(isInputValidationError(notObject)).toBe(true);
    expect(model.calls).toHaveLength(0);
    await inference.close();
  });
});

describe('infer: why the model answer was not used', () => {
  it('model-error: the fallback gets the reason, the error, version, attempts and context', async () => {
    const { inference, model, failures } = buildWithFallback();
    const boom = new Error('model exploded');
    model.behave(() => Promise.reject(boom));
    const context = { user: 'u1' };
    const outcome = await inference.infer(applicant, { context });
    expect(outcome).toMatchObject({
      value: ruleScore,
      source: 'fallback',
      reason: 'model-error',
      fallbackName: 'rules',
      version: 'v1',
      route: 'default',
      attempts: 1,
    });
    expect(failures).toEqual([{ reason: 'model-error', error: boom, version: 'v1', attempts: 1, context }]);
    await inference.close();
  });

  it('model-error: a synchronous throw of any value, from a function model or a raw model', async () => {
    for (const thrown of [new Error('sync'), 'a string', undefined, null, 0, { weird: true }]) {
      const { inference, model, failures } = buildWithFallback();
      model.behave(() => {
        throw thrown;
      });
      expect(await inference.infer(applicant)).toMatchObject({ source: 'fallback', reason: 'model-error' });
      expect(failures[0]!.error).toBe(thrown);
      await inference.close();
    }
    const raw: Model<Applicant, Score> = {
      kind: 'raw',
      load: async () => {},
      run: () => {
        throw new Error('raw sync throw');
      },
      close: async () => {},
    };
    const inference = createInference<Applicant, Score>({ name: 'raw', versions: { raw }, fallback: () => ruleScore });
    expect(await inference.infer(applicant)).toMatchObject({ source: 'fallback', reason: 'model-error' });
    await inference.close();
  });

  it('a model may choose the reason by throwing a ModelCallError', async () => {
    const { inference, model, failures } = buildWithFallback();
    model.behave(() => {
      throw new ModelCallError('ERR_OVERLOADED', 'overloaded', 'remote queue full');
    });
    expect(await inference.infer(applicant)).toMatchObject({ source: 'fallback', reason: 'overloaded' });
    expect(failures[0]!.reason).toBe('overloaded');
    await inference.close();
  });

  it('timeout: a hung model is abandoned at the deadline and its signal aborted', async () => {
    const { inference, model, failures } = buildWithFallback({ timeoutMs: 30 });
    model.behave((_a, ctx) => hang(ctx));
    const t0 = performance.now();
    const outcome = await inference.infer(applicant);
    const elapsed = performance.now() - t0;
    expect(outcome).toMatchObject({ source: 'fallback', reason: 'timeout', attempts: 1 });
    expect(elapsed).toBeGreaterThanOrEqual(28);
    expect(elapsed).toBeLessThan(1000);
    const error = failures[0]!.error as ModelCallError;
    expect(isModelCallError(error)).toBe(true);
    expect(error.code).toBe('ERR_TIMEOUT');
    const ctx = model.calls[0]!.ctx;
    expect(ctx.signal.aborted).toBe(true);
    expect(ctx.signal.reason).toBe(error);
    await inference.close();
  });

  it('timeout: a model that ignores its signal and never settles is abandoned too', async () => {
    const { inference, model } = buildWithFallback({ timeoutMs: 20 });
    model.behave(() => new Promise<Score>(() => {}));
    expect(await inference.infer(applicant)).toMatchObject({ source: 'fallback', reason: 'timeout' });
    await inference.close();
  });

  it('timeout: the per-call timeoutMs overrides the inference default', async () => {
    const { inference, model } = buildWithFallback({ timeoutMs: 1000 });
    model.behave(() => after(400, goodScore));
    const t0 = performance.now();
    expect(await inference.infer(applicant, { timeoutMs: 15 })).toMatchObject({ reason: 'timeout' });
    expect(performance.now() - t0).toBeLessThan(350);
    model.behave(() => after(30, goodScore));
    expect(await inference.infer(applicant, { timeoutMs: 500 })).toMatchObject({ source: 'model' });
    await inference.close();
  });

  it('rejects an invalid per-call timeoutMs with ConfigurationError; later calls keep their deadlines', async () => {
    const { inference, model } = buildWithFallback({ timeoutMs: 30 });
    model.behave((_a, ctx) => hang(ctx));
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 0, -5, '50']) {
      const error = await rejectionOf(inference.infer(applicant, { timeoutMs: bad as number }));
      expect(isConfigurationError(error), String(bad)).toBe(true);
      expect((error as ConfigurationError).issues[0]!.path).toEqual(['timeoutMs']);
    }
    expect(model.calls).toHaveLength(0);
    // A NaN deadline used to sit at the head of the shared timer queue, so no later call ever timed out.
    const t0 = performance.now();
    expect(await inference.infer(applicant)).toMatchObject({ reason: 'timeout' });
    expect(performance.now() - t0).toBeLessThan(1000);
    await inference.close();
  });

  it('timeout: a result that arrives after the deadline from a blocking run is a timeout, not an answer', async () => {
    const { inference, model, failures } = buildWithFallback({ timeoutMs: 20 });
    // The busy-wait blocks the event loop: the deadline timer cannot fire before the result is ready.
    model.behave(() => {
      busyWait(45);
      return goodScore;
    });
    const outcome = await inference.infer(applicant);
    expect(outcome).toMatchObject({ source: 'fallback', reason: 'timeout', value: ruleScore });
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(44);
    expect((failures[0]!.error as ModelCallError).code).toBe('ERR_TIMEOUT');
    // The same after an await (the run resolves from a microtask, past the deadline).
    model.behave(async () => {
      await Promise.resolve();
      busyWait(45);
      return goodScore;
    });
    expect(await inference.infer(applicant)).toMatchObject({ source: 'fallback', reason: 'timeout' });
    await inference.close();
  });

  it('invalid-output: a NaN, a missing field, a wrong type', async () => {
    const { inference, model, failures } = buildWithFallback();
    const bad: unknown[] = [{ risk: Number.NaN, label: 'x' }, { risk: 0.1 }, { risk: '0.1', label: 'x' }, undefined, { risk: 2, label: 'x' }];
    for (const output of bad) {
      model.behave(() => output as Score);
      expect(await inference.infer(applicant)).toMatchObject({ source: 'fallback', reason: 'invalid-output', value: ruleScore });
    }
    const error = failures[1]!.error as ModelCallError;
    expect(error.code).toBe('ERR_INVALID_OUTPUT');
    expect(error.message).toContain('label');
    expect(inference.status().versions.v1!.counts.reasons['invalid-output']).toBe(bad.length);
    await inference.close();
  });

  it('invalid-output when the output schema itself throws (a refinement that throws): the call still comes back', async () => {
    // Throws on the model's answer only; the fallback's value passes the same schema.
    const throwing = z.object({ risk: z.number(), label: z.string() }).refine((o) => {
      if (o.label === goodScore.label) throw new Error('refinement exploded');
      return true;
    });
    const { inference, failures } = buildWithFallback({ output: throwing as unknown as typeof outputSchema });
    expect(await inference.infer(applicant)).toMatchObject({ source: 'fallback', reason: 'invalid-output', value: ruleScore });
    expect((failures[0]!.error as ModelCallError).message).toContain('refinement exploded');
    await inference.close();
  });

  it('a throwing accept() is a model-error answered by the fallback', async () => {
    const { inference, failures } = buildWithFallback({
      accept: () => {
        throw new Error('accept exploded');
      },
    });
    expect(await inference.infer(applicant)).toMatchObject({ source: 'fallback', reason: 'model-error', value: ruleScore });
    expect((failures[0]!.error as Error).message).toBe('accept exploded');
    await inference.close();
  });

  it('rejected-output: accept returns a reason string; the failure error carries it', async () => {
    const accept = vi.fn((output: Score, input: Applicant) => (output.risk < 0.5 && input.income > 0 ? true : 'low-confidence'));
    const { inference, model, failures } = buildWithFallback({ accept });
    expect(await inference.infer(applicant)).toMatchObject({ source: 'model' });
    expect(accept).toHaveBeenLastCalledWith(goodScore, applicant);
    model.behave(() => ({ risk: 0.9, label: 'high' }));
    const outcome = await inference.infer(applicant);
    expect(outcome).toMatchObject({ source: 'fallback', reason: 'rejected-output', attempts: 1 });
    const error = failures[0]!.error as ModelCallError;
    expect(error.code).toBe('ERR_REJECTED_OUTPUT');
    expect(error.message).toBe('low-confidence');
    await inference.close();
  });

  it('a throwing accept still ends with an outcome from the fallback', async () => {
    const { inference } = buildWithFallback({
      accept: () => {
        throw new Error('accept broke');
      },
    });
    expect(await inference.infer(applicant)).toMatchObject({ source: 'fallback', value: ruleScore });
    await inference.close();
  });

  it('overloaded: calls beyond maxConcurrency fall back at once without calling the model', async () => {
    const { inference, model, failures } = buildWithFallback({ maxConcurrency: 2, timeoutMs: 500 });
    const gate = deferred<Score>();
    model.behave(() => gate.promise);
    const first = inference.infer(applicant);
    const second = inference.infer(applicant);
    const third = await inference.infer(applicant);
    expect(third).toMatchObject({ source: 'fallback', reason: 'overloaded', attempts: 0 });
    expect((failures[0]!.error as ModelCallError).code).toBe('ERR_OVERLOADED');
    expect(model.calls).toHaveLength(2);
    expect(inference.status().versions.v1!.inflight).toBe(2);
    gate.resolve(goodScore);
    expect(await first).toMatchObject({ source: 'model' });
    expect(await second).toMatchObject({ source: 'model' });
    expect(await inference.infer(applicant)).toMatchObject({ source: 'model' });
    await inference.close();
  });

  it('overloaded is per version', async () => {
    const gate = deferred<Score>();
    const v1 = scriptedModel<Applicant, Score>(() => gate.promise);
    const v2 = scriptedModel<Applicant, Score>(() => goodScore);
    const inference = createInference<Applicant, Score>({ name: 'n', versions: { v1, v2 }, maxConcurrency: 1, fallback: () => ruleScore });
    const pending = inference.infer(applicant);
    expect(await inference.infer(applicant)).toMatchObject({ reason: 'overloaded' });
    expect(await inference.infer(applicant, { version: 'v2' })).toMatchObject({ source: 'model', version: 'v2' });
    gate.resolve(goodScore);
    await pending;
    await inference.close();
  });
});

describe('infer: when nothing can answer', () => {
  it('rejects with InferenceError keeping the model error as cause, with reason and version', async () => {
    const { inference, model } = build();
    const boom = new Error('model exploded');
    model.behave(() => Promise.reject(boom));
    const error = await rejectionOf(inference.infer(applicant));
    expect(error).toBeInstanceOf(InferenceError);
    expect(isInferenceError(error)).toBe(true);
    const e = error as InferenceError;
    expect(e.code).toBe('ERR_INFERENCE_FAILED');
    expect(e.reason).toBe('model-error');
    expect(e.version).toBe('v1');
    expect(e.cause).toBe(boom);
    expect(e.causes).toEqual([boom]);
    expect(e.message).toContain('model exploded');
    expect(e.message).toContain('credit-risk');
    await inference.close();
  });

  it('keeps the model error and every handler error, in order', async () => {
    const boom = new Error('model');
    const h1 = new Error('h1');
    const h2 = 'h2 as a string';
    const { inference, model } = build({
      fallback: [
        () => {
          throw h1;
        },
        { name: 'second', handle: () => Promise.reject(h2) },
      ],
    });
    model.behave(() => Promise.reject(boom));
    const e = (await rejectionOf(inference.infer(applicant))) as InferenceError;
    expect(e.causes).toEqual([boom, h1, h2]);
    expect(e.cause).toBe(boom);
    expect(e.message).toContain('2 fallback handler');
    await inference.close();
  });
});

describe('infer: caller cancellation', () => {
  it('a signal already aborted rejects with its reason and never calls the model', async () => {
    const { inference, model, failures } = buildWithFallback();
    const reason = new Error('caller gave up');
    const error = await rejectionOf(inference.infer(applicant, { signal: AbortSignal.abort(reason) }));
    expect(error).toBe(reason);
    expect(model.calls).toHaveLength(0);
    expect(failures).toHaveLength(0);
    await inference.close();
  });

  it('aborting while the model runs rejects at once with the reason and aborts the model signal', async () => {
    const { inference, model, failures } = buildWithFallback({ timeoutMs: 2000 });
    model.behave((_a, ctx) => hang(ctx));
    const controller = new AbortController();
    const pending = inference.infer(applicant, { signal: controller.signal });
    await sleep(5);
    const reason = new Error('user navigated away');
    const t0 = performance.now();
    controller.abort(reason);
    expect(await rejectionOf(pending)).toBe(reason);
    expect(performance.now() - t0).toBeLessThan(1000);
    const ctx: RunContext = model.calls[0]!.ctx;
    expect(ctx.signal.aborted).toBe(true);
    expect(ctx.signal.reason).toBe(reason);
    expect(failures).toHaveLength(0);
    await inference.close();
  });

  it('aborting without a reason rejects with the signal default AbortError', async () => {
    const { inference, model } = buildWithFallback({ timeoutMs: 2000 });
    model.behave((_a, ctx) => hang(ctx));
    const controller = new AbortController();
    const pending = inference.infer(applicant, { signal: controller.signal });
    controller.abort();
    const error = await rejectionOf(pending);
    expect(error).toBe(controller.signal.reason);
    expect((error as Error).name).toBe('AbortError');
    await inference.close();
  });

  it('aborting while a fallback handler runs rejects with the reason', async () => {
    const handler = deferred<Score>();
    const { inference, model } = build({ fallback: () => handler.promise });
    model.behave(() => Promise.reject(new Error('x')));
    const controller = new AbortController();
    const pending = inference.infer(applicant, { signal: controller.signal });
    await sleep(5);
    controller.abort('stop');
    expect(await rejectionOf(pending)).toBe('stop');
    handler.resolve(ruleScore);
    await inference.close();
  });

  it('does not count a caller abort against the model (breaker stays clean)', async () => {
    const { inference, model } = buildWithFallback({ timeoutMs: 2000, breaker: { volumeThreshold: 1, resetTimeoutMs: 10_000 } });
    model.behave((_a, ctx) => hang(ctx));
    for (let i = 0; i < 3; i++) {
      const controller = new AbortController();
      const pending = inference.infer(applicant, { signal: controller.signal });
      controller.abort('bye');
      await rejectionOf(pending);
    }
    await sleep(5);
    const breaker = inference.status().versions.v1!.breaker;
    expect(breaker.state).toBe('closed');
    model.behave(() => goodScore);
    expect(await inference.infer(applicant)).toMatchObject({ source: 'model' });
    await inference.close();
  });

  it('does not leak listeners on a long-lived signal shared by many calls', async () => {
    const { inference, model } = build();
    model.behave((_a, ctx) => {
      void ctx.signal;
      return goodScore;
    });
    const controller = new AbortController();
    for (let i = 0; i < 30; i++) await inference.infer(applicant, { signal: controller.signal });
    expect(EventEmitter.getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await inference.close();
  });
});

describe('status, ready and events', () => {
  it('counts calls, answers, fallbacks, failures and reasons per version', async () => {
    const { inference, model } = build({ timeoutMs: 20, fallback: (_i, f) => (f.reason === 'timeout' ? ruleScore : Promise.reject(new Error('no'))) });
    await inference.infer(applicant);
    model.behave((_a, ctx) => hang(ctx));
    await inference.infer(applicant);
    model.behave(() => Promise.reject(new Error('x')));
    await rejectionOf(inference.infer(applicant));
    await rejectionOf(inference.infer({ income: -1, features: [] }));
    const status = inference.status();
    expect(status).toMatchObject({ name: 'credit-risk', closed: false, defaultVersion: 'v1' });
    expect(status.versions.v1).toEqual({
      kind: 'function',
      inflight: 0,
      breaker: { state: 'disabled' },
      counts: {
        calls: 3,
        model: 1,
        fallback: 1,
        failed: 1,
        reasons: { timeout: 1, 'circuit-open': 0, 'model-error': 1, 'invalid-output': 0, 'rejected-output': 0, overloaded: 0 },
      },
    });
    await inference.close();
    expect(inference.status().closed).toBe(true);
  });

  it('reports calls in flight and breaker counters', async () => {
    const { inference, model } = build({ breaker: { volumeThreshold: 100 }, timeoutMs: 500 });
    const gate = deferred<Score>();
    model.behave(() => gate.promise);
    const pending = inference.infer(applicant);
    await sleep(1);
    expect(inference.status().versions.v1!.inflight).toBe(1);
    gate.resolve(goodScore);
    await pending;
    const status = inference.status().versions.v1!;
    expect(status.inflight).toBe(0);
    expect(status.breaker).toMatchObject({ state: 'closed', calls: 1, failures: 0, rejects: 0, slowCalls: 0 });
    await inference.close();
  });

  it('status snapshots are copies', async () => {
    const { inference, model } = buildWithFallback();
    const before = inference.status();
    model.behave(() => Promise.reject(new Error('x')));
    await inference.infer(applicant);
    expect(before.versions.v1!.counts.reasons['model-error']).toBe(0);
    expect(inference.status().versions.v1!.counts.reasons['model-error']).toBe(1);
    await inference.close();
  });

  it('ready() loads every version once', async () => {
    const v1 = scriptedModel<Applicant, Score>(() => goodScore);
    const v2 = scriptedModel<Applicant, Score>(() => goodScore);
    const inference = createInference<Applicant, Score>({ name: 'n', versions: { v1, v2 } });
    await inference.ready();
    await inference.ready();
    expect([v1.loads, v2.loads]).toEqual([1, 1]);
    await inference.close();
  });

  it('ready() rejects when one version fails to load, and passes the signal', async () => {
    const loadError = new Error('bad bytes');
    const seen: (AbortSignal | undefined)[] = [];
    const ok = functionModel<Applicant, Score>(() => goodScore, { load: ({ signal }) => void seen.push(signal) });
    const broken = functionModel<Applicant, Score>(() => goodScore, {
      load: async () => {
        throw loadError;
      },
    });
    const inference = createInference<Applicant, Score>({ name: 'n', versions: { ok, broken } });
    const signal = new AbortController().signal;
    expect(await rejectionOf(inference.ready({ signal }))).toBe(loadError);
    expect(seen).toEqual([signal]);
    await inference.close();
  });

  it('emits a fallback event with the reason and the handler name', async () => {
    const { inference, model } = buildWithFallback();
    const events: unknown[] = [];
    const off = inference.on('fallback', (e) => events.push(e));
    const boom = new Error('x');
    model.behave(() => Promise.reject(boom));
    await inference.infer(applicant);
    expect(events).toEqual([{ version: 'v1', reason: 'model-error', fallbackName: 'rules', ruleId: undefined, error: boom }]);
    off();
    await inference.infer(applicant);
    expect(events).toHaveLength(1);
    await inference.close();
  });

  it('a throwing listener never breaks a call; it is reported as listener-error', async () => {
    const { inference, model } = buildWithFallback();
    const listenerErrors: unknown[] = [];
    inference.on('listener-error', (e) => listenerErrors.push(e));
    const bad = new Error('listener bug');
    inference.on('fallback', () => {
      throw bad;
    });
    model.behave(() => Promise.reject(new Error('x')));
    expect(await inference.infer(applicant)).toMatchObject({ source: 'fallback' });
    expect(listenerErrors).toEqual([{ event: 'fallback', error: bad }]);
    await inference.close();
  });
});
