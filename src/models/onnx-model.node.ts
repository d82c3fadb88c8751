/**
 * `onnxModel` for Node, bound to onnxruntime-node. onnxruntime-node is
 * imported on first load only, so applications that never use ONNX do not
 * need the package.
 */
import { readFile } from 'node:fs/promises';
import { ModelLoadError } from '../errors.js';
import { checkIntegrityOption, verifyIntegrity } from './model-source.js';
import { createOnnxModel, type OnnxModel, type OnnxModelOptions, type OnnxSourceLoader } from './onnx-model.js';
import type { OrtLike } from './onnx-session.js';
import { loadNodeSource } from './onnx-source.node.js';
import { spawnNodeProcess, spawnNodeThread } from './worker-spawn.node.js';

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
export function onnxModel<I, O>(options: NodeOnnxModelOptions<I, O>): OnnxModel<I, O> {
  let loadSource: OnnxSourceLoader = loadNodeSource;
  if (typeof options === 'object' && options !== null && 'integrity' in options) {
    const { integrity, ...rest } = options;
    checkIntegrityOption(integrity, 'onnxModel options');
    options = rest;
    if (integrity !== undefined) loadSource = withIntegrity(integrity);
  }
  return createOnnxModel({ loadRuntime: loadOnnxruntimeNode, loadSource, spawnWorker: spawnNodeThread, spawnProcess: spawnNodeProcess }, options);
}

/** Options of the Node `onnxModel`: the common ones plus `integrity`. */
export interface NodeOnnxModelOptions<I, O> extends OnnxModelOptions<I, O> {
  /**
   * Expected digest of the model file or download (`sha256-<base64>` as in
   * Subresource Integrity, or 64 hex digits), checked before onnxruntime sees
   * the bytes: a mismatch fails the load with `IntegrityError` (code
   * `ERR_INTEGRITY`) and calls fall back. With a file path the file is read
   * into memory to be checked (so external-data files are not supported then).
   */
  readonly integrity?: string;
}

/** A source loader that checks the bytes against `integrity` (files are read to be hashed). */
function withIntegrity(integrity: string): OnnxSourceLoader {
  return async (source, signal) => {
    const loaded = await loadNodeSource(source, signal);
    const bytes = 'bytes' in loaded ? loaded.bytes : new Uint8Array(await readFile(loaded.path, { signal }));
    await verifyIntegrity(bytes, integrity, 'path' in loaded ? loaded.path : source instanceof URL ? source.href : typeof source === 'string' ? source : 'model bytes');
    return { bytes };
  };
}
