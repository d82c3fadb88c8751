/**
 * Through the Node entry, the JsonLogic engine is supplied at import (nothing
 * is downloaded in Node): rule sets evaluate synchronously from the start,
 * with no `ready()` first. Browsers load it on demand (logic-loading.test.ts).
 */
import { expect, it } from 'vitest';
import { createInference, functionModel, rules, rulesModel } from '../../src/index.js';

const definition = {
  name: 'age-policy',
  version: '1',
  rules: [{ id: 'minor', when: { '<': [{ var: 'input.age' }, 18] }, then: 'deny' }],
  default: 'allow',
};

it('rules().evaluate and rulesModel().explain answer synchronously right after construction', () => {
  const policy = rules<{ age: number }, string>(definition);
  expect(policy.evaluate({ age: 12 })).toEqual({ value: 'deny', ruleId: 'minor' });
  expect(policy.evaluate({ age: 40 })).toEqual({ value: 'allow', ruleId: 'default' });
  expect(rulesModel<{ age: number }, string>(definition).explain({ age: 12 })).toMatchObject({ value: 'deny', ruleId: 'minor' });
});

it('a rules fallback answers without awaiting ready() first', async () => {
  const inference = createInference<{ age: number }, string>({
    name: 'entry',
    versions: {
      v1: functionModel(async () => {
        throw new Error('model down');
      }),
    },
    fallback: rules(definition),
  });
  expect(await inference.infer({ age: 12 })).toMatchObject({ source: 'fallback', fallbackName: 'age-policy', ruleId: 'minor', value: 'deny' });
  await inference.close();
});
