/**
 * Writes the ONNX fixtures used by the tests, the benches and the demo.
 *
 *   npm run fixtures                 # writes test/fixtures/models/*.onnx and examples/demo/model/credit-risk.onnx
 *   npm run fixtures -- /tmp/out     # writes every model flat into /tmp/out (FIXTURES_OUT_DIR works too)
 *
 * The output is byte-for-byte deterministic: weights come from a seeded PRNG
 * (never Math.random), nothing time- or machine-dependent is written, and the
 * protobuf encoder emits fields in declaration order. A test regenerates the
 * files into a temporary directory and compares them with the committed ones.
 *
 * Models are described in test/fixtures/README.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AttributeType, DataType, ModelProto } from '../test/fixtures/onnx-format.js';
import { mulberry32 } from '../test/fixtures/prng.js';

const IR_VERSION = 8;
const OPSET = 17;

// ---------------------------------------------------------------- protobuf builders

type Dim = number | string;

interface Attr {
  name: string;
  type: number;
  i?: number;
  f?: number;
  t?: object;
  g?: object;
  ints?: number[];
}

function floatTensor(name: string, dims: readonly number[], values: Float32Array): object {
  // raw_data must be little-endian whatever the host is.
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return { dims: [...dims], data_type: DataType.FLOAT, name, raw_data: raw };
}

function int64Tensor(name: string, dims: readonly number[], values: readonly number[]): object {
  return { dims: [...dims], data_type: DataType.INT64, name, int64_data: [...values] };
}

function boolTensor(name: string, dims: readonly number[], values: readonly boolean[]): object {
  return { dims: [...dims], data_type: DataType.BOOL, name, int32_data: values.map((v) => (v ? 1 : 0)) };
}

function valueInfo(name: string, elemType: number, shape: readonly Dim[]): object {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: elemType,
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

function node(opType: string, inputs: string[], outputs: string[], name: string, attribute: Attr[] = []): object {
  return { input: inputs, output: outputs, name, op_type: opType, attribute };
}

function graph(init: {
  name: string;
  nodes: object[];
  initializers?: object[];
  inputs: object[];
  outputs: object[];
  doc?: string;
}): object {
  return {
    node: init.nodes,
    name: init.name,
    initializer: init.initializers ?? [],
    ...(init.doc ? { doc_string: init.doc } : {}),
    input: init.inputs,
    output: init.outputs,
  };
}

function model(g: object, doc: string, metadata: Record<string, string> = {}): Uint8Array {
  const message = ModelProto.fromObject({
    ir_version: IR_VERSION,
    producer_name: 'graceful-inference fixtures',
    producer_version: '1',
    doc_string: doc,
    graph: g,
    opset_import: [{ domain: '', version: OPSET }],
    metadata_props: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  });
  const err = ModelProto.verify(message);
  if (err) throw new Error(`invalid ModelProto: ${err}`);
  return ModelProto.encode(message).finish();
}

// ---------------------------------------------------------------- weights


/** Glorot-uniform weights `[fanIn, fanOut]` and small uniform biases. */
function denseLayer(rand: () => number, fanIn: number, fanOut: number): { w: Float32Array; b: Float32Array } {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const w = new Float32Array(fanIn * fanOut);
  for (let i = 0; i < w.length; i++) w[i] = (rand() * 2 - 1) * limit;
  const b = new Float32Array(fanOut);
  for (let i = 0; i < b.length; i++) b[i] = (rand() * 2 - 1) * 0.1;
  return { w, b };
}

// ---------------------------------------------------------------- models

/**
 * `x [batch, inDim] -> MatMul+Add -> Relu -> MatMul+Add -> Softmax -> probs`.
 * Initializers are named `W1`, `b1`, `W2`, `b2` (the reference reads them).
 */
function mlpClassifier(opts: {
  name: string;
  seed: number;
  dims: [number, number, number];
  batch: Dim;
  doc: string;
}): Uint8Array {
  const [inDim, hidden, outDim] = opts.dims;
  const rand = mulberry32(opts.seed);
  const l1 = denseLayer(rand, inDim, hidden);
  const l2 = denseLayer(rand, hidden, outDim);
  return model(
    graph({
      name: opts.name,
      nodes: [
        node('MatMul', ['x', 'W1'], ['h_mm'], 'fc1'),
        node('Add', ['h_mm', 'b1'], ['h_pre'], 'fc1_bias'),
        node('Relu', ['h_pre'], ['h'], 'relu'),
        node('MatMul', ['h', 'W2'], ['z_mm'], 'fc2'),
        node('Add', ['z_mm', 'b2'], ['z'], 'fc2_bias'),
        node('Softmax', ['z'], ['probs'], 'softmax', [{ name: 'axis', type: AttributeType.INT, i: -1 }]),
      ],
      initializers: [
        floatTensor('W1', [inDim, hidden], l1.w),
        floatTensor('b1', [hidden], l1.b),
        floatTensor('W2', [hidden, outDim], l2.w),
        floatTensor('b2', [outDim], l2.b),
      ],
      inputs: [valueInfo('x', DataType.FLOAT, [opts.batch, inDim])],
      outputs: [valueInfo('probs', DataType.FLOAT, [opts.batch, outDim])],
    }),
    opts.doc,
  );
}

