/**
 * Sticky bucketing identical to flagd's `fractional` operation (its current,
 * "v2" algorithm), so a user lands on the same model version here, in the
 * browser, and in any service that evaluates the same flag with flagd:
 *
 * 1. hash = MurmurHash3 x86_32, seed 0, over the UTF-8 bytes of
 *    `flagKey + bucketingKey`, read as unsigned 32 bits;
 * 2. bucket = (hash x totalWeight) >> 32, in 64-bit integer arithmetic;
 * 3. the first variant whose running weight total exceeds the bucket wins.
 *
 * UTF-8 matters: flagd's Go and Python evaluators hash UTF-8 bytes, while its
 * JS core hashes UTF-16 code units and disagrees for non-ASCII keys. We follow
 * Go and Python. The `murmurhash` package (v2) would encode strings itself, but
 * it allocates a `TextEncoder` per call; we hand it UTF-8 bytes from a reused
 * buffer instead, which it accepts as a `Uint8Array`.
 */
import murmurhash from 'murmurhash';

/** Largest total weight flagd accepts (the total is a signed 32-bit integer there). */
export const MAX_TOTAL_WEIGHT = 0x7fffffff;

const TWO_POW_16 = 0x10000;

let buffer = new Uint8Array(256);
// Views of `buffer` by length, so hashing allocates nothing once warm.
let views: Uint8Array[] = [];
let encoder: TextEncoder | undefined;

function view(length: number): Uint8Array {
  let v = views[length];
  if (v === undefined) {
    v = buffer.subarray(0, length);
    views[length] = v;
  }
  return v;
}

function ensureCapacity(bytes: number): void {
  if (bytes <= buffer.length) return;
  let size = buffer.length;
  while (size < bytes) size *= 2;
  buffer = new Uint8Array(size);
  views = [];
}

/**
 * Writes the UTF-8 bytes of `s` into the shared buffer at `offset`; returns
 * the offset after the last byte. ASCII is copied directly (same bytes as
 * UTF-8); anything else goes through `TextEncoder.encodeInto`, which also
 * replaces lone surrogates with U+FFFD exactly as Go and Python do.
 */
function writeUtf8(s: string, offset: number): number {
  const n = s.length;
  // Worst case 3 bytes per UTF-16 code unit.
  ensureCapacity(offset + n * 3);
  const buf = buffer;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      encoder ??= new TextEncoder();
      const { written } = encoder.encodeInto(s.slice(i), buf.subarray(offset + i));
      return offset + i + written;
    }
    buf[offset + i] = c;
  }
  return offset + n;
}

/**
 * MurmurHash3 x86_32 with seed 0 over the UTF-8 bytes of `prefix + key`,
 * as an unsigned 32-bit integer. Allocates nothing for ASCII input.
 */
export function hashKey(prefix: string, key = ''): number {
  const end = writeUtf8(key, writeUtf8(prefix, 0));
  return murmurhash.v3(view(end), 0);
}

/**
 * `(hash * totalWeight) >> 32` in exact integer arithmetic, without BigInt:
 * the hash is split in 16-bit halves so that every product stays below 2^53.
 *
 * @param hash - unsigned 32-bit hash
 * @param totalWeight - integer in `[0, 2^31 - 1]`
 * @returns the bucket, an integer in `[0, totalWeight)` (0 when the total is 0)
 */
export function bucketValue(hash: number, totalWeight: number): number {
  const hi = Math.floor(hash / TWO_POW_16);
  const lo = hash % TWO_POW_16;
  // floor(floor(a) / n) == floor(a / n) for integer n, so the split is exact.
  return Math.floor((hi * totalWeight + Math.floor((lo * totalWeight) / TWO_POW_16)) / TWO_POW_16);
}

/**
 * Index of the variant a bucket falls into: the first whose running weight
 * total exceeds the bucket, or -1 when the weights sum to 0.
 */
export function pickIndex(bucket: number, weights: readonly number[]): number {
  let running = 0;
  for (let i = 0; i < weights.length; i++) {
    running += weights[i]!;
    if (running > bucket) return i;
  }
  return -1;
}

/**
 * Normalises weights the way flagd does: a missing weight counts 1, a
 * negative one counts 0. Throws on non-integers or a total above
 * {@link MAX_TOTAL_WEIGHT}.
 */
export function normalizeWeights(weights: readonly (number | undefined)[]): number[] {
  let total = 0;
  const out = weights.map((w) => {
    if (w === undefined) return 1;
    if (!Number.isInteger(w)) throw new RangeError(`weights must be integers, got ${String(w)}`);
    return w < 0 ? 0 : w;
  });
  for (const w of out) total += w;
  if (total > MAX_TOTAL_WEIGHT) throw new RangeError(`total weight ${total} exceeds ${MAX_TOTAL_WEIGHT}`);
  return out;
}

function sum(weights: readonly number[]): number {
  let total = 0;
  for (const w of weights) total += w;
  return total;
}

/**
 * flagd's `fractional` with the default bucketing key (flag key followed by
 * the targeting key): the index of the chosen variant, or -1 when the key is
 * empty or every weight is 0 (flagd then answers the default variant).
 *
 * @param flagKey - the flag key (the inference's `name` unless `routing.flagKey` is set)
 * @param key - the targeting (bucketing) key
 * @param weights - non-negative integer weights, in variant order
 */
export function bucketOf(flagKey: string, key: string, weights: readonly number[]): number {
  if (key === '') return -1;
  const total = sum(weights);
  if (total <= 0) return -1;
  return pickIndex(bucketValue(hashKey(flagKey, key), total), weights);
}

/**
 * A compiled weighted split over named variants: computes the total once and
 * picks by key (flagd-compatible) or at random.
 */
export interface FractionalSplit<V extends string = string> {
  /** Variant names, in order. */
  readonly variants: readonly V[];
  /** Weights, in order (normalised). */
  readonly weights: readonly number[];
  /** Sum of the weights. */
  readonly total: number;
  /**
   * The variant for a bucketing key, as flagd would choose it for a flag
   * named `flagKey`; `undefined` when every weight is 0.
   */
  pick(flagKey: string, key: string): V | undefined;
  /** A variant chosen at random in proportion to the weights (no key). */
  pickRandom(random?: () => number): V | undefined;
}

/**
 * Compiles `[variant, weight]` pairs into a {@link FractionalSplit}.
 *
 * @throws RangeError on non-integer weights or a total above {@link MAX_TOTAL_WEIGHT}
 */
export function fractionalSplit<V extends string>(
  entries: readonly (readonly [V, number | undefined])[],
): FractionalSplit<V> {
  const variants = entries.map((e) => e[0]);
  const weights = normalizeWeights(entries.map((e) => e[1]));
  const total = sum(weights);
  return {
    variants,
    weights,
    total,
    pick(flagKey, key) {
      if (total <= 0) return undefined;
      return variants[pickIndex(bucketValue(hashKey(flagKey, key), total), weights)];
    },
    pickRandom(random = Math.random) {
      if (total <= 0) return undefined;
      return variants[pickIndex(Math.floor(random() * total), weights)];
    },
  };
}
