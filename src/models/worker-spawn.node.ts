/**
 * Starts Node model workers (`worker_threads`) for the worker pool.
 *
 * From the built package the worker is `worker-entry.node.js`, next to the
 * bundle. From source (tests, `tsx`) it is `worker-entry.node.ts`, which Node
 * cannot load by itself: a `--import tsx` flag does not reach a worker's entry
 * on Node 20, so a one-line bootstrap loads it through tsx's `tsImport`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { SpawnWorker, WorkerHandle } from './worker-pool.js';

/** The URL of this module (ESM build and source), or of the CJS bundle. */
function here(): string {
  // In the CJS build `import.meta` is empty; `__filename` is then defined.
  const url = (import.meta as { url?: string }).url;
  if (typeof url === 'string') return url;
  return pathToFileURL(typeof __filename === 'string' ? __filename : process.cwd() + '/index.cjs').href;
}

/** URL of tsx's ESM API (its `import` export: the CJS one cannot register ESM hooks from a worker). */
function tsxEsmApi(base: string): string {
  try {
    const resolve = (import.meta as { resolve?: (specifier: string) => string }).resolve;
    if (typeof resolve === 'function') {
      const url = resolve('tsx/esm/api');
      if (url.endsWith('.mjs')) return url;
    }
    const require = createRequire(base);
    const pkgFile = require.resolve('tsx/package.json');
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
    return pathToFileURL(join(dirname(pkgFile), pkg.exports['./esm/api']!.import.default)).href;
  } catch (error) {
    throw new Error(`Running worker mode from TypeScript sources needs the tsx package: ${error instanceof Error ? error.message : String(error)}`);
  }
}

interface WorkerStart {
  readonly script: string | URL;
  readonly eval: boolean;
}

let cached: WorkerStart | undefined;

function workerStart(): WorkerStart {
  if (cached) return cached;
  const base = here();
  if (!/\.[cm]?ts$/.test(new URL(base).pathname)) {
    cached = { script: new URL('./worker-entry.node.js', base), eval: false };
    return cached;
  }
  const entry = new URL('./worker-entry.node.ts', base).href;
  cached = {
    script: `import(${JSON.stringify(tsxEsmApi(base))}).then((tsx) => tsx.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(entry)}))`,
    eval: true,
  };
  return cached;
}

/** Starts one model worker thread. Exposed for the pool; applications use `onnxModel({ execution: 'worker' })`. */
export const spawnNodeWorker: SpawnWorker = (listener) => {
  const start = workerStart();
  const worker = new Worker(start.script, { eval: start.eval });
  let gone = false;
  const died = (error: Error): void => {
    if (gone) return;
    gone = true;
    listener.died(error);
  };
  worker.on('message', (m) => listener.message(m));
  worker.on('error', (error) => died(error));
  worker.on('messageerror', (error) => died(error));
  worker.on('exit', (code) => died(new Error(`the worker thread exited with code ${code}`)));
  const handle: WorkerHandle = {
    post: (message, transfer) => worker.postMessage(message, transfer),
    terminate: async () => {
      gone = true;
      await worker.terminate();
    },
    ref: () => worker.ref(),
    unref: () => worker.unref(),
  };
  return handle;
};
