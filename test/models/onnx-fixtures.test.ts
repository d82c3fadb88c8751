import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { onnxModel } from '../../src/models/onnx-model.node.js';
import { tensor } from '../../src/models/tensor.js';
import type { Model, RunContext } from '../../src/types.js';
import { FEATURE_COUNT, SAMPLE_APPLICANTS, toFeatureVector } from '../../examples/demo/model/features.js';
import {
  calibrateSlowModel,
  CREDIT_RISK_PATH,
  fixturePath,
  randomRows,
  reference,
  type FixtureName,
} from '../fixtures/reference.js';

const ctx: RunContext = { signal: new AbortController().signal, deadline: Infinity, context: undefined };
const repoRoot = resolve(import.meta.dirname, '..', '..');
const models: Model<unknown, unknown>[] = [];

afterAll(async () => {
  await Promise.all(models.map((m) => m.close()));
});

/** A model taking row-major rows and returning the named output's values. */
function rowsModel(source: string, input: string, output: string, width: number, extra = {}) {
  const m = onnxModel<Float32Array, Float32Array>({
    source,
    encode: (rows) => ({ [input]: tensor('float32', rows, [rows.length / width, width]), ...extra }),
    decode: (out) => out[output]!.data as Float32Array,
  });
  models.push(m as Model<unknown, unknown>);
  return m;
}

function expectClose(actual: Float32Array, expected: Float64Array, tolerance = 1e-5) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    if (Math.abs(actual[i]! - expected[i]!) > tolerance) {
      throw new Error(`element ${i}: onnxruntime ${actual[i]}, reference ${expected[i]}`);
    }
  }
}