const TINY_SEED = 0x7e57_0001;

function tinyMlp(): Uint8Array {
  return mlpClassifier({
    name: 'tiny_mlp',
    seed: TINY_SEED,
    dims: [8, 16, 2],
    batch: 'batch',
    doc: 'Classifier 8 -> 16 (Relu) -> 2 (Softmax), symbolic batch.',
  });
}

function fixedBatch(): Uint8Array {
  // Same weights as tiny-mlp so the same reference applies; only the batch dim differs.
  return mlpClassifier({
    name: 'fixed_batch',
    seed: TINY_SEED,
    dims: [8, 16, 2],
    batch: 1,
    doc: 'tiny-mlp with a fixed batch dimension of 1 (not batchable).',
  });
}

function midMlp(): Uint8Array {
  return mlpClassifier({
    name: 'mid_mlp',
    seed: 0x7e57_0002,
    dims: [256, 1024, 10],
    batch: 'batch',
    doc: 'Classifier 256 -> 1024 (Relu) -> 10 (Softmax), symbolic batch, for throughput benches.',
  });
}

/** `probs = Softmax(Sqrt(x) @ W + b)`: any negative feature makes its row NaN. */
function nanModel(): Uint8Array {
  const rand = mulberry32(0x7e57_0003);
  const l = denseLayer(rand, 8, 2);
  return model(
    graph({
      name: 'nan_model',
      nodes: [
        node('Sqrt', ['x'], ['root'], 'sqrt'),
        node('MatMul', ['root', 'W'], ['z_mm'], 'fc'),
        node('Add', ['z_mm', 'b'], ['z'], 'fc_bias'),
        node('Softmax', ['z'], ['probs'], 'softmax', [{ name: 'axis', type: AttributeType.INT, i: -1 }]),
      ],
      initializers: [floatTensor('W', [8, 2], l.w), floatTensor('b', [2], l.b)],
      inputs: [valueInfo('x', DataType.FLOAT, ['batch', 8])],
      outputs: [valueInfo('probs', DataType.FLOAT, ['batch', 2])],
    }),
    'Softmax(Sqrt(x) @ W + b): rows with a negative feature give NaN, others finite probabilities.',
  );
}

/** Side of the square matrix multiplied once per loop iteration of slow-model. */
export const SLOW_MATRIX_SIDE = 512;

/**
 * A tiny-mlp-like classifier whose run time is chosen by the caller through
 * the int64 scalar input `iterations`: a `Loop` multiplies a 512x512 matrix
 * (built at run time with ConstantOfShape, so the file stays small) that many
 * times. The matrix is filled with 1/512 (a power of two), so every product
 * is exactly the same matrix again (all sums are exact in float32); the loop's result feeds the output as an
 * exact factor of 1, which keeps the loop alive without changing the answer.
 */
function slowModel(): Uint8Array {
  const n = SLOW_MATRIX_SIDE;
  const rand = mulberry32(0x7e57_0004);
  const l1 = denseLayer(rand, 8, 16);
  const l2 = denseLayer(rand, 16, 2);
  const body = graph({
    name: 'slow_body',
    nodes: [
      node('Identity', ['cond_in'], ['cond_out'], 'keep_going'),
      node('MatMul', ['acc_in', 'A'], ['acc_out'], 'work'),
    ],
    inputs: [
      valueInfo('iter', DataType.INT64, []),
      valueInfo('cond_in', DataType.BOOL, []),
      valueInfo('acc_in', DataType.FLOAT, [n, n]),
    ],
    outputs: [valueInfo('cond_out', DataType.BOOL, []), valueInfo('acc_out', DataType.FLOAT, [n, n])],
  });
  return model(
    graph({
      name: 'slow_model',
      nodes: [
        node('ConstantOfShape', ['A_shape'], ['A'], 'make_matrix', [
          { name: 'value', type: AttributeType.TENSOR, t: floatTensor('', [1], new Float32Array([1 / n])) },
        ]),
        node('Loop', ['iterations', 'always', 'A'], ['acc'], 'busy_loop', [
          { name: 'body', type: AttributeType.GRAPH, g: body },
        ]),
        node('ReduceMean', ['acc'], ['acc_mean'], 'acc_mean', [{ name: 'keepdims', type: AttributeType.INT, i: 0 }]),
        node('Mul', ['acc_mean', 'side'], ['gate'], 'gate'),
        node('MatMul', ['x', 'W1'], ['h_mm'], 'fc1'),
        node('Add', ['h_mm', 'b1'], ['h_pre'], 'fc1_bias'),
        node('Relu', ['h_pre'], ['h'], 'relu'),
        node('MatMul', ['h', 'W2'], ['z_mm'], 'fc2'),
        node('Add', ['z_mm', 'b2'], ['z_raw'], 'fc2_bias'),
        node('Mul', ['z_raw', 'gate'], ['z'], 'gated'),
        node('Softmax', ['z'], ['y'], 'softmax', [{ name: 'axis', type: AttributeType.INT, i: -1 }]),
      ],
      initializers: [
        int64Tensor('A_shape', [2], [n, n]),
        boolTensor('always', [], [true]),
        floatTensor('side', [], new Float32Array([n])),
        floatTensor('W1', [8, 16], l1.w),
        floatTensor('b1', [16], l1.b),
        floatTensor('W2', [16, 2], l2.w),
        floatTensor('b2', [2], l2.b),
      ],
      inputs: [valueInfo('x', DataType.FLOAT, ['batch', 8]), valueInfo('iterations', DataType.INT64, [])],
      outputs: [valueInfo('y', DataType.FLOAT, ['batch', 2])],
    }),
    `8 -> 16 (Relu) -> 2 (Softmax) classifier plus a Loop of \`iterations\` ${n}x${n} MatMuls (slowness on demand).`,
  );
}

