/**
 * The SDK as users get it: the built `dist/` (run `npm run build` first;
 * `npm run bench` does). Benchmarks must not time the TypeScript sources run
 * through tsx: its transform wraps every closure in a naming helper, which
 * alone adds more than a microsecond per guarded call.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = fileURLToPath(new URL('../dist/index.js', import.meta.url));
if (!existsSync(built)) {
  throw new Error('bench: dist/index.js is missing; run `npm run build` first (`npm run bench` does it for you)');
}

const sdk = (await import(built)) as typeof import('../src/index.js');

export const { createInference, functionModel, onnxModel, tensor } = sdk;
export type * from '../src/index.js';
