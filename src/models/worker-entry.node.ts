/**
 * Entry point of a Node model worker (`worker_threads`). Built as its own
 * file (`dist/worker-entry.node.js`) so the pool can start it by URL.
 */
import { parentPort } from 'node:worker_threads';
import { ModelLoadError } from '../errors.js';
import type { OrtLike } from './onnx-session.js';
import { serveModelWorker } from './worker-host.js';
import type { ToWorker } from './worker-protocol.js';

/** Set to `1` (tests only) to honour the crash hooks of `worker-host.ts`. */
const TEST_HOOKS_ENV = 'GRACEFUL_INFERENCE_WORKER_TEST_HOOKS';

const port = parentPort;
if (port === null) throw new Error('worker-entry.node must run in a worker thread');

serveModelWorker({
  post: (message, transfer) => port.postMessage(message, transfer),
  listen: (handler) => port.on('message', (m: ToWorker) => handler(m)),
  async loadRuntime() {
    try {
      const m = (await import('onnxruntime-node')) as unknown as OrtLike & { default?: OrtLike };
      return m.InferenceSession ? m : m.default!;
    } catch (error) {
      throw new ModelLoadError(
        `Worker mode needs the onnxruntime-node package (npm install onnxruntime-node): ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  },
  ...(process.env[TEST_HOOKS_ENV] === '1' ? { testHooks: { exit: (code: number) => process.exit(code) } } : {}),
});
