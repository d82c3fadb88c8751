/**
 * Starts Node model workers for the worker pool: worker threads (default) or
 * child processes (`isolation: 'process'`).
 *
 * From the built package the worker is `worker-entry.node.js`, next to the
 * bundle. From source (tests, `tsx`) it is `worker-entry.node.ts`: a child
 * process loads it with `--import tsx`, but that flag does not reach a worker
 * thread's entry on Node 20, so a thread starts from a one-line bootstrap that
 * loads it through tsx's `tsImport`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import type { FromWorker } from './worker-protocol.js';
import { AnswerPoller } from './answer-poller.js';
import type { SpawnWorker, WorkerHandle } from './worker-pool.js';

/** Key of the shared state word in `workerData` (read by `worker-entry.node.ts`). */
const NATIVE_STATE_KEY = 'gracefulInferenceNativeState';
/** Key of the port the worker answers on, in `workerData` (read by `worker-entry.node.ts`). */
const ANSWER_PORT_KEY = 'gracefulInferenceAnswerPort';


/** The URL of this module (ESM build and source), or of the CJS bundle. */
function here(): string {
  // In the CJS build `import.meta` is empty; `__filename` is then defined.
  const url = (import.meta as { url?: string }).url;
  if (typeof url === 'string') return url;
  return pathToFileURL(typeof __filename === 'string' ? __filename : `${process.cwd()}/index.cjs`).href;
}

function fromSource(base: string): boolean {
  return /\.[cm]?ts$/.test(new URL(base).pathname);
}

/** Resolves an export of tsx for the `import` condition (the CJS API cannot register ESM hooks from a worker). */
function tsxExport(base: string, subpath: '.' | './esm/api'): string {
  try {
    const require = createRequire(base);
    const pkgFile = require.resolve('tsx/package.json');
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { exports: Record<string, string | { import: { default: string } }> };
    const target = pkg.exports[subpath]!;
    return pathToFileURL(join(dirname(pkgFile), typeof target === 'string' ? target : target.import.default)).href;
  } catch (error) {
    throw new Error(`Running worker mode from TypeScript sources needs the tsx package: ${error instanceof Error ? error.message : String(error)}`);
  }
}

interface ThreadStart {
  readonly script: string | URL;
  readonly eval: boolean;
}

let threadStart: ThreadStart | undefined;

function threadEntry(): ThreadStart {
  if (threadStart) return threadStart;
  const base = here();
  if (!fromSource(base)) {
    threadStart = { script: new URL('./worker-entry.node.js', base), eval: false };
  } else {
    const entry = new URL('./worker-entry.node.ts', base).href;
    threadStart = {
      script: `import(${JSON.stringify(tsxExport(base, './esm/api'))}).then((tsx) => tsx.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(entry)}))`,
      eval: true,
    };
  }
  return threadStart;
}

/**
 * Starts one model worker thread.
 *
 * Terminating a thread while onnxruntime-node is inside `run()` (or creating
 * a session) aborts the whole process: the addon throws `Napi::Error` into
 * the terminating isolate (measured with onnxruntime-node 1.30). The thread
 * marks those sections in a shared word; `terminate()` stops the thread at
 * once when it is outside them, else at the end of the section. Until then
 * the thread keeps computing, but it is out of the pool and its calls have
 * already failed.
 */
