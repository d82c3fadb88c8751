/**
 * Plain-object tensors. User code (encode/decode functions) builds and reads
 * these instead of onnxruntime's `Tensor`, so the same code runs inline, in a
 * worker (they survive `postMessage` structured cloning) and in the browser.
 */
import { ModelInputError } from '../errors.js';

/** Element type of a tensor, spelled as onnxruntime spells it. */
export type TensorType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool'
  | 'string';

/** The array that holds each element type (`float16` as raw IEEE half bits, `bool` as 0/1 bytes). */
export interface TensorDataMap {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
  string: string[];
}

/** Any typed array a tensor can hold. */
export type TypedArray = Exclude<TensorDataMap[TensorType], string[]>;

/** A tensor as plain data: element type, row-major elements and dimensions. */
export interface TensorData<T extends TensorType = TensorType> {
  /** Element type. */
  readonly type: T;
  /** Row-major elements. */
  readonly data: TensorDataMap[T];
  /** Dimensions; `[]` for a scalar. */
  readonly dims: readonly number[];
}

/** Plain values accepted by {@link tensor} in place of the typed array. */
export type TensorValues<T extends TensorType> = T extends 'string'
  ? readonly string[]
  : T extends 'int64' | 'uint64'
    ? readonly (number | bigint)[]
    : T extends 'bool'
      ? readonly (boolean | number)[]
      : readonly number[];

interface TypeInfo {
  /** `Symbol.toStringTag` of the typed array: compared instead of `instanceof` so arrays from other realms pass. */
  readonly tag: string;
  readonly fromValues: (values: readonly unknown[], type: string) => TensorDataMap[TensorType];
}

function intRange(min: number, max: number, make: (n: number) => Exclude<TypedArray, BigInt64Array | BigUint64Array>) {
  return (values: readonly unknown[], type: string) => {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
        throw new ModelInputError(`tensor(${type}): element ${i} (${String(v)}) is not an integer in [${min}, ${max}]`);
      }
    }
    const out = make(values.length);
    out.set(values as number[]);
    return out;
  };
}

function floats(make: (values: readonly number[]) => TypedArray) {
  return (values: readonly unknown[], type: string) => {
    for (let i = 0; i < values.length; i++) {
      if (typeof values[i] !== 'number') {
        throw new ModelInputError(`tensor(${type}): element ${i} (${String(values[i])}) is not a number`);
      }
    }
    return make(values as number[]);
  };
}

function bigints(signed: boolean) {
  const min = signed ? -(2n ** 63n) : 0n;
  const max = signed ? 2n ** 63n - 1n : 2n ** 64n - 1n;
  return (values: readonly unknown[], type: string) => {
    const out = signed ? new BigInt64Array(values.length) : new BigUint64Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      const big = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : undefined;
      if (big === undefined || big < min || big > max) {
        throw new ModelInputError(`tensor(${type}): element ${i} (${String(v)}) is not a ${type} integer`);
      }
      out[i] = big;
    }
    return out;
  };
}

const TYPES: Readonly<Record<TensorType, TypeInfo>> = {
  float32: { tag: 'Float32Array', fromValues: floats((v) => Float32Array.from(v)) },
  float64: { tag: 'Float64Array', fromValues: floats((v) => Float64Array.from(v)) },
  float16: { tag: 'Uint16Array', fromValues: intRange(0, 0xffff, (n) => new Uint16Array(n)) },
  int8: { tag: 'Int8Array', fromValues: intRange(-128, 127, (n) => new Int8Array(n)) },
  uint8: { tag: 'Uint8Array', fromValues: intRange(0, 255, (n) => new Uint8Array(n)) },
  int16: { tag: 'Int16Array', fromValues: intRange(-32768, 32767, (n) => new Int16Array(n)) },
  uint16: { tag: 'Uint16Array', fromValues: intRange(0, 0xffff, (n) => new Uint16Array(n)) },
  int32: { tag: 'Int32Array', fromValues: intRange(-(2 ** 31), 2 ** 31 - 1, (n) => new Int32Array(n)) },
  uint32: { tag: 'Uint32Array', fromValues: intRange(0, 2 ** 32 - 1, (n) => new Uint32Array(n)) },
  int64: { tag: 'BigInt64Array', fromValues: bigints(true) },
  uint64: { tag: 'BigUint64Array', fromValues: bigints(false) },
  bool: {
    tag: 'Uint8Array',
    fromValues(values, type) {
      const out = new Uint8Array(values.length);
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (v === true || v === 1) out[i] = 1;
        else if (v !== false && v !== 0) {
          throw new ModelInputError(`tensor(${type}): element ${i} (${String(v)}) is not a boolean or 0/1`);
        }
      }
      return out;
    },
  },
  string: {
    tag: 'Array',
    fromValues(values, type) {
      for (let i = 0; i < values.length; i++) {
        if (typeof values[i] !== 'string') {
          throw new ModelInputError(`tensor(${type}): element ${i} (${String(values[i])}) is not a string`);
        }
      }
      return values as string[];
    },
  },
};

