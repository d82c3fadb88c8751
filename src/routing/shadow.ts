/**
 * Shadow traffic: after the primary answer is settled, the challenger version
 * runs on the same input and its answer is compared with the primary's. The
 * caller never waits for it and never sees its errors: the work is started
 * from a macrotask (`setTimeout(0)`), so even a challenger that blocks the
 * thread (in-process ONNX runs do) starts only after the caller's
 * continuation has run. A concurrency bound keeps a slow challenger from
 * piling up work; calls dropped when it is full are counted.
 */
import type { InferenceContext } from '../types.js';
import type { CompareFunction } from './routing-options.js';

/** Default numeric tolerance of {@link defaultCompare}, relative or absolute. */
export const DEFAULT_TOLERANCE = 1e-6;

/** Default bound on shadow calls in flight. */
export const DEFAULT_SHADOW_CONCURRENCY = 4;

function close(a: number, b: number, tolerance: number): boolean {
  if (a === b) return true;
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  const diff = Math.abs(a - b);
  return diff <= tolerance || diff <= tolerance * Math.max(Math.abs(a), Math.abs(b));
}

type NumberList = ArrayLike<number> & { readonly length: number };

function isNumberList(v: unknown): v is NumberList {
  if (ArrayBuffer.isView(v)) return !(v instanceof DataView) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array);
  if (!Array.isArray(v) || v.length === 0) return false;
  for (const x of v) if (typeof x !== 'number') return false;
  return true;
}

function argmax(v: NumberList): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

/**
 * The default agreement test: numbers equal within `tolerance` (relative or
 * absolute), arrays (and typed arrays) of numbers by argmax, other arrays
 * element by element, plain objects field by field, anything else by
 * `Object.is`.
 */
