/**
 * `npm run demo`: a realistic end-to-end run of graceful-inference.
 *
 * A lender scores loan applications with a credit-risk ONNX model
 * (examples/demo/model/credit-risk.onnx). The legacy credit policy, kept as
 * data (examples/legacy-rules/credit-policy.rules.json), answers whenever the
 * model cannot. Two model versions serve traffic: v1 and a recalibrated v2,
 * split 80/20 sticky by applicant id (the same split flagd computes), and a
 * canary v3 that turns out to be broken is rolled back automatically.
 *
 * The run goes through phases (healthy, an outage of v1, a latency spike,
 * corrupted outputs) and prints what happened: who answered, why, which rules
 * answered, breaker transitions, latency percentiles and routing.
 */
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { createInference, onnxModel, rules, tensor, type Outcome } from '../../src/index.js';
import { loadRulesFile } from '../../src/fallback/rules-loader.node.js';
import { LegacyCreditPolicy, type CreditDecision } from '../legacy-rules/legacy-table.js';
import { withFaults, prng, type FaultProfile } from './faults.js';
import { createTelemetrySummary } from './telemetry-summary.js';
import { toFeatureVector, type CreditApplicant } from './model/features.js';

const MODEL = fileURLToPath(new URL('./model/credit-risk.onnx', import.meta.url));
const RULES = fileURLToPath(new URL('../legacy-rules/credit-policy.rules.json', import.meta.url));
const REQUESTS = Number(process.env.DEMO_REQUESTS ?? 3000);
const CONCURRENCY = 16;
/** Arrival rate: the run lasts long enough for breakers to open, probe and close. */
const RATE_PER_SECOND = Number(process.env.DEMO_RATE ?? 400);

interface Application extends CreditApplicant {
  readonly id: string;
}

const Decision = z.object({
  risk: z.number().min(0).max(1),
  decision: z.enum(['approve', 'review', 'decline']),
});

const decide = (risk: number): CreditDecision['decision'] => (risk < 0.15 ? 'approve' : risk < 0.5 ? 'review' : 'decline');

/** The ONNX model of one version; `calibration` shifts the logit (v2 is a recalibrated model). */
function creditModel(calibration: number) {
  return onnxModel<Application, CreditDecision>({
    source: MODEL,
    encode: (a) => ({ features: tensor('float32', toFeatureVector(a), [1, 8]) }),
    decode: (out) => {
      const p = (out.risk!.data as Float32Array)[0]!;
      const logit = Math.log(p / (1 - p)) + calibration;
      const risk = 1 / (1 + Math.exp(-logit));
      return { risk, decision: decide(risk) };
    },
  });
}

// ------------------------------------------------------------------ phases
interface Phase extends FaultProfile {
  readonly name: string;
  readonly until: number;
  /** Faults of the canary v3, which is broken all along. */
  readonly canary?: Partial<FaultProfile>;
}

const phases: Phase[] = [
  { name: 'healthy', until: 0.25, errorRate: 0.01, slowRate: 0.005, slowMs: 60, garbageRate: 0.002 },
  { name: 'v1 outage', until: 0.45, errorRate: 0.85, slowRate: 0, slowMs: 0, garbageRate: 0 },
  { name: 'recovery', until: 0.6, errorRate: 0.01, slowRate: 0.005, slowMs: 60, garbageRate: 0.002 },
  { name: 'latency spike', until: 0.8, errorRate: 0.01, slowRate: 0.7, slowMs: 20, garbageRate: 0.002 },
  { name: 'corrupted outputs', until: 1, errorRate: 0.01, slowRate: 0.005, slowMs: 60, garbageRate: 0.08 },
];
let done = 0;
const phaseNow = (): Phase => phases.find((p) => done / REQUESTS < p.until) ?? phases[phases.length - 1]!;
const healthy: FaultProfile = { errorRate: 0.01, slowRate: 0.005, slowMs: 60, garbageRate: 0.002 };