/** True when `type` is a {@link TensorType}. */
export function isTensorType(type: unknown): type is TensorType {
  return typeof type === 'string' && Object.prototype.hasOwnProperty.call(TYPES, type);
}

/** Number of elements of a tensor of these dims, or -1 when a dim is not a non-negative integer. */
export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (let i = 0; i < dims.length; i++) {
    const d = dims[i]!;
    if (!Number.isInteger(d) || d < 0) return -1;
    n *= d;
  }
  return n;
}

function typedArrayName(data: unknown): string {
  if (Array.isArray(data)) return 'Array';
  if (ArrayBuffer.isView(data)) return (data as unknown as { [Symbol.toStringTag]: string })[Symbol.toStringTag] ?? 'DataView';
  return data === null ? 'null' : typeof data;
}

/**
 * Builds a {@link TensorData}, checking that the data fits the type and dims.
 * Typed arrays are used as they are (no copy); plain arrays are converted
 * (numbers to `BigInt` for 64-bit integers, booleans to 0/1 for `bool`).
 *
 * @param type - Element type.
 * @param data - The elements, row-major: the matching typed array, or plain values.
 * @param dims - Dimensions; defaults to `[data.length]`. Use `[]` for a scalar.
 * @throws {ModelInputError} When the type is unknown, the array does not match the type,
 *   a value does not fit the type, a dim is not a non-negative integer, or the element
 *   count differs from the product of the dims.
 *
 * @example
 * ```ts
 * tensor('float32', new Float32Array([1, 2, 3, 4]), [2, 2]);
 * tensor('int64', [42], []); // scalar, converted to BigInt64Array
 * ```
 */
export function tensor<T extends TensorType>(
  type: T,
  data: TensorDataMap[T] | TensorValues<T>,
  dims?: readonly number[],
): TensorData<T> {
  const info = TYPES[type] as TypeInfo | undefined;
  if (info === undefined || !Object.prototype.hasOwnProperty.call(TYPES, type)) {
    throw new ModelInputError(`tensor(): unknown element type ${JSON.stringify(type)}`);
  }
  let array: TensorDataMap[TensorType];
  if (Array.isArray(data)) {
    array = info.fromValues(data, type);
  } else if (ArrayBuffer.isView(data) && (data as unknown as Record<symbol, unknown>)[Symbol.toStringTag] === info.tag) {
    array = data as TensorDataMap[TensorType];
  } else {
    throw new ModelInputError(
      `tensor(${type}): data must be a ${info.tag}${type === 'string' ? ' of strings' : ' or an array of values'}, got ${typedArrayName(data)}`,
    );
  }
  if (dims !== undefined && !Array.isArray(dims)) {
    throw new ModelInputError(`tensor(${type}): dims must be an array of numbers, got ${typedArrayName(dims)}`);
  }
  // Copied so a caller reusing its dims array cannot change a tensor already handed over.
  const shape = dims === undefined ? [array.length] : dims.slice();
  const count = elementCount(shape);
  if (count < 0) {
    throw new ModelInputError(`tensor(${type}): dims [${shape.join(', ')}] must be non-negative integers`);
  }
  if (count !== array.length) {
    throw new ModelInputError(
      `tensor(${type}): data has ${array.length} elements but dims [${shape.join(', ')}] need ${count}`,
    );
  }
  return { type, data: array as TensorDataMap[T], dims: shape };
}
