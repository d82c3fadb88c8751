/**
 * Builds the SDK's browser entry (`dist/browser.js`) into a directory with the
 * project's own tsup configuration, so browser tests exercise exactly what
 * `npm run build` ships without touching the shared `dist/` (others may be
 * building or reading it at the same time).
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Options } from 'tsup';
import configs from '../../tsup.config.js';

/** The browser entry's options from `tsup.config.ts`. */
export function browserBuildOptions(): Options {
  const list = (Array.isArray(configs) ? configs : [configs]) as Options[];
  const found = list.find((c) => typeof c.entry === 'object' && c.entry !== null && 'browser' in c.entry);
  if (!found) throw new Error('tsup.config.ts has no entry named "browser"');
  return found;
}

/** `node_modules/.cache` of the project: builds there resolve `zod` & co. as `dist/` does. */
const CACHE_DIR = fileURLToPath(new URL('../../node_modules/.cache/', import.meta.url));

/** A fresh directory under `node_modules/.cache`, so bare imports in built files resolve. */
export function scratchDir(prefix: string): string {
  mkdirSync(CACHE_DIR, { recursive: true });
  return mkdtempSync(join(CACHE_DIR, prefix));
}

/**
 * Builds the browser entry into `outDir` (a fresh directory under
 * `node_modules/.cache` by default) without type declarations; returns the
 * path of `browser.js`.
 */
export async function buildBrowserEntry(outDir = scratchDir('gi-browser-')): Promise<string> {
  await build({ ...browserBuildOptions(), outDir, dts: false, sourcemap: false, clean: false, config: false, silent: true });
  return join(outDir, 'browser.js');
}
