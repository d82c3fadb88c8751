/**
 * The inside of a model worker, shared by the Node (`worker_threads`) and the
 * browser (Web Worker) entries: loads one session, then runs what it is sent,
 * one message at a time, and transfers the outputs back.
 *
 * Runtime-agnostic: the entries supply the message port and the runtime.
 */
import { createTensorSession, type OrtLike, type TensorSession } from './onnx-session.js';
import { toWireError, transferables, type FromWorker, type ToWorker } from './worker-protocol.js';

/** What an entry point gives the host. */
export interface WorkerHostPort {
  /** Posts a message to the SDK, transferring `transfer`. */
  post(message: FromWorker, transfer: ArrayBuffer[]): void;
  /** Registers the handler of the SDK's messages. */
  listen(handler: (message: ToWorker) => void): void;
  /** Imports onnxruntime (`onnxruntime-node` or `onnxruntime-web`) and applies the load message's `runtimeEnv`. */
  loadRuntime(runtimeEnv: Readonly<Record<string, unknown>> | undefined): Promise<OrtLike>;
  /**
   * Brackets the native parts (session creation, runs) so the SDK can tell
   * when the worker may be terminated. Terminating a Node worker thread while
   * onnxruntime-node is inside a run aborts the whole process (the addon
   * throws `Napi::Error` into a terminating isolate), so the Node thread
   * entry marks these sections and the SDK waits for them to end.
   * `enter` returns false when the SDK is stopping the worker: do not start.
   */
  readonly nativeSection?: { enter(): boolean; leave(): void };
  /**
   * Test-only crash hooks, present only when the entry enabled them (an
   * environment variable in Node). A run whose first feed's first element is
   * {@link TEST_EXIT_VALUE} ends the worker mid-run; {@link TEST_HANG_VALUE}
   * blocks it forever; {@link TEST_ABORT_VALUE} aborts it natively (only
   * where that cannot take the host down: a worker process).
   */
  readonly testHooks?: { exit(code: number): void; abort?(): void };
}

/** With test hooks on, a first feed element equal to this ends the worker mid-run (like a native abort). */
export const TEST_EXIT_VALUE = -7777;
/** With test hooks on, a first feed element equal to this blocks the worker forever (a runaway run). */
export const TEST_HANG_VALUE = -8888;
/** With test hooks on, a first feed element equal to this aborts a worker process natively (SIGABRT, like the out-of-memory abort). */
export const TEST_ABORT_VALUE = -9999;

function firstElement(feeds: Record<string, { data: unknown }>): unknown {
  for (const name in feeds) {
    const data = feeds[name]!.data as ArrayLike<unknown>;
    return data.length > 0 ? data[0] : undefined;
  }
  return undefined;
}

/** Serves the worker protocol on `port` until the worker is terminated. */
export function serveModelWorker(port: WorkerHostPort): void {
  let session: TensorSession | undefined;
  const section = port.nativeSection;
  // Messages are handled in order: a run that arrives while loading waits for the load.
  let chain: Promise<void> = Promise.resolve();

  const handle = async (message: ToWorker): Promise<void> => {
    if (message.t === 'load') {
      if (section !== undefined && !section.enter()) return;
      try {
        const ort = await port.loadRuntime(message.runtimeEnv);
        session = await createTensorSession(ort, message.source, message.sessionOptions);
        if (message.warmup !== undefined) await session.run(message.warmup);
        section?.leave();
        port.post({ t: 'ready', inputs: session.inputMetadata, outputs: session.outputMetadata }, []);
      } catch (error) {
        section?.leave();
        port.post({ t: 'load-error', error: toWireError(error) }, []);
      }
      return;
    }
    const { id, feeds } = message;
    try {
      if (session === undefined) throw new Error('The worker has no session loaded');
      const hooks = port.testHooks;
      if (hooks !== undefined) {
        const first = firstElement(feeds);
        if (first === TEST_EXIT_VALUE) hooks.exit(1);
        if (first === TEST_HANG_VALUE) for (;;);
        if (first === TEST_ABORT_VALUE) hooks.abort?.();
      }
      if (section !== undefined && !section.enter()) return;
      let outputs;
      try {
        outputs = await session.run(feeds);
      } finally {
        section?.leave();
      }
      port.post({ t: 'result', id, outputs }, transferables(outputs));
    } catch (error) {
      port.post({ t: 'error', id, error: toWireError(error) }, []);
    }
  };

  port.listen((message) => {
    chain = chain.then(() => handle(message));
  });
}
