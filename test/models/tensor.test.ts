import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isGracefulInferenceError } from '../../src/errors.js';

// errors.ts has no isModelInputError guard (yet); the stable code is the contract.
const isModelInputError = (e: unknown) => isGracefulInferenceError(e) && e.code === 'ERR_MODEL_INPUT';
import { elementCount, isTensorType, tensor, type TensorType } from '../../src/models/tensor.js';

function inputError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(isModelInputError(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error('expected a ModelInputError');
}

describe('tensor()', () => {
  it('keeps typed arrays as they are (no copy) and copies dims', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const dims = [2, 3];
    const t = tensor('float32', data, dims);
    expect(t.type).toBe('float32');
    expect(t.data).toBe(data);
    expect(t.dims).toEqual([2, 3]);
    dims[0] = 99;
    expect(t.dims).toEqual([2, 3]);
    expect(Object.getPrototypeOf(t)).toBe(Object.prototype);
  });

  it('defaults dims to [length] and accepts scalars with []', () => {
    expect(tensor('int32', new Int32Array([1, 2, 3])).dims).toEqual([3]);
    const s = tensor('int64', [42], []);
    expect(s.dims).toEqual([]);
    expect(s.data).toEqual(new BigInt64Array([42n]));
    expect(tensor('float32', new Float32Array(0), [0, 8]).data.length).toBe(0);
  });

  it('converts plain arrays to the typed array of each type', () => {
    const cases: [TensorType, unknown[], string][] = [
      ['float32', [1.5, -2], 'Float32Array'],
      ['float64', [1.5, -2], 'Float64Array'],
      ['float16', [0x3c00], 'Uint16Array'],
      ['int8', [-128, 127], 'Int8Array'],
      ['uint8', [0, 255], 'Uint8Array'],
      ['int16', [-32768, 32767], 'Int16Array'],
      ['uint16', [0, 65535], 'Uint16Array'],
      ['int32', [-(2 ** 31), 2 ** 31 - 1], 'Int32Array'],
      ['uint32', [0, 2 ** 32 - 1], 'Uint32Array'],
      ['int64', [-5, 2n ** 62n], 'BigInt64Array'],
      ['uint64', [5, 2n ** 64n - 1n], 'BigUint64Array'],
      ['bool', [true, false, 1, 0], 'Uint8Array'],
    ];
    for (const [type, values, tag] of cases) {
      const t = tensor(type, values as never);
      expect(Object.prototype.toString.call(t.data), type).toBe(`[object ${tag}]`);
      expect(t.data.length).toBe(values.length);
    }
    expect(Array.from(tensor('bool', [true, false, 1, 0]).data)).toEqual([1, 0, 1, 0]);
    expect(Array.from(tensor('int64', [-5, 7n]).data)).toEqual([-5n, 7n]);
    const s = tensor('string', ['a', 'b'], [2, 1]);
    expect(s.data).toEqual(['a', 'b']);
  });

  it('rejects a typed array that does not match the type, naming both', () => {
    expect(inputError(() => tensor('float32', new Float64Array(4) as never, [4]))).toBe(
      'tensor(float32): data must be a Float32Array or an array of values, got Float64Array',
    );
    expect(inputError(() => tensor('int64', new Int32Array(1) as never, []))).toMatch(/BigInt64Array.*got Int32Array/);
    expect(inputError(() => tensor('bool', new Int8Array(1) as never))).toMatch(/Uint8Array.*got Int8Array/);
    expect(inputError(() => tensor('float32', 'abc' as never))).toMatch(/got string/);
    expect(inputError(() => tensor('float32', null as never))).toMatch(/got null/);
  });

  it('rejects element counts that differ from the product of dims', () => {
    expect(inputError(() => tensor('float32', new Float32Array(7), [1, 8]))).toBe(
      'tensor(float32): data has 7 elements but dims [1, 8] need 8',
    );
    expect(inputError(() => tensor('int64', [1, 2], []))).toMatch(/has 2 elements but dims \[\] need 1/);
  });

  it('rejects bad dims', () => {
    expect(inputError(() => tensor('float32', new Float32Array(2), [-1, -2]))).toMatch(/non-negative integers/);
    expect(inputError(() => tensor('float32', new Float32Array(2), [2.5]))).toMatch(/non-negative integers/);
    expect(inputError(() => tensor('float32', new Float32Array(2), 2 as never))).toMatch(/dims must be an array/);
  });

  it('rejects values that do not fit the type', () => {
    expect(inputError(() => tensor('uint8', [256]))).toBe('tensor(uint8): element 0 (256) is not an integer in [0, 255]');
    expect(inputError(() => tensor('int32', [1, 1.5]))).toMatch(/element 1 \(1.5\)/);
    expect(inputError(() => tensor('int64', [2 ** 60]))).toMatch(/not a int64 integer/);
    expect(inputError(() => tensor('uint64', [-1]))).toMatch(/element 0 \(-1\)/);
    expect(inputError(() => tensor('int64', [2n ** 63n]))).toMatch(/element 0/);
    expect(inputError(() => tensor('float32', [1, 'x' as never]))).toMatch(/element 1 \(x\) is not a number/);
    expect(inputError(() => tensor('bool', [2]))).toMatch(/boolean or 0\/1/);
    expect(inputError(() => tensor('string', ['a', 1 as never]))).toMatch(/not a string/);
  });

  it('rejects unknown types', () => {
    const untyped = tensor as (type: string, data: unknown) => unknown;
    expect(inputError(() => untyped('complex64', [1]))).toBe('tensor(): unknown element type "complex64"');
    expect(inputError(() => untyped('toString', [1]))).toMatch(/unknown element type/);
    expect(isTensorType('float32')).toBe(true);
    expect(isTensorType('constructor')).toBe(false);
  });

  it('accepts exactly the element counts equal to the product of dims (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }), fc.integer({ min: 0, max: 700 }), (dims, len) => {
        const expected = elementCount(dims);
        let ok = true;
        try {
          tensor('float32', new Float32Array(len), dims);
        } catch (e) {
          ok = false;
          expect(isModelInputError(e)).toBe(true);
        }
        return ok === (len === expected);
      }),
    );
  });
});
