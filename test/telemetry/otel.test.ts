import { ProxyTracerProvider, SpanKind, SpanStatusCode, context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { DataPointType } from '@opentelemetry/sdk-metrics';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigurationError, InferenceError, ModelCallError } from '../../src/errors.js';
import { createInference, type InferenceOptions } from '../../src/inference.js';
import { noopInstrumentation } from '../../src/telemetry/instrumentation.js';
import { DURATION_BUCKETS, errorType, openTelemetry, type OpenTelemetryOptions } from '../../src/telemetry/otel.js';
import { failOnUnhandledRejections, hang, rejectionOf, scriptedModel, sleep } from '../helpers/models.js';
import { createTestSdk, inputKeys, type TestSdk } from './otel-harness.js';

failOnUnhandledRejections();

interface Applicant {
  readonly income: number;
  readonly country: string;
  readonly secret: string;
}
interface Score {
  readonly risk: number;
}

const SECRET = 'ssn-123-45-6789';
const applicant: Applicant = { income: 50_000, country: 'FR', secret: SECRET };
const good: Score = { risk: 0.2 };
const rules: Score = { risk: 0.5 };

let sdk: TestSdk;
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
});
afterAll(() => {
  context.disable();
});
afterEach(async () => {
  await sdk?.shutdown();
});

function build(over: Partial<InferenceOptions<Applicant, Score>> = {}, otel: OpenTelemetryOptions = {}) {
  sdk = createTestSdk();
  const model = scriptedModel<Applicant, Score>(() => good);
  const inference = createInference<Applicant, Score>({
    name: 'credit',
    versions: { v1: model },
    input: z.object({ income: z.number().nonnegative(), country: z.string(), secret: z.string() }),
    output: z.object({ risk: z.number().min(0).max(1) }),
    timeoutMs: 1_000,
    breaker: false,
    instrumentation: openTelemetry({ tracerProvider: sdk.tracerProvider, meterProvider: sdk.meterProvider, ...otel }),
    ...over,
  });
  return { model, inference };
}

const namedFallback = {
  name: 'rules',
  handle: () => rules,
  explain: () => ({ value: rules, ruleId: 'low-income' }),
};

/** Runs `fn` with a caller span active; returns the caller span's ids. */
async function underCallerSpan<T>(fn: () => Promise<T>): Promise<{ result: T; traceId: string; spanId: string }> {
  const caller = sdk.tracerProvider.getTracer('test').startSpan('caller');
  const result = await context.with(trace.setSpan(context.active(), caller), fn);
  caller.end();
  return { result, ...caller.spanContext() };
}

const routedDefault = {
  'inference.version': 'v1',
  'inference.route': 'default',
  'feature_flag.key': 'credit',
  'feature_flag.result.variant': 'v1',
  'feature_flag.result.reason': 'default',
  'feature_flag.provider.name': 'graceful-inference',
};

