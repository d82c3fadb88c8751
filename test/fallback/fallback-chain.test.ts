import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { InferenceError, isGracefulInferenceError } from '../../src/errors.js';
import { FallbackOutputError, FallbackTimeoutError, runChain, toChain } from '../../src/fallback/fallback-chain.js';
import { createInference, type InferenceOptions } from '../../src/inference.js';
import type { Failure, FallbackHandler } from '../../src/types.js';
import { deferred, failOnUnhandledRejections, rejectionOf, scriptedModel, sleep } from '../helpers/models.js';

failOnUnhandledRejections();

const failure: Failure = { reason: 'model-error', error: new Error('m'), version: 'v1', attempts: 1, context: undefined };
const opts = { timeoutMs: undefined, check: undefined, signal: undefined };

describe('toChain', () => {
  it('names handlers: object name, function name, else fallback[i]', () => {
    function legacyRules(): number {
      return 1;
    }
    const named = () => 2;
    const chain = toChain<number, number>([{ name: 'obj', handle: () => 0 }, legacyRules, named, () => 3]);
    expect(chain.map((l) => l.name)).toEqual(['obj', 'legacyRules', 'named', 'fallback[3]']);
    expect(toChain(undefined)).toEqual([]);
    expect(toChain<number, number>(() => 1).map((l) => l.name)).toEqual(['fallback[0]']);
  });

  it('calls object handlers as methods and prefers explain when present', async () => {
    const handler = {
      name: 'rules',
      offset: 10,
      handle(input: number) {
        return input + this.offset;
      },
    };
    const [link] = toChain<number, number>(handler);
    expect(await link!.run(1, failure)).toEqual({ value: 11 });
    const explaining = {
      name: 'explained',
      handle: () => -1,
      explain(input: number) {
        return { value: input * 2, ruleId: 'double' };
      },
    };
    expect(await toChain<number, number>(explaining)[0]!.run(4, failure)).toEqual({ value: 8, ruleId: 'double' });
  });

  it('turns synchronous throws into rejections', async () => {
    const [link] = toChain<number, number>(() => {
      throw new Error('sync');
    });
    await expect(link!.run(1, failure)).rejects.toThrow('sync');
  });
});

describe('runChain', () => {
  it('tries handlers in order and stops at the first answer', async () => {
    const third = vi.fn(() => 3);
    const chain = toChain<number, number>([
      () => {
        throw new Error('first');
      },
      { name: 'second', handle: async () => 2 },
      third,
    ]);
    const result = await runChain(chain, 0, failure, opts);
    expect(result).toMatchObject({ ok: true, value: 2, name: 'second', ruleId: undefined });
    expect(result.errors).toHaveLength(1);
    expect(third).not.toHaveBeenCalled();
  });

  it('bounds a hung handler with timeoutMs and moves on', async () => {
    const chain = toChain<number, number>([{ name: 'hung', handle: () => new Promise<number>(() => {}) }, () => 7]);
    const t0 = performance.now();
    const result = await runChain(chain, 0, failure, { ...opts, timeoutMs: 20 });
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(result).toMatchObject({ ok: true, value: 7 });
    const [timeout] = result.errors;
    expect(timeout).toBeInstanceOf(FallbackTimeoutError);
    expect((timeout as FallbackTimeoutError).code).toBe('ERR_TIMEOUT');
    expect((timeout as FallbackTimeoutError).handler).toBe('hung');
  });

  it('passes a value failing the check to the next handler', async () => {
    const chain = toChain<number, number>([{ name: 'bad', handle: () => -1 }, () => 5]);
    const result = await runChain(chain, 0, failure, {
      ...opts,
      check: (v) => (v < 0 ? { ok: false, problem: 'negative' } : { ok: true, value: v * 10 }),
    });
    // The value as the check returned it (parsed).
    expect(result).toMatchObject({ ok: true, value: 50 });
    const [error] = result.errors;
    expect(error).toBeInstanceOf(FallbackOutputError);
    expect((error as FallbackOutputError).message).toContain('negative');
    expect((error as FallbackOutputError).handler).toBe('bad');
  });

  it('reports every error when all fail, and an empty chain fails with no errors', async () => {
    const e1 = new Error('1');
    const chain = toChain<number, number>([
      () => {
        throw e1;
      },
      () => Promise.reject(undefined),
    ]);
    expect(await runChain(chain, 0, failure, opts)).toEqual({ ok: false, errors: [e1, undefined] });
    expect(await runChain([], 0, failure, opts)).toEqual({ ok: false, errors: [] });
  });

  it('stops before the next handler once the signal aborted', async () => {
    const controller = new AbortController();
    const second = vi.fn(() => 2);
    const chain = toChain<number, number>([
      () => {
        controller.abort('stop');
        throw new Error('first');
      },
      second,
    ]);
    expect(await rejectionOf(runChain(chain, 0, failure, { ...opts, signal: controller.signal }))).toBe('stop');
    expect(second).not.toHaveBeenCalled();
  });
});

