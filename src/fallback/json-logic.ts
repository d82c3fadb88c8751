/**
 * Safe JsonLogic for rule sets and routing targeting: the format, its
 * validation and the helpers evaluation shares. This module never imports
 * json-logic-engine, so validating rules and targeting at construction costs
 * no engine; evaluation lives in `json-logic-eval.ts`, loaded on demand by
 * `logic-loader.ts`.
 *
 * Evaluation uses json-logic-engine's interpreted `LogicEngine` (closures
 * built once per expression, never `eval` or `new Function`, so it runs under
 * a strict Content-Security-Policy) with a curated operator table:
 * - data access (`var`, `missing`, `missing_some`) and the operators that
 *   walk or build data (`in`, `cat`, `substr`, `merge`, `map`, `filter`,
 *   `reduce`, `all`, `some`, `none`) are reimplemented here so that objects
 *   are read through own-property checks, `__proto__` / `constructor` /
 *   `prototype` are never followed, and produced strings and arrays are
 *   bounded; `if` is reimplemented too, because the engine copies its
 *   argument list on every call and scorecards chain many branches;
 * - the remaining operators (comparisons, arithmetic, `and`, `or`, `!`...)
 *   are the engine's own, which never touch object properties.
 *
 * Expressions are validated before they are compiled (unknown operators,
 * arity, JSON-compatibility, depth and node-count limits), and every
 * evaluation has a step budget, so a hostile expression cannot hang or crash
 * the host.
 */
import type { Issue } from '../errors.js';

/**
 * A JSON value, as rule sets and JsonLogic expressions are written. Object
 * fields may be typed `undefined` so that TypeScript's types of imported
 * `.json` files fit (absent fields, never present at run time).
 */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue | undefined };

/** Bounds checked at load (depth, nodes, literal sizes) and at run time (steps, produced sizes). */
export interface LogicLimits {
  /** Deepest nesting of arrays and objects in one expression. */
  readonly maxDepth: number;
  /** Most values (operators, arguments, literals) in one expression. */
  readonly maxNodes: number;
  /** Longest string, literal or produced by `cat` / `substr`. */
  readonly maxStringLength: number;
  /** Longest array, literal, produced by `merge`, or iterated by `map` and friends. */
  readonly maxArrayLength: number;
  /** Work units one evaluation may spend in iterators, `cat` and `merge` before it is stopped. */
  readonly maxSteps: number;
}

/** Default {@link LogicLimits}: generous for hand-written rules, small enough to stay in the millisecond range. */
export const DEFAULT_LOGIC_LIMITS: Readonly<LogicLimits> = Object.freeze({
  maxDepth: 32,
  maxNodes: 5_000,
  maxStringLength: 10_000,
  maxArrayLength: 10_000,
  maxSteps: 200_000,
});

/** Keys never followed or accepted, wherever they appear. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** True for the keys that could reach an object's prototype. */
export function isForbiddenKey(key: string): boolean {
  return FORBIDDEN_KEYS.has(key);
}

interface Arity {
  readonly min: number;
  readonly max: number;
}

/** Every operator accepted, with the argument counts checked at load. */
const ARITY: Readonly<Record<string, Arity>> = Object.freeze({
  var: { min: 0, max: 2 },
  missing: { min: 0, max: Infinity },
  missing_some: { min: 2, max: 2 },
  if: { min: 1, max: Infinity },
  '?:': { min: 3, max: 3 },
  '==': { min: 2, max: 2 },
  '===': { min: 2, max: 2 },
  '!=': { min: 2, max: 2 },
  '!==': { min: 2, max: 2 },
  '>': { min: 2, max: 2 },
  '>=': { min: 2, max: 2 },
  '<': { min: 2, max: 3 },
  '<=': { min: 2, max: 3 },
  '!': { min: 1, max: 1 },
  '!!': { min: 1, max: 1 },
  and: { min: 1, max: Infinity },
  or: { min: 1, max: Infinity },
  '??': { min: 1, max: Infinity },
  max: { min: 1, max: Infinity },
  min: { min: 1, max: Infinity },
  '+': { min: 0, max: Infinity },
  '*': { min: 1, max: Infinity },
  '-': { min: 1, max: 2 },
  '/': { min: 2, max: 2 },
  '%': { min: 2, max: 2 },
  in: { min: 2, max: 2 },
  cat: { min: 0, max: Infinity },
  substr: { min: 2, max: 3 },
  merge: { min: 0, max: Infinity },
  map: { min: 2, max: 2 },
  filter: { min: 2, max: 2 },
  reduce: { min: 2, max: 3 },
  all: { min: 2, max: 2 },
  some: { min: 2, max: 2 },
  none: { min: 2, max: 2 },
  preserve: { min: 1, max: 1 },
});