// ------------------------------------------------------------------ applicants
function applicants(seed: number): () => Application {
  const r = prng(seed);
  let n = 0;
  const pick = (lo: number, hi: number) => lo + (hi - lo) * r();
  return () => ({
    id: `app-${(n++ % 900).toString().padStart(4, '0')}`, // returning applicants: routing is sticky per id
    annualIncome: Math.round(Math.exp(pick(Math.log(15_000), Math.log(250_000)))),
    debtToIncome: Math.round(pick(0, 0.75) * 100) / 100,
    age: Math.round(pick(19, 75)),
    monthsEmployed: Math.round(pick(0, 240)),
    latePayments: r() < 0.75 ? 0 : Math.round(pick(1, 5)),
    creditUtilization: Math.round(pick(0, 1.1) * 100) / 100,
    openAccounts: Math.round(pick(0, 14)),
    loanAmount: Math.round(pick(2_000, 60_000)),
  });
}

// ------------------------------------------------------------------ the inference
const policy = await loadRulesFile(RULES);
const legacy = new LegacyCreditPolicy();
const random = prng(7);
// OpenTelemetry metrics into an in-memory reader, summarised at the end.
const telemetry = createTelemetrySummary();

const scorer = createInference<Application, CreditDecision>({
  name: 'credit-risk',
  versions: {
    v1: withFaults(creditModel(0), () => phaseNow(), random),
    v2: withFaults(creditModel(-0.15), () => (phaseNow().name === 'v1 outage' ? healthy : phaseNow()), random),
    v3: withFaults(creditModel(0.1), () => ({ ...phaseNow(), errorRate: 0.3 }), random),
  },
  defaultVersion: 'v1',
  output: Decision,
  timeoutMs: 30,
  breaker: { volumeThreshold: 20, errorThresholdPercentage: 50, resetTimeoutMs: 400, rollingWindowMs: 2_000, slowCallMs: 15, slowCallRatePercent: 60 },
  retry: { retries: 1, minTimeoutMs: 2, maxTimeoutMs: 5 },
  // A model that is unsure is worse than the policy: send borderline scores to the rules.
  accept: (out) => (Math.abs(out.risk - 0.5) < 0.02 ? 'low-confidence' : true),
  fallback: [
    rules<Application, CreditDecision>(policy, { output: Decision }),
    { name: 'legacy-policy-class', handle: (a) => legacy.decide(a) },
  ],
  fallbackTimeoutMs: 20,
  instrumentation: telemetry.instrumentation,
  routing: {
    split: { v1: 80, v2: 20 },
    key: (a: Application) => a.id,
    canary: {
      version: 'v3',
      baseline: 'v1',
      steps: [5, 25, 50, 100],
      minRequestsPerStep: 40,
      intervalMs: 500,
      checks: { maxErrorRate: 0.05, maxFallbackRate: 0.2, maxLatencyRatio: 3 },
      failureLimit: 2,
    },
  },
});

// ------------------------------------------------------------------ recording
const started = performance.now();
const t = () => ((performance.now() - started) / 1000).toFixed(2).padStart(6) + 's';
const timeline: string[] = [];
const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(3));
const note = (line: string) => timeline.push(`${t()}  [${phaseNow().name}] ${line}`);
scorer.on('breaker-open', ({ version, cause }) => note(`breaker ${version}: OPEN (${cause})`));
scorer.on('breaker-half-open', ({ version }) => note(`breaker ${version}: half-open, one probe goes through`));
scorer.on('breaker-close', ({ version }) => note(`breaker ${version}: closed`));
scorer.on('canary-step', (e) => note(`canary ${e.version}: checks passed, traffic ${e.previousWeight}% -> ${e.weight}%`));
scorer.on('canary-rollback', (e) =>
  note(`canary ${e.version}: ROLLED BACK to 0% (${e.failed.map((f) => `${f.check} ${fmt(f.actual)} > ${fmt(f.limit)}`).join(', ')})`),
);
scorer.on('canary-promoted', (e) => note(`canary ${e.version}: promoted, now the default`));

