import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isRulesError, RulesError } from '../../src/errors.js';
import {
  DEFAULT_LOGIC_LIMITS,
  LOGIC_OPERATORS,
  analyzeLogic,
  createMeter,
  freezeJson,
  isTruthy,
  validateJsonValue,
  validateLogic,
} from '../../src/fallback/json-logic.js';
import { compileLogic, evaluateLogic } from '../../src/fallback/json-logic-eval.js';

const run = (expr: unknown, data: unknown = {}) => evaluateLogic(expr, data);

const data = {
  input: { income: 50000, age: 30, name: 'Ada', tags: ['a', 'b'], nested: { x: 1, empty: '' }, scores: [3, 1, 2] },
  context: { tenant: 'eu' },
  failure: { reason: 'timeout', attempts: 2 },
};

describe('JsonLogic operators', () => {
  it.each([
    [{ var: 'input.income' }, 50000],
    [{ var: ['input.missing', 7] }, 7],
    [{ var: 'input.missing' }, null],
    [{ var: 'input.tags.1' }, 'b'],
    [{ var: 1 }, null],
    [{ '>=': [{ var: 'input.income' }, 40000] }, true],
    [{ '<': [{ var: 'input.age' }, 18] }, false],
    [{ '<=': [18, { var: 'input.age' }, 65] }, true],
    [{ '<': [1, 2, 3] }, true],
    [{ '==': [{ var: 'failure.reason' }, 'timeout'] }, true],
    [{ '===': [1, '1'] }, false],
    [{ '!=': [1, 2] }, true],
    [{ '!==': [1, 1] }, false],
    [{ and: [true, { var: 'input.age' }] }, 30],
    [{ or: [false, 0, 'x'] }, 'x'],
    [{ '!': [[]] }, true],
    [{ '!!': [{ var: 'input.tags' }] }, true],
    [{ if: [false, 1, { var: 'context.tenant' }, 2, 3] }, 2],
    [{ '?:': [true, 'a', 'b'] }, 'a'],
    [{ if: [false, 1] }, null],
    [{ if: [{ var: 'input.age' }] }, 30],
    [{ if: [0, 1, [], 2, { preserve: {} }, 3, 'x', 4, 5] }, 4],
    [{ if: true }, true],
    [{ '??': [{ var: 'input.nope' }, 5] }, 5],
    [{ max: [1, 7, 3] }, 7],
    [{ min: [1, 7, 3] }, 1],
    [{ '+': [1, 2, 3] }, 6],
    [{ '+': ['2'] }, 2],
    [{ '*': [2, 3, 4] }, 24],
    [{ '-': [10, 4] }, 6],
    [{ '-': [4] }, -4],
    [{ '/': [9, 3] }, 3],
    [{ '%': [10, 4] }, 2],
    [{ in: ['a', { var: 'input.tags' }] }, true],
    [{ in: ['da', { var: 'input.name' }] }, true],
    [{ in: ['x', { var: 'input' }] }, false],
    [{ cat: ['a', 1, null, true] }, 'a1true'],
    [{ substr: ['hello', 1] }, 'ello'],
    [{ substr: ['hello', -3, 2] }, 'll'],
    [{ substr: ['hello', 0, -1] }, 'hell'],
    [{ merge: [[1], 2, [3, [4]]] }, [1, 2, 3, [4]]],
    [{ missing: ['input.income', 'input.nope', 'input.nested.empty'] }, ['input.nope', 'input.nested.empty']],
    [{ missing: { merge: ['input.age', 'input.zzz'] } }, ['input.zzz']],
    [{ missing_some: [1, ['input.income', 'input.nope']] }, []],
    [{ missing_some: [2, ['input.income', 'input.nope']] }, ['input.nope']],
    [{ map: [{ var: 'input.scores' }, { '*': [{ var: '' }, 2] }] }, [6, 2, 4]],
    [{ filter: [{ var: 'input.scores' }, { '>': [{ var: '' }, 1] }] }, [3, 2]],
    [{ reduce: [{ var: 'input.scores' }, { '+': [{ var: 'accumulator' }, { var: 'current' }] }, 0] }, 6],
    [{ reduce: [{ var: 'input.scores' }, { max: [{ var: 'accumulator' }, { var: 'current' }] }, 0] }, 3],
    [{ all: [{ var: 'input.scores' }, { '>': [{ var: '' }, 0] }] }, true],
    [{ all: [[], true] }, false],
    [{ some: [{ var: 'input.tags' }, { '==': [{ var: '' }, 'b'] }] }, true],
    [{ none: [{ var: 'input.tags' }, { '==': [{ var: '' }, 'z'] }] }, true],
    [{ map: [{ var: 'input.tags' }, { cat: [{ var: '' }, '@', { var: '../context.tenant' }] }] }, ['a@eu', 'b@eu']],
    [{ map: [{ var: 'input.nope' }, 1] }, []],
    [{ preserve: { a: [1, { var: 'x' }] } }, { a: [1, { var: 'x' }] }],
    ['plain', 'plain'],
    [[1, { var: 'input.age' }], [1, 30]],
  ])('%j', (expr, expected) => {
    expect(run(expr, data)).toEqual(expected);
  });

  it('lists the supported operators', () => {
    expect(LOGIC_OPERATORS).toContain('var');
    expect(LOGIC_OPERATORS).toContain('reduce');
    expect(LOGIC_OPERATORS).not.toContain('method');
    expect(LOGIC_OPERATORS).not.toContain('eachKey');
  });

  it('uses JsonLogic truthiness: empty arrays and objects are false', () => {
    expect([[], {}, 0, '', null, undefined, false, Number.NaN].map(isTruthy)).toEqual(Array(8).fill(false));
    expect([[0], { a: 0 }, 1, 'x', true, new Date(0), Object.create(null) as object].map(isTruthy)).toEqual([
      true, true, true, true, true, true, false,
    ]);
  });
});