/** Names of the supported JsonLogic operators. */
export const LOGIC_OPERATORS: readonly string[] = Object.freeze(Object.keys(ARITY));

/** @internal */
export const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

function isOperator(key: string): boolean {
  return hasOwn(ARITY, key);
}

/** @internal */
export function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** @internal */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') {
    const ctor = (Object.getPrototypeOf(v) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
    return typeof ctor === 'string' && ctor ? ctor : 'object';
  }
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return typeof v;
}

/** What {@link analyzeLogic} found out about an expression. */
export interface LogicAnalysis {
  /** Every problem, with its path. Empty when the expression is valid. */
  readonly issues: Issue[];
  /** Values counted (operators, arguments, literals). */
  readonly nodes: number;
  /** True when the expression uses no operator other than `preserve`, so its value is known at load. */
  readonly constant: boolean;
}

interface WalkState {
  readonly limits: LogicLimits;
  readonly issues: Issue[];
  nodes: number;
  constant: boolean;
  depthReported: boolean;
  nodesReported: boolean;
}

type Path = (string | number)[];

/** Checks that a value is JSON-compatible data (used for literals and `preserve`d values). */
function walkData(value: unknown, path: Path, depth: number, s: WalkState): void {
  if (!countNode(path, depth, s)) return;
  switch (typeof value) {
    case 'string':
      if (value.length > s.limits.maxStringLength) {
        s.issues.push({ path, message: `string longer than ${s.limits.maxStringLength} characters` });
      }
      return;
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) s.issues.push({ path, message: `expected a JSON value, got ${String(value)}` });
      return;
    case 'object':
      if (value === null) return;
      if (Array.isArray(value)) {
        if (value.length > s.limits.maxArrayLength) {
          s.issues.push({ path, message: `array longer than ${s.limits.maxArrayLength} items` });
          return;
        }
        for (let i = 0; i < value.length; i++) walkData(value[i], [...path, i], depth + 1, s);
        return;
      }
      if (!isPlainObject(value)) {
        s.issues.push({ path, message: `expected a JSON value, got ${describe(value)}` });
        return;
      }
      for (const key of Object.keys(value)) {
        if (isForbiddenKey(key)) {
          s.issues.push({ path: [...path, key], message: `key "${key}" is not allowed` });
          continue;
        }
        walkData((value as Record<string, unknown>)[key], [...path, key], depth + 1, s);
        if (s.nodesReported || s.depthReported) return;
      }
      return;
    default:
      s.issues.push({ path, message: `expected a JSON value, got ${describe(value)}` });
  }
}

function countNode(path: Path, depth: number, s: WalkState): boolean {
  if (s.depthReported || s.nodesReported) return false;
  if (depth > s.limits.maxDepth) {
    s.depthReported = true;
    s.issues.push({ path, message: `nested deeper than ${s.limits.maxDepth} levels` });
    return false;
  }
  if (++s.nodes > s.limits.maxNodes) {
    s.nodesReported = true;
    s.issues.push({ path, message: `more than ${s.limits.maxNodes} values in one expression` });
    return false;
  }
  return true;
}

/** Checks a literal `var` / `missing` path for forbidden segments. */
function checkPathLiteral(p: unknown, path: Path, s: WalkState): void {
  if (typeof p !== 'string') return;
  for (const seg of splitPath(p)) {
    if (isForbiddenKey(seg)) {
      s.issues.push({ path, message: `path segment "${seg}" is not allowed` });
      return;
    }
  }
}