const outcomes: Outcome<CreditDecision>[] = [];
let failed = 0;
const next = applicants(42);
let phaseShown = '';

await scorer.ready();
console.log(`graceful-inference demo: ${REQUESTS} loan applications at ~${RATE_PER_SECOND}/s, up to ${CONCURRENCY} in flight, deadline 30 ms`);
console.log('model: examples/demo/model/credit-risk.onnx (v1, recalibrated v2, canary v3); fallback: credit-policy-v7 rules, then the legacy class\n');

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function worker(): Promise<void> {
  while (done < REQUESTS) {
    await pause((1000 * CONCURRENCY) / RATE_PER_SECOND);
    if (done >= REQUESTS) break;
    const phase = phaseNow();
    if (phase.name !== phaseShown) {
      phaseShown = phase.name;
      note(`--- phase: ${phase.name} ---`);
    }
    const app = next();
    done++;
    try {
      outcomes.push(await scorer.infer(app, { context: { targetingKey: app.id } }));
    } catch {
      failed++;
    }
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, worker));
const elapsed = (performance.now() - started) / 1000;

// ------------------------------------------------------------------ summary
const count = <K extends string>(keyOf: (o: Outcome<CreditDecision>) => K | undefined, list = outcomes) => {
  const m = new Map<K, number>();
  for (const o of list) {
    const k = keyOf(o);
    if (k !== undefined) m.set(k, (m.get(k) ?? 0) + 1);
  }
  return [...m.entries()].sort((a, b) => b[1] - a[1]);
};
const pct = (n: number, of: number) => `${((100 * n) / Math.max(1, of)).toFixed(1)}%`.padStart(6);
const quantile = (xs: number[], q: number) => {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};
const table = (title: string, rows: [string, number][], of: number) => {
  console.log(title);
  for (const [k, n] of rows) console.log(`  ${k.padEnd(28)} ${String(n).padStart(6)}  ${pct(n, of)}`);
};

console.log('Timeline');
for (const line of timeline) console.log('  ' + line);
console.log();
const total = outcomes.length + failed;
console.log(`Answered ${outcomes.length} of ${total} calls in ${elapsed.toFixed(1)} s (${failed} without any answer)\n`);
table('Who answered', count((o) => o.source), total);
const fallbacks = outcomes.filter((o) => o.source === 'fallback');
table('\nWhy the fallback answered', count((o) => o.reason, fallbacks), fallbacks.length);
table('\nWhich fallback answered', count((o) => o.fallbackName, fallbacks), fallbacks.length);
table('\nWhich rule answered (credit-policy-v7)', count((o) => o.ruleId, fallbacks), fallbacks.length);
table('\nVersion (route)', count((o) => `${o.version} (${o.route})` as string), outcomes.length);
table('\nDecision', count((o) => o.value.decision), outcomes.length);

console.log('\nLatency (ms)          p50      p95      p99      max');
for (const [label, list] of [
  ['model answers', outcomes.filter((o) => o.source === 'model')],
  ['fallback answers', fallbacks],
  ['all', outcomes],
] as const) {
  const xs = list.map((o) => o.latencyMs);
  console.log(`  ${label.padEnd(18)} ${[0.5, 0.95, 0.99, 1].map((q) => quantile(xs, q).toFixed(2).padStart(8)).join(' ')}`);
}

const status = scorer.status();
console.log('\nBreakers at the end');
for (const [v, s] of Object.entries(status.versions)) {
  console.log(`  ${v}: ${s.breaker.state.padEnd(9)} calls ${s.counts.calls}, model ${s.counts.model}, fallback ${s.counts.fallback}, failed ${s.counts.failed}`);
}
const canary = scorer.canary.status();
if (canary !== undefined) {
  console.log(`\nCanary ${canary.version}: ${canary.phase}, traffic ${canary.weight}%, failed analyses ${canary.failures}/${canary.failureLimit}`);
}

console.log();
await telemetry.print();

await scorer.close();
console.log('\nclosed: no timers or sessions left running.');