describe('evaluation errors', () => {
  it('turns everything the engine throws into a RulesError', () => {
    for (const expr of [
      { '<': ['abc', 1] },
      { '/': [1, 0] },
      { '+': [{ var: 'input' }] },
      { cat: [{ var: 'input' }] },
      { substr: [{ var: 'input.tags' }, 1] },
      { max: ['a'] },
    ]) {
      let thrown: unknown;
      try {
        run(expr, data);
      } catch (e) {
        thrown = e;
      }
      expect(isRulesError(thrown), JSON.stringify(expr)).toBe(true);
      expect((thrown as RulesError).message).toMatch(/^JsonLogic evaluation failed: /);
    }
  });

  it('compileLogic throws a RulesError listing every problem', () => {
    expect(() => compileLogic({ and: [{ gte: [1, 2] }, { '<': [1] }] }, { path: ['when'] })).toThrowError(
      'Invalid JsonLogic: when.and[0]: unknown operator "gte"; when.and[1].<: "<" expects 2 to 3 arguments, got 1',
    );
  });
});

describe('validateLogic', () => {
  const at = (expr: unknown) => validateLogic(expr, ['rules', 3, 'when']).map((i) => [i.path.join('/'), i.message]);

  it('reports unknown operators with the JSON path', () => {
    expect(at({ gte: [{ var: 'a' }, 1] })).toEqual([['rules/3/when', 'unknown operator "gte"']]);
    expect(at({ and: [true, { or: [{ eval: 'x' }] }] })).toEqual([['rules/3/when/and/1/or/0', 'unknown operator "eval"']]);
    expect(at({ method: ['abc', 'toUpperCase'] })).toEqual([['rules/3/when', 'unknown operator "method"']]);
  });

  it('reports arity', () => {
    expect(at({ '==': [1] })).toEqual([['rules/3/when/==', '"==" expects 2 arguments, got 1']]);
    expect(at({ if: [] })).toEqual([['rules/3/when/if', '"if" expects at least 1 argument, got 0']]);
    expect(at({ '!': [1, 2] })).toEqual([['rules/3/when/!', '"!" expects 1 argument, got 2']]);
    expect(at({ '!': true })).toEqual([]);
    expect(at({ var: 'a' })).toEqual([]);
  });

  it('reports objects that are not operations', () => {
    expect(at({})).toEqual([['rules/3/when', 'empty object is not an operation (wrap literal objects in {"preserve": ...})']]);
    expect(at({ '==': [1, 1], '!=': [1, 2] })).toEqual([
      ['rules/3/when', 'an operation has exactly one key, the operator; got 2 keys ("==", "!=")'],
    ]);
  });

  it('reports values that are not JSON', () => {
    expect(at({ '==': [() => 1, new Date(0)] })).toEqual([
      ['rules/3/when/==/0', 'expected a JSON value, got function'],
      ['rules/3/when/==/1', 'expected a JSON value, got Date'],
    ]);
    expect(at({ '==': [Number.NaN, undefined] })).toEqual([
      ['rules/3/when/==/0', 'expected a JSON value, got NaN'],
      ['rules/3/when/==/1', 'expected a JSON value, got undefined'],
    ]);
  });

  it('rejects forbidden keys and var paths', () => {
    expect(at({ var: 'input.__proto__.polluted' })).toEqual([['rules/3/when/var', 'path segment "__proto__" is not allowed']]);
    expect(at({ var: ['input.constructor', 1] })).toEqual([['rules/3/when/var/0', 'path segment "constructor" is not allowed']]);
    expect(at({ missing: ['a.prototype'] })).toEqual([['rules/3/when/missing/0', 'path segment "prototype" is not allowed']]);
    expect(at({ missing_some: [1, ['a', '__proto__']] })).toEqual([['rules/3/when/missing_some/1/1', 'path segment "__proto__" is not allowed']]);
    expect(at(JSON.parse('{"preserve": {"__proto__": {"x": 1}}}'))).toEqual([['rules/3/when/preserve/__proto__', 'key "__proto__" is not allowed']]);
    expect(at(JSON.parse('{"__proto__": [1]}'))).toEqual([['rules/3/when', 'unknown operator "__proto__"']]);
  });

  it('bounds depth, size and literals, also for cyclic objects', () => {
    let deep: unknown = true;
    for (let i = 0; i < 40; i++) deep = { '!': [deep] };
    expect(validateLogic(deep)).toHaveLength(1);
    expect(validateLogic(deep)[0]?.message).toBe('nested deeper than 32 levels');

    const cyclic: { and: unknown[] } = { and: [] };
    cyclic.and.push(cyclic);
    expect(validateLogic(cyclic).map((i) => i.message)).toEqual(['nested deeper than 32 levels']);

    const wide = { '+': Array.from({ length: 6000 }, () => 1) };
    expect(validateLogic(wide).map((i) => i.message)).toEqual(['more than 5000 values in one expression']);
    expect(validateLogic({ cat: ['x'.repeat(10_001)] }).map((i) => i.message)).toEqual(['string longer than 10000 characters']);
    expect(validateLogic({ in: [1, Array(10_001).fill(0)] }, [], { maxNodes: 1e6 }).map((i) => i.message)).toEqual([
      'array longer than 10000 items',
    ]);
    expect(validateLogic({ '!': [true] }, [], { maxNodes: 2 }).map((i) => i.message)).toEqual(['more than 2 values in one expression']);
  });

  it('analyzeLogic tells constant expressions apart', () => {
    expect(analyzeLogic({ preserve: { a: 1 } }).constant).toBe(true);
    expect(analyzeLogic([1, 'a']).constant).toBe(true);
    expect(analyzeLogic({ '+': [1, 2] }).constant).toBe(false);
    expect(analyzeLogic({ '+': [1, 2] }).nodes).toBe(4);
  });

  it('validateJsonValue checks plain data', () => {
    expect(validateJsonValue({ a: [1, 'x', null, { b: true }] })).toEqual([]);
    expect(validateJsonValue({ a: new Map() }, ['then']).map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
      'then.a: expected a JSON value, got Map',
    ]);
  });
});