export function defaultCompare(tolerance = DEFAULT_TOLERANCE): (a: unknown, b: unknown) => boolean {
  const same = (a: unknown, b: unknown): boolean => {
    if (typeof a === 'number' && typeof b === 'number') return close(a, b, tolerance);
    if (isNumberList(a) && isNumberList(b)) return a.length === b.length && argmax(a) === argmax(b);
    if (Array.isArray(a) && Array.isArray(b)) {
      if (a.length !== b.length) return false;
      for (let i = 0; i < a.length; i++) if (!same(a[i], b[i])) return false;
      return true;
    }
    if (typeof a === 'object' && typeof b === 'object' && a !== null && b !== null) {
      if (Array.isArray(a) || Array.isArray(b)) return false;
      const ka = Object.keys(a);
      const kb = Object.keys(b);
      if (ka.length !== kb.length) return false;
      for (const k of ka) {
        if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
        if (!same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
      }
      return true;
    }
    return Object.is(a, b);
  };
  return same;
}

/** Shadow counters of one challenger version. */
export interface ShadowCounts {
  /** Shadow calls started. */
  readonly runs: number;
  /** Shadow answers that agreed with the primary's. */
  readonly agreements: number;
  /** Shadow answers that disagreed. */
  readonly mismatches: number;
  /** Shadow calls that failed (or whose `compare` threw). */
  readonly errors: number;
  /** Sampled calls dropped because the concurrency bound was reached. */
  readonly dropped: number;
  /** Shadow answers not compared because the primary answer came from a fallback. */
  readonly uncompared: number;
  /** Shadow calls in flight (scheduled or running). */
  readonly inflight: number;
  /** `agreements / (agreements + mismatches)`, `undefined` before any comparison. */
  readonly agreementRate: number | undefined;
}

/** Payload of `shadow-mismatch`. */
export interface ShadowMismatchEvent<I = unknown, O = unknown> {
  /** The challenger version. */
  readonly version: string;
  /** The version that gave the primary answer. */
  readonly primaryVersion: string;
  readonly input: I;
  readonly primary: O;
  readonly shadow: O;
}

/** The primary answer a shadow call is compared with. */
export interface PrimaryAnswer<O> {
  readonly value: O;
  readonly source: 'model' | 'fallback';
  readonly version: string;
}

/** How one sampled shadow call ended (the names of the `inference.shadow.agreement` metric). */
export type ShadowResult = 'agree' | 'disagree' | 'error' | 'dropped';

/**
 * Traces one call's shadow work (the call's telemetry observer fits): called
 * when the shadow call starts, returns what to call when it ends.
 */
export interface ShadowTracer {
  shadowStart?(version: string): (result: ShadowResult, error?: unknown) => void;
}

/** What the shadow runner needs from the inference. */
export interface ShadowHost<I, O> {
  /** Runs `version` on `input` (under the inference's deadline, without fallbacks). */
  run(version: string, input: I, context: InferenceContext | undefined): Promise<O>;
  /** Receives each mismatch. */
  onMismatch?(event: ShadowMismatchEvent<I, O>): void;
  /** Hears how each sampled shadow call ended (for metrics). Uncompared answers are not reported. */
  onResult?(version: string, result: ShadowResult): void;
  /** Random source for sampling. Default `Math.random`. */
  random?(): number;
}

/** Shadow settings in force (from `routing.shadow`). */
export interface ShadowConfig<I, O> {
  readonly version: string;
  readonly sampleRate?: number;
  readonly compare?: CompareFunction<I, O>;
  readonly maxConcurrent?: number;
}

interface MutableCounts {
  runs: number;
  agreements: number;
  mismatches: number;
  errors: number;
  dropped: number;
  uncompared: number;
  inflight: number;
}

/**
 * Runs shadow calls for one inference. Its settings can be replaced at any
 * time (`configure`); counters are kept per challenger version across
 * changes.
 */
export class ShadowRunner<I, O> {
  private config: Required<Omit<ShadowConfig<I, O>, 'compare'>> & { compare: CompareFunction<I, O> } | undefined;
  private readonly counts = new Map<string, MutableCounts>();
  private inflight = 0;
  private idle: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly host: ShadowHost<I, O>,
    config?: ShadowConfig<I, O>,
  ) {
    this.configure(config);
  }

  /** Replaces the settings; `undefined` turns shadowing off. Calls in flight finish. */
  configure(config: ShadowConfig<I, O> | undefined): void {
    this.config =
      config === undefined
        ? undefined
        : {
            version: config.version,
            sampleRate: config.sampleRate ?? 1,
            maxConcurrent: config.maxConcurrent ?? DEFAULT_SHADOW_CONCURRENCY,
            compare: config.compare ?? (defaultCompare() as CompareFunction<I, O>),
          };
    if (config !== undefined) this.countsOf(config.version);
  }

  /** The challenger version, when shadowing is on. */
  get version(): string | undefined {
    return this.config?.version;
  }

  private countsOf(version: string): MutableCounts {
    let c = this.counts.get(version);
    if (c === undefined) {
      c = { runs: 0, agreements: 0, mismatches: 0, errors: 0, dropped: 0, uncompared: 0, inflight: 0 };
      this.counts.set(version, c);
    }
    return c;
  }

  /**
   * Offers one settled primary answer. Returns at once; when sampled and
   * there is room, the challenger runs later, off the caller's path.
   * Never throws.
   */
  offer(input: I, context: InferenceContext | undefined, primary: PrimaryAnswer<O>, tracer?: ShadowTracer): void {
    const config = this.config;
    if (config === undefined || this.closed || primary.version === config.version) return;
    if (config.sampleRate < 1 && (this.host.random?.() ?? Math.random()) >= config.sampleRate) return;
    const counts = this.countsOf(config.version);
    if (counts.inflight >= config.maxConcurrent) {
      counts.dropped++;
      this.report(config.version, 'dropped');
      return;
    }
    counts.inflight++;
    this.inflight++;
    setTimeout(() => void this.execute(config, counts, input, context, primary, tracer), 0);
  }

  private notifyMismatch(event: ShadowMismatchEvent<I, O>): void {
    try {
      this.host.onMismatch?.(event);
    } catch {
      // A listener's error is not the challenger's.
    }
  }

  private report(version: string, result: ShadowResult): void {
    try {
      this.host.onResult?.(version, result);
    } catch {
      // Telemetry must not break shadowing.
    }
  }

  private async execute(
    config: NonNullable<ShadowRunner<I, O>['config']>,
    counts: MutableCounts,
    input: I,
    context: InferenceContext | undefined,
    primary: PrimaryAnswer<O>,
    tracer: ShadowTracer | undefined,
  ): Promise<void> {
    let done: ((result: ShadowResult, error?: unknown) => void) | undefined;
    let result: ShadowResult | undefined;
    let failure: unknown;
    try {
      counts.runs++;
      // Traced only when there is an answer to compare with, so a span always ends with a result.
      if (primary.source === 'model') done = tracer?.shadowStart?.(config.version);
      const value = await this.host.run(config.version, input, context);
      if (primary.source !== 'model') {
        counts.uncompared++;
        return;
      }
      if (config.compare(primary.value, value, input)) {
        counts.agreements++;
        result = 'agree';
      } else {
        counts.mismatches++;
        result = 'disagree';
        this.notifyMismatch({ version: config.version, primaryVersion: primary.version, input, primary: primary.value, shadow: value });
      }
    } catch (error) {
      // A shadow failure is a figure, never the caller's problem.
      counts.errors++;
      result = 'error';
      failure = error;
    } finally {
      if (result !== undefined) this.report(config.version, result);
      try {
        if (done !== undefined && result !== undefined) done(result, failure);
      } catch {
        // idem
      }
      counts.inflight--;
      if (--this.inflight === 0) {
        const waiting = this.idle;
        this.idle = [];
        for (const resolve of waiting) resolve();
      }
    }
  }

  /** Counters per challenger version. */
  stats(): Record<string, ShadowCounts> {
    const out: Record<string, ShadowCounts> = {};
    for (const [version, c] of this.counts) {
      const compared = c.agreements + c.mismatches;
      out[version] = { ...c, agreementRate: compared === 0 ? undefined : c.agreements / compared };
    }
    return out;
  }

  /** Resolves when no shadow call is in flight. */
  drain(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Stops taking new shadow calls and waits for those in flight. */
  close(): Promise<void> {
    this.closed = true;
    return this.drain();
  }
}