describe('spans', () => {
  it('one infer span per call, child of the caller span, with an attempt child', async () => {
    const { inference } = build();
    const { result, traceId, spanId } = await underCallerSpan(() => inference.infer(applicant));
    expect(result.source).toBe('model');

    const infer = sdk.span('infer credit');
    expect(infer.kind).toBe(SpanKind.INTERNAL);
    expect(infer.parentSpanContext?.spanId).toBe(spanId);
    expect(infer.spanContext().traceId).toBe(traceId);
    expect(infer.attributes).toEqual({
      'inference.name': 'credit',
      ...routedDefault,
      'inference.source': 'model',
      'inference.attempts': 1,
    });
    expect(infer.status.code).toBe(SpanStatusCode.UNSET);

    const attempt = sdk.span('attempt credit');
    expect(attempt.parentSpanContext?.spanId).toBe(infer.spanContext().spanId);
    expect(attempt.attributes).toEqual({ 'inference.name': 'credit', 'inference.version': 'v1', 'inference.attempt': 1 });
    expect(attempt.status.code).toBe(SpanStatusCode.UNSET);
    expect(sdk.spans().map((s) => s.name).sort()).toEqual(['attempt credit', 'caller', 'infer credit']);
    sdk.assertEndedOnce();
    await inference.close();
  });

  it('is a root span without a caller span', async () => {
    const { inference } = build();
    await inference.infer(applicant);
    expect(sdk.span('infer credit').parentSpanContext).toBeUndefined();
    sdk.assertEndedOnce();
    await inference.close();
  });

  it('model error then fallback: failed attempt span, fallback span, infer span not an error', async () => {
    const { inference, model } = build({ fallback: namedFallback });
    model.behave(() => Promise.reject(new TypeError('bad tensor')));
    const { result } = await underCallerSpan(() => inference.infer(applicant));
    expect(result).toMatchObject({ source: 'fallback', reason: 'model-error', fallbackName: 'rules', ruleId: 'low-income' });

    const infer = sdk.span('infer credit');
    expect(infer.attributes).toEqual({
      'inference.name': 'credit',
      ...routedDefault,
      'inference.source': 'fallback',
      'inference.attempts': 1,
      'inference.fallback.reason': 'model-error',
      'inference.fallback.name': 'rules',
      'inference.rule.id': 'low-income',
    });
    expect(infer.status.code).toBe(SpanStatusCode.UNSET);

    const attempt = sdk.span('attempt credit');
    expect(attempt.status).toEqual({ code: SpanStatusCode.ERROR });
    expect(attempt.attributes).toMatchObject({ 'error.type': 'TypeError', 'inference.failure.reason': 'model-error' });

    const fallback = sdk.span('fallback credit');
    expect(fallback.parentSpanContext?.spanId).toBe(infer.spanContext().spanId);
    expect(fallback.attributes).toEqual({
      'inference.name': 'credit',
      'inference.version': 'v1',
      'inference.fallback.reason': 'model-error',
      'inference.fallback.name': 'rules',
      'inference.rule.id': 'low-income',
    });
    expect(fallback.status.code).toBe(SpanStatusCode.UNSET);
    sdk.assertEndedOnce();
    await inference.close();
  });

  it('timeout: the attempt span carries ERR_TIMEOUT', async () => {
    const { inference, model } = build({ timeoutMs: 30, fallback: namedFallback });
    model.behave((_a, ctx) => hang(ctx));
    const out = await inference.infer(applicant);
    expect(out.reason).toBe('timeout');
    expect(sdk.span('attempt credit').attributes).toMatchObject({ 'error.type': 'ERR_TIMEOUT', 'inference.failure.reason': 'timeout' });
    expect(sdk.span('infer credit').attributes).toMatchObject({ 'inference.fallback.reason': 'timeout', 'inference.source': 'fallback' });
    sdk.assertEndedOnce();
    await inference.close();
  });

  it('caller abort: the infer span fails with AbortError and every span ends once, even when the attempt settles later', async () => {
    const { inference, model } = build({ timeoutMs: 60, fallback: namedFallback });
    // Ignores the signal: the attempt only ends at the deadline, after the call.
    model.behave(() => new Promise<Score>(() => {}));
    const controller = new AbortController();
    const pending = inference.infer(applicant, { signal: controller.signal });
    await sleep(5);
    controller.abort();
    const error = await rejectionOf(pending);
    expect((error as Error).name).toBe('AbortError');
    const infer = sdk.span('infer credit');
    expect(infer.status).toEqual({ code: SpanStatusCode.ERROR });
    expect(infer.attributes).toMatchObject({ 'error.type': 'AbortError', 'inference.attempts': 1 });
    expect(sdk.span('attempt credit').attributes['error.type']).toBe('AbortError');
    await sleep(100); // past the deadline: the late attempt end must not end a span again
    sdk.assertEndedOnce();
    await inference.close();
  });

  it('every fallback failed: ERR_INFERENCE_FAILED on the infer span, the fallback span fails too', async () => {
    const { inference, model } = build({
      fallback: () => {
        throw new Error('rules down');
      },
    });
    model.behave(() => Promise.reject(new Error('model down')));
    const error = await rejectionOf(inference.infer(applicant));
    expect(error).toBeInstanceOf(InferenceError);
    const infer = sdk.span('infer credit');
    expect(infer.status).toEqual({ code: SpanStatusCode.ERROR });
    expect(infer.attributes).toEqual({
      'inference.name': 'credit',
      ...routedDefault,
      'inference.attempts': 1,
      'inference.fallback.reason': 'model-error',
      'error.type': 'ERR_INFERENCE_FAILED',
    });
    const fallback = sdk.span('fallback credit');
    expect(fallback.status.code).toBe(SpanStatusCode.ERROR);
    expect(fallback.attributes['error.type']).toBe('ERR_INFERENCE_FAILED');
    sdk.assertEndedOnce();
    await inference.close();
  });

  it('input validation rejection: one failed infer span, no children, no version', async () => {
    const { inference, model } = build();
    const error = await rejectionOf(inference.infer({ income: -1, country: 'FR', secret: SECRET }));
    expect((error as { code?: string }).code).toBe('ERR_INVALID_INPUT');
    expect(model.calls).toHaveLength(0);
    expect(sdk.spans()).toHaveLength(1);
    const infer = sdk.span('infer credit');
    expect(infer.attributes).toEqual({ 'inference.name': 'credit', 'inference.attempts': 0, 'error.type': 'ERR_INVALID_INPUT' });
    expect(infer.status).toEqual({ code: SpanStatusCode.ERROR });
    sdk.assertEndedOnce();
    await inference.close();
  });

  it('a closed inference: the rejection is a failed span', async () => {
    const { inference } = build();
    await inference.close();
    await rejectionOf(inference.infer(applicant));
    expect(sdk.span('infer credit').attributes['error.type']).toBe('ERR_CLOSED');
    sdk.assertEndedOnce();
  });

  it('one span per attempt when retrying', async () => {
    const { inference, model } = build({ retry: { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 1, retryIf: () => true } });
    let n = 0;
    model.behave(() => (++n < 3 ? Promise.reject(new Error('flaky')) : good));
    const out = await inference.infer(applicant);
    expect(out).toMatchObject({ source: 'model', attempts: 3 });
    const attempts = sdk.spans().filter((s) => s.name === 'attempt credit');
    expect(attempts.map((s) => [s.attributes['inference.attempt'], s.status.code])).toEqual([
      [1, SpanStatusCode.ERROR],
      [2, SpanStatusCode.ERROR],
      [3, SpanStatusCode.UNSET],
    ]);
    expect(sdk.span('infer credit').attributes['inference.attempts']).toBe(3);
    sdk.assertEndedOnce();
    await inference.close();
  });

  it('records the breaker state on the call span and counts transitions', async () => {
    const { inference, model } = build({
      breaker: { volumeThreshold: 1, errorThresholdPercentage: 50, resetTimeoutMs: 10_000 },
      fallback: namedFallback,
    });
    model.behave(() => Promise.reject(new Error('down')));
    await inference.infer(applicant); // opens the breaker
    sdk.reset();
    const out = await inference.infer(applicant);
    expect(out).toMatchObject({ reason: 'circuit-open', attempts: 0 });
    const infer = sdk.span('infer credit');
    expect(infer.attributes).toMatchObject({ 'inference.breaker.state': 'open', 'inference.attempts': 0, 'inference.fallback.reason': 'circuit-open' });
    expect(sdk.spans().some((s) => s.name === 'attempt credit')).toBe(false);
    const transitions = (await sdk.metrics()).get('inference.breaker.transitions')!;
    expect(transitions.unit).toBe('{transition}');
    expect(transitions.points).toEqual([
      { attributes: { 'inference.name': 'credit', 'inference.version': 'v1', 'inference.breaker.state': 'open' }, value: 1 },
    ]);
    sdk.assertEndedOnce();
    await inference.close();
  });

  it('sets status messages and exception events only with recordExceptions', async () => {
    const { inference, model } = build({ fallback: namedFallback }, { recordExceptions: true });
    model.behave(() => Promise.reject(new Error('model down')));
    await inference.infer(applicant);
    const attempt = sdk.span('attempt credit');
    expect(attempt.status).toEqual({ code: SpanStatusCode.ERROR, message: 'model down' });
    expect(attempt.events.map((e) => e.name)).toEqual(['exception']);
    await inference.close();
  });
});

