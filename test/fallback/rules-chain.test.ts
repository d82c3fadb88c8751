/**
 * Rule sets in the fallback chain of `createInference`, and legacy code
 * wrapped as named handlers (as shown in docs/fallback-rules.md).
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InferenceError, isInferenceError, NoRuleMatchedError, RulesError } from '../../src/errors.js';
import { rules, rulesModel } from '../../src/fallback/rules.js';
import { FallbackTimeoutError } from '../../src/fallback/fallback-chain.js';
import { createInference } from '../../src/inference.js';
import { functionModel } from '../../src/models/function-model.js';
import type { FallbackHandlerObject } from '../../src/types.js';
import type { CreditApplicant } from '../../examples/demo/model/features.js';
import { LegacyCreditPolicy, legacyDecision, type CreditDecision } from '../../examples/legacy-rules/legacy-table.js';
import creditPolicy from '../../examples/legacy-rules/credit-policy.rules.json';

const Decision = z.object({ risk: z.number().min(0).max(1), decision: z.enum(['approve', 'review', 'decline']) });

const applicant: CreditApplicant = {
  annualIncome: 60000, debtToIncome: 0.3, age: 35, monthsEmployed: 48,
  latePayments: 0, creditUtilization: 0.3, openAccounts: 5, loanAmount: 15000,
};

const modelDown = new Error('model down');
const broken = () => functionModel<CreditApplicant, CreditDecision>(() => Promise.reject(modelDown));

/** Only answers for applicants under 25; no default, so others pass on. */
const youngOnly = rules<CreditApplicant, CreditDecision>(
  { name: 'young-applicants', rules: [{ id: 'under-25', when: { '<': [{ var: 'input.age' }, 25] }, then: { risk: 0.5, decision: 'review' } }] },
  { output: Decision },
);

/** Computes a risk that can leave [0, 1]: the output check passes it on. */
const computed = rules<CreditApplicant, CreditDecision>(
  { name: 'computed', rules: [{ id: 'dti', when: true, then: { risk: { '*': [{ var: 'input.debtToIncome' }, 2] }, decision: 'review' } }] },
  { output: Decision },
);

const policy = rules<CreditApplicant, CreditDecision>(creditPolicy, { output: Decision });

function make(fallback: readonly (FallbackHandlerObject<CreditApplicant, CreditDecision> | ((a: CreditApplicant) => CreditDecision | Promise<CreditDecision>))[], extra: { fallbackTimeoutMs?: number } = {}) {
  return createInference<CreditApplicant, CreditDecision>({
    name: 'credit',
    versions: { v1: broken() },
    output: Decision,
    breaker: false,
    fallback,
    ...extra,
  });
}

describe('rule sets in the fallback chain', () => {
  it('reports the rule set name and the rule that answered', async () => {
    const inference = make([policy]);
    const outcome = await inference.infer(applicant);
    expect(outcome).toMatchObject({ source: 'fallback', reason: 'model-error', fallbackName: 'credit-policy-v7', ruleId: 'scorecard-approve' });
    expect(outcome.value).toEqual({ risk: legacyDecision(applicant).risk, decision: 'approve' });
    await inference.close();
  });

  it('passes on when a rule set has no match and no default, or computes a bad output', async () => {
    const inference = make([youngOnly, computed, policy]);
    const young = await inference.infer({ ...applicant, age: 22 });
    expect(young).toMatchObject({ fallbackName: 'young-applicants', ruleId: 'under-25' });
    const fine = await inference.infer({ ...applicant, debtToIncome: 0.4 });
    expect(fine).toMatchObject({ fallbackName: 'computed', ruleId: 'dti', value: { risk: 0.8, decision: 'review' } });
    const passed = await inference.infer({ ...applicant, debtToIncome: 0.55 });
    expect(passed).toMatchObject({ fallbackName: 'credit-policy-v7', ruleId: 'scorecard-review' });
    await inference.close();
  });

  it('keeps every cause when all handlers fail', async () => {
    const lastResort = function lastResort(): CreditDecision {
      throw new Error('legacy service unavailable');
    };
    const inference = make([youngOnly, computed, lastResort]);
    const error = await inference.infer({ ...applicant, debtToIncome: 0.55 }).catch((e: unknown) => e);
    expect(isInferenceError(error)).toBe(true);
    const causes = (error as InferenceError).causes;
    expect(causes[0]).toBe(modelDown);
    expect(causes[1]).toBeInstanceOf(NoRuleMatchedError);
    expect(causes[2]).toBeInstanceOf(RulesError);
    expect((causes[2] as Error).message).toMatch(/^Rule "dti" of rule set "computed" computed an invalid output: rules\[0\]\.then\.risk: /);
    expect((causes[3] as Error).message).toBe('legacy service unavailable');
    await inference.close();
  });

  it('a rules model can serve as a version', async () => {
    const inference = createInference<CreditApplicant, CreditDecision>({
      name: 'credit',
      versions: { model: broken(), rules: rulesModel<CreditApplicant, CreditDecision>(creditPolicy, { output: Decision }) },
      output: Decision,
      breaker: false,
    });
    const outcome = await inference.infer({ ...applicant, age: 17 }, { version: 'rules' });
    expect(outcome).toMatchObject({ source: 'model', version: 'rules', value: { risk: 1, decision: 'decline' } });
    await inference.close();
  });
});

describe('wrapping legacy code as named handlers', () => {
  it('wraps a synchronous function: the function name becomes fallbackName', async () => {
    function legacyTable(a: CreditApplicant): CreditDecision {
      const { risk, decision } = legacyDecision(a);
      return { risk, decision };
    }
    const inference = make([youngOnly, legacyTable]);
    const outcome = await inference.infer(applicant);
    expect(outcome).toMatchObject({ source: 'fallback', fallbackName: 'legacyTable', value: { decision: 'approve' } });
    expect(outcome.ruleId).toBeUndefined();
    await inference.close();
  });

  it('wraps a class method with its instance, under an explicit name', async () => {
    const legacy = new LegacyCreditPolicy();
    const legacyHandler: FallbackHandlerObject<CreditApplicant, CreditDecision> = {
      name: 'legacy-credit-policy',
      handle: (a) => legacy.decide(a), // keeps `this`; `handle: legacy.decide` would lose it
    };
    const inference = make([youngOnly, legacyHandler]);
    expect(await inference.infer(applicant)).toMatchObject({ fallbackName: 'legacy-credit-policy', value: { decision: 'approve' } });
    expect(await inference.infer({ ...applicant, age: 20 })).toMatchObject({ fallbackName: 'young-applicants' });
    expect(legacy.decided).toBe(1);
    await inference.close();
  });

  it('fallbackTimeoutMs passes a hung legacy handler on to the next one', async () => {
    const hung: FallbackHandlerObject<CreditApplicant, CreditDecision> = {
      name: 'legacy-service',
      handle: () => new Promise<CreditDecision>(() => {}),
    };
    const inference = make([hung, policy], { fallbackTimeoutMs: 50 });
    const started = performance.now();
    const outcome = await inference.infer(applicant);
    expect(outcome).toMatchObject({ fallbackName: 'credit-policy-v7', ruleId: 'scorecard-approve' });
    expect(performance.now() - started).toBeLessThan(1_000);

    const onlyHung = make([hung], { fallbackTimeoutMs: 20 });
    const error = (await onlyHung.infer(applicant).catch((e: unknown) => e)) as InferenceError;
    expect(error.causes[1]).toBeInstanceOf(FallbackTimeoutError);
    await inference.close();
    await onlyHung.close();
  });
});
