/**
 * The rule set format and its validation.
 *
 * A rule set is data that analysts edit: `{ name, version?, rules: [{ id,
 * description?, when, then }], default? }`. Validation collects every
 * problem, each with its JSON path (`rules[3].when: unknown operator "gte"`),
 * so one load reports everything wrong with a file.
 */
import * as z from 'zod/mini';
import { RulesError, formatIssues, type Issue } from '../errors.js';
import { checkSchemaRaw } from '../schema-check.js';
import {
  DEFAULT_LOGIC_LIMITS,
  analyzeLogic,
  constantValue,
  freezeJson,
  isForbiddenKey,
  validateJsonValue,
  type CompiledLogic,
  type JsonValue,
  type LogicLimits,
} from './json-logic.js';

/** One rule: when `when` holds, `then` is the answer. */
export interface RuleDefinition {
  /** Identifier reported as `ruleId` when this rule answers. `default` is reserved. */
  readonly id: string;
  /** Free text for people reading the rules. */
  readonly description?: string;
  /** JsonLogic condition over `{ input, context, failure }`. */
  readonly when: JsonValue;
  /**
   * The answer: a constant, or an object whose fields are JsonLogic
   * expressions (a plain value is an expression that evaluates to itself).
   */
  readonly then: JsonValue;
}

/** A rule set: rules tried in order, the first whose `when` holds answers. */
export interface RuleSetDefinition {
  /** Optional JSON Schema reference for editors; ignored. */
  readonly $schema?: string;
  /** Reported as `fallbackName`. */
  readonly name: string;
  /** Free-form version of the rules (for people and logs). */
  readonly version?: string;
  /** Free text for people reading the rules. */
  readonly description?: string;
  /** Rules, tried in order. */
  readonly rules: readonly RuleDefinition[];
  /** Answer when no rule holds (reported as rule id `default`). Without it, no match passes to the next handler. */
  readonly default?: JsonValue;
}

/** Bounds of a rule set, on top of the per-expression {@link LogicLimits}. */
export interface RulesLimits extends LogicLimits {
  /** Most rules in one rule set. */
  readonly maxRules: number;
  /** Most JsonLogic values across the whole rule set. */
  readonly maxTotalNodes: number;
  /** Longest JSON text accepted (string, file or download), in characters. */
  readonly maxSourceLength: number;
}

/** Default {@link RulesLimits}. */
export const DEFAULT_RULES_LIMITS: Readonly<RulesLimits> = Object.freeze({
  ...DEFAULT_LOGIC_LIMITS,
  maxRules: 1_000,
  maxTotalNodes: 100_000,
  maxSourceLength: 5_000_000,
});

/** The rule id reported when the rule set's `default` answers. */
export const DEFAULT_RULE_ID = 'default';

/**
 * An output schema: any zod schema, or any object with zod's `safeParse`
 * (the same shape `createInference` accepts for `output`).
 */
export interface RulesOutputSchema<O = unknown> {
  safeParse(value: unknown):
    | { success: true; data: O }
    | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
}

/** Options of rule set validation. */
export interface RuleSetValidationOptions {
  /**
   * Output schema: constant answers are checked at load, computed ones at
   * run time (a bad computed answer passes to the next handler).
   */
  readonly output?: RulesOutputSchema | undefined;
  /** Overrides of the default limits. */
  readonly limits?: Partial<RulesLimits> | undefined;
}

const ID_MAX = 200;

const idString = () =>
  z.string().check(z.minLength(1, 'must not be empty'), z.maxLength(ID_MAX, `must be at most ${ID_MAX} characters`));

const ruleShape = z.strictObject({
  id: idString().check(z.refine((id) => id !== DEFAULT_RULE_ID, `"${DEFAULT_RULE_ID}" is reserved for the rule set's default answer`)),
  description: z.optional(z.string()),
  // Presence and content of when/then are checked by the JsonLogic walk, with better messages.
  when: z.optional(z.unknown()),
  then: z.optional(z.unknown()),
});

const ruleSetShape = z.strictObject({
  $schema: z.optional(z.string()),
  name: idString(),
  version: z.optional(z.string()),
  description: z.optional(z.string()),
  // Items are checked one by one below, so a bad rule never hides the others.
  rules: z.array(z.unknown()),
  default: z.optional(z.unknown()),
});

const RULE_KEYS = 'id, description, when, then';
const RULE_SET_KEYS = 'name, version, description, rules, default, $schema';