describe('prototype safety', () => {
  afterEach(() => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reads own properties only, and never __proto__, constructor or prototype', () => {
    const hostile = JSON.parse('{"__proto__": {"polluted": 1}, "constructor": {"name": "x"}, "prototype": 1, "ok": 2}') as object;
    const f = compileLogic([
      { var: 'input.ok' },
      { var: 'input.toString' },
      { var: 'input.hasOwnProperty' },
      { var: { cat: ['input.', '__proto__'] } },
      { var: { cat: ['input.', 'constructor', '.name'] } },
      { var: { cat: ['input.', 'prototype'] } },
      { var: { cat: ['input.ok.', 'constructor'] } },
      { missing: { merge: [{ cat: ['input.', '__proto__'] }, 'input.ok'] } },
    ]);
    expect(f({ input: hostile })).toEqual([2, null, null, null, null, null, null, ['input.__proto__']]);
  });

  it('does not read through prototypes of class instances or null-prototype objects', () => {
    class Applicant {
      get secret(): string {
        return 'inherited getter';
      }
    }
    const bare = Object.assign(Object.create(null) as object, { a: 1 });
    const f = compileLogic([{ var: 'input.secret' }, { var: 'bare.a' }, { if: [{ var: 'bare' }, 'yes', 'no'] }]);
    expect(f({ input: new Applicant(), bare })).toEqual([null, 1, 'yes']);
  });

  it('never calls functions found in the data', () => {
    const spy = vi.fn(() => 'called');
    expect(run({ var: 'input.fn' }, { input: { fn: spy } })).toBeNull();
    expect(run({ cat: [{ var: 'input.fn' }] }, { input: { fn: spy } })).toBe('');
    expect(spy).not.toHaveBeenCalled();
  });

  it('cannot write into the data or the expression', () => {
    const input = { list: [1, 2] };
    const expr = { merge: [{ var: 'input.list' }, 3] };
    const f = compileLogic(expr);
    const out = f({ input }) as unknown[];
    out.push(99);
    expect(input.list).toEqual([1, 2]);
    expr.merge[1] = 4;
    expect(f({ input })).toEqual([1, 2, 3]);
  });
});

