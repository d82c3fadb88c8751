/**
 * Credit policy v7 as it ran before the model: the legacy decision table in
 * plain if/else code. `credit-policy.rules.json` is the same table as data;
 * `test/fallback/rules-golden.test.ts` checks that both agree on thousands of
 * random applicants.
 */
import type { CreditApplicant } from '../demo/model/features.js';

/** The answer of the credit-risk inference (model or fallback). */
export interface CreditDecision {
  /** Estimated probability of default, 0..1. */
  readonly risk: number;
  readonly decision: 'approve' | 'review' | 'decline';
}

/** A decision with the table row that produced it (the rule id in the JSON rules). */
export interface LegacyAnswer extends CreditDecision {
  readonly row: string;
}

/** Scorecard points, 15..100. */
export function scorecardPoints(a: CreditApplicant): number {
  let points = 15;
  if (a.annualIncome >= 80000) points += 20;
  else if (a.annualIncome >= 40000) points += 12;
  else if (a.annualIncome >= 20000) points += 5;

  if (a.debtToIncome <= 0.2) points += 20;
  else if (a.debtToIncome <= 0.35) points += 12;
  else if (a.debtToIncome <= 0.5) points += 4;

  if (a.monthsEmployed >= 60) points += 10;
  else if (a.monthsEmployed >= 24) points += 6;
  else if (a.monthsEmployed >= 6) points += 2;

  if (a.latePayments < 1) points += 15;
  else if (a.latePayments < 2) points += 6;

  if (a.creditUtilization <= 0.3) points += 15;
  else if (a.creditUtilization <= 0.6) points += 8;
  else if (a.creditUtilization <= 0.9) points += 2;

  if (a.openAccounts >= 2 && a.openAccounts <= 10) points += 5;
  return points;
}

/** Risk estimate of the scorecard rows (same operation order as the JSON rules, so the floats are identical). */
export function scorecardRisk(a: CreditApplicant): number {
  return Math.min(1, 0.02 + 0.25 * a.debtToIncome + 0.15 * a.creditUtilization + 0.1 * a.latePayments);
}

/** The legacy decision table: knock-out rows first, then the scorecard. */
export function legacyDecision(a: CreditApplicant): LegacyAnswer {
  if (a.age < 18) return { risk: 1, decision: 'decline', row: 'underage' };
  if (a.latePayments >= 3) return { risk: 0.9, decision: 'decline', row: 'severe-delinquency' };
  if (a.debtToIncome > 0.6) return { risk: 0.85, decision: 'decline', row: 'debt-overload' };
  if (a.loanAmount > a.annualIncome * 0.5) return { risk: 0.7, decision: 'review', row: 'oversized-loan' };
  if (a.monthsEmployed < 6 && a.openAccounts < 1) return { risk: 0.6, decision: 'review', row: 'thin-file' };
  const points = scorecardPoints(a);
  if (points >= 70) return { risk: scorecardRisk(a), decision: 'approve', row: 'scorecard-approve' };
  if (points >= 50) return { risk: scorecardRisk(a), decision: 'review', row: 'scorecard-review' };
  return { risk: 0.75, decision: 'decline', row: 'default' };
}

/**
 * The legacy code as it was typically packaged: a class with state. Shown in
 * the docs as the thing to wrap as a named fallback handler.
 */
export class LegacyCreditPolicy {
  /** How many applications this instance decided (legacy bookkeeping, needs `this`). */
  decided = 0;
  decide(a: CreditApplicant): CreditDecision {
    this.decided++;
    const { risk, decision } = legacyDecision(a);
    return { risk, decision };
  }
}
