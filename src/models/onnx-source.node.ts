/**
 * Node loader of ONNX model sources: file paths and `file:` URLs are handed
 * to onnxruntime as paths (so external-data files next to the model work),
 * `http(s):` URLs are fetched, bytes pass through.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelLoadError } from '../errors.js';
import type { OnnxModelSource } from './onnx-model.js';
import type { ModelBytesOrPath } from './onnx-session.js';

const URL_SCHEME = /^[a-z][a-z0-9+.-]+:\/\//i;

async function existingFile(path: string): Promise<ModelBytesOrPath> {
  const absolute = resolve(path);
  let info;
  try {
    info = await stat(absolute);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new ModelLoadError(
      code === 'ENOENT' ? `ONNX model file not found: ${absolute}` : `Cannot read ONNX model file ${absolute}: ${String(error)}`,
      { cause: error },
    );
  }
  if (!info.isFile()) throw new ModelLoadError(`ONNX model path is not a file: ${absolute}`);
  return { path: absolute };
}

async function download(url: URL, signal: AbortSignal): Promise<ModelBytesOrPath> {
  let response: Response;
  try {
    response = await fetch(url, { signal });
  } catch (error) {
    throw new ModelLoadError(`Could not download ONNX model ${url.href}: ${String(error)}`, { cause: error });
  }
  if (!response.ok) {
    // Drain so the connection can be reused.
    await response.body?.cancel().catch(() => undefined);
    throw new ModelLoadError(`Could not download ONNX model ${url.href}: HTTP ${response.status} ${response.statusText}`);
  }
  return { bytes: new Uint8Array(await response.arrayBuffer()) };
}

function fromUrl(url: URL, signal: AbortSignal): Promise<ModelBytesOrPath> {
  switch (url.protocol) {
    case 'file:':
      return existingFile(fileURLToPath(url));
    case 'http:':
    case 'https:':
      return download(url, signal);
    default:
      return Promise.reject(
        new ModelLoadError(`Unsupported ONNX model URL ${url.href}: use a file path, file:, http: or https:`),
      );
  }
}

/** Resolves an ONNX model source in Node (see the module description). */
export async function loadNodeSource(source: OnnxModelSource, signal: AbortSignal): Promise<ModelBytesOrPath> {
  if (source instanceof Uint8Array) return { bytes: source };
  if (source instanceof ArrayBuffer) return { bytes: new Uint8Array(source) };
  if (source instanceof URL) return fromUrl(source, signal);
  // Windows paths like C:\model.onnx have a one-letter scheme; the pattern needs two letters.
  if (URL_SCHEME.test(source) || source.startsWith('file:')) {
    let url: URL;
    try {
      url = new URL(source);
    } catch (error) {
      throw new ModelLoadError(`Invalid ONNX model URL '${source}'`, { cause: error });
    }
    return fromUrl(url, signal);
  }
  return existingFile(source);
}