export const spawnNodeThread: SpawnWorker = (listener, { spinMs }) => {
  const start = threadEntry();
  // 0: idle, 1: inside onnxruntime, 2: stopping (the worker will not enter again).
  const state = new Int32Array(new SharedArrayBuffer(4));
  // The worker answers on a port of its own, which the host can also read synchronously.
  const { port1: answers, port2: answerPort } = new MessageChannel();
  const worker = new Worker(start.script, {
    eval: start.eval,
    workerData: { [NATIVE_STATE_KEY]: state, [ANSWER_PORT_KEY]: answerPort },
    transferList: [answerPort],
  });
  let gone = false;
  let stopping: Promise<void> | undefined;
  let stopNow: (() => void) | undefined;
  const died = (error: Error): void => {
    if (gone) return;
    gone = true;
    poller.stop();
    listener.died(error);
  };
  const tryStop = (): boolean => {
    if (Atomics.compareExchange(state, 0, 0, 2) === 1) return false;
    void worker.terminate().then(stopNow, stopNow);
    return true;
  };
  const onMessage = (m: FromWorker): void => {
    if (m.t === 'result' || m.t === 'error') poller.answered();
    // A worker being stopped reports the end of its native section with its next message.
    if (stopping !== undefined) tryStop();
    else listener.message(m);
  };
  const poller = new AnswerPoller(spinMs, {
    poll: () => {
      const received = receiveMessageOnPort(answers);
      if (received === undefined) return false;
      onMessage(received.message as FromWorker);
      return true;
    },
    now: () => performance.now(),
    microtask: queueMicrotask,
    macrotask: setImmediate,
  });
  answers.on('message', onMessage);
  worker.on('error', (error) => died(error));
  worker.on('messageerror', (error) => died(error));
  answers.on('messageerror', (error) => died(error));
  worker.on('exit', (code) => {
    answers.close();
    stopNow?.();
    died(new Error(`the worker thread exited with code ${code}`));
  });
  const handle: WorkerHandle = {
    post: (message, transfer) => {
      worker.postMessage(message, transfer);
      if (message.t === 'run') poller.sent();
    },
    terminate() {
      gone = true;
      poller.stop();
      // The answer port stays open until the thread exits: a thread inside
      // onnxruntime reports the end of its run there, and only then stops.
      // An idle worker is unref'd: without this, the host could exit before the worker's exit is seen.
      worker.ref();
      stopping ??= new Promise<void>((resolve) => {
        stopNow = resolve;
        tryStop();
      });
      return stopping;
    },
    ref: () => {
      worker.ref();
      answers.ref();
    },
    unref: () => {
      worker.unref();
      answers.unref();
    },
  };
  return handle;
};

let processStart: { readonly module: string; readonly execArgv: string[] } | undefined;

function processEntry(): { readonly module: string; readonly execArgv: string[] } {
  if (processStart) return processStart;
  const base = here();
  processStart = fromSource(base)
    ? { module: fileURLToPath(new URL('./worker-entry.node.ts', base)), execArgv: ['--import', tsxExport(base, '.')] }
    : { module: fileURLToPath(new URL('./worker-entry.node.js', base)), execArgv: [] };
  return processStart;
}

/**
 * Starts one model worker process (`isolation: 'process'`). Stronger than a
 * thread: a native crash (abort, segfault, out of memory in the addon) ends
 * only the child, and `terminate()` kills it at once with SIGKILL, even in the
 * middle of a run. Costs more per message (IPC copies instead of transfers)
 * and memory (one Node process per worker).
 */
export const spawnNodeProcess: SpawnWorker = (listener) => {
  const entry = processEntry();
  const child: ChildProcess = fork(entry.module, [], {
    execArgv: entry.execArgv,
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let gone = false;
  let exited: Promise<void> | undefined;
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const died = (error: Error): void => {
    if (gone) return;
    gone = true;
    listener.died(error);
  };
  child.on('message', (m) => {
    if (!gone) listener.message(m as FromWorker);
  });
  child.on('error', (error) => died(error));
  child.on('exit', (code, signal) => died(new Error(`the worker process exited with ${signal !== null ? `signal ${signal}` : `code ${code}`}`)));
  // Lets the host exit while the worker idles: both the process and its IPC channel hold the loop.
  const channel = (): { ref(): void; unref(): void } | undefined =>
    (child as unknown as { channel?: { ref(): void; unref(): void } }).channel;
  return {
    post: (message) => {
      // A child that is gone fails its jobs through its exit event, not here.
      if (child.connected) child.send(message);
    },
    terminate() {
      gone = true;
      // An idle child is unref'd: without this, the host could exit before its exit event (close() never settling).
      child.ref();
      exited ??= child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : (child.kill('SIGKILL'), exit);
      return exited;
    },
    ref() {
      child.ref();
      channel()?.ref();
    },
    unref() {
      child.unref();
      channel()?.unref();
    },
  };
};
