/**
 * Rule sets as fallback handlers (`rules`) and as models (`rulesModel`).
 *
 * Rules are compiled once at load: each `when` and each computed `then`
 * field becomes a JsonLogic closure, constant answers are frozen. Evaluation
 * tries the rules in order over `{ input, context, failure }`; the first
 * whose `when` holds answers, else `default`, else {@link NoRuleMatchedError}.
 */
import { ClosedError, NoRuleMatchedError, RulesError, formatIssues, formatPath } from '../errors.js';
import type { FallbackAnswer, FallbackHandlerObject, Failure, InferenceContext, Model, RunContext } from '../types.js';
import { compileLogic, isTruthy, type CompiledLogic, type LogicMeter } from './json-logic.js';
import {
  DEFAULT_RULE_ID,
  compileTemplate,
  schemaIssues,
  validateRuleSet,
  type OutputTemplate,
  type RuleSetDefinition,
  type RulesLimits,
  type RulesOutputSchema,
} from './rules-schema.js';

/** A rule set as an object, or as JSON text. */
export type RuleSetSource = RuleSetDefinition | string;

/** Options of {@link rules} and {@link rulesModel}. */
export interface RulesOptions<O> {
  /**
   * Output schema (usually the inference's `output`): constant answers are
   * checked at load, computed ones on each call (a bad computed answer throws
   * a {@link RulesError}, so the chain passes to the next handler).
   */
  readonly output?: RulesOutputSchema<O> | undefined;
  /** Overrides of the default limits (depth, sizes, evaluation steps...). */
  readonly limits?: Partial<RulesLimits> | undefined;
}

/** The data a rule's JsonLogic sees. */
export interface RuleData<I> {
  readonly input: I;
  readonly context: InferenceContext | undefined;
  /** Why the model failed (`undefined` when the rules run as a model). */
  readonly failure: Failure | undefined;
}

interface CompiledRule {
  readonly id: string;
  readonly index: number;
  readonly when: CompiledLogic;
  readonly then: OutputTemplate;
}

/** A compiled rule set: evaluates data, answers with the value and the rule id. */
interface Evaluator<O> {
  readonly name: string;
  readonly version: string | undefined;
  readonly definition: RuleSetDefinition;
  evaluate(data: RuleData<unknown>): FallbackAnswer<O> | undefined;
}

function compileRuleSet<O>(source: RuleSetSource, options: RulesOptions<O> = {}): Evaluator<O> {
  const { definition, limits } = validateRuleSet(source, options);
  const name = definition.name;
  const output = options.output;
  const compiled: CompiledRule[] = definition.rules.map((rule, index) => {
    return { id: rule.id, index, when: compileLogic(rule.when, { limits }), then: compileTemplate(rule.then, limits) };
  });
  const fallback = definition.default === undefined ? undefined : compileTemplate(definition.default, limits);

  const produce = (template: OutputTemplate, ruleId: string, path: (string | number)[], data: unknown, meter: LogicMeter): O => {
    if (template.kind === 'constant') return template.value as O;
    const value: Record<string, unknown> = {};
    for (let i = 0; i < template.keys.length; i++) {
      const key = template.keys[i] as string;
      const field = template.fields[i] as { compiled: CompiledLogic } | { value: unknown };
      if ('value' in field) {
        value[key] = field.value;
        continue;
      }
      try {
        value[key] = field.compiled(data, meter);
      } catch (e) {
        throw new RulesError(
          `Rule "${ruleId}" of rule set "${name}" could not compute ${formatPath([...path, key])}: ${reasonOf(e)}`,
          { ruleSet: name, cause: e, issues: [{ path: [...path, key], message: reasonOf(e) }] },
        );
      }
    }
    if (output) {
      const result = output.safeParse(value);
      if (!result.success) {
        const issues = schemaIssues(result.error.issues, path);
        throw new RulesError(`Rule "${ruleId}" of rule set "${name}" computed an invalid output: ${formatIssues(issues)}`, {
          ruleSet: name,
          issues,
        });
      }
    }
    return value as O;
  };

  const evaluate = (data: RuleData<unknown>): FallbackAnswer<O> | undefined => {
    const meter: LogicMeter = { remaining: limits.maxSteps, exhausted: false };
    for (const rule of compiled) {
      let holds: boolean;
      try {
        holds = isTruthy(rule.when(data, meter));
      } catch (e) {
        // A limit stops the whole rule set: going on could multiply the cost.
        if (meter.exhausted) {
          throw new RulesError(`Rule set "${name}" stopped at rule "${rule.id}": ${reasonOf(e)}`, { ruleSet: name, cause: e });
        }
        // Otherwise the condition cannot be evaluated for this input (a
        // non-numeric string compared with a number...): it does not hold,
        // as with plain JavaScript comparisons and classic JsonLogic.
        holds = false;
      }
      if (holds) return { value: produce(rule.then, rule.id, ['rules', rule.index, 'then'], data, meter), ruleId: rule.id };
    }
    if (fallback) return { value: produce(fallback, DEFAULT_RULE_ID, ['default'], data, meter), ruleId: DEFAULT_RULE_ID };
    return undefined;
  };

  return { name, version: definition.version, definition, evaluate };
}

