/**
 * A small credit-scoring HTTP service on graceful-inference, exporting traces
 * and metrics with the OpenTelemetry Node SDK over OTLP/HTTP.
 *
 *   POST /score   body: a credit applicant (JSON)  -> decision, who answered and why
 *   GET  /status  breakers, counters and calls in flight
 *
 * Each request is a server span (continuing the caller's trace from the
 * `traceparent` header); the inference's `infer credit-risk` span and its
 * attempt and fallback spans are its children. `FAULT_RATE` and `SLOW_RATE`
 * inject model failures and slow runs so fallbacks and breakers show up on
 * the dashboards. On SIGINT/SIGTERM it prints a short summary, flushes
 * telemetry and exits.
 */
import { sdk } from './telemetry.js';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import { z } from 'zod';
import {
  createInference,
  functionModel,
  isInferenceError,
  isInputValidationError,
  loadRulesFile,
  onnxModel,
  rules,
  tensor,
  type Model,
} from '../../src/index.js';
import { openTelemetry } from '../../src/telemetry/otel.js';
import { toFeatureVector, type CreditApplicant } from '../demo/model/features.js';
import type { CreditDecision } from '../legacy-rules/legacy-table.js';

const PORT = Number(process.env.PORT ?? 3000);
const FAULT_RATE = Number(process.env.FAULT_RATE ?? 0.05);
const SLOW_RATE = Number(process.env.SLOW_RATE ?? 0.02);
const MODEL = fileURLToPath(new URL('../demo/model/credit-risk.onnx', import.meta.url));
const RULES = fileURLToPath(new URL('../legacy-rules/credit-policy.rules.json', import.meta.url));

const Applicant = z.object({
  annualIncome: z.number().nonnegative(),
  debtToIncome: z.number().nonnegative(),
  age: z.number().int().min(18).max(120),
  monthsEmployed: z.number().int().nonnegative(),
  latePayments: z.number().int().nonnegative(),
  creditUtilization: z.number().nonnegative(),
  openAccounts: z.number().int().nonnegative(),
  loanAmount: z.number().positive(),
});
const Decision = z.object({ risk: z.number().min(0).max(1), decision: z.enum(['approve', 'review', 'decline']) });

const decide = (risk: number): CreditDecision['decision'] => (risk < 0.15 ? 'approve' : risk < 0.5 ? 'review' : 'decline');

const onnx = onnxModel<CreditApplicant, CreditDecision>({
  source: MODEL,
  encode: (a) => ({ features: tensor('float32', toFeatureVector(a), [1, 8]) }),
  decode: (out) => {
    const risk = (out.risk!.data as Float32Array)[0]!;
    return { risk, decision: decide(risk) };
  },
});

/** The ONNX model with injected faults, so the demo has fallbacks to show. */
function withFaults(model: Model<CreditApplicant, CreditDecision>): Model<CreditApplicant, CreditDecision> {
  return functionModel<CreditApplicant, CreditDecision>(
    async (applicant, ctx) => {
      const dice = Math.random();
      if (dice < FAULT_RATE) throw new Error('injected model fault');
      if (dice < FAULT_RATE + SLOW_RATE) await new Promise((resolve) => setTimeout(resolve, 120));
      return model.run(applicant, ctx);
    },
    { load: (options) => model.load(options), close: () => model.close() },
  );
}

const bandOf = (amount: number): string => (amount < 10_000 ? 'small' : amount < 40_000 ? 'medium' : 'large');

const scorer = createInference<CreditApplicant, CreditDecision>({
  name: 'credit-risk',
  versions: { v1: withFaults(onnx) },
  input: Applicant,
  output: Decision,
  timeoutMs: 50,
  breaker: { volumeThreshold: 20, errorThresholdPercentage: 50, resetTimeoutMs: 5_000 },
  fallback: rules<CreditApplicant, CreditDecision>(await loadRulesFile(RULES), { output: Decision }),
  // The default instrumentation already uses the SDK registered above; this
  // adds a redacted view of the input (a band, never the amount itself).
  instrumentation: openTelemetry({ recordInput: (a) => ({ loan_band: bandOf((a as CreditApplicant).loanAmount) }) }),
});
await scorer.ready();

const tracer = trace.getTracer('credit-scoring-example');

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new SyntaxError('body too large');
    chunks.push(chunk as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function score(req: IncomingMessage, res: ServerResponse): Promise<void> {
  let body: unknown;
  try {
    body = await readJson(req);
  } catch {
    return send(res, 400, { error: 'expected a JSON body' });
  }
  try {
    const out = await scorer.infer(body as CreditApplicant);
    send(res, 200, {
      ...out.value,
      source: out.source,
      version: out.version,
      reason: out.reason,
      fallbackName: out.fallbackName,
      ruleId: out.ruleId,
      latencyMs: Math.round(out.latencyMs * 1000) / 1000,
    });
  } catch (error) {
    if (isInputValidationError(error)) return send(res, 400, { error: 'invalid applicant', issues: error.issues });
    if (isInferenceError(error)) return send(res, 503, { error: 'no answer', reason: error.reason });
    throw error;
  }
}

const server = createServer((req, res) => {
  const route = `${req.method} ${req.url?.split('?')[0]}`;
  // Continue the caller's trace (W3C traceparent) when there is one.
  const parent = propagation.extract(context.active(), req.headers);
  void tracer.startActiveSpan(route, { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method ?? '' } }, parent, async (span) => {
    try {
      if (route === 'POST /score') await score(req, res);
      else if (route === 'GET /status') send(res, 200, scorer.status());
      else send(res, 404, { error: 'not found' });
      span.setAttribute('http.response.status_code', res.statusCode);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
    } finally {
      span.end();
    }
  });
});

server.listen(PORT, () => {
  console.log(`credit-scoring listening on http://localhost:${PORT} (OTLP to ${process.env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318'})`);
});

/** A short summary of what the service answered, from `status()`. */
function summary(): string {
  const v = scorer.status().versions.v1!;
  const c = v.counts;
  const reasons = Object.entries(c.reasons)
    .filter(([, n]) => n > 0)
    .map(([r, n]) => `${r} ${n}`)
    .join(', ');
  return [
    `calls ${c.calls}: model ${c.model}, fallback ${c.fallback}, failed ${c.failed}`,
    `failure reasons: ${reasons || 'none'}`,
    `breaker: ${v.breaker.state}`,
  ].join('\n');
}

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: shutting down\n${summary()}`);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await scorer.close();
  // Flushes the last spans and metrics; failing to export (no collector) is not fatal, nor allowed to hold the exit.
  const flushed = sdk.shutdown().then(
    () => 'telemetry flushed',
    (error: unknown) => `telemetry flush failed: ${error instanceof Error ? error.message : String(error)}`,
  );
  const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('telemetry flush timed out'), 3_000).unref());
  console.log(await Promise.race([flushed, timeout]));
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
