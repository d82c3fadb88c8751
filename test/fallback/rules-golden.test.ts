/**
 * Golden tests on the realistic rules file of examples/legacy-rules: pinned
 * answers for hand-picked applicants, and agreement with the legacy if/else
 * code on many random applicants.
 */
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadRulesFile } from '../../src/fallback/rules-loader.node.js';
import { rules } from '../../src/fallback/rules.js';
import type { Failure } from '../../src/types.js';
import { SAMPLE_APPLICANTS, type CreditApplicant } from '../../examples/demo/model/features.js';
import { legacyDecision, scorecardPoints, type CreditDecision } from '../../examples/legacy-rules/legacy-table.js';
import creditPolicy from '../../examples/legacy-rules/credit-policy.rules.json';
import { sync } from '../helpers/rules.js';

const RULES_FILE = fileURLToPath(new URL('../../examples/legacy-rules/credit-policy.rules.json', import.meta.url));
const Decision = z.object({ risk: z.number().min(0).max(1), decision: z.enum(['approve', 'review', 'decline']) });
const failure: Failure = { reason: 'timeout', error: new Error('late'), version: 'v1', attempts: 1, context: undefined };
const policy = rules<CreditApplicant, CreditDecision>(creditPolicy, { output: Decision });

const base: CreditApplicant = {
  annualIncome: 60000, debtToIncome: 0.3, age: 35, monthsEmployed: 48,
  latePayments: 0, creditUtilization: 0.3, openAccounts: 5, loanAmount: 15000,
};

describe('credit-policy.rules.json', () => {
  it('loads from the file, checked against the output schema', async () => {
    const def = await loadRulesFile(RULES_FILE, { output: Decision });
    expect(def.name).toBe('credit-policy-v7');
    expect(def.version).toBe('7.3');
    expect(def.rules.map((r) => r.id)).toEqual([
      'underage', 'severe-delinquency', 'debt-overload', 'oversized-loan', 'thin-file', 'scorecard-approve', 'scorecard-review',
    ]);
    expect(policy.name).toBe('credit-policy-v7');
  });

  it.each<[string, CreditApplicant, string, CreditDecision]>([
    ['sample prime', SAMPLE_APPLICANTS.prime, 'scorecard-approve', { risk: 0.0725, decision: 'approve' }],
    ['sample typical', SAMPLE_APPLICANTS.typical, 'scorecard-approve', { risk: 0.14, decision: 'approve' }],
    ['sample risky', SAMPLE_APPLICANTS.risky, 'severe-delinquency', { risk: 0.9, decision: 'decline' }],
    ['17 years old', { ...base, age: 17 }, 'underage', { risk: 1, decision: 'decline' }],
    ['just 18', { ...base, age: 18 }, 'scorecard-approve', { risk: 0.14, decision: 'approve' }],
    ['3 late payments', { ...base, latePayments: 3 }, 'severe-delinquency', { risk: 0.9, decision: 'decline' }],
    ['debt-to-income 0.61', { ...base, debtToIncome: 0.61 }, 'debt-overload', { risk: 0.85, decision: 'decline' }],
    ['loan of exactly half the income', { ...base, loanAmount: 30000 }, 'scorecard-approve', { risk: 0.14, decision: 'approve' }],
    ['loan over half the income', { ...base, loanAmount: 30001 }, 'oversized-loan', { risk: 0.7, decision: 'review' }],
    ['no history', { ...base, annualIncome: 40000, debtToIncome: 0.2, age: 30, monthsEmployed: 3, creditUtilization: 0, openAccounts: 0, loanAmount: 5000 }, 'thin-file', { risk: 0.6, decision: 'review' }],
    ['middling (56 points)', { annualIncome: 30000, debtToIncome: 0.45, age: 40, monthsEmployed: 30, latePayments: 1, creditUtilization: 0.2, openAccounts: 3, loanAmount: 10000 }, 'scorecard-review', { risk: 0.2625, decision: 'review' }],
    ['weak (17 points)', { annualIncome: 15000, debtToIncome: 0.55, age: 45, monthsEmployed: 8, latePayments: 2, creditUtilization: 0.95, openAccounts: 1, loanAmount: 5000 }, 'default', { risk: 0.75, decision: 'decline' }],
  ])('%s -> %s', (_name, applicant, ruleId, expected) => {
    const answer = sync(policy.explain(applicant, failure));
    expect(answer.ruleId).toBe(ruleId);
    expect(answer.value.decision).toBe(expected.decision);
    expect(answer.value.risk).toBeCloseTo(expected.risk, 12);
  });

  it('scores the hand-picked applicants as documented in the README', () => {
    expect(scorecardPoints(SAMPLE_APPLICANTS.prime)).toBe(100);
    expect(scorecardPoints(SAMPLE_APPLICANTS.typical)).toBe(80);
  });
});

/** Applicants over realistic ranges, with the table's thresholds over-represented. */
const amount = (edges: number[], max: number) =>
  fc.oneof(fc.constantFrom(...edges), fc.integer({ min: 0, max }), fc.double({ min: 0, max, noNaN: true }));
const ratio = (edges: number[]) => fc.oneof(fc.constantFrom(...edges), fc.double({ min: 0, max: 1.5, noNaN: true }));
const count = (edges: number[], max: number) => fc.oneof(fc.constantFrom(...edges), fc.integer({ min: 0, max }));

const applicantArb: fc.Arbitrary<CreditApplicant> = fc.record({
  annualIncome: amount([0, 19999, 20000, 39999, 40000, 79999, 80000], 300_000),
  debtToIncome: ratio([0, 0.2, 0.35, 0.5, 0.6, 0.61]),
  age: count([17, 18, 25, 70], 90),
  monthsEmployed: count([0, 5, 6, 23, 24, 59, 60], 400),
  latePayments: count([0, 1, 2, 3, 4], 12),
  creditUtilization: ratio([0, 0.3, 0.6, 0.9, 0.91]),
  openAccounts: count([0, 1, 2, 10, 11], 30),
  loanAmount: amount([0, 10000, 20000, 40000], 200_000),
});

describe('the JSON rules and the legacy code agree', () => {
  it('on thousands of random applicants (same row, same decision, same risk)', () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(applicantArb, (a) => {
        const legacy = legacyDecision(a);
        const answer = sync(policy.explain(a, failure));
        seen.set(answer.ruleId!, (seen.get(answer.ruleId!) ?? 0) + 1);
        expect(answer.ruleId).toBe(legacy.row);
        expect(answer.value).toEqual({ risk: legacy.risk, decision: legacy.decision });
      }),
      { numRuns: 4000, seed: 20190701 },
    );
    // Every row of the table is exercised.
    expect([...seen.keys()].sort()).toEqual([
      'debt-overload', 'default', 'oversized-loan', 'scorecard-approve', 'scorecard-review', 'severe-delinquency', 'thin-file', 'underage',
    ]);
  });

  it('also on fresh random applicants each run', () => {
    fc.assert(
      fc.property(applicantArb, (a) => {
        const legacy = legacyDecision(a);
        const answer = sync(policy.explain(a, failure));
        return answer.ruleId === legacy.row && answer.value.decision === legacy.decision && answer.value.risk === legacy.risk;
      }),
      { numRuns: 1000 },
    );
  });
});
