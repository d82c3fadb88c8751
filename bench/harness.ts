/**
 * Shared benchmark harness. Every bench runs the SDK and its peers side by
 * side in one process and prints ratios: absolute times on shared 2-core
 * machines are noisy, ratios measured in one run are what count.
 */

/** One measured contender. */
export interface Measurement {
  readonly name: string;
  /** Median of the per-batch mean time per call, in microseconds. */
  readonly medianUs: number;
  /** 99th percentile of the per-batch means, in microseconds. */
  readonly p99Us: number;
}

/** Options of {@link measure}. */
export interface MeasureOptions {
  /** Calls per timed batch. */
  readonly batch?: number;
  /** Timed batches (the median is taken over them). */
  readonly rounds?: number;
  /** Untimed warm-up calls. */
  readonly warmup?: number;
}

/**
 * Times an async function: warm-up, then `rounds` batches of `batch`
 * sequential calls; reports the median and p99 of the per-call mean of each batch.
 */
export async function measure(name: string, fn: () => Promise<unknown>, options: MeasureOptions = {}): Promise<Measurement> {
  const batch = options.batch ?? 200;
  const rounds = options.rounds ?? 40;
  for (let i = 0; i < (options.warmup ?? 2_000); i++) await fn();
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) await fn();
    samples.push(((performance.now() - t0) * 1000) / batch);
  }
  samples.sort((a, b) => a - b);
  return { name, medianUs: percentile(samples, 0.5), p99Us: percentile(samples, 0.99) };
}

/**
 * Measures contenders interleaved (A, B, C, A, B, C...) so that machine noise
 * hits all of them alike, and returns their medians.
 */
export async function compare(
  contenders: ReadonlyArray<readonly [string, () => Promise<unknown>]>,
  options: MeasureOptions & { readonly cycles?: number } = {},
): Promise<Measurement[]> {
  const cycles = options.cycles ?? 5;
  const perCycle = Math.max(1, Math.floor((options.rounds ?? 40) / cycles));
  const samples = new Map<string, number[]>(contenders.map(([n]) => [n, []]));
  for (const [, fn] of contenders) for (let i = 0; i < (options.warmup ?? 2_000); i++) await fn();
  const batch = options.batch ?? 200;
  for (let c = 0; c < cycles; c++) {
    for (const [name, fn] of contenders) {
      for (let r = 0; r < perCycle; r++) {
        const t0 = performance.now();
        for (let i = 0; i < batch; i++) await fn();
        samples.get(name)!.push(((performance.now() - t0) * 1000) / batch);
      }
    }
  }
  return contenders.map(([name]) => {
    const s = samples.get(name)!.sort((a, b) => a - b);
    return { name, medianUs: percentile(s, 0.5), p99Us: percentile(s, 0.99) };
  });
}

/** The value at quantile `q` of sorted `values`. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/** Prints a table of measurements with each one's ratio to `baseline` (by name). */
export function printTable(title: string, rows: readonly Measurement[], baseline: string, targets: Readonly<Record<string, number>> = {}): void {
  const base = rows.find((r) => r.name === baseline);
  console.log(`\n## ${title}`);
  console.log('| contender | median µs/call | p99 µs/call | ratio to ' + baseline + ' | target |');
  console.log('|---|---:|---:|---:|---|');
  for (const r of rows) {
    const ratio = base ? r.medianUs / base.medianUs : Number.NaN;
    const target = targets[r.name];
    const verdict = target === undefined ? '' : `≤ ${target}x ${ratio <= target ? 'MET' : 'MISSED'}`;
    console.log(`| ${r.name} | ${r.medianUs.toFixed(2)} | ${r.p99Us.toFixed(2)} | ${ratio.toFixed(3)}x | ${verdict} |`);
  }
}
