/**
 * Property-based tests: random inputs and random rule sets never throw
 * anything but the documented errors (RulesError at load or for a bad
 * computed answer, NoRuleMatchedError), never touch Object.prototype, and
 * every evaluation stays bounded.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isNoRuleMatchedError, isRulesError } from '../../src/errors.js';
import { LOGIC_OPERATORS, validateLogic, type JsonValue } from '../../src/fallback/json-logic.js';
import { compileLogic } from '../../src/fallback/json-logic-eval.js';
import { rules, rulesModel, type RulesHandler } from '../../src/fallback/rules.js';
import type { Failure, RunContext } from '../../src/types.js';
import creditPolicy from '../../examples/legacy-rules/credit-policy.rules.json';
import { sync } from '../helpers/rules.js';

const DANGEROUS_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty'];
const KEYS = ['a', 'b', 'c', 'list', 'age', 'annualIncome', 'debtToIncome', 'latePayments', ...DANGEROUS_KEYS];

/** Builds an object with own properties even for `__proto__` (like JSON.parse does). */
function own(entries: [string, unknown][]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

const { data } = fc.letrec((tie) => ({
  data: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -1e6, max: 1e6 }),
    fc.double(),
    fc.string({ maxLength: 8 }),
    fc.constantFrom('', '0', 'abc', '1e3', '__proto__'),
    fc.array(tie('data'), { maxLength: 4 }),
    fc.array(fc.tuple(fc.constantFrom(...KEYS), tie('data')), { maxLength: 4 }).map(own),
  ),
}));

const PATHS = [
  '', 'input', 'input.a', 'input.b.c', 'input.list', 'input.list.0', 'context.a', 'failure.reason', 'failure.error.message',
  '../input.a', 'accumulator', 'current', 'input.annualIncome', 'input.age',
  'input.__proto__', 'input.constructor.prototype', 'input.toString', 'a\\.b',
];

const { logic } = fc.letrec((tie) => ({
  logic: fc.oneof(
    { depthSize: 'small', maxDepth: 6 },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -100, max: 100 }),
    fc.double(),
    fc.string({ maxLength: 6 }),
    fc.constantFrom(...PATHS).map((p) => ({ var: p })),
    tie('op'),
    tie('op'),
    fc.array(tie('logic'), { maxLength: 3 }),
  ),
  op: fc
    .tuple(
      fc.constantFrom(...LOGIC_OPERATORS, ...LOGIC_OPERATORS, 'gte', 'method', 'eachKey', '__proto__', 'constructor'),
      fc.oneof(tie('logic'), fc.array(tie('logic'), { maxLength: 4 })),
    )
    .map(([k, v]) => own([[k, v]])),
}));

const ruleArb = fc.record({ id: fc.string({ minLength: 1, maxLength: 4 }), when: logic, then: fc.oneof(logic, fc.dictionary(fc.constantFrom('x', 'y', 'score'), logic, { maxKeys: 3 })) });
const ruleSetArb = fc.record(
  { name: fc.constantFrom('r', 'rules'), rules: fc.array(ruleArb, { maxLength: 5 }), default: logic },
  { requiredKeys: ['name', 'rules'] },
);

const failureArb: fc.Arbitrary<Failure> = fc.record({
  reason: fc.constantFrom('timeout', 'circuit-open', 'model-error', 'invalid-output', 'rejected-output', 'overloaded'),
  error: fc.oneof(fc.constant(new Error('boom')), data),
  version: fc.constantFrom('v1', 'v2'),
  attempts: fc.nat(3),
  context: fc.oneof(fc.constant(undefined), fc.array(fc.tuple(fc.constantFrom(...KEYS), data), { maxLength: 3 }).map(own)),
});

const documented = (e: unknown) => isRulesError(e) || isNoRuleMatchedError(e);

let prototypeNames: string[];
beforeAll(() => {
  prototypeNames = Object.getOwnPropertyNames(Object.prototype).sort();
});
afterAll(() => {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeNames);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});

/** Runs `f`; true when it returned or threw a documented error. */
function onlyDocumented(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch (e) {
    if (documented(e)) return true;
    throw e;
  }
}

