/**
 * The browser build must never import a Node module: checks the built
 * `browser.js` (from the project's tsup config) and every file it pulls in
 * once bundled, the way an application's bundler would see them.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBrowserEntry } from './build-browser-entry.js';

const NODE_ONLY = new Set([...builtinModules, 'onnxruntime-node', 'worker_threads', 'fs', 'path', 'os', 'child_process']);

function isNodeOnly(specifier: string): boolean {
  if (specifier.startsWith('node:')) return true;
  const bare = specifier.split('/')[0]!;
  return NODE_ONLY.has(specifier) || NODE_ONLY.has(bare);
}

/** Import specifiers written in a JS file: static, dynamic, side-effect, and require(). */
function specifiers(code: string): string[] {
  const found = new Set<string>();
  const patterns = [
    /\bfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
    /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const p of patterns) for (const m of code.matchAll(p)) found.add(m[1]!);
  return [...found];
}

let entry: string;
let outDir: string;
/** Every module path esbuild resolved while bundling the entry, with its importer. */
const resolved: { path: string; importer: string; kind: string }[] = [];
let bundlePath: string;

beforeAll(async () => {
  entry = await buildBrowserEntry();
  outDir = dirname(entry);
  bundlePath = join(outDir, 'bundled.mjs');
  await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    external: ['onnxruntime-web'],
    outfile: bundlePath,
    logLevel: 'silent',
    plugins: [
      {
        name: 'record-imports',
        setup(build) {
          build.onResolve({ filter: /.*/ }, (args) => {
            resolved.push({ path: args.path, importer: args.importer, kind: args.kind });
            return undefined;
          });
        },
      },
    ],
  });
}, 60_000);

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

describe('browser bundle', () => {
  it('the built files import no Node module', () => {
    const offenders: string[] = [];
    for (const file of readdirSync(outDir).filter((f) => f.endsWith('.js'))) {
      for (const s of specifiers(readFileSync(join(outDir, file), 'utf8'))) {
        if (isNodeOnly(s)) offenders.push(`${file}: ${s}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('nothing it bundles (zod, opossum, murmurhash...) imports a Node module', () => {
    const offenders = resolved.filter((r) => isNodeOnly(r.path)).map((r) => `${r.importer} -> ${r.path} (${r.kind})`);
    expect(offenders).toEqual([]);
    // The scan saw the dependencies, so an empty list means something.
    expect(resolved.some((r) => r.path === 'zod/mini')).toBe(true);
  });

  it('bundles opossum with the events shim instead of Node events', () => {
    const code = readFileSync(entry, 'utf8');
    expect(code).not.toMatch(/from\s*["']opossum["']/);
    expect(code).toContain('src/shims/events.ts');
    expect(specifiers(code)).not.toContain('events');
  });

  it('keeps onnxruntime-web external and loads it lazily', () => {
    const code = readFileSync(entry, 'utf8');
    expect(code).toMatch(/import\(\s*["']onnxruntime-web["']\s*\)/);
    expect(code).not.toMatch(/from\s*["']onnxruntime-web["']/);
    expect(readdirSync(outDir).some((f) => f.endsWith('.wasm'))).toBe(false);
  });

  it('loads json-logic-engine only through a dynamic import (its own chunk), never from the entry or its static imports', () => {
    const staticClosure = new Set<string>();
    const visit = (file: string): void => {
      if (staticClosure.has(file)) return;
      staticClosure.add(file);
      const code = readFileSync(join(outDir, file), 'utf8');
      for (const m of code.matchAll(/\b(?:from|import)\s*["'](\.\/[^"']+)["']/g)) visit(m[1]!.slice(2));
    };
    visit('browser.js');
    for (const file of staticClosure) expect(readFileSync(join(outDir, file), 'utf8'), file).not.toMatch(/["']json-logic-engine["']/);
    const lazy = [...readFileSync(entry, 'utf8').matchAll(/import\(\s*["']\.\/(json-logic-eval-[^"']+)["']\s*\)/g)].map((m) => m[1]!);
    expect(lazy).toHaveLength(1);
    expect(readFileSync(join(outDir, lazy[0]!), 'utf8')).toMatch(/from\s*["']json-logic-engine["']/);
  });

  it('the package.json "browser" condition points at dist/browser.js', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      browser: string;
      exports: { '.': { browser: { types: string; default: string } } };
    };
    expect(pkg.exports['.'].browser).toEqual({ types: './dist/browser.d.ts', default: './dist/browser.js' });
    expect(pkg.browser).toBe('./dist/browser.js');
  });

  it('the bundled breaker works on the shim: it opens after failures and the call falls back', async () => {
    // A plain-JS copy of what an application ships; run here because the shim only needs JS.
    writeFileSync(join(outDir, 'package.json'), '{"type":"module"}');
    const sdk = (await import(pathToFileURL(bundlePath).href)) as typeof import('../../src/browser.js');
    const opened: string[] = [];
    const inference = sdk.createInference<number, number>({
      name: 'shim-check',
      versions: {
        v1: sdk.functionModel(() => {
          throw new Error('down');
        }),
      },
      breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 },
      fallback: { name: 'constant', handle: () => -1 },
    });
    inference.on('breaker-open', ({ version }) => opened.push(version));
    const reasons: (string | undefined)[] = [];
    for (let i = 0; i < 4; i++) reasons.push((await inference.infer(i)).reason);
    expect(opened).toEqual(['v1']);
    expect(reasons.slice(0, 2)).toEqual(['model-error', 'model-error']);
    expect(reasons.at(-1)).toBe('circuit-open');
    await inference.close();
  });
});
