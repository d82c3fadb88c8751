/**
 * graceful-inference for the browser. Re-exports only.
 * @packageDocumentation
 */
export * from './public-api.js';
export { onnxModel } from './models/onnx-model.browser.js';
export type { BrowserOnnxModelOptions, OrtWebRuntime } from './models/onnx-model.browser.js';
