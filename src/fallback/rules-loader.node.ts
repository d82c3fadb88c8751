/**
 * Rules in Node: loading rule sets from files (`fs/promises`), and the
 * JsonLogic engine supplied at import. Browsers load the engine on demand
 * (its own chunk); in Node nothing is downloaded, so rule sets built through
 * the Node entry evaluate synchronously from the start, as they did before
 * the browser build split the engine off.
 */
import { readFile, stat } from 'node:fs/promises';
import { RulesError, isRulesError } from '../errors.js';
import * as logic from './json-logic-eval.js';
import { provideLogic } from './logic-loader.js';
import { parseRuleSetJson, validateRuleSet, DEFAULT_RULES_LIMITS, type RuleSetDefinition, type RuleSetValidationOptions } from './rules-schema.js';

provideLogic(logic);

/**
 * Reads a JSON rule set file and validates it. Resolves to a frozen,
 * validated definition for `rules()` / `rulesModel()`; rejects with a
 * `RulesError` when the file cannot be read, is not JSON, is over the size
 * limit, or has problems (every one listed by path).
 */
export async function loadRulesFile(path: string | URL, options: RuleSetValidationOptions & { signal?: AbortSignal } = {}): Promise<RuleSetDefinition> {
  const max = options.limits?.maxSourceLength ?? DEFAULT_RULES_LIMITS.maxSourceLength;
  let text: string;
  try {
    const info = await stat(path);
    // UTF-8 takes at most 4 bytes per character: a bigger file is surely over the limit.
    if (info.size > max * 4) throw new RulesError(`Rules file ${String(path)} is ${info.size} bytes, over the ${max} characters limit`);
    text = await readFile(path, { encoding: 'utf8', ...(options.signal ? { signal: options.signal } : {}) });
  } catch (e) {
    if (isRulesError(e)) throw e;
    if (options.signal?.aborted) throw options.signal.reason;
    throw new RulesError(`Cannot read rules file ${String(path)}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  try {
    return validateRuleSet(parseRuleSetJson(text, options.limits), options).definition;
  } catch (e) {
    if (isRulesError(e)) {
      throw new RulesError(`${String(path)}: ${e.message}`, { issues: e.issues, ...(e.ruleSet ? { ruleSet: e.ruleSet } : {}), cause: e });
    }
    throw e;
  }
}
