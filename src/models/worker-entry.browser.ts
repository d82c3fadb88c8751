/**
 * Entry point of a browser model worker (a module Web Worker running
 * onnxruntime-web). Built as its own file (`dist/worker-entry.browser.js`);
 * the page starts it with `new Worker(new URL(...), { type: 'module' })`, a
 * pattern Vite and webpack 5 follow to bundle the worker.
 */
import * as ortModule from 'onnxruntime-web';
import type { OrtLike } from './onnx-session.js';
import { serveModelWorker } from './worker-host.js';
import type { ToWorker } from './worker-protocol.js';

/** The parts of a worker's global scope used here (the DOM lib types the page, not a worker). */
interface WorkerScope {
  postMessage(message: unknown, transfer: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent<ToWorker>) => void): void;
}

interface WasmEnv {
  wasm?: { wasmPaths?: unknown; numThreads?: unknown };
}

const scope = globalThis as unknown as WorkerScope;
const ort = ((ortModule as unknown as { InferenceSession?: unknown }).InferenceSession
  ? ortModule
  : (ortModule as unknown as { default: unknown }).default) as unknown as OrtLike & { env?: WasmEnv };

serveModelWorker({
  post: (message, transfer) => scope.postMessage(message, transfer),
  listen: (handler) => scope.addEventListener('message', (event) => handler(event.data)),
  async loadRuntime(runtimeEnv) {
    // Same settings as the page's runtime: each worker has its own onnxruntime-web instance.
    const wasm = ort.env?.wasm;
    if (wasm !== undefined && runtimeEnv !== undefined) {
      if (runtimeEnv.wasmPaths !== undefined) wasm.wasmPaths = runtimeEnv.wasmPaths;
      if (runtimeEnv.numThreads !== undefined) wasm.numThreads = runtimeEnv.numThreads;
    }
    return ort;
  },
});
