/**
 * `npm run bench`: every benchmark, one after another, in one process each
 * section. Each prints its table with ratios and MET/MISSED against targets.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const sections = ['overhead', 'failure-path', 'telemetry', 'throughput', 'time-to-fallback'];

console.log(`# graceful-inference benchmarks (Node ${process.version}, ${new Date().toISOString()})`);
console.log('Absolute times are noisy on shared machines; the ratios measured in one run are what count.');
for (const name of sections) {
  const file = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  if (!existsSync(file)) {
    console.log(`\n(${name}: not present)`);
    continue;
  }
  const mod = (await import(`./${name}.ts`)) as { run: () => Promise<unknown> };
  await mod.run();
}
