/**
 * Vite config of the browser example.
 *
 * `graceful-inference` resolves to the SDK's built browser entry
 * (`dist/browser.js`, from `npm run build`), exactly what the package's
 * `browser` export condition gives an application; the browser tests point
 * it at a fresh build with `GRACEFUL_INFERENCE_ENTRY`. onnxruntime-web is
 * imported by the SDK and bundled by Vite, which emits its `.wasm` file next
 * to the JavaScript.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig } from 'vite';
import { onnxruntimeWebFiles } from './vite-plugin-ort.js';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

const model = readFileSync(here('../demo/model/credit-risk.onnx'));
const integrity = `sha256-${createHash('sha256').update(model).digest('base64')}`;

/** Cross-origin isolation: lets onnxruntime-web use threads (SharedArrayBuffer). */
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  root: here('.'),
  // Relative URLs, so the build works from any path (the tests serve it under /example/).
  base: './',
  resolve: {
    alias: { 'graceful-inference': process.env.GRACEFUL_INFERENCE_ENTRY ?? here('../../dist/browser.js') },
    // onnxruntime-web without its embedded runtime: the app loads it from /ort/ (see vite-plugin-ort.ts).
    conditions: ['onnxruntime-web-use-extern-wasm', ...defaultClientConditions],
  },
  plugins: [onnxruntimeWebFiles()],
  // Worker mode: the SDK's module Web Worker is code-split like the page.
  worker: { format: 'es' },
  define: { __MODEL_INTEGRITY__: JSON.stringify(integrity) },
  build: {
    outDir: here('dist'),
    emptyOutDir: true,
    target: 'es2022',
    // Keep the .onnx a real file (fetched, cached, integrity-checked) instead of a data: URL.
    assetsInlineLimit: 0,
    // onnxruntime-web's JavaScript is ~360 KB minified; that is expected.
    chunkSizeWarningLimit: 1024,
  },
  // Pre-bundling would move onnxruntime-web away from its .wasm files in dev.
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  server: { headers: isolation },
  preview: { headers: isolation },
});
