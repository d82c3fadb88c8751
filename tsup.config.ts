import { fileURLToPath } from 'node:url';
import { defineConfig, type Options } from 'tsup';

// p-retry is ESM-only; bundling it keeps the CJS build loadable with require()
// on every Node 20 minor. It is only imported after a first failure.
const noExternal = ['p-retry', 'is-network-error'];

const eventsShim = fileURLToPath(new URL('./src/shims/events.ts', import.meta.url));

/**
 * opossum does `require('events')` and extends Node's EventEmitter. The
 * browser build bundles opossum and resolves `events` to a 1 KB shim, so
 * applications need no Node polyfill. The shim is an ES module; opossum
 * expects `require('events')` to be the class itself (and `.EventEmitter`).
 */
const browserEvents: NonNullable<Options['esbuildPlugins']>[number] = {
  name: 'graceful-inference-events-shim',
  setup(build) {
    build.onResolve({ filter: /^(node:)?events$/ }, () => ({ path: 'events', namespace: 'gi-events' }));
    build.onLoad({ filter: /.*/, namespace: 'gi-events' }, () => ({
      contents: `const m = require(${JSON.stringify(eventsShim)});\nmodule.exports = m.EventEmitter;\nmodule.exports.EventEmitter = m.EventEmitter;\n`,
      loader: 'js',
      resolveDir: fileURLToPath(new URL('./src/shims/', import.meta.url)),
    }));
  },
};

export default defineConfig([
  {
    // The worker entry is its own file: worker mode starts it by URL next to the bundle.
    entry: { index: 'src/index.ts', 'worker-entry.node': 'src/models/worker-entry.node.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    platform: 'node',
    target: 'node20',
    noExternal,
  },
  {
    // The Web Worker entry is its own file, found by bundlers through `new URL('./worker-entry.browser.js', import.meta.url)`.
    entry: { browser: 'src/browser.ts', 'worker-entry.browser': 'src/models/worker-entry.browser.ts' },
    format: ['esm'],
    dts: true,
    sourcemap: true,
    platform: 'browser',
    target: 'es2022',
    // onnxruntime-web stays external so the application's bundler emits its .wasm files.
    noExternal: [...noExternal, 'opossum'],
    external: ['onnxruntime-web'],
    esbuildPlugins: [browserEvents],
  },
]);
