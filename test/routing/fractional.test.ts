import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  MAX_TOTAL_WEIGHT,
  bucketOf,
  bucketValue,
  fractionalSplit,
  hashKey,
  normalizeWeights,
  pickIndex,
} from '../../src/routing/fractional.js';

// Independent reference: MurmurHash3 x86_32 written from the spec with
// Math.imul, over bytes from a hand-written UTF-8 encoder (not TextEncoder).
function utf8(s: string): number[] {
  const out: number[] = [];
  for (const ch of s) {
    let cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; // lone surrogate
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  }
  return out;
}
function refMurmur3(bytes: number[]): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = 0;
  const blocks = bytes.length >> 2;
  for (let i = 0; i < blocks; i++) {
    let k = bytes[4 * i]! | (bytes[4 * i + 1]! << 8) | (bytes[4 * i + 2]! << 16) | (bytes[4 * i + 3]! << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = bytes.length & 3;
  let k = 0;
  const t = blocks * 4;
  if (tail >= 3) k ^= bytes[t + 2]! << 16;
  if (tail >= 2) k ^= bytes[t + 1]! << 8;
  if (tail >= 1) {
    k ^= bytes[t]!;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
const refBucket = (hash: number, total: number) => Number((BigInt(hash) * BigInt(total)) >> 32n);

describe('hashKey (MurmurHash3 x86_32, seed 0, UTF-8)', () => {
  it('matches the published MurmurHash3 vectors', () => {
    expect(hashKey('')).toBe(0);
    expect(hashKey('The quick brown fox jumps over the lazy dog')).toBe(0x2e4ff723);
    // prefix + key is hashed as one string
    expect(hashKey('The quick brown ', 'fox jumps over the lazy dog')).toBe(0x2e4ff723);
  });

  it('hits the flagd testbed hash-boundary keys', () => {
    // Values from open-feature/flagd-testbed evaluator/gherkin/fractional.feature
    // ("Fractional operator hash edge cases"), checked with our reference.
    expect(hashKey('', 'ejOoVL')).toBe(0);
    expect(hashKey('', 'bY9fO-')).toBe(1);
    expect(hashKey('', 'SI7p-')).toBe(0x7fffffff);
    expect(hashKey('', '6LvT0')).toBe(0x80000000);
    expect(hashKey('', 'ceQdGm')).toBe(0xffffffff);
  });

  it('hashes UTF-8 bytes, not UTF-16 code units (values from an independent Python implementation)', () => {
    expect(hashKey('recommender', 'josé')).toBe(2258584406);
    expect(hashKey('recommender', '张伟')).toBe(409854946);
    expect(hashKey('recommender', '😀user')).toBe(1582481224);
    expect(hashKey('réco', 'user-1')).toBe(3172310952);
    expect(hashKey('recommender', 'محمد')).toBe(1012076452);
  });

  it('agrees with the reference for any string, including long and non-ASCII ones', () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 80 }), fc.string({ unit: 'grapheme', maxLength: 40 }), (a, b) => {
        expect(hashKey(a, b)).toBe(refMurmur3(utf8(a + b)));
      }),
      { numRuns: 300 },
    );
  });

  it('replaces lone surrogates with U+FFFD like Go and Python', () => {
    expect(hashKey('k', '\ud800x')).toBe(refMurmur3(utf8('k\ufffdx')));
  });
});

describe('bucketValue', () => {
  it('equals (hash * total) >> 32 in 64-bit arithmetic', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: MAX_TOTAL_WEIGHT }), (h, t) => {
        expect(bucketValue(h, t)).toBe(refBucket(h, t));
      }),
      { numRuns: 20000 },
    );
  });

  it('is exact at the extremes', () => {
    expect(bucketValue(0xffffffff, MAX_TOTAL_WEIGHT)).toBe(MAX_TOTAL_WEIGHT - 1);
    expect(bucketValue(0x80000000, 100)).toBe(50);
    expect(bucketValue(0x7fffffff, 100)).toBe(49);
    expect(bucketValue(0, 100)).toBe(0);
    expect(bucketValue(0xffffffff, 0)).toBe(0);
  });
});

describe('flagd fractional test vectors (open-feature/flagd-testbed, @fractional-v2)', () => {
  const suits = ['clubs', 'diamonds', 'hearts', 'spades'] as const;
  const quarters = fractionalSplit(suits.map((s) => [s, 25] as const));

  it('"Fractional operator": key = flag key + user.name', () => {
    const cases: [string, string][] = [
      ['jack', 'hearts'],
      ['queen', 'spades'],
      ['ten', 'clubs'],
      ['nine', 'diamonds'],
      ['3', 'clubs'],
    ];
    for (const [name, suit] of cases) expect(quarters.pick('fractional-flag', name), name).toBe(suit);
  });

  it('"Fractional operator shorthand": missing weight counts 1', () => {
    const split = fractionalSplit([
      ['heads', undefined],
      ['tails', 1],
    ]);
    expect(split.pick('fractional-flag-shorthand', 'jon@company.com')).toBe('heads');
    expect(split.pick('fractional-flag-shorthand', 'jane@company.com')).toBe('tails');
  });

  it('"with shared seed": the same seed string gives the same buckets for two flags', () => {
    const cases: [string, string][] = [
      ['seven', 'hearts'],
      ['eight', 'diamonds'],
      ['nine', 'clubs'],
      ['two', 'spades'],
    ];
    for (const [name, suit] of cases) expect(quarters.pick('shared-seed', name), name).toBe(suit);
  });

  it('"single entry" always resolves to the only variant', () => {
    expect(fractionalSplit([['single', 1]]).pick('fractional-single-entry-flag', 'some-targeting-key')).toBe('single');
  });

  it('"hash edge cases" on a 50/50 split keyed by the targeting key alone', () => {
    const split = fractionalSplit([
      ['lower', 50],
      ['upper', 50],
    ]);
    const cases: [string, string][] = [
      ['ejOoVL', 'lower'],
      ['bY9fO-', 'lower'],
      ['SI7p-', 'lower'],
      ['6LvT0', 'upper'],
      ['ceQdGm', 'upper'],
    ];
    for (const [key, v] of cases) expect(split.pick('', key), key).toBe(v);
  });

  it('all-zero weights give no variant; negative weights count 0', () => {
    expect(bucketOf('f', 'any-user', [0, 0])).toBe(-1);
    const split = fractionalSplit([
      ['one', -50],
      ['two', 100],
    ]);
    expect(split.weights).toEqual([0, 100]);
    expect(split.pick('fractional-negative-weight-flag', 'any-user')).toBe('two');
  });

  it('an empty bucketing key gives no variant', () => {
    expect(bucketOf('f', '', [1, 1])).toBe(-1);
  });
});

