/**
 * Size of the SDK's browser entry as an application ships it: `dist/browser.js`
 * bundled with everything it imports except onnxruntime-web (which the
 * application loads separately, with its .wasm), minified, gzipped (level 9).
 *
 *   npm run build && npm run size            # measures dist/browser.js
 *   npm run size -- --build                  # builds the browser entry first (into node_modules/.cache)
 *   npm run size -- --json                   # machine-readable
 *
 * Measured for the whole entry (every export kept: the upper bound) and for a
 * typical application importing only `createInference`, `onnxModel` and
 * `tensor` (what tree-shaking leaves), each with zod bundled and with zod left
 * to the application. Dynamic imports (p-retry, onnxruntime-web) stay separate
 * chunks and are not counted. Also lists the largest contributors, so a
 * regression can be traced. Recorded in docs/performance.md.
 */
import { existsSync, rmSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
/** The target of issue #6: gzipped KB (1 KB = 1 024 bytes). */
export const TARGET_KB = 15;

/** What a typical application imports. */
export const TYPICAL_IMPORTS = ['createInference', 'onnxModel', 'tensor'] as const;

/** One measurement. */
export interface SizeReport {
  /** Bytes of the minified entry chunk. */
  readonly minified: number;
  /** Bytes of the minified entry chunk, gzipped at level 9. */
  readonly gzipped: number;
  /** Minified bytes by package (or by source file for the SDK's own code). */
  readonly contributors: readonly { readonly name: string; readonly bytes: number }[];
}

/** How to measure: the module's source and what stays outside the bundle. */
export interface MeasureOptions {
  /** Left out of the bundle. Default `['onnxruntime-web']`. */
  readonly external?: readonly string[];
  /** esbuild plugins (the events shim when measuring the sources). */
  readonly plugins?: esbuild.Plugin[];
}

/**
 * Bundles `contents` (an ES module, resolved from `resolveDir`) minified for
 * the browser and measures the entry chunk.
 */
export async function measure(contents: string, resolveDir: string, options: MeasureOptions = {}): Promise<SizeReport> {
  const result = await esbuild.build({
    stdin: { contents, resolveDir, loader: 'ts', sourcefile: 'measured-entry.ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    metafile: true,
    splitting: true,
    outdir: resolve(ROOT, 'node_modules/.cache/bundle-size-out'),
    external: [...(options.external ?? ['onnxruntime-web'])],
    plugins: options.plugins ?? [],
    logLevel: 'silent',
  });
  const outputs = Object.entries(result.metafile.outputs);
  const [entryPath, meta] = outputs.find(([, o]) => o.entryPoint !== undefined) ?? [];
  const file = result.outputFiles.find((f) => entryPath !== undefined && f.path === resolve(entryPath));
  if (!file || !meta) throw new Error('esbuild produced no entry chunk');
  const byName = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(meta.inputs)) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
    const name = m ? m[1]! : input.replace(/^.*?(src\/)/, '$1');
    byName.set(name, (byName.get(name) ?? 0) + bytesInOutput);
  }
  return {
    minified: file.contents.byteLength,
    gzipped: gzipSync(file.contents, { level: 9 }).byteLength,
    contributors: [...byName].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes),
  };
}

const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const { buildBrowserEntry, browserBuildOptions } = await import('../test/browser/build-browser-entry.js');
  let entry = resolve(ROOT, 'dist/browser.js');
  let scratch: string | undefined;
  if (args.includes('--build')) {
    entry = await buildBrowserEntry();
    scratch = dirname(entry);
  } else if (!existsSync(entry)) {
    console.error(`${relative(ROOT, entry)} not found: run "npm run build" first, or pass --build`);
    process.exit(1);
  }
  const spec = JSON.stringify(entry);
  const whole = `export * from ${spec};`;
  const typical = `export { ${TYPICAL_IMPORTS.join(', ')} } from ${spec};`;
  const zodOut = ['onnxruntime-web', 'zod'];
  const rows: { label: string; report: SizeReport }[] = [];
  let bySource: SizeReport;
  try {
    rows.push({ label: 'whole entry', report: await measure(whole, ROOT) });
    rows.push({ label: 'whole entry, zod left to the app', report: await measure(whole, ROOT, { external: zodOut }) });
    rows.push({ label: `typical app (${TYPICAL_IMPORTS.join(', ')})`, report: await measure(typical, ROOT) });
    rows.push({ label: 'typical app, zod left to the app', report: await measure(typical, ROOT, { external: zodOut }) });
    // The built file is one input; bundling the sources shows who contributes what.
    const plugins = (browserBuildOptions().esbuildPlugins ?? []) as esbuild.Plugin[];
    bySource = await measure(`export * from './src/browser.ts';`, ROOT, { plugins });
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    rmSync(resolve(ROOT, 'node_modules/.cache/bundle-size-out'), { recursive: true, force: true });
  }
  if (args.includes('--json')) {
    const out = {
      entry: relative(ROOT, entry),
      targetKB: TARGET_KB,
      sizes: rows.map((r) => ({ label: r.label, minified: r.report.minified, gzipped: r.report.gzipped })),
      contributors: bySource.contributors,
    };
    console.log(JSON.stringify(out, null, 2));
    return;
  }
  console.log(`browser entry ${relative(ROOT, entry)}; onnxruntime-web external; minified, gzip -9; target ${TARGET_KB} KB gzipped`);
  for (const { label, report } of rows) {
    console.log(`  ${label.padEnd(58)} ${kb(report.minified).padStart(9)} min ${kb(report.gzipped).padStart(9)} gzip`);
  }
  console.log('  largest contributors to the whole entry (minified bytes):');
  for (const c of bySource.contributors.slice(0, 15)) console.log(`    ${String(c.bytes).padStart(8)}  ${c.name}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