/**
 * Hand-designed credit-risk scorer for the demo: 8 scaled features -> 4
 * interpretable hidden units (Relu) -> probability of default (Sigmoid).
 * Feature order and scaling: examples/demo/model/features.ts.
 */
function creditRisk(): Uint8Array {
  // Columns: affordability stress, delinquency, thin file / instability, stability (protective).
  // Rows: incomeLog, debtToIncome, age, employment, latePayments, utilization, openAccounts, loanLog.
  // prettier-ignore
  const w1 = new Float32Array([
    -0.8, 0.0,  0.0,  0.6,  // incomeLog
     2.5, 0.0,  0.0,  0.0,  // debtToIncome
     0.0, 0.0, -0.6,  0.3,  // age
     0.0, 0.0, -0.9,  0.5,  // employment
     0.0, 1.2,  0.0,  0.0,  // latePayments
     0.0, 0.8,  0.0,  0.0,  // utilization
     0.0, 0.0, -0.25, 0.1,  // openAccounts
     0.8, 0.0,  0.0,  0.0,  // loanLog
  ]);
  const b1 = new Float32Array([-0.9, -0.5, 0.4, 0.0]);
  const w2 = new Float32Array([1.5, 1.7, 0.9, -0.9]);
  const b2 = new Float32Array([-2.4]);
  return model(
    graph({
      name: 'credit_risk',
      nodes: [
        node('MatMul', ['features', 'W1'], ['h_mm'], 'fc1'),
        node('Add', ['h_mm', 'b1'], ['h_pre'], 'fc1_bias'),
        node('Relu', ['h_pre'], ['h'], 'relu'),
        node('MatMul', ['h', 'W2'], ['z_mm'], 'fc2'),
        node('Add', ['z_mm', 'b2'], ['z'], 'fc2_bias'),
        node('Sigmoid', ['z'], ['risk'], 'sigmoid'),
      ],
      initializers: [
        floatTensor('W1', [8, 4], w1),
        floatTensor('b1', [4], b1),
        floatTensor('W2', [4, 1], w2),
        floatTensor('b2', [1], b2),
      ],
      inputs: [valueInfo('features', DataType.FLOAT, ['batch', 8])],
      outputs: [valueInfo('risk', DataType.FLOAT, ['batch', 1])],
    }),
    'Credit-risk scorer (demo): scaled applicant features -> probability of default. See examples/demo/model/README.md.',
    { hidden_units: 'affordability_stress,delinquency,thin_file,stability' },
  );
}

// ---------------------------------------------------------------- output

/** One generated file: where it goes by default (relative to the repo root) and its bytes. */
export interface Fixture {
  readonly path: string;
  readonly bytes: Uint8Array;
}

/** Builds every fixture in memory. */
export function buildFixtures(): Fixture[] {
  return [
    { path: 'test/fixtures/models/tiny-mlp.onnx', bytes: tinyMlp() },
    { path: 'test/fixtures/models/mid-mlp.onnx', bytes: midMlp() },
    { path: 'test/fixtures/models/nan-model.onnx', bytes: nanModel() },
    { path: 'test/fixtures/models/slow-model.onnx', bytes: slowModel() },
    { path: 'test/fixtures/models/fixed-batch.onnx', bytes: fixedBatch() },
    { path: 'examples/demo/model/credit-risk.onnx', bytes: creditRisk() },
  ];
}

function main(): void {
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const outDir = process.argv[2] ?? process.env.FIXTURES_OUT_DIR;
  for (const f of buildFixtures()) {
    const target = outDir ? join(resolve(outDir), f.path.slice(f.path.lastIndexOf('/') + 1)) : join(repoRoot, f.path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, f.bytes);
    console.log(`${target} (${f.bytes.length} bytes)`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
