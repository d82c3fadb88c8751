/**
 * Rule sets as fallback handlers (`rules`) and as models (`rulesModel`).
 *
 * A rule set is validated when `rules()` / `rulesModel()` is called (a bad
 * one throws at once) and its constant answers are frozen; each `when` and
 * each computed `then` field becomes a JsonLogic closure as soon as the
 * JsonLogic engine has loaded: its load starts right there (see
 * `logic-loader.ts`), and `ready()` awaits it. Evaluation
 * tries the rules in order over `{ input, context, failure }`; the first
 * whose `when` holds answers, else `default`, else {@link NoRuleMatchedError}.
 */
import { ClosedError, NoRuleMatchedError, RulesError, formatIssues, formatPath } from '../errors.js';
import type { FallbackAnswer, FallbackHandlerObject, Failure, InferenceContext, Model, RunContext } from '../types.js';
import { isTruthy, type CompiledLogic, type LogicMeter } from './json-logic.js';
import { loadLogic, loadedLogic, type LogicModule } from './logic-loader.js';
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
  /** Synchronous; throws a {@link RulesError} while the engine is not loaded. */
  evaluate(data: RuleData<unknown>): FallbackAnswer<O> | undefined;
  /** Answers at once when the engine is in, else once it arrives (no new load after a failed one). */
  answer(data: RuleData<unknown>): FallbackAnswer<O> | undefined | Promise<FallbackAnswer<O> | undefined>;
  /** Resolves once the engine is loaded and the rules compiled; retries a failed load. */
  ready(): Promise<void>;
}