describe('our own table (computed with an independent Python implementation)', () => {
  // [flagKey, key, weights, hash, bucket, index]
  const table: [string, string, number[], number, number, number][] = [
    ['recommender', 'user-1', [50, 30, 20], 3507293339, 81, 2],
    ['recommender', 'user-2', [50, 30, 20], 1390905038, 32, 0],
    ['recommender', 'user-3', [50, 30, 20], 3491205935, 81, 2],
    ['recommender', 'alice@example.com', [50, 30, 20], 2808776922, 65, 1],
    ['recommender', 'josé', [50, 50], 2258584406, 52, 1],
    ['recommender', 'Zoë', [50, 50], 362010475, 8, 0],
    ['recommender', '张伟', [50, 50], 409854946, 9, 0],
    ['recommender', '😀user', [50, 50], 1582481224, 36, 0],
    ['recommender', 'Müller', [50, 50], 3898732959, 90, 1],
    ['réco', 'user-1', [50, 50], 3172310952, 73, 1],
    ['recommender', 'محمد', [50, 50], 1012076452, 23, 0],
    ['recommender', 'naıve', [50, 50], 4129774737, 96, 1],
    ['recommender', 'ééééééé', [50, 50], 334363184, 7, 0],
    ['', 'ceQdGm', [1, 2147483646], 4294967295, 2147483646, 1],
    ['', 'ceQdGm', [2147483646, 1], 4294967295, 2147483646, 1],
    ['', '6LvT0', [1073741823, 1073741824], 2147483648, 1073741823, 1],
    ['', 'SI7p-', [1073741823, 1073741824], 2147483647, 1073741823, 1],
    ['', 'ejOoVL', [0, 5], 0, 0, 1],
    ['big', 'user', [2147483647], 3349450131, 1674725064, 0],
  ];
  it.each(table)('%s + %s over %j', (flagKey, key, weights, hash, bucket, index) => {
    expect(hashKey(flagKey, key)).toBe(hash);
    const total = weights.reduce((a, b) => a + b, 0);
    expect(bucketValue(hash, total)).toBe(bucket);
    expect(pickIndex(bucket, weights)).toBe(index);
    expect(bucketOf(flagKey, key, weights)).toBe(index);
  });
});

describe('fractionalSplit', () => {
  it('splits 100,000 keys within 1 percentage point of the weights', () => {
    const split = fractionalSplit([
      ['a', 90],
      ['b', 7],
      ['c', 3],
    ]);
    const counts = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 100_000; i++) counts[split.pick('model', `user-${i}`)!]++;
    expect(Math.abs(counts.a / 1000 - 90)).toBeLessThan(1);
    expect(Math.abs(counts.b / 1000 - 7)).toBeLessThan(1);
    expect(Math.abs(counts.c / 1000 - 3)).toBeLessThan(1);
  });

  it('picks at random in proportion to the weights without a key', () => {
    const split = fractionalSplit([
      ['a', 1],
      ['b', 3],
    ]);
    expect(split.pickRandom(() => 0)).toBe('a');
    expect(split.pickRandom(() => 0.2499)).toBe('a');
    expect(split.pickRandom(() => 0.25)).toBe('b');
    expect(split.pickRandom(() => 0.9999)).toBe('b');
    expect(fractionalSplit([['a', 0]]).pickRandom()).toBeUndefined();
  });

  it('rejects non-integer weights and totals above 2^31 - 1', () => {
    expect(() => normalizeWeights([1.5])).toThrow(RangeError);
    expect(() => normalizeWeights([MAX_TOTAL_WEIGHT, 1])).toThrow(RangeError);
  });

  it('is cheap: no TextEncoder per call', () => {
    const split = fractionalSplit([
      ['a', 50],
      ['b', 50],
    ]);
    const keys = Array.from({ length: 1000 }, (_, i) => `user-${i}@example.com`);
    let sink = 0;
    const t0 = performance.now();
    for (let r = 0; r < 200; r++) for (const k of keys) sink += split.pick('recommender', k) === 'a' ? 1 : 0;
    const perCall = ((performance.now() - t0) * 1000) / 200_000;
    expect(sink).toBeGreaterThan(0);
    // Wide margin: typically well under 0.5 µs here.
    expect(perCall).toBeLessThan(5);
  });
});