type SchemaIssue = { readonly path: readonly PropertyKey[]; readonly message: string; readonly code?: unknown; readonly keys?: unknown };

/** Maps zod (or zod-like) issues to ours: paths prefixed, `Invalid input: ` dropped, unknown keys one by one. */
export function schemaIssues(issues: readonly SchemaIssue[], prefix: readonly (string | number)[], known?: string): Issue[] {
  const out: Issue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path.filter((p): p is string | number => typeof p !== 'symbol')];
    if (issue.code === 'unrecognized_keys' && Array.isArray(issue.keys)) {
      for (const key of issue.keys as unknown[]) {
        const k = String(key);
        out.push({
          path: [...path, k],
          message: isForbiddenKey(k) ? `key "${k}" is not allowed` : `unknown field${known ? ` (expected ${known})` : ''}`,
        });
      }
      continue;
    }
    let message = issue.message.replace(/^Invalid input: /, '');
    if (/received undefined$/.test(message)) message = `required (${message.replace(/, received undefined$/, '')})`;
    out.push({ path, message });
  }
  return out;
}

/** The compiled form of a `then` (or `default`), shared by validation and evaluation. */
export type OutputTemplate =
  | { readonly kind: 'constant'; readonly value: unknown }
  | {
      readonly kind: 'fields';
      readonly keys: readonly string[];
      /** Per key: a compiled expression, or the frozen constant value. */
      readonly fields: readonly ({ readonly compiled: CompiledLogic } | { readonly value: unknown })[];
    };

interface TemplateAnalysis {
  readonly issues: Issue[];
  readonly nodes: number;
  readonly constant: boolean;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function analyzeTemplate(then: unknown, path: (string | number)[], limits: RulesLimits): TemplateAnalysis {
  if (then === undefined) return { issues: [{ path, message: 'required' }], nodes: 0, constant: true };
  if (!isPlainObject(then)) {
    const issues = validateJsonValue(then, path, limits);
    return { issues, nodes: 1, constant: true };
  }
  const issues: Issue[] = [];
  let nodes = 0;
  let constant = true;
  for (const key of Object.keys(then)) {
    if (isForbiddenKey(key)) {
      issues.push({ path: [...path, key], message: `key "${key}" is not allowed` });
      continue;
    }
    const a = analyzeLogic(then[key], [...path, key], limits);
    issues.push(...a.issues);
    nodes += a.nodes;
    constant &&= a.constant;
  }
  return { issues, nodes, constant };
}

/**
 * Compiles a validated `then` into an {@link OutputTemplate}; `compile` is
 * the engine's `compileLogic`, needed only for computed fields (a constant
 * `then` compiles without the engine, so validation never loads it).
 */
export function compileTemplate(
  then: unknown,
  limits: RulesLimits,
  compile?: (expr: unknown, options: { limits: RulesLimits }) => CompiledLogic,
): OutputTemplate {
  if (!isPlainObject(then)) return { kind: 'constant', value: freezeJson(then) };
  const keys = Object.keys(then).filter((k) => !isForbiddenKey(k));
  const fields = keys.map((k) => {
    if (analyzeLogic(then[k], [], limits).constant) return { value: constantValue(then[k]) };
    if (!compile) throw new Error('compileTemplate: a computed field needs the JsonLogic engine');
    return { compiled: compile(then[k], { limits }) };
  });
  if (fields.every((f) => 'value' in f)) {
    const value: Record<string, unknown> = {};
    keys.forEach((k, i) => (value[k] = (fields[i] as { value: unknown }).value));
    return { kind: 'constant', value: Object.freeze(value) };
  }
  return { kind: 'fields', keys, fields };
}

function comparePaths(a: readonly (string | number)[], b: readonly (string | number)[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] as string | number;
    const y = b[i] as string | number;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return 0; // Different keys keep the order they were found in.
  }
  return a.length - b.length;
}

const MESSAGE_ISSUES = 20;

/** Builds the load error: every issue is kept, the message shows the first ones. */
export function rulesLoadError(name: string | undefined, issues: readonly Issue[]): RulesError {
  const sorted = [...issues].sort((a, b) => comparePaths(a.path, b.path));
  const shown = sorted.slice(0, MESSAGE_ISSUES);
  const more = sorted.length > shown.length ? `; and ${sorted.length - shown.length} more` : '';
  const what = name ? `rule set "${name}"` : 'rule set';
  return new RulesError(`Invalid ${what}: ${formatIssues(shown)}${more}`, {
    issues: sorted,
    ...(name ? { ruleSet: name } : {}),
  });
}

