import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { formatIssues, isRulesError, RulesError } from '../../src/errors.js';
import { rules } from '../../src/fallback/rules.js';
import { DEFAULT_RULES_LIMITS, validateRuleSet, type RuleSetValidationOptions } from '../../src/fallback/rules-schema.js';

/** Loads `source` and returns the formatted issues (`path: message`), or [] when valid. */
function problems(source: unknown, options?: RuleSetValidationOptions): string[] {
  try {
    validateRuleSet(source, options);
    return [];
  } catch (e) {
    expect(isRulesError(e)).toBe(true);
    expect((e as RulesError).code).toBe('ERR_INVALID_RULES');
    return (e as RulesError).issues.map((i) => formatIssues([i]));
  }
}

const ok = { id: 'a', when: true, then: 1 };
const set = (over: Record<string, unknown>) => ({ name: 'set', rules: [ok], ...over });

describe('rule set load errors: every message, by JSON path', () => {
  it('accepts a minimal and a complete rule set', () => {
    expect(problems({ name: 'n', rules: [] })).toEqual([]);
    expect(
      problems({
        $schema: 'https://example.com/rules.schema.json',
        name: 'n',
        version: '1.0',
        description: 'd',
        rules: [{ id: 'a', description: 'x', when: { var: 'input.x' }, then: { a: 1 } }],
        default: null,
      }),
    ).toEqual([]);
  });

  it.each<[string, unknown, string[]]>([
    ['not an object', 42, ['expected a rule set object, got number']],
    ['an array', [], ['expected a rule set object, got array']],
    ['null', null, ['expected a rule set object, got null']],
    ['bad JSON text', '{"name": ', [expect.stringMatching(/^not valid JSON: /) as unknown as string]],
    ['missing name and rules', {}, ['name: required (expected string)', 'rules: required (expected array)']],
    ['empty name', { name: '', rules: [] }, ['name: must not be empty']],
    ['long name', { name: 'x'.repeat(201), rules: [] }, ['name: must be at most 200 characters']],
    ['wrong types', { name: 1, version: 2, description: false, rules: {} }, [
      'name: expected string, received number',
      'version: expected string, received number',
      'description: expected string, received boolean',
      'rules: expected array, received object',
    ]],
    ['unknown top-level field', set({ rule: [] }), ['rule: unknown field (expected name, version, description, rules, default, $schema)']],
    ['a rule that is not an object', set({ rules: [ok, 'x', null] }), ['rules[1]: expected a rule object, got string', 'rules[2]: expected a rule object, got null']],
    ['missing id, when and then', set({ rules: [{}] }), ['rules[0].id: required (expected string)', 'rules[0].when: required', 'rules[0].then: required']],
    ['empty id', set({ rules: [{ ...ok, id: '' }] }), ['rules[0].id: must not be empty']],
    ['reserved id', set({ rules: [{ ...ok, id: 'default' }] }), ['rules[0].id: "default" is reserved for the rule set\'s default answer']],
    ['duplicate ids', set({ rules: [ok, { ...ok, id: 'b' }, ok] }), ['rules[2].id: duplicate id "a" (also rules[0])']],
    ['unknown rule field (typo)', set({ rules: [{ id: 'a', when: true, than: 1 }] }), [
      'rules[0].than: unknown field (expected id, description, when, then)',
      'rules[0].then: required',
    ]],
    ['unknown operator', set({ rules: [ok, ok, ok, { id: 'd', when: { gte: [{ var: 'input.age' }, 18] }, then: 1 }].map((r, i) => ({ ...r, id: `r${i}` })) }), [
      'rules[3].when: unknown operator "gte"',
    ]],
    ['bad arity', set({ rules: [{ ...ok, when: { '==': [1] } }] }), ['rules[0].when.==: "==" expects 2 arguments, got 1']],
    ['object that is not an operation', set({ rules: [{ ...ok, when: { a: 1, b: 2 } }] }), [
      'rules[0].when: an operation has exactly one key, the operator; got 2 keys ("a", "b")',
    ]],
    ['unknown operator in a computed field', set({ rules: [{ ...ok, then: { score: { sum: [1, 2] } } }] }), ['rules[0].then.score: unknown operator "sum"']],
    ['literal object field without preserve', set({ rules: [{ ...ok, then: { meta: {} } }] }), [
      'rules[0].then.meta: empty object is not an operation (wrap literal objects in {"preserve": ...})',
    ]],
    ['non-JSON values', set({ rules: [{ ...ok, then: () => 1 }, { ...ok, id: 'b', then: { at: new Date(0) } }] }), [
      'rules[0].then: expected a JSON value, got function',
      'rules[1].then.at: expected a JSON value, got Date',
    ]],
    ['bad default', set({ default: { s: { nope: 1 } } }), ['default.s: unknown operator "nope"']],
    ['forbidden var path', set({ rules: [{ ...ok, when: { var: 'input.__proto__.x' } }] }), ['rules[0].when.var: path segment "__proto__" is not allowed']],
  ])('%s', (_name, source, expected) => {
    expect(problems(source)).toEqual(expected);
  });

  it('rejects __proto__, constructor and prototype keys anywhere (as JSON.parse creates them)', () => {
    const text = `{
      "prototype": 1,
      "name": "p",
      "rules": [
        { "id": "a", "when": true, "then": { "__proto__": { "polluted": 1 } } },
        { "id": "b", "when": true, "then": { "x": { "preserve": { "constructor": 1 } } } },
        { "id": "c", "when": { "constructor": [] }, "then": [{ "__proto__": 1 }] }
      ]
    }`;
    expect(problems(text)).toEqual([
      'prototype: key "prototype" is not allowed',
      'rules[0].then.__proto__: key "__proto__" is not allowed',
      'rules[1].then.x.preserve.constructor: key "constructor" is not allowed',
      'rules[2].when: unknown operator "constructor"',
      'rules[2].then[0].__proto__: key "__proto__" is not allowed',
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('lists every problem of a file at once, sorted by rule', () => {
    const bad = {
      name: 'many',
      rules: Array.from({ length: 12 }, (_, i) => ({ id: `r${i}`, when: { [`op${i}`]: [] }, then: 1 })),
    };
    let error: RulesError | undefined;
    try {
      rules(bad);
    } catch (e) {
      error = e as RulesError;
    }
    expect(error?.issues.map((i) => i.path[1])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(error?.message).toMatch(/^Invalid rule set "many": rules\[0\]\.when: unknown operator "op0"; rules\[1\]\.when/);
    expect(error?.ruleSet).toBe('many');
  });

  it('shows the first 20 problems in the message and keeps all of them', () => {
    const bad = { name: 'huge', rules: Array.from({ length: 30 }, (_, i) => ({ id: `r${i}`, when: { nope: 1 }, then: 1 })) };
    let error: RulesError | undefined;
    try {
      rules(bad);
    } catch (e) {
      error = e as RulesError;
    }
    expect(error?.issues).toHaveLength(30);
    expect(error?.message).toMatch(/; and 10 more$/);
  });

  describe('output schema', () => {
    const Output = z.object({ score: z.number(), decision: z.enum(['approve', 'review', 'decline']) });

    it('checks constant answers at load, with the path of the bad field', () => {
      expect(
        problems(
          {
            name: 'o',
            rules: [
              { id: 'a', when: true, then: { score: 1, decision: 'approve' } },
              { id: 'b', when: true, then: { score: 'high', decision: 'approve' } },
              { id: 'c', when: true, then: { score: 1, decision: 'maybe' } },
              { id: 'd', when: true, then: 'approve' },
              { id: 'e', when: true, then: { score: { preserve: [1] }, decision: 'review' } },
            ],
            default: { decision: 'decline' },
          },
          { output: Output },
        ),
      ).toEqual([
        'rules[1].then.score: expected number, received string',
        'rules[2].then.decision: Invalid option: expected one of "approve"|"review"|"decline"',
        'rules[3].then: expected object, received string',
        'rules[4].then.score: expected number, received array',
        'default.score: required (expected number)',
      ]);
    });

    it('leaves computed answers to run time', () => {
      expect(problems({ name: 'o', rules: [{ id: 'a', when: true, then: { score: { var: 'input.s' }, decision: 'review' } }] }, { output: Output })).toEqual([]);
    });
  });

  describe('limits', () => {
    it('bounds the number of rules, total size, depth and JSON text length', () => {
      const many = { name: 'n', rules: Array.from({ length: 1001 }, (_, i) => ({ id: `r${i}`, when: true, then: 1 })) };
      expect(problems(many)).toEqual(['rules: more than 1000 rules (1001)']);
      expect(problems(many, { limits: { maxRules: 2000 } })).toEqual([]);

      const big = { name: 'n', rules: Array.from({ length: 30 }, (_, i) => ({ id: `r${i}`, when: { '+': Array(4000).fill(1) }, then: 1 })) };
      expect(problems(big)).toEqual([`more than ${DEFAULT_RULES_LIMITS.maxTotalNodes} values across the rule set (120090)`]);

      let deep: unknown = true;
      for (let i = 0; i < 20; i++) deep = { '!': [deep] };
      expect(problems(set({ rules: [{ ...ok, when: deep }] }))).toEqual([
        expect.stringMatching(/^rules\[0\]\.when(\.!\[0\])+\.!: nested deeper than 32 levels$/) as unknown as string,
      ]);
      expect(problems(JSON.stringify(set({ description: 'x'.repeat(200) })), { limits: { maxSourceLength: 100 } })).toEqual([
        'JSON text longer than 100 characters',
      ]);
    });
  });

  it('returns a frozen copy, untouched by later edits', () => {
    const def = { name: 'f', rules: [{ id: 'a', when: true, then: { v: [1] } }] };
    const { definition } = validateRuleSet(def);
    def.rules[0]!.then.v.push(2);
    expect(definition.rules[0]?.then).toEqual({ v: [1] });
    expect(Object.isFrozen((definition.rules[0]?.then as { v: unknown[] }).v)).toBe(true);
  });
});
