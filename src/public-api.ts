/**
 * The runtime-neutral public API, re-exported by both entries: `index.ts`
 * (Node) and `browser.ts` (browser) add only what is specific to their runtime.
 */
export * from './errors.js';
export type * from './types.js';
export { createInference } from './inference.js';
export type { Inference, InferenceOptions, InferenceStatus, VersionStatus, VersionCounts } from './inference.js';
export type { SchemaLike } from './options.js';
export { functionModel } from './models/function-model.js';
export type { ModelFunction, FunctionModelOptions } from './models/function-model.js';
export type { InferenceEvents, BreakerState, Unsubscribe } from './events.js';
export type { BreakerOptions, BreakerStats } from './resilience/circuit-breaker.js';
export type { RetryOptions } from './resilience/retry.js';
export type { Instrumentation, CallObserver } from './telemetry/instrumentation.js';
export { noopInstrumentation } from './telemetry/instrumentation.js';
export { openTelemetry, errorType, METRICS, DURATION_BUCKETS, INSTRUMENTATION_SCOPE } from './telemetry/otel.js';
export type { OpenTelemetryOptions } from './telemetry/otel.js';
export { FallbackTimeoutError, FallbackOutputError } from './fallback/fallback-chain.js';
export type { OnnxModelSource, OnnxModel } from './models/onnx-model.js';
export type {
  ExecutionOptions,
  ExecutionMode,
  WorkerIsolation,
  BatchingOptions,
  OnnxModelStatus,
  OnnxModelEvents,
  OnnxModelListener,
  WorkerReplacedEvent,
  WorkerReplacementCause,
} from './models/worker-options.js';
export type { BatcherStats } from './models/batcher.js';
export type { WorkerPoolStats } from './models/worker-pool.js';
export { tensor } from './models/tensor.js';
export type { TensorData, TensorType, TypedArray } from './models/tensor.js';
export { fetchModelBytes, verifyIntegrity, MODEL_CACHE_NAME } from './models/model-source.js';
export type { FetchModelBytesOptions, ModelProgress } from './models/model-source.js';
export { rules, rulesModel } from './fallback/rules.js';
export type { RulesHandler, RulesModel, RulesOptions, RuleData, RuleSetSource } from './fallback/rules.js';
export { validateRuleSet, DEFAULT_RULES_LIMITS } from './fallback/rules-schema.js';
export type { RuleSetDefinition, RuleDefinition, RulesLimits, RuleSetValidationOptions, RulesOutputSchema } from './fallback/rules-schema.js';
export type { JsonValue, LogicLimits } from './fallback/json-logic.js';
export { loadRules } from './fallback/rules-loader.js';
export type { LoadRulesOptions } from './fallback/rules-loader.js';
export { bucketOf, bucketValue, hashKey, fractionalSplit, MAX_TOTAL_WEIGHT } from './routing/fractional.js';
export type { FractionalSplit } from './routing/fractional.js';
export { defaultCompare } from './routing/shadow.js';
export type { ShadowCounts, ShadowMismatchEvent, ShadowResult } from './routing/shadow.js';
export { validateRouting } from './routing/routing-schema.js';
export { DEFAULT_CANARY_STEPS } from './routing/canary.js';
export type {
  CanaryControls,
  CanaryStatus,
  CanaryFigures,
  CanaryPhase,
  FailedCheck,
  CanaryStepEvent,
  CanaryRollbackEvent,
  CanaryPromotedEvent,
} from './routing/canary.js';
export type { RoutingStatus, RouteCounts, FlagErrorEvent, FlagEvaluation } from './routing/router.js';
export type {
  RoutingOptions,
  SplitOption,
  BucketingKey,
  TargetingRule,
  FlagRouting,
  OpenFeatureClientLike,
  FlagDetailsLike,
  ShadowOptions,
  CompareFunction,
  CanaryOptions,
  CanaryChecks,
  DeployOptions,
} from './routing/routing-options.js';
