import { defineConfig } from 'tsup';

// p-retry is ESM-only; bundling it keeps the CJS build loadable with require()
// on every Node 20 minor. It is only imported after a first failure.
const noExternal = ['p-retry', 'is-network-error'];

export default defineConfig([
  {
    entry: { index: 'src/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    platform: 'node',
    target: 'node20',
    noExternal,
  },
  {
    entry: { browser: 'src/browser.ts' },
    format: ['esm'],
    dts: true,
    sourcemap: true,
    platform: 'browser',
    target: 'es2022',
    noExternal,
    external: ['onnxruntime-web'],
  },
]);
