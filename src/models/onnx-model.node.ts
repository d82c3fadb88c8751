/**
 * `onnxModel` for Node, bound to onnxruntime-node. onnxruntime-node is
 * imported on first load only, so applications that never use ONNX do not
 * need the package.
 */
import { ModelLoadError } from '../errors.js';
import { createOnnxModel, type OnnxModel, type OnnxModelOptions } from './onnx-model.js';
import type { OrtLike } from './onnx-session.js';
import { loadNodeSource } from './onnx-source.node.js';
import { spawnNodeWorker } from './worker-spawn.node.js';

let runtime: Promise<OrtLike> | undefined;

/** Imports onnxruntime-node once; a failed import is retried on the next load. */
function loadOnnxruntimeNode(): Promise<OrtLike> {
  runtime ??= import('onnxruntime-node').then(
    (m) => ((m as { InferenceSession?: unknown }).InferenceSession ? m : (m as { default: OrtLike }).default) as OrtLike,
    (error: unknown) => {
      runtime = undefined;
      throw new ModelLoadError(
        `onnxModel needs the onnxruntime-node package (npm install onnxruntime-node): ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    },
  );
  return runtime;
}

/**
 * An ONNX model run in-process by onnxruntime-node.
 *
 * Note that `session.run()` blocks the JavaScript thread while it computes
 * and cannot be cancelled: a timeout stops the wait, not the work.
 *
 * @throws {ConfigurationError} When the options are invalid (with the path of the bad field).
 *
 * @example
 * ```ts
 * const model = onnxModel({
 *   source: './model.onnx',
 *   encode: (row: number[]) => ({ x: tensor('float32', row, [1, row.length]) }),
 *   decode: (out) => Array.from(out.probs!.data as Float32Array),
 * });
 * ```
 */
export function onnxModel<I, O>(options: OnnxModelOptions<I, O>): OnnxModel<I, O> {
  return createOnnxModel({ loadRuntime: loadOnnxruntimeNode, loadSource: loadNodeSource, spawnWorker: spawnNodeWorker }, options);
}
