/**
 * The messages between the SDK and its model workers. One protocol for Node
 * `worker_threads` and browser Web Workers: plain structured-cloneable
 * objects, tensors as {@link TensorData} whose buffers are transferred.
 *
 * Runtime-agnostic: no Node or browser APIs.
 */
import type { ModelBytesOrPath, TensorMetadata } from './onnx-session.js';
import type { TensorData, TypedArray } from './tensor.js';

/** Tensors keyed by input or output name. */
export type WireTensors = Record<string, TensorData>;

/** Loads the session; the worker answers {@link ReadyMessage} or {@link LoadErrorMessage}. Sent once per worker. */
export interface LoadMessage {
  readonly t: 'load';
  /** A path (Node only: the worker reads it) or the model's bytes. */
  readonly source: ModelBytesOrPath;
  readonly sessionOptions?: Readonly<Record<string, unknown>>;
  /** Runtime settings applied before the first session (onnxruntime-web: `{ wasmPaths, numThreads }`). */
  readonly runtimeEnv?: Readonly<Record<string, unknown>>;
  /** Feeds run once after loading, so the first real run does not pay for lazy allocations. */
  readonly warmup?: WireTensors;
}

/** Runs feeds; the worker answers {@link ResultMessage} or {@link ErrorMessage} with the same id. */
export interface RunMessage {
  readonly t: 'run';
  readonly id: number;
  readonly feeds: WireTensors;
}

/** Messages from the SDK to a worker. */
export type ToWorker = LoadMessage | RunMessage;

/** The session is loaded (and warmed up). */
export interface ReadyMessage {
  readonly t: 'ready';
  readonly inputs: readonly TensorMetadata[];
  readonly outputs: readonly TensorMetadata[];
}

/** The session could not be loaded. */
export interface LoadErrorMessage {
  readonly t: 'load-error';
  readonly error: WireError;
}

/** Outputs of a run. */
export interface ResultMessage {
  readonly t: 'result';
  readonly id: number;
  readonly outputs: WireTensors;
}

/** A run failed (an exception, not a crash: crashes end the worker). */
export interface ErrorMessage {
  readonly t: 'error';
  readonly id: number;
  readonly error: WireError;
}

/** Messages from a worker to the SDK. */
export type FromWorker = ReadyMessage | LoadErrorMessage | ResultMessage | ErrorMessage;

/** An error as it crosses the boundary: the class is lost, the code is kept. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  /** The library's error code when the worker raised one of its own errors (e.g. `ERR_MODEL_INPUT`). */
  readonly code?: string;
}

/** Flattens an error for posting. */
export function toWireError(error: unknown): WireError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(error) };
}

/**
 * The buffers to transfer with `tensors`. A typed array that is a view on part
 * of a bigger buffer (or on a shared one) is first copied into its own buffer,
 * in place in the map: transferring the whole buffer would detach data that
 * is not ours, and a SharedArrayBuffer cannot be transferred at all.
 */
export function transferables(tensors: WireTensors): ArrayBuffer[] {
  const list: ArrayBuffer[] = [];
  for (const name in tensors) {
    const t = tensors[name]!;
    if (Array.isArray(t.data)) continue;
    let data = t.data as TypedArray;
    const buffer = data.buffer;
    if (
      !(buffer instanceof ArrayBuffer) ||
      data.byteOffset !== 0 ||
      data.byteLength !== buffer.byteLength ||
      list.includes(buffer)
    ) {
      data = data.slice() as TypedArray;
      tensors[name] = { type: t.type, data, dims: t.dims } as TensorData;
    }
    list.push(data.buffer as ArrayBuffer);
  }
  return list;
}

/**
 * Copies every typed array into a buffer of its own, so that the transfer
 * cannot detach arrays the caller still holds (encode often wraps the caller's
 * own arrays). Returns a new map; the caller's tensors are untouched.
 */
export function ownedCopy(tensors: Readonly<Record<string, TensorData>>): WireTensors {
  const out: WireTensors = {};
  for (const name in tensors) {
    const t = tensors[name]!;
    out[name] = Array.isArray(t.data) ? t : ({ type: t.type, data: (t.data as TypedArray).slice(), dims: t.dims } as TensorData);
  }
  return out;
}