function compileRuleSet<O>(source: RuleSetSource, options: RulesOptions<O> = {}): Evaluator<O> {
  const { definition, limits } = validateRuleSet(source, options);
  const name = definition.name;
  const output = options.output;
  // The default needs no engine when constant (the usual case); a computed one is compiled with the rules.
  let fallback = definition.default === undefined ? undefined : tryConstant(definition.default, limits);
  let compiled: CompiledRule[] | undefined;
  const build = (m: LogicModule): CompiledRule[] => {
    if (compiled) return compiled;
    const compile = m.compileLogic;
    fallback = definition.default === undefined ? undefined : compileTemplate(definition.default, limits, compile);
    return (compiled = definition.rules.map((rule, index) => ({
      id: rule.id,
      index,
      when: compile(rule.when, { limits }),
      then: compileTemplate(rule.then, limits, compile),
    })));
  };
  const start = (): Promise<void> =>
    loadLogic().then((m) => {
      build(m);
    });
  const now = loadedLogic();
  // Started now, at construction: a fallback must never wait for a first download while the model is failing.
  let loading: Promise<void> = now ? Promise.resolve(void build(now)) : start();
  loading.catch(() => undefined);

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

  const run = (rules: readonly CompiledRule[], data: RuleData<unknown>): FallbackAnswer<O> | undefined => {
    const meter: LogicMeter = { remaining: limits.maxSteps, exhausted: false };
    for (const rule of rules) {
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

  const current = (): CompiledRule[] | undefined => {
    const m = compiled ? undefined : loadedLogic();
    return compiled ?? (m ? build(m) : undefined);
  };
  const evaluate = (data: RuleData<unknown>): FallbackAnswer<O> | undefined => {
    const rules = current();
    if (!rules) {
      throw new RulesError(`Rule set "${name}" cannot run yet: the JsonLogic engine is still loading (await ready() first)`, { ruleSet: name });
    }
    return run(rules, data);
  };
  const answer = (data: RuleData<unknown>) => {
    const rules = current();
    return rules ? run(rules, data) : loading.then(() => run(compiled!, data));
  };
  const ready = (): Promise<void> => {
    if (current()) return Promise.resolve();
    loading = start();
    return loading;
  };

  return { name, version: definition.version, definition, evaluate, answer, ready };
}

/** A `then` or `default` known at load, compiled without the engine; undefined when it computes. */
function tryConstant(then: unknown, limits: RulesLimits): OutputTemplate | undefined {
  try {
    return compileTemplate(then, limits);
  } catch {
    return undefined;
  }
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
  /**
   * The answer of the first rule that holds (or `default`). Synchronous once
   * the JsonLogic engine has loaded (see {@link RulesHandler.ready}); before
   * that, a promise of the answer. Throws (or rejects with)
   * {@link NoRuleMatchedError} or {@link RulesError}.
   */
  handle(input: I, failure: Failure): O | Promise<O>;
  /** The answer with the id of the rule that gave it (`default` for the default); synchronous as {@link RulesHandler.handle}. */
  explain(input: I, failure: Failure): FallbackAnswer<O> | Promise<FallbackAnswer<O>>;
  /**
   * Evaluates the rules against any data, for tests and tools.
   * Returns `undefined` when no rule holds and there is no default.
   * Synchronous: throws a {@link RulesError} until the engine has loaded (`await ready()` first).
   */
  evaluate(input: I, options?: { context?: InferenceContext; failure?: Failure }): FallbackAnswer<O> | undefined;
  /**
   * Resolves once the JsonLogic engine has loaded and the rules are compiled
   * (the load starts when the handler is built; an inference's `ready()`
   * awaits it). Rejects with a {@link RulesError} when the engine's chunk
   * cannot be loaded; a later call tries again.
   */
  ready(): Promise<void>;
}

/**
 * Builds a fallback handler from a rule set (object or JSON text), validated
 * now: a bad rule set throws a {@link RulesError} listing every problem. The
 * JsonLogic engine starts loading now too (a separate chunk in browser
 * bundles); `ready()` awaits it.
 *
 * @example
 * ```ts
 * const inference = createInference({
 *   model,
 *   output: Score,
 *   fallback: [rules(scorecard, { output: Score }), lastResort],
 * });
 * await inference.ready(); // models loaded, rules compiled
 * ```
 */
export function rules<I = unknown, O = unknown>(definition: RuleSetSource, options?: RulesOptions<O>): RulesHandler<I, O> {
  const ev = compileRuleSet<O>(definition, options);
  const matched = (answer: FallbackAnswer<O> | undefined): FallbackAnswer<O> => {
    if (!answer) throw new NoRuleMatchedError(ev.name);
    return answer;
  };
  const explain = (input: I, failure: Failure): FallbackAnswer<O> | Promise<FallbackAnswer<O>> => {
    const answer = ev.answer({ input, context: failure?.context, failure });
    return answer instanceof Promise ? answer.then(matched) : matched(answer);
  };
  return {
    name: ev.name,
    version: ev.version,
    definition: ev.definition,
    explain,
    handle: (input, failure) => {
      const answer = explain(input, failure);
      return answer instanceof Promise ? answer.then((a) => a.value) : answer.value;
    },
    evaluate: (input, opts) => ev.evaluate({ input, context: opts?.context ?? opts?.failure?.context, failure: opts?.failure }),
    ready: ev.ready,
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
  /**
   * Like `run`, with the id of the rule that answered. Synchronous: throws a
   * {@link RulesError} until the JsonLogic engine has loaded (`await load()` first).
   */
  explain(input: I, context?: InferenceContext): FallbackAnswer<O>;
}

/**
 * Builds a {@link Model} from a rule set, so rules can be served, compared
 * with a model as a version, or shadowed. The rules see `failure` as
 * `undefined`. No match and no default rejects with {@link NoRuleMatchedError}.
 * The JsonLogic engine starts loading now; `load()` awaits it (a failed load
 * rejects with a {@link RulesError}, like a model whose file is missing).
 */
export function rulesModel<I = unknown, O = unknown>(definition: RuleSetSource, options?: RulesOptions<O>): RulesModel<I, O> {
  const ev = compileRuleSet<O>(definition, options);
  let closed = false;
  const check = (): void => {
    if (closed) throw new ClosedError(`Rules model "${ev.name}" is closed`);
  };
  const matched = (answer: FallbackAnswer<O> | undefined): FallbackAnswer<O> => {
    if (!answer) throw new NoRuleMatchedError(ev.name);
    return answer;
  };
  return {
    kind: 'rules',
    name: ev.name,
    version: ev.version,
    definition: ev.definition,
    explain(input: I, context?: InferenceContext): FallbackAnswer<O> {
      check();
      return matched(ev.evaluate({ input, context, failure: undefined }));
    },
    async load() {
      check();
      await ev.ready();
    },
    async run(input: I, ctx: RunContext) {
      check();
      return matched(await ev.answer({ input, context: ctx?.context, failure: undefined })).value;
    },
    async close() {
      closed = true;
    },
  };
}