describe('random rule sets and random inputs', () => {
  it('loading either succeeds or throws a RulesError with issues', () => {
    fc.assert(
      fc.property(ruleSetArb, (def) => {
        try {
          rules(def as never);
        } catch (e) {
          expect(isRulesError(e)).toBe(true);
          expect((e as { issues: unknown[] }).issues.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('loaded rule sets answer or throw only documented errors, with a known rule id', () => {
    let loaded = 0;
    fc.assert(
      fc.property(ruleSetArb, fc.array(fc.tuple(data, failureArb), { minLength: 1, maxLength: 5 }), (def, calls) => {
        let handler: RulesHandler<unknown, unknown>;
        try {
          handler = rules(def as never);
        } catch (e) {
          expect(isRulesError(e)).toBe(true);
          return;
        }
        loaded++;
        const ids = new Set([...handler.definition.rules.map((r) => r.id), 'default']);
        for (const [input, failure] of calls) {
          expect(
            onlyDocumented(() => {
              const answer = sync(handler.explain(input, failure));
              expect(ids.has(answer.ruleId!)).toBe(true);
            }),
          ).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
    // The generator must produce valid rule sets often enough for the property to mean something.
    expect(loaded).toBeGreaterThan(40);
  });

  it('valid rule sets built only from known operators never fail to load', () => {
    const known = fc.letrec((tie) => ({
      expr: fc.oneof(
        { depthSize: 'small', maxDepth: 5 },
        fc.integer({ min: -50, max: 50 }),
        fc.constantFrom('a', 'b', true, false, null),
        fc.constantFrom(...PATHS.filter((p) => !/__proto__|constructor|prototype/.test(p))).map((p) => ({ var: p })),
        fc.tuple(fc.constantFrom('and', 'or', '+', '*', 'max', 'min', 'cat', 'merge'), fc.array(tie('expr'), { minLength: 1, maxLength: 3 })).map(([k, v]) => ({ [k]: v })),
        fc.tuple(fc.constantFrom('==', '!=', '>', '<', '>=', '<=', 'in'), tie('expr'), tie('expr')).map(([k, a, b]) => ({ [k]: [a, b] })),
        fc.tuple(fc.constantFrom('map', 'filter', 'some', 'all', 'none'), tie('expr'), tie('expr')).map(([k, a, b]) => ({ [k]: [a, b] })),
        fc.tuple(tie('expr'), tie('expr'), tie('expr')).map((args) => ({ if: args })),
        tie('expr').map((e) => ({ '!': [e] })),
      ),
    })).expr as fc.Arbitrary<JsonValue>;
    fc.assert(
      fc.property(fc.array(fc.tuple(known, known), { maxLength: 6 }), known, data, (pairs, dflt, input) => {
        const h = rules({ name: 'known', rules: pairs.map(([when, then], i) => ({ id: `r${i}`, when, then: { v: then } })), default: { v: dflt } });
        expect(onlyDocumented(() => h.explain(input, { reason: 'timeout', error: null, version: 'v', attempts: 1, context: undefined }))).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('compileLogic and its evaluations only throw RulesError', () => {
    fc.assert(
      fc.property(logic, fc.array(data, { minLength: 1, maxLength: 4 }), (expr, inputs) => {
        if (validateLogic(expr).length) {
          expect(() => compileLogic(expr)).toThrow();
          expect(onlyDocumented(() => compileLogic(expr))).toBe(true);
          return;
        }
        const f = compileLogic(expr);
        for (const input of inputs) {
          expect(onlyDocumented(() => f({ input, context: input, failure: { reason: 'timeout' } }))).toBe(true);
        }
      }),
      { numRuns: 600 },
    );
  });

  it('the credit policy answers any input or throws only documented errors', async () => {
    const Decision = z.object({ risk: z.number().min(0).max(1), decision: z.enum(['approve', 'review', 'decline']) });
    const policy = rules(creditPolicy, { output: Decision });
    const model = rulesModel(creditPolicy, { output: Decision });
    const ctx = { deadline: 0, context: undefined } as unknown as RunContext;
    const applicant = fc.oneof(
      data,
      fc.record({
        annualIncome: data, debtToIncome: data, age: data, monthsEmployed: data,
        latePayments: data, creditUtilization: data, openAccounts: data, loanAmount: data,
      }, { requiredKeys: [] }),
    );
    fc.assert(
      fc.property(applicant, failureArb, (input, failure) => {
        expect(onlyDocumented(() => policy.explain(input, failure))).toBe(true);
      }),
      { numRuns: 1000 },
    );
    await fc.assert(
      fc.asyncProperty(applicant, async (input) => {
        await model.run(input, ctx).catch((e: unknown) => {
          if (!documented(e)) throw e;
        });
      }),
      { numRuns: 200 },
    );
  });

  it('hostile inputs (throwing getters, proxies, huge arrays) only cause documented errors', () => {
    const h = rules({
      name: 'hostile',
      rules: [
        { id: 'a', when: { '>': [{ var: 'input.a' }, 1] }, then: { v: { var: 'input.b' } } },
        { id: 'b', when: { some: [{ var: 'input.list' }, { '==': [{ var: '' }, 1] }] }, then: { v: { cat: [{ var: 'input.s' }, '!'] } } },
      ],
    });
    const failure: Failure = { reason: 'timeout', error: null, version: 'v', attempts: 1, context: undefined };
    const throwing = Object.defineProperty({}, 'a', { enumerable: true, get: () => { throw new Error('getter'); } });
    const proxy = new Proxy({}, { has: () => { throw new Error('trap'); }, getOwnPropertyDescriptor: () => { throw new Error('trap'); } });
    const inputs = [throwing, proxy, { list: Array(50_000).fill(0) }, { a: 2, b: proxy }, { list: [1], s: { toString: () => 'x' } }, Object.create(null)];
    for (const input of inputs) expect(onlyDocumented(() => h.explain(input, failure))).toBe(true);
  });
});