function walkLogic(value: unknown, path: Path, depth: number, s: WalkState): void {
  if (typeof value !== 'object' || value === null) {
    walkData(value, path, depth, s);
    return;
  }
  if (Array.isArray(value)) {
    if (!countNode(path, depth, s)) return;
    if (value.length > s.limits.maxArrayLength) {
      s.issues.push({ path, message: `array longer than ${s.limits.maxArrayLength} items` });
      return;
    }
    for (let i = 0; i < value.length; i++) walkLogic(value[i], [...path, i], depth + 1, s);
    return;
  }
  if (!isPlainObject(value)) {
    walkData(value, path, depth, s);
    return;
  }
  if (!countNode(path, depth, s)) return;
  const keys = Object.keys(value);
  if (keys.length !== 1) {
    s.issues.push({
      path,
      message:
        keys.length === 0
          ? 'empty object is not an operation (wrap literal objects in {"preserve": ...})'
          : `an operation has exactly one key, the operator; got ${keys.length} keys (${keys
              .slice(0, 5)
              .map((k) => JSON.stringify(k))
              .join(', ')}${keys.length > 5 ? ', ...' : ''})`,
    });
    return;
  }
  const op = keys[0] as string;
  if (!isOperator(op)) {
    s.issues.push({ path, message: `unknown operator ${JSON.stringify(op)}` });
    return;
  }
  const args = (value as Record<string, unknown>)[op];
  const argPath = [...path, op];
  if (op === 'preserve') {
    walkData(args, argPath, depth + 1, s);
    return;
  }
  s.constant = false;
  // A non-array argument is the unary form: `{"var": "a"}` is `{"var": ["a"]}`.
  const count = Array.isArray(args) ? args.length : 1;
  const arity = ARITY[op] as Arity;
  if (count < arity.min || count > arity.max) {
    s.issues.push({ path: argPath, message: `"${op}" expects ${arityText(arity)}, got ${count}` });
  }
  if (op === 'var') {
    const p = Array.isArray(args) ? (args[0] as unknown) : args;
    checkPathLiteral(p, Array.isArray(args) ? [...argPath, 0] : argPath, s);
  } else if (op === 'missing' && Array.isArray(args)) {
    args.forEach((a, i) => checkPathLiteral(a, [...argPath, i], s));
  } else if (op === 'missing_some' && Array.isArray(args) && Array.isArray(args[1])) {
    (args[1] as unknown[]).forEach((a, i) => checkPathLiteral(a, [...argPath, 1, i], s));
  }
  if (Array.isArray(args)) {
    if (!countNode(argPath, depth + 1, s)) return;
    for (let i = 0; i < args.length; i++) walkLogic(args[i], [...argPath, i], depth + 2, s);
  } else {
    walkLogic(args, argPath, depth + 1, s);
  }
}

function arityText(a: Arity): string {
  const n = (k: number): string => `${k} argument${k === 1 ? '' : 's'}`;
  if (a.min === a.max) return n(a.min);
  if (a.max === Infinity) return `at least ${n(a.min)}`;
  return `${a.min} to ${n(a.max)}`;
}

/** @internal */
export function resolveLimits(limits: Partial<LogicLimits> | undefined): LogicLimits {
  return limits ? { ...DEFAULT_LOGIC_LIMITS, ...limits } : DEFAULT_LOGIC_LIMITS;
}

/**
 * Validates a JsonLogic expression and reports its size and whether its value
 * is known at load. Never throws.
 */
export function analyzeLogic(expr: unknown, path: readonly (string | number)[] = [], limits?: Partial<LogicLimits>): LogicAnalysis {
  const s: WalkState = {
    limits: resolveLimits(limits),
    issues: [],
    nodes: 0,
    constant: true,
    depthReported: false,
    nodesReported: false,
  };
  walkLogic(expr, [...path], 0, s);
  return { issues: s.issues, nodes: s.nodes, constant: s.constant };
}

/**
 * Validates a JsonLogic expression: unknown operators, argument counts,
 * JSON-compatibility, forbidden keys and path segments, depth and size
 * limits. Returns every problem with its path (prefixed by `path`); an empty
 * array means the expression is valid.
 */
export function validateLogic(expr: unknown, path: readonly (string | number)[] = [], limits?: Partial<LogicLimits>): Issue[] {
  return analyzeLogic(expr, path, limits).issues;
}

