/**
 * A runtime-agnostic ONNX session over plain {@link TensorData}: written
 * against a minimal structural type of onnxruntime's API, so the same code
 * drives onnxruntime-node, onnxruntime-web, or a test double.
 */
import { ClosedError, ModelInputError, ModelLoadError } from '../errors.js';
import { settleWith, type AnswerSink } from './run-into.js';
import { isTensorType, type TensorData, type TensorType } from './tensor.js';

/** The part of an onnxruntime `Tensor` used here. */
export interface OrtTensorLike {
  readonly type: string;
  readonly data: unknown;
  readonly dims: readonly number[];
  /** Where the data lives (`cpu`, `gpu-buffer`...); only onnxruntime-web has non-CPU outputs. */
  readonly location?: string;
  /** Downloads non-CPU data (onnxruntime-web). */
  getData?(releaseData?: boolean): Promise<unknown>;
}

/** The part of onnxruntime's `InferenceSession.ValueMetadata` used here. */
export interface OrtValueMetadataLike {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape?: ReadonlyArray<number | string>;
}

/** The part of an onnxruntime `InferenceSession` used here. */
export interface OrtSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Absent before onnxruntime 1.22; then only input names are checked. */
  readonly inputMetadata?: readonly OrtValueMetadataLike[];
  readonly outputMetadata?: readonly OrtValueMetadataLike[];
  run(feeds: Record<string, OrtTensorLike>): Promise<Record<string, OrtTensorLike>>;
  release(): Promise<void>;
}

/**
 * The part of an onnxruntime module (`onnxruntime-node`, `onnxruntime-web`)
 * used here: pass the module namespace itself.
 */
