/**
 * Builds the browser test page. The page imports `src/browser.ts` by its
 * relative path (so it typechecks against the sources) and this config swaps
 * that import for the built browser entry (`GRACEFUL_INFERENCE_ENTRY`), so the
 * tests run what the package ships.
 */
import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig } from 'vite';
import { onnxruntimeWebFiles } from '../../../examples/browser/vite-plugin-ort.js';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
const entry = process.env.GRACEFUL_INFERENCE_ENTRY ?? here('../../../dist/browser.js');

export default defineConfig({
  root: here('.'),
  base: './',
  logLevel: 'warn',
  resolve: {
    alias: [{ find: /^(\.\.\/)+src\/browser\.js$/, replacement: entry }],
    // onnxruntime-web without its embedded runtime: the page loads it from /ort/ (wasmPaths).
    conditions: ['onnxruntime-web-use-extern-wasm', ...defaultClientConditions],
  },
  plugins: [onnxruntimeWebFiles()],
  build: { outDir: here('dist'), emptyOutDir: true, target: 'es2022', assetsInlineLimit: 0, chunkSizeWarningLimit: 1024 },
});