describe('fixtures match the TypeScript reference', () => {
  const cases: [FixtureName, keyof typeof reference, string, number, number[]][] = [
    ['tiny-mlp', 'tinyMlp', 'probs', 8, [1, 2, 7, 64]],
    ['mid-mlp', 'midMlp', 'probs', 256, [1, 3, 32]],
    ['fixed-batch', 'fixedBatch', 'probs', 8, [1]],
  ];
  for (const [name, ref, output, width, batches] of cases) {
    it(`${name}: batches ${batches.join(', ')}`, async () => {
      const model = rowsModel(fixturePath(name), 'x', output, width);
      for (const batch of batches) {
        const rows = randomRows(1000 + batch, batch, width, -2, 2);
        const out = await model.run(rows, ctx);
        expectClose(out, reference[ref](rows, batch));
        // Softmax rows sum to one: a cheap check that the reference itself is sane.
        const classes = out.length / batch;
        for (let r = 0; r < batch; r++) {
          expect(out.slice(r * classes, (r + 1) * classes).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
        }
      }
    });
  }

  it('slow-model: output does not depend on iterations', async () => {
    let iterations = 0;
    const model = onnxModel<Float32Array, Float32Array>({
      source: fixturePath('slow-model'),
      encode: (rows) => ({
        x: tensor('float32', rows, [rows.length / 8, 8]),
        iterations: tensor('int64', [iterations], []),
      }),
      decode: (out) => out.y!.data as Float32Array,
    });
    models.push(model as Model<unknown, unknown>);
    const rows = randomRows(7, 5, 8, -2, 2);
    for (iterations of [0, 1, 3]) expectClose(await model.run(rows, ctx), reference.slowModel(rows, 5));
  });

  it('nan-model: NaN exactly in the rows with a negative feature', async () => {
    const model = rowsModel(fixturePath('nan-model'), 'x', 'probs', 8);
    const rows = randomRows(3, 4, 8, 0, 3);
    rows[1 * 8 + 5] = -0.5; // row 1 has one negative feature
    rows.fill(-1, 3 * 8, 4 * 8); // row 3 is all negative
    const out = await model.run(rows, ctx);
    const expected = reference.nanModel(rows, 4);
    expect(Array.from(out, Number.isNaN)).toEqual([false, false, true, true, false, false, true, true]);
    expect(Array.from(expected, Number.isNaN)).toEqual(Array.from(out, Number.isNaN));
    expectClose(out.filter((v) => !Number.isNaN(v)), expected.filter((v) => !Number.isNaN(v)));
    // Zero is not negative: sqrt(0) = 0.
    expect(Number.isNaN((await model.run(new Float32Array(8), ctx))[0])).toBe(false);
  });

  it('credit-risk: sample applicants score as documented', async () => {
    const model = rowsModel(CREDIT_RISK_PATH, 'features', 'risk', FEATURE_COUNT);
    const rows = new Float32Array(3 * FEATURE_COUNT);
    const applicants = [SAMPLE_APPLICANTS.prime, SAMPLE_APPLICANTS.typical, SAMPLE_APPLICANTS.risky];
    applicants.forEach((a, i) => toFeatureVector(a, rows.subarray(i * FEATURE_COUNT, (i + 1) * FEATURE_COUNT)));
    const risk = await model.run(rows, ctx);
    expectClose(risk, reference.creditRisk(rows, 3));
    expect(risk[0]).toBeCloseTo(0.023, 3);
    expect(risk[1]).toBeCloseTo(0.076, 3);
    expect(risk[2]).toBeCloseTo(0.953, 3);
    // More late payments never lower the risk.
    const more = toFeatureVector({ ...SAMPLE_APPLICANTS.typical, latePayments: 4 });
    expect((await model.run(more, ctx))[0]).toBeGreaterThan(risk[1]!);
    // Absurd values are clamped into the designed range.
    const absurd = toFeatureVector({ ...SAMPLE_APPLICANTS.typical, annualIncome: -5, creditUtilization: Number.NaN });
    expect(Array.from(absurd).every(Number.isFinite)).toBe(true);
  });
});

describe('slow-model', () => {
  it('takes roughly the time asked for (calibrated, wide margins)', async () => {
    const model = onnxModel<number, number>({
      source: fixturePath('slow-model'),
      encode: (iterations) => ({
        x: tensor('float32', new Float32Array(8), [1, 8]),
        iterations: tensor('int64', [iterations], []),
      }),
      decode: (out) => (out.y!.data as Float32Array)[0]!,
    });
    models.push(model as Model<unknown, unknown>);
    const msPerIteration = await calibrateSlowModel((n) => model.run(n, ctx));
    expect(msPerIteration).toBeGreaterThan(0.01);
    expect(msPerIteration).toBeLessThan(20);
    const elapsed: number[] = [];
    for (const target of [50, 300]) {
      const t0 = performance.now();
      await model.run(Math.round(target / msPerIteration), ctx);
      elapsed.push(performance.now() - t0);
      // Other test files share the 2 cores, so load can change between calibration and run.
      expect(elapsed.at(-1), `asked ${target} ms`).toBeGreaterThan(target * 0.25);
      expect(elapsed.at(-1), `asked ${target} ms`).toBeLessThan(target * 4);
    }
    expect(elapsed[1]).toBeGreaterThan(elapsed[0]! * 2);
  });
});

describe('make-fixtures', () => {
  it('is deterministic: regenerating gives byte-identical files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gi-fixtures-'));
    try {
      await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/make-fixtures.ts', dir], {
        cwd: repoRoot,
      });
      const committed = [
        ...(['tiny-mlp', 'mid-mlp', 'nan-model', 'slow-model', 'fixed-batch'] as const).map(fixturePath),
        CREDIT_RISK_PATH,
      ];
      for (const file of committed) {
        const name = file.slice(file.lastIndexOf('/') + 1);
        const [fresh, old] = await Promise.all([readFile(join(dir, name)), readFile(file)]);
        expect(fresh.equals(old), `${name} differs from the committed file: run npm run fixtures`).toBe(true);
        expect(old.length).toBeLessThan(5 * 1024 * 1024);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
