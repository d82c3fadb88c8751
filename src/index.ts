/**
 * graceful-inference for Node.js. Re-exports only.
 * @packageDocumentation
 */
export * from './public-api.js';
export { onnxModel } from './models/onnx-model.node.js';
export type { OnnxModelOptions } from './models/onnx-model.js';
export type { NodeOnnxModelOptions } from './models/onnx-model.node.js';
export { loadRulesFile } from './fallback/rules-loader.node.js';
