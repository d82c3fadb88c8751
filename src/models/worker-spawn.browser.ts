/**
 * Starts browser model workers (module Web Workers running onnxruntime-web)
 * for the worker pool. Browser-safe: no Node imports.
 */
import type { FromWorker } from './worker-protocol.js';
import type { SpawnWorker, WorkerHandle } from './worker-pool.js';

/**
 * Starts one Web Worker. The `new Worker(new URL('./worker-entry.browser.js',
 * import.meta.url), { type: 'module' })` expression is kept literal so that
 * bundlers (Vite, webpack 5, Parcel) find the worker and bundle it with its
 * own copy of onnxruntime-web. `terminate()` stops a WebAssembly run at once:
 * unlike a Node thread inside onnxruntime-node, nothing native outlives it.
 */
export const spawnWebWorker: SpawnWorker = (listener) => {
  const worker = new Worker(new URL('./worker-entry.browser.js', import.meta.url), { type: 'module' });
  return wrapWebWorker(worker, listener);
};

/**
 * Adapts a started Web Worker to the pool (for applications that start the
 * worker themselves, e.g. from their own URL).
 */
export function wrapWebWorker(worker: Worker, listener: Parameters<SpawnWorker>[0]): WorkerHandle {
  let gone = false;
  const died = (error: Error): void => {
    if (gone) return;
    gone = true;
    listener.died(error);
  };
  worker.addEventListener('message', (event: MessageEvent<FromWorker>) => {
    if (!gone) listener.message(event.data);
  });
  // A Web Worker has no exit event: an uncaught error (including a WebAssembly abort) is how it dies.
  worker.addEventListener('error', (event: ErrorEvent) => {
    event.preventDefault();
    died(new Error(`the Web Worker failed: ${event.message || 'script error (could not load or run the worker)'}`));
  });
  worker.addEventListener('messageerror', () => died(new Error('the Web Worker sent a message that could not be read')));
  return {
    post: (message, transfer) => worker.postMessage(message, transfer),
    terminate() {
      gone = true;
      worker.terminate();
    },
    ref() {},
    unref() {},
  };
}