describe('input values', () => {
  it('are never recorded by default', async () => {
    const { inference, model } = build({ fallback: namedFallback });
    await inference.infer(applicant, { context: { targetingKey: 'user-42' } });
    model.behave(() => Promise.reject(new Error('x')));
    await inference.infer(applicant);
    await rejectionOf(inference.infer({ income: -1, country: 'FR', secret: SECRET }));
    for (const span of sdk.spans()) {
      expect(inputKeys(span)).toEqual([]);
      const values = JSON.stringify(span.attributes) + JSON.stringify(span.events);
      expect(values).not.toContain(SECRET);
      expect(values).not.toContain('user-42');
      expect(values).not.toContain('50000');
    }
    const metrics = JSON.stringify([...(await sdk.metrics()).values()]);
    expect(metrics).not.toContain(SECRET);
    await inference.close();
  });

  it('are recorded only through the redaction function, prefixed', async () => {
    const seen: unknown[] = [];
    const { inference } = build(
      {},
      {
        recordInput: (input) => {
          seen.push(input);
          return { country: (input as Applicant).country, high_income: (input as Applicant).income > 40_000 };
        },
      },
    );
    await inference.infer(applicant);
    expect(seen).toEqual([applicant]);
    const infer = sdk.span('infer credit');
    expect(inputKeys(infer).sort()).toEqual(['inference.input.country', 'inference.input.high_income']);
    expect(infer.attributes).toMatchObject({ 'inference.input.country': 'FR', 'inference.input.high_income': true });
    expect(JSON.stringify(infer.attributes)).not.toContain(SECRET);
    await inference.close();
  });

  it('a throwing redaction function records nothing and never breaks the call', async () => {
    const { inference } = build({}, { recordInput: () => { throw new Error('oops'); } });
    expect((await inference.infer(applicant)).source).toBe('model');
    expect(inputKeys(sdk.span('infer credit'))).toEqual([]);
    await inference.close();
  });
});

