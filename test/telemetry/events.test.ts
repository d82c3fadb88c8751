import { describe, expect, it } from 'vitest';
import { createInference, type InferenceOptions } from '../../src/inference.js';
import type { InferenceEvents } from '../../src/events.js';
import { failOnUnhandledRejections, rejectionOf, scriptedModel, sleep } from '../helpers/models.js';

failOnUnhandledRejections();

const rules = { name: 'rules', handle: () => 'rules' };

function build(over: Partial<InferenceOptions<number, string>> = {}) {
  const model = scriptedModel<number, string>(() => 'model');
  const inference = createInference<number, string>({
    name: 'events',
    versions: { v1: model },
    timeoutMs: 500,
    breaker: false,
    fallback: rules,
    instrumentation: false,
    ...over,
  });
  return { model, inference };
}

describe('typed events', () => {
  it('fallback: payload with version, reason, handler and error; unsubscribe stops delivery', async () => {
    const { inference, model } = build();
    const seen: InferenceEvents['fallback'][] = [];
    const off = inference.on('fallback', (e) => seen.push(e));
    const boom = new Error('boom');
    model.behave(() => Promise.reject(boom));
    await inference.infer(1);
    expect(seen).toEqual([{ version: 'v1', reason: 'model-error', fallbackName: 'rules', ruleId: undefined, error: boom }]);
    off();
    off(); // twice is harmless
    await inference.infer(2);
    expect(seen).toHaveLength(1);
    await inference.close();
  });

  it('reports a fallback chain that failed with fallbackName undefined', async () => {
    const { inference, model } = build({ fallback: () => Promise.reject(new Error('rules down')) });
    const seen: InferenceEvents['fallback'][] = [];
    inference.on('fallback', (e) => seen.push(e));
    model.behave(() => Promise.reject(new Error('x')));
    await rejectionOf(inference.infer(1));
    expect(seen).toMatchObject([{ version: 'v1', reason: 'model-error', fallbackName: undefined }]);
    await inference.close();
  });

  it('unsubscribing one listener keeps the others, including during an emit', async () => {
    const { inference, model } = build();
    const calls: string[] = [];
    let offB: () => void = () => {};
    inference.on('fallback', () => {
      calls.push('a');
      offB(); // removing b while a is being called does not skip b this time
    });
    offB = inference.on('fallback', () => calls.push('b'));
    model.behave(() => Promise.reject(new Error('x')));
    await inference.infer(1);
    await inference.infer(2);
    expect(calls).toEqual(['a', 'b', 'a']);
    await inference.close();
  });

  it('a throwing listener never breaks a call; the error is reported as listener-error', async () => {
    const { inference, model } = build();
    const reported: InferenceEvents['listener-error'][] = [];
    const thrown = new Error('listener bug');
    inference.on('fallback', () => {
      throw thrown;
    });
    const after: string[] = [];
    inference.on('fallback', () => after.push('second listener still called'));
    inference.on('listener-error', (e) => reported.push(e));
    model.behave(() => Promise.reject(new Error('x')));
    const out = await inference.infer(1);
    expect(out).toMatchObject({ value: 'rules', source: 'fallback' });
    expect(after).toEqual(['second listener still called']);
    expect(reported).toEqual([{ event: 'fallback', error: thrown }]);
    await inference.close();
  });

  it('a throwing listener-error listener is swallowed too', async () => {
    const { inference, model } = build();
    inference.on('fallback', () => {
      throw new Error('a');
    });
    inference.on('listener-error', () => {
      throw new Error('b');
    });
    model.behave(() => Promise.reject(new Error('x')));
    expect((await inference.infer(1)).source).toBe('fallback');
    await inference.close();
  });

  it('breaker events in order: open, half-open, close', async () => {
    const { inference, model } = build({ breaker: { volumeThreshold: 1, errorThresholdPercentage: 50, resetTimeoutMs: 40 } });
    const order: string[] = [];
    inference.on('breaker-open', (e) => order.push(`open:${e.version}:${e.cause}`));
    inference.on('breaker-half-open', (e) => order.push(`half-open:${e.version}`));
    inference.on('breaker-close', (e) => order.push(`close:${e.version}`));
    model.behave(() => Promise.reject(new Error('down')));
    expect((await inference.infer(1)).reason).toBe('model-error');
    expect((await inference.infer(2)).reason).toBe('circuit-open');
    expect(order).toEqual(['open:v1:failures']);
    model.behave(() => 'model');
    // Wide margin over resetTimeoutMs: the breaker lets a probe through.
    const deadline = Date.now() + 2_000;
    let out = await inference.infer(3);
    while (out.source !== 'model' && Date.now() < deadline) {
      await sleep(20);
      out = await inference.infer(3);
    }
    expect(out.source).toBe('model');
    expect(order).toEqual(['open:v1:failures', 'half-open:v1', 'close:v1']);
    await inference.close();
  });
});
