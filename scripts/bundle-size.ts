/**
 * Size of the SDK's browser entry as an application ships it: `dist/browser.js`
 * bundled with everything it imports except onnxruntime-web (which the
 * application loads separately, with its .wasm), minified, gzipped.
 *
 *   npm run build && npm run size            # measures dist/browser.js
 *   npm run size -- --build                  # builds the browser entry first (into node_modules/.cache)
 *   npm run size -- --json                   # machine-readable
 *
 * Also prints the figure with zod left out (for applications that already
 * ship zod) and the largest contributors, so a regression can be traced.
 */
import { existsSync, rmSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
/** The target of issue #6, in KB of 1 024 bytes. */
export const TARGET_KB = 15;

/** One measurement. */
export interface SizeReport {
  /** Bytes of the minified bundle. */
  readonly minified: number;
  /** Bytes of the minified bundle, gzipped at level 9. */
  readonly gzipped: number;
  /** Minified bytes by package (or source file for the SDK's own code). */
  readonly contributors: readonly { readonly name: string; readonly bytes: number }[];
}

/**
 * Bundles `entry` minified for the browser with `external` left out and
 * measures it. `plugins` are needed only when `entry` is a source file (the
 * events shim of `tsup.config.ts`).
 */
export async function measure(
  entry: string,
  external: readonly string[] = ['onnxruntime-web'],
  plugins: esbuild.Plugin[] = [],
): Promise<SizeReport> {
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    metafile: true,
    // Dynamic imports (p-retry, loaded after a first failure) stay separate
    // chunks, as in an application; only the entry chunk is counted.
    splitting: true,
    outdir: 'out',
    external: [...external],
    plugins,
    logLevel: 'silent',
  });
  const main = result.outputFiles.find((f) => f.path.endsWith('.js') && result.metafile.outputs[relative(process.cwd(), f.path)]?.entryPoint);
  if (!main) throw new Error('esbuild produced no entry chunk');
  const meta = result.metafile.outputs[relative(process.cwd(), main.path)]!;
  const byName = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(meta.inputs)) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
    const name = m ? m[1]! : input.replace(/^.*?(src\/)/, '$1');
    byName.set(name, (byName.get(name) ?? 0) + bytesInOutput);
  }
  return {
    minified: main.contents.byteLength,
    gzipped: gzipSync(main.contents, { level: 9 }).byteLength,
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
  let full: SizeReport;
  let withoutZod: SizeReport;
  let bySource: SizeReport;
  try {
    full = await measure(entry);
    withoutZod = await measure(entry, ['onnxruntime-web', 'zod']);
    // The built file is one input; bundling the sources shows who contributes what.
    const plugins = (browserBuildOptions().esbuildPlugins ?? []) as esbuild.Plugin[];
    bySource = await measure(resolve(ROOT, 'src/browser.ts'), ['onnxruntime-web'], plugins);
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
  if (args.includes('--json')) {
    console.log(
      JSON.stringify(
        { entry: relative(ROOT, entry), targetKB: TARGET_KB, full, withoutZod: { ...withoutZod, contributors: undefined }, contributors: bySource.contributors },
        (k, v: unknown) => (k === 'contributors' && v === undefined ? undefined : v),
        2,
      ),
    );
    return;
  }
  console.log(`browser entry: ${relative(ROOT, entry)} (onnxruntime-web external, minified, gzip -9)`);
  console.log(`  everything bundled:  ${kb(full.minified)} min, ${kb(full.gzipped)} gzipped  (target ${TARGET_KB} KB)`);
  console.log(`  zod left external:   ${kb(withoutZod.minified)} min, ${kb(withoutZod.gzipped)} gzipped`);
  console.log('  largest contributors (minified bytes):');
  for (const c of bySource.contributors.slice(0, 15)) console.log(`    ${String(c.bytes).padStart(8)}  ${c.name}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