function reasonOf(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.replace(/^JsonLogic evaluation failed: /, '');
}

/** A rule set used as a fallback handler. */
export interface RulesHandler<I, O> extends FallbackHandlerObject<I, O> {
  /** The rule set's name, reported as `fallbackName`. */
  readonly name: string;
  /** The rule set's version, when given. */
  readonly version: string | undefined;
  /** The validated, frozen definition. */
  readonly definition: RuleSetDefinition;
  /** The answer of the first rule that holds (or `default`). Throws {@link NoRuleMatchedError} or {@link RulesError}. */
  handle(input: I, failure: Failure): O;
  /** The answer with the id of the rule that gave it (`default` for the default). */
  explain(input: I, failure: Failure): FallbackAnswer<O>;
  /**
   * Evaluates the rules against any data, for tests and tools.
   * Returns `undefined` when no rule holds and there is no default.
   */
  evaluate(input: I, options?: { context?: InferenceContext; failure?: Failure }): FallbackAnswer<O> | undefined;
}

/**
 * Builds a fallback handler from a rule set (object or JSON text), validated
 * now: a bad rule set throws a {@link RulesError} listing every problem.
 *
 * @example
 * ```ts
 * const inference = createInference({
 *   model,
 *   output: Score,
 *   fallback: [rules(scorecard, { output: Score }), lastResort],
 * });
 * ```
 */
export function rules<I = unknown, O = unknown>(definition: RuleSetSource, options?: RulesOptions<O>): RulesHandler<I, O> {
  const ev = compileRuleSet<O>(definition, options);
  const explain = (input: I, failure: Failure): FallbackAnswer<O> => {
    const answer = ev.evaluate({ input, context: failure?.context, failure });
    if (!answer) throw new NoRuleMatchedError(ev.name);
    return answer;
  };
  return {
    name: ev.name,
    version: ev.version,
    definition: ev.definition,
    explain,
    handle: (input, failure) => explain(input, failure).value,
    evaluate: (input, opts) => ev.evaluate({ input, context: opts?.context ?? opts?.failure?.context, failure: opts?.failure }),
  };
}

/** A rule set used as a model (kind `rules`). */
export interface RulesModel<I, O> extends Model<I, O> {
  readonly kind: 'rules';
  /** The rule set's name. */
  readonly name: string;
  /** The rule set's version, when given. */
  readonly version: string | undefined;
  /** The validated, frozen definition. */
  readonly definition: RuleSetDefinition;
  /** Like `run`, with the id of the rule that answered. */
  explain(input: I, context?: InferenceContext): FallbackAnswer<O>;
}

/**
 * Builds a {@link Model} from a rule set, so rules can be served, compared
 * with a model as a version, or shadowed. The rules see `failure` as
 * `undefined`. No match and no default rejects with {@link NoRuleMatchedError}.
 */
export function rulesModel<I = unknown, O = unknown>(definition: RuleSetSource, options?: RulesOptions<O>): RulesModel<I, O> {
  const ev = compileRuleSet<O>(definition, options);
  let closed = false;
  const explain = (input: I, context?: InferenceContext): FallbackAnswer<O> => {
    if (closed) throw new ClosedError(`Rules model "${ev.name}" is closed`);
    const answer = ev.evaluate({ input, context, failure: undefined });
    if (!answer) throw new NoRuleMatchedError(ev.name);
    return answer;
  };
  return {
    kind: 'rules',
    name: ev.name,
    version: ev.version,
    definition: ev.definition,
    explain,
    async load() {
      if (closed) throw new ClosedError(`Rules model "${ev.name}" is closed`);
    },
    async run(input: I, ctx: RunContext) {
      return explain(input, ctx?.context).value;
    },
    async close() {
      closed = true;
    },
  };
}
