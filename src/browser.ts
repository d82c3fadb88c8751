/**
 * graceful-inference for the browser. Re-exports only.
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
export { onnxModel } from './models/onnx-model.browser.js';
export type { BrowserOnnxModelOptions, OrtWebRuntime } from './models/onnx-model.browser.js';
export type { OnnxModelSource } from './models/onnx-model.js';
export { tensor } from './models/tensor.js';
export type { TensorData, TensorType, TypedArray } from './models/tensor.js';
export { fetchModelBytes, verifyIntegrity, MODEL_CACHE_NAME } from './models/model-source.js';
export type { FetchModelBytesOptions, ModelProgress } from './models/model-source.js';