describe('metrics', () => {
  it('names, units, attributes of duration, outcomes and inflight', async () => {
    const { inference, model } = build({ fallback: namedFallback });
    await inference.infer(applicant);
    await inference.infer(applicant);
    model.behave(() => Promise.reject(new Error('x')));
    await inference.infer(applicant);
    model.behave(() => good);
    await rejectionOf(inference.infer({ income: -1, country: 'FR', secret: SECRET }));
    const m = await sdk.metrics();
    expect([...m.keys()].sort()).toEqual(['inference.duration', 'inference.inflight', 'inference.outcomes']);

    const base = { 'inference.name': 'credit', 'inference.version': 'v1' };
    const duration = m.get('inference.duration')!;
    expect(duration).toMatchObject({ unit: 's', type: DataPointType.HISTOGRAM });
    const byDuration = Object.fromEntries(duration.points.map((p) => [String(p.attributes['inference.source']), p]));
    expect(byDuration.model).toMatchObject({ attributes: { ...base, 'inference.source': 'model' }, count: 2 });
    expect(byDuration.fallback).toMatchObject({ attributes: { ...base, 'inference.source': 'fallback' }, count: 1 });
    expect(byDuration.error).toMatchObject({ attributes: { 'inference.name': 'credit', 'inference.source': 'error' }, count: 1 });
    // Seconds, not milliseconds: a function model answers well under a second.
    expect(byDuration.model!.value).toBeLessThan(1);

    const outcomes = m.get('inference.outcomes')!;
    expect(outcomes).toMatchObject({ unit: '{call}', type: DataPointType.SUM });
    expect(outcomes.points).toEqual(
      expect.arrayContaining([
        { attributes: { ...base, 'inference.source': 'model' }, value: 2 },
        { attributes: { ...base, 'inference.source': 'fallback', 'inference.fallback.reason': 'model-error' }, value: 1 },
        { attributes: { 'inference.name': 'credit', 'inference.source': 'error', 'error.type': 'ERR_INVALID_INPUT' }, value: 1 },
      ]),
    );
    expect(outcomes.points).toHaveLength(3);

    const inflight = m.get('inference.inflight')!;
    expect(inflight).toMatchObject({ unit: '{call}', type: DataPointType.SUM });
    expect(inflight.points).toEqual([{ attributes: base, value: 0 }]);
    await inference.close();
  });

  it('counts calls in flight while they run', async () => {
    const { inference, model } = build();
    let release!: () => void;
    model.behave(() => new Promise<Score>((resolve) => (release = () => resolve(good))));
    const pending = inference.infer(applicant);
    await sleep(1);
    expect((await sdk.metrics()).get('inference.inflight')!.points[0]!.value).toBe(1);
    release();
    await pending;
    expect((await sdk.metrics()).get('inference.inflight')!.points[0]!.value).toBe(0);
    await inference.close();
  });

  it('rejections after a model failure carry the reason and error.type', async () => {
    const { inference, model } = build({ fallback: () => Promise.reject(new Error('no')) });
    model.behave(() => Promise.reject(new ModelCallError('ERR_OVERLOADED', 'overloaded', 'busy')));
    await rejectionOf(inference.infer(applicant));
    const outcomes = (await sdk.metrics()).get('inference.outcomes')!;
    expect(outcomes.points).toEqual([
      {
        attributes: {
          'inference.name': 'credit',
          'inference.version': 'v1',
          'inference.source': 'error',
          'error.type': 'ERR_INFERENCE_FAILED',
          'inference.fallback.reason': 'overloaded',
        },
        value: 1,
      },
    ]);
    await inference.close();
  });

  it('the duration histogram uses second-scale buckets', () => {
    expect(DURATION_BUCKETS[0]).toBeLessThan(0.001);
    expect([...DURATION_BUCKETS].sort((a, b) => a - b)).toEqual(DURATION_BUCKETS);
  });

  it('shadow agreement, canary figures and other recorded figures', async () => {
    sdk = createTestSdk();
    const inst = openTelemetry({ tracerProvider: sdk.tracerProvider, meterProvider: sdk.meterProvider });
    inst.shadowResult!('credit', 'v2', 'agree');
    inst.shadowResult!('credit', 'v2', 'agree');
    inst.shadowResult!('credit', 'v2', 'disagree');
    inst.record!('credit', 'inference.canary.weight', 10, { 'inference.version': 'v2', 'inference.canary.baseline': 'v1' });
    inst.record!('credit', 'inference.canary.weight', 25, { 'inference.version': 'v2', 'inference.canary.baseline': 'v1' });
    inst.record!('credit', 'inference.canary.transitions', 1, { 'inference.version': 'v2', 'inference.canary.transition': 'step' });
    inst.record!('credit', 'inference.queue.length', 3, {});
    const m = await sdk.metrics();
    const shadow = m.get('inference.shadow.agreement')!;
    expect(shadow.unit).toBe('{comparison}');
    expect(shadow.points).toEqual(
      expect.arrayContaining([
        { attributes: { 'inference.name': 'credit', 'inference.version': 'v2', 'inference.shadow.result': 'agree' }, value: 2 },
        { attributes: { 'inference.name': 'credit', 'inference.version': 'v2', 'inference.shadow.result': 'disagree' }, value: 1 },
      ]),
    );
    expect(m.get('inference.canary.weight')).toMatchObject({
      unit: '%',
      type: DataPointType.GAUGE,
      points: [{ attributes: { 'inference.name': 'credit', 'inference.version': 'v2', 'inference.canary.baseline': 'v1' }, value: 25 }],
    });
    expect(m.get('inference.canary.transitions')).toMatchObject({
      unit: '{transition}',
      type: DataPointType.SUM,
      points: [{ attributes: { 'inference.name': 'credit', 'inference.version': 'v2', 'inference.canary.transition': 'step' }, value: 1 }],
    });
    expect(m.get('inference.queue.length')).toMatchObject({ type: DataPointType.GAUGE, points: [{ value: 3 }] });
  });
});