/**
 * Validates that a value is JSON-compatible data within the limits, without
 * forbidden keys. Returns every problem with its path.
 */
export function validateJsonValue(value: unknown, path: readonly (string | number)[] = [], limits?: Partial<LogicLimits>): Issue[] {
  const s: WalkState = {
    limits: resolveLimits(limits),
    issues: [],
    nodes: 0,
    constant: true,
    depthReported: false,
    nodesReported: false,
  };
  walkData(value, [...path], 0, s);
  return s.issues;
}

/**
 * Copies a validated JSON value into fresh, deeply frozen objects, so later
 * edits of the caller's object cannot change a compiled expression and
 * evaluation can never write into it.
 */
export function freezeJson<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return Object.freeze(value.map((v: unknown) => freezeJson(v))) as T;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    if (isForbiddenKey(key)) continue;
    out[key] = freezeJson((value as Record<string, unknown>)[key]);
  }
  return Object.freeze(out) as T;
}

/* ------------------------------------------------------------------ */
/* Shared with evaluation                                               */
/* ------------------------------------------------------------------ */

/**
 * Work budget of one evaluation. Share one meter across several compiled
 * expressions to bound them together (a rule set shares one per call).
 */
export interface LogicMeter {
  /** Work units left. */
  remaining: number;
  /** Set when an evaluation was stopped by a limit. */
  exhausted: boolean;
}

/** Creates a fresh {@link LogicMeter}. */
export function createMeter(limits?: Partial<LogicLimits>): LogicMeter {
  return { remaining: resolveLimits(limits).maxSteps, exhausted: false };
}

/**
 * A compiled expression. Throws only {@link RulesError} (for example when a
 * comparison meets a non-numeric string, or a limit is hit: then
 * `meter.exhausted` is set).
 */
export type CompiledLogic = (data: unknown, meter?: LogicMeter) => unknown;

const parsedPaths = new Map<string, readonly string[]>();

/**
 * json-logic-engine's path syntax (`a.b`, `a\\.b` for a literal dot, `\\/`
 * for a literal slash), memoized like the engine's own `splitPathMemoized`
 * (ported from json-logic-engine 5, MIT, so validation needs no engine).
 * @internal
 */
export function splitPath(str: string): readonly string[] {
  const hit = parsedPaths.get(str);
  if (hit) return hit;
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < str.length; i++) {
    const char = str[i];
    if (char === '\\') {
      const next = str[i + 1];
      if (next === '.' || next === '/' || next === '\\') {
        current += next;
        i++;
      } else current += char;
    } else if (char === '.') {
      parts.push(current);
      current = '';
    } else current += char;
  }
  // "." is [''], not ['', '']; ".h" is ['', 'h'].
  if (parts.length !== str.length) parts.push(current);
  if (parsedPaths.size > 2048) parsedPaths.clear();
  parsedPaths.set(str, parts);
  return parts;
}

/**
 * Truthiness of JsonLogic: empty arrays and empty plain objects are false,
 * everything else as in JavaScript. Unlike the engine's default it never
 * reads `constructor`, so null-prototype objects and hostile inputs are safe.
 * @internal
 */
export function truthy(value: unknown): boolean {
  if (!value) return false;
  if (typeof value === 'object') {
    if (Array.isArray(value)) return value.length > 0;
    if (isPlainObject(value)) return Object.keys(value).length > 0;
  }
  return true;
}

/** JsonLogic truthiness, as used by `if`, `and`, `or`, `!` and rule conditions. */
export function isTruthy(value: unknown): boolean {
  return truthy(value);
}

/**
 * The value of a valid expression that {@link analyzeLogic} found constant
 * (literals, arrays of them, `preserve`), computed without the engine:
 * a frozen copy, as evaluation would give.
 */
export function constantValue(logic: unknown): unknown {
  if (typeof logic !== 'object' || logic === null) return logic;
  if (Array.isArray(logic)) return Object.freeze(logic.map(constantValue));
  // Valid and constant: the only operation is `preserve`, whose argument is data.
  return freezeJson((logic as { preserve?: unknown }).preserve);
}