function resolveLimits(limits: Partial<RulesLimits> | undefined): RulesLimits {
  return limits ? { ...DEFAULT_RULES_LIMITS, ...limits } : DEFAULT_RULES_LIMITS;
}

/** Parses JSON text of a rule set; throws {@link RulesError} for bad JSON or text over the size limit. */
export function parseRuleSetJson(text: string, limits?: Partial<RulesLimits>): unknown {
  const l = resolveLimits(limits);
  if (text.length > l.maxSourceLength) {
    throw rulesLoadError(undefined, [{ path: [], message: `JSON text longer than ${l.maxSourceLength} characters` }]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    throw rulesLoadError(undefined, [{ path: [], message: `not valid JSON: ${detail}` }]);
  }
}

function checkOutput(
  template: OutputTemplate,
  output: RulesOutputSchema | undefined,
  path: (string | number)[],
  issues: Issue[],
): void {
  if (!output || template.kind !== 'constant') return;
  const result = output.safeParse(template.value);
  if (!result.success) issues.push(...schemaIssues(result.error.issues, path));
}

/** A validated rule set: a frozen copy of the definition plus what evaluation needs. */
export interface ValidatedRuleSet {
  /** Frozen, validated copy of the definition. */
  readonly definition: RuleSetDefinition;
  /** The limits it was validated with. */
  readonly limits: RulesLimits;
}

/**
 * Validates a rule set given as an object or JSON text. Throws
 * {@link RulesError} listing every problem by path; returns a frozen copy.
 */
export function validateRuleSet(source: unknown, options: RuleSetValidationOptions = {}): ValidatedRuleSet {
  const limits = resolveLimits(options.limits);
  const raw = typeof source === 'string' ? parseRuleSetJson(source, limits) : source;
  if (!isPlainObject(raw)) {
    throw rulesLoadError(undefined, [{ path: [], message: `expected a rule set object, got ${raw === null ? 'null' : Array.isArray(raw) ? 'array' : typeof raw}` }]);
  }
  const issues: Issue[] = [];
  issues.push(...schemaIssues(checkSchemaRaw(ruleSetShape, raw), [], RULE_SET_KEYS));
  const name = typeof raw.name === 'string' && raw.name ? raw.name : undefined;

  let totalNodes = 0;
  const rules = raw.rules;
  if (Array.isArray(rules)) {
    if (rules.length > limits.maxRules) {
      issues.push({ path: ['rules'], message: `more than ${limits.maxRules} rules (${rules.length})` });
    } else {
      const seen = new Map<string, number>();
      rules.forEach((rule: unknown, i: number) => {
        const path = ['rules', i];
        if (!isPlainObject(rule)) {
          issues.push({ path, message: `expected a rule object, got ${rule === null ? 'null' : Array.isArray(rule) ? 'array' : typeof rule}` });
          return;
        }
        issues.push(...schemaIssues(checkSchemaRaw(ruleShape, rule), path, RULE_KEYS));
        if (typeof rule.id === 'string') {
          const first = seen.get(rule.id);
          if (first !== undefined) issues.push({ path: [...path, 'id'], message: `duplicate id "${rule.id}" (also rules[${first}])` });
          else seen.set(rule.id, i);
        }
        if (rule.when === undefined) {
          issues.push({ path: [...path, 'when'], message: 'required' });
        } else {
          const w = analyzeLogic(rule.when, [...path, 'when'], limits);
          issues.push(...w.issues);
          totalNodes += w.nodes;
        }
        const t = analyzeTemplate(rule.then, [...path, 'then'], limits);
        issues.push(...t.issues);
        totalNodes += t.nodes;
        if (!t.issues.length && t.constant && options.output) {
          checkOutput(compileTemplate(rule.then, limits), options.output, [...path, 'then'], issues);
        }
      });
    }
  }
  if (raw.default !== undefined) {
    const t = analyzeTemplate(raw.default, ['default'], limits);
    issues.push(...t.issues);
    totalNodes += t.nodes;
    if (!t.issues.length && t.constant && options.output) {
      checkOutput(compileTemplate(raw.default, limits), options.output, ['default'], issues);
    }
  }
  if (totalNodes > limits.maxTotalNodes) {
    issues.push({ path: [], message: `more than ${limits.maxTotalNodes} values across the rule set (${totalNodes})` });
  }
  if (issues.length) throw rulesLoadError(name, issues);
  return { definition: freezeJson(raw) as unknown as RuleSetDefinition, limits };
}