describe('with routing', () => {
  it('split routing and shadow work reach the span attributes and the agreement counter', async () => {
    sdk = createTestSdk();
    const v1 = scriptedModel<Applicant, Score>(() => good);
    const v2 = scriptedModel<Applicant, Score>(() => good);
    const v3 = scriptedModel<Applicant, Score>(() => ({ risk: 0.9 }));
    const inference = createInference<Applicant, Score>({
      name: 'routed',
      versions: { v1, v2, v3 },
      routing: { split: { v1: 50, v2: 50 }, shadow: { version: 'v3', sampleRate: 1 } },
      instrumentation: openTelemetry({ tracerProvider: sdk.tracerProvider, meterProvider: sdk.meterProvider }),
    });
    const out = await inference.infer(applicant, { context: { targetingKey: 'user-7' } });
    expect(out.route).toBe('split');
    expect(sdk.span('infer routed').attributes).toMatchObject({
      'inference.version': out.version,
      'inference.route': 'split',
      'feature_flag.key': 'routed',
      'feature_flag.result.variant': out.version,
      'feature_flag.result.reason': 'split',
    });
    const deadline = Date.now() + 2_000;
    while (v3.calls.length === 0 && Date.now() < deadline) await sleep(5);
    await sleep(5);
    const shadow = (await sdk.metrics()).get('inference.shadow.agreement')!;
    expect(shadow.points).toEqual([
      { attributes: { 'inference.name': 'routed', 'inference.version': 'v3', 'inference.shadow.result': 'disagree' }, value: 1 },
    ]);
    expect(JSON.stringify(sdk.spans().map((s) => s.attributes))).not.toContain('user-7');
    await inference.close();
    sdk.assertEndedOnce();
  });
});

