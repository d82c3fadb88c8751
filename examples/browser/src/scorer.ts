/**
 * The credit-risk inference of the example: two versions of the ONNX model
 * split 50/50 by user id, a 300 ms deadline, a breaker, and the legacy credit
 * policy (rules from `examples/legacy-rules`) as the fallback. `mode` breaks
 * the model on purpose.
 */
import {
  createInference,
  functionModel,
  onnxModel,
  rules,
  tensor,
  type Inference,
  type Model,
  type ModelProgress,
} from 'graceful-inference';
import modelUrl from '../../demo/model/credit-risk.onnx?url';
import { FEATURE_COUNT, toFeatureVector, type CreditApplicant } from '../../demo/model/features.js';
import type { CreditDecision } from '../../legacy-rules/legacy-table.js';
// The legacy credit policy as data (JsonLogic rules), bundled as text and validated when the page starts.
import creditPolicy from '../../legacy-rules/credit-policy.rules.json?raw';

/** How the model is broken, if at all. */
export type Mode = 'ok' | 'bad-url' | 'slow' | 'tampered';

/** Where runs execute: on the page's thread, or in a Web Worker (the page stays responsive during a run). */
export type Execution = 'inline' | 'worker';

/** SHA-256 of `credit-risk.onnx`, computed by `vite.config.ts` at build time. */
declare const __MODEL_INTEGRITY__: string;

/** Deadline of each call. */
export const TIMEOUT_MS = 300;
/** How long the "slow" mode holds each run: well past the deadline. */
export const SLOW_MS = 1_500;
/** The integrity the "tampered" mode expects: the digest of other bytes. */
const TAMPERED_INTEGRITY = 'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

/** Risk cut-offs of each version: v2 is stricter. */
export const THRESHOLDS = {
  v1: { approve: 0.2, decline: 0.5 },
  v2: { approve: 0.15, decline: 0.45 },
} as const;

type Version = keyof typeof THRESHOLDS;

function decide(risk: number, version: Version): CreditDecision {
  const t = THRESHOLDS[version];
  return { risk, decision: risk < t.approve ? 'approve' : risk < t.decline ? 'review' : 'decline' };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}

function creditModel(
  version: Version,
  mode: Mode,
  onProgress: (p: ModelProgress) => void,
  execution: Execution,
): Model<CreditApplicant, CreditDecision> {
  const model = onnxModel<CreditApplicant, CreditDecision>({
    source: mode === 'bad-url' ? new URL('models/missing.onnx', document.baseURI).href : modelUrl,
    integrity: mode === 'tampered' ? TAMPERED_INTEGRITY : __MODEL_INTEGRITY__,
    cache: true,
    onProgress,
    // Where vite-plugin-ort.ts serves onnxruntime-web's runtime. Absolute: a relative
    // path would be resolved against onnxruntime's own module URL, not the page.
    wasmPaths: new URL('ort/', document.baseURI).href,
    encode: (a) => ({ features: tensor('float32', toFeatureVector(a), [1, FEATURE_COUNT]) }),
    decode: (out) => decide((out.risk!.data as Float32Array)[0]!, version),
    execution,
    ...(execution === 'worker' ? { workers: 1, killAfterMs: 5_000 } : {}),
  });
  if (mode !== 'slow') return model;
  // A stand-in for a model that turned slow: each run waits SLOW_MS first.
  return functionModel(
    async (input, ctx) => {
      await sleep(SLOW_MS, ctx.signal);
      return model.run(input, ctx);
    },
    { load: (options) => model.load(options), close: () => model.close() },
  );
}

/** The legacy credit policy: answers are reported with the rule set's name and the id of the rule that held. */
const legacyPolicy = rules<CreditApplicant, CreditDecision>(creditPolicy);

/** Builds the inference for a mode. */
export function createScorer(
  mode: Mode,
  onProgress: (p: ModelProgress) => void,
  execution: Execution = 'inline',
): Inference<CreditApplicant, CreditDecision> {
  return createInference<CreditApplicant, CreditDecision>({
    name: 'credit-risk',
    versions: { v1: creditModel('v1', mode, onProgress, execution), v2: creditModel('v2', mode, onProgress, execution) },
    routing: { split: { v1: 50, v2: 50 } },
    timeoutMs: TIMEOUT_MS,
    breaker: { volumeThreshold: 5, errorThresholdPercentage: 50, resetTimeoutMs: 10_000 },
    fallback: legacyPolicy,
  });
}
