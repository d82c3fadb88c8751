/**
 * The cost of a failing call when the breaker's window already holds 50,000
 * failures. opossum with rolling percentiles on (its default) re-sorts every
 * latency in the window on each failure; graceful-inference configures it so
 * the failure path stays flat.
 *
 * Target: ours at most 20 µs per failing call.
 */
import { fileURLToPath } from 'node:url';
import Opossum from 'opossum';
import { createInference, functionModel } from './sdk.js';
import { measure, type Measurement } from './harness.js';

const FAILURES = 50_000;

/** Runs the failure-path bench and prints its table; returns our µs per failing call. */
export async function run(): Promise<number> {
  const failing = async (): Promise<never> => {
    throw new Error('model down');
  };
  // Never opens, so every call exercises the failure accounting.
  const breaker = { volumeThreshold: 1_000_000_000, errorThresholdPercentage: 100, rollingWindowMs: 600_000, resetTimeoutMs: 60_000 };
  const ours = createInference<number, number>({
    name: 'bench-failure-path',
    versions: { v1: functionModel(failing) },
    breaker,
    fallback: () => 0,
  });
  const opossumDefault = new Opossum(failing, {
    timeout: 10_000,
    volumeThreshold: 1_000_000_000,
    errorThresholdPercentage: 100,
    rollingCountTimeout: 600_000,
    resetTimeout: 60_000,
  });
  const swallow = (p: Promise<unknown>) => p.catch(() => undefined);

  for (let i = 0; i < FAILURES; i++) await ours.infer(i);
  for (let i = 0; i < FAILURES; i++) await swallow(opossumDefault.fire());

  const rows: Measurement[] = [];
  rows.push(await measure('graceful-inference failing call (fallback answers)', () => ours.infer(1), { batch: 50, rounds: 20, warmup: 0 }));
  rows.push(await measure('opossum default (percentiles on) failing call', () => swallow(opossumDefault.fire()), { batch: 5, rounds: 10, warmup: 0 }));

  console.log(`\n## Failing call with ${FAILURES.toLocaleString('en-US')}+ failures in the window`);
  console.log('| contender | median µs/call | p99 µs/call | target |');
  console.log('|---|---:|---:|---|');
  const oursUs = rows[0]!.medianUs;
  console.log(`| ${rows[0]!.name} | ${oursUs.toFixed(2)} | ${rows[0]!.p99Us.toFixed(2)} | ≤ 20 µs ${oursUs <= 20 ? 'MET' : 'MISSED'} |`);
  console.log(`| ${rows[1]!.name} | ${rows[1]!.medianUs.toFixed(2)} | ${rows[1]!.p99Us.toFixed(2)} | (${(rows[1]!.medianUs / oursUs).toFixed(0)}x ours) |`);
  const status = ours.status().versions.v1!;
  if (status.breaker.state !== 'closed' || status.counts.fallback < FAILURES) throw new Error('bench invalid: breaker opened or calls did not fail');
  await ours.close();
  opossumDefault.shutdown();
  return oursUs;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await run();
