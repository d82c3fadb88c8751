/**
 * graceful-inference for Node.js. Re-exports only.
 * @packageDocumentation
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
export { FallbackTimeoutError, FallbackOutputError } from './fallback/fallback-chain.js';
export { onnxModel } from './models/onnx-model.node.js';
export type { OnnxModelOptions, OnnxModelSource } from './models/onnx-model.js';
export { tensor } from './models/tensor.js';
export type { TensorData, TensorType, TypedArray } from './models/tensor.js';
export { rules, rulesModel } from './fallback/rules.js';
export type { RulesHandler, RulesModel, RulesOptions, RuleData, RuleSetSource } from './fallback/rules.js';
export type { RuleSetDefinition, RuleDefinition, RulesLimits, RuleSetValidationOptions } from './fallback/rules-schema.js';
export { loadRules } from './fallback/rules-loader.js';
export type { LoadRulesOptions } from './fallback/rules-loader.js';
export { loadRulesFile } from './fallback/rules-loader.node.js';
