/**
 * A time-bucketed counter of calls and slow calls over a rolling window.
 *
 * Buckets are advanced lazily from timestamps on each record, so it needs no
 * timer and costs O(1) per call.
 */
export class SlidingWindow {
  private readonly total: Uint32Array;
  private readonly hits: Uint32Array;
  private readonly bucketMs: number;
  private current = 0;
  private currentStart: number;

  constructor(
    windowMs: number,
    private readonly buckets = 10,
    now = performance.now(),
  ) {
    this.bucketMs = windowMs / buckets;
    this.total = new Uint32Array(buckets);
    this.hits = new Uint32Array(buckets);
    this.currentStart = now;
  }

  private advance(now: number): void {
    const elapsed = Math.floor((now - this.currentStart) / this.bucketMs);
    if (elapsed <= 0) return;
    const steps = Math.min(elapsed, this.buckets);
    for (let i = 0; i < steps; i++) {
      this.current = (this.current + 1) % this.buckets;
      this.total[this.current] = 0;
      this.hits[this.current] = 0;
    }
    this.currentStart += elapsed * this.bucketMs;
  }

  /** Records one call; `hit` marks it as counted (e.g. slow). */
  record(hit: boolean, now = performance.now()): void {
    this.advance(now);
    this.total[this.current]!++;
    if (hit) this.hits[this.current]!++;
  }

  /** Calls and hits within the window. */
  counts(now = performance.now()): { total: number; hits: number } {
    this.advance(now);
    let total = 0;
    let hits = 0;
    for (let i = 0; i < this.buckets; i++) {
      total += this.total[i]!;
      hits += this.hits[i]!;
    }
    return { total, hits };
  }

  /** Forgets everything (after the breaker opens, a new window starts). */
  reset(now = performance.now()): void {
    this.total.fill(0);
    this.hits.fill(0);
    this.currentStart = now;
  }
}