describe('observer seam', () => {
  it('maps a routing flag to the feature_flag attributes', () => {
    sdk = createTestSdk();
    const inst = openTelemetry({ tracerProvider: sdk.tracerProvider, meterProvider: sdk.meterProvider });
    const call = inst.startCall('credit', applicant, undefined);
    call.routed('v2', 'flag', { key: 'credit-model', variant: 'challenger', reason: 'TARGETING_MATCH', provider: 'flagd' });
    call.end({ value: good, source: 'model', version: 'v2', route: 'flag', latencyMs: 1, attempts: 0 });
    expect(sdk.span('infer credit').attributes).toMatchObject({
      'inference.version': 'v2',
      'inference.route': 'flag',
      'feature_flag.key': 'credit-model',
      'feature_flag.result.variant': 'challenger',
      'feature_flag.result.reason': 'targeting_match',
      'feature_flag.provider.name': 'flagd',
    });
  });

  it.each([
    ['split', 'split'],
    ['canary', 'split'],
    ['targeting', 'targeting_match'],
    ['override', 'static'],
  ] as const)('route %s is reported as reason %s', (route, reason) => {
    sdk = createTestSdk();
    const inst = openTelemetry({ tracerProvider: sdk.tracerProvider, meterProvider: sdk.meterProvider });
    const call = inst.startCall('credit', applicant, undefined);
    call.routed('v2', route);
    call.end({ value: good, source: 'model', version: 'v2', route, latencyMs: 1, attempts: 1 });
    expect(sdk.span('infer credit').attributes['feature_flag.result.reason']).toBe(reason);
  });

  it('end and fail end the span once, whatever the pipeline calls twice', () => {
    sdk = createTestSdk();
    const inst = openTelemetry({ tracerProvider: sdk.tracerProvider, meterProvider: sdk.meterProvider });
    const call = inst.startCall('credit', applicant, undefined);
    call.routed('v1', 'default');
    call.attemptStart(1);
    call.end({ value: good, source: 'model', version: 'v1', route: 'default', latencyMs: 1, attempts: 1 });
    call.end({ value: good, source: 'model', version: 'v1', route: 'default', latencyMs: 1, attempts: 1 });
    call.fail(new Error('late'));
    call.attemptEnd(1, undefined, undefined);
    expect(sdk.spans().map((s) => s.name).sort()).toEqual(['attempt credit', 'infer credit']);
    sdk.assertEndedOnce();
  });

  it('shadow work is a child span that may end after the call', () => {
    sdk = createTestSdk();
    const inst = openTelemetry({ tracerProvider: sdk.tracerProvider, meterProvider: sdk.meterProvider });
    const call = inst.startCall('credit', applicant, undefined);
    call.routed('v1', 'default');
    const agreeDone = call.shadowStart!('v2');
    const errorDone = call.shadowStart!('v3');
    call.end({ value: good, source: 'model', version: 'v1', route: 'default', latencyMs: 1, attempts: 1 });
    agreeDone('agree');
    agreeDone('disagree'); // ignored
    errorDone('error', new RangeError('boom'));
    const infer = sdk.span('infer credit');
    const shadows = sdk.spans().filter((s) => s.name === 'shadow credit');
    expect(shadows.map((s) => s.parentSpanContext?.spanId)).toEqual([infer.spanContext().spanId, infer.spanContext().spanId]);
    expect(shadows.map((s) => s.attributes)).toEqual([
      { 'inference.name': 'credit', 'inference.version': 'v2', 'inference.shadow.result': 'agree' },
      { 'inference.name': 'credit', 'inference.version': 'v3', 'inference.shadow.result': 'error', 'error.type': 'RangeError' },
    ]);
    expect(shadows[1]!.status.code).toBe(SpanStatusCode.ERROR);
    sdk.assertEndedOnce();
  });

  it('spans: false and metrics: false', async () => {
    const { inference } = build({}, { spans: false });
    await inference.infer(applicant);
    expect(sdk.startedCount()).toBe(0);
    expect((await sdk.metrics()).get('inference.outcomes')!.points[0]!.value).toBe(1);
    await inference.close();
    await sdk.shutdown();

    const second = build({}, { metrics: false });
    await second.inference.infer(applicant);
    expect(sdk.spans()).toHaveLength(2);
    expect((await sdk.metrics()).size).toBe(0);
    await second.inference.close();
  });

  it('validates its options with the path of the bad field', () => {
    const error = (() => {
      try {
        openTelemetry({ spans: 'yes' as unknown as boolean, meterProvider: {} as never });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).issues.map((i) => i.path.join('.')).sort()).toEqual(['meterProvider', 'spans']);
  });
});

describe('the default instrumentation and the global SDK', () => {
  it('with no SDK registered, every call gets the same shared no-op observer', () => {
    const inst = openTelemetry();
    const a = inst.startCall('credit', applicant, undefined);
    const b = inst.startCall('credit', applicant, undefined);
    expect(a).toBe(b);
    expect(a.shadowStart).toBeUndefined();
  });

  it('uses an SDK registered after createInference, and stops when it is removed; false turns it off', async () => {
    sdk = createTestSdk();
    const model = scriptedModel<Applicant, Score>(() => good);
    const inference = createInference<Applicant, Score>({ name: 'global', versions: { v1: model } });
    const off = createInference<Applicant, Score>({ name: 'off', versions: { v1: model }, instrumentation: false });
    const noop = createInference<Applicant, Score>({ name: 'noop', versions: { v1: model }, instrumentation: noopInstrumentation });
    await inference.infer(applicant); // nothing registered yet
    expect(trace.setGlobalTracerProvider(sdk.tracerProvider)).toBe(true);
    expect(metrics.setGlobalMeterProvider(sdk.meterProvider)).toBe(true);
    try {
      await inference.infer(applicant);
      await off.infer(applicant);
      await noop.infer(applicant);
      expect(sdk.spans().map((s) => s.name).sort()).toEqual(['attempt global', 'infer global']);
      const outcomes = (await sdk.metrics()).get('inference.outcomes')!;
      expect(outcomes.points).toEqual([
        { attributes: { 'inference.name': 'global', 'inference.version': 'v1', 'inference.source': 'model' }, value: 1 },
      ]);
    } finally {
      trace.disable();
      metrics.disable();
    }
    await inference.infer(applicant);
    expect(sdk.spans()).toHaveLength(2);
    sdk.assertEndedOnce();

    // A second SDK registered later is picked up as well.
    const first = sdk;
    sdk = createTestSdk();
    trace.setGlobalTracerProvider(sdk.tracerProvider);
    metrics.setGlobalMeterProvider(sdk.meterProvider);
    try {
      await inference.infer(applicant);
    } finally {
      trace.disable();
      metrics.disable();
    }
    expect(sdk.spans().map((s) => s.name).sort()).toEqual(['attempt global', 'infer global']);
    expect(first.spans()).toHaveLength(2);
    await first.shutdown();
    await Promise.all([inference.close(), off.close(), noop.close()]);
  });

  it('an explicit proxy tracer provider is used once it gets its delegate', async () => {
    sdk = createTestSdk();
    const proxy = new ProxyTracerProvider();
    const model = scriptedModel<Applicant, Score>(() => good);
    const inference = createInference<Applicant, Score>({
      name: 'proxied',
      versions: { v1: model },
      instrumentation: openTelemetry({ tracerProvider: proxy, metrics: false }),
    });
    await inference.infer(applicant);
    proxy.setDelegate(sdk.tracerProvider);
    await inference.infer(applicant);
    expect(sdk.spans().map((s) => s.name).sort()).toEqual(['attempt proxied', 'infer proxied']);
    await inference.close();
  });
});

describe('errorType', () => {
  it('is the code, the DOMException name, the constructor name, or _OTHER', () => {
    expect(errorType(new ModelCallError('ERR_TIMEOUT', 'timeout', 't'))).toBe('ERR_TIMEOUT');
    expect(errorType(new DOMException('stop', 'AbortError'))).toBe('AbortError');
    expect(errorType(new TypeError('x'))).toBe('TypeError');
    class CustomFailure extends Error {}
    expect(errorType(new CustomFailure('x'))).toBe('CustomFailure');
    expect(errorType('a string')).toBe('_OTHER');
    expect(errorType(undefined)).toBe('_OTHER');
    expect(errorType({ message: 'plain object' })).toBe('_OTHER');
    expect(errorType(Object.create(null))).toBe('_OTHER');
  });
});