export interface OrtLike {
  readonly InferenceSession: {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each runtime has its own SessionOptions type
    create(path: string, options?: any): Promise<OrtSessionLike>;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    create(bytes: Uint8Array, options?: any): Promise<OrtSessionLike>;
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the runtime's constructor is heavily overloaded
  readonly Tensor: new (type: any, data: any, dims?: readonly number[]) => OrtTensorLike;
}

/** What a model is loaded from: a file path the runtime reads itself, or the bytes. */
export type ModelBytesOrPath = { readonly path: string } | { readonly bytes: Uint8Array };

/**
 * An input or output of a model. `shape` holds numbers for fixed dims and
 * strings for symbolic ones (e.g. `['batch', 8]`); it is `[]` for scalars and
 * for values whose shape the model does not declare.
 */
export interface TensorMetadata {
  readonly name: string;
  /** Element type, or `unknown` for non-tensor values and types this library does not model. */
  readonly type: TensorType | 'unknown';
  readonly shape: readonly (number | string)[];
}

/** An ONNX session speaking {@link TensorData}. */
export interface TensorSession {
  readonly inputMetadata: readonly TensorMetadata[];
  readonly outputMetadata: readonly TensorMetadata[];
  /**
   * Checks the feeds against the inputs (see {@link createFeedChecker}),
   * runs, and returns every output as plain data (the runtime's arrays, not copies).
   *
   * @throws {ModelInputError} When the feeds do not match the model's inputs.
   */
  run(feeds: Readonly<Record<string, TensorData>>): Promise<Record<string, TensorData>>;
  /** Releases the native session (after the runs in flight). Idempotent. */
  release(): Promise<void>;
}

/** A session on this thread (what {@link createTensorSession} makes), with its hot-path variants of `run`. */
export interface InlineTensorSession extends TensorSession {
  /** {@link TensorSession.run} with `map` applied to the outputs in the same step: one promise per call fewer. */
  runMapped<T>(feeds: Readonly<Record<string, TensorData>>, map: (outputs: Record<string, TensorData>) => T): Promise<Awaited<T>>;
  /** {@link runMapped} settling `sink` instead of returning a promise (see `run-into.ts`). */
  runInto<T>(feeds: Readonly<Record<string, TensorData>>, map: (outputs: Record<string, TensorData>) => T, sink: AnswerSink<Awaited<T>>): void;
}

function normalizeMetadata(
  names: readonly string[],
  metadata: readonly OrtValueMetadataLike[] | undefined,
): TensorMetadata[] {
  if (!metadata) return names.map((name) => ({ name, type: 'unknown', shape: [] }));
  return metadata.map((m) => ({
    name: m.name,
    type: m.isTensor && isTensorType(m.type) ? m.type : 'unknown',
    shape: m.isTensor && m.shape ? [...m.shape] : [],
  }));
}

function formatShape(shape: readonly (number | string)[]): string {
  return `[${shape.join(', ')}]`;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object without type/dims' : typeof v;
}

/**
 * Compiles a check of feeds against a model's inputs: every input present and
 * no other name, element types equal, ranks equal, fixed dims equal, and a
 * symbolic dim used by several inputs (e.g. `batch`) equal across them.
 * Inputs declared with shape `[]` (scalars, or shape unknown) skip the rank check.
 * The work per call is a handful of comparisons per input.
 *
 * @returns A function that throws {@link ModelInputError} naming the input, the
 *   expected and the actual value on the first mismatch.
 */
export function createFeedChecker(inputs: readonly TensorMetadata[]): (feeds: Readonly<Record<string, TensorData>>) => void {
  const expected = inputs.map((m) => {
    const fixed: number[] = [];
    m.shape.forEach((d, i) => {
      if (typeof d === 'number' && d >= 0) fixed.push(i, d);
    });
    return {
      name: m.name,
      type: m.type === 'unknown' ? undefined : m.type,
      rank: m.shape.length === 0 ? -1 : m.shape.length,
      fixed,
      shape: m.shape,
    };
  });
  const names = inputs.map((m) => m.name);
  const inputList = names.map((n) => `'${n}'`).join(', ');

  // Symbolic dims shared by several inputs: [symbol, inputIndex, dimIndex, inputIndex, dimIndex, ...].
  const bySymbol = new Map<string, number[]>();
  inputs.forEach((m, i) =>
    m.shape.forEach((d, k) => {
      if (typeof d === 'string' && d !== '') {
        const at = bySymbol.get(d) ?? [];
        at.push(i, k);
        bySymbol.set(d, at);
      }
    }),
  );
  const shared = [...bySymbol].filter(([, at]) => at.length > 2);

  return (feeds) => {
    if (typeof feeds !== 'object' || feeds === null) {
      throw new ModelInputError(`Feeds must be an object of tensors keyed by input name (${inputList}), got ${describeValue(feeds)}`);
    }
    for (let i = 0; i < expected.length; i++) {
      const e = expected[i]!;
      const t = feeds[e.name];
      if (t === undefined) {
        throw new ModelInputError(`Missing input '${e.name}' (model inputs: ${inputList})`);
      }
      if (typeof t !== 'object' || t === null || typeof t.type !== 'string' || !Array.isArray(t.dims)) {
        throw new ModelInputError(`Input '${e.name}' must be a tensor ({ type, data, dims }), got ${describeValue(t)}`);
      }
      if (e.type !== undefined && t.type !== e.type) {
        throw new ModelInputError(`Input '${e.name}' must be ${e.type}, got ${t.type}`);
      }
      const dims = t.dims;
      if (e.rank >= 0 && dims.length !== e.rank) {
        throw new ModelInputError(
          `Input '${e.name}' must have rank ${e.rank} (shape ${formatShape(e.shape)}), got rank ${dims.length} (dims ${formatShape(dims)})`,
        );
      }
      const fixed = e.fixed;
      for (let k = 0; k < fixed.length; k += 2) {
        if (dims[fixed[k]!] !== fixed[k + 1]) {
          throw new ModelInputError(
            `Input '${e.name}' must have shape ${formatShape(e.shape)}: dim ${fixed[k]} must be ${fixed[k + 1]}, got dims ${formatShape(dims)}`,
          );
        }
      }
    }
    let count = 0;
    for (const key in feeds) if (feeds[key] !== undefined) count++;
    if (count !== expected.length) {
      const extra = Object.keys(feeds).filter((k) => feeds[k] !== undefined && !names.includes(k));
      throw new ModelInputError(
        `Unknown input${extra.length > 1 ? 's' : ''} ${extra.map((n) => `'${n}'`).join(', ')} (model inputs: ${inputList})`,
      );
    }
    for (let s = 0; s < shared.length; s++) {
      const [symbol, at] = shared[s]!;
      const first = feeds[names[at[0]!]!]!.dims[at[1]!];
      for (let k = 2; k < at.length; k += 2) {
        const v = feeds[names[at[k]!]!]!.dims[at[k + 1]!];
        if (v !== first) {
          throw new ModelInputError(
            `Inputs '${names[at[0]!]}' and '${names[at[k]!]}' share dim '${symbol}' but have ${first} and ${v}`,
          );
        }
      }
    }
  };
}

function isOnCpu(t: OrtTensorLike): boolean {
  return t.location === undefined || t.location === 'cpu' || t.location === 'cpu-pinned';
}

/**
 * Creates a {@link TensorSession} from an onnxruntime module.
 *
 * @param ort - The onnxruntime module (`onnxruntime-node` or `onnxruntime-web`).
 * @param source - A path (read by the runtime, so external-data files next to it work) or the model's bytes.
 * @param sessionOptions - Passed to `InferenceSession.create` as is.
 * @throws {ModelLoadError} When the runtime cannot create the session (missing file, invalid model...).
 */
export async function createTensorSession(
  ort: OrtLike,
  source: ModelBytesOrPath,
  sessionOptions?: Readonly<Record<string, unknown>>,
): Promise<InlineTensorSession> {
  let session: OrtSessionLike;
  try {
    session =
      'path' in source
        ? await ort.InferenceSession.create(source.path, sessionOptions)
        : await ort.InferenceSession.create(source.bytes, sessionOptions);
  } catch (error) {
    const what = 'path' in source ? `'${source.path}'` : `${source.bytes.byteLength} bytes`;
    throw new ModelLoadError(
      `Could not create an ONNX session from ${what}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  const inputMetadata = normalizeMetadata(session.inputNames, session.inputMetadata);
  const outputMetadata = normalizeMetadata(session.outputNames, session.outputMetadata);
  const check = createFeedChecker(inputMetadata);
  const inputNames = inputMetadata.map((m) => m.name);
  const Tensor = ort.Tensor;
  let released: Promise<void> | undefined;
  // Runs in flight: the native session is released only after them.
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const settle = (): void => {
    if (--inFlight === 0 && drained !== undefined) drained();
  };

  function toOrt(feeds: Readonly<Record<string, TensorData>>): Record<string, OrtTensorLike> {
    check(feeds);
    const ortFeeds: Record<string, OrtTensorLike> = {};
    for (let i = 0; i < inputNames.length; i++) {
      const name = inputNames[i]!;
      const t = feeds[name]!;
      try {
        ortFeeds[name] = new Tensor(t.type, t.data, t.dims);
      } catch (error) {
        // The runtime validates data against type and dims (plain objects can bypass `tensor()`).
        throw new ModelInputError(`Input '${name}': ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return ortFeeds;
  }

  /** Plain data for every output; a promise only when some output lives off the CPU. */
  function toData(out: Record<string, OrtTensorLike>): Record<string, TensorData> | Promise<Record<string, TensorData>> {
    const result: Record<string, TensorData> = {};
    let offCpu: string[] | undefined;
    for (const name in out) {
      const t = out[name]!;
      if (isOnCpu(t)) result[name] = { type: t.type, data: t.data, dims: t.dims } as TensorData;
      else (offCpu ??= []).push(name);
    }
    if (offCpu === undefined) return result;
    return Promise.all(
      offCpu.map(async (name) => {
        const t = out[name]!;
        result[name] = { type: t.type, data: await t.getData!(true), dims: t.dims } as TensorData;
      }),
    ).then(() => result);
  }

  function mapInto<T>(data: Record<string, TensorData>, map: (outputs: Record<string, TensorData>) => T, sink: AnswerSink<Awaited<T>>): void {
    let value: T;
    try {
      value = map(data);
    } catch (error) {
      return sink.failed(error);
    }
    settleWith(sink, value as Awaited<T> | PromiseLike<Awaited<T>>);
  }

  // Callbacks rather than an async function: this runs once per inline call.
  function runInto<T>(
    feeds: Readonly<Record<string, TensorData>>,
    map: (outputs: Record<string, TensorData>) => T,
    sink: AnswerSink<Awaited<T>>,
  ): void {
    if (released !== undefined) return sink.failed(new ClosedError('The ONNX session is released'));
    let running: Promise<Record<string, OrtTensorLike>>;
    try {
      running = session.run(toOrt(feeds));
    } catch (error) {
      return sink.failed(error);
    }
    inFlight++;
    running.then(
      (out) => {
        settle();
        const data = toData(out);
        if (data instanceof Promise) {
          data.then(
            (d) => mapInto(d, map, sink),
            (e: unknown) => sink.failed(e),
          );
          return;
        }
        mapInto(data, map, sink);
      },
      (error: unknown) => {
        settle();
        sink.failed(error);
      },
    );
  }

  function runMapped<T>(feeds: Readonly<Record<string, TensorData>>, map: (outputs: Record<string, TensorData>) => T): Promise<Awaited<T>> {
    return new Promise<Awaited<T>>((resolve, reject) => runInto(feeds, map, { answered: resolve, failed: reject }));
  }

  const identity = (outputs: Record<string, TensorData>): Record<string, TensorData> => outputs;

  return {
    inputMetadata,
    outputMetadata,
    run: (feeds) => runMapped(feeds, identity),
    runMapped,
    runInto,
    release() {
      released ??= (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (drained = resolve))).then(() => session.release());
      return released;
    },
  };
}
