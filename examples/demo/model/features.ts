/**
 * Feature engineering of the demo's credit-risk model
 * (`examples/demo/model/credit-risk.onnx`): what the model's 8 input columns
 * are and how a loan applicant is turned into them.
 *
 * The scaling brings every column to roughly [-2, 4] so the hand-set weights
 * stay readable; inputs are clamped so absurd values (negative income, 300%
 * utilisation) cannot push the model outside the range it was designed for.
 */

/** A loan application, in natural units. */
export interface CreditApplicant {
  /** Gross annual income, in currency units (e.g. USD). */
  readonly annualIncome: number;
  /** Monthly debt payments divided by monthly income (0.35 = 35%). */
  readonly debtToIncome: number;
  /** Age in years. */
  readonly age: number;
  /** Months with the current employer. */
  readonly monthsEmployed: number;
  /** Payments 30+ days late in the last 24 months. */
  readonly latePayments: number;
  /** Revolving balance divided by revolving limit (0.3 = 30%). */
  readonly creditUtilization: number;
  /** Number of open credit accounts. */
  readonly openAccounts: number;
  /** Requested loan amount, in the same currency as the income. */
  readonly loanAmount: number;
}

/** One model input column. */
export interface FeatureSpec {
  /** Column index in the model's `features` input. */
  readonly index: number;
  /** Applicant field the column is computed from. */
  readonly field: keyof CreditApplicant;
  /** How the raw value is scaled. */
  readonly scaling: string;
  /** Direction of its effect on the risk, as designed. */
  readonly effect: 'raises risk' | 'lowers risk' | 'mixed';
}

const clamp = (v: number, lo: number, hi: number) => (Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : lo);
const LN4 = Math.log(4);

/** The 8 columns of the model's `features` input, in order. */
export const FEATURES: readonly FeatureSpec[] = [
  { index: 0, field: 'annualIncome', scaling: 'ln(max(income, 1000) / 50000) / ln 4  (50k -> 0, 200k -> 1, 12.5k -> -1)', effect: 'lowers risk' },
  { index: 1, field: 'debtToIncome', scaling: 'clamp(dti, 0, 2)', effect: 'raises risk' },
  { index: 2, field: 'age', scaling: '(clamp(age, 18, 100) - 40) / 15', effect: 'lowers risk' },
  { index: 3, field: 'monthsEmployed', scaling: 'clamp(months, 0, 240) / 120', effect: 'lowers risk' },
  { index: 4, field: 'latePayments', scaling: 'clamp(count, 0, 12) / 3', effect: 'raises risk' },
  { index: 5, field: 'creditUtilization', scaling: 'clamp(utilization, 0, 1.5)', effect: 'raises risk' },
  { index: 6, field: 'openAccounts', scaling: 'clamp(count, 0, 30) / 10', effect: 'mixed' },
  { index: 7, field: 'loanAmount', scaling: 'ln(max(amount, 500) / 10000) / ln 4  (10k -> 0, 40k -> 1)', effect: 'raises risk' },
];

/** Number of model input columns. */
export const FEATURE_COUNT = 8;

/**
 * Scales an applicant into the model's input row (`features [1, 8]` once
 * given dims). Non-finite values are clamped to the low end of each range.
 *
 * @example
 * ```ts
 * const row = toFeatureVector({ annualIncome: 60000, debtToIncome: 0.3, age: 35, monthsEmployed: 48,
 *   latePayments: 0, creditUtilization: 0.3, openAccounts: 5, loanAmount: 15000 });
 * const feeds = { features: tensor('float32', row, [1, FEATURE_COUNT]) };
 * ```
 */
export function toFeatureVector(a: CreditApplicant, out: Float32Array = new Float32Array(FEATURE_COUNT)): Float32Array {
  out[0] = Math.log(clamp(a.annualIncome, 1000, 1e9) / 50000) / LN4;
  out[1] = clamp(a.debtToIncome, 0, 2);
  out[2] = (clamp(a.age, 18, 100) - 40) / 15;
  out[3] = clamp(a.monthsEmployed, 0, 240) / 120;
  out[4] = clamp(a.latePayments, 0, 12) / 3;
  out[5] = clamp(a.creditUtilization, 0, 1.5);
  out[6] = clamp(a.openAccounts, 0, 30) / 10;
  out[7] = Math.log(clamp(a.loanAmount, 500, 1e9) / 10000) / LN4;
  return out;
}

/** Three reference applicants used by the demo's README and tests. */
export const SAMPLE_APPLICANTS = {
  /** ~7-8% risk. */
  typical: {
    annualIncome: 60000, debtToIncome: 0.3, age: 35, monthsEmployed: 48,
    latePayments: 0, creditUtilization: 0.3, openAccounts: 5, loanAmount: 15000,
  },
  /** ~2% risk. */
  prime: {
    annualIncome: 150000, debtToIncome: 0.15, age: 50, monthsEmployed: 180,
    latePayments: 0, creditUtilization: 0.1, openAccounts: 8, loanAmount: 10000,
  },
  /** ~95% risk. */
  risky: {
    annualIncome: 25000, debtToIncome: 0.6, age: 23, monthsEmployed: 6,
    latePayments: 3, creditUtilization: 0.9, openAccounts: 2, loanAmount: 20000,
  },
} as const satisfies Record<string, CreditApplicant>;
