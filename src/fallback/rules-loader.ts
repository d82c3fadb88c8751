/**
 * Loading rule sets from an object, JSON text or a URL (browser-safe: uses
 * `fetch`, never Node built-ins). Files are read by `loadRulesFile` in
 * `rules-loader.node.ts`.
 */
import { RulesError } from '../errors.js';
import { parseRuleSetJson, validateRuleSet, DEFAULT_RULES_LIMITS, type RuleSetDefinition, type RuleSetValidationOptions } from './rules-schema.js';

/** Options of {@link loadRules}. */
export interface LoadRulesOptions extends RuleSetValidationOptions {
  /** Aborts the download; the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
  /** `fetch` to use (defaults to the global one), e.g. to add headers or in tests. */
  readonly fetch?: ((input: URL, init?: { signal?: AbortSignal }) => Promise<Response>) | undefined;
}

function baseUrl(): string | undefined {
  const loc = (globalThis as { location?: { href?: unknown } }).location;
  return typeof loc?.href === 'string' ? loc.href : undefined;
}

function toUrl(source: string): URL {
  try {
    return new URL(source, baseUrl());
  } catch {
    throw new RulesError(`Cannot load rules: the string is neither JSON (it must start with "{") nor a URL`, {
      issues: [{ path: [], message: 'neither JSON nor a URL' }],
    });
  }
}

async function download(url: URL, options: LoadRulesOptions): Promise<string> {
  const doFetch = options.fetch ?? (globalThis.fetch as LoadRulesOptions['fetch']);
  if (!doFetch) throw new RulesError(`Cannot load rules from ${url.href}: fetch is not available`);
  const max = options.limits?.maxSourceLength ?? DEFAULT_RULES_LIMITS.maxSourceLength;
  let response: Response;
  try {
    response = await doFetch(url, options.signal ? { signal: options.signal } : {});
  } catch (e) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw new RulesError(`Cannot load rules from ${url.href}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (!response.ok) {
    throw new RulesError(`Cannot load rules from ${url.href}: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
  }
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max * 4) {
    throw new RulesError(`Cannot load rules from ${url.href}: ${declared} bytes is over the ${max} characters limit`);
  }
  try {
    return await response.text();
  } catch (e) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw new RulesError(`Cannot load rules from ${url.href}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/**
 * Loads and validates a rule set from an object, JSON text (a string that
 * starts with `{`) or a URL (a `URL`, or any other string; relative URLs are
 * resolved against the page in browsers). Resolves to a frozen, validated
 * definition for `rules()` / `rulesModel()`; rejects with a `RulesError`
 * listing every problem by path.
 */
export async function loadRules(source: RuleSetDefinition | string | URL, options: LoadRulesOptions = {}): Promise<RuleSetDefinition> {
  let raw: unknown = source;
  if (source instanceof URL) raw = parseRuleSetJson(await download(source, options), options.limits);
  else if (typeof source === 'string') {
    raw = source.trimStart().startsWith('{')
      ? parseRuleSetJson(source, options.limits)
      : parseRuleSetJson(await download(toUrl(source), options), options.limits);
  }
  return validateRuleSet(raw, options).definition;
}