describe('fallback chain in the pipeline', () => {
  const output = z.object({ score: z.number().min(0).max(1) });
  type Out = z.infer<typeof output>;

  function build(fallback: FallbackHandler<number, Out> | FallbackHandler<number, Out>[], over: Partial<InferenceOptions<number, Out>> = {}) {
    const model = scriptedModel<number, Out>(() => Promise.reject(new Error('model down')));
    const inference = createInference<number, Out>({ name: 'chain', versions: { v1: model }, output, breaker: false, fallback, ...over });
    return { model, inference };
  }

  it('answers from the first handler that can, in order, naming it', async () => {
    const calls: string[] = [];
    const { inference } = build([
      {
        name: 'cache',
        handle: () => {
          calls.push('cache');
          throw new Error('miss');
        },
      },
      {
        name: 'rules',
        handle: () => {
          calls.push('rules');
          return { score: 0.4 };
        },
      },
      {
        name: 'constant',
        handle: () => {
          calls.push('constant');
          return { score: 0.5 };
        },
      },
    ]);
    expect(await inference.infer(1)).toMatchObject({ source: 'fallback', fallbackName: 'rules', value: { score: 0.4 }, reason: 'model-error' });
    expect(calls).toEqual(['cache', 'rules']);
    await inference.close();
  });

  it('gives each handler the input and the failure', async () => {
    const handle = vi.fn((_input: number, _failure: Failure) => ({ score: 0.1 }));
    const { inference } = build({ name: 'h', handle });
    await inference.infer(42, { context: { k: 1 } });
    const [input, f] = handle.mock.calls[0]!;
    expect(input).toBe(42);
    expect(f).toMatchObject({ reason: 'model-error', version: 'v1', attempts: 1, context: { k: 1 } });
    expect((f.error as Error).message).toBe('model down');
    await inference.close();
  });

  it('fallbackTimeoutMs bounds a hung handler; the next one answers', async () => {
    const { inference } = build([{ name: 'hung', handle: () => new Promise<Out>(() => {}) }, { name: 'quick', handle: () => ({ score: 0.3 }) }], {
      fallbackTimeoutMs: 20,
    });
    const t0 = performance.now();
    expect(await inference.infer(1)).toMatchObject({ fallbackName: 'quick' });
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(18);
    expect(elapsed).toBeLessThan(1000);
    await inference.close();
  });

  it('a fallback value failing the output schema passes to the next handler', async () => {
    const { inference } = build([
      { name: 'nan', handle: () => ({ score: Number.NaN }) },
      { name: 'missing', handle: () => ({}) as Out },
      { name: 'good', handle: () => ({ score: 0.9 }) },
    ]);
    expect(await inference.infer(1)).toMatchObject({ fallbackName: 'good', value: { score: 0.9 } });
    await inference.close();
  });

  it('all handlers fail: InferenceError with the model error and every handler error', async () => {
    const thrown = new Error('thrown');
    const { inference, model } = build(
      [
        {
          name: 'throws',
          handle: () => {
            throw thrown;
          },
        },
        { name: 'hung', handle: () => new Promise<Out>(() => {}) },
        { name: 'invalid', handle: () => ({ score: 7 }) },
      ],
      { fallbackTimeoutMs: 15 },
    );
    const modelError = new Error('model down');
    model.behave(() => Promise.reject(modelError));
    const e = (await rejectionOf(inference.infer(1))) as InferenceError;
    expect(e).toBeInstanceOf(InferenceError);
    expect(e.reason).toBe('model-error');
    expect(e.causes).toHaveLength(4);
    expect(e.causes[0]).toBe(modelError);
    expect(e.causes[1]).toBe(thrown);
    expect(e.causes[2]).toBeInstanceOf(FallbackTimeoutError);
    expect(e.causes[3]).toBeInstanceOf(FallbackOutputError);
    expect(e.causes.slice(2).every(isGracefulInferenceError)).toBe(true);
    expect(inference.status().versions.v1!.counts.failed).toBe(1);
    await inference.close();
  });

  it('a fallback value is returned as parsed by the output schema, like a model output', async () => {
    const withDefault = z.object({ score: z.number(), label: z.string().default('n/a') });
    type Labelled = z.infer<typeof withDefault>;
    const model = scriptedModel<number, Labelled>(() => ({ score: 0.1 }) as Labelled);
    const inference = createInference<number, Labelled>({
      name: 'parsed',
      versions: { v1: model },
      output: withDefault,
      fallback: { name: 'partial', handle: () => ({ score: 0.5, extra: true }) as unknown as Labelled },
    });
    expect((await inference.infer(1)).value).toEqual({ score: 0.1, label: 'n/a' });
    model.behave(() => Promise.reject(new Error('down')));
    const outcome = await inference.infer(1);
    expect(outcome).toMatchObject({ source: 'fallback', fallbackName: 'partial' });
    expect(outcome.value).toEqual({ score: 0.5, label: 'n/a' });
    await inference.close();
  });

  it('a rule-based handler reports its rule id', async () => {
    const { inference } = build({
      name: 'rules',
      handle: () => ({ score: 0 }),
      explain: (input) => ({ value: { score: input > 10 ? 0.9 : 0.1 }, ruleId: input > 10 ? 'big' : 'default' }),
    });
    expect(await inference.infer(20)).toMatchObject({ fallbackName: 'rules', ruleId: 'big', value: { score: 0.9 } });
    expect(await inference.infer(2)).toMatchObject({ ruleId: 'default' });
    await inference.close();
  });

  it('a handler that answers after the caller aborted does not resurrect the call', async () => {
    const gate = deferred<Out>();
    const { inference } = build({ name: 'slow', handle: () => gate.promise });
    const controller = new AbortController();
    const pending = inference.infer(1, { signal: controller.signal });
    await sleep(5);
    controller.abort('gone');
    gate.resolve({ score: 0.5 });
    expect(await rejectionOf(pending)).toBe('gone');
    await inference.close();
  });
});
