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
 * to the application. The entry figure is the entry chunk plus every chunk it
 * imports statically (what the page downloads before the SDK runs). Chunks
 * loaded with a dynamic import() (JsonLogic for rules and targeting, p-retry,
 * worker pool, batcher) are listed apart, each with the chunks it needs that
 * the entry does not already have, and with the entry + that chunk total
 * (what an application using the feature downloads). onnxruntime-web stays
 * external. Also lists the largest contributors, so a regression can be
 * traced. Recorded in docs/performance.md.
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

/** A chunk loaded on demand, with the chunks it needs beyond the entry's. */
export interface LazyChunk {
  /** Name of the module the chunk starts from (e.g. `json-logic-eval`). */
  readonly name: string;
  readonly minified: number;
  /** Each file gzipped on its own (as served), summed. */
  readonly gzipped: number;
}

/** One measurement. */
export interface SizeReport {
  /** Bytes of the minified entry chunk and the chunks it imports statically. */
  readonly minified: number;
  /** The same files, each gzipped at level 9, summed. */
  readonly gzipped: number;
  /** Chunks behind a dynamic import(). */
  readonly lazy: readonly LazyChunk[];
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
  if (!file || !meta || entryPath === undefined) throw new Error('esbuild produced no entry chunk');
  const metaOf = result.metafile.outputs;
  const bytesOf = (path: string) => result.outputFiles.find((f) => f.path === resolve(path))!.contents;
  /** `path` and the chunks it imports statically, transitively. */
  const closure = (path: string, into = new Set<string>()): Set<string> => {
    if (into.has(path)) return into;
    into.add(path);
    for (const i of metaOf[path]?.imports ?? []) if (!i.external && i.kind === 'import-statement') closure(i.path, into);
    return into;
  };
  const sizes = (paths: Iterable<string>) => {
    let minified = 0;
    let gzipped = 0;
    for (const p of paths) {
      const bytes = bytesOf(p);
      minified += bytes.byteLength;
      gzipped += gzipSync(bytes, { level: 9 }).byteLength;
    }
    return { minified, gzipped };
  };
  const entryFiles = closure(entryPath);
  const lazyRoots = new Set<string>();
  for (const p of entryFiles) for (const i of metaOf[p]!.imports) if (!i.external && i.kind === 'dynamic-import') lazyRoots.add(i.path);
  const lazy: LazyChunk[] = [...lazyRoots].map((root) => {
    const own = [...closure(root)].filter((p) => !entryFiles.has(p));
    const from = metaOf[root]?.entryPoint ?? root;
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(from);
    const name = pkg ? pkg[1]! : from.replace(/^.*\//, '').replace(/(-[A-Z0-9]{8})?\.[cm]?[jt]s$/, '');
    return { name, ...sizes(own) };
  });
  const byName = new Map<string, number>();
  const inputs = [...entryFiles].flatMap((p) => Object.entries(metaOf[p]!.inputs));
  for (const [input, { bytesInOutput }] of inputs) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
    const name = m ? m[1]! : input.replace(/^.*?(src\/)/, '$1');
    byName.set(name, (byName.get(name) ?? 0) + bytesInOutput);
  }
  return {
    ...sizes(entryFiles),
    lazy: lazy.sort((a, b) => b.gzipped - a.gzipped),
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
      sizes: rows.map((r) => ({ label: r.label, minified: r.report.minified, gzipped: r.report.gzipped, lazy: r.report.lazy })),
      contributors: bySource.contributors,
    };
    console.log(JSON.stringify(out, null, 2));
    return;
  }
  console.log(`browser entry ${relative(ROOT, entry)}; onnxruntime-web external; minified, gzip -9; target ${TARGET_KB} KB gzipped`);
  const line = (label: string, min: number, gz: number) => `${label.padEnd(58)} ${kb(min).padStart(9)} min ${kb(gz).padStart(9)} gzip`;
  for (const { label, report } of rows) console.log(`  ${line(label, report.minified, report.gzipped)}`);
  const typicalRow = rows[2]!.report;
  console.log(`  loaded on demand by the typical app (each: its chunks beyond the entry; then entry + it):`);
  for (const c of typicalRow.lazy) {
    console.log(`    ${line(c.name, c.minified, c.gzipped)}`);
    console.log(`    ${line(`  entry + ${c.name}`, typicalRow.minified + c.minified, typicalRow.gzipped + c.gzipped)}`);
  }
  console.log('  largest contributors to the whole entry (minified bytes):');
  for (const c of bySource.contributors.slice(0, 15)) console.log(`    ${String(c.bytes).padStart(8)}  ${c.name}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