describe('runtime bounds', () => {
  it('stops exponential string growth', () => {
    const expr = { reduce: [Array.from({ length: 40 }, (_, i) => i), { cat: [{ var: 'accumulator' }, { var: 'accumulator' }] }, 'x'] };
    expect(() => run(expr)).toThrowError('JsonLogic evaluation failed: string longer than 10000 characters');
  });

  it('stops exponential array growth', () => {
    const expr = { reduce: [Array.from({ length: 40 }, (_, i) => i), { merge: [{ var: 'accumulator' }, { var: 'accumulator' }] }, [1]] };
    expect(() => run(expr)).toThrowError('JsonLogic evaluation failed: array longer than 10000 items');
  });

  it('stops nested iteration over large inputs with a step budget, and marks the meter', () => {
    const expr = { map: [{ var: 'a' }, { map: [{ var: '../a' }, { map: [{ var: '../../a' }, 1] }] }] };
    const meter = createMeter();
    const started = performance.now();
    expect(() => compileLogic(expr)({ a: Array.from({ length: 1000 }, (_, i) => i) }, meter)).toThrowError(
      `JsonLogic evaluation failed: evaluation exceeded ${DEFAULT_LOGIC_LIMITS.maxSteps} steps`,
    );
    expect(meter.exhausted).toBe(true);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('refuses to iterate over input arrays above the size limit', () => {
    expect(() => run({ some: [{ var: 'a' }, true] }, { a: Array(10_001).fill(0) })).toThrowError('array longer than 10000 items');
  });

  it('shares one meter across expressions', () => {
    const f = compileLogic({ map: [{ var: 'a' }, 1] }, { limits: { maxSteps: 50 } });
    const meter = createMeter({ maxSteps: 50 });
    const input = { a: Array.from({ length: 10 }, (_, i) => i) };
    f(input, meter);
    f(input, meter);
    expect(meter.exhausted).toBe(false);
    expect(() => {
      for (let i = 0; i < 5; i++) f(input, meter);
    }).toThrow(RulesError);
    expect(meter.exhausted).toBe(true);
    // Without a meter each call gets a fresh budget.
    for (let i = 0; i < 10; i++) f(input);
  });
});

describe('freezeJson', () => {
  it('deep-copies and freezes', () => {
    const src = { a: [{ b: 1 }] };
    const out = freezeJson(src);
    expect(out).toEqual(src);
    expect(out).not.toBe(src);
    expect(Object.isFrozen(out.a[0])).toBe(true);
    expect(Object.isFrozen(src)).toBe(false);
  });
});

describe('no code generation (works under a strict Content-Security-Policy)', () => {
  it('never calls eval or Function while compiling or evaluating', () => {
    const evalSpy = vi.spyOn(globalThis, 'eval');
    const OriginalFunction = globalThis.Function;
    let functionCalls = 0;
    globalThis.Function = new Proxy(OriginalFunction, {
      construct(target, args) {
        functionCalls++;
        return Reflect.construct(target, args) as object;
      },
      apply(target, self, args) {
        functionCalls++;
        return Reflect.apply(target, self, args) as unknown;
      },
    });
    try {
      const f = compileLogic({
        and: [
          { '??': [{ var: 'a' }, 1] },
          { or: [{ in: ['x', { cat: ['x', { var: 'a' }] }] }] },
          { all: [{ map: [[1, 2], { '+': [{ var: '' }, 1] }] }, { '>': [{ var: '' }, 0] }] },
          { reduce: [[1, 2], { '+': [{ var: 'accumulator' }, { var: 'current' }] }, 0] },
        ],
      });
      expect(f({ a: 3 })).toBe(3);
    } finally {
      globalThis.Function = OriginalFunction;
      evalSpy.mockRestore();
    }
    expect(evalSpy).not.toHaveBeenCalled();
    expect(functionCalls).toBe(0);
  });

  it('runs in a Node process that forbids code generation from strings', async () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const script = `
      import { compileLogic } from './src/fallback/json-logic-eval.ts';
      import { rules } from './src/fallback/rules.ts';
      let blocked = false;
      try { eval('1'); } catch { blocked = true; }
      const f = compileLogic({ and: [{ '??': [{ var: 'a' }, 1] }, { some: [[1, 2], { '==': [{ var: '' }, 2] }] }, { '<=': [1, { var: 'a' }, 5] }] });
      const r = rules({ name: 'csp', rules: [{ id: 'r', when: { '>': [{ var: 'input.a' }, 1] }, then: { v: { '*': [{ var: 'input.a' }, 2] } } }] });
      await r.ready();
      console.log(JSON.stringify({ blocked, value: f({ a: 3 }), answer: r.evaluate({ a: 3 }) }));
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--disallow-code-generation-from-strings', '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: root, timeout: 20_000 },
    );
    expect(JSON.parse(stdout.trim())).toEqual({ blocked: true, value: true, answer: { value: { v: 6 }, ruleId: 'r' } });
  });
});
