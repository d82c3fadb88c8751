/**
 * Entry point of a Node model worker: a worker thread (`isolation: 'thread'`)
 * or a child process (`isolation: 'process'`), speaking the same protocol.
 * Built as its own file (`dist/worker-entry.node.js`) so the pool can start
 * it by URL.
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { ModelLoadError } from '../errors.js';
import type { OrtLike } from './onnx-session.js';
import { serveModelWorker, type WorkerHostPort } from './worker-host.js';
import type { FromWorker, ToWorker } from './worker-protocol.js';

/** Set to `1` (tests only) to honour the crash hooks of `worker-host.ts`. */
const TEST_HOOKS_ENV = 'GRACEFUL_INFERENCE_WORKER_TEST_HOOKS';
/** Key of the shared state word in `workerData` (see `worker-spawn.node.ts`). */
const NATIVE_STATE_KEY = 'gracefulInferenceNativeState';
/** Key of the port to answer on, in `workerData` (see `worker-spawn.node.ts`); else the parent port. */
const ANSWER_PORT_KEY = 'gracefulInferenceAnswerPort';

async function loadRuntime(): Promise<OrtLike> {
  try {
    const m = (await import('onnxruntime-node')) as unknown as OrtLike & { default?: OrtLike };
    return m.InferenceSession ? m : m.default!;
  } catch (error) {
    throw new ModelLoadError(
      `Worker mode needs the onnxruntime-node package (npm install onnxruntime-node): ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

const hooksOn = process.env[TEST_HOOKS_ENV] === '1';

/**
 * After answering, a thread polls for its next run this long before it goes
 * to sleep. Waking a sleeping thread costs ~25 µs on the machines measured
 * (half the ~50 µs message round trip); under load the next batch usually
 * arrives within that window. Idle, it costs this much CPU once per answer.
 */
const SPIN_MS = 0.1;

function spinForNext(port: MessagePort, deliver: (message: ToWorker) => void): void {
  const until = performance.now() + SPIN_MS;
  do {
    const received = receiveMessageOnPort(port);
    if (received !== undefined) {
      deliver(received.message as ToWorker);
      return;
    }
  } while (performance.now() < until);
}
let port: WorkerHostPort;

if (parentPort !== null) {
  const thread = parentPort;
  // 0: idle, 1: inside onnxruntime (do not terminate), 2: the SDK is stopping this worker.
  const data = workerData as Record<string, unknown> | null;
  const state = data?.[NATIVE_STATE_KEY] as Int32Array | undefined;
  const answers = (data?.[ANSWER_PORT_KEY] as MessagePort | undefined) ?? thread;
  let deliver: ((message: ToWorker) => void) | undefined;
  port = {
    post(message, transfer) {
      answers.postMessage(message, transfer);
      if (deliver !== undefined && (message.t === 'result' || message.t === 'error')) spinForNext(thread, deliver);
    },
    listen(handler) {
      deliver = handler;
      thread.on('message', (m: ToWorker) => handler(m));
    },
    loadRuntime,
    ...(state !== undefined
      ? {
          nativeSection: {
            enter: () => Atomics.compareExchange(state, 0, 0, 1) === 0,
            leave: () => void Atomics.store(state, 0, 0),
          },
        }
      : {}),
    ...(hooksOn ? { testHooks: { exit: (code: number) => process.exit(code) } } : {}),
  };
} else if (typeof process.send === 'function') {
  const send = process.send.bind(process);
  // The SDK is gone (it exited or closed the channel): nothing left to serve.
  process.on('disconnect', () => process.exit(0));
  port = {
    // IPC cannot transfer: buffers are copied by the channel's serializer.
    post: (message: FromWorker) => void send(message),
    listen: (handler) => process.on('message', (m) => handler(m as ToWorker)),
    loadRuntime,
    ...(hooksOn ? { testHooks: { exit: (code: number) => process.exit(code), abort: () => process.abort() } } : {}),
  };
} else {
  throw new Error('worker-entry.node must run in a worker thread or in a child process with an IPC channel');
}

serveModelWorker(port);
